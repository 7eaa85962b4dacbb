//! Every HTTP route, and which function serves it. `template.yaml` declares the same routes (a test
//! checks both ways) and the local server routes with this table, as API Gateway would.

/// One `METHOD /path` route of the HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    /// API Gateway route path; `{name}` matches one non-empty path segment, a last `{name+}` the
    /// rest of the path (one segment or more, joined with `/`; a trailing `/` alone gives "").
    pub path: &'static str,
    /// The function (binary and `template.yaml` function) that serves it.
    pub function: &'static str,
    /// What the route does: the function's handler matches its own operation enum exhaustively.
    pub endpoint: Endpoint,
}

/// A route's operation, grouped by the function that serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Settings(SettingsOp),
    Inventory(InventoryOp),
    Sales(SalesOp),
    Replenishments(ReplenishmentsOp),
    Close(CloseOp),
    Channels(ChannelsOp),
    Console(ConsoleOp),
}

/// The operations of `console`: public routes (no authorizer) serving the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleOp {
    /// `GET /console`: the page.
    Page,
    /// `GET /console/{proxy+}`: its scripts, styles and `config.json`.
    Asset,
}

/// The operations of `settings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsOp {
    GetAccount,
    PutAccount,
    GetVendor,
    PutVendor,
    GetSku,
    PutSku,
}

/// The operations of `inventory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InventoryOp {
    Get,
    Count,
    Adjust,
}

/// The HTTP operations of `sale-finalize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SalesOp {
    Finalize,
    Get,
    Cancel,
}

/// The operations of `replenishments`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplenishmentsOp {
    List,
    Get,
    CreateRegular,
    Sales,
    Receive,
    ListVendor,
    /// The sales waiting on units of a SKU, oldest first.
    Awaiting,
}

/// The HTTP operations of `channels`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelsOp {
    /// A Shopify webhook delivery (no JWT: signed by the shop's webhook secret).
    ShopifyWebhook,
    PutShop,
    GetShop,
    DeleteShop,
}

impl ChannelsOp {
    /// Whether the route is authorized by the caller's JWT (every other route is): the webhook
    /// is authenticated by its signature instead.
    pub const fn needs_account(self) -> bool {
        !matches!(self, ChannelsOp::ShopifyWebhook)
    }
}

/// The HTTP operation of `replenishment-close`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseOp {
    Close,
}

impl Endpoint {
    /// The function that serves the operation.
    pub const fn function(self) -> &'static str {
        match self {
            Endpoint::Settings(_) => SETTINGS,
            Endpoint::Inventory(_) => INVENTORY,
            Endpoint::Sales(_) => SALE_FINALIZE,
            Endpoint::Replenishments(_) => REPLENISHMENTS,
            Endpoint::Close(_) => REPLENISHMENT_CLOSE,
            Endpoint::Channels(_) => CHANNELS,
            Endpoint::Console(_) => CONSOLE,
        }
    }
}

/// A function's own operation enum, for [`crate::http::serve`].
pub trait Operation: Copy + Send + 'static {
    /// The function serving these operations.
    const FUNCTION: &'static str;
    /// The operation, if `endpoint` is one of this function's.
    fn of(endpoint: Endpoint) -> Option<Self>;
}

macro_rules! operation {
    ($op:ty, $variant:ident, $function:expr) => {
        impl Operation for $op {
            const FUNCTION: &'static str = $function;
            fn of(endpoint: Endpoint) -> Option<Self> {
                match endpoint {
                    Endpoint::$variant(op) => Some(op),
                    _ => None,
                }
            }
        }
    };
}

operation!(SettingsOp, Settings, SETTINGS);
operation!(InventoryOp, Inventory, INVENTORY);
operation!(SalesOp, Sales, SALE_FINALIZE);
operation!(ReplenishmentsOp, Replenishments, REPLENISHMENTS);
operation!(CloseOp, Close, REPLENISHMENT_CLOSE);
operation!(ChannelsOp, Channels, CHANNELS);
operation!(ConsoleOp, Console, CONSOLE);

