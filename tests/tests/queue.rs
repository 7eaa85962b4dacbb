//! Sales from an SQS queue into `sale-finalize`: partial batch failures, so that one bad or
//! conflicting message neither blocks nor repeats the others, and redelivery is exact.

use std::time::{Duration, Instant};

use backorder::Config;
use backorder_tests::faults::{invoke, FaultConfig, Outcome};
use backorder_tests::TestApp;
use serde_json::{json, Value};

const A: &str = "acct-events";

fn event_file(name: &str) -> Value {
    let path = format!("{}/../events/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// An SQS batch of `(message id, account attribute, body)`.
fn batch(messages: &[(String, Option<&str>, String)]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, account, body)| {
            let attrs = match account {
                Some(a) => json!({"account_id": {"stringValue": a, "dataType": "String"}}),
                None => json!({}),
            };
            json!({"messageId": id, "receiptHandle": "h", "body": body, "attributes": {},
                   "messageAttributes": attrs, "eventSource": "aws:sqs",
                   "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:sales", "awsRegion": "us-east-1"})
        })
        .collect();
    json!({ "Records": records })
}

async fn deliver(app: &TestApp, event: Value, deadline: Instant) -> Vec<String> {
    let config = Config::for_table(&app.table);
    let out = fn_sale_finalize::handle_event(&app.store, &config, event, deadline)
        .await
        .expect("an SQS batch is a valid invocation");
    out["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

async fn setup(app: &TestApp) {
    app.enable_account(A, true).await;
    app.sku(A, "CHAIR-1", "backorder", None, 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_event_file_batch_fails_only_its_invalid_message() {
    let app = TestApp::new().await;
    setup(&app).await;
    let event = event_file("sale-finalize/sqs-batch");
    let failed = deliver(&app, event.clone(), far()).await;
    assert_eq!(failed, ["00000000-0000-4000-8000-000000000002"]);
    // Q-1 (2) and Q-3 (1) against 1 on hand: -2, 2 back-ordered.
    assert_eq!(app.on_hand(A, "CHAIR-1").await, -2);
    let orders = app.orders(A, "").await;
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["quantity"], 2);
    let q1 = app.ok(A, "GET", "/sales/Q-1", None).await;
    assert_eq!(
        (q1["customer"].as_str(), q1["channel"].as_str()),
        (Some("c-7"), Some("marketplace"))
    );
    // The whole batch again (SQS redelivers at least once): the same answer, nothing changes.
    let before = app.snapshot().await;
    assert_eq!(deliver(&app, event, far()).await, failed);
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_of_bad_message_fails_alone() {
    let app = TestApp::new().await;
    setup(&app).await;
    let good = |sale: &str, q: i64| {
        json!({"sale_id": sale, "lines": [{"sku": "CHAIR-1", "quantity": q}]}).to_string()
    };
    assert_eq!(
        deliver(
            &app,
            batch(&[("m0".into(), Some(A), good("S-1", 1))]),
            far()
        )
        .await
        .len(),
        0
    );
    let messages = vec![
        ("ok-1".to_owned(), Some(A), good("S-2", 1)),
        ("conflict".to_owned(), Some(A), good("S-1", 5)),
        ("no-account".to_owned(), None, good("S-3", 1)),
        ("not-json".to_owned(), Some(A), "{sale".to_owned()),
        ("not-object".to_owned(), Some(A), "[1]".to_owned()),
        (
            "no-sale-id".to_owned(),
            Some(A),
            json!({"lines": [{"sku": "CHAIR-1", "quantity": 1}]}).to_string(),
        ),
        (
            "unknown-sku".to_owned(),
            Some(A),
            json!({"sale_id": "S-4", "lines": [{"sku": "NOPE", "quantity": 1}]}).to_string(),
        ),
        ("ok-2".to_owned(), Some(A), good("S-5", 2)),
    ];
    let failed = deliver(&app, batch(&messages), far()).await;
    assert_eq!(
        failed,
        [
            "conflict",
            "no-account",
            "not-json",
            "not-object",
            "no-sale-id",
            "unknown-sku"
        ]
    );
    // S-1 (1), S-2 (1), S-5 (2) from 1 on hand.
    assert_eq!(app.on_hand(A, "CHAIR-1").await, -3);
    assert_eq!(app.orders(A, "").await[0]["quantity"], 3);
    assert_eq!(app.items_with_prefix("SALE#").await.len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_out_of_time_is_reported_failed_not_dropped() {
    let app = TestApp::new().await;
    setup(&app).await;
    let before = app.snapshot().await;
    let messages: Vec<_> = (0..3)
        .map(|i| {
            (
                format!("m{i}"),
                Some(A),
                json!({"sale_id": format!("S-{i}"), "lines": [{"sku": "CHAIR-1", "quantity": 1}]})
                    .to_string(),
            )
        })
        .collect();
    // Less time left than the margin kept to answer: nothing is started, all are redelivered.
    let failed = deliver(
        &app,
        batch(&messages),
        Instant::now() + Duration::from_millis(500),
    )
    .await;
    assert_eq!(failed, ["m0", "m1", "m2"]);
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn redelivering_the_failures_under_faults_finalizes_each_sale_once() {
    let (app, faults) = TestApp::with_faults().await;
    setup(&app).await;
    // Every fault at 15%, but crashes at 5%: a crash makes SQS deliver the whole batch again, so
    // at 15% per request a batch of ten sales (five requests each, two per replay) would rarely
    // get past its first few messages.
    faults.set(FaultConfig {
        crash: 0.05,
        ..FaultConfig::all(0.15)
    });
    let mut pending: Vec<(String, Option<&str>, String)> = (0..60)
        .map(|i| {
            let body = json!({"sale_id": format!("S-{i:03}"), "lines": [{"sku": "CHAIR-1", "quantity": 1 + i % 3}]});
            (format!("m{i:03}"), Some(A), body.to_string())
        })
        .collect();
    let mut rounds = 0;
    while !pending.is_empty() {
        rounds += 1;
        assert!(rounds < 200, "messages keep failing: {pending:?}");
        // Batches of 10, as the event source mapping sends them.
        let mut still = Vec::new();
        for chunk in pending.chunks(10) {
            match invoke(deliver(&app, batch(chunk), far())).await {
                // The invocation died: SQS delivers the whole batch again.
                Outcome::Crashed => still.extend(chunk.iter().cloned()),
                Outcome::Done(failed) => {
                    still.extend(chunk.iter().filter(|m| failed.contains(&m.0)).cloned())
                }
            }
        }
        pending = still;
    }
    faults.set(FaultConfig::default());
    let sold: i64 = (0..60).map(|i| 1 + i % 3).sum();
    assert_eq!(app.on_hand(A, "CHAIR-1").await, 1 - sold);
    let orders = app.orders(A, "").await;
    let total: i64 = orders.iter().map(|o| o["quantity"].as_i64().unwrap()).sum();
    assert_eq!(total, sold - 1);
    assert_eq!(app.items_with_prefix("SALE#").await.len(), 60);
    assert!(faults.counts.injected() > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sale_cancelled_before_its_redelivery_is_done_not_dead_lettered() {
    let app = TestApp::new().await;
    setup(&app).await;
    let body = json!({"sale_id": "S-1", "lines": [{"sku": "CHAIR-1", "quantity": 3}]}).to_string();
    let message = [("m1".to_owned(), Some(A), body)];
    assert!(deliver(&app, batch(&message), far()).await.is_empty());
    let cancelled = app.call(A, "POST", "/sales/S-1/cancel", None).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    let before = app.snapshot().await;
    // SQS delivers the message again (at least once): nothing to do, and not a failure.
    assert!(deliver(&app, batch(&message), far()).await.is_empty());
    assert_eq!(app.snapshot().await, before);
    assert_eq!(app.on_hand(A, "CHAIR-1").await, 1);
}
