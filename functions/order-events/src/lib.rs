//! `order-events`: publishes replenishment order lifecycle events and `FulfillmentReady` to
//! EventBridge, and finishes releasing received units to waiting sales, from the table's DynamoDB
//! stream (`NEW_AND_OLD_IMAGES`; its filters pass order items, contributions and flagged sales).
//!
//! The handler decodes each stream record into an [`ItemChange`], asks the stream use case
//! (`backorder::service::stream`) for the order events it stands for (pure) and, with a store (the
//! deployed function has one), for its release work, then publishes the events in stream order
//! through the shared [`Publisher`] and answers which record Lambda must retry from.
//!
//! Delivery is at least once, with a stable `event_id` to deduplicate on: see `backorder::events`.
//!
//! A malformed record (not a stream record, an order image missing or with a wrong attribute) would
//! fail the same way forever and block its shard: it is logged at error level with its `eventID`
//! and skipped.

use std::collections::HashMap;
use std::time::Instant;

use aws_lambda_events::dynamodb::EventRecord;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use backorder::service::stream::{events_of, ItemChange, ReleaseWork, Unfinished};
use backorder::store::layout;
use backorder::Store;
use lambda_runtime::Diagnostic;
use serde_json::Value;

pub use backorder::events::{
    entry_size, order_events, requests, DetailType, EventDetail, OrderChange, OrderEvent,
    Publisher, MAX_ENTRIES_PER_REQUEST, MAX_REQUEST_BYTES, SOURCE,
};
pub use backorder::service::stream::Malformed;

/// A stream image as the SDK's item type, unless the record has none (an absent image
/// deserializes as an empty item).
fn image(item: &serde_dynamo::Item) -> Option<layout::Item> {
    (!item.is_empty()).then(|| HashMap::from(item.clone()))
}

/// A stream record as the change of one item: its kind, sort key and images.
pub fn item_change(record: &EventRecord) -> Result<ItemChange, Malformed> {
    let c = &record.change;
    let (keys, new, old) = (image(&c.keys), image(&c.new_image), image(&c.old_image));
    ItemChange::decode(&record.event_id, &record.event_name, keys, new, old)
}

/// The events a stream record stands for: pure, no I/O. `Ok(vec![])` for a record that publishes
/// nothing (not an order, a `REMOVE`, a change that is not a transition); `Err` for a record that
/// cannot be read (its caller logs and skips it).
pub fn events_for_record(record: &EventRecord) -> Result<Vec<OrderEvent>, Malformed> {
    events_of(&item_change(record)?)
}

/// A failed invocation, reported to the runtime with a meaningful `errorType`. Lambda then retries
/// the whole batch.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("invalid invocation: {0}")]
    InvalidInput(String),
    #[error("{0}")]
    Internal(String),
}

impl From<InvokeError> for Diagnostic {
    fn from(err: InvokeError) -> Self {
        let error_type = match &err {
            InvokeError::InvalidInput(_) => "InvalidInput",
            InvokeError::Internal(_) => "Internal",
        };
        tracing::error!(error = %err, "invocation failed");
        Diagnostic {
            error_type: error_type.to_owned(),
            error_message: err.to_string(),
        }
    }
}

/// A record with events to publish (or, with no events, the record the work stopped at).
struct Pending {
    event_id: String,
    sequence_number: Option<String>,
    events: Vec<OrderEvent>,
}

impl Pending {
    fn of(record: EventRecord, events: Vec<OrderEvent>) -> Self {
        Pending {
            event_id: record.event_id,
            sequence_number: record.change.sequence_number,
            events,
        }
    }
}

/// A record's events and, with a store, its release work first.
async fn one_record(
    store: Option<&Store>,
    bus: &str,
    record: &EventRecord,
    work: &mut ReleaseWork,
) -> Result<Vec<OrderEvent>, Unfinished> {
    let mut events = events_for_record(record)?;
    if let Some(store) = store {
        events.extend(work.record(store, &item_change(record)?).await?);
    }
    if events
        .iter()
        .any(|e| entry_size(bus, e) > MAX_REQUEST_BYTES)
    {
        return Err(Malformed("an event is larger than PutEvents accepts".to_owned()).into());
    }
    Ok(events)
}

