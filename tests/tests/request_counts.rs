//! DynamoDB requests per finalize, counted by an SDK interceptor: at most 3 whatever the number of
//! lines, 2 when no line relies on a vendor default (uncontended).

use backorder_tests::TestApp;
use serde_json::json;

const A: &str = "acct";

async fn count(
    app: &TestApp,
    sale: &str,
    lines: &[(&str, i64)],
) -> (usize, std::collections::BTreeMap<String, usize>) {
    app.requests.reset();
    let r = app.finalize(A, sale, lines).await;
    assert_eq!(r.status, 200, "{}", r.body);
    (app.requests.total(), app.requests.by_operation())
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_per_finalize() {
    let app = TestApp::new().await;
    app.enable_account(A, true).await;
    app.vendor_default(A, "V", true).await;
    // As many SKUs as one transaction holds (the sale, then per line its SKU, its order and the
    // sale's contribution to that order).
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

    // One line, policy "backorder": one batched read and one transaction (opens an order).
    let (n, ops) = count(&app, "one-new", &[("S0", 1)]).await;
    eprintln!("{ops:?}");
    assert_eq!(n, 2, "{ops:?}");
    assert_eq!(ops.get("BatchGetItem"), Some(&1));
    assert_eq!(ops.get("TransactWriteItems"), Some(&1));
    // The same SKU again: adds to the open order, still 2.
    assert_eq!(count(&app, "one-add", &[("S0", 1)]).await.0, 2);
    // A line relying on a vendor default: one more batched read.
    assert_eq!(count(&app, "vendor", &[("S1", 1)]).await.0, 3);
    // Sixteen "backorder" lines: still 2. All thirty-two lines, half by vendor default: still 3.
    let evens: Vec<(&str, i64)> = skus.iter().step_by(2).map(|s| (s.as_str(), 2)).collect();
    assert_eq!(count(&app, "sixteen", &evens).await.0, 2);
    let all: Vec<(&str, i64)> = skus.iter().map(|s| (s.as_str(), 3)).collect();
    assert_eq!(count(&app, "all", &all).await.0, 3);
    // Stock covering everything: 2.
    app.sku(A, "STOCKED", "backorder", None, 100).await;
    assert_eq!(count(&app, "covered", &[("STOCKED", 1)]).await.0, 2);
    // The account toggle off: vendor defaults are not even read.
    app.enable_account(A, false).await;
    assert_eq!(count(&app, "off", &[("S1", 1), ("S3", 1)]).await.0, 2);
    // A replay is one read.
    assert_eq!(count(&app, "all", &all).await.0, 1);
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
