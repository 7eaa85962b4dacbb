//! Every DynamoDB action a function sends is allowed by its policy in template.yaml, on the table
//! or the index it names. DynamoDB Local checks no IAM, so without this a read the code adds (a
//! `BatchGetItem` where a `GetItem` was) would pass every test and be denied in AWS.
//!
//! Each route is called as the owner of the objects it names, so it takes its successful path
//! (the one with the most requests); the requests' bodies say which actions they need.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use backorder::routes::ROUTES;
use backorder_local::table::template;
use backorder_tests::TestApp;
use serde_json::json;

const A: &str = "acct";

type Needed = BTreeSet<(String, Option<String>)>;

/// Each function's allowed `(action, index)` pairs: `None` for the table's ARN, `Some(index)` for
/// `${Table.Arn}/index/{index}`.
fn allowed() -> BTreeMap<String, Needed> {
    let t = template().unwrap();
    let mut out = BTreeMap::new();
    for (_, resource) in t["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut pairs = Needed::new();
        for policy in resource["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            for statement in policy["Statement"].as_sequence().into_iter().flatten() {
                let actions: Vec<&str> = match &statement["Action"] {
                    serde_yaml::Value::Sequence(a) => a.iter().filter_map(|v| v.as_str()).collect(),
                    v => v.as_str().into_iter().collect(),
                };
                let resources: Vec<&serde_yaml::Value> = match &statement["Resource"] {
                    serde_yaml::Value::Sequence(r) => r.iter().collect(),
                    r => vec![r],
                };
                for r in resources {
                    let text = format!("{r:?}");
                    let target = if text.contains("Table.Arn}/index/") {
                        let index = text
                            .split("/index/")
                            .nth(1)
                            .unwrap()
                            .trim_end_matches(|c: char| !c.is_alphanumeric() && c != '_');
                        Some(Some(index.to_owned()))
                    } else if text.contains("Table") && text.contains("Arn") {
                        Some(None)
                    } else {
                        None
                    };
                    if let Some(target) = target {
                        for a in &actions {
                            pairs.insert(((*a).to_owned(), target.clone()));
                        }
                    }
                }
            }
        }
        out.insert(binary, pairs);
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn every_action_a_function_sends_is_in_its_policy() {
    let app = TestApp::new().await;
    app.enable_account(A, true).await;
    app.vendor_default(A, "V", true).await;
    app.sku(A, "S", "vendor_default", Some("V"), 0).await;
    let sale = app.finalize(A, "sale-1", &[("S", 2)]).await;
    assert_eq!(sale.status, 200, "{}", sale.body);
    let open = sale.body["lines"][0]["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A closed order to receive against, and another sale to cancel.
    let closed = app.finalize(A, "sale-2", &[("S", 1)]).await.body["lines"][0]["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(closed, open);
    app.ok(A, "POST", &format!("/replenishments/{closed}/close"), None)
        .await;
    let open = app.finalize(A, "sale-3", &[("S", 1)]).await.body["lines"][0]["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A shop, for the channels routes (the webhook is sent a topic it ignores: it reads the shop).
    let shop = "/channels/shopify/shops/perm.myshopify.com";
    app.ok(A, "PUT", shop, Some(json!({"webhook_secret": "s"})))
        .await;

    let mut needed: BTreeMap<String, Needed> = BTreeMap::new();
    let mut routes: Vec<_> = ROUTES.iter().collect();
    // Reads first; the close last (it closes the open order the others use).
    routes.sort_by_key(|r| (r.method != "GET", r.path.ends_with("/close")));
    for route in routes {
        // The console serves embedded files and calls no AWS service.
        if route.function == backorder::routes::CONSOLE {
            continue;
        }
        let path = route
            .path
            .replace("{sku}", "S")
            .replace("{vendor_id}", "V")
            .replace(
                "{sale_id}",
                if route.path.ends_with("/cancel") {
                    "sale-1"
                } else {
                    "sale-4"
                },
            )
            .replace(
                "{replenishment_id}",
                if route.path.ends_with("/receipts") {
                    &closed
                } else {
                    &open
                },
            );
        let path = if route.method == "GET" && route.path == "/sales/{sale_id}" {
            "/sales/sale-1".to_owned()
        } else {
            path
        };
        let body = match (route.method, route.path) {
            ("PUT", "/settings") => Some(json!({"auto_backorder": true})),
            ("PUT", "/vendors/{vendor_id}/settings") => {
                Some(json!({"auto_backorder_default": true}))
            }
            ("PUT", "/skus/{sku}/settings") => Some(json!({"auto_backorder": "vendor_default"})),
            ("PUT", "/skus/{sku}/inventory") => Some(json!({"on_hand": 0})),
            ("POST", "/skus/{sku}/inventory/adjustments") => {
                Some(json!({"delta": -1, "adjustment_id": "adj-1"}))
            }
            ("POST", "/sales/{sale_id}/finalize") => {
                Some(json!({"lines": [{"sku": "S", "quantity": 1}]}))
            }
            ("POST", "/replenishments") => {
                Some(json!({"sku": "S", "quantity": 1, "request_id": "req-1"}))
            }
            ("POST", "/replenishments/{replenishment_id}/receipts") => {
                Some(json!({"receipt_id": "r-1", "quantity": 1}))
            }
            _ => None,
        };
        let path = path.replace("{shop_domain}", "perm.myshopify.com");
        let body = match (route.method, route.path) {
            ("PUT", "/channels/shopify/shops/{shop_domain}") => {
                Some(json!({"webhook_secret": "s"}))
            }
            _ => body,
        };
        app.permissions.take();
        let r = if route.path == "/channels/shopify/webhooks" {
            let body = br#"{"id": 1}"#;
            let signature = backorder::channels::shopify::sign(b"s", body);
            app.send(
                backorder_local::router::RawRequest::new("POST", &path)
                    .header("x-shopify-topic", "shop/update")
                    .header("x-shopify-shop-domain", "perm.myshopify.com")
                    .header("x-shopify-hmac-sha256", &signature)
                    .body(body.to_vec()),
            )
            .await
        } else {
            app.call(A, route.method, &path, body).await
        };
        assert!(
            r.status == 200 || r.status == 201,
            "{} must succeed here: {} {}",
            route.key(),
            r.status,
            r.body
        );
        needed
            .entry(route.function.to_owned())
            .or_default()
            .extend(app.permissions.take());
    }
    // The scheduled close, as replenishment-close runs it.
    app.permissions.take();
    let run = backorder::service::close_due_orders(
        &app.store,
        Duration::ZERO,
        Instant::now() + Duration::from_secs(60),
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    assert_eq!(run.remaining, 0);
    needed
        .entry(backorder::routes::REPLENISHMENT_CLOSE.to_owned())
        .or_default()
        .extend(app.permissions.take());

    let allowed = allowed();
    for (function, actions) in &needed {
        let policy = &allowed[function];
        let missing: Vec<_> = actions.difference(policy).collect();
        assert!(
            missing.is_empty(),
            "{function} sends {missing:?}, which its policy in template.yaml does not allow"
        );
    }
    assert_eq!(needed.len(), 6, "every HTTP function was exercised");
}
