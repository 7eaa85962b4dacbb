//! The quantity rule through finalize: uncovered = max(0, q - max(0, on_hand_before)).

use backorder_tests::TestApp;

const A: &str = "acct";

async fn sale_result(app: &TestApp, sku: &str, on_hand: i64, q: i64, sale: &str) -> (i64, i64) {
    app.sku(A, sku, "backorder", None, on_hand).await;
    let reply = app.finalize(A, sale, &[(sku, q)]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let line = &reply.body["lines"][0];
    (
        line["on_hand_after"].as_i64().unwrap(),
        line["backordered"].as_i64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn examples_and_edges() {
    let app = TestApp::new().await;
    app.enable_account(A, true).await;
    // The three examples of the rule.
    assert_eq!(sale_result(&app, "E1", 2, 5, "s1").await, (-3, 3));
    assert_eq!(sale_result(&app, "E2", -3, 2, "s2").await, (-5, 2));
    assert_eq!(sale_result(&app, "E3", 10, 2, "s3").await, (8, 0));
    // Edges: stock exactly covers, one short, zero stock, maximum quantity.
    assert_eq!(sale_result(&app, "E4", 5, 5, "s4").await, (0, 0));
    assert_eq!(sale_result(&app, "E5", 4, 5, "s5").await, (-1, 1));
    assert_eq!(sale_result(&app, "E6", 0, 1, "s6").await, (-1, 1));
    assert_eq!(
        sale_result(&app, "E7", 0, 1_000_000, "s7").await,
        (-1_000_000, 1_000_000)
    );

    // A line that backorders nothing opens no order.
    let e3 = app.orders(A, "?sku=E3").await;
    assert!(e3.is_empty());
    for (sku, qty) in [
        ("E1", 3),
        ("E2", 2),
        ("E5", 1),
        ("E6", 1),
        ("E7", 1_000_000),
    ] {
        let orders = app.orders(A, &format!("?sku={sku}")).await;
        assert_eq!(orders.len(), 1, "{sku}");
        assert_eq!(orders[0]["quantity"], qty, "{sku}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_sku_lines_are_summed_first() {
    let app = TestApp::new().await;
    app.enable_account(A, true).await;
    app.sku(A, "D", "backorder", None, 2).await;
    app.sku(A, "N", "never", None, 1).await;
    // D: 1 + 4 = 5 against 2 on hand -> 3 uncovered (not 0 + 3 from two separate lines... the same).
    // Summing first matters for on_hand_after and for a single line in the response.
    let reply = app
        .finalize(A, "dup", &[("D", 1), ("N", 2), ("D", 4)])
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let lines = reply.body["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["sku"], "D");
    assert_eq!(lines[0]["quantity"], 5);
    assert_eq!(lines[0]["on_hand_after"], -3);
    assert_eq!(lines[0]["backordered"], 3);
    assert_eq!(lines[1]["sku"], "N");
    assert_eq!(lines[1]["on_hand_after"], -1);
    assert_eq!(lines[1]["backordered"], 0);
    assert_eq!(lines[1]["replenishment_id"], serde_json::Value::Null);
    assert_eq!(app.orders(A, "?sku=D").await[0]["quantity"], 3);
    assert!(app.orders(A, "?sku=N").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn sequence_telescopes_and_reopens_after_close() {
    let app = TestApp::new().await;
    app.enable_account(A, true).await;
    app.sku(A, "T", "backorder", None, 7).await;
    let mut total = 0;
    for (i, q) in [3, 3, 3, 5, 1].iter().enumerate() {
        let r = app.finalize(A, &format!("t{i}"), &[("T", *q)]).await;
        total += r.body["lines"][0]["backordered"].as_i64().unwrap();
    }
    // 7 - 15 = -8: 8 uncovered units in all, all in one open order.
    assert_eq!(total, 8);
    let orders = app.orders(A, "?sku=T").await;
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["quantity"], 8);
    // Restocking does not touch the order; the next shortfall keeps adding until a close.
    app.ok(
        A,
        "POST",
        "/skus/T/inventory/adjustments",
        Some(serde_json::json!({"delta": 10, "reason": "delivery"})),
    )
    .await;
    assert_eq!(app.on_hand(A, "T").await, 2);
    let r = app.finalize(A, "t-after", &[("T", 3)]).await;
    assert_eq!(r.body["lines"][0]["backordered"], 1);
    assert_eq!(app.orders(A, "?sku=T").await[0]["quantity"], 9);
}
