//! Decisions made on a read that went stale before the write: the fault layer holds one read's
//! response after DynamoDB served it, the test commits a conflicting change meanwhile, then lets
//! the response through. Whatever the read said, the write's conditions must decide.

use std::time::Duration;

use backorder_tests::eventbridge::EventBridge;
use backorder_tests::faults::{invoke_with, Invocation, Outcome};
use backorder_tests::stream::{
    deliver_to_order_events, enable_stream, order_events_records, stream_records,
};
use backorder_tests::{within, TestApp};
use serde_json::{json, Value};

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
/// completed it before the redelivery acted on that read. The sale
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
                // The first is complete: now the redelivery's read lands.
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

/// Two sales waiting on one closed order, 2 units each: `S1` (first in line) and `S2`.
async fn two_sales_on_a_closed_order(app: &TestApp) -> String {
    enable_stream(app).await;
    app.enable_account(A, true).await;
    app.sku(A, "X", "backorder", None, 0).await;
    for sale in ["S1", "S2"] {
        // A 503 (a caller slower than the tests' short sale lease, on a loaded machine) is sent
        // again, as a client does.
        let mut r = app.finalize(A, sale, &[("X", 2)]).await;
        for _ in 0..10 {
            if r.status != 503 {
                break;
            }
            r = app.finalize(A, sale, &[("X", 2)]).await;
        }
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let rid = app.orders(A, "").await[0]["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let closed = app
        .ok(A, "POST", &format!("/replenishments/{rid}/close"), None)
        .await;
    assert_eq!(closed["quantity"], 4);
    rid
}

/// A sale's status, and its one line's `released` and `awaiting`, as `GET` shows them.
async fn sale_view(app: &TestApp, sale: &str) -> (String, i64, i64) {
    let v = app.ok(A, "GET", &format!("/sales/{sale}"), None).await;
    let line = &v["lines"][0];
    (
        v["status"].as_str().unwrap().to_owned(),
        line["released"].as_i64().unwrap(),
        line["awaiting"].as_i64().unwrap(),
    )
}

/// The stream handed to order-events as Lambda would (and its own writes after), and the sales
/// `FulfillmentReady` was published for.
async fn ready_sales(app: &TestApp) -> Vec<String> {
    let bus = EventBridge::start().await;
    let raw = stream_records(app).await;
    deliver_to_order_events(app, &bus, &order_events_records(&raw)).await;
    let more = order_events_records(&stream_records(app).await[raw.len()..]);
    deliver_to_order_events(app, &bus, &more).await;
    let mut sales: Vec<String> = bus
        .accepted()
        .iter()
        .filter(|e| e.detail_type == "FulfillmentReady")
        .map(|e| e.detail["sale_id"].as_str().unwrap().to_owned())
        .collect();
    sales.sort();
    sales
}

/// A receipt read the order's sales while `S1` was still owed; `S1` was cancelled (its units stay
/// in the closed order, owed to no one) before the receipt committed. What the receipt releases
/// was computed over a sale no longer owed: it must not commit so, but re-read and release the
/// units to `S2`, the next sale waiting, and say so.
#[tokio::test(flavor = "multi_thread")]
async fn a_receipt_planned_before_a_cancellation_committed_releases_to_the_sales_still_owed() {
    let (app, _faults) = TestApp::with_faults().await;
    let rid = two_sales_on_a_closed_order(&app).await;
    let path = format!("/replenishments/{rid}/receipts");
    let body = json!({"receipt_id": "r1", "quantity": 2});

    // The receipt's requests: 0 reads the receipt id and the order, 1 the order's sales (its
    // contributions), then it commits.
    let (plan, hold) = Invocation::hold(1);
    let receipt = invoke_with(plan, app.call(A, "POST", &path, Some(body.clone())));
    let cancel = async {
        hold.served().await;
        assert_eq!(
            hold.operation(),
            Some("Query"),
            "the hold is on the sales read"
        );
        let c = app.call(A, "POST", "/sales/S1/cancel", None).await;
        hold.release();
        c
    };
    let (receipt, cancelled) = within(LIMIT, "a receipt racing a cancellation", async {
        tokio::join!(receipt, cancel)
    })
    .await;
    let Outcome::Done(receipt) = receipt else {
        panic!("no crash was planned")
    };
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(
        cancelled.body["lines"][0]["not_taken_back"], 2,
        "S1's units stay in the closed order: {}",
        cancelled.body
    );
    assert_eq!(receipt.status, 200, "{}", receipt.body);
    assert_eq!(
        receipt.body["released"],
        json!([{"sale_id": "S2", "units": 2}]),
        "the receipt released to the sale still owed, and says so"
    );
    settled_on_s2(&app, &path, body, &receipt.body["released"], "the receipt").await;
    assert_eq!(sale_view(&app, "S2").await, ("finalized".into(), 2, 0));
}

/// The other order: a cancellation read the sale and its order (closed) before a receipt released
/// `S1`'s units to it, and committed after. The receipt said what was true when it committed; the
/// cancellation takes `S1`'s units back from it and passes them to `S2`, the next sale waiting.
#[tokio::test(flavor = "multi_thread")]
async fn a_cancellation_planned_before_a_receipt_committed_passes_its_units_on() {
    let (app, _faults) = TestApp::with_faults().await;
    let rid = two_sales_on_a_closed_order(&app).await;
    let path = format!("/replenishments/{rid}/receipts");
    let body = json!({"receipt_id": "r1", "quantity": 2});

    // The cancellation's requests: 0 reads the sale, 1 the orders its lines fed (their SKUs),
    // then it commits.
    let (plan, hold) = Invocation::hold(1);
    let cancel = invoke_with(plan, app.call(A, "POST", "/sales/S1/cancel", None));
    let receipt = async {
        hold.served().await;
        assert_eq!(
            hold.operation(),
            Some("BatchGetItem"),
            "the hold is on the orders read"
        );
        let r = app.call(A, "POST", &path, Some(body.clone())).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(sale_view(&app, "S1").await, ("finalized".into(), 2, 0));
        hold.release();
        r
    };
    let (cancelled, receipt) = within(LIMIT, "a cancellation racing a receipt", async {
        tokio::join!(cancel, receipt)
    })
    .await;
    let Outcome::Done(cancelled) = cancelled else {
        panic!("no crash was planned")
    };
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(
        cancelled.body["lines"][0]["not_taken_back"], 2,
        "{}",
        cancelled.body
    );
    assert_eq!(
        receipt.body["released"],
        json!([{"sale_id": "S1", "units": 2}]),
        "S1 was owed when the receipt committed"
    );
    settled_on_s2(
        &app,
        &path,
        body,
        &receipt.body["released"],
        "the cancellation",
    )
    .await;
}

/// After either race: `S1` cancelled holding nothing, `S2` with its 2 units at once (as soon as
/// `last` answered), a repeat of the receipt answering what it first answered, and `S2` alone
/// published ready, once.
async fn settled_on_s2(app: &TestApp, path: &str, body: Value, released: &Value, last: &str) {
    assert_eq!(sale_view(app, "S1").await, ("cancelled".into(), 0, 0));
    assert_eq!(
        sale_view(app, "S2").await,
        ("finalized".into(), 2, 0),
        "S2 has its units as soon as {last} answered"
    );
    let again = app.ok(A, "POST", path, Some(body)).await;
    assert_eq!(&again["released"], released, "a repeat says the same");
    assert_eq!(
        ready_sales(app).await,
        ["S2"],
        "S2 is published ready, once; S1 not"
    );
}
