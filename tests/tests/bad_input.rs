//! Every bad input gets a 4xx JSON error naming the field (or SKU) and changes nothing.

use backorder_local::router::RawRequest;
use backorder_tests::{Reply, TestApp};
use serde_json::{json, Value};

const A: &str = "acct";

async fn setup() -> TestApp {
    let app = TestApp::new().await;
    app.enable_account(A, true).await;
    app.sku(A, "OK", "backorder", None, 1).await;
    app.finalize(A, "existing", &[("OK", 2)]).await;
    app
}

fn check(reply: &Reply, status: u16, mentions: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert!(reply.body["error"]["code"].is_string(), "{}", reply.body);
    assert!(
        reply.message().contains(mentions),
        "expected {mentions:?} in {:?}",
        reply.message()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_sales_change_nothing() {
    let app = setup().await;
    let before = app.snapshot().await;
    let line = |sku: Value, q: Value| json!({"sku": sku, "quantity": q});
    let too_many: Vec<Value> = (0..1001)
        .map(|i| line(json!(format!("S{i}")), json!(1)))
        .collect();
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"lines": [line(json!("OK"), json!(1)), line(json!("GHOST"), json!(1))]}),
            422,
            "GHOST",
        ),
        (
            json!({"lines": [line(json!("OK"), json!(0))]}),
            422,
            "lines[0].quantity",
        ),
        (
            json!({"lines": [line(json!("OK"), json!(-1))]}),
            422,
            "lines[0].quantity",
        ),
        (
            json!({"lines": [line(json!("OK"), json!(1_000_001))]}),
            422,
            "lines[0].quantity",
        ),
        (
            json!({"lines": [line(json!("OK"), json!(2.5))]}),
            422,
            "lines[0].quantity",
        ),
        (
            json!({"lines": [line(json!("OK"), json!("2"))]}),
            422,
            "lines[0].quantity",
        ),
        (
            json!({"lines": [line(json!("OK"), json!(1e300))]}),
            422,
            "lines[0].quantity",
        ),
        (
            json!({"lines": [line(json!("OK"), json!(null))]}),
            422,
            "lines[0].quantity",
        ),
        (json!({"lines": [{"sku": "OK"}]}), 422, "lines[0].quantity"),
        (json!({"lines": [{"quantity": 1}]}), 422, "lines[0].sku"),
        (
            json!({"lines": [line(json!(""), json!(1))]}),
            422,
            "lines[0].sku",
        ),
        (
            json!({"lines": [line(json!("x".repeat(129)), json!(1))]}),
            422,
            "lines[0].sku",
        ),
        (
            json!({"lines": [line(json!("bad\u{7}sku"), json!(1))]}),
            422,
            "lines[0].sku",
        ),
        (
            json!({"lines": [line(json!(5), json!(1))]}),
            422,
            "lines[0].sku",
        ),
        (json!({"lines": []}), 422, "lines"),
        (json!({}), 422, "lines"),
        (json!({"lines": too_many}), 422, "at most 1000"),
        (json!({"lines": "OK"}), 422, "lines"),
        (
            json!({"lines": [line(json!("OK"), json!(1))], "discount": 5}),
            422,
            "discount",
        ),
        (
            json!({"lines": [{"sku": "OK", "quantity": 1, "price": 9}]}),
            422,
            "lines[0].price",
        ),
        (
            json!({"customer": 7, "lines": [line(json!("OK"), json!(1))]}),
            422,
            "customer",
        ),
        (
            json!({"channel": "", "lines": [line(json!("OK"), json!(1))]}),
            422,
            "channel",
        ),
        (json!([1, 2]), 400, "JSON object"),
    ];
    for (i, (body, status, mentions)) in cases.into_iter().enumerate() {
        let reply = app
            .call(
                A,
                "POST",
                &format!("/sales/new-{i}/finalize"),
                Some(body.clone()),
            )
            .await;
        check(&reply, status, mentions);
    }
    // Not JSON, empty, deeply nested, oversized.
    for raw in [
        "not json",
        "",
        "{\"lines\": [",
        &format!("{}{}", "[".repeat(200), "]".repeat(200)),
    ] {
        let reply = app
            .send(
                RawRequest::new("POST", "/sales/raw/finalize")
                    .header("x-account-id", A)
                    .body(raw),
            )
            .await;
        check(&reply, 400, "JSON");
    }
    let huge = format!(
        "{{\"lines\": [], \"pad\": \"{}\"}}",
        "x".repeat(1024 * 1024 + 1)
    );
    let reply = app
        .send(
            RawRequest::new("POST", "/sales/raw/finalize")
                .header("x-account-id", A)
                .body(huge),
        )
        .await;
    check(&reply, 413, "larger");
    // A bad sale id in the path.
    let long_id = "s".repeat(129);
    check(
        &app.finalize(A, &long_id, &[("OK", 1)]).await,
        400,
        "sale_id",
    );
    check(
        &app.finalize(A, "bad\u{1}id", &[("OK", 1)]).await,
        400,
        "sale_id",
    );
    // Re-finalizing the existing sale with another body.
    check(
        &app.finalize(A, "existing", &[("OK", 3)]).await,
        409,
        "existing",
    );

    assert_eq!(
        app.snapshot().await,
        before,
        "no bad request changed anything"
    );
    // And those sale ids are still free: nothing was recorded for them.
    assert_eq!(app.finalize(A, "new-0", &[("OK", 1)]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_settings_inventory_and_queries_change_nothing() {
    let app = setup().await;
    let before = app.snapshot().await;
    let long_sku_path = format!("/skus/{}/inventory", "k".repeat(129));
    let cases: Vec<(&str, &str, Option<Value>, u16, &str)> = vec![
        (
            "PUT",
            "/settings",
            Some(json!({"auto_backorder": "yes"})),
            422,
            "auto_backorder",
        ),
        ("PUT", "/settings", Some(json!({})), 422, "auto_backorder"),
        (
            "PUT",
            "/settings",
            Some(json!({"auto_backorder": true, "x": 1})),
            422,
            "x",
        ),
        (
            "PUT",
            "/vendors/V/settings",
            Some(json!({"auto_backorder_default": 1})),
            422,
            "auto_backorder_default",
        ),
        (
            "PUT",
            "/skus/OK/settings",
            Some(json!({"auto_backorder": "sometimes"})),
            422,
            "auto_backorder",
        ),
        (
            "PUT",
            "/skus/OK/settings",
            Some(json!({})),
            422,
            "auto_backorder",
        ),
        (
            "PUT",
            "/skus/OK/settings",
            Some(json!({"vendor_id": ""})),
            422,
            "vendor_id",
        ),
        (
            "PUT",
            "/skus/OK/settings",
            Some(json!({"vendor_id": 3})),
            422,
            "vendor_id",
        ),
        (
            "PUT",
            "/skus/OK/inventory",
            Some(json!({"on_hand": 1.5})),
            422,
            "on_hand",
        ),
        (
            "PUT",
            "/skus/OK/inventory",
            Some(json!({"on_hand": "5"})),
            422,
            "on_hand",
        ),
        (
            "PUT",
            "/skus/OK/inventory",
            Some(json!({"on_hand": 1e13})),
            422,
            "on_hand",
        ),
        ("PUT", "/skus/OK/inventory", Some(json!({})), 422, "on_hand"),
        (
            "PUT",
            "/skus/NEWSKU/inventory",
            Some(json!({"on_hand": -9999999999999i64})),
            422,
            "on_hand",
        ),
        (
            "POST",
            "/skus/OK/inventory/adjustments",
            Some(json!({"delta": "4"})),
            422,
            "delta",
        ),
        (
            "POST",
            "/skus/OK/inventory/adjustments",
            Some(json!({"delta": 4, "reason": 5})),
            422,
            "reason",
        ),
        (
            "POST",
            "/skus/OK/inventory/adjustments",
            Some(json!({"delta": 2000000000})),
            422,
            "delta",
        ),
        (
            "POST",
            "/skus/GHOST/inventory/adjustments",
            Some(json!({"delta": 4})),
            404,
            "GHOST",
        ),
        ("GET", "/skus/GHOST/inventory", None, 404, "GHOST"),
        ("GET", "/replenishments?status=pending", None, 400, "status"),
        ("GET", "/replenishments?limit=0", None, 400, "limit"),
        ("GET", "/replenishments?limit=101", None, 400, "limit"),
        ("GET", "/replenishments?limit=ten", None, 400, "limit"),
        ("GET", "/replenishments?cursor=%%%", None, 400, "cursor"),
        ("GET", "/replenishments?colour=red", None, 400, "colour"),
        ("GET", "/replenishments/NOPE", None, 404, "NOPE"),
        ("POST", "/replenishments/NOPE/close", None, 404, "NOPE"),
        (
            "POST",
            "/replenishments/NOPE/close",
            Some(json!({"force": true})),
            422,
            "force",
        ),
        ("GET", &long_sku_path, None, 400, "sku"),
    ];
    for (method, path, body, status, mentions) in cases {
        let reply = app.call(A, method, path, body).await;
        assert_eq!(reply.status, status, "{method} {path}: {}", reply.body);
        assert!(
            reply.message().contains(mentions),
            "{method} {path}: {:?} lacks {mentions:?}",
            reply.message()
        );
    }
    assert_eq!(
        app.snapshot().await,
        before,
        "no bad request changed anything"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_without_the_claim_are_401() {
    let app = setup().await;
    let before = app.snapshot().await;
    // Build events as API Gateway would, but without the authorizer claim.
    for route in backorder::routes::ROUTES {
        // The console's routes are public (no authorizer): they serve the page, which signs in.
        if route.function == backorder::routes::CONSOLE {
            continue;
        }
        let path = route
            .path
            .replace("{sku}", "OK")
            .replace("{vendor_id}", "V")
            .replace("{sale_id}", "existing")
            .replace("{replenishment_id}", "R")
            .replace("{shop_domain}", "s.myshopify.com");
        // The webhook has no claim to miss: unsigned, it is 401 all the same (tests/shopify.rs).
        let req = RawRequest::new(route.method, &path).json(&json!({}));
        let segments: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(str::to_owned)
            .collect();
        let (_, params) = backorder::routes::find(route.method, &segments).unwrap();
        let mut event = backorder_local::router::api_gateway_event(&req, route, &params);
        event["requestContext"]["authorizer"] = json!({});
        let request = lambda_http::request::from_str(&event.to_string()).unwrap();
        let resp = match route.function {
            "settings" => fn_settings::handle(&app.store, request).await,
            "inventory" => fn_inventory::handle(&app.store, request).await,
            "sale-finalize" => fn_sale_finalize::handle(&app.store, request).await,
            "replenishments" => fn_replenishments::handle(&app.store, request).await,
            "channels" => {
                let queue = backorder_local::queue::LocalQueue::new(&app.store);
                fn_channels::handle(&app.store, &queue, request).await
            }
            _ => fn_replenishment_close::handle_http(&app.store, request).await,
        };
        assert_eq!(resp.status().as_u16(), 401, "{}", route.key());
        let body: Value =
            serde_json::from_str(&backorder_local::router::body_text(resp.body())).unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    assert_eq!(app.snapshot().await, before);
}
