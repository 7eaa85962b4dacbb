//! Bounded under pressure: persistent conflicts and a black-holed connection end in a 503 with
//! Retry-After within the retry budget (well inside the 15 s Lambda timeout), never a hang and
//! never a half-applied sale that fits in one transaction.

use std::time::{Duration, Instant};

use backorder::service::{FINALIZE_BUDGET, LINES_PER_TRANSACTION};
use backorder_tests::faults::{invoke_with, FaultConfig, Invocation, Outcome};
use backorder_tests::{Reply, TestApp};
use serde_json::{json, Value};

const A: &str = "acct";
/// The functions' Lambda timeout in template.yaml.
const LAMBDA_TIMEOUT: Duration = Duration::from_secs(15);

fn done(outcome: Outcome<Reply>) -> Reply {
    match outcome {
        Outcome::Done(r) => r,
        Outcome::Crashed => panic!("no crash was planned"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_line_write_met_by_a_conflict_is_sent_again_without_a_new_read() {
    let (app, _faults) = TestApp::with_faults().await;
    app.enable_account(A, true).await;
    app.sku(A, "X", "backorder", None, 0).await;
    // Requests 0 and 1 read and claim; request 2 (the SKU's line) meets a transaction holding the
    // item; request 3 sends it again.
    app.requests.reset();
    let r = done(
        invoke_with(
            Invocation::conflicts_between(2, 3),
            app.finalize(A, "s-1", &[("X", 2)]),
        )
        .await,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let ops = app.requests.by_operation();
    assert_eq!(ops.get("BatchGetItem"), Some(&1), "no new read: {ops:?}");
    // The line twice, the completion, the SKU noting its new order's item (the markers go with
    // the next write of the SKU).
    assert_eq!(ops.get("UpdateItem"), Some(&4), "{ops:?}");
    assert_eq!(app.on_hand(A, "X").await, -2);
    assert_eq!(app.orders(A, "").await[0]["quantity"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn persistent_conflict_gives_up_with_503_and_changes_nothing() {
    let (app, _faults) = TestApp::with_faults().await;
    app.enable_account(A, true).await;
    app.sku(A, "X", "backorder", None, 0).await;
    let before = app.snapshot().await;
    let started = Instant::now();
    let r = done(
        invoke_with(
            Invocation::conflicts_from(0),
            app.finalize(A, "s-1", &[("X", 2)]),
        )
        .await,
    );
    let took = started.elapsed();
    assert_eq!((r.status, r.code()), (503, "busy"));
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(
        took < FINALIZE_BUDGET + Duration::from_secs(2),
        "gave up after {took:?}"
    );
    assert_eq!(app.snapshot().await, before, "nothing half-applied");
    // Once the conflict clears, the same request succeeds.
    assert_eq!(app.finalize(A, "s-1", &[("X", 2)]).await.status, 200);

    // Conflicts from the line writes on (the claim landed): 503 before the lease runs out, the
    // line unapplied; the sale is claimed, so a redelivery (or the completion path) completes it
    // once the lease has expired, applying it once.
    let started = Instant::now();
    let r = done(
        invoke_with(
            Invocation::conflicts_from(2),
            app.finalize(A, "s-2", &[("X", 1)]),
        )
        .await,
    );
    assert_eq!((r.status, r.code()), (503, "busy"), "{}", r.body);
    assert!(started.elapsed() < backorder_tests::FAULTY_SALE_LEASE + Duration::from_secs(1));
    assert_eq!(app.on_hand(A, "X").await, -2, "the line was not applied");
    let r = app.finalize(A, "s-2", &[("X", 1)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(app.on_hand(A, "X").await, -3, "applied once");

    // A close under persistent conflict: 503, the order stays open.
    let rid = app.orders(A, "").await[0]["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/replenishments/{rid}/close");
    let r = done(
        invoke_with(
            Invocation::conflicts_from(0),
            app.call(A, "POST", &path, None),
        )
        .await,
    );
    assert_eq!(r.status, 503);
    assert_eq!(app.orders(A, "").await.len(), 1);
    assert_eq!(app.orders(A, "?status=open").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_sale_stays_finalizing_until_redelivered() {
    let (app, _faults) = TestApp::with_faults().await;
    app.enable_account(A, true).await;
    let n = LINES_PER_TRANSACTION + 10;
    let lines: Vec<Value> = (0..n)
        .map(|i| json!({"sku": format!("L{i}"), "quantity": 1}))
        .collect();
    for i in 0..n {
        app.sku(A, &format!("L{i}"), "backorder", None, 0).await;
    }
    let body = json!({"lines": lines});
    // Part 0 commits (request 0 reads it, 1 checks every SKU exists, 2 is its transaction); every
    // transaction after conflicts.
    let r = done(
        invoke_with(
            Invocation::conflicts_from(3),
            app.call(A, "POST", "/sales/big/finalize", Some(body.clone())),
        )
        .await,
    );
    assert_eq!(r.status, 503);
    let view = app.ok(A, "GET", "/sales/big", None).await;
    assert_eq!(view["status"], "finalizing");
    assert_eq!(
        view["lines"].as_array().unwrap().len(),
        LINES_PER_TRANSACTION
    );
    assert_eq!(app.on_hand(A, "L0").await, -1);
    assert_eq!(
        app.on_hand(A, &format!("L{}", n - 1)).await,
        0,
        "part 1 not applied"
    );
    let r = app.call(A, "POST", "/sales/big/finalize", Some(body)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "finalized");
    assert_eq!(app.on_hand(A, "L0").await, -1, "part 0 not applied twice");
    assert_eq!(app.on_hand(A, &format!("L{}", n - 1)).await, -1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_black_holed_connection_cannot_outlive_the_lambda_timeout() {
    let (app, faults) = TestApp::with_faults().await;
    app.enable_account(A, true).await;
    app.sku(A, "X", "backorder", None, 0).await;
    faults.set(FaultConfig {
        black_hole: true,
        ..Default::default()
    });
    let started = Instant::now();
    let r = app.finalize(A, "s-1", &[("X", 1)]).await;
    let took = started.elapsed();
    faults.set(FaultConfig::default());
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    assert!(took < LAMBDA_TIMEOUT, "answered after {took:?}");
    assert_eq!(app.on_hand(A, "X").await, 0);
}
