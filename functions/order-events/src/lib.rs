//! `order-events`: publishes replenishment order lifecycle events to EventBridge, from the table's
//! DynamoDB stream (`NEW_AND_OLD_IMAGES`).
//!
//! Each stream record of an order item (sort key `ORDER#...`) becomes zero or more events
//! ([`events_for_record`], a pure function), put on the bus `EVENT_BUS_NAME` with source
//! [`SOURCE`]:
//!
//! | detail type             | when |
//! |-------------------------|------|
//! | `ReplenishmentOpened`   | `INSERT` of an order whose `status` is `open` |
//! | `ReplenishmentClosed`   | `MODIFY` with old `status` `open` and new `status` `closed` |
//! | `ReplenishmentReceived` | `MODIFY` with new `receipt_status` `received` and old not (absent = `not_received`) |
//!
//! Anything else (`REMOVE`, other items, a change of quantity only) publishes nothing. The detail
//! ([`EventDetail`]) carries the new image's values.
//!
//! # Delivery: at least once, with a stable id to deduplicate on
//!
//! Every event's `event_id` is `{stream record eventID}:{detail type}`. The stream redelivers a
//! record with the same `eventID`, so a repeated event always carries the same `event_id`: a
//! consumer that must act once per change deduplicates on it.
//!
//! Records are published in stream order, at most [`MAX_ENTRIES_PER_REQUEST`] entries (and
//! [`MAX_REQUEST_BYTES`]) per `PutEvents`. Entries EventBridge refuses (`FailedEntryCount`, an
//! `ErrorCode` per entry) are sent again a few times within the invocation; if some still fail,
//! publishing stops and the response's `batchItemFailures` holds the `SequenceNumber` of the first
//! record with an unpublished event (`ReportBatchItemFailures`): Lambda then retries from that
//! record on, so nothing is lost, and nothing after it is sent in this invocation. What can repeat:
//! events of that record and of later records in the same `PutEvents` request that did go through,
//! and every event published before a crash or timeout of the invocation (Lambda retries the whole
//! batch then). They repeat with the same `event_id`.
//!
//! A malformed record (not a stream record, an order image missing or with a wrong attribute) would
//! fail the same way forever and block its shard: it is logged at error level with its `eventID`
//! and skipped.

use std::collections::HashMap;
use std::ops::Range;
use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::dynamodb::EventRecord;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use backorder::config::ConfigError;
use backorder::domain::{OrderStatus, ReceiptStatus, AUTO_BACKORDER_TAG};
use backorder::store::items::{
    ORDER_PREFIX, PK, QUANTITY, RECEIPT_STATUS, RECEIVED, RID, SK, SKU_ATTR, STATUS, TAGS,
    UPDATED_AT, VENDOR_ID,
};
use lambda_runtime::Diagnostic;
use serde::{Deserialize, Serialize};
use serde_dynamo::AttributeValue;
use serde_json::Value;

/// The `source` of every event.
pub const SOURCE: &str = "backorder";
/// `PutEvents` takes at most 10 entries per request.
pub const MAX_ENTRIES_PER_REQUEST: usize = 10;
/// `PutEvents` takes at most 256 KB of entries per request (see [`entry_size`]).
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// The kinds of event, by their EventBridge `detail-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DetailType {
    ReplenishmentOpened,
    ReplenishmentClosed,
    ReplenishmentReceived,
}

impl DetailType {
    pub fn as_str(self) -> &'static str {
        match self {
            DetailType::ReplenishmentOpened => "ReplenishmentOpened",
            DetailType::ReplenishmentClosed => "ReplenishmentClosed",
            DetailType::ReplenishmentReceived => "ReplenishmentReceived",
        }
    }
}

/// The `detail` of every event: the order as the change left it (the new image's values).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventDetail {
    /// `{stream record eventID}:{detail type}`: the same for every delivery of the same change, so
    /// consumers deduplicate on it (events are delivered at least once).
    pub event_id: String,
    pub account_id: String,
    pub replenishment_id: String,
    pub sku: String,
    /// `null` when the order has no vendor.
    pub vendor_id: Option<String>,
    pub quantity: i64,
    /// Units received so far (0 when the item has no `received`).
    pub received: i64,
    /// Raised automatically by sales (tagged `auto_backorder`), not a regular order.
    pub auto_backorder: bool,
    /// `open` or `closed`.
    pub status: String,
    /// `not_received`, `partially_received` or `received`.
    pub receipt_status: String,
    /// The order's `updated_at` after the change.
    pub at: String,
}

