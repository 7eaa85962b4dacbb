//! template.yaml is the one source of truth for routes and the table: it must match the code.

use std::collections::BTreeSet;

use backorder::routes::ROUTES;
use backorder_local::table::{table_properties, template, template_routes};

#[test]
fn template_routes_match_the_code_both_ways() {
    let in_template: BTreeSet<(String, String, String)> =
        template_routes().unwrap().into_iter().collect();
    let in_code: BTreeSet<(String, String, String)> = ROUTES
        .iter()
        .map(|r| {
            (
                r.method.to_owned(),
                r.path.to_owned(),
                r.function.to_owned(),
            )
        })
        .collect();
    assert_eq!(in_template, in_code);
}

#[test]
fn every_function_binary_is_a_workspace_binary_with_a_unique_name() {
    let t = template().unwrap();
    let mut binaries = BTreeSet::new();
    for (_, resource) in t["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() == Some("AWS::Serverless::Function") {
            assert_eq!(
                resource["Metadata"]["BuildMethod"].as_str(),
                Some("rust-cargolambda")
            );
            assert_eq!(resource["Properties"]["CodeUri"].as_str(), Some("."));
            let binary = resource["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap()
                .to_owned();
            let manifest = format!(
                "{}/../functions/{binary}/src/main.rs",
                env!("CARGO_MANIFEST_DIR")
            );
            assert!(
                std::path::Path::new(&manifest).exists(),
                "{binary} has no crate under functions/"
            );
            assert!(binaries.insert(binary));
        }
    }
    assert_eq!(binaries.len(), 8);
}

