//! The order's life after sales fed it: audit trail, cancellation, receipts, regular orders and
//! the per-vendor view, each exact under retries and concurrency, bad input changing nothing.

use backorder_tests::{enc, TestApp};
use serde_json::{json, Value};

const A: &str = "acct";

async fn setup(app: &TestApp) {
    app.enable_account(A, true).await;
    app.sku(A, "X", "backorder", Some("V"), 0).await;
}

async fn order(app: &TestApp, rid: &str) -> Value {
    app.ok(A, "GET", &format!("/replenishments/{rid}"), None)
        .await
}

async fn close(app: &TestApp, rid: &str) -> Value {
    app.ok(A, "POST", &format!("/replenishments/{rid}/close"), None)
        .await
}

async fn cancel(app: &TestApp, sale: &str) -> backorder_tests::Reply {
    app.call(A, "POST", &format!("/sales/{}/cancel", enc(sale)), None)
        .await
}

async fn receive(app: &TestApp, rid: &str, body: Value) -> backorder_tests::Reply {
    app.call(
        A,
        "POST",
        &format!("/replenishments/{rid}/receipts"),
        Some(body),
    )
    .await
}

/// Every contribution of an order, paging with `limit`.
async fn audit(app: &TestApp, rid: &str, limit: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("?limit={limit}&cursor={c}"),
            None => format!("?limit={limit}"),
        };
        let page = app
            .ok(A, "GET", &format!("/replenishments/{rid}/sales{q}"), None)
            .await;
        let items = page["items"].as_array().unwrap().clone();
        assert!(items.len() <= limit);
        out.extend(items);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_trail_pages_through_every_sale_that_fed_an_order() {
    let app = TestApp::new().await;
    setup(&app).await;
    for i in 0..7 {
        let reply = app.finalize(A, &format!("sale-{i}"), &[("X", i + 1)]).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    // A covered sale feeds no order.
    app.ok(
        A,
        "POST",
        "/skus/X/inventory/adjustments",
        Some(json!({"delta": 100})),
    )
    .await;
    assert_eq!(app.finalize(A, "covered", &[("X", 1)]).await.status, 200);
    let orders = app.orders(A, "").await;
    assert_eq!(orders.len(), 1);
    let rid = orders[0]["replenishment_id"].as_str().unwrap();
    let trail = audit(&app, rid, 3).await;
    let ids: Vec<&str> = trail
        .iter()
        .map(|c| c["sale_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        (0..7).map(|i| format!("sale-{i}")).collect::<Vec<_>>(),
        "every feeding sale once, in sale id order"
    );
    for (i, c) in trail.iter().enumerate() {
        assert_eq!(c["units"], i as i64 + 1);
        assert!(c["at"].as_str().unwrap().ends_with('Z'));
    }
    let units: i64 = trail.iter().map(|c| c["units"].as_i64().unwrap()).sum();
    assert_eq!(units, orders[0]["quantity"].as_i64().unwrap());
    assert_eq!(audit(&app, rid, 100).await, trail);

    let missing = app
        .call(
            A,
            "GET",
            "/replenishments/01ARZ3NDEKTSV4RRFFQ69G5FAV/sales",
            None,
        )
        .await;
    assert_eq!(
        (missing.status, missing.code()),
        (404, "replenishment_not_found")
    );
    let bad = app
        .call(
            A,
            "GET",
            &format!("/replenishments/{rid}/sales?limit=0"),
            None,
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.message().contains("limit"));
    let bad = app
        .call(
            A,
            "GET",
            &format!("/replenishments/{rid}/sales?status=open"),
            None,
        )
        .await;
    assert_eq!(bad.status, 400);
    // Another account sees nothing of it.
    let other = app
        .call(
            "other",
            "GET",
            &format!("/replenishments/{rid}/sales"),
            None,
        )
        .await;
    assert_eq!(other.status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_gives_units_back_and_takes_them_out_of_the_open_order() {
    let app = TestApp::new().await;
    setup(&app).await;
    app.sku(A, "Y", "backorder", None, 10).await;
    app.ok(
        A,
        "POST",
        "/skus/X/inventory/adjustments",
        Some(json!({"delta": 2})),
    )
    .await;
    // X: 2 on hand, sale of 5 -> -3, 3 back-ordered. Y: covered.
    assert_eq!(
        app.finalize(A, "s1", &[("X", 5), ("Y", 4)]).await.status,
        200
    );
    assert_eq!(app.finalize(A, "s2", &[("X", 2)]).await.status, 200);
    let rid = app.orders(A, "").await[0]["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(order(&app, &rid).await["quantity"], 5);

    let first = cancel(&app, "s1").await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["status"], "cancelled");
    assert_eq!(first.body["not_taken_back"], 0);
    let x = &first.body["lines"].as_array().unwrap()[0];
    assert_eq!(
        (x["sku"].as_str(), x["restored"].as_i64()),
        (Some("X"), Some(5))
    );
    assert_eq!(
        (x["taken_back"].as_i64(), x["not_taken_back"].as_i64()),
        (Some(3), Some(0))
    );
    assert_eq!(app.on_hand(A, "X").await, 0, "2 - 5 - 2 + 5");
    assert_eq!(app.on_hand(A, "Y").await, 10);
    let o = order(&app, &rid).await;
    assert_eq!(
        (o["quantity"].as_i64(), o["status"].as_str()),
        (Some(2), Some("open"))
    );
    let trail = audit(&app, &rid, 10).await;
    assert_eq!(trail[0]["sale_id"], "s1");
    assert_eq!(trail[0]["taken_back"], 3);
    assert!(trail[1].get("taken_back").is_none());

    // Cancelling again answers the same and changes nothing.
    let before = app.snapshot().await;
    let again = cancel(&app, "s1").await;
    assert_eq!((again.status, &again.body), (200, &first.body));
    assert_eq!(app.snapshot().await, before);
    // A cancelled sale cannot be finalized again; GET shows it cancelled.
    let refinalize = app.finalize(A, "s1", &[("X", 5), ("Y", 4)]).await;
    assert_eq!(
        (refinalize.status, refinalize.code()),
        (409, "sale_cancelled")
    );
    assert_eq!(
        app.ok(A, "GET", "/sales/s1", None).await["status"],
        "cancelled"
    );
    assert_eq!(app.snapshot().await, before);

    // The order reaches zero and stays open, still the SKU's open order.
    assert_eq!(cancel(&app, "s2").await.status, 200);
    let o = order(&app, &rid).await;
    assert_eq!(
        (o["quantity"].as_i64(), o["status"].as_str()),
        (Some(0), Some("open"))
    );
    assert_eq!(app.on_hand(A, "X").await, 2);
    assert_eq!(app.finalize(A, "s3", &[("X", 3)]).await.status, 200);
    assert_eq!(
        order(&app, &rid).await["quantity"],
        1,
        "the next sale adds to it"
    );

    // Not found; a body is rejected.
    let none = cancel(&app, "nope").await;
    assert_eq!((none.status, none.code()), (404, "sale_not_found"));
    let body = app
        .call(A, "POST", "/sales/s3/cancel", Some(json!({"reason": "x"})))
        .await;
    assert_eq!(body.status, 422, "{}", body.body);
    assert!(body.message().contains("reason"));
    let other = app.call("other", "POST", "/sales/s3/cancel", None).await;
    assert_eq!(other.status, 404);
    assert_eq!(order(&app, &rid).await["quantity"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn units_in_a_closed_order_stay_there_and_the_answer_says_so() {
    let app = TestApp::new().await;
    setup(&app).await;
    assert_eq!(app.finalize(A, "s1", &[("X", 4)]).await.status, 200);
    let rid = app.orders(A, "").await[0]["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    close(&app, &rid).await;
    let reply = cancel(&app, "s1").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["not_taken_back"], 4);
    let line = &reply.body["lines"][0];
    assert_eq!(
        (line["taken_back"].as_i64(), line["not_taken_back"].as_i64()),
        (Some(0), Some(4))
    );
    assert_eq!(line["replenishment_id"], rid.as_str());
    assert_eq!(
        order(&app, &rid).await["quantity"],
        4,
        "a closed order keeps its units"
    );
    assert_eq!(app.on_hand(A, "X").await, 0);
    assert_eq!(audit(&app, &rid, 10).await[0]["taken_back"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_cancels_restore_once() {
    let app = TestApp::new().await;
    setup(&app).await;
    assert_eq!(app.finalize(A, "s1", &[("X", 6)]).await.status, 200);
    let rid = app.orders(A, "").await[0]["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let replies = futures::future::join_all((0..8).map(|_| cancel(&app, "s1"))).await;
    for r in &replies {
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body, replies[0].body);
    }
    assert_eq!(app.on_hand(A, "X").await, 0);
    assert_eq!(order(&app, &rid).await["quantity"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sale_in_parts_cancels_in_parts() {
    let app = TestApp::new().await;
    app.enable_account(A, true).await;
    let names: Vec<String> = (0..70).map(|i| format!("P{i:03}")).collect();
    for n in &names {
        app.sku(A, n, "backorder", None, 1).await;
    }
    let lines: Vec<(&str, i64)> = names.iter().map(|n| (n.as_str(), 3)).collect();
    let sold = app.finalize(A, "big", &lines).await;
    assert_eq!(sold.status, 200, "{}", sold.body);
    let reply = cancel(&app, "big").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let out = reply.body["lines"].as_array().unwrap();
    assert_eq!(out.len(), 70);
    assert!(out
        .iter()
        .all(|l| l["taken_back"] == 2 && l["restored"] == 3));
    for n in &names {
        assert_eq!(app.on_hand(A, n).await, 1, "{n}");
    }
    let orders = app.orders(A, "?limit=100").await;
    assert_eq!(orders.len(), 70);
    assert!(orders.iter().all(|o| o["quantity"] == 0));
    let again = cancel(&app, "big").await;
    assert_eq!(again.body, reply.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn receipts_move_the_order_through_its_statuses_exactly_once() {
    let app = TestApp::new().await;
    setup(&app).await;
    assert_eq!(app.finalize(A, "s1", &[("X", 10)]).await.status, 200);
    let rid = app.orders(A, "").await[0]["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(order(&app, &rid).await["receipt_status"], "not_received");

    let open = receive(&app, &rid, json!({"receipt_id": "r1", "quantity": 4})).await;
    assert_eq!((open.status, open.code()), (409, "replenishment_open"));
    close(&app, &rid).await;

    let r1 = receive(&app, &rid, json!({"receipt_id": "r1", "quantity": 4})).await;
    assert_eq!(r1.status, 200, "{}", r1.body);
    assert_eq!(
        (
            r1.body["received"].as_i64(),
            r1.body["receipt_status"].as_str()
        ),
        (Some(4), Some("partially_received"))
    );
    assert_eq!(app.on_hand(A, "X").await, -6);

    // The same receipt again: nothing changes.
    let before = app.snapshot().await;
    let again = receive(&app, &rid, json!({"receipt_id": "r1", "quantity": 4})).await;
    assert_eq!(
        (again.status, again.body["received"].as_i64()),
        (200, Some(4))
    );
    let reuse = receive(&app, &rid, json!({"receipt_id": "r1", "quantity": 5})).await;
    assert_eq!((reuse.status, reuse.code()), (409, "receipt_conflict"));
    // More than outstanding (6) without permission.
    let over = receive(&app, &rid, json!({"receipt_id": "r2", "quantity": 7})).await;
    assert_eq!((over.status, over.code()), (422, "over_receipt"));
    assert!(over.message().contains("quantity"));
    for bad in [
        json!({"quantity": 1}),
        json!({"receipt_id": "r9", "quantity": 0}),
        json!({"receipt_id": "r9", "quantity": "1"}),
        json!({"receipt_id": "r9", "quantity": 1, "allow_over_receipt": 1}),
        json!({"receipt_id": "r9", "quantity": 1, "note": "x"}),
    ] {
        let reply = receive(&app, &rid, bad.clone()).await;
        assert_eq!(reply.status, 422, "{bad}: {}", reply.body);
    }
    let none = receive(
        &app,
        "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        json!({"receipt_id": "r9", "quantity": 1}),
    )
    .await;
    assert_eq!(none.status, 404);
    assert_eq!(
        app.snapshot().await,
        before,
        "refused receipts change nothing"
    );

    let r2 = receive(&app, &rid, json!({"receipt_id": "r2", "quantity": 6})).await;
    assert_eq!(r2.body["receipt_status"], "received");
    let r3 = receive(
        &app,
        &rid,
        json!({"receipt_id": "r3", "quantity": 2, "allow_over_receipt": true}),
    )
    .await;
    assert_eq!((r3.status, r3.body["received"].as_i64()), (200, Some(12)));
    assert_eq!(r3.body["receipt_status"], "received");
    assert_eq!(app.on_hand(A, "X").await, 2, "-10 + 12");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_receipts_each_count_once() {
    let app = TestApp::new().await;
    setup(&app).await;
    assert_eq!(app.finalize(A, "s1", &[("X", 100)]).await.status, 200);
    let rid = app.orders(A, "").await[0]["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    close(&app, &rid).await;
    // 4 distinct receipts, each sent 3 times at once.
    let calls = (0..12).map(|i| {
        let rid = rid.clone();
        let app = &app;
        async move {
            receive(
                app,
                &rid,
                json!({"receipt_id": format!("r{}", i % 4), "quantity": 5}),
            )
            .await
        }
    });
    for reply in futures::future::join_all(calls).await {
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let o = order(&app, &rid).await;
    assert_eq!(o["received"], 20);
    assert_eq!(app.on_hand(A, "X").await, -80);
}

#[tokio::test(flavor = "multi_thread")]
async fn regular_orders_are_never_merged_into_and_close_and_receive_like_the_others() {
    let app = TestApp::new().await;
    setup(&app).await;
    let app = &app;
    let create = |body: Value| app.call(A, "POST", "/replenishments", Some(body));
    let made = create(json!({"sku": "X", "quantity": 12, "request_id": "po-1"})).await;
    assert_eq!(made.status, 201, "{}", made.body);
    assert_eq!(made.body["tags"], json!([]));
    assert_eq!(made.body["vendor_id"], "V", "the SKU's vendor by default");
    assert_eq!(made.body["status"], "open");
    let rid = made.body["replenishment_id"].as_str().unwrap().to_owned();
    // A retry returns the same order; the id reused for another order is 409.
    let retry = create(json!({"sku": "X", "quantity": 12, "request_id": "po-1"})).await;
    assert_eq!((retry.status, &retry.body), (200, &made.body));
    let reuse = create(json!({"sku": "X", "quantity": 13, "request_id": "po-1"})).await;
    assert_eq!((reuse.status, reuse.code()), (409, "request_conflict"));
    let unknown = create(json!({"sku": "nope", "quantity": 1})).await;
    assert_eq!((unknown.status, unknown.code()), (422, "unknown_sku"));
    let bad = create(json!({"sku": "X", "quantity": 0})).await;
    assert_eq!(bad.status, 422);
    assert!(bad.message().contains("quantity"));
    assert_eq!(app.orders(A, "").await.len(), 1);

    // A sale of X opens its own auto-back-order order beside the regular one.
    assert_eq!(app.finalize(A, "s1", &[("X", 3)]).await.status, 200);
    let orders = app.orders(A, "").await;
    assert_eq!(orders.len(), 2);
    let auto = orders
        .iter()
        .find(|o| o["replenishment_id"] != rid.as_str())
        .unwrap();
    assert_eq!(auto["tags"], json!(["auto_backorder"]));
    assert_eq!(auto["quantity"], 3);
    assert_eq!(order(app, &rid).await["quantity"], 12, "never merged into");

    // Closing the regular order leaves the SKU's open auto order alone.
    let closed = close(app, &rid).await;
    assert_eq!(closed["status"], "closed");
    let inv = app.ok(A, "GET", "/skus/X/inventory", None).await;
    assert_eq!(inv["open_replenishment_id"], auto["replenishment_id"]);
    let got = receive(app, &rid, json!({"receipt_id": "g1", "quantity": 12})).await;
    assert_eq!(got.body["receipt_status"], "received");
    assert_eq!(app.on_hand(A, "X").await, 9, "-3 + 12");
    // The scheduled close lists auto-back-order orders only: a regular order is never in its index.
    let regular = app.items_with_prefix(&format!("ORDER#{rid}")).await;
    assert_eq!(regular.len(), 1);
    assert!(!regular[0].contains_key("open_pk"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vendor_lists_its_open_orders_as_one_purchase_order() {
    let app = TestApp::new().await;
    setup(&app).await;
    app.sku(A, "Y", "backorder", Some("V"), 0).await;
    app.sku(A, "Z", "backorder", Some("W"), 0).await;
    app.sku(A, "N", "backorder", None, 0).await;
    for (sale, sku) in [("s1", "X"), ("s2", "Y"), ("s3", "Z"), ("s4", "N")] {
        assert_eq!(app.finalize(A, sale, &[(sku, 2)]).await.status, 200);
    }
    let app = &app;
    let list = |vendor: &str, q: &str| {
        let target = format!("/vendors/{vendor}/replenishments{q}");
        async move {
            app.ok(A, "GET", &target, None).await["items"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    let v = list("V", "").await;
    let mut skus: Vec<&str> = v.iter().map(|o| o["sku"].as_str().unwrap()).collect();
    skus.sort();
    assert_eq!(skus, ["X", "Y"]);
    assert_eq!(list("W", "?status=open").await.len(), 1);
    assert!(list("nobody", "").await.is_empty());
    // Paging.
    let page = app
        .ok(A, "GET", "/vendors/V/replenishments?limit=1", None)
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let next = page["next_cursor"].as_str().unwrap();
    let page2 = app
        .ok(
            A,
            "GET",
            &format!("/vendors/V/replenishments?limit=1&cursor={next}"),
            None,
        )
        .await;
    assert_eq!(page2["items"].as_array().unwrap().len(), 1);
    assert_ne!(page2["items"][0], page["items"][0]);
    // Closing moves an order to the vendor's closed list.
    let x = v.iter().find(|o| o["sku"] == "X").unwrap();
    close(app, x["replenishment_id"].as_str().unwrap()).await;
    assert_eq!(list("V", "?status=open").await.len(), 1);
    let closed = list("V", "?status=closed").await;
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0]["sku"], "X");
    let bad = app
        .call(A, "GET", "/vendors/V/replenishments?status=done", None)
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.message().contains("status"));
    assert!(app
        .ok("other", "GET", "/vendors/V/replenishments", None)
        .await["items"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scheduled_close_leaves_an_emptied_order_open_until_a_sale_refills_it() {
    use std::time::{Duration, Instant};
    let app = TestApp::new().await;
    setup(&app).await;
    assert_eq!(app.finalize(A, "s1", &[("X", 2)]).await.status, 200);
    assert_eq!(cancel(&app, "s1").await.status, 200);
    let rid = app.orders(A, "").await[0]["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let far = Instant::now() + Duration::from_secs(60);
    let close_due = || {
        backorder::service::close_due_orders(
            &app.store,
            Duration::ZERO,
            far,
            Duration::from_secs(1),
        )
    };
    let run = close_due().await.unwrap();
    assert_eq!(
        (run.closed, run.remaining),
        (0, 1),
        "nothing to order: left open"
    );
    assert_eq!(order(&app, &rid).await["status"], "open");
    assert_eq!(app.finalize(A, "s2", &[("X", 1)]).await.status, 200);
    assert_eq!(order(&app, &rid).await["quantity"], 1);
    let run = close_due().await.unwrap();
    assert_eq!((run.closed, run.remaining), (1, 0));
    assert_eq!(order(&app, &rid).await["status"], "closed");
}
