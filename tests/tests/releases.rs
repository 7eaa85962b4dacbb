//! Received units release the sales waiting on them, oldest first: the rules on examples (several
//! sales, a partial receipt, cancellations before and after the close, over-receipt, a repeated
//! receipt), the sale's `awaiting`/`released`/`expected_at` and `stock_status`, a SKU's waiting
//! sales, and the vendor's lead time.

use backorder_tests::{enc, Reply, TestApp};
use serde_json::{json, Value};

const A: &str = "acct";

async fn setup(app: &TestApp) {
    app.enable_account(A, true).await;
    app.sku(A, "X", "backorder", Some("V"), 0).await;
}

async fn sale(app: &TestApp, id: &str) -> Value {
    app.ok(A, "GET", &format!("/sales/{}", enc(id)), None).await
}

async fn close(app: &TestApp, rid: &str) -> Value {
    app.ok(A, "POST", &format!("/replenishments/{rid}/close"), None)
        .await
}

async fn receive(app: &TestApp, rid: &str, receipt: &str, quantity: i64, over: bool) -> Reply {
    app.call(
        A,
        "POST",
        &format!("/replenishments/{rid}/receipts"),
        Some(json!({"receipt_id": receipt, "quantity": quantity, "allow_over_receipt": over})),
    )
    .await
}

