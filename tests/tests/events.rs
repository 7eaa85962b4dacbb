//! Each function's handler driven by the event files in `events/` (API Gateway HTTP API v2 requests
//! generated with `sam local generate-event`, then edited; see scripts/generate-events.py), exactly
//! as the Lambda runtime would deliver them.

use std::time::{Duration, Instant};

use backorder::Config;
use backorder_tests::TestApp;
use lambda_http::{Body, Response};
use serde_json::{json, Value};

fn event(name: &str, rid: Option<&str>) -> String {
    let path = format!("{}/../events/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    match rid {
        Some(rid) => text.replace("REPLENISHMENT_ID", rid),
        None => text,
    }
}

fn request(name: &str, rid: Option<&str>) -> lambda_http::Request {
    lambda_http::request::from_str(&event(name, rid))
        .unwrap_or_else(|e| panic!("{name} is not an API Gateway event: {e}"))
}

fn json_of(resp: Response<Body>) -> (u16, Value) {
    let status = resp.status().as_u16();
    assert_eq!(resp.headers()["content-type"], "application/json");
    (
        status,
        serde_json::from_str(&backorder_local::router::body_text(resp.body())).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn every_function_from_its_event_files() {
    let app = TestApp::new().await;
    let store = &app.store;
    let ok = |(status, body): (u16, Value)| {
        assert_eq!(status, 200, "{body}");
        body
    };

    // settings
    assert_eq!(
        ok(json_of(
            fn_settings::handle(store, request("settings/put-settings", None)).await
        )),
        json!({"auto_backorder": true})
    );
    assert_eq!(
        ok(json_of(
            fn_settings::handle(store, request("settings/get-settings", None)).await
        )),
        json!({"auto_backorder": true})
    );
    let vendor = json!({"vendor_id": "acme", "auto_backorder_default": true, "lead_time_days": 14, "pack_size": null, "min_order_units": null});
    assert_eq!(
        ok(json_of(
            fn_settings::handle(store, request("settings/put-vendor-settings", None)).await
        )),
        vendor
    );
    assert_eq!(
        ok(json_of(
            fn_settings::handle(store, request("settings/get-vendor-settings", None)).await
        )),
        vendor
    );
    let sku = json!({"sku": "CHAIR-1", "vendor_id": "acme", "auto_backorder": "vendor_default", "effective_auto_backorder": true, "pack_size": null, "backorder_limit": null});
    assert_eq!(
        ok(json_of(
            fn_settings::handle(store, request("settings/put-sku-settings", None)).await
        )),
        sku
    );
    assert_eq!(
        ok(json_of(
            fn_settings::handle(store, request("settings/get-sku-settings", None)).await
        )),
        sku
    );

    // inventory
    let level =
        |on_hand: i64| json!({"sku": "CHAIR-1", "on_hand": on_hand, "open_replenishment_id": null});
    assert_eq!(
        ok(json_of(
            fn_inventory::handle(store, request("inventory/put-inventory", None)).await
        )),
        level(2)
    );
    assert_eq!(
        ok(json_of(
            fn_inventory::handle(store, request("inventory/post-adjustment", None)).await
        )),
        level(1)
    );
    assert_eq!(
        ok(json_of(
            fn_inventory::handle(store, request("inventory/get-inventory", None)).await
        )),
        level(1)
    );

    // sale-finalize: 4 sold against 1 on hand -> 3 back-ordered through the vendor default
    let sale = ok(json_of(
        fn_sale_finalize::handle(store, request("sale-finalize/post-finalize", None)).await,
    ));
    assert_eq!(sale["sale_id"], "S-1001");
    assert_eq!(sale["customer"], "c-42");
    assert_eq!(sale["lines"][0]["on_hand_after"], -3);
    assert_eq!(sale["lines"][0]["backordered"], 3);
    let rid = sale["lines"][0]["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        ok(json_of(
            fn_sale_finalize::handle(store, request("sale-finalize/get-sale", None)).await
        )),
        sale
    );
    // The same event again (an at-least-once redelivery) replays the same body.
    assert_eq!(
        ok(json_of(
            fn_sale_finalize::handle(store, request("sale-finalize/post-finalize", None)).await
        )),
        sale
    );
    // The stream's record of that sale's claim, through the Lambda entry point: the sale is
    // complete, so the completion path has nothing to do and nothing changes.
    let claim: Value = serde_json::from_str(&event("sale-finalize/stream-claim", None)).unwrap();
    let completion = fn_sale_finalize::handle_event(
        store,
        &Config::for_table(&app.table),
        claim,
        Instant::now() + Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert_eq!(completion, serde_json::json!({"batchItemFailures": []}));
    assert_eq!(
        ok(json_of(
            fn_sale_finalize::handle(store, request("sale-finalize/get-sale", None)).await
        )),
        sale
    );

    // replenishments
    let list = ok(json_of(
        fn_replenishments::handle(store, request("replenishments/list-replenishments", None)).await,
    ));
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["replenishment_id"], json!(rid));
    assert_eq!(list["next_cursor"], Value::Null);
    let order = ok(json_of(
        fn_replenishments::handle(
            store,
            request("replenishments/get-replenishment", Some(&rid)),
        )
        .await,
    ));
    assert_eq!(
        (order["status"].as_str(), order["quantity"].as_i64()),
        (Some("open"), Some(3))
    );

    // replenishment-close through its Lambda entry point (the runtime hands it raw JSON).
    let config = Config::for_table(&app.table);
    let deadline = Instant::now() + Duration::from_secs(30);
    let call = |name: &str, rid: Option<&str>| {
        let payload: Value = serde_json::from_str(&event(name, rid)).unwrap();
        fn_replenishment_close::handle_event(store, &config, payload, deadline)
    };
    let http = call("replenishment-close/post-close", Some(&rid))
        .await
        .unwrap();
    assert_eq!(http["statusCode"], 200);
    assert_eq!(http["headers"]["content-type"], "application/json");
    let closed: Value = serde_json::from_str(http["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        (closed["status"].as_str(), closed["quantity"].as_i64()),
        (Some("closed"), Some(3))
    );
    // The direct payload on a closed order returns it unchanged.
    assert_eq!(
        call("replenishment-close/direct", Some(&rid))
            .await
            .unwrap(),
        closed
    );
    // The vendor's lead time (14 days, put-vendor-settings) dates the closed order.
    let closed_at =
        chrono::DateTime::parse_from_rfc3339(closed["closed_at"].as_str().unwrap()).unwrap();
    let expected_at =
        chrono::DateTime::parse_from_rfc3339(closed["expected_at"].as_str().unwrap()).unwrap();
    assert_eq!(expected_at - closed_at, chrono::Duration::days(14));
    // Who waits for CHAIR-1: S-1001, for its 3 units, expected then.
    let waiting = ok(json_of(
        fn_replenishments::handle(store, request("replenishments/list-awaiting", None)).await,
    ));
    assert_eq!(
        waiting["items"],
        json!([{
            "sale_id": "S-1001",
            "replenishment_id": rid,
            "awaiting": 3,
            "expected_at": closed["expected_at"],
            "at": waiting["items"][0]["at"],
        }])
    );
    // The 3 units arrive: released to S-1001, and the stream's record of its contribution
    // reaching them all publishes FulfillmentReady.
    let received = app
        .ok(
            "acct-events",
            "POST",
            &format!("/replenishments/{rid}/receipts"),
            Some(json!({"receipt_id": "dock-1", "quantity": 3})),
        )
        .await;
    assert_eq!(
        received["released"],
        json!([{"sale_id": "S-1001", "units": 3}])
    );
    let bus = backorder_tests::eventbridge::EventBridge::start().await;
    let publisher = fn_order_events::Publisher::new(bus.client(), "orders");
    let record: Value =
        serde_json::from_str(&event("order-events/contribution-released", Some(&rid))).unwrap();
    let out = fn_order_events::handle(
        &publisher,
        Some(store),
        record,
        Instant::now() + Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert_eq!(
        serde_json::to_value(out).unwrap(),
        json!({"batchItemFailures": []})
    );
    let accepted = bus.accepted();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].detail_type, "FulfillmentReady");
    let detail = &accepted[0].detail;
    assert_eq!(
        detail["event_id"],
        "11:acct-events#SALE#S-1001:FulfillmentReady"
    );
    assert_eq!(detail["sale_id"], "S-1001");
    assert_eq!(
        detail["fulfillment_id"],
        sale["fulfillment"]["fulfillment_id"]
    );
    assert_eq!(
        detail["lines"],
        json!([{"sku": "CHAIR-1", "replenishment_id": rid, "units": 3}])
    );
    let now = ok(json_of(
        fn_sale_finalize::handle(store, request("sale-finalize/get-sale", None)).await,
    ));
    assert_eq!(now["fulfillment"]["stock_status"], "ready");
    assert_eq!(now["lines"][0]["released"], 3);

    // An unknown id through the direct payload is a NotFound diagnostic.
    let err = call("replenishment-close/direct", Some("01NOPE"))
        .await
        .unwrap_err();
    let diagnostic: lambda_runtime::Diagnostic = err.into();
    assert_eq!(diagnostic.error_type, "NotFound");

    // A new shortfall opens a new order; the scheduled event closes it.
    let reply = app
        .finalize("acct-events", "S-1002", &[("CHAIR-1", 2)])
        .await;
    let second = reply.body["lines"][0]["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(second, rid);
    assert_eq!(
        call("replenishment-close/scheduled", None).await.unwrap(),
        json!({"closed": 1, "remaining": 0})
    );
    assert_eq!(
        app.ok(
            "acct-events",
            "GET",
            &format!("/replenishments/{second}"),
            None
        )
        .await["status"],
        "closed"
    );
    assert_eq!(
        call("replenishment-close/scheduled", None).await.unwrap(),
        json!({"closed": 0, "remaining": 0})
    );

    // An event for a route of another function is a 404 here.
    let (status, body) =
        json_of(fn_settings::handle(store, request("inventory/get-inventory", None)).await);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("route_not_found"))
    );
}

