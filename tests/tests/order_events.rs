//! The order-events handler with the real EventBridge client, against a recorder speaking the
//! `PutEvents` protocol (`backorder_tests::eventbridge`), driven by the stream batches in
//! `events/order-events/`. No DynamoDB needed.

use std::time::{Duration, Instant};

use backorder_tests::eventbridge::{Entry, EventBridge};
use fn_order_events::{handle, handle_with_outcome, InvokeError, Outcome, Publisher};
use serde_json::{json, Value};

const BUS: &str = "orders-bus";

fn event(name: &str) -> Value {
    let path = format!(
        "{}/../events/order-events/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn records(name: &str) -> Vec<Value> {
    event(name)["Records"].as_array().unwrap().clone()
}

fn batch(records: &[Value]) -> Value {
    json!({ "Records": records })
}

fn publisher(bus: &EventBridge) -> Publisher {
    let mut p = Publisher::new(bus.client(), BUS);
    p.backoff = Duration::from_millis(1);
    p
}

fn later() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

async fn run(p: &Publisher, event: Value) -> (Value, Outcome) {
    let (response, outcome) = handle_with_outcome(p, event, later()).await.unwrap();
    (serde_json::to_value(response).unwrap(), outcome)
}

fn no_failures() -> Value {
    json!({ "batchItemFailures": [] })
}

fn failure(seq: &str) -> Value {
    json!({ "batchItemFailures": [{ "itemIdentifier": seq }] })
}

fn seq(record: &Value) -> &str {
    record["dynamodb"]["SequenceNumber"].as_str().unwrap()
}

fn detail_types(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.detail_type.as_str()).collect()
}

fn event_ids(entries: &[Entry]) -> Vec<String> {
    entries.iter().map(|e| e.event_id().to_owned()).collect()
}

/// `n` INSERTs of distinct open orders, each with the sequence number and event id of its index.
fn open_orders(n: usize) -> Vec<Value> {
    let template = records("insert-open").remove(0);
    (0..n)
        .map(|i| {
            let mut r = template.clone();
            let rid = format!("01ORDER{i:04}");
            r["eventID"] = json!(format!("ev-{i:04}"));
            r["dynamodb"]["SequenceNumber"] = json!(format!("{:020}", 1000 + i));
            r["dynamodb"]["Keys"]["sk"]["S"] = json!(format!("ORDER#{rid}"));
            r["dynamodb"]["NewImage"]["sk"]["S"] = json!(format!("ORDER#{rid}"));
            r["dynamodb"]["NewImage"]["rid"]["S"] = json!(rid);
            r
        })
        .collect()
}

#[tokio::test]
async fn each_event_file_publishes_its_event_with_the_new_image() {
    let bus = EventBridge::start().await;
    let p = publisher(&bus);
    let rid = "01JDQ7Z8X9K2M3N4P5Q6R7S8T9";
    let expected =
        |event_id: &str, quantity: i64, received: i64, status: &str, receipt: &str, at: &str| {
            json!({
                "event_id": event_id,
                "account_id": "acct-events",
                "replenishment_id": rid,
                "sku": "CHAIR-1",
                "vendor_id": "acme",
                "quantity": quantity,
                // Decided at close; event files of closed orders predate it: their quantity.
                "ordered_quantity": if status == "open" { json!(null) } else { json!(quantity) },
                "received": received,
                "auto_backorder": true,
                "status": status,
                "receipt_status": receipt,
                "at": at,
            })
        };
    let cases = [
        (
            "insert-open",
            Some((
                "ReplenishmentOpened",
                expected(
                    "e0000000000000000000000000000001:ReplenishmentOpened",
                    3,
                    0,
                    "open",
                    "not_received",
                    "2026-11-29T10:00:00.000Z",
                ),
            )),
        ),
        (
            "modify-closed",
            Some((
                "ReplenishmentClosed",
                expected(
                    "e0000000000000000000000000000003:ReplenishmentClosed",
                    5,
                    0,
                    "closed",
                    "not_received",
                    "2026-11-29T12:00:00.000Z",
                ),
            )),
        ),
        (
            "modify-received",
            Some((
                "ReplenishmentReceived",
                expected(
                    "e0000000000000000000000000000005:ReplenishmentReceived",
                    5,
                    5,
                    "closed",
                    "received",
                    "2026-11-29T14:00:00.000Z",
                ),
            )),
        ),
        ("non-order", None),
    ];
    for (name, want) in cases {
        bus.clear();
        let (response, outcome) = run(&p, event(name)).await;
        assert_eq!(response, no_failures(), "{name}");
        let got = bus.accepted();
        match want {
            Some((detail_type, detail)) => {
                assert_eq!(got.len(), 1, "{name}: {got:?}");
                assert_eq!(got[0].source, "backorder");
                assert_eq!(got[0].event_bus_name, BUS);
                assert_eq!(got[0].detail_type, detail_type);
                assert_eq!(got[0].detail, detail, "{name}");
                assert_eq!(outcome.events_published, 1);
            }
            None => {
                assert_eq!(got, vec![], "{name}");
                assert_eq!(bus.requests(), Vec::<usize>::new(), "no request at all");
                assert_eq!(outcome.without_events, 1);
            }
        }
    }
}