async fn cancel(app: &TestApp, id: &str) {
    let reply = app
        .call(A, "POST", &format!("/sales/{}/cancel", enc(id)), None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

/// `(awaiting, released)` of a sale's only line, and its stock status.
async fn line(app: &TestApp, id: &str) -> (i64, i64, String) {
    let s = sale(app, id).await;
    let l = &s["lines"][0];
    (
        l["awaiting"].as_i64().unwrap(),
        l["released"].as_i64().unwrap(),
        s["fulfillment"]["stock_status"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

async fn waiting(app: &TestApp, sku: &str, query: &str) -> Value {
    app.ok(A, "GET", &format!("/skus/{sku}/awaiting{query}"), None)
        .await
}

fn released(reply: &Reply) -> Vec<(String, i64)> {
    reply.body["released"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["sale_id"].as_str().unwrap().to_owned(),
                r["units"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn pairs(v: &[(&str, i64)]) -> Vec<(String, i64)> {
    v.iter().map(|(s, u)| ((*s).to_owned(), *u)).collect()
}

async fn the_order(app: &TestApp) -> String {
    let orders = app.orders(A, "?status=open").await;
    assert_eq!(orders.len(), 1);
    orders[0]["replenishment_id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn receipts_release_the_oldest_sales_first_and_partly() {
    let app = TestApp::new().await;
    setup(&app).await;
    // Stock 1: the first sale is partly covered.
    app.ok(
        A,
        "POST",
        "/skus/X/inventory/adjustments",
        Some(json!({"delta": 1})),
    )
    .await;
    let first = app.finalize(A, "s1", &[("X", 3)]).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let answer = first.body.clone();
    assert_eq!(answer["lines"][0]["backordered"], 2);
    assert_eq!(answer["lines"][0]["awaiting"], 2);
    assert_eq!(answer["lines"][0]["released"], 0);
    assert_eq!(answer["lines"][0]["expected_at"], Value::Null);
    assert_eq!(answer["fulfillment"]["stock_status"], "awaiting_stock");
    assert_eq!(answer["fulfillment"]["status"], "raised");
    for (id, q) in [("s2", 1), ("s3", 4)] {
        assert_eq!(app.finalize(A, id, &[("X", q)]).await.status, 200);
    }
    let rid = the_order(&app).await;
    let w = waiting(&app, "X", "").await;
    let ids: Vec<&str> = w["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sale_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["s1", "s2", "s3"], "oldest first");
    assert_eq!(w["items"][0]["awaiting"], 2);
    assert_eq!(w["items"][0]["replenishment_id"], rid.as_str());
    assert_eq!(
        w["items"][0]["expected_at"],
        Value::Null,
        "the order is open"
    );
    assert!(w["items"][0]["at"].as_str().unwrap().ends_with('Z'));

    let closed = close(&app, &rid).await;
    assert_eq!(closed["quantity"], 7);
    // 4 units: s1's 2, s2's 1, and 1 of s3's 4.
    let r1 = receive(&app, &rid, "r1", 4, false).await;
    assert_eq!(r1.status, 200, "{}", r1.body);
    assert_eq!(released(&r1), pairs(&[("s1", 2), ("s2", 1), ("s3", 1)]));
    assert_eq!(r1.body["received"], 4);
    assert_eq!(line(&app, "s1").await, (0, 2, "ready".into()));
    assert_eq!(line(&app, "s2").await, (0, 1, "ready".into()));
    assert_eq!(line(&app, "s3").await, (3, 1, "awaiting_stock".into()));
    let w = waiting(&app, "X", "").await;
    assert_eq!(w["items"].as_array().unwrap().len(), 1);
    assert_eq!(w["items"][0]["sale_id"], "s3");
    assert_eq!(w["items"][0]["awaiting"], 3);

    // The same receipt again releases nothing more, and answers as it did.
    let again = receive(&app, &rid, "r1", 4, false).await;
    assert_eq!(again.status, 200);
    assert_eq!(released(&again), released(&r1));
    assert_eq!(again.body["received"], 4);
    assert_eq!(line(&app, "s3").await, (3, 1, "awaiting_stock".into()));

    // The rest, and more than was ordered: over-received units go to stock, not to anyone.
    let r2 = receive(&app, &rid, "r2", 5, true).await;
    assert_eq!(r2.status, 200, "{}", r2.body);
    assert_eq!(released(&r2), pairs(&[("s3", 3)]));
    assert_eq!(line(&app, "s3").await, (0, 4, "ready".into()));
    assert_eq!(
        waiting(&app, "X", "").await["items"],
        json!([]),
        "nobody waits"
    );
    // The audit trail shows what each sale was released.
    let trail = app
        .ok(A, "GET", &format!("/replenishments/{rid}/sales"), None)
        .await;
    let rel: Vec<(String, i64)> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["sale_id"].as_str().unwrap().to_owned(),
                c["released"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rel, pairs(&[("s1", 2), ("s2", 1), ("s3", 4)]));
    // Stock: 1 - 8 sold + 9 received.
    assert_eq!(app.on_hand(A, "X").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sale_covered_by_stock_is_ready_at_once() {
    let app = TestApp::new().await;
    setup(&app).await;
    app.ok(
        A,
        "POST",
        "/skus/X/inventory/adjustments",
        Some(json!({"delta": 5})),
    )
    .await;
    let reply = app.finalize(A, "covered", &[("X", 2)]).await;
    let body = reply.body.clone();
    assert_eq!(body["fulfillment"]["stock_status"], "ready");
    assert_eq!(body["lines"][0]["awaiting"], 0);
    assert_eq!(line(&app, "covered").await, (0, 0, "ready".into()));
    // A replay answers the first answer byte for byte.
    let again = app.finalize(A, "covered", &[("X", 2)]).await;
    assert_eq!(again.body, reply.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sale_cancelled_before_the_close_waits_for_nothing_and_takes_its_units_out() {
    let app = TestApp::new().await;
    setup(&app).await;
    for (id, q) in [("a", 2), ("b", 3)] {
        assert_eq!(app.finalize(A, id, &[("X", q)]).await.status, 200);
    }
    cancel(&app, "a").await;
    let a = sale(&app, "a").await;
    assert_eq!(a["status"], "cancelled");
    assert_eq!(a["lines"][0]["awaiting"], 0);
    let rid = the_order(&app).await;
    let ids: Vec<Value> = waiting(&app, "X", "").await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sale_id"].clone())
        .collect();
    assert_eq!(ids, [json!("b")]);
    assert_eq!(close(&app, &rid).await["quantity"], 3);
    let r = receive(&app, &rid, "r", 3, false).await;
    assert_eq!(released(&r), pairs(&[("b", 3)]));
    assert_eq!(line(&app, "b").await, (0, 3, "ready".into()));
}

#[tokio::test(flavor = "multi_thread")]
async fn units_a_sale_cancelled_after_the_close_left_serve_the_next_waiting_sale() {
    let app = TestApp::new().await;
    setup(&app).await;
    for (id, q) in [("a", 2), ("b", 3)] {
        assert_eq!(app.finalize(A, id, &[("X", q)]).await.status, 200);
    }
    let rid = the_order(&app).await;
    close(&app, &rid).await;
    // 2 received: a's.
    let r1 = receive(&app, &rid, "r1", 2, false).await;
    assert_eq!(released(&r1), pairs(&[("a", 2)]));
    // a cancels after its units arrived: they serve b now.
    cancel(&app, "a").await;
    assert_eq!(line(&app, "b").await, (1, 2, "awaiting_stock".into()));
    let a = sale(&app, "a").await;
    assert_eq!(a["lines"][0]["awaiting"], 0);
    // The last unit b waits for; the rest of the order (a's units) is owed to no one: stock.
    let r2 = receive(&app, &rid, "r2", 3, false).await;
    assert_eq!(released(&r2), pairs(&[("b", 1)]));
    assert_eq!(line(&app, "b").await, (0, 3, "ready".into()));
    // -5 sold, +2 back from the cancellation, +5 received.
    assert_eq!(app.on_hand(A, "X").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_order_is_expected_after_its_vendors_lead_time() {
    let app = TestApp::new().await;
    setup(&app).await;
    let put = app
        .ok(
            A,
            "PUT",
            "/vendors/V/settings",
            Some(json!({"lead_time_days": 14})),
        )
        .await;
    assert_eq!(
        put,
        json!({"vendor_id": "V", "auto_backorder_default": false, "lead_time_days": 14, "pack_size": null, "min_order_units": null})
    );
    assert_eq!(app.finalize(A, "s", &[("X", 2)]).await.status, 200);
    let rid = the_order(&app).await;
    let closed = close(&app, &rid).await;
    let closed_at =
        chrono::DateTime::parse_from_rfc3339(closed["closed_at"].as_str().unwrap()).unwrap();
    let expected =
        chrono::DateTime::parse_from_rfc3339(closed["expected_at"].as_str().unwrap()).unwrap();
    assert_eq!(expected - closed_at, chrono::Duration::days(14));
    let s = sale(&app, "s").await;
    assert_eq!(s["lines"][0]["expected_at"], closed["expected_at"]);
    let w = waiting(&app, "X", "").await;
    assert_eq!(w["items"][0]["expected_at"], closed["expected_at"]);
    // The lead time as it stood at close: changing it later moves nothing.
    app.ok(
        A,
        "PUT",
        "/vendors/V/settings",
        Some(json!({"lead_time_days": null})),
    )
    .await;
    assert_eq!(
        app.ok(A, "GET", &format!("/replenishments/{rid}"), None)
            .await["expected_at"],
        closed["expected_at"]
    );
    // Without a lead time: null.
    assert_eq!(app.finalize(A, "t", &[("X", 1)]).await.status, 200);
    let next = the_order(&app).await;
    assert_eq!(close(&app, &next).await["expected_at"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn vendor_lead_times_are_validated_and_change_nothing_when_bad() {
    let app = TestApp::new().await;
    for (body, field) in [
        (json!({"lead_time_days": 366}), "lead_time_days"),
        (json!({"lead_time_days": -1}), "lead_time_days"),
        (json!({"lead_time_days": 1.5}), "lead_time_days"),
        (json!({"lead_time_days": "7"}), "lead_time_days"),
        (json!({}), "auto_backorder_default"),
    ] {
        let reply = app
            .call(A, "PUT", "/vendors/V/settings", Some(body.clone()))
            .await;
        assert_eq!(reply.status, 422, "{body}");
        assert!(
            reply.message().starts_with(field),
            "{body}: {}",
            reply.message()
        );
    }
    let got = app.ok(A, "GET", "/vendors/V/settings", None).await;
    assert_eq!(
        got,
        json!({"vendor_id": "V", "auto_backorder_default": false, "lead_time_days": null, "pack_size": null, "min_order_units": null})
    );
    // Each setting alone leaves the other as it is.
    app.ok(
        A,
        "PUT",
        "/vendors/V/settings",
        Some(json!({"auto_backorder_default": true, "lead_time_days": 0})),
    )
    .await;
    let got = app
        .ok(
            A,
            "PUT",
            "/vendors/V/settings",
            Some(json!({"lead_time_days": 365})),
        )
        .await;
    assert_eq!(got["auto_backorder_default"], true);
    assert_eq!(got["lead_time_days"], 365);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_waiting_sales_page_oldest_first_across_orders() {
    let app = TestApp::new().await;
    setup(&app).await;
    for i in 0..5 {
        assert_eq!(
            app.finalize(A, &format!("w{i}"), &[("X", 1)]).await.status,
            200
        );
        if i == 2 {
            let rid = the_order(&app).await;
            close(&app, &rid).await;
        }
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("?limit=2&cursor={c}"),
            None => "?limit=2".to_owned(),
        };
        let page = waiting(&app, "X", &q).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|i| i["sale_id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["w0", "w1", "w2", "w3", "w4"]);
    for (q, field) in [
        ("?limit=0", "limit"),
        ("?cursor=%21%21", "cursor"),
        ("?cursor=YWJj", "cursor"),
        ("?status=open", "status"),
    ] {
        let reply = app
            .call(A, "GET", &format!("/skus/X/awaiting{q}"), None)
            .await;
        assert_eq!(reply.status, 400, "{q}: {}", reply.body);
        assert!(reply.message().contains(field), "{q}: {}", reply.body);
    }
    // Another account sees none of them: the SKU is not its own.
    let other = app.call("other", "GET", "/skus/X/awaiting", None).await;
    assert_eq!((other.status, other.code()), (404, "sku_not_found"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sale_of_several_skus_is_ready_when_every_line_has_its_units() {
    let app = TestApp::new().await;
    setup(&app).await;
    app.sku(A, "Y", "backorder", Some("V"), 0).await;
    assert_eq!(
        app.finalize(A, "both", &[("X", 1), ("Y", 2)]).await.status,
        200
    );
    let orders = app.orders(A, "?status=open").await;
    assert_eq!(orders.len(), 2);
    let rid_of = |sku: &str| {
        orders.iter().find(|o| o["sku"] == sku).unwrap()["replenishment_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (x, y) = (rid_of("X"), rid_of("Y"));
    close(&app, &x).await;
    close(&app, &y).await;
    receive(&app, &x, "rx", 1, false).await;
    let s = sale(&app, "both").await;
    assert_eq!(s["fulfillment"]["stock_status"], "awaiting_stock");
    assert_eq!(s["lines"][0]["awaiting"], 0);
    assert_eq!(s["lines"][1]["awaiting"], 2);
    receive(&app, &y, "ry", 2, false).await;
    let s = sale(&app, "both").await;
    assert_eq!(s["fulfillment"]["stock_status"], "ready");
    assert_eq!(s["lines"][1]["released"], 2);
}

/// A receipt releasing units to more sales than one item's list holds keeps the rest in part
/// items of the same transaction, and its repeat answers the whole list.
#[tokio::test(flavor = "multi_thread")]
async fn a_long_released_list_is_stored_whole_and_answered_whole() {
    use backorder::domain::{ReceiptStatus, Released};
    use backorder::ids::{AccountId, ReceiptId, ReplenishmentId};
    use backorder::store::StoredReceipt;
    let app = TestApp::new().await;
    setup(&app).await;
    let regular = app
        .call(
            A,
            "POST",
            "/replenishments",
            Some(json!({"sku": "X", "quantity": 20000})),
        )
        .await;
    assert_eq!(regular.status, 201, "{}", regular.body);
    let rid = regular.body["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    close(&app, &rid).await;
    let (account, rid) = (
        AccountId::parse(A, "account_id").unwrap(),
        ReplenishmentId::parse(rid, "replenishment_id").unwrap(),
    );
    let receipt = ReceiptId::parse("big", "receipt_id").unwrap();
    let order = app.store.order(&account, &rid).await.unwrap().unwrap();
    let released: Vec<Released> = (0..12_000)
        .map(|i| Released {
            sale_id: format!("a-sale-id-of-some-length-{i:06}"),
            units: 1,
        })
        .collect();
    let done = StoredReceipt {
        quantity: 12_000,
        allow_over_receipt: false,
        received_after: 12_000,
        receipt_status: ReceiptStatus::PartiallyReceived,
        released: released.clone(),
        released_parts: 0,
    };
    app.store
        .commit_receipt(
            &account,
            &order,
            0,
            &receipt,
            &done,
            "2026-12-06T00:00:00.000Z",
        )
        .await
        .unwrap();
    let (stored, _) = app
        .store
        .receipt_context(&account, &rid, &receipt)
        .await
        .unwrap();
    let stored = stored.unwrap();
    assert!(stored.released_parts > 0);
    assert_eq!(stored.released, released);
}
