//! The completion path: a sale whose caller died after claiming it is completed from the table's
//! stream, exactly as its caller would have, once the caller's lease has expired; never while a
//! caller may still be at work, and never twice.

use std::time::{Duration, Instant};

use backorder_tests::faults::{invoke_with, Invocation, Outcome};
use backorder_tests::stream::{
    claim_records, deliver_to_completion, enable_stream, stream_records,
};
use backorder_tests::{sale_marker_names, within, TestApp};
use serde_json::{json, Value};

const A: &str = "acct";
const LEASE: Duration = Duration::from_secs(3);

fn claims(records: &[Value]) -> Vec<Value> {
    claim_records(records)
}

async fn complete(app: &TestApp, records: &[Value], within: Duration) -> Value {
    deliver_to_completion(&app.store, records, within).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sale_whose_caller_died_after_its_stock_writes_is_completed_from_the_stream() {
    let (mut app, _faults) = TestApp::with_faults().await;
    // A lease long enough that the first look below surely comes before it expires.
    app.store = app.store.clone().with_sale_lease(LEASE);
    enable_stream(&app).await;
    app.enable_account(A, true).await;
    app.sku(A, "X", "backorder", None, 1).await;
    app.sku(A, "Y", "backorder", None, 0).await;
    let lines = [("X", 3), ("Y", 2)];

    // Requests 0 and 1 read and claim; 2 and 3 write the two SKU lines; the caller dies at request
    // 4, among its orders' items and contributions (those sent with it may land), before the
    // completion.
    let died = invoke_with(Invocation::crash_before(4), app.finalize(A, "S1", &lines)).await;
    assert!(matches!(died, Outcome::Crashed));
    assert_eq!(app.on_hand(A, "X").await, -2, "the stock writes landed");
    assert_eq!(app.on_hand(A, "Y").await, -2);
    let pending = app.ok(A, "GET", "/sales/S1", None).await;
    assert_eq!(pending["status"], "finalizing", "{pending}");

    // While the caller's lease lasts the completion path leaves the sale alone, and asks Lambda to
    // retry from its record.
    let claimed = claims(&stream_records(&app).await);
    assert_eq!(claimed.len(), 1, "one claim in the stream");
    let early = complete(&app, &claimed, Duration::from_millis(1700)).await;
    assert_eq!(
        early["batchItemFailures"][0]["itemIdentifier"], claimed[0]["dynamodb"]["SequenceNumber"],
        "{early}"
    );
    assert_eq!(
        app.ok(A, "GET", "/sales/S1", None).await["status"],
        "finalizing"
    );

    // Once it has expired, the sale is completed as the caller would have completed it.
    let started = Instant::now();
    let done = within(
        Duration::from_secs(30),
        "the completion",
        complete(&app, &claimed, Duration::from_secs(15)),
    )
    .await;
    assert_eq!(done["batchItemFailures"], json!([]), "{done}");
    let took = started.elapsed();
    eprintln!("completed {took:?} after the first look ({LEASE:?} lease)");
    assert!(took <= LEASE + Duration::from_secs(2));
    let sale = app.ok(A, "GET", "/sales/S1", None).await;
    assert_eq!(sale["status"], "finalized", "{sale}");
    let line = |sku: &str| {
        sale["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["sku"] == sku)
            .unwrap()
            .clone()
    };
    assert_eq!(
        (
            line("X")["backordered"].as_i64(),
            line("X")["on_hand_after"].as_i64()
        ),
        (Some(2), Some(-2))
    );
    assert_eq!(
        (
            line("Y")["backordered"].as_i64(),
            line("Y")["on_hand_after"].as_i64()
        ),
        (Some(2), Some(-2))
    );
    assert_eq!(app.on_hand(A, "X").await, -2, "nothing applied twice");
    assert_eq!(app.on_hand(A, "Y").await, -2);
    let orders = app.orders(A, "").await;
    assert_eq!(orders.len(), 2);
    for o in &orders {
        assert_eq!(o["quantity"], 2, "{o}");
        let rid = o["replenishment_id"].as_str().unwrap();
        let fed = app
            .ok(A, "GET", &format!("/replenishments/{rid}/sales"), None)
            .await;
        assert_eq!(
            fed["items"][0]["sale_id"], "S1",
            "the audit trail has the sale"
        );
        assert_eq!(fed["items"][0]["units"], 2);
    }

    // At least once: the same records again change nothing; a late redelivery of the sale
    // replays the answer.
    let again = complete(&app, &claimed, Duration::from_secs(15)).await;
    assert_eq!(again["batchItemFailures"], json!([]));
    let replay = app.finalize(A, "S1", &lines).await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.body, sale);
    assert_eq!(app.on_hand(A, "X").await, -2);
    assert_eq!(app.orders(A, "").await, orders);
}

/// A claim dropped because a SKU does not exist leaves nothing, and the completion path finds
/// nothing to do.
#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_sale_leaves_nothing_to_complete() {
    let app = TestApp::new().await;
    enable_stream(&app).await;
    app.enable_account(A, true).await;
    app.sku(A, "X", "backorder", None, 0).await;
    let r = app.finalize(A, "S1", &[("X", 1), ("NOPE", 1)]).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(app.on_hand(A, "X").await, 0);
    assert_eq!(app.call(A, "GET", "/sales/S1", None).await.status, 404);
    let claimed = claims(&stream_records(&app).await);
    let out = complete(&app, &claimed, Duration::from_secs(5)).await;
    assert_eq!(out["batchItemFailures"], json!([]));
    assert_eq!(app.call(A, "GET", "/sales/S1", None).await.status, 404);
    assert_eq!(app.on_hand(A, "X").await, 0);
}