const fn route(method: &'static str, path: &'static str, endpoint: Endpoint) -> Route {
    Route {
        method,
        path,
        function: endpoint.function(),
        endpoint,
    }
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
pub const CHANNELS: &str = "channels";
pub const CONSOLE: &str = "console";

pub const ROUTES: &[Route] = &[
    route(
        "GET",
        "/settings",
        Endpoint::Settings(SettingsOp::GetAccount),
    ),
    route(
        "PUT",
        "/settings",
        Endpoint::Settings(SettingsOp::PutAccount),
    ),
    route(
        "GET",
        "/vendors/{vendor_id}/settings",
        Endpoint::Settings(SettingsOp::GetVendor),
    ),
    route(
        "PUT",
        "/vendors/{vendor_id}/settings",
        Endpoint::Settings(SettingsOp::PutVendor),
    ),
    route(
        "GET",
        "/skus/{sku}/settings",
        Endpoint::Settings(SettingsOp::GetSku),
    ),
    route(
        "PUT",
        "/skus/{sku}/settings",
        Endpoint::Settings(SettingsOp::PutSku),
    ),
    route(
        "GET",
        "/skus/{sku}/inventory",
        Endpoint::Inventory(InventoryOp::Get),
    ),
    route(
        "PUT",
        "/skus/{sku}/inventory",
        Endpoint::Inventory(InventoryOp::Count),
    ),
    route(
        "POST",
        "/skus/{sku}/inventory/adjustments",
        Endpoint::Inventory(InventoryOp::Adjust),
    ),
    route(
        "POST",
        "/sales/{sale_id}/finalize",
        Endpoint::Sales(SalesOp::Finalize),
    ),
    route("GET", "/sales/{sale_id}", Endpoint::Sales(SalesOp::Get)),
    route(
        "POST",
        "/sales/{sale_id}/cancel",
        Endpoint::Sales(SalesOp::Cancel),
    ),
    route(
        "GET",
        "/replenishments",
        Endpoint::Replenishments(ReplenishmentsOp::List),
    ),
    route(
        "GET",
        "/replenishments/{replenishment_id}",
        Endpoint::Replenishments(ReplenishmentsOp::Get),
    ),
    route(
        "POST",
        "/replenishments",
        Endpoint::Replenishments(ReplenishmentsOp::CreateRegular),
    ),
    route(
        "GET",
        "/replenishments/{replenishment_id}/sales",
        Endpoint::Replenishments(ReplenishmentsOp::Sales),
    ),
    route(
        "POST",
        "/replenishments/{replenishment_id}/receipts",
        Endpoint::Replenishments(ReplenishmentsOp::Receive),
    ),
    route(
        "GET",
        "/vendors/{vendor_id}/replenishments",
        Endpoint::Replenishments(ReplenishmentsOp::ListVendor),
    ),
    route(
        "GET",
        "/skus/{sku}/awaiting",
        Endpoint::Replenishments(ReplenishmentsOp::Awaiting),
    ),
    route(
        "POST",
        "/replenishments/{replenishment_id}/close",
        Endpoint::Close(CloseOp::Close),
    ),
    route(
        "POST",
        "/channels/shopify/webhooks",
        Endpoint::Channels(ChannelsOp::ShopifyWebhook),
    ),
    route(
        "PUT",
        "/channels/shopify/shops/{shop_domain}",
        Endpoint::Channels(ChannelsOp::PutShop),
    ),
    route(
        "GET",
        "/channels/shopify/shops/{shop_domain}",
        Endpoint::Channels(ChannelsOp::GetShop),
    ),
    route(
        "DELETE",
        "/channels/shopify/shops/{shop_domain}",
        Endpoint::Channels(ChannelsOp::DeleteShop),
    ),
    route("GET", "/console", Endpoint::Console(ConsoleOp::Page)),
    route(
        "GET",
        "/console/{proxy+}",
        Endpoint::Console(ConsoleOp::Asset),
    ),
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
    let greedy = parts
        .last()
        .and_then(|p| p.strip_prefix('{'))
        .and_then(|p| p.strip_suffix("+}"));
    let mut params = Vec::new();
    if let Some(name) = greedy {
        let fixed = parts.len() - 1;
        // `/console/` (one empty segment) matches too, with an empty rest; `a//b` does not.
        let rest = segments.get(fixed..)?;
        if rest.is_empty() || (rest.len() > 1 && rest.iter().any(String::is_empty)) {
            return None;
        }
        params.push((name.to_owned(), segments[fixed..].join("/")));
        let mut head = match_segments_exact(&parts[..fixed], &segments[..fixed])?;
        head.append(&mut params);
        return Some(head);
    }
    match_segments_exact(&parts, segments)
}

fn match_segments_exact(parts: &[&str], segments: &[String]) -> Option<PathParams> {
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

        // A greedy `{proxy+}` takes the rest of the path, one segment or more.
        let (route, params) = find("GET", &segs("/console/js/app.js")).unwrap();
        assert_eq!(route.key(), "GET /console/{proxy+}");
        assert_eq!(params, vec![("proxy".to_owned(), "js/app.js".to_owned())]);
        assert_eq!(
            find("GET", &segs("/console")).unwrap().0.key(),
            "GET /console"
        );
        let (_, params) = find("GET", &segs("/console/")).unwrap();
        assert_eq!(params, vec![("proxy".to_owned(), String::new())]);
        assert!(find("GET", &segs("/console/a//b")).is_err());
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
    fn every_operation_has_one_route() {
        for route in ROUTES {
            let same = ROUTES
                .iter()
                .filter(|r| r.endpoint == route.endpoint)
                .count();
            assert_eq!(same, 1, "{}", route.key());
        }
        assert_eq!(
            SettingsOp::of(find("GET", &segs("/settings")).unwrap().0.endpoint),
            Some(SettingsOp::GetAccount)
        );
        assert_eq!(
            InventoryOp::of(find("GET", &segs("/settings")).unwrap().0.endpoint),
            None
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