/// What one invocation did, for its log line and the tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub records: usize,
    /// Records that publish nothing (not an order, not a transition).
    pub without_events: usize,
    /// Malformed records, logged and skipped.
    pub skipped: usize,
    pub events_published: usize,
    /// Orders whose releases were brought up to the rule, and contributions raised.
    pub orders_settled: usize,
    pub releases_raised: usize,
    /// Sales found ready (`FulfillmentReady` events).
    pub sales_ready: usize,
    /// The `SequenceNumber` reported in `batchItemFailures`, if any.
    pub failed_sequence_number: Option<String>,
}

/// A DynamoDB stream batch: releases received units to waiting sales (with a store), publishes
/// its events, and answers which record Lambda must retry from. `deadline` is the invocation's.
pub async fn handle(
    publisher: &Publisher,
    store: Option<&Store>,
    event: Value,
    deadline: Instant,
) -> Result<DynamoDbEventResponse, InvokeError> {
    let (response, _) = handle_batch(publisher, store, event, deadline).await?;
    Ok(response)
}

/// The order events of a batch alone (no store: no releases, no `FulfillmentReady`), also
/// returning what it did.
pub async fn handle_with_outcome(
    publisher: &Publisher,
    event: Value,
    deadline: Instant,
) -> Result<(DynamoDbEventResponse, Outcome), InvokeError> {
    handle_batch(publisher, None, event, deadline).await
}