/// A table with its stream on, the account back-ordering, and SKU X short (0), whose sales hold
/// a lease of [`LEASE`].
async fn short_sku_app() -> TestApp {
    let (mut app, _faults) = TestApp::with_faults().await;
    app.store = app.store.clone().with_sale_lease(LEASE);
    enable_stream(&app).await;
    app.enable_account(A, true).await;
    app.sku(A, "X", "backorder", None, 0).await;
    app
}

/// The completion path removes the markers complete sales left on their SKU items (those their
/// process did not remove with a later write), one write per item for the batch, and leaves
/// those of a sale still being applied until it is complete.
#[tokio::test(flavor = "multi_thread")]
async fn the_markers_of_complete_sales_are_swept_and_those_in_flight_stay() {
    let mut app = short_sku_app().await;
    // S1 completes; S2's caller dies after its line (requests 0 and 1 read and claim, 2 writes the
    // line). S2's line took S1's markers with it, since this process completed S1.
    assert_eq!(app.finalize(A, "S1", &[("X", 1)]).await.status, 200);
    assert_eq!(
        app.marker_names(A, "X").await,
        sale_marker_names("S1", true)
    );
    let died = invoke_with(
        Invocation::crash_before(3),
        app.finalize(A, "S2", &[("X", 2)]),
    )
    .await;
    assert!(matches!(died, Outcome::Crashed));
    assert_eq!(
        app.marker_names(A, "X").await,
        sale_marker_names("S2", true)
    );
    // S3 completes in another process (a fresh store), which has no sale of X to remove: X holds
    // S2's markers and S3's.
    let other =
        backorder::Store::new(app.store.client().clone(), app.table.clone()).with_sale_lease(LEASE);
    let first = std::mem::replace(&mut app.store, other);
    let r = app.finalize(A, "S3", &[("X", 1)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    app.store = first;
    let mut both = sale_marker_names("S2", true);
    both.extend(sale_marker_names("S3", true));
    both.sort();
    assert_eq!(app.marker_names(A, "X").await, both);

    // While S2's lease lasts: S3's markers go, S2's stay.
    let claimed = claims(&stream_records(&app).await);
    assert_eq!(claimed.len(), 3);
    let early = complete(&app, &claimed, Duration::from_millis(1700)).await;
    assert_eq!(
        early["batchItemFailures"].as_array().map(Vec::len),
        Some(1),
        "{early}"
    );
    assert_eq!(
        app.marker_names(A, "X").await,
        sale_marker_names("S2", true)
    );
    // Once S2 is complete, its markers go too; X is left as the three sales made it.
    let done = complete(&app, &claimed, Duration::from_secs(15)).await;
    assert_eq!(done["batchItemFailures"], json!([]), "{done}");
    assert_eq!(app.marker_names(A, "X").await, Vec::<String>::new());
    assert_eq!(app.on_hand(A, "X").await, -4);
    assert_eq!(app.orders(A, "").await[0]["quantity"], 4);
}

/// A marker keeps a back-ordering line's place, not its order: the order is the first of the
/// SKU's orders to close after that place. A sale whose caller died after its line went into
/// order A, which then closed (and a next order opened and closed too), is completed into A.
#[tokio::test(flavor = "multi_thread")]
async fn a_sale_completed_after_its_order_closed_feeds_that_order() {
    let app = short_sku_app().await;
    assert_eq!(app.finalize(A, "S0", &[("X", 1)]).await.status, 200);
    let first = app.orders(A, "").await[0]["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // S1 adds 2 units to it; its caller dies right after the line (read and claim, the line).
    let died = invoke_with(
        Invocation::crash_before(3),
        app.finalize(A, "S1", &[("X", 2)]),
    )
    .await;
    assert!(matches!(died, Outcome::Crashed));
    let close = |rid: String| {
        let app = &app;
        async move {
            app.ok(A, "POST", &format!("/replenishments/{rid}/close"), None)
                .await
        }
    };
    let closed = close(first.clone()).await;
    assert_eq!(
        closed["quantity"], 3,
        "S1's units are in the order: {closed}"
    );
    // The next shortfall opens a second order, which closes too.
    assert_eq!(app.finalize(A, "S2", &[("X", 4)]).await.status, 200);
    let second = app
        .orders(A, "")
        .await
        .iter()
        .map(|o| o["replenishment_id"].as_str().unwrap().to_owned())
        .find(|rid| *rid != first)
        .expect("a second order");
    assert_eq!(close(second.clone()).await["quantity"], 4);

    // S1 is completed from the stream once its lease has expired: into the first order.
    let claimed = claims(&stream_records(&app).await);
    let done = complete(&app, &claimed, Duration::from_secs(15)).await;
    assert_eq!(done["batchItemFailures"], json!([]), "{done}");
    let sale = app.ok(A, "GET", "/sales/S1", None).await;
    assert_eq!(sale["status"], "finalized", "{sale}");
    assert_eq!(sale["lines"][0]["on_hand_after"], -3, "{sale}");
    assert_eq!(
        sale["lines"][0]["replenishment_id"],
        first.as_str(),
        "{sale}"
    );
    let fed = |rid: String| {
        let app = &app;
        async move {
            app.ok(A, "GET", &format!("/replenishments/{rid}/sales"), None)
                .await["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["sale_id"].as_str().unwrap().to_owned(),
                        c["units"].as_i64().unwrap(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let mut into_first = fed(first.clone()).await;
    into_first.sort();
    assert_eq!(into_first, vec![("S0".to_owned(), 1), ("S1".to_owned(), 2)]);
    assert_eq!(fed(second).await, vec![("S2".to_owned(), 4)]);
    assert_eq!(app.on_hand(A, "X").await, -7);
    // Its markers and the closes' versions, which only it needed, are gone.
    assert_eq!(app.marker_names(A, "X").await, Vec::<String>::new());
    let sku = &app.items_with_prefix("SKU#X").await[0];
    assert!(!sku.keys().any(|k| k.starts_with("cc#")), "{sku:?}");
    assert!(app.check_sku_orders(A, "X").await.is_ok());
}
