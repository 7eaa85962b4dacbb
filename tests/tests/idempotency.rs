//! Finalize is idempotent per sale_id: same body -> same response and no change; another body -> 409.

use backorder_tests::TestApp;
use serde_json::json;

const A: &str = "acct";

#[tokio::test(flavor = "multi_thread")]
async fn replay_returns_the_same_body_and_changes_nothing() {
    let app = TestApp::new().await;
    app.enable_account(A, true).await;
    app.sku(A, "X", "backorder", None, 1).await;
    let first = app.finalize(A, "sale-1", &[("X", 3)]).await;
    assert_eq!(first.status, 200);
    let before = app.snapshot().await;
    for _ in 0..3 {
        let again = app.finalize(A, "sale-1", &[("X", 3)]).await;
        assert_eq!(again.status, 200);
        assert_eq!(
            again.body, first.body,
            "a replay returns the stored response"
        );
    }
    // The same sale with its lines split differently means the same thing: also a replay.
    let split = app.finalize(A, "sale-1", &[("X", 1), ("X", 2)]).await;
    assert_eq!(split.body, first.body);
    assert_eq!(app.snapshot().await, before, "replays change nothing");
    assert_eq!(app.on_hand(A, "X").await, -2);
    assert_eq!(app.orders(A, "").await[0]["quantity"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_different_body_for_the_same_sale_is_a_conflict() {
    let app = TestApp::new().await;
    app.enable_account(A, true).await;
    app.sku(A, "X", "backorder", None, 0).await;
    app.sku(A, "Y", "backorder", None, 0).await;
    assert_eq!(app.finalize(A, "sale-1", &[("X", 3)]).await.status, 200);
    let before = app.snapshot().await;
    for lines in [vec![("X", 4)], vec![("Y", 3)], vec![("X", 3), ("Y", 1)]] {
        let reply = app.finalize(A, "sale-1", &lines).await;
        assert_eq!(
            (reply.status, reply.code()),
            (409, "sale_conflict"),
            "{lines:?}"
        );
        assert!(reply.message().contains("sale-1"));
    }
    let other_customer = app
        .call(A, "POST", "/sales/sale-1/finalize", Some(json!({"customer": "someone-else", "channel": "web", "lines": [{"sku": "X", "quantity": 3}]})))
        .await;
    assert_eq!(other_customer.status, 409);
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn get_sale() {
    let app = TestApp::new().await;
    app.sku(A, "X", "backorder", None, 5).await;
    let missing = app.call(A, "GET", "/sales/nope", None).await;
    assert_eq!((missing.status, missing.code()), (404, "sale_not_found"));
    let done = app.finalize(A, "s/1 é", &[("X", 2)]).await;
    assert_eq!(done.status, 200);
    assert_eq!(done.body["sale_id"], "s/1 é");
    assert_eq!(
        app.ok(
            A,
            "GET",
            &format!("/sales/{}", backorder_tests::enc("s/1 é")),
            None
        )
        .await,
        done.body
    );
}

/// The same sale sent 16 times at once: finalized exactly once, every caller gets the same body.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_duplicates_finalize_once() {
    let app = TestApp::new().await;
    app.enable_account(A, true).await;
    app.sku(A, "X", "backorder", None, 0).await;
    let replies =
        futures::future::join_all((0..16).map(|_| app.finalize(A, "dup-sale", &[("X", 2)]))).await;
    let first = &replies[0].body;
    for r in &replies {
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(&r.body, first);
    }
    assert_eq!(app.on_hand(A, "X").await, -2);
    let orders = app.orders(A, "").await;
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["quantity"], 2);
}
