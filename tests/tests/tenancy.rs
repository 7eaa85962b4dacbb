//! All data is scoped to the caller's account: another account's objects are 404, and changes by
//! one account never reach another.

use backorder_tests::TestApp;
use serde_json::json;

const OWNER: &str = "owner";
const OTHER: &str = "intruder";

#[tokio::test(flavor = "multi_thread")]
async fn another_account_sees_404_and_changes_nothing() {
    let app = TestApp::new().await;
    app.enable_account(OWNER, true).await;
    app.ok(
        OWNER,
        "PUT",
        "/vendors/V/settings",
        Some(json!({"auto_backorder_default": true})),
    )
    .await;
    app.sku(OWNER, "S", "vendor_default", Some("V"), 0).await;
    let sale = app.finalize(OWNER, "sale-1", &[("S", 2)]).await;
    let rid = sale.body["lines"][0]["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = app.snapshot().await;

    // Reads of the owner's objects.
    for path in [
        "/skus/S/settings",
        "/skus/S/inventory",
        "/sales/sale-1",
        &format!("/replenishments/{rid}"),
    ] {
        let r = app.call(OTHER, "GET", path, None).await;
        assert_eq!(r.status, 404, "GET {path}: {}", r.body);
    }
    // Lists and account-level settings are the other account's own (empty, defaults).
    assert!(app.orders(OTHER, "").await.is_empty());
    assert!(app.orders(OTHER, "?status=open").await.is_empty());
    assert!(app.orders(OTHER, "?sku=S").await.is_empty());
    assert_eq!(
        app.ok(OTHER, "GET", "/settings", None).await,
        json!({"auto_backorder": false})
    );
    assert_eq!(
        app.ok(OTHER, "GET", "/vendors/V/settings", None).await["auto_backorder_default"],
        false
    );
    // Writes to the owner's objects.
    let close = app
        .call(OTHER, "POST", &format!("/replenishments/{rid}/close"), None)
        .await;
    assert_eq!(close.status, 404);
    let adjust = app
        .call(
            OTHER,
            "POST",
            "/skus/S/inventory/adjustments",
            Some(json!({"delta": 5})),
        )
        .await;
    assert_eq!(adjust.status, 404);
    let finalize = app.finalize(OTHER, "sale-2", &[("S", 1)]).await;
    assert_eq!((finalize.status, finalize.code()), (422, "unknown_sku"));
    // A cursor does not carry an account: paging with the owner's position lists only one's own.
    let page = app.ok(OWNER, "GET", "/replenishments?limit=1", None).await;
    assert!(page["items"].as_array().unwrap().len() == 1);
    assert_eq!(
        app.snapshot().await,
        before,
        "the other account changed nothing of the owner's"
    );

    // The same ids in the other account are separate objects.
    app.sku(OTHER, "S", "backorder", None, 100).await;
    assert_eq!(app.finalize(OTHER, "sale-1", &[("S", 1)]).await.status, 200);
    assert_eq!(app.on_hand(OWNER, "S").await, -2);
    assert_eq!(app.on_hand(OTHER, "S").await, 99);
    assert_eq!(app.ok(OWNER, "GET", "/sales/sale-1", None).await, sale.body);
}

/// Owner's items only, for comparing before and after another account's requests.
async fn owner_items(app: &TestApp) -> Vec<std::collections::BTreeMap<String, String>> {
    app.snapshot()
        .await
        .into_iter()
        .filter(|i| {
            // Every item's partition key starts with its account's length and id.
            i.get("pk")
                .is_some_and(|pk| pk.contains(&format!("\"{}:{OWNER}#", OWNER.len())))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_of_another_account_leaves_the_owner_untouched() {
    let app = TestApp::new().await;
    app.enable_account(OWNER, true).await;
    app.sku(OWNER, "S", "backorder", Some("V"), 0).await;
    let sale = app.finalize(OWNER, "sale-1", &[("S", 2)]).await;
    let rid = sale.body["lines"][0]["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shop = "/channels/shopify/shops/owner.myshopify.com";
    app.ok(OWNER, "PUT", shop, Some(json!({"webhook_secret": "s"})))
        .await;
    let before = owner_items(&app).await;
    assert!(!before.is_empty());
    // Reads first (before the other account creates look-alike objects of its own), then writes.
    let mut routes: Vec<_> = backorder::routes::ROUTES.iter().collect();
    routes.sort_by_key(|r| r.method != "GET");
    for route in routes {
        // The console's public routes serve embedded files and hold no account's data.
        if route.function == backorder::routes::CONSOLE {
            continue;
        }
        let path = route
            .path
            .replace("{sku}", "S")
            .replace("{vendor_id}", "V")
            .replace("{sale_id}", "sale-1")
            .replace("{replenishment_id}", &rid)
            .replace("{shop_domain}", "owner.myshopify.com");
        let body = match (route.method, route.path) {
            ("PUT", "/settings") => Some(json!({"auto_backorder": false})),
            ("PUT", "/channels/shopify/shops/{shop_domain}") => {
                Some(json!({"webhook_secret": "theirs"}))
            }
            ("PUT", "/vendors/{vendor_id}/settings") => {
                Some(json!({"auto_backorder_default": true}))
            }
            ("PUT", "/skus/{sku}/settings") => Some(json!({"auto_backorder": "never"})),
            ("PUT", "/skus/{sku}/inventory") => Some(json!({"on_hand": 1000})),
            ("POST", "/skus/{sku}/inventory/adjustments") => Some(json!({"delta": 5})),
            ("POST", "/sales/{sale_id}/finalize") => {
                Some(json!({"lines": [{"sku": "S", "quantity": 1}]}))
            }
            ("POST", "/replenishments") => Some(json!({"sku": "S", "quantity": 1})),
            ("POST", "/replenishments/{replenishment_id}/receipts") => {
                Some(json!({"receipt_id": "r-1", "quantity": 1}))
            }
            _ => None,
        };
        let r = app.call(OTHER, route.method, &path, body).await;
        assert!(r.status < 500, "{}: {}", route.key(), r.body);
        if route.path == "/vendors/{vendor_id}/replenishments" {
            assert_eq!(
                r.body["items"],
                json!([]),
                "another account's vendor view is empty"
            );
        } else if route.method == "GET"
            && path.matches('/').count() > 1
            && route.path != "/vendors/{vendor_id}/settings"
        {
            assert_eq!(
                r.status,
                404,
                "{} must not reveal the owner's object: {}",
                route.key(),
                r.body
            );
        }
        assert_eq!(
            owner_items(&app).await,
            before,
            "{} changed the owner's data",
            route.key()
        );
    }
    // The owner's shop is still the owner's.
    assert_eq!(app.call(OWNER, "GET", shop, None).await.status, 200);
}

/// The local server's `X-Account-Id` header means nothing to a Lambda handler: only the JWT claim.
#[tokio::test(flavor = "multi_thread")]
async fn lambda_handlers_ignore_the_local_account_header() {
    let app = TestApp::new().await;
    app.enable_account(OWNER, true).await;
    let event = |claims: serde_json::Value| {
        let mut e: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!(
                "{}/../events/settings/get-settings.json",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap(),
        )
        .unwrap();
        e["headers"]["x-account-id"] = json!(OWNER);
        e["requestContext"]["authorizer"]["jwt"]["claims"] = claims;
        lambda_http::request::from_str(&e.to_string()).unwrap()
    };
    let status_and_body = |resp: lambda_http::Response<lambda_http::Body>| {
        let status = resp.status().as_u16();
        (
            status,
            serde_json::from_str::<serde_json::Value>(&backorder_local::router::body_text(
                resp.body(),
            ))
            .unwrap(),
        )
    };
    // The header alone: 401.
    let (status, body) =
        status_and_body(fn_settings::handle(&app.store, event(json!({"sub": "x"}))).await);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    // The header and another account's claim: the claim wins (the owner's setting is true, theirs false).
    let (status, body) =
        status_and_body(fn_settings::handle(&app.store, event(json!({"account_id": OTHER}))).await);
    assert_eq!((status, body), (200, json!({"auto_backorder": false})));
    // An invalid claim is 401 too.
    let (status, _) =
        status_and_body(fn_settings::handle(&app.store, event(json!({"account_id": ""}))).await);
    assert_eq!(status, 401);
}

/// Random JSON of every shape at every write route: never a 5xx, and nothing changes unless the
/// request was accepted.
#[tokio::test(flavor = "multi_thread")]
async fn garbage_bodies_are_rejected_without_effect() {
    fn random_json(depth: u32) -> serde_json::Value {
        match fastrand::u32(0..if depth > 3 { 5 } else { 8 }) {
            0 => json!(null),
            1 => json!(fastrand::bool()),
            2 => json!(fastrand::i64(..)),
            3 => json!(fastrand::f64() * 1e12 - 5e11),
            4 => json!((0..fastrand::usize(0..6))
                .map(|_| fastrand::char(..))
                .collect::<String>()),
            5 | 6 => {
                let keys = [
                    "lines",
                    "sku",
                    "quantity",
                    "on_hand",
                    "delta",
                    "reason",
                    "auto_backorder",
                    "vendor_id",
                    "customer",
                    "x",
                ];
                let mut m = serde_json::Map::new();
                for _ in 0..fastrand::usize(0..4) {
                    m.insert(
                        keys[fastrand::usize(0..keys.len())].to_owned(),
                        random_json(depth + 1),
                    );
                }
                serde_json::Value::Object(m)
            }
            _ => json!((0..fastrand::usize(0..4))
                .map(|_| random_json(depth + 1))
                .collect::<Vec<_>>()),
        }
    }
    let app = TestApp::new().await;
    app.sku(OWNER, "S", "backorder", None, 3).await;
    let writes = [
        ("PUT", "/settings"),
        ("PUT", "/vendors/V/settings"),
        ("PUT", "/skus/S/settings"),
        ("PUT", "/skus/S/inventory"),
        ("POST", "/skus/S/inventory/adjustments"),
        ("POST", "/sales/g/finalize"),
        ("POST", "/replenishments/R/close"),
    ];
    fastrand::seed(7);
    let mut rejected = 0;
    for i in 0..400 {
        let (method, path) = writes[i % writes.len()];
        let body = random_json(0);
        let before = app.snapshot().await;
        let r = app.call(OWNER, method, path, Some(body.clone())).await;
        assert!(r.status < 500, "{method} {path} {body}: {}", r.body);
        if r.status != 200 {
            rejected += 1;
            assert!(r.body["error"]["message"].is_string());
            assert_eq!(
                app.snapshot().await,
                before,
                "{method} {path} {body} was rejected but changed data"
            );
        }
    }
    assert!(
        rejected > 300,
        "the generator should mostly produce invalid bodies ({rejected})"
    );
}
