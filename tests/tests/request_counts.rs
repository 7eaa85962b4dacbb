//! DynamoDB requests per finalize, counted by the fault layer (no faults) for the answer's path,
//! with its sequential round trips (requests sent together count once), and by an SDK interceptor
//! for everything sent, after the answer too.
//!
//! A sale on SKUs this process has not found contended is read first: if it back-orders nothing
//! and no sale is in flight on its SKUs, it is one transaction (2 requests, 2 round trips, nothing
//! after the answer, whatever the number of lines). Otherwise it goes on from that read: the claim,
//! each SKU's line, the orders' items (a sale opening one) and contributions together, the
//! completion (with, for a sale that opened an order, its SKU noting that the order's item exists).
//! SKUs that back-order or were found contended are remembered, so their next sales claim with
//! their read: 3 round trips for a covered sale, 4 for one that back-orders, one more when a line
//! relies on a vendor default, whatever the number of lines.

use std::sync::Arc;

use backorder_tests::faults::{invoke_in, FaultConfig, Invocation, Outcome};
use backorder_tests::{sale_marker_names, TestApp};
use serde_json::json;

const A: &str = "acct";

/// (requests on the answer's path, its round trips, every request by operation).
async fn count(
    app: &TestApp,
    sale: &str,
    lines: &[(&str, i64)],
) -> (usize, usize, std::collections::BTreeMap<String, usize>) {
    app.requests.reset();
    let invocation = Arc::new(Invocation::default());
    let Outcome::Done(r) = invoke_in(invocation.clone(), app.finalize(A, sale, lines)).await else {
        panic!("no crash was planned")
    };
    assert_eq!(r.status, 200, "{}", r.body);
    (
        invocation.requests(),
        invocation.round_trips(),
        app.requests.by_operation(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_per_finalize() {
    let (app, faults) = TestApp::with_faults().await;
    // A round trip of 20 ms, so that requests sent together overlap.
    faults.set(FaultConfig {
        latency: Some(std::time::Duration::from_millis(20)),
        ..FaultConfig::default()
    });
    app.enable_account(A, true).await;
    app.vendor_default(A, "V", true).await;
    let n = backorder::service::LINES_PER_TRANSACTION;
    assert_eq!(n, 32);
    let skus: Vec<String> = (0..n).map(|i| format!("S{i}")).collect();
    for (i, sku) in skus.iter().enumerate() {
        // Half back-order by policy, half by vendor default.
        if i % 2 == 0 {
            app.sku(A, sku, "backorder", Some("V"), 0).await;
        } else {
            app.sku(A, sku, "vendor_default", Some("V"), 0).await;
        }
    }

    // Stock covering the line, on a SKU this process has not seen: the read, then one
    // transaction of the sale's record and its line. Nothing is sent after the answer.
    app.sku(A, "STOCKED", "backorder", None, 100).await;
    let (requests, trips, ops) = count(&app, "covered", &[("STOCKED", 1)]).await;
    eprintln!("covered: {requests} requests, {trips} round trips, all {ops:?}");
    assert_eq!((requests, trips), (2, 2), "{ops:?}");
    assert_eq!(ops.get("BatchGetItem"), Some(&1));
    assert_eq!(ops.get("TransactWriteItems"), Some(&1), "{ops:?}");
    assert_eq!(
        ops.values().sum::<usize>(),
        2,
        "nothing after the answer: {ops:?}"
    );
    // Ten covered lines: still 2 and 2.
    let stocked: Vec<String> = (0..10).map(|i| format!("STOCKED{i}")).collect();
    for sku in &stocked {
        app.sku(A, sku, "backorder", None, 100).await;
    }
    let ten: Vec<(&str, i64)> = stocked.iter().map(|s| (s.as_str(), 1)).collect();
    let (requests, trips, ops) = count(&app, "covered-ten", &ten).await;
    assert_eq!((requests, trips), (2, 2), "{ops:?}");
    assert_eq!(ops.values().sum::<usize>(), 2, "{ops:?}");

    // One line opening an order, on a SKU this process has not seen: the read finds it short, then
    // the claim, the line, the order's item + the contribution, the completion + the SKU noting
    // the order's item exists. Nothing after the answer: the line's markers go with this process's
    // next write of the SKU.
    let (requests, trips, ops) = count(&app, "one-new", &[("S0", 1)]).await;
    eprintln!("opening: {requests} requests, {trips} round trips, all {ops:?}");
    assert_eq!((requests, trips), (7, 5), "{ops:?}");
    assert_eq!(ops.get("BatchGetItem"), Some(&1));
    assert_eq!(
        ops.get("PutItem"),
        Some(&3),
        "claim, order, contribution (put if absent)"
    );
    assert_eq!(ops.get("BatchWriteItem"), None);
    assert_eq!(ops.get("UpdateItem"), Some(&3), "line, completion, made");
    assert_eq!(ops.values().sum::<usize>(), 7, "nothing after the answer");
    assert_eq!(ops.get("TransactWriteItems"), None);
    // The same SKU again, now known to back-order: the claim goes with the read, and the line adds
    // to the open order, whose item exists: no order write.
    let (requests, trips, ops) = count(&app, "one-add", &[("S0", 1)]).await;
    eprintln!("adding: {requests} requests, {trips} round trips, all {ops:?}");
    assert_eq!((requests, trips), (5, 4), "{ops:?}");
    // One write of the SKU item for the sale: its line, which also removed the markers of the
    // sale before it.
    assert_eq!(
        ops.values().sum::<usize>(),
        5,
        "nothing after the answer: {ops:?}"
    );
    assert_eq!(
        app.marker_names(A, "S0").await,
        sale_marker_names("one-add", true)
    );
    // A line relying on a vendor default: one more read, after the first, then the claim.
    let (requests, trips, _) = count(&app, "vendor", &[("S1", 1)]).await;
    assert_eq!((requests, trips), (8, 6), "opens S1's order");
    // Sixteen "backorder" lines, fifteen of them opening an order (S0 has one, and is known): the
    // claim goes with the read, the lines go out together, then the orders' items and the
    // contributions (one put each, together), then the completion and the SKUs noting their
    // orders' items: still 4 round trips.
    let evens: Vec<(&str, i64)> = skus.iter().step_by(2).map(|s| (s.as_str(), 2)).collect();
    let (requests, trips, _) = count(&app, "sixteen", &evens).await;
    assert_eq!((requests, trips), (2 + 16 + 15 + 16 + 1 + 15, 4));
    // All thirty-two lines, half by vendor default: 5.
    let all: Vec<(&str, i64)> = skus.iter().map(|s| (s.as_str(), 3)).collect();
    let (_, trips, _) = count(&app, "all", &all).await;
    assert_eq!(trips, 5);
    // A covered line on a SKU known to be contended: the claim with the read, the line, the
    // completion; its marker is one attribute of about 16 bytes.
    app.enable_account(A, false).await;
    let (requests, trips, ops) = count(&app, "known", &[("S1", 1)]).await;
    assert_eq!((requests, trips), (4, 3), "{ops:?}");
    assert_eq!(
        ops.values().sum::<usize>(),
        4,
        "nothing after the answer: {ops:?}"
    );
    assert_eq!(
        app.marker_names(A, "S1").await,
        sale_marker_names("known", false)
    );
    // The account toggle off, SKUs known: vendor defaults are not even read.
    let (requests, trips, _) = count(&app, "off", &[("S1", 1), ("S3", 1)]).await;
    assert_eq!((requests, trips), (5, 3), "two lines, nothing back-ordered");
    // A replay: the read, and the claim it went out with (refused).
    let (requests, trips, _) = count(&app, "all", &all).await;
    assert_eq!((requests, trips), (2, 1));
    // A replay of a sale written in one transaction, on SKUs not known: the read.
    let (requests, trips, _) = count(&app, "covered", &[("STOCKED", 1)]).await;
    assert_eq!((requests, trips), (1, 1));
}

/// `GET /skus/{sku}/settings` and its `PUT`: the SKU (read or written), then the account's toggle
/// and, under `vendor_default`, the vendor's default in one batched read: 2 requests.
#[tokio::test(flavor = "multi_thread")]
async fn requests_per_sku_settings() {
    let app = TestApp::new().await;
    app.enable_account(A, true).await;
    app.vendor_default(A, "V", true).await;
    app.sku(A, "VD", "vendor_default", Some("V"), 0).await;
    app.sku(A, "BO", "backorder", Some("V"), 0).await;
    for (sku, effective) in [("VD", true), ("BO", true)] {
        app.requests.reset();
        let r = app
            .ok(A, "GET", &format!("/skus/{sku}/settings"), None)
            .await;
        assert_eq!(r["effective_auto_backorder"], effective, "{r}");
        assert_eq!(app.requests.total(), 2, "{:?}", app.requests.by_operation());
    }
    app.requests.reset();
    let r = app
        .ok(
            A,
            "PUT",
            "/skus/VD/settings",
            Some(json!({"auto_backorder": "vendor_default"})),
        )
        .await;
    assert_eq!(r["effective_auto_backorder"], true, "{r}");
    assert_eq!(app.requests.total(), 2, "{:?}", app.requests.by_operation());
    // The vendor's default off: the vendor_default SKU is not back-ordered, still 2 requests.
    app.vendor_default(A, "V", false).await;
    app.requests.reset();
    let r = app.ok(A, "GET", "/skus/VD/settings", None).await;
    assert_eq!(r["effective_auto_backorder"], false, "{r}");
    assert_eq!(app.requests.total(), 2, "{:?}", app.requests.by_operation());
}