/// order-events reads the table's stream: both images, and only order items (the filter's prefix
/// is the store's). Local tables are created without a stream (local/src/table.rs ignores it).
#[test]
fn the_table_streams_order_changes_to_order_events() {
    use backorder::store::layout::{ORDER_PREFIX, SK};
    let t = template().unwrap();
    let props = table_properties(&t).unwrap();
    assert_eq!(
        props["StreamSpecification"]["StreamViewType"].as_str(),
        Some("NEW_AND_OLD_IMAGES")
    );
    let function = &t["Resources"]["OrderEventsFunction"];
    assert_eq!(
        function["Metadata"]["BuildProperties"]["Binary"].as_str(),
        Some("order-events")
    );
    let properties = &function["Properties"];
    assert!(properties["Environment"]["Variables"]
        .get("EVENT_BUS_NAME")
        .is_some());
    let stream = &properties["Events"]["TableStream"]["Properties"];
    assert_eq!(
        stream["FunctionResponseTypes"][0].as_str(),
        Some("ReportBatchItemFailures")
    );
    let pattern: serde_json::Value = serde_json::from_str(
        stream["FilterCriteria"]["Filters"][0]["Pattern"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        pattern,
        serde_json::json!({"dynamodb": {"Keys": {SK: {"S": [{"prefix": ORDER_PREFIX}]}}}})
    );
    // And contributions written or changed: what the releases and FulfillmentReady need.
    let contributions: serde_json::Value = serde_json::from_str(
        stream["FilterCriteria"]["Filters"][1]["Pattern"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        contributions,
        serde_json::json!({
            "eventName": ["INSERT", "MODIFY"],
            "dynamodb": {"Keys": {SK: {"S": [{"prefix": "CONTRIB#"}]}}}
        })
    );
    // And sales flagged while being finalized, once complete: their readiness is asked again.
    let flagged: serde_json::Value = serde_json::from_str(
        stream["FilterCriteria"]["Filters"][2]["Pattern"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        flagged,
        serde_json::json!({
            "eventName": ["MODIFY"],
            "dynamodb": {
                "Keys": {SK: {"S": [{"prefix": "SALE#"}]}},
                "NewImage": {
                    backorder::store::layout::READY_CHECK: {"BOOL": [true]},
                    "status": {"S": ["finalized"]}
                }
            }
        })
    );
    assert!(
        backorder::store::layout::contribution_of_sort_key(&format!(
            "CONTRIB#{}#s-1",
            "0".repeat(26)
        ))
        .is_some(),
        "the prefix the store writes"
    );
}

#[test]
fn the_table_has_the_indexes_the_store_queries() {
    use backorder::store::layout::{
        INDEX_AWAITING, INDEX_BY_ACCOUNT, INDEX_BY_SKU, INDEX_BY_STATUS, INDEX_BY_VENDOR,
        INDEX_OPEN_BY_AGE,
    };
    let t = template().unwrap();
    let props = table_properties(&t).unwrap();
    let names: BTreeSet<&str> = props["GlobalSecondaryIndexes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|i| i["IndexName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            INDEX_BY_ACCOUNT,
            INDEX_BY_STATUS,
            INDEX_BY_SKU,
            INDEX_OPEN_BY_AGE,
            INDEX_BY_VENDOR,
            INDEX_AWAITING
        ])
    );
    assert_eq!(props["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
}

/// `(METHOD, path)` of every operation in openapi.yaml.
fn openapi_routes() -> BTreeSet<(String, String)> {
    let text =
        std::fs::read_to_string(format!("{}/../openapi.yaml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        for (method, _) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            if ["get", "put", "post", "delete", "patch"].contains(&method) {
                out.insert((
                    method.to_ascii_uppercase(),
                    path.as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    out
}

#[test]
fn openapi_documents_exactly_the_served_routes() {
    let in_code: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    let in_template: BTreeSet<(String, String)> = template_routes()
        .unwrap()
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    let documented = openapi_routes();
    assert_eq!(
        documented, in_code,
        "openapi.yaml vs the local server's (and the handlers') route table"
    );
    assert_eq!(documented, in_template, "openapi.yaml vs template.yaml");
}

/// The console's routes: the only public ones (the page; its data calls carry the token).
fn is_console(path: &str) -> bool {
    path == "/console" || path == "/console/{proxy+}"
}

/// The JWT scope each route requires (API Gateway checks it before the function runs): reading is
/// `backorder/read`; a sales channel `backorder/sell`; a buyer `backorder/buy`; an administrator
/// `backorder/admin`. Every route is listed by name: a new route must be given its scope here.
fn expected_scope(method: &str, path: &str) -> &'static str {
    match (method, path) {
        // The shops hold webhook secrets: administrators only, reading included.
        ("PUT" | "GET" | "DELETE", "/channels/shopify/shops/{shop_domain}") => "backorder/admin",
        ("GET", _) => "backorder/read",
        ("POST", "/sales/{sale_id}/finalize" | "/sales/{sale_id}/cancel") => "backorder/sell",
        (
            "POST",
            "/replenishments"
            | "/replenishments/{replenishment_id}/close"
            | "/replenishments/{replenishment_id}/receipts",
        ) => "backorder/buy",
        (
            "PUT",
            "/settings"
            | "/vendors/{vendor_id}/settings"
            | "/skus/{sku}/settings"
            | "/skus/{sku}/inventory",
        )
        | ("POST", "/skus/{sku}/inventory/adjustments") => "backorder/admin",
        other => panic!("{other:?} has no scope in this test: give it one"),
    }
}

/// The one route without the JWT authorizer: Shopify's webhook, authenticated by its signature.
const UNAUTHORIZED_ROUTE: (&str, &str) = ("POST", "/channels/shopify/webhooks");

#[test]
fn every_route_requires_exactly_its_scope() {
    let t = template().unwrap();
    // The API's default authorizer is the JWT one: scopes are checked by it.
    assert_eq!(
        t["Resources"]["HttpApi"]["Properties"]["Auth"]["DefaultAuthorizer"].as_str(),
        Some("Jwt")
    );
    let mut seen = BTreeSet::new();
    for (_, resource) in t["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (name, event) in events {
            if event["Type"].as_str() != Some("HttpApi") {
                continue;
            }
            let props = &event["Properties"];
            let method = props["Method"].as_str().unwrap();
            let path = props["Path"].as_str().unwrap();
            let auth = &props["Auth"];
            if (method, path) == UNAUTHORIZED_ROUTE || is_console(path) {
                // Shopify sends no JWT: its signature is checked by the function instead. The
                // console's page is public: no authorizer, no scope. Only these routes.
                assert_eq!(auth["Authorizer"].as_str(), Some("NONE"), "{name:?}");
                assert!(auth.get("AuthorizationScopes").is_none(), "{name:?}");
                seen.insert((method.to_owned(), path.to_owned()));
                continue;
            }
            assert!(
                auth.get("Authorizer").is_none() || auth["Authorizer"].as_str() == Some("Jwt"),
                "{name:?} ({method} {path}) must use the JWT authorizer"
            );
            let scopes: Vec<&str> = auth["AuthorizationScopes"]
                .as_sequence()
                .unwrap_or_else(|| panic!("{name:?} ({method} {path}) has no AuthorizationScopes"))
                .iter()
                .map(|s| s.as_str().unwrap())
                .collect();
            assert_eq!(
                scopes,
                [expected_scope(method, path)],
                "{name:?} ({method} {path})"
            );
            seen.insert((method.to_owned(), path.to_owned()));
        }
    }
    // Every served route was checked.
    let in_code: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(seen, in_code);
}

/// openapi.yaml states the same scope per operation, under the `jwt` security scheme, and declares
/// no operation-less default.
#[test]
fn openapi_states_each_operations_scope() {
    let text =
        std::fs::read_to_string(format!("{}/../openapi.yaml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert!(doc.get("security").is_none(), "security is per operation");
    let mut checked = 0;
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        for (method, op) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap().to_ascii_uppercase();
            if !["GET", "PUT", "POST", "DELETE"].contains(&method.as_str()) {
                continue;
            }
            let path = path.as_str().unwrap();
            if (method.as_str(), path) == UNAUTHORIZED_ROUTE {
                // The webhook's signature, as the one security requirement.
                let security = op["security"].as_sequence().expect("webhook security");
                assert_eq!(security.len(), 1, "{method} {path}");
                assert!(security[0].get("shopifyHmac").is_some(), "{method} {path}");
                checked += 1;
                continue;
            }
            let security = op["security"]
                .as_sequence()
                .unwrap_or_else(|| panic!("{method} {path} has no security requirement"));
            if is_console(path) {
                assert!(
                    security.is_empty(),
                    "{method} {path} is public: security []"
                );
                checked += 1;
                continue;
            }
            // The JWT with its scope, or (the local server only) the X-Account-Id header.
            assert_eq!(security.len(), 2, "{method} {path}");
            assert!(security[1].get("localAccount").is_some(), "{method} {path}");
            let scopes: Vec<&str> = security[0]["jwt"]
                .as_sequence()
                .unwrap_or_else(|| panic!("{method} {path}: no jwt requirement first"))
                .iter()
                .map(|s| s.as_str().unwrap())
                .collect();
            assert_eq!(scopes, [expected_scope(&method, path)], "{method} {path}");
            checked += 1;
        }
    }
    assert_eq!(checked, ROUTES.len());
}

/// Every function is told its own timeout (`FUNCTION_TIMEOUT_SECONDS`, the budget of an invocation
/// whose deadline header is absent or already past, as local emulators send it).
#[test]
fn every_function_knows_its_timeout() {
    let t = template().unwrap();
    let globals = &t["Globals"]["Function"];
    let number = |v: &serde_yaml::Value| -> Option<u64> {
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    };
    let mut checked = 0;
    for (name, resource) in t["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let props = &resource["Properties"];
        let timeout = number(&props["Timeout"]).or_else(|| number(&globals["Timeout"]));
        let told = props["Environment"]["Variables"]
            .get("FUNCTION_TIMEOUT_SECONDS")
            .or_else(|| globals["Environment"]["Variables"].get("FUNCTION_TIMEOUT_SECONDS"))
            .and_then(number);
        assert!(timeout.is_some(), "{name:?} has no timeout");
        assert_eq!(
            told, timeout,
            "{name:?}: FUNCTION_TIMEOUT_SECONDS vs Timeout"
        );
        checked += 1;
    }
    assert_eq!(checked, 8);
}
