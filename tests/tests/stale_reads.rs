//! Decisions made on a read that went stale before the write: the fault layer holds one read's
//! response after DynamoDB served it, the test commits a conflicting change meanwhile, then lets
//! the response through. Whatever the read said, the write's conditions must decide.

use std::time::Duration;

use backorder_tests::faults::{invoke_with, Invocation, Outcome};
use backorder_tests::{within, TestApp};
use serde_json::Value;

const A: &str = "acct";
const LIMIT: Duration = Duration::from_secs(30);

/// A cancellation read the order open; it was closed (sent to the vendor), and the SKU's next order
/// opened, before the cancellation committed. A closed order never shrinks: its units stay in it,
/// reported as `not_taken_back`; and the next order keeps its own.
#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_planned_on_an_open_order_leaves_it_alone_once_closed() {
    let (app, _faults) = TestApp::with_faults().await;
    app.enable_account(A, true).await;
    app.sku(A, "X", "backorder", None, 0).await;
    let sale = app.finalize(A, "S1", &[("X", 2)]).await;
    assert_eq!(sale.status, 200, "{}", sale.body);
    let rid = sale.body["lines"][0]["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The cancellation's requests: 0 reads the sale, 1 reads the orders its lines fed.
    let (plan, hold) = Invocation::hold(1);
    let cancel = invoke_with(plan, app.call(A, "POST", "/sales/S1/cancel", None));
    let close = async {
        hold.served().await;
        let closed = app
            .ok(A, "POST", &format!("/replenishments/{rid}/close"), None)
            .await;
        assert_eq!(closed["quantity"], 2);
        // And the next shortfall opens the SKU's next order, which the cancellation must not
        // touch either.
        let next = app.finalize(A, "S2", &[("X", 3)]).await;
        assert_eq!(next.status, 200, "{}", next.body);
        hold.release();
        next.body["lines"][0]["replenishment_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (cancelled, next) = within(LIMIT, "cancel racing a close", async {
        tokio::join!(cancel, close)
    })
    .await;
    let Outcome::Done(cancelled) = cancelled else {
        panic!("no crash was planned")
    };
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    let line = &cancelled.body["lines"][0];
    assert_eq!(
        (&line["taken_back"], &line["not_taken_back"]),
        (&Value::from(0), &Value::from(2)),
        "{}",
        cancelled.body
    );
    let order = app
        .ok(A, "GET", &format!("/replenishments/{rid}"), None)
        .await;
    assert_eq!(order["status"], "closed");
    assert_eq!(
        order["quantity"], 2,
        "a closed order's quantity never changes"
    );
    let next = app
        .ok(A, "GET", &format!("/replenishments/{next}"), None)
        .await;
    assert_eq!(
        (next["status"].as_str(), next["quantity"].as_i64()),
        (Some("open"), Some(3)),
        "the next order keeps its own units"
    );
    assert_eq!(
        app.on_hand(A, "X").await,
        -3,
        "S1's units went back to stock"
    );
}

/// A redelivery read the sale while the first delivery was applying it; the first delivery
/// completed it (and removed its markers) before the redelivery acted on that read. The sale
/// applies once, and the redelivery answers what the first did.
#[tokio::test(flavor = "multi_thread")]
async fn a_redelivery_planned_before_the_first_delivery_committed_applies_nothing() {
    let (app, _faults) = TestApp::with_faults().await;
    app.enable_account(A, true).await;
    app.sku(A, "X", "backorder", None, 1).await;
    let lines = [("X", 3)];

    // The first delivery: requests 0 and 1 read and claim, 2 writes the line (served, its answer
    // held until the redelivery has read).
    let (first_plan, first_hold) = Invocation::hold(2);
    // The redelivery's request 0 reads the sale (being applied), its settings and its SKU; its
    // answer is held until the first delivery has completed the sale.
    let (plan, hold) = Invocation::hold(0);
    let first = invoke_with(first_plan, app.finalize(A, "S1", &lines));
    let redelivery = async {
        first_hold.served().await;
        invoke_with(plan, app.finalize(A, "S1", &lines)).await
    };
    let order = async {
        hold.served().await;
        first_hold.release();
    };
    let (first, again) = within(LIMIT, "a redelivery racing the first delivery", async {
        let (first, again, ()) = tokio::join!(
            async {
                let first = first.await;
                // The first is complete (and its markers gone): now the redelivery's read lands.
                hold.release();
                first
            },
            redelivery,
            order
        );
        (first, again)
    })
    .await;
    let (Outcome::Done(first), Outcome::Done(again)) = (first, again) else {
        panic!("no crash was planned")
    };
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(
        again.body, first.body,
        "the redelivery replays the first answer"
    );
    assert_eq!(app.on_hand(A, "X").await, -2, "sold once");
    let orders = app.orders(A, "").await;
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["quantity"], 2, "back-ordered once");
}
