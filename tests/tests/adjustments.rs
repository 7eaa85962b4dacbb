//! Stock adjustments with an `adjustment_id` apply exactly once: retries, duplicates, lost
//! responses and crashes included; the id reused for another adjustment is 409.

use std::sync::Arc;

use backorder_tests::faults::{invoke, FaultConfig, Outcome};
use backorder_tests::TestApp;
use serde_json::json;

const A: &str = "acct";

#[tokio::test(flavor = "multi_thread")]
async fn an_adjustment_id_applies_once() {
    let app = TestApp::new().await;
    app.sku(A, "S", "backorder", None, 10).await;
    let body = json!({"delta": 5, "reason": "delivery", "adjustment_id": "adj-1"});
    let first = app
        .ok(
            A,
            "POST",
            "/skus/S/inventory/adjustments",
            Some(body.clone()),
        )
        .await;
    assert_eq!(first["on_hand"], 15);
    let before = app.snapshot().await;
    for _ in 0..3 {
        assert_eq!(
            app.ok(
                A,
                "POST",
                "/skus/S/inventory/adjustments",
                Some(body.clone())
            )
            .await,
            first
        );
    }
    assert_eq!(app.snapshot().await, before, "retries change nothing");
    // The id reused for another delta or SKU: 409, nothing changes.
    app.sku(A, "T", "backorder", None, 0).await;
    let before = app.snapshot().await;
    let r = app
        .call(
            A,
            "POST",
            "/skus/S/inventory/adjustments",
            Some(json!({"delta": 6, "adjustment_id": "adj-1"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "adjustment_conflict"));
    let r = app
        .call(
            A,
            "POST",
            "/skus/T/inventory/adjustments",
            Some(json!({"delta": 5, "adjustment_id": "adj-1"})),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(app.snapshot().await, before);
    // Another account's same id is its own.
    app.sku("other", "S", "backorder", None, 0).await;
    assert_eq!(
        app.ok(
            "other",
            "POST",
            "/skus/S/inventory/adjustments",
            Some(body.clone())
        )
        .await["on_hand"],
        5
    );
    // Unknown SKU: 404 and no record kept (the id stays usable).
    let r = app
        .call(
            A,
            "POST",
            "/skus/NOPE/inventory/adjustments",
            Some(json!({"delta": 1, "adjustment_id": "adj-2"})),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        app.ok(
            A,
            "POST",
            "/skus/S/inventory/adjustments",
            Some(json!({"delta": 1, "adjustment_id": "adj-2"}))
        )
        .await["on_hand"],
        16
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicates_and_faults_apply_each_adjustment_once() {
    let (app, faults) = TestApp::with_faults().await;
    let app = Arc::new(app);
    app.sku(A, "S", "backorder", None, 0).await;
    faults.set(FaultConfig::all(0.15));
    // 40 adjustments of +1..+4, each sent 3 times concurrently, every failure redelivered.
    let tasks: Vec<_> = (0..40)
        .flat_map(|i| (0..3).map(move |copy| (i, copy)))
        .map(|(i, _)| {
            let app = app.clone();
            tokio::spawn(async move {
                let body = json!({"delta": 1 + i % 4, "adjustment_id": format!("adj-{i}")});
                loop {
                    match invoke(app.call(
                        A,
                        "POST",
                        "/skus/S/inventory/adjustments",
                        Some(body.clone()),
                    ))
                    .await
                    {
                        Outcome::Done(r) if r.status == 200 => return,
                        Outcome::Done(r) => assert_eq!(r.status, 503, "{}", r.body),
                        Outcome::Crashed => {}
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    faults.set(FaultConfig::default());
    let expected: i64 = (0..40).map(|i| 1 + i % 4).sum();
    assert_eq!(
        app.on_hand(A, "S").await,
        expected,
        "{}",
        faults.counts.summary()
    );
    assert_eq!(app.items_with_prefix("ADJ#").await.len(), 40);
}
