//! The completion path: a sale whose caller died after claiming it is completed from the table's
//! stream, exactly as its caller would have, once the caller's lease has expired; never while a
//! caller may still be at work, and never twice.

use std::time::{Duration, Instant};

use backorder::Config;
use backorder_tests::faults::{invoke_with, Invocation, Outcome};
use backorder_tests::stream::{enable_stream, stream_records};
use backorder_tests::{sale_marker_names, within, TestApp};
use serde_json::{json, Value};

const A: &str = "acct";
const LEASE: Duration = Duration::from_secs(3);

fn config() -> Config {
    Config {
        table_name: String::new(),
        min_open_age_minutes: 0,
        close_deadline_margin: Duration::from_secs(3),
    }
}

/// The records the template's filter passes to `sale-finalize`: inserts of sale records being
/// applied (`request` present).
fn claims(records: &[Value]) -> Vec<Value> {
    records
        .iter()
        .filter(|r| {
            r["eventName"] == "INSERT"
                && r["dynamodb"]["Keys"]["sk"]["S"]
                    .as_str()
                    .is_some_and(|sk| sk.starts_with("SALE#"))
                && r["dynamodb"]["NewImage"]["request"]["S"].is_string()
        })
        .cloned()
        .collect()
}

async fn complete(app: &TestApp, records: &[Value], within: Duration) -> Value {
    let out = fn_sale_finalize::handle_event(
        &app.store,
        &config(),
        json!({ "Records": records }),
        Instant::now() + within,
    )
    .await
    .unwrap();
    out
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

/// The completion path removes the markers complete sales left on their SKU items (those their
/// process did not remove with a later write), one write per item for the batch, and leaves
/// those of a sale still being applied until it is complete.
#[tokio::test(flavor = "multi_thread")]
async fn the_markers_of_complete_sales_are_swept_and_those_in_flight_stay() {
    let (mut app, _faults) = TestApp::with_faults().await;
    app.store = app.store.clone().with_sale_lease(LEASE);
    enable_stream(&app).await;
    app.enable_account(A, true).await;
    app.sku(A, "X", "backorder", None, 0).await;
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