/// One event to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderEvent {
    pub detail_type: DetailType,
    pub detail: EventDetail,
}

impl OrderEvent {
    /// The `PutEvents` entry for the bus `bus`.
    pub fn entry(&self, bus: &str) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .event_bus_name(bus)
            .source(SOURCE)
            .detail_type(self.detail_type.as_str())
            .detail(self.detail_json())
            .build()
    }

    pub fn detail_json(&self) -> String {
        // A struct of strings, integers and a bool: serializing it cannot fail.
        serde_json::to_string(&self.detail).unwrap_or_default()
    }
}

/// Why a stream record cannot be read; the record is skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

fn malformed(problem: impl Into<String>) -> Malformed {
    Malformed(problem.into())
}

/// Reads attributes of one stream image, naming the image in errors (never the values).
struct Image<'a> {
    name: &'static str,
    item: &'a HashMap<String, AttributeValue>,
}

impl<'a> Image<'a> {
    fn opt_str(&self, attr: &str) -> Result<Option<&'a str>, Malformed> {
        match self.item.get(attr) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v.as_str())),
            Some(_) => Err(malformed(format!("{}.{attr} is not a string", self.name))),
        }
    }

    fn str(&self, attr: &str) -> Result<&'a str, Malformed> {
        self.opt_str(attr)?
            .ok_or_else(|| malformed(format!("{}.{attr} is missing", self.name)))
    }

    fn opt_int(&self, attr: &str) -> Result<Option<i64>, Malformed> {
        match self.item.get(attr) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) => v
                .parse()
                .map(Some)
                .map_err(|_| malformed(format!("{}.{attr} is not an integer", self.name))),
            Some(_) => Err(malformed(format!("{}.{attr} is not a number", self.name))),
        }
    }

    fn int(&self, attr: &str) -> Result<i64, Malformed> {
        self.opt_int(attr)?
            .ok_or_else(|| malformed(format!("{}.{attr} is missing", self.name)))
    }

    fn str_list(&self, attr: &str) -> Result<Vec<&'a str>, Malformed> {
        match self.item.get(attr) {
            None | Some(AttributeValue::Null(_)) => Ok(Vec::new()),
            Some(AttributeValue::L(items)) => items
                .iter()
                .map(|v| match v {
                    AttributeValue::S(s) => Ok(s.as_str()),
                    _ => Err(malformed(format!(
                        "{}.{attr} holds a non-string",
                        self.name
                    ))),
                })
                .collect(),
            Some(_) => Err(malformed(format!("{}.{attr} is not a list", self.name))),
        }
    }

    fn status(&self) -> Result<OrderStatus, Malformed> {
        let raw = self.str(STATUS)?;
        OrderStatus::parse(raw)
            .ok_or_else(|| malformed(format!("{}.{STATUS} is not open or closed", self.name)))
    }

    /// `receipt_status`, absent meaning `not_received`.
    fn receipt_status(&self) -> Result<ReceiptStatus, Malformed> {
        match self.opt_str(RECEIPT_STATUS)? {
            None => Ok(ReceiptStatus::NotReceived),
            Some(raw) => ReceiptStatus::parse(raw).ok_or_else(|| {
                malformed(format!(
                    "{}.{RECEIPT_STATUS} is not a known status",
                    self.name
                ))
            }),
        }
    }
}

/// The order as an image shows it: everything an event's detail needs.
struct OrderImage {
    account_id: String,
    replenishment_id: String,
    sku: String,
    vendor_id: Option<String>,
    quantity: i64,
    received: i64,
    auto_backorder: bool,
    status: OrderStatus,
    receipt_status: ReceiptStatus,
    updated_at: String,
}

/// The image, unless the record has none (an absent image deserializes as an empty item).
fn image<'a>(name: &'static str, item: &'a serde_dynamo::Item) -> Option<Image<'a>> {
    (!item.is_empty()).then_some(Image {
        name,
        item: item.inner(),
    })
}

