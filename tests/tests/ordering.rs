//! Orders a vendor can fill: at close an order asks its vendor for whole packs and at least the
//! vendor's minimum (`ordered_quantity`), keeps the units owed to sales (`quantity`), and receipts
//! count against what was ordered: waiting sales first, oldest first, the surplus to stock.

use backorder_tests::TestApp;
use serde_json::{json, Value};

const A: &str = "acct";

async fn vendor(app: &TestApp, body: Value) -> Value {
    app.ok(A, "PUT", "/vendors/V/settings", Some(body)).await
}

/// Three sales of SKU `X` (vendor `V`, stock 0): 3, 2 and 2 units back-ordered into one order.
async fn seven_owed(app: &TestApp) -> String {
    app.enable_account(A, true).await;
    app.sku(A, "X", "backorder", Some("V"), 0).await;
    for (sale, q) in [("s1", 3), ("s2", 2), ("s3", 2)] {
        assert_eq!(app.finalize(A, sale, &[("X", q)]).await.status, 200);
    }
    app.orders(A, "?status=open").await[0]["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn receive(app: &TestApp, rid: &str, id: &str, quantity: i64) -> backorder_tests::Reply {
    app.call(
        A,
        "POST",
        &format!("/replenishments/{rid}/receipts"),
        Some(json!({"receipt_id": id, "quantity": quantity})),
    )
    .await
}

async fn released(app: &TestApp, sale: &str) -> (i64, i64) {
    let line = &app.ok(A, "GET", &format!("/sales/{sale}"), None).await["lines"][0];
    (
        line["released"].as_i64().unwrap(),
        line["awaiting"].as_i64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_close_orders_whole_packs_and_receipts_release_oldest_first_with_the_surplus_to_stock() {
    let app = TestApp::new().await;
    let settings = vendor(&app, json!({"pack_size": 6, "min_order_units": 10})).await;
    assert_eq!(settings["pack_size"], 6);
    assert_eq!(settings["min_order_units"], 10);
    let rid = seven_owed(&app).await;
    let open = app
        .ok(A, "GET", &format!("/replenishments/{rid}"), None)
        .await;
    assert_eq!(
        (open["quantity"].clone(), open["ordered_quantity"].clone()),
        (json!(7), Value::Null),
        "not decided while open: {open}"
    );

    // 7 owed, at least 10, cases of 6: 12 ordered, 5 of them for stock.
    let closed = app
        .ok(A, "POST", &format!("/replenishments/{rid}/close"), None)
        .await;
    assert_eq!(closed["quantity"], 7);
    assert_eq!(closed["ordered_quantity"], 12);
    assert_eq!(closed["surplus"], 5);
    let read = app
        .ok(A, "GET", &format!("/replenishments/{rid}"), None)
        .await;
    assert_eq!(read, closed);

    // Below the ordered quantity: 4 received, all to the oldest sale and the next.
    let r = receive(&app, &rid, "r1", 4).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["receipt_status"], "partially_received");
    assert_eq!(
        r.body["released"],
        json!([{"sale_id": "s1", "units": 3}, {"sale_id": "s2", "units": 1}])
    );
    assert_eq!(released(&app, "s1").await, (3, 0));
    assert_eq!(released(&app, "s2").await, (1, 1));
    assert_eq!(released(&app, "s3").await, (0, 2));

    // Every sale served at 7, still partially received (12 ordered).
    let r = receive(&app, &rid, "r2", 3).await;
    assert_eq!(r.body["receipt_status"], "partially_received");
    assert_eq!(
        r.body["released"],
        json!([{"sale_id": "s2", "units": 1}, {"sale_id": "s3", "units": 2}])
    );
    // The surplus: released to nobody, in stock.
    let r = receive(&app, &rid, "r3", 5).await;
    assert_eq!(r.body["receipt_status"], "received");
    assert_eq!(r.body["released"], json!([]));
    assert_eq!(r.body["received"], 12);
    // 0 - 7 sold + 12 received.
    assert_eq!(app.on_hand(A, "X").await, 5);

    // Above the ordered quantity: refused unless allowed.
    let over = receive(&app, &rid, "r4", 1).await;
    assert_eq!((over.status, over.code()), (422, "over_receipt"));
}

#[tokio::test(flavor = "multi_thread")]
async fn receipts_above_the_ordered_quantity_need_permission_and_go_to_stock() {
    let app = TestApp::new().await;
    vendor(&app, json!({"pack_size": 4})).await;
    let rid = seven_owed(&app).await;
    let closed = app
        .ok(A, "POST", &format!("/replenishments/{rid}/close"), None)
        .await;
    assert_eq!(
        (
            closed["ordered_quantity"].clone(),
            closed["surplus"].clone()
        ),
        (json!(8), json!(1))
    );
    let over = receive(&app, &rid, "r1", 9).await;
    assert_eq!((over.status, over.code()), (422, "over_receipt"));
    assert!(over.message().contains('8'), "{}", over.message());
    let r = app
        .call(
            A,
            "POST",
            &format!("/replenishments/{rid}/receipts"),
            Some(json!({"receipt_id": "r1", "quantity": 9, "allow_over_receipt": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["receipt_status"], "received");
    let units: i64 = r.body["released"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["units"].as_i64().unwrap())
        .sum();
    assert_eq!(units, 7, "no sale gets more than it is owed");
    assert_eq!(app.on_hand(A, "X").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_skus_own_pack_size_overrides_its_vendors_and_an_order_owing_nothing_orders_nothing() {
    let app = TestApp::new().await;
    vendor(&app, json!({"pack_size": 6, "min_order_units": 3})).await;
    let rid = seven_owed(&app).await;
    let sku = app
        .ok(A, "PUT", "/skus/X/settings", Some(json!({"pack_size": 5})))
        .await;
    assert_eq!(sku["pack_size"], 5);
    let closed = app
        .ok(A, "POST", &format!("/replenishments/{rid}/close"), None)
        .await;
    assert_eq!(closed["ordered_quantity"], 10);

    // Every sale of the next order cancelled while it is open: nothing owed, nothing ordered.
    assert_eq!(app.finalize(A, "s4", &[("X", 1)]).await.status, 200);
    app.ok(A, "POST", "/sales/s4/cancel", None).await;
    let next = app.orders(A, "?status=open").await[0]["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let empty = app
        .ok(A, "POST", &format!("/replenishments/{next}/close"), None)
        .await;
    assert_eq!(
        (empty["quantity"].clone(), empty["ordered_quantity"].clone()),
        (json!(0), json!(0))
    );

    // The SKU's own size cleared: the vendor's again.
    let sku = app
        .ok(
            A,
            "PUT",
            "/skus/X/settings",
            Some(json!({"pack_size": null})),
        )
        .await;
    assert_eq!(sku["pack_size"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scheduled_close_orders_whole_packs_too() {
    let app = TestApp::new().await;
    vendor(&app, json!({"pack_size": 12})).await;
    let rid = seven_owed(&app).await;
    let run = backorder::service::close_due_orders(
        &app.store,
        std::time::Duration::ZERO,
        std::time::Instant::now() + std::time::Duration::from_secs(30),
        std::time::Duration::from_secs(1),
    )
    .await
    .unwrap();
    assert_eq!(run.closed, 1);
    let order = app
        .ok(A, "GET", &format!("/replenishments/{rid}"), None)
        .await;
    assert_eq!(
        (order["quantity"].clone(), order["ordered_quantity"].clone()),
        (json!(7), json!(12))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_regular_order_is_entered_in_whole_packs() {
    let app = TestApp::new().await;
    vendor(&app, json!({"pack_size": 6})).await;
    app.sku(A, "X", "never", Some("V"), 0).await;
    let before = app.snapshot().await;
    let r = app
        .call(
            A,
            "POST",
            "/replenishments",
            Some(json!({"sku": "X", "quantity": 7})),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "invalid_field"));
    assert!(
        r.message()
            .starts_with("quantity must be a multiple of the pack size 6"),
        "{}",
        r.message()
    );
    assert!(
        r.message().contains("12"),
        "names the nearest above: {}",
        r.message()
    );
    assert_eq!(app.snapshot().await, before, "nothing written");
    let r = app
        .call(
            A,
            "POST",
            "/replenishments",
            Some(json!({"sku": "X", "quantity": 12})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        (
            r.body["ordered_quantity"].clone(),
            r.body["surplus"].clone()
        ),
        (json!(12), json!(0))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_pack_sizes_and_minimums_are_refused_naming_the_field() {
    let app = TestApp::new().await;
    app.sku(A, "X", "backorder", Some("V"), 0).await;
    let before = app.snapshot().await;
    let cases = [
        ("/vendors/V/settings", json!({"pack_size": 0}), "pack_size"),
        ("/vendors/V/settings", json!({"pack_size": -6}), "pack_size"),
        (
            "/vendors/V/settings",
            json!({"pack_size": 2.5}),
            "pack_size",
        ),
        (
            "/vendors/V/settings",
            json!({"pack_size": "6"}),
            "pack_size",
        ),
        (
            "/vendors/V/settings",
            json!({"pack_size": 10001}),
            "pack_size",
        ),
        (
            "/vendors/V/settings",
            json!({"min_order_units": -1}),
            "min_order_units",
        ),
        (
            "/vendors/V/settings",
            json!({"min_order_units": 0.5}),
            "min_order_units",
        ),
        (
            "/vendors/V/settings",
            json!({"min_order_units": 1000001}),
            "min_order_units",
        ),
        ("/skus/X/settings", json!({"pack_size": 0}), "pack_size"),
        ("/skus/X/settings", json!({"pack_size": 10001}), "pack_size"),
        (
            "/skus/X/settings",
            json!({"backorder_limit": -1}),
            "backorder_limit",
        ),
        (
            "/skus/X/settings",
            json!({"backorder_limit": 1.5}),
            "backorder_limit",
        ),
    ];
    for (path, body, field) in cases {
        let r = app.call(A, "PUT", path, Some(body.clone())).await;
        assert_eq!(
            (r.status, r.code()),
            (422, "invalid_field"),
            "{path} {body}"
        );
        assert!(
            r.message().starts_with(field),
            "{path} {body}: {}",
            r.message()
        );
    }
    assert_eq!(app.snapshot().await, before, "nothing written");
}
