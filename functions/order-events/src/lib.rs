//! `order-events`: publishes replenishment order lifecycle events and `FulfillmentReady` to
//! EventBridge, and finishes releasing received units to waiting sales, from the table's DynamoDB
//! stream (`NEW_AND_OLD_IMAGES`; its filters pass order items and contributions).
//!
//! Each stream record of an order item becomes zero or more events ([`events_for_record`], a pure
//! function): its images decode through the store's codec (`backorder::store::codec`, the same code
//! as a `GetItem` answer), and the event contract (`backorder::events`: which transitions are
//! events, their detail) decides. They are put on the bus `EVENT_BUS_NAME` with source [`SOURCE`]
//! by the shared [`Publisher`]. `REMOVE`s, other items and changes that are not transitions
//! publish nothing.
//!
//! With a store (the deployed function has one), each record also does its release work
//! (`release_work`): a closed order whose `received` or `cancels` changed, or a contribution
//! written, settles the order (`backorder::service::settle_order`); a contribution whose `released`
//! reached its `units` asks whether its sale is ready (`backorder::service::readiness`), and if so
//! adds `FulfillmentReady`, whose `event_id` is the sale's own (a sale still being finalized is
//! flagged, and its completion's record asks again).
//!
//! Delivery is at least once, with a stable `event_id` to deduplicate on: see `backorder::events`.
//!
//! A malformed record (not a stream record, an order image missing or with a wrong attribute) would
//! fail the same way forever and block its shard: it is logged at error level with its `eventID`
//! and skipped.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use aws_lambda_events::dynamodb::EventRecord;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use backorder::domain::Replenishment;
use backorder::domain::SaleStatus;
use backorder::error::StoreError;
use backorder::events::fulfillment_ready;
use backorder::ids::{AccountId, ReplenishmentId, SaleId};
use backorder::service::{readiness, settle_order, Readiness};
use backorder::store::{codec, layout};
use backorder::Store;
use lambda_runtime::Diagnostic;
use serde_json::Value;

pub use backorder::events::{
    entry_size, order_events, requests, DetailType, EventDetail, OrderChange, OrderEvent,
    Publisher, MAX_ENTRIES_PER_REQUEST, MAX_REQUEST_BYTES, SOURCE,
};

/// Why a stream record cannot be read; the record is skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

fn malformed(problem: impl Into<String>) -> Malformed {
    Malformed(problem.into())
}

/// A stream image as the SDK's item type, unless the record has none (an absent image
/// deserializes as an empty item).
fn image(item: &serde_dynamo::Item) -> Option<layout::Item> {
    (!item.is_empty()).then(|| HashMap::from(item.clone()))
}

/// An order image through the store's codec; errors name the image and the problem, never values.
fn order_image(name: &str, item: &layout::Item) -> Result<(String, Replenishment), Malformed> {
    let problem = |e: StoreError| match e {
        StoreError::Malformed { problem, .. } => malformed(format!("{name}: {problem}")),
        other => malformed(format!("{name}: {other}")),
    };
    let account = codec::account_of(item).map_err(problem)?;
    let order = codec::order_from_item(item).map_err(problem)?;
    Ok((account.into_string(), order))
}

/// The sort key of the record's item: from `Keys`, else from an image.
fn sort_key(record: &EventRecord) -> Result<String, Malformed> {
    let change = &record.change;
    for item in [&change.keys, &change.new_image, &change.old_image] {
        if let Some(img) = image(item) {
            if let Some(sk) = codec::Reader::new(&img)
                .opt_str(layout::SK)
                .map_err(|_| malformed("the sort key is not a string"))?
            {
                return Ok(sk.to_owned());
            }
        }
    }
    Err(malformed("the record has no sort key"))
}