/// `sam local generate-event` leaves `routeKey` at `$default`: the handlers then route by method and path.
#[tokio::test(flavor = "multi_thread")]
async fn default_route_key_routes_by_path() {
    let app = TestApp::new().await;
    let mut e: Value = serde_json::from_str(&event("settings/get-settings", None)).unwrap();
    e["routeKey"] = json!("$default");
    e["requestContext"]["routeKey"] = json!("$default");
    let req = lambda_http::request::from_str(&e.to_string()).unwrap();
    let (status, body) = json_of(fn_settings::handle(&app.store, req).await);
    assert_eq!((status, body), (200, json!({"auto_backorder": false})));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lifecycle_from_its_event_files() {
    let app = TestApp::new().await;
    let store = &app.store;
    app.enable_account("acct-events", true).await;
    app.sku("acct-events", "CHAIR-1", "backorder", Some("acme"), 1)
        .await;
    let call = |status: u16, resp: Response<Body>| {
        let (got, body) = json_of(resp);
        assert_eq!(got, status, "{body}");
        body
    };
    let sale = call(
        200,
        fn_sale_finalize::handle(store, request("sale-finalize/post-finalize", None)).await,
    );
    let rid = sale["lines"][0]["replenishment_id"].as_str().unwrap();
    let trail = call(
        200,
        fn_replenishments::handle(store, request("replenishments/list-sales", Some(rid))).await,
    );
    assert_eq!(trail["items"][0]["sale_id"], "S-1001");
    assert_eq!(trail["items"][0]["units"], 3);
    let vendor = call(
        200,
        fn_replenishments::handle(
            store,
            request("replenishments/list-vendor-replenishments", None),
        )
        .await,
    );
    assert_eq!(vendor["items"][0]["replenishment_id"], rid);
    let cancelled = call(
        200,
        fn_sale_finalize::handle(store, request("sale-finalize/post-cancel", None)).await,
    );
    assert_eq!(cancelled["lines"][0]["taken_back"], 3);
    assert_eq!(app.on_hand("acct-events", "CHAIR-1").await, 1);

    let regular = call(
        201,
        fn_replenishments::handle(store, request("replenishments/post-replenishment", None)).await,
    );
    assert_eq!(regular["tags"], json!([]));
    let again = call(
        200,
        fn_replenishments::handle(store, request("replenishments/post-replenishment", None)).await,
    );
    assert_eq!(again, regular);
    let manual = regular["replenishment_id"].as_str().unwrap();
    call(
        200,
        fn_replenishment_close::handle_http(
            store,
            request("replenishment-close/post-close", Some(manual)),
        )
        .await,
    );
    let received = call(
        200,
        fn_replenishments::handle(store, request("replenishments/post-receipt", Some(manual)))
            .await,
    );
    assert_eq!(received["received"], 3);
    assert_eq!(received["receipt_status"], "partially_received");
    assert_eq!(app.on_hand("acct-events", "CHAIR-1").await, 4);
}