#[tokio::test]
async fn a_batch_publishes_its_transitions_in_stream_order() {
    let bus = EventBridge::start().await;
    let p = publisher(&bus);
    let (response, outcome) = run(&p, event("batch")).await;
    assert_eq!(response, no_failures());
    assert_eq!(
        detail_types(&bus.accepted()),
        [
            "ReplenishmentOpened",
            "ReplenishmentClosed",
            "ReplenishmentReceived"
        ]
    );
    // insert, quantity change, close, partial receipt, receipt, a SKU item, a removal
    assert_eq!(
        outcome,
        Outcome {
            records: 7,
            without_events: 4,
            skipped: 0,
            events_published: 3,
            failed_sequence_number: None,
            ..Outcome::default()
        }
    );
    assert_eq!(bus.requests(), [3], "one PutEvents request");
}

#[tokio::test]
async fn requests_hold_at_most_ten_entries() {
    let bus = EventBridge::start().await;
    let p = publisher(&bus);
    let (response, _) = run(&p, batch(&open_orders(25))).await;
    assert_eq!(response, no_failures());
    assert_eq!(bus.requests(), [10, 10, 5]);
    let expected: Vec<String> = (0..25)
        .map(|i| format!("ev-{i:04}:ReplenishmentOpened"))
        .collect();
    assert_eq!(event_ids(&bus.accepted()), expected, "in stream order");
}

#[tokio::test]
async fn redelivering_a_batch_repeats_the_same_event_ids() {
    let bus = EventBridge::start().await;
    let p = publisher(&bus);
    run(&p, event("batch")).await;
    let first = event_ids(&bus.accepted());
    bus.clear();
    run(&p, event("batch")).await;
    assert_eq!(event_ids(&bus.accepted()), first);
    assert_eq!(first.len(), 3);
}

/// EventBridge refuses the entry of record 13 (in the second request): the response names that
/// record, nothing of the third request is sent, and Lambda's retry from record 13 completes the
/// batch; what repeats carries the same event_id.
#[tokio::test]
async fn a_refused_entry_reports_its_record_and_nothing_after_it_is_sent() {
    let bus = EventBridge::start().await;
    let p = publisher(&bus);
    let all = open_orders(25);
    bus.refuse(|e| e.event_id() == "ev-0013:ReplenishmentOpened");
    let (response, outcome) = run(&p, batch(&all)).await;
    assert_eq!(response, failure(seq(&all[13])));
    assert_eq!(
        outcome.failed_sequence_number.as_deref(),
        Some(seq(&all[13]))
    );
    // Request 2 went out once and its refused entry was sent again twice (3 attempts), alone.
    assert_eq!(bus.requests(), [10, 10, 1, 1]);
    let sent = event_ids(&bus.accepted());
    assert!(!sent.contains(&"ev-0013:ReplenishmentOpened".to_owned()));
    assert!(
        sent.iter().all(|id| id.as_str() < "ev-0020"),
        "nothing of the third request: {sent:?}"
    );
    assert_eq!(
        sent.len(),
        19,
        "records 0-19 but 13 (EventBridge takes entries one by one)"
    );

    // Lambda retries from the reported record on.
    bus.heal();
    let (response, _) = run(&p, batch(&all[13..])).await;
    assert_eq!(response, no_failures());
    let mut all_sent = event_ids(&bus.accepted());
    assert_eq!(all_sent.len(), 19 + 12);
    all_sent.sort();
    all_sent.dedup();
    let expected: Vec<String> = (0..25)
        .map(|i| format!("ev-{i:04}:ReplenishmentOpened"))
        .collect();
    assert_eq!(
        all_sent, expected,
        "every event, the repeats with the same event_id"
    );
}