fn order_image(image: &Image<'_>, rid: &str) -> Result<OrderImage, Malformed> {
    // `rid` repeats the sort key's id; when present it must agree.
    if let Some(stored) = image.opt_str(RID)? {
        if stored != rid {
            return Err(malformed(format!(
                "{}.{RID} differs from the sort key",
                image.name
            )));
        }
    }
    Ok(OrderImage {
        account_id: image.str(PK)?.to_owned(),
        replenishment_id: rid.to_owned(),
        sku: image.str(SKU_ATTR)?.to_owned(),
        vendor_id: image.opt_str(VENDOR_ID)?.map(str::to_owned),
        quantity: image.int(QUANTITY)?,
        received: image.opt_int(RECEIVED)?.unwrap_or(0),
        auto_backorder: image.str_list(TAGS)?.contains(&AUTO_BACKORDER_TAG),
        status: image.status()?,
        receipt_status: image.receipt_status()?,
        updated_at: image.str(UPDATED_AT)?.to_owned(),
    })
}

/// The sort key of the record's item: from `Keys`, else from an image.
fn sort_key(record: &EventRecord) -> Result<&str, Malformed> {
    let change = &record.change;
    for (name, item) in [
        ("Keys", &change.keys),
        ("NewImage", &change.new_image),
        ("OldImage", &change.old_image),
    ] {
        if let Some(img) = image(name, item) {
            if let Some(sk) = img.opt_str(SK)? {
                return Ok(sk);
            }
        }
    }
    Err(malformed("the record has no sort key"))
}

/// The events a stream record stands for: pure, no I/O. `Ok(vec![])` for a record that publishes
/// nothing (not an order, a `REMOVE`, a change that is not a transition); `Err` for a record of
/// an order item that cannot be read (its caller logs and skips it).
pub fn events_for_record(record: &EventRecord) -> Result<Vec<OrderEvent>, Malformed> {
    let Some(rid) = sort_key(record)?.strip_prefix(ORDER_PREFIX) else {
        return Ok(Vec::new());
    };
    if rid.is_empty() {
        return Err(malformed("the sort key names no order"));
    }
    if record.event_id.is_empty() {
        return Err(malformed("the record has no eventID"));
    }
    let change = &record.change;
    let new_image = || -> Result<OrderImage, Malformed> {
        let img = image("NewImage", &change.new_image)
            .ok_or_else(|| malformed("NewImage is missing (is the stream NEW_AND_OLD_IMAGES?)"))?;
        order_image(&img, rid)
    };
    let (order, kinds) = match record.event_name.as_str() {
        "REMOVE" => return Ok(Vec::new()),
        "INSERT" => {
            let new = new_image()?;
            let opened =
                (new.status == OrderStatus::Open).then_some(DetailType::ReplenishmentOpened);
            (new, opened.into_iter().collect::<Vec<_>>())
        }
        "MODIFY" => {
            let new = new_image()?;
            let old = image("OldImage", &change.old_image).ok_or_else(|| {
                malformed("OldImage is missing (is the stream NEW_AND_OLD_IMAGES?)")
            })?;
            let (old_status, old_receipt) = (old.status()?, old.receipt_status()?);
            let mut kinds = Vec::new();
            if old_status == OrderStatus::Open && new.status == OrderStatus::Closed {
                kinds.push(DetailType::ReplenishmentClosed);
            }
            if new.receipt_status == ReceiptStatus::Received
                && old_receipt != ReceiptStatus::Received
            {
                kinds.push(DetailType::ReplenishmentReceived);
            }
            (new, kinds)
        }
        _ => return Err(malformed("eventName is not INSERT, MODIFY or REMOVE")),
    };
    Ok(kinds
        .into_iter()
        .map(|detail_type| OrderEvent {
            detail_type,
            detail: EventDetail {
                event_id: format!("{}:{}", record.event_id, detail_type.as_str()),
                account_id: order.account_id.clone(),
                replenishment_id: order.replenishment_id.clone(),
                sku: order.sku.clone(),
                vendor_id: order.vendor_id.clone(),
                quantity: order.quantity,
                received: order.received,
                auto_backorder: order.auto_backorder,
                status: order.status.as_str().to_owned(),
                receipt_status: order.receipt_status.as_str().to_owned(),
                at: order.updated_at.clone(),
            },
        })
        .collect())
}

/// The size EventBridge counts for an entry against [`MAX_REQUEST_BYTES`]: the UTF-8 bytes of its
/// source, detail type and detail (the bus name too, to be safe; no time or resources are set).
pub fn entry_size(bus: &str, event: &OrderEvent) -> usize {
    SOURCE.len() + event.detail_type.as_str().len() + event.detail_json().len() + bus.len()
}

