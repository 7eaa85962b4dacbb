//! The published event contract: which changes of an order are events, what they carry, and how
//! they are batched into `PutEvents` requests. Pure code; the publisher is [`publisher`], the
//! stream decoding and the handler are in the `order-events` function.
//!
//! | detail type             | when |
//! |-------------------------|------|
//! | `ReplenishmentOpened`   | an order is created open |
//! | `ReplenishmentClosed`   | an order goes from `open` to `closed` |
//! | `ReplenishmentReceived` | an order's `receipt_status` becomes `received` |
//! | `FulfillmentReady`      | a sale's `stock_status` becomes `ready`: the last of its back-ordered units were released to it |
//!
//! # Delivery: at least once, with a stable id to deduplicate on
//!
//! An order event's `event_id` is `{stream record eventID}:{detail type}`. The stream redelivers a
//! record with the same `eventID`, so a repeated event always carries the same `event_id`: a
//! consumer that must act once per change deduplicates on it. A sale becomes ready once, but more
//! than one record may see it happen (two lines completed at once): `FulfillmentReady`'s
//! `event_id` is the sale's own, `{len(account)}:{account}#SALE#{sale_id}:FulfillmentReady`, and its
//! detail is the same whoever publishes it.
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

pub mod publisher;

use std::ops::Range;

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde::{Deserialize, Serialize};

use crate::domain::{OrderStatus, ReceiptStatus, Replenishment};

pub use publisher::Publisher;

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
    FulfillmentReady,
}

impl DetailType {
    pub fn as_str(self) -> &'static str {
        match self {
            DetailType::ReplenishmentOpened => "ReplenishmentOpened",
            DetailType::ReplenishmentClosed => "ReplenishmentClosed",
            DetailType::ReplenishmentReceived => "ReplenishmentReceived",
            DetailType::FulfillmentReady => "FulfillmentReady",
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
    /// Units owed to the sales that fed the order (a regular order: the units ordered).
    pub quantity: i64,
    /// Units asked of the vendor: `quantity` in whole packs and at least the vendor's minimum,
    /// decided at close (`null` while an auto-back-order order is open).
    pub ordered_quantity: Option<i64>,
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

/// The `detail` of `FulfillmentReady`: a sale whose back-ordered units have all arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FulfillmentReadyDetail {
    /// The sale's own: the same for every delivery, and whichever record saw it become ready.
    pub event_id: String,
    pub account_id: String,
    pub sale_id: String,
    pub fulfillment_id: String,
    /// The lines that waited, with the units released to them (all they back-ordered).
    pub lines: Vec<ReadyLine>,
    /// When its last units were released.
    pub at: String,
}

/// A line of a sale that became ready.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyLine {
    pub sku: String,
    pub replenishment_id: String,
    pub units: i64,
}

/// What an event carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Detail {
    Order(EventDetail),
    FulfillmentReady(FulfillmentReadyDetail),
}

impl Detail {
    /// The order's detail, for an order event.
    pub fn order(&self) -> Option<&EventDetail> {
        match self {
            Detail::Order(d) => Some(d),
            Detail::FulfillmentReady(_) => None,
        }
    }
}

/// One event to publish (of an order, or of a sale for `FulfillmentReady`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderEvent {
    pub detail_type: DetailType,
    pub detail: Detail,
}

/// The stable `event_id` of a sale's `FulfillmentReady`.
pub fn fulfillment_ready_id(account: &str, sale_id: &str) -> String {
    format!(
        "{}:{account}#SALE#{sale_id}:{}",
        account.len(),
        DetailType::FulfillmentReady.as_str()
    )
}

/// The `FulfillmentReady` event of `account`'s sale.
pub fn fulfillment_ready(
    account: &str,
    sale_id: &str,
    fulfillment_id: &str,
    lines: Vec<ReadyLine>,
    at: &str,
) -> OrderEvent {
    OrderEvent {
        detail_type: DetailType::FulfillmentReady,
        detail: Detail::FulfillmentReady(FulfillmentReadyDetail {
            event_id: fulfillment_ready_id(account, sale_id),
            account_id: account.to_owned(),
            sale_id: sale_id.to_owned(),
            fulfillment_id: fulfillment_id.to_owned(),
            lines,
            at: at.to_owned(),
        }),
    }
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

/// One change of an order item, as the stream reports it.
// One per stream record, short-lived: boxing the images would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderChange {
    /// The order was created.
    Inserted(Replenishment),
    /// The order changed from `old` to `new`.
    Modified {
        old: Replenishment,
        new: Replenishment,
    },
}

/// Which events a change stands for (pure): an order created open is opened; `open -> closed` is
/// closed; a `receipt_status` reaching `received` is received. Anything else publishes nothing.
pub fn transitions(change: &OrderChange) -> Vec<DetailType> {
    match change {
        OrderChange::Inserted(new) => (new.status == OrderStatus::Open)
            .then_some(DetailType::ReplenishmentOpened)
            .into_iter()
            .collect(),
        OrderChange::Modified { old, new } => {
            let mut kinds = Vec::new();
            if old.status == OrderStatus::Open && new.status == OrderStatus::Closed {
                kinds.push(DetailType::ReplenishmentClosed);
            }
            if new.receipt_status == ReceiptStatus::Received
                && old.receipt_status != ReceiptStatus::Received
            {
                kinds.push(DetailType::ReplenishmentReceived);
            }
            kinds
        }
    }
}

/// The events of one change of `account`'s order, identified by `change_id` (the stream record's
/// `eventID`); the detail carries the order as the change left it.
pub fn order_events(change_id: &str, account: &str, change: &OrderChange) -> Vec<OrderEvent> {
    let order = match change {
        OrderChange::Inserted(new) | OrderChange::Modified { new, .. } => new,
    };
    transitions(change)
        .into_iter()
        .map(|detail_type| OrderEvent {
            detail_type,
            detail: Detail::Order(EventDetail {
                event_id: format!("{change_id}:{}", detail_type.as_str()),
                account_id: account.to_owned(),
                replenishment_id: order.replenishment_id.clone(),
                sku: order.sku.clone(),
                vendor_id: order.vendor_id.clone(),
                quantity: order.quantity,
                ordered_quantity: order.ordered_quantity,
                received: order.received,
                auto_backorder: order.is_auto_backorder(),
                status: order.status.as_str().to_owned(),
                receipt_status: order.receipt_status.as_str().to_owned(),
                at: order.updated_at.clone(),
            }),
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