/// A refusal that clears before the attempts run out costs no redelivery.
#[tokio::test]
async fn a_passing_refusal_is_retried_within_the_invocation() {
    let bus = EventBridge::start().await;
    let p = publisher(&bus);
    let refusals = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = refusals.clone();
    bus.refuse(move |e| {
        e.detail_type == "ReplenishmentClosed"
            && counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0
    });
    let (response, outcome) = run(&p, event("batch")).await;
    assert_eq!(response, no_failures());
    assert_eq!(outcome.events_published, 3);
    assert_eq!(bus.requests(), [3, 1]);
    assert_eq!(
        detail_types(&bus.accepted()),
        [
            "ReplenishmentOpened",
            "ReplenishmentReceived",
            "ReplenishmentClosed"
        ]
    );
}

#[tokio::test]
async fn http_500_reports_the_first_record_of_the_request() {
    let bus = EventBridge::start().await;
    let p = publisher(&bus);
    let all = open_orders(15);
    bus.fail_requests();
    let (response, outcome) = run(&p, batch(&all)).await;
    assert_eq!(response, failure(seq(&all[0])));
    assert_eq!(outcome.events_published, 0);
    // 3 attempts of the first request, each with the SDK's 2: the second request never goes out.
    assert_eq!(bus.requests(), [10; 6]);
    assert!(bus.accepted().is_empty());

    bus.heal();
    let (response, _) = run(&p, batch(&all)).await;
    assert_eq!(response, no_failures());
    assert_eq!(bus.accepted().len(), 15);
}

#[tokio::test]
async fn the_first_failed_record_is_reported_even_when_an_earlier_one_is_skipped() {
    let bus = EventBridge::start().await;
    let p = publisher(&bus);
    let mut all = open_orders(3);
    all[0]["dynamodb"]["NewImage"]["quantity"] = json!({"S": "three"});
    bus.refuse(|e| e.event_id() == "ev-0002:ReplenishmentOpened");
    let (response, outcome) = run(&p, batch(&all)).await;
    assert_eq!(response, failure(seq(&all[2])));
    assert_eq!(outcome.skipped, 1);
    assert_eq!(event_ids(&bus.accepted()), ["ev-0001:ReplenishmentOpened"]);
}

#[tokio::test]
async fn malformed_records_are_skipped_without_blocking_the_shard() {
    let bus = EventBridge::start().await;
    let p = publisher(&bus);
    let batch_records = records("batch");
    let mut bad_image = batch_records[0].clone();
    bad_image["eventID"] = json!("bad-image");
    bad_image["dynamodb"]["NewImage"]["status"] = json!({"S": "pending"});
    let mut no_new_image = batch_records[2].clone();
    no_new_image["eventID"] = json!("no-new-image");
    no_new_image["dynamodb"]
        .as_object_mut()
        .unwrap()
        .remove("NewImage");
    let not_a_record = json!({"eventID": "not-a-record", "eventName": "INSERT"});
    let records = vec![
        bad_image,
        batch_records[0].clone(),
        not_a_record,
        json!("garbage"),
        no_new_image,
        batch_records[2].clone(),
    ];
    let (response, outcome) = run(&p, batch(&records)).await;
    assert_eq!(
        response,
        no_failures(),
        "nothing to retry: malformed records never succeed"
    );
    assert_eq!(outcome.skipped, 4);
    assert_eq!(
        detail_types(&bus.accepted()),
        ["ReplenishmentOpened", "ReplenishmentClosed"]
    );
}

#[tokio::test]
async fn an_event_that_is_not_a_stream_batch_is_an_invalid_input() {
    let bus = EventBridge::start().await;
    let p = publisher(&bus);
    let err = handle(&p, None, json!({"ping": 1}), later())
        .await
        .unwrap_err();
    assert!(matches!(err, InvokeError::InvalidInput(_)));
    let diagnostic: lambda_runtime::Diagnostic = err.into();
    assert_eq!(diagnostic.error_type, "InvalidInput");
    assert!(bus.requests().is_empty());
}

/// Too close to the deadline to start a request: its first record is reported, nothing is sent.
#[tokio::test]
async fn near_the_deadline_nothing_more_is_sent() {
    let bus = EventBridge::start().await;
    let p = publisher(&bus);
    let all = records("batch");
    let response = handle(
        &p,
        None,
        event("batch"),
        Instant::now() + Duration::from_secs(1),
    )
    .await
    .unwrap();
    assert_eq!(
        serde_json::to_value(response).unwrap(),
        failure(seq(&all[0]))
    );
    assert!(bus.requests().is_empty());
}