/// Splits entries of these sizes, in order, into `PutEvents` requests of at most
/// [`MAX_ENTRIES_PER_REQUEST`] entries and [`MAX_REQUEST_BYTES`] bytes (an entry is never larger
/// than that: [`handle`] skips the record of one that would be).
pub fn requests(sizes: &[usize]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, size) in sizes.iter().enumerate() {
        if i > start && (i - start == MAX_ENTRIES_PER_REQUEST || bytes + size > MAX_REQUEST_BYTES) {
            out.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

/// The function's settings, read once at init.
#[derive(Debug, Clone)]
pub struct Config {
    /// `EVENT_BUS_NAME`: the bus events are put on (a name or ARN).
    pub event_bus_name: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let bus = std::env::var("EVENT_BUS_NAME")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .ok_or(ConfigError::Missing("EVENT_BUS_NAME"))?;
        Ok(Config {
            event_bus_name: bus,
        })
    }
}

/// The EventBridge client, built once per process: the shared AWS configuration (region,
/// credentials, `AWS_ENDPOINT_URL_EVENTBRIDGE`), HTTPS client, timeouts and SDK retries.
pub async fn eventbridge_client() -> Result<aws_sdk_eventbridge::Client, ConfigError> {
    Ok(aws_sdk_eventbridge::Client::new(
        &backorder::config::aws_config().await?,
    ))
}

/// Puts events on one bus, sending entries EventBridge refused again a few times.
pub struct Publisher {
    client: aws_sdk_eventbridge::Client,
    bus: String,
    /// `PutEvents` calls per request, the first included, before its failed entries are given up.
    pub attempts: u32,
    /// Backoff before the second call; doubled each time, with full jitter.
    pub backoff: Duration,
    /// No `PutEvents` call starts with less than this left before the invocation's deadline (an
    /// operation takes at most 6 s with the SDK's retries): its records are reported failed
    /// instead, so a timeout does not make Lambda retry the whole batch.
    pub deadline_margin: Duration,
}

impl Publisher {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> Self {
        Publisher {
            client,
            bus: bus.into(),
            attempts: 3,
            backoff: Duration::from_millis(100),
            deadline_margin: Duration::from_secs(7),
        }
    }

    pub fn bus(&self) -> &str {
        &self.bus
    }

    /// Puts `entries` (one request's worth). `Err(i)`: entry `i` (the first of those still failed
    /// after every attempt) and maybe others were not published.
    async fn put(&self, entries: &[PutEventsRequestEntry], deadline: Instant) -> Result<(), usize> {
        let mut pending: Vec<usize> = (0..entries.len()).collect();
        for attempt in 0..self.attempts.max(1) {
            if attempt > 0 {
                let cap = self.backoff.saturating_mul(1 << (attempt - 1).min(10));
                tokio::time::sleep(cap.mul_f64(fastrand::f64())).await;
            }
            if Instant::now() + self.deadline_margin > deadline {
                break;
            }
            let sent: Vec<PutEventsRequestEntry> =
                pending.iter().map(|&i| entries[i].clone()).collect();
            match self
                .client
                .put_events()
                .set_entries(Some(sent))
                .send()
                .await
            {
                Err(e) => {
                    tracing::warn!(
                        attempt,
                        entries = pending.len(),
                        error = %aws_sdk_eventbridge::error::DisplayErrorContext(&e),
                        "PutEvents failed"
                    );
                }
                Ok(out) => {
                    let results = out.entries();
                    if out.failed_entry_count() == 0 {
                        return Ok(());
                    }
                    let failed: Vec<usize> = if results.len() == pending.len() {
                        pending
                            .iter()
                            .zip(results)
                            .filter(|(_, r)| r.error_code().is_some())
                            .map(|(&i, _)| i)
                            .collect()
                    } else {
                        Vec::new()
                    };
                    // A count without entries to match it: which ones failed is unknown.
                    let failed = if failed.is_empty() {
                        pending.clone()
                    } else {
                        failed
                    };
                    let codes: Vec<&str> = results.iter().filter_map(|r| r.error_code()).collect();
                    tracing::warn!(
                        attempt,
                        failed = failed.len(),
                        of = pending.len(),
                        error_codes = ?codes,
                        "PutEvents refused entries"
                    );
                    pending = failed;
                }
            }
        }
        Err(pending.first().copied().unwrap_or(0))
    }
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
    /// The `SequenceNumber` reported in `batchItemFailures`, if any.
    pub failed_sequence_number: Option<String>,
}

/// A DynamoDB stream batch: publishes its events and answers which record Lambda must retry from.
/// `deadline` is the invocation's.
pub async fn handle(
    publisher: &Publisher,
    event: Value,
    deadline: Instant,
) -> Result<DynamoDbEventResponse, InvokeError> {
    let (response, _) = handle_with_outcome(publisher, event, deadline).await?;
    Ok(response)
}

/// [`handle`], also returning what it did.
pub async fn handle_with_outcome(
    publisher: &Publisher,
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
    for raw in records {
        let event_id = raw
            .get("eventID")
            .and_then(Value::as_str)
            .unwrap_or("<none>");
        let events = serde_json::from_value::<EventRecord>(raw.clone())
            .map_err(|e| malformed(format!("not a DynamoDB stream record: {e}")))
            .and_then(|record| {
                let events = events_for_record(&record)?;
                if events
                    .iter()
                    .any(|e| entry_size(bus, e) > MAX_REQUEST_BYTES)
                {
                    return Err(malformed("an event is larger than PutEvents accepts"));
                }
                Ok((record, events))
            });
        match events {
            Err(problem) => {
                tracing::error!(event_id, %problem, "malformed stream record skipped");
                outcome.skipped += 1;
            }
            Ok((_, events)) if events.is_empty() => outcome.without_events += 1,
            Ok((record, events)) => pending.push(Pending {
                event_id: record.event_id,
                sequence_number: record.change.sequence_number,
                events,
            }),
        }
    }

    // Entries in stream order, each with the index of its record in `pending`.
    let (owners, (entries, sizes)): (Vec<usize>, (Vec<_>, Vec<_>)) = pending
        .iter()
        .enumerate()
        .flat_map(|(r, p)| {
            p.events
                .iter()
                .map(move |e| (r, (e.entry(bus), entry_size(bus, e))))
        })
        .unzip();
    let mut failed_record = None;
    for range in requests(&sizes) {
        match publisher.put(&entries[range.clone()], deadline).await {
            Ok(()) => outcome.events_published += range.len(),
            Err(i) => {
                failed_record = Some(owners[range.start + i]);
                break;
            }
        }
    }

    let mut response = DynamoDbEventResponse::default();
    if let Some(r) = failed_record {
        let record = &pending[r];
        let Some(seq) = record.sequence_number.clone() else {
            return Err(InvokeError::Internal(format!(
                "events of record {} were not published and it has no SequenceNumber to retry from",
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
        failed_event_id = failed_record.map(|r| pending[r].event_id.as_str()),
        failed_sequence_number = outcome.failed_sequence_number.as_deref(),
        "stream batch"
    );
    Ok((response, outcome))
}

/// The deadline of an invocation, as an `Instant`.
pub fn deadline_instant(deadline: SystemTime) -> Instant {
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    Instant::now() + left
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order(status: &str, extra: Value) -> Value {
        let mut image = json!({
            "pk": {"S": "acct-1"},
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
            "Keys": {"pk": {"S": "acct-1"}, "sk": {"S": "ORDER#01RID"}},
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
        assert!(!events[0].detail.auto_backorder);
        assert_eq!(events[0].detail.vendor_id, None);
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
        assert_eq!(events[0].detail.event_id, "ev-1:ReplenishmentClosed");
        assert_eq!(events[0].detail.status, "closed");
        assert_eq!(events[0].detail.at, "2026-11-29T12:00:00.000Z");
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
            assert_eq!(events[0].detail.received, 3);
            assert_eq!(events[0].detail.receipt_status, "received");
            assert_eq!(events[0].detail.event_id, "ev-1:ReplenishmentReceived");
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
                json!({"pk": {"S": "acct-1"}, "sk": {"S": "SKU#CHAIR-1"}, "on_hand": {"N": "-3"}}),
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
    fn requests_hold_at_most_ten_entries_and_256_kb() {
        assert_eq!(requests(&[]), Vec::<Range<usize>>::new());
        assert_eq!(requests(&[100; 3]), vec![0..3]);
        assert_eq!(requests(&[100; 10]), vec![0..10]);
        assert_eq!(requests(&[100; 23]), vec![0..10, 10..20, 20..23]);
        let big = 100 * 1024;
        assert_eq!(requests(&[big, big, big, 10]), vec![0..2, 2..4]);
        assert_eq!(
            requests(&[MAX_REQUEST_BYTES, 1, MAX_REQUEST_BYTES]),
            vec![0..1, 1..2, 2..3]
        );
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
        assert_eq!(detail, events[0].detail);
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
