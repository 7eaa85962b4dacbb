//! The table's DynamoDB stream as Lambda hands it to a function: read back from DynamoDB Local with
//! the DynamoDB Streams API and shaped as the event's records (test-only).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{StreamSpecification, StreamViewType};
use aws_sdk_dynamodbstreams::types::{AttributeValue, ShardIteratorType};
use serde_json::{json, Map, Value};

use crate::{endpoint, TestApp};

/// Turns the table's stream on (`NEW_AND_OLD_IMAGES`, as the template does).
pub async fn enable_stream(app: &TestApp) {
    let out = app
        .client
        .update_table()
        .table_name(&app.table)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await;
    if let Err(e) = out {
        // The SDK sent the request again after a slow first answer, which had turned it on.
        let again = e
            .as_service_error()
            .and_then(|s| s.meta().message())
            .is_some_and(|m| m.contains("already has an enabled stream"));
        assert!(again, "enable the stream: {e:?}");
    }
}

pub fn to_json(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(_) => json!({ "NULL": true }),
        AttributeValue::L(l) => json!({ "L": l.iter().map(to_json).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({ "M": image(m) }),
        AttributeValue::Ss(ss) => json!({ "SS": ss }),
        AttributeValue::Ns(ns) => json!({ "NS": ns }),
        other => panic!("attribute type not used by the table: {other:?}"),
    }
}

pub fn image(item: &HashMap<String, AttributeValue>) -> Map<String, Value> {
    item.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()
}

/// Every record of the table's stream, as Lambda's DynamoDB event records, in stream order.
pub async fn stream_records(app: &TestApp) -> Vec<Value> {
    let arn = app
        .client
        .describe_table()
        .table_name(&app.table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap()
        .latest_stream_arn
        .expect("the stream is on");
    let conf = aws_sdk_dynamodbstreams::Config::builder()
        .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodbstreams::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodbstreams::config::Credentials::new(
            "local", "local", None, None, "test",
        ))
        .endpoint_url(endpoint())
        .http_client(backorder::config::https_client(
            backorder::config::TlsRoots::Bundled,
        ))
        .build();
    let streams = aws_sdk_dynamodbstreams::Client::from_conf(conf);
    let shards = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap()
        .shards
        .unwrap_or_default();
    let mut out = Vec::new();
    for shard in shards {
        let mut iterator = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(shard.shard_id.unwrap())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator;
        while let Some(it) = iterator {
            let page = streams
                .get_records()
                .shard_iterator(it)
                .send()
                .await
                .unwrap();
            let records = page.records.unwrap_or_default();
            if records.is_empty() {
                break;
            }
            for r in records {
                let d = r.dynamodb.unwrap();
                let mut change = Map::new();
                change.insert(
                    "Keys".into(),
                    Value::Object(image(&d.keys.unwrap_or_default())),
                );
                if let Some(new) = &d.new_image {
                    change.insert("NewImage".into(), Value::Object(image(new)));
                }
                if let Some(old) = &d.old_image {
                    change.insert("OldImage".into(), Value::Object(image(old)));
                }
                change.insert("SequenceNumber".into(), json!(d.sequence_number.unwrap()));
                change.insert("SizeBytes".into(), json!(d.size_bytes.unwrap_or(1)));
                change.insert("StreamViewType".into(), json!("NEW_AND_OLD_IMAGES"));
                out.push(json!({
                    "eventID": r.event_id.unwrap(),
                    "eventName": r.event_name.unwrap().as_str(),
                    "eventVersion": "1.1",
                    "eventSource": "aws:dynamodb",
                    "awsRegion": "us-east-1",
                    "eventSourceARN": arn,
                    "dynamodb": change,
                }));
            }
            iterator = page.next_shard_iterator;
        }
    }
    out
}

/// The records order-events' event source mapping passes (its filters): order items,
/// contributions written or changed, and sales flagged `ready_check` once finalized.
pub fn order_events_records(records: &[Value]) -> Vec<Value> {
    records
        .iter()
        .filter(|r| {
            let sk = r["dynamodb"]["Keys"]["sk"]["S"].as_str().unwrap_or("");
            let new = &r["dynamodb"]["NewImage"];
            sk.starts_with("ORDER#")
                || (sk.starts_with("CONTRIB#") && r["eventName"] != "REMOVE")
                || (sk.starts_with("SALE#")
                    && r["eventName"] == "MODIFY"
                    && new["ready_check"]["BOOL"] == true
                    && new["status"]["S"] == "finalized")
        })
        .cloned()
        .collect()
}

/// Hands stream records to the order-events handler with the store, as Lambda would: batches of
/// 100, each retried from the record it reports until it reports none.
pub async fn deliver_to_order_events(
    app: &TestApp,
    bus: &crate::eventbridge::EventBridge,
    records: &[Value],
) {
    let mut publisher = fn_order_events::Publisher::new(bus.client(), "orders");
    publisher.backoff = std::time::Duration::from_millis(1);
    for chunk in records.chunks(100) {
        let mut batch = chunk.to_vec();
        for attempt in 0.. {
            assert!(attempt < 50, "a stream batch never went through");
            let out = fn_order_events::handle(
                &publisher,
                Some(&app.store),
                json!({ "Records": batch }),
                std::time::Instant::now() + std::time::Duration::from_secs(60),
            )
            .await
            .unwrap();
            let out = serde_json::to_value(out).unwrap();
            let Some(seq) = out["batchItemFailures"][0]["itemIdentifier"].as_str() else {
                break;
            };
            let at = batch
                .iter()
                .position(|r| r["dynamodb"]["SequenceNumber"] == seq)
                .unwrap();
            batch = batch[at..].to_vec();
        }
    }
}

/// The records the template's filter passes to `sale-finalize`'s completion path: inserts of
/// sale records being applied (`request` present).
pub fn claim_records(records: &[Value]) -> Vec<Value> {
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

/// Hands one batch of records to `sale-finalize` (its completion path) with `store`, with
/// `within` to finish it; its answer.
pub async fn deliver_to_completion(
    store: &backorder::Store,
    records: &[Value],
    within: std::time::Duration,
) -> Value {
    let config = backorder::Config {
        table_name: String::new(),
        min_open_age_minutes: 0,
        close_deadline_margin: std::time::Duration::from_secs(3),
    };
    fn_sale_finalize::handle_event(
        store,
        &config,
        json!({ "Records": records }),
        std::time::Instant::now() + within,
    )
    .await
    .unwrap()
}