/// [`handle`], also returning what it did.
///
/// Records are worked through in stream order. With a store, each record's release work comes
/// first; the first record whose work fails (DynamoDB unavailable) is where Lambda retries from:
/// events of the records before it are published, none of it or after it.
pub async fn handle_batch(
    publisher: &Publisher,
    store: Option<&Store>,
    event: Value,
    deadline: Instant,
) -> Result<(DynamoDbEventResponse, Outcome), InvokeError> {
    let Some(records) = event.get("Records").and_then(Value::as_array) else {
        return Err(InvokeError::InvalidInput(
            "not a DynamoDB stream event (no Records list)".to_owned(),
        ));
    };
    let mut outcome = Outcome {
        records: records.len(),
        ..Outcome::default()
    };
    let bus = publisher.bus();
    let mut pending = Vec::new();
    let mut work = ReleaseWork::default();
    let mut stopped: Option<Pending> = None;
    for raw in records {
        let event_id = raw
            .get("eventID")
            .and_then(Value::as_str)
            .unwrap_or("<none>");
        let result = match serde_json::from_value::<EventRecord>(raw.clone()) {
            // Boxed: its future (settle, readiness) is deep, and only some records need it.
            Ok(record) => match Box::pin(one_record(store, bus, &record, &mut work)).await {
                Ok(events) => Ok((record, events)),
                Err(Unfinished::Retry(problem)) => {
                    tracing::warn!(event_id, %problem, "release work left for the retry");
                    stopped = Some(Pending::of(record, Vec::new()));
                    break;
                }
                Err(Unfinished::Malformed(problem)) => Err(problem),
            },
            Err(e) => Err(Malformed(format!("not a DynamoDB stream record: {e}"))),
        };
        match result {
            Ok((_, events)) if events.is_empty() => outcome.without_events += 1,
            Ok((record, events)) => pending.push(Pending::of(record, events)),
            Err(problem) => {
                tracing::error!(event_id, %problem, "malformed stream record skipped");
                outcome.skipped += 1;
            }
        }
    }
    outcome.orders_settled = work.orders_settled();
    outcome.releases_raised = work.releases_raised();
    outcome.sales_ready = work.sales_ready();

    let groups: Vec<&[OrderEvent]> = pending.iter().map(|p| p.events.as_slice()).collect();
    let (published, failed_record) = publisher.publish_in_order(&groups, deadline).await;
    outcome.events_published = published;

    let failed = match failed_record {
        Some(r) => Some(&pending[r]),
        None => stopped.as_ref(),
    };
    let mut response = DynamoDbEventResponse::default();
    if let Some(record) = failed {
        let Some(seq) = record.sequence_number.clone() else {
            return Err(InvokeError::Internal(format!(
                "record {} was not handled and it has no SequenceNumber to retry from",
                record.event_id
            )));
        };
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(seq.clone());
        response.batch_item_failures.push(failure);
        outcome.failed_sequence_number = Some(seq);
    }
    tracing::info!(
        records = outcome.records,
        without_events = outcome.without_events,
        skipped = outcome.skipped,
        events_published = outcome.events_published,
        orders_settled = outcome.orders_settled,
        releases_raised = outcome.releases_raised,
        sales_ready = outcome.sales_ready,
        failed_event_id = failed.map(|r| r.event_id.as_str()),
        failed_sequence_number = outcome.failed_sequence_number.as_deref(),
        "stream batch"
    );
    Ok((response, outcome))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_dynamo::AttributeValue;
    use serde_json::json;

    fn order(status: &str, extra: Value) -> Value {
        let mut image = json!({
            "pk": {"S": "6:acct-1#ORDER#01RID"},
            "sk": {"S": "ORDER#01RID"},
            "rid": {"S": "01RID"},
            "sku": {"S": "CHAIR-1"},
            "vendor_id": {"S": "acme"},
            "quantity": {"N": "3"},
            "status": {"S": status},
            "tags": {"L": [{"S": "auto_backorder"}]},
            "created_at": {"S": "2026-11-29T10:00:00.000Z"},
            "updated_at": {"S": "2026-11-29T11:00:00.000Z"},
        });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                image.as_object_mut().unwrap().remove(k);
            } else {
                image[k] = v.clone();
            }
        }
        image
    }

    fn record(name: &str, old: Option<Value>, new: Option<Value>) -> EventRecord {
        let mut dynamodb = json!({
            "Keys": {"pk": {"S": "6:acct-1#ORDER#01RID"}, "sk": {"S": "ORDER#01RID"}},
            "SequenceNumber": "100",
            "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        });
        if let Some(old) = old {
            dynamodb["OldImage"] = old;
        }
        if let Some(new) = new {
            dynamodb["NewImage"] = new;
        }
        serde_json::from_value(json!({
            "eventID": "ev-1",
            "eventName": name,
            "awsRegion": "us-east-1",
            "eventSource": "aws:dynamodb",
            "dynamodb": dynamodb,
        }))
        .unwrap()
    }

    fn kinds(r: &EventRecord) -> Vec<DetailType> {
        events_for_record(r)
            .unwrap()
            .into_iter()
            .map(|e| e.detail_type)
            .collect()
    }

    #[test]
    fn insert_of_an_open_order_is_opened_with_the_new_image() {
        let events =
            events_for_record(&record("INSERT", None, Some(order("open", json!({}))))).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].detail_type, DetailType::ReplenishmentOpened);
        assert_eq!(
            serde_json::to_value(&events[0].detail).unwrap(),
            json!({
                "event_id": "ev-1:ReplenishmentOpened",
                "account_id": "acct-1",
                "replenishment_id": "01RID",
                "sku": "CHAIR-1",
                "vendor_id": "acme",
                "quantity": 3,
                "ordered_quantity": null,
                "received": 0,
                "auto_backorder": true,
                "status": "open",
                "receipt_status": "not_received",
                "at": "2026-11-29T11:00:00.000Z",
            })
        );
    }

    #[test]
    fn a_manual_order_without_vendor_is_not_auto_backorder() {
        let new = order("open", json!({"tags": {"L": []}, "vendor_id": null}));
        let events = events_for_record(&record("INSERT", None, Some(new))).unwrap();
        assert!(!events[0].detail.order().unwrap().auto_backorder);
        assert_eq!(events[0].detail.order().unwrap().vendor_id, None);
        let detail: Value = serde_json::from_str(&events[0].detail_json()).unwrap();
        assert_eq!(detail["vendor_id"], Value::Null);
    }

    #[test]
    fn open_to_closed_is_closed() {
        let new = order(
            "closed",
            json!({"closed_at": {"S": "2026-11-29T12:00:00.000Z"}, "updated_at": {"S": "2026-11-29T12:00:00.000Z"}}),
        );
        let r = record("MODIFY", Some(order("open", json!({}))), Some(new));
        let events = events_for_record(&r).unwrap();
        assert_eq!(kinds(&r), vec![DetailType::ReplenishmentClosed]);
        assert_eq!(
            events[0].detail.order().unwrap().event_id,
            "ev-1:ReplenishmentClosed"
        );
        assert_eq!(events[0].detail.order().unwrap().status, "closed");
        assert_eq!(
            events[0].detail.order().unwrap().at,
            "2026-11-29T12:00:00.000Z"
        );
    }

    #[test]
    fn reaching_received_is_received_from_absent_or_partial() {
        let received = json!({"received": {"N": "3"}, "receipt_status": {"S": "received"}});
        let partial =
            json!({"received": {"N": "1"}, "receipt_status": {"S": "partially_received"}});
        for old in [order("closed", json!({})), order("closed", partial)] {
            let r = record("MODIFY", Some(old), Some(order("closed", received.clone())));
            let events = events_for_record(&r).unwrap();
            assert_eq!(kinds(&r), vec![DetailType::ReplenishmentReceived]);
            assert_eq!(events[0].detail.order().unwrap().received, 3);
            assert_eq!(events[0].detail.order().unwrap().receipt_status, "received");
            assert_eq!(
                events[0].detail.order().unwrap().event_id,
                "ev-1:ReplenishmentReceived"
            );
        }
    }

    #[test]
    fn close_and_receipt_in_one_change_are_two_events() {
        let new = order(
            "closed",
            json!({"received": {"N": "3"}, "receipt_status": {"S": "received"}}),
        );
        let r = record("MODIFY", Some(order("open", json!({}))), Some(new));
        assert_eq!(
            kinds(&r),
            vec![
                DetailType::ReplenishmentClosed,
                DetailType::ReplenishmentReceived
            ]
        );
    }

    #[test]
    fn changes_that_are_not_transitions_publish_nothing() {
        let more = order("open", json!({"quantity": {"N": "5"}}));
        let cases = [
            // quantity only
            record("MODIFY", Some(order("open", json!({}))), Some(more)),
            // closed again (a repeated close rewrites nothing, but never mind)
            record(
                "MODIFY",
                Some(order("closed", json!({}))),
                Some(order("closed", json!({}))),
            ),
            // received to received (an over-receipt)
            record(
                "MODIFY",
                Some(order(
                    "closed",
                    json!({"receipt_status": {"S": "received"}}),
                )),
                Some(order(
                    "closed",
                    json!({"receipt_status": {"S": "received"}, "received": {"N": "4"}}),
                )),
            ),
            // partial receipt
            record(
                "MODIFY",
                Some(order("closed", json!({}))),
                Some(order(
                    "closed",
                    json!({"receipt_status": {"S": "partially_received"}, "received": {"N": "1"}}),
                )),
            ),
            // an order inserted closed
            record("INSERT", None, Some(order("closed", json!({})))),
            // removal
            record("REMOVE", Some(order("open", json!({}))), None),
        ];
        for r in &cases {
            assert_eq!(events_for_record(r), Ok(vec![]), "{r:?}");
        }
    }

    #[test]
    fn other_items_publish_nothing_even_when_unreadable_as_orders() {
        let mut r = record(
            "INSERT",
            None,
            Some(
                json!({"pk": {"S": "6:acct-1#SKU#CHAIR-1"}, "sk": {"S": "SKU#CHAIR-1"}, "on_hand": {"N": "-3"}}),
            ),
        );
        r.change
            .keys
            .insert("sk".into(), AttributeValue::S("SKU#CHAIR-1".into()));
        assert_eq!(events_for_record(&r), Ok(vec![]));
    }

    #[test]
    fn malformed_order_images_are_errors() {
        let cases = [
            record("INSERT", None, None),
            record(
                "INSERT",
                None,
                Some(order("open", json!({"quantity": {"S": "3"}}))),
            ),
            record(
                "INSERT",
                None,
                Some(order("open", json!({"quantity": {"N": "2.5"}}))),
            ),
            record("INSERT", None, Some(order("open", json!({"sku": null})))),
            record("INSERT", None, Some(order("open", json!({"pk": null})))),
            record(
                "INSERT",
                None,
                Some(order("open", json!({"updated_at": null}))),
            ),
            record("INSERT", None, Some(order("pending", json!({})))),
            record(
                "INSERT",
                None,
                Some(order("open", json!({"tags": {"S": "auto_backorder"}}))),
            ),
            record(
                "INSERT",
                None,
                Some(order("open", json!({"tags": {"L": [{"N": "1"}]}}))),
            ),
            record(
                "INSERT",
                None,
                Some(order("open", json!({"receipt_status": {"S": "lost"}}))),
            ),
            record(
                "INSERT",
                None,
                Some(order("open", json!({"rid": {"S": "OTHER"}}))),
            ),
            record("MODIFY", None, Some(order("closed", json!({})))),
            record(
                "MODIFY",
                Some(order("open", json!({"status": {"N": "1"}}))),
                Some(order("closed", json!({}))),
            ),
            record("UPSERT", None, Some(order("open", json!({})))),
        ];
        for r in &cases {
            assert!(events_for_record(r).is_err(), "{r:?}");
        }
        let mut no_id = record("INSERT", None, Some(order("open", json!({}))));
        no_id.event_id.clear();
        assert!(events_for_record(&no_id).is_err());
        let mut no_key = record("INSERT", None, Some(order("open", json!({"sk": null}))));
        no_key.change.keys.clear();
        assert!(events_for_record(&no_key).is_err());
    }

    #[test]
    fn the_sort_key_comes_from_the_images_when_keys_are_absent() {
        let mut r = record("INSERT", None, Some(order("open", json!({}))));
        r.change.keys.clear();
        assert_eq!(kinds(&r), vec![DetailType::ReplenishmentOpened]);
    }

    #[test]
    fn event_ids_are_stable_across_redeliveries() {
        let r = record("INSERT", None, Some(order("open", json!({}))));
        assert_eq!(events_for_record(&r), events_for_record(&r.clone()));
    }

    #[test]
    fn entries_carry_source_detail_type_and_bus() {
        let events =
            events_for_record(&record("INSERT", None, Some(order("open", json!({}))))).unwrap();
        let entry = events[0].entry("orders-bus");
        assert_eq!(entry.source(), Some(SOURCE));
        assert_eq!(entry.detail_type(), Some("ReplenishmentOpened"));
        assert_eq!(entry.event_bus_name(), Some("orders-bus"));
        let detail: EventDetail = serde_json::from_str(entry.detail().unwrap()).unwrap();
        assert_eq!(&detail, events[0].detail.order().unwrap());
        assert!(entry_size("orders-bus", &events[0]) > entry.detail().unwrap().len());
    }

    #[test]
    fn diagnostics_have_meaningful_types() {
        let d: Diagnostic = InvokeError::InvalidInput("x".into()).into();
        assert_eq!(d.error_type, "InvalidInput");
        let d: Diagnostic = InvokeError::Internal("x".into()).into();
        assert_eq!(d.error_type, "Internal");
    }
}
