//! Every HTTP route, and which function serves it. `template.yaml` declares the same routes (a test
//! checks both ways) and the local server routes with this table, as API Gateway would.

/// One `METHOD /path` route of the HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    /// API Gateway route path; `{name}` matches one non-empty path segment.
    pub path: &'static str,
    /// The function (binary and `template.yaml` function) that serves it.
    pub function: &'static str,
}

impl Route {
    /// API Gateway's route key, e.g. `GET /skus/{sku}/settings`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

pub const SETTINGS: &str = "settings";
pub const INVENTORY: &str = "inventory";
pub const SALE_FINALIZE: &str = "sale-finalize";
pub const REPLENISHMENTS: &str = "replenishments";
pub const REPLENISHMENT_CLOSE: &str = "replenishment-close";

pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/settings",
        function: SETTINGS,
    },
    Route {
        method: "PUT",
        path: "/settings",
        function: SETTINGS,
    },
    Route {
        method: "GET",
        path: "/vendors/{vendor_id}/settings",
        function: SETTINGS,
    },
    Route {
        method: "PUT",
        path: "/vendors/{vendor_id}/settings",
        function: SETTINGS,
    },
    Route {
        method: "GET",
        path: "/skus/{sku}/settings",
        function: SETTINGS,
    },
    Route {
        method: "PUT",
        path: "/skus/{sku}/settings",
        function: SETTINGS,
    },
    Route {
        method: "GET",
        path: "/skus/{sku}/inventory",
        function: INVENTORY,
    },
    Route {
        method: "PUT",
        path: "/skus/{sku}/inventory",
        function: INVENTORY,
    },
    Route {
        method: "POST",
        path: "/skus/{sku}/inventory/adjustments",
        function: INVENTORY,
    },
    Route {
        method: "POST",
        path: "/sales/{sale_id}/finalize",
        function: SALE_FINALIZE,
    },
    Route {
        method: "GET",
        path: "/sales/{sale_id}",
        function: SALE_FINALIZE,
    },
    Route {
        method: "POST",
        path: "/sales/{sale_id}/cancel",
        function: SALE_FINALIZE,
    },
    Route {
        method: "GET",
        path: "/replenishments",
        function: REPLENISHMENTS,
    },
    Route {
        method: "GET",
        path: "/replenishments/{replenishment_id}",
        function: REPLENISHMENTS,
    },
    Route {
        method: "POST",
        path: "/replenishments",
        function: REPLENISHMENTS,
    },
    Route {
        method: "GET",
        path: "/replenishments/{replenishment_id}/sales",
        function: REPLENISHMENTS,
    },
    Route {
        method: "POST",
        path: "/replenishments/{replenishment_id}/receipts",
        function: REPLENISHMENTS,
    },
    Route {
        method: "GET",
        path: "/vendors/{vendor_id}/replenishments",
        function: REPLENISHMENTS,
    },
    Route {
        method: "POST",
        path: "/replenishments/{replenishment_id}/close",
        function: REPLENISHMENT_CLOSE,
    },
];

/// Path parameters of a matched route: (name, percent-decoded value).
pub type PathParams = Vec<(String, String)>;

/// Why no route matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteMiss {
    /// No route has this path.
    NoSuchPath,
    /// The path exists, under other methods.
    WrongMethod,
}

/// Matches already percent-decoded path segments against a route path; returns the path
/// parameters on a match.
pub fn match_segments(pattern: &str, segments: &[String]) -> Option<PathParams> {
    let parts: Vec<&str> = pattern
        .trim_start_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (part, segment) in parts.iter().zip(segments) {
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            if segment.is_empty() {
                return None;
            }
            params.push((name.to_owned(), segment.clone()));
        } else if part != segment {
            return None;
        }
    }
    Some(params)
}

/// Finds the route for a method and decoded path segments.
pub fn find(method: &str, segments: &[String]) -> Result<(&'static Route, PathParams), RouteMiss> {
    let mut path_exists = false;
    for route in ROUTES {
        if let Some(params) = match_segments(route.path, segments) {
            if route.method.eq_ignore_ascii_case(method) {
                return Ok((route, params));
            }
            path_exists = true;
        }
    }
    Err(if path_exists {
        RouteMiss::WrongMethod
    } else {
        RouteMiss::NoSuchPath
    })
}

/// The route with this route key (`GET /skus/{sku}/settings`), if any.
pub fn by_key(route_key: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.key() == route_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(path: &str) -> Vec<String> {
        path.trim_start_matches('/')
            .split('/')
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn matches_parameters_and_literals() {
        let (route, params) = find("GET", &segs("/skus/x/settings")).unwrap();
        assert_eq!(route.key(), "GET /skus/{sku}/settings");
        assert_eq!(params, vec![("sku".to_owned(), "x".to_owned())]);

        // A decoded segment may hold '/': it is still one segment, as in API Gateway.
        let (route, params) =
            find("PUT", &["skus".into(), "A/B".into(), "settings".into()]).unwrap();
        assert_eq!(route.key(), "PUT /skus/{sku}/settings");
        assert_eq!(params, vec![("sku".to_owned(), "A/B".to_owned())]);

        let (route, _) = find("post", &segs("/skus/x/inventory/adjustments")).unwrap();
        assert_eq!(route.function, INVENTORY);
    }

    #[test]
    fn unknown_routes_and_methods() {
        assert_eq!(
            find("GET", &segs("/nope")).unwrap_err(),
            RouteMiss::NoSuchPath
        );
        assert_eq!(
            find("DELETE", &segs("/settings")).unwrap_err(),
            RouteMiss::WrongMethod
        );
        assert_eq!(
            find("GET", &["skus".into(), "".into(), "settings".into()]).unwrap_err(),
            RouteMiss::NoSuchPath
        );
    }

    #[test]
    fn route_keys_are_unique_and_found() {
        for route in ROUTES {
            assert_eq!(by_key(&route.key()), Some(route));
            assert_eq!(ROUTES.iter().filter(|r| r.key() == route.key()).count(), 1);
        }
    }
}
