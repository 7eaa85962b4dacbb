//! A limit on how far a SKU is sold ahead: a sale line that would take its SKU's stock below
//! `-backorder_limit` refuses the whole sale (409 `backorder_limit_reached`, naming the line and
//! the units still available), and nothing of the sale is written.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backorder_tests::faults::{invoke_with, FaultConfig, Invocation, Outcome};
use backorder_tests::{Reply, TestApp};
use serde_json::{json, Value};

const A: &str = "acct";

async fn limit(app: &TestApp, sku: &str, limit: Option<i64>) {
    let body = app
        .ok(
            A,
            "PUT",
            &format!("/skus/{sku}/settings"),
            Some(json!({"backorder_limit": limit})),
        )
        .await;
    assert_eq!(body["backorder_limit"], json!(limit));
}

fn assert_refused(r: &Reply, index: usize, sku: &str, available: i64) {
    assert_eq!(
        (r.status, r.code()),
        (409, "backorder_limit_reached"),
        "{}",
        r.body
    );
    let expected = format!(
        "lines[{index}].sku {sku} has reached its back-order limit: {available} more units can be sold"
    );
    assert_eq!(r.message(), expected);
}

/// The units every open order of `sku` holds.
async fn ordered(app: &TestApp, sku: &str) -> i64 {
    app.orders(A, &format!("?sku={sku}"))
        .await
        .iter()
        .map(|o| o["quantity"].as_i64().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sale_past_the_limit_is_refused_and_writes_nothing() {
    let app = TestApp::new().await;
    app.enable_account(A, true).await;
    app.sku(A, "X", "backorder", None, 0).await;
    limit(&app, "X", Some(3)).await;

    assert_eq!(app.finalize(A, "s1", &[("X", 2)]).await.status, 200);
    let before = app.snapshot().await;
    let r = app.finalize(A, "s2", &[("X", 2)]).await;
    assert_refused(&r, 0, "X", 1);
    assert_eq!(
        app.snapshot().await,
        before,
        "a refused sale leaves no trace"
    );
    assert_eq!(
        app.call(A, "GET", "/sales/s2", None).await.status,
        404,
        "no sale record"
    );
    // What is left can be sold, to the last unit.
    assert_eq!(app.finalize(A, "s2", &[("X", 1)]).await.status, 200);
    assert_eq!(app.on_hand(A, "X").await, -3);
    assert_refused(&app.finalize(A, "s3", &[("X", 1)]).await, 0, "X", 0);
    assert_eq!(ordered(&app, "X").await, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_basket_is_refused_whole_whichever_line_passes_its_limit() {
    let app = TestApp::new().await;
    app.enable_account(A, true).await;
    for sku in ["X", "Y", "Z"] {
        app.sku(A, sku, "backorder", None, 1).await;
    }
    limit(&app, "X", Some(2)).await;
    limit(&app, "Y", Some(0)).await;
    let before = app.snapshot().await;
    // One limited line (the single-write path), behind an unlimited one.
    let r = app.finalize(A, "b1", &[("Z", 5), ("X", 4)]).await;
    assert_refused(&r, 1, "X", 3);
    // Two limited lines (one transaction): the second refuses both.
    let r = app.finalize(A, "b2", &[("X", 3), ("Y", 2), ("Z", 1)]).await;
    assert_refused(&r, 1, "Y", 1);
    assert_eq!(
        app.snapshot().await,
        before,
        "nothing of either basket is written"
    );

    // Within both limits: every line written, back-ordered as usual.
    let r = app.finalize(A, "b3", &[("X", 3), ("Y", 1), ("Z", 4)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let after: Vec<(String, i64, i64)> = r.body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["sku"].as_str().unwrap().to_owned(),
                l["on_hand_after"].as_i64().unwrap(),
                l["backordered"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        after,
        [
            ("X".to_owned(), -2, 2),
            ("Y".to_owned(), 0, 0),
            ("Z".to_owned(), -3, 3)
        ]
    );
    // A replay answers the same and writes nothing more.
    let again = app.finalize(A, "b3", &[("X", 3), ("Y", 1), ("Z", 4)]).await;
    assert_eq!(again.body, r.body);
    assert_eq!(app.on_hand(A, "X").await, -2);
}

#[tokio::test(flavor = "multi_thread")]
async fn cancellations_and_receipts_free_room_and_a_lowered_limit_changes_nothing_written() {
    let app = TestApp::new().await;
    app.enable_account(A, true).await;
    app.sku(A, "X", "backorder", None, 0).await;
    limit(&app, "X", Some(4)).await;
    assert_eq!(app.finalize(A, "s1", &[("X", 3)]).await.status, 200);
    assert_eq!(app.finalize(A, "s2", &[("X", 1)]).await.status, 200);
    assert_refused(&app.finalize(A, "s3", &[("X", 2)]).await, 0, "X", 0);
    // A cancellation gives its units back: room for them again.
    app.ok(A, "POST", "/sales/s2/cancel", None).await;
    assert_refused(&app.finalize(A, "s3", &[("X", 2)]).await, 0, "X", 1);
    assert_eq!(app.finalize(A, "s3", &[("X", 1)]).await.status, 200);
    // A receipt raises the stock: room again.
    let rid = app.orders(A, "?status=open").await[0]["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ok(A, "POST", &format!("/replenishments/{rid}/close"), None)
        .await;
    app.ok(
        A,
        "POST",
        &format!("/replenishments/{rid}/receipts"),
        Some(json!({"receipt_id": "r", "quantity": 2})),
    )
    .await;
    assert_eq!(app.on_hand(A, "X").await, -2);
    assert_eq!(app.finalize(A, "s4", &[("X", 2)]).await.status, 200);

    // Lowered below today's level (-4): no new back-order, a sale covering nothing is refused,
    // and nothing written moves.
    let before = app.snapshot().await;
    limit(&app, "X", Some(1)).await;
    let lowered = app.snapshot().await;
    assert_eq!(app.on_hand(A, "X").await, -4);
    assert_refused(&app.finalize(A, "s5", &[("X", 1)]).await, 0, "X", 0);
    assert_eq!(app.snapshot().await, lowered, "refusals write nothing");
    assert_eq!(
        before.len(),
        lowered.len(),
        "the limit changed only the SKU's settings"
    );
    // Without a limit: back-ordering as before.
    limit(&app, "X", None).await;
    assert_eq!(app.finalize(A, "s5", &[("X", 1)]).await.status, 200);
}

/// Many buyers at the limit at once: exactly the units the limit allows are sold, the others
/// refused, none answered 503.
#[tokio::test(flavor = "multi_thread")]
async fn a_flash_sale_at_the_limit_sells_exactly_the_limit() {
    let (mut app, faults) = TestApp::with_faults().await;
    // The production lease: 64 buyers at once on one debug build take their time.
    app.store = app
        .store
        .clone()
        .with_sale_lease(backorder::store::SALE_LEASE);
    let app = Arc::new(app);
    app.enable_account(A, true).await;
    app.sku(A, "X", "backorder", None, 5).await;
    app.sku(A, "Y", "backorder", None, 0).await;
    limit(&app, "X", Some(20)).await;
    limit(&app, "Y", Some(10)).await;
    // Overlapping transactions conflict as on DynamoDB, and a round trip of latency.
    faults.set(FaultConfig {
        overlap_conflicts: true,
        latency: Some(Duration::from_millis(2)),
        ..FaultConfig::default()
    });
    let busy = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let (app, busy) = (app.clone(), busy.clone());
            tokio::spawn(async move {
                // Every fourth buyer takes a basket of both limited SKUs (the transaction path).
                let lines: &[(&str, i64)] = if i % 4 == 0 {
                    &[("X", 1), ("Y", 1)]
                } else {
                    &[("X", 1)]
                };
                loop {
                    let r = app.finalize(A, &format!("f{i}"), lines).await;
                    if r.status == 503 {
                        busy.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    return (r.status, lines.len());
                }
            })
        })
        .collect();
    let mut sold = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            (200, _) => sold += 1,
            (409, _) => refused += 1,
            (status, _) => panic!("unexpected {status}"),
        }
    }
    assert_eq!(
        busy.load(Ordering::Relaxed),
        0,
        "no buyer was told to come back"
    );
    // 5 in stock + 20 ahead: 25 units of X, whatever the mix.
    assert_eq!(sold, 25);
    assert_eq!(refused, 39);
    assert_eq!(app.on_hand(A, "X").await, -20);
    assert!(app.on_hand(A, "Y").await >= -10);
    assert_eq!(ordered(&app, "X").await, 20);
}

/// A redelivery that takes over a sale whose caller died after writing its limited line finds
/// that line written: the sale completes, even though the limit was lowered meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn a_sale_partly_written_before_a_crash_completes_under_a_lowered_limit() {
    let (app, _faults) = TestApp::with_faults().await;
    app.enable_account(A, true).await;
    app.sku(A, "X", "backorder", None, 0).await;
    app.sku(A, "Y", "backorder", None, 0).await;
    limit(&app, "X", Some(5)).await;
    // Requests 0 and 1 read and claim, 2 writes the limited line X, 3 the line Y: die before Y.
    let died = invoke_with(
        Invocation::crash_before(3),
        app.finalize(A, "late", &[("X", 3), ("Y", 1)]),
    )
    .await;
    assert!(matches!(died, Outcome::Crashed));
    assert_eq!(app.on_hand(A, "X").await, -3);
    limit(&app, "X", Some(1)).await;
    limit(&app, "Y", Some(0)).await;
    tokio::time::sleep(app.store.sale_lease() + Duration::from_millis(200)).await;
    let done = app.finalize(A, "late", &[("X", 3), ("Y", 1)]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(app.on_hand(A, "X").await, -3, "X applied once");
    assert_eq!(app.on_hand(A, "Y").await, -1);
}

/// A sale of more than 32 SKUs: the lines held to a limit are checked in its first transaction,
/// before anything is written.
#[tokio::test(flavor = "multi_thread")]
async fn a_sale_in_parts_checks_its_limited_lines_before_writing_anything() {
    let app = TestApp::new().await;
    app.enable_account(A, true).await;
    let skus: Vec<String> = (0..40).map(|i| format!("P{i:02}")).collect();
    for sku in &skus {
        app.sku(A, sku, "backorder", None, 0).await;
    }
    // The last SKU by name: cut into part 0 anyway.
    limit(&app, "P39", Some(1)).await;
    let lines: Vec<(&str, i64)> = skus.iter().map(|s| (s.as_str(), 2)).collect();
    let before = app.snapshot().await;
    let r = app.finalize(A, "big", &lines).await;
    assert_refused(&r, 39, "P39", 1);
    assert_eq!(app.snapshot().await, before);
    limit(&app, "P39", Some(2)).await;
    let r = app.finalize(A, "big", &lines).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let total: i64 = r.body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["backordered"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 80);
    let line: &Value = r.body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["sku"] == "P39")
        .unwrap();
    assert_eq!(line["on_hand_after"], -2);
}