/// The events a stream record stands for: pure, no I/O. `Ok(vec![])` for a record that publishes
/// nothing (not an order, a `REMOVE`, a change that is not a transition); `Err` for a record of
/// an order item that cannot be read (its caller logs and skips it).
pub fn events_for_record(record: &EventRecord) -> Result<Vec<OrderEvent>, Malformed> {
    let sk = sort_key(record)?;
    let Some(rid) = layout::rid_of_order_sort_key(&sk) else {
        return Ok(Vec::new());
    };
    if rid.is_empty() {
        return Err(malformed("the sort key names no order"));
    }
    if record.event_id.is_empty() {
        return Err(malformed("the record has no eventID"));
    }
    let change = &record.change;
    let read = |name: &str, item: &serde_dynamo::Item| {
        let img = image(item).ok_or_else(|| {
            malformed(format!(
                "{name} is missing (is the stream NEW_AND_OLD_IMAGES?)"
            ))
        })?;
        order_image(name, &img)
    };
    let (account, change) = match record.event_name.as_str() {
        "REMOVE" => return Ok(Vec::new()),
        "INSERT" => {
            let (account, new) = read("NewImage", &change.new_image)?;
            (account, OrderChange::Inserted(new))
        }
        "MODIFY" => {
            let (account, new) = read("NewImage", &change.new_image)?;
            let (_, old) = read("OldImage", &change.old_image)?;
            (account, OrderChange::Modified { old, new })
        }
        _ => return Err(malformed("eventName is not INSERT, MODIFY or REMOVE")),
    };
    Ok(order_events(&record.event_id, &account, &change))
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

/// A record with events to publish.
struct Pending {
    event_id: String,
    sequence_number: Option<String>,
    events: Vec<OrderEvent>,
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
/// first ([`release_work`]); the first record whose work fails (DynamoDB unavailable, a sale still
/// being finalized) is where Lambda retries from: events of the records before it are published,
/// none of it or after it.
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
        let parsed = serde_json::from_value::<EventRecord>(raw.clone())
            .map_err(|e| malformed(format!("not a DynamoDB stream record: {e}")))
            .and_then(|record| {
                let events = events_for_record(&record)?;
                Ok((record, events))
            });
        let (record, mut events) = match parsed {
            Err(problem) => {
                tracing::error!(event_id, %problem, "malformed stream record skipped");
                outcome.skipped += 1;
                continue;
            }
            Ok(parsed) => parsed,
        };
        if let Some(store) = store {
            // Boxed: its future (settle, readiness) is deep, and only some records need it.
            match Box::pin(release_work(store, &record, &mut work)).await {
                Ok(more) => events.extend(more),
                Err(Unfinished::Malformed(problem)) => {
                    tracing::error!(event_id, %problem, "malformed stream record skipped");
                    outcome.skipped += 1;
                    continue;
                }
                Err(Unfinished::Retry(problem)) => {
                    tracing::warn!(event_id, %problem, "release work left for the retry");
                    stopped = Some(Pending {
                        event_id: record.event_id.clone(),
                        sequence_number: record.change.sequence_number.clone(),
                        events: Vec::new(),
                    });
                    break;
                }
            }
        }
        if events
            .iter()
            .any(|e| entry_size(bus, e) > MAX_REQUEST_BYTES)
        {
            tracing::error!(
                event_id,
                "an event is larger than PutEvents accepts: record skipped"
            );
            outcome.skipped += 1;
            continue;
        }
        if events.is_empty() {
            outcome.without_events += 1;
        } else {
            pending.push(Pending {
                event_id: record.event_id,
                sequence_number: record.change.sequence_number,
                events,
            });
        }
    }
    outcome.orders_settled = work.settled.len();
    outcome.releases_raised = work.raised;
    outcome.sales_ready = work.ready.len();

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

/// What a batch's release work has done so far: each order is settled once per batch (after its
/// first record, every later record's change is already in the table), each sale found ready once.
#[derive(Debug, Default)]
struct ReleaseWork {
    settled: HashSet<(String, String)>,
    raised: usize,
    /// (account, sale): sale ids are unique within an account only.
    ready: HashSet<(String, String)>,
}

/// Why a record's release work did not finish.
#[derive(Debug)]
enum Unfinished {
    /// It cannot be read: logged and skipped.
    Malformed(String),
    /// Try again (Lambda retries from this record).
    Retry(String),
}

/// What a record asks of the releases:
/// - a closed order whose `received` or `cancels` changed, and a contribution written (it may be
///   one a receipt held units back for), settle their order: its stored releases are brought up
///   to the rule, finishing what a crashed receipt or cancellation left;
/// - a contribution whose `released` reached its `units` may have made its sale ready: if every
///   back-ordered line of the sale has all its units, `FulfillmentReady`. A sale still being
///   finalized is flagged (`ready_check`) instead of waited for: its completion's record, which
///   the flag lets through the filter, asks again;
/// - that completion record (a sale record now `finalized` with `ready_check`): the same question.
async fn release_work(
    store: &Store,
    record: &EventRecord,
    work: &mut ReleaseWork,
) -> Result<Vec<OrderEvent>, Unfinished> {
    if record.event_name == "REMOVE" {
        return Ok(Vec::new());
    }
    let sk = sort_key(record).map_err(|m| Unfinished::Malformed(m.0))?;
    let new = image(&record.change.new_image)
        .ok_or_else(|| Unfinished::Malformed("NewImage is missing".to_owned()))?;
    let old = image(&record.change.old_image);
    let account = codec::account_of(&new).map_err(|e| Unfinished::Malformed(e.to_string()))?;
    let num = |img: Option<&layout::Item>, attr: &str| {
        img.and_then(|i| codec::Reader::new(i).opt_i64(attr).ok().flatten())
            .unwrap_or(0)
    };
    let text = |img: &layout::Item, attr: &str| {
        codec::Reader::new(img)
            .opt_str(attr)
            .ok()
            .flatten()
            .map(str::to_owned)
    };
    let mut events = Vec::new();
    if let Some(sale) = layout::sale_id_of_sort_key(&sk) {
        // A sale flagged while it was being finalized, now complete.
        let flagged = codec::Reader::new(&new)
            .bool_or(layout::READY_CHECK, false)
            .unwrap_or(false);
        if record.event_name == "MODIFY"
            && flagged
            && text(&new, layout::STATUS).as_deref() == Some(SaleStatus::Finalized.as_str())
        {
            ready_event(store, &account, sale, work, &mut events).await?;
        }
        return Ok(events);
    }
    let (rid, sale) = if let Some(rid) = layout::rid_of_order_sort_key(&sk) {
        (rid.to_owned(), None)
    } else if let Some((rid, sale)) = layout::contribution_of_sort_key(&sk) {
        (rid.to_owned(), Some(sale.to_owned()))
    } else {
        return Ok(Vec::new());
    };
    let settle = match &sale {
        None => {
            let closed = text(&new, layout::STATUS).as_deref()
                == Some(backorder::domain::OrderStatus::Closed.as_str());
            let changed = [layout::RECEIVED, layout::CANCELS]
                .iter()
                .any(|a| num(Some(&new), a) != num(old.as_ref(), a));
            closed && num(Some(&new), layout::RECEIVED) > 0 && changed
        }
        Some(_) => record.event_name == "INSERT",
    };
    if settle && work.settled.insert((account.to_string(), rid.clone())) {
        let rid = ReplenishmentId::parse(rid.as_str(), "replenishment_id")
            .map_err(|_| Unfinished::Malformed("bad order id".to_owned()))?;
        work.raised += settle_order(store, &account, &rid)
            .await
            .map_err(|e| Unfinished::Retry(e.to_string()))?;
    }
    if let Some(sale) = sale {
        let reached = |img: Option<&layout::Item>| {
            img.is_some_and(|i| {
                text(i, layout::CANCELLED_AT).is_none()
                    && num(Some(i), layout::RELEASED) >= num(Some(i), layout::UNITS)
            })
        };
        if record.event_name == "MODIFY" && reached(Some(&new)) && !reached(old.as_ref()) {
            ready_event(store, &account, &sale, work, &mut events).await?;
        }
    }
    Ok(events)
}

/// `FulfillmentReady` for a sale that may have become ready, once per batch. A sale still being
/// finalized gets `ready_check`, so that its completion is looked at again; if it completed
/// meanwhile (the flag's condition failed), it is asked about again now.
async fn ready_event(
    store: &Store,
    account: &AccountId,
    sale: &str,
    work: &mut ReleaseWork,
    events: &mut Vec<OrderEvent>,
) -> Result<(), Unfinished> {
    let key = (account.to_string(), sale.to_owned());
    if work.ready.contains(&key) {
        return Ok(());
    }
    let sale_id = SaleId::parse(sale, "sale_id")
        .map_err(|_| Unfinished::Malformed("bad sale id".to_owned()))?;
    let retry = |e: backorder::error::StoreError| Unfinished::Retry(e.to_string());
    let mut state = readiness(store, account, &sale_id).await.map_err(retry)?;
    if state == Readiness::Unsettled {
        if store
            .flag_ready_check(account, &sale_id)
            .await
            .map_err(retry)?
        {
            return Ok(());
        }
        state = readiness(store, account, &sale_id).await.map_err(retry)?;
    }
    if let Readiness::Ready {
        fulfillment_id,
        lines,
        at,
    } = state
    {
        events.push(fulfillment_ready(
            account.as_str(),
            sale,
            &fulfillment_id,
            lines,
            &at,
        ));
        work.ready.insert(key);
    }
    Ok(())
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
