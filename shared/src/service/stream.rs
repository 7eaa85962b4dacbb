//! What a change in the table's stream stands for: the order events it publishes (pure), and the
//! release work it asks for (`order-events` runs both for every record, in stream order).
//!
//! - A closed order whose `received` or `cancels` changed, and a contribution written (it may be
//!   one a receipt held units back for), settle their order ([`super::settle_order`]): its stored
//!   releases are brought up to the rule, finishing what a crashed receipt or cancellation left.
//! - A contribution whose `released` reached its `units` may have made its sale ready: if every
//!   back-ordered line of the sale has all its units, `FulfillmentReady`, whose `event_id` is the
//!   sale's own. A sale still being finalized is flagged (`ready_check`) instead of waited for, so
//!   nothing holds up the shard: its completion's record, which the flag lets through the stream
//!   filter, asks again.

use std::collections::HashSet;

use crate::domain::{OrderStatus, Replenishment, SaleStatus};
use crate::error::StoreError;
use crate::events::{fulfillment_ready, order_events, OrderChange, OrderEvent};
use crate::ids::{AccountId, ReplenishmentId, SaleId};
use crate::store::codec::{self, Reader};
use crate::store::layout::{self, Item};
use crate::store::Store;

use super::{readiness, settle_order, Readiness};

/// What happened to an item, as the stream's `eventName` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Insert,
    Modify,
    Remove,
}

/// One stream record of the table: the item's sort key and its images (`NEW_AND_OLD_IMAGES`).
#[derive(Debug, Clone)]
pub struct ItemChange {
    /// The record's `eventID` (the same on every redelivery of the record).
    pub event_id: String,
    pub kind: ChangeKind,
    pub sort_key: String,
    pub new: Option<Item>,
    pub old: Option<Item>,
}

impl ItemChange {
    /// A stream record's change: `event_name` is `INSERT`, `MODIFY` or `REMOVE`; the sort key is
    /// read from the first of `keys`, `new`, `old` that has one (images absent as `None`).
    pub fn decode(
        event_id: &str,
        event_name: &str,
        keys: Option<Item>,
        new: Option<Item>,
        old: Option<Item>,
    ) -> Result<Self, Malformed> {
        let kind = match event_name {
            "INSERT" => ChangeKind::Insert,
            "MODIFY" => ChangeKind::Modify,
            "REMOVE" => ChangeKind::Remove,
            _ => return Err(malformed("eventName is not INSERT, MODIFY or REMOVE")),
        };
        Ok(ItemChange {
            event_id: event_id.to_owned(),
            kind,
            sort_key: sort_key([&keys, &new, &old])?,
            new,
            old,
        })
    }
}

/// The sort key of the first image that has one.
pub fn sort_key(images: [&Option<Item>; 3]) -> Result<String, Malformed> {
    for img in images.into_iter().flatten() {
        if let Some(sk) = Reader::new(img)
            .opt_str(layout::SK)
            .map_err(|_| malformed("the sort key is not a string"))?
        {
            return Ok(sk.to_owned());
        }
    }
    Err(malformed("the record has no sort key"))
}

/// Why a record cannot be read (it would fail the same way forever: logged and skipped).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

fn malformed(problem: impl Into<String>) -> Malformed {
    Malformed(problem.into())
}

/// An order image through the store's codec; errors name the image and the problem, never values.
fn order_image(name: &str, item: Option<&Item>) -> Result<(String, Replenishment), Malformed> {
    let item = item.ok_or_else(|| {
        malformed(format!(
            "{name} is missing (is the stream NEW_AND_OLD_IMAGES?)"
        ))
    })?;
    let problem = |e: StoreError| match e {
        StoreError::Malformed { problem, .. } => malformed(format!("{name}: {problem}")),
        other => malformed(format!("{name}: {other}")),
    };
    let account = codec::account_of(item).map_err(problem)?;
    let order = codec::order_from_item(item).map_err(problem)?;
    Ok((account.into_string(), order))
}

/// The order events a change stands for: pure, no I/O. `Ok(vec![])` for a change that publishes
/// nothing (not an order, a removal, a change that is not a transition); `Err` for a change of an
/// order item that cannot be read.
pub fn events_of(change: &ItemChange) -> Result<Vec<OrderEvent>, Malformed> {
    let Some(rid) = layout::rid_of_order_sort_key(&change.sort_key) else {
        return Ok(Vec::new());
    };
    if rid.is_empty() {
        return Err(malformed("the sort key names no order"));
    }
    if change.event_id.is_empty() {
        return Err(malformed("the record has no eventID"));
    }
    let (account, order_change) = match change.kind {
        ChangeKind::Remove => return Ok(Vec::new()),
        ChangeKind::Insert => {
            let (account, new) = order_image("NewImage", change.new.as_ref())?;
            (account, OrderChange::Inserted(new))
        }
        ChangeKind::Modify => {
            let (account, new) = order_image("NewImage", change.new.as_ref())?;
            let (_, old) = order_image("OldImage", change.old.as_ref())?;
            (account, OrderChange::Modified { old, new })
        }
    };
    Ok(order_events(&change.event_id, &account, &order_change))
}

/// Why a record's work did not finish.
#[derive(Debug)]
pub enum Unfinished {
    /// It cannot be read: logged and skipped.
    Malformed(Malformed),
    /// Try again (Lambda retries from this record).
    Retry(String),
}

impl From<Malformed> for Unfinished {
    fn from(m: Malformed) -> Self {
        Unfinished::Malformed(m)
    }
}

impl From<StoreError> for Unfinished {
    fn from(e: StoreError) -> Self {
        Unfinished::Retry(e.to_string())
    }
}

/// A batch's release work: each order is settled once per batch (after its first record, every
/// later record's change is already in the table), each sale found ready once.
#[derive(Debug, Default)]
pub struct ReleaseWork {
    settled: HashSet<(String, String)>,
    raised: usize,
    /// (account, sale): sale ids are unique within an account only.
    ready: HashSet<(String, String)>,
}

impl ReleaseWork {
    /// Orders settled so far.
    pub fn orders_settled(&self) -> usize {
        self.settled.len()
    }

    /// Contributions raised so far.
    pub fn releases_raised(&self) -> usize {
        self.raised
    }

    /// Sales found ready so far (`FulfillmentReady` events).
    pub fn sales_ready(&self) -> usize {
        self.ready.len()
    }

    /// The release work of one change ([`asks`]), and the `FulfillmentReady` events it found.
    pub async fn record(
        &mut self,
        store: &Store,
        change: &ItemChange,
    ) -> Result<Vec<OrderEvent>, Unfinished> {
        let Some(asks) = asks(change)? else {
            return Ok(Vec::new());
        };
        let mut events = Vec::new();
        if let Some(rid) = &asks.settle {
            if self
                .settled
                .insert((asks.account.to_string(), rid.to_string()))
            {
                self.raised += settle_order(store, &asks.account, rid).await?;
            }
        }
        if let Some(sale) = &asks.ready {
            self.ready_event(store, &asks.account, sale, &mut events)
                .await?;
        }
        Ok(events)
    }

    /// `FulfillmentReady` for a sale that may have become ready, once per batch. A sale still being
    /// finalized gets `ready_check`, so that its completion is looked at again; if it completed
    /// meanwhile (the flag's condition failed), it is asked about again now.
    async fn ready_event(
        &mut self,
        store: &Store,
        account: &AccountId,
        sale_id: &SaleId,
        events: &mut Vec<OrderEvent>,
    ) -> Result<(), Unfinished> {
        let key = (account.to_string(), sale_id.to_string());
        if self.ready.contains(&key) {
            return Ok(());
        }
        let mut state = readiness(store, account, sale_id).await?;
        if state == Readiness::Unsettled {
            if store.flag_ready_check(account, sale_id).await? {
                return Ok(());
            }
            state = readiness(store, account, sale_id).await?;
        }
        if let Readiness::Ready {
            fulfillment_id,
            lines,
            at,
        } = state
        {
            events.push(fulfillment_ready(
                account.as_str(),
                sale_id.as_str(),
                &fulfillment_id,
                lines,
                &at,
            ));
            self.ready.insert(key);
        }
        Ok(())
    }
}

/// What a change asks of the releases (see the module): settle an order, ask whether a sale is
/// ready, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asks {
    pub account: AccountId,
    pub settle: Option<ReplenishmentId>,
    pub ready: Option<SaleId>,
}

/// What a change asks of the releases: pure, no I/O. `None` for a change that asks nothing.
pub fn asks(change: &ItemChange) -> Result<Option<Asks>, Malformed> {
    if change.kind == ChangeKind::Remove {
        return Ok(None);
    }
    let new = change
        .new
        .as_ref()
        .ok_or_else(|| malformed("NewImage is missing"))?;
    let old = change.old.as_ref();
    let account = codec::account_of(new).map_err(|e| malformed(e.to_string()))?;
    let modified = change.kind == ChangeKind::Modify;
    let sale_id = |sale: &str| SaleId::parse(sale, "sale_id").map_err(|_| malformed("bad sale id"));
    if let Some(sale) = layout::sale_id_of_sort_key(&change.sort_key) {
        // A sale flagged while it was being finalized, now complete.
        let flagged = Reader::new(new)
            .bool_or(layout::READY_CHECK, false)
            .unwrap_or(false);
        let completed = text(new, layout::STATUS) == Some(SaleStatus::Finalized.as_str());
        if !(modified && flagged && completed) {
            return Ok(None);
        }
        return Ok(Some(Asks {
            account,
            settle: None,
            ready: Some(sale_id(sale)?),
        }));
    }
    let (rid, sale) = if let Some(rid) = layout::rid_of_order_sort_key(&change.sort_key) {
        (rid, None)
    } else if let Some((rid, sale)) = layout::contribution_of_sort_key(&change.sort_key) {
        (rid, Some(sale))
    } else {
        return Ok(None);
    };
    let settle = match sale {
        None => {
            let closed = text(new, layout::STATUS) == Some(OrderStatus::Closed.as_str());
            let changed = [layout::RECEIVED, layout::CANCELS]
                .iter()
                .any(|a| num(Some(new), a) != num(old, a));
            closed && num(Some(new), layout::RECEIVED) > 0 && changed
        }
        Some(_) => change.kind == ChangeKind::Insert,
    };
    // A contribution whose `released` reached its `units` with this change.
    let reached = |img: Option<&Item>| {
        img.is_some_and(|i| {
            text(i, layout::CANCELLED_AT).is_none()
                && num(Some(i), layout::RELEASED) >= num(Some(i), layout::UNITS)
        })
    };
    let ready = match sale {
        Some(sale) if modified && reached(Some(new)) && !reached(old) => Some(sale_id(sale)?),
        _ => None,
    };
    let settle = if settle {
        Some(
            ReplenishmentId::parse(rid, "replenishment_id")
                .map_err(|_| malformed("bad order id"))?,
        )
    } else {
        None
    };
    Ok((settle.is_some() || ready.is_some()).then_some(Asks {
        account,
        settle,
        ready,
    }))
}

/// A number attribute of an image (absent, unreadable or no image: 0).
fn num(img: Option<&Item>, attr: &str) -> i64 {
    img.and_then(|i| Reader::new(i).opt_i64(attr).ok().flatten())
        .unwrap_or(0)
}

/// A string attribute of an image, if present and a string.
fn text<'a>(img: &'a Item, attr: &str) -> Option<&'a str> {
    Reader::new(img).opt_str(attr).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    fn item(attrs: &[(&str, AttributeValue)]) -> Item {
        let mut item: Item = attrs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        item.insert(layout::PK.to_owned(), AttributeValue::S("1:a#X".to_owned()));
        item
    }

    fn n(v: i64) -> AttributeValue {
        AttributeValue::N(v.to_string())
    }

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.to_owned())
    }

    const RID: &str = "01HZZZZZZZZZZZZZZZZZZZZZZZ";

    fn change(kind: ChangeKind, sk: &str, new: Item, old: Option<Item>) -> ItemChange {
        ItemChange {
            event_id: "e1".to_owned(),
            kind,
            sort_key: sk.to_owned(),
            new: Some(new),
            old,
        }
    }

    fn order(status: &str, received: i64, cancels: i64) -> Item {
        item(&[
            ("status", s(status)),
            ("received", n(received)),
            ("cancels", n(cancels)),
        ])
    }

    #[test]
    fn a_closed_order_settles_when_received_or_cancels_change() {
        let sk = format!("ORDER#{RID}");
        let settles = |new: Item, old: Item| {
            asks(&change(ChangeKind::Modify, &sk, new, Some(old)))
                .unwrap()
                .and_then(|a| a.settle)
                .map(|r| r.to_string())
        };
        assert_eq!(
            settles(order("closed", 2, 0), order("closed", 0, 0)),
            Some(RID.to_owned())
        );
        assert_eq!(
            settles(order("closed", 2, 1), order("closed", 2, 0)),
            Some(RID.to_owned())
        );
        // Nothing received yet, nothing changed, or still open: nothing to settle.
        assert_eq!(settles(order("closed", 0, 1), order("closed", 0, 0)), None);
        assert_eq!(settles(order("closed", 2, 0), order("closed", 2, 0)), None);
        assert_eq!(settles(order("open", 2, 0), order("open", 0, 0)), None);
    }

    #[test]
    fn a_contribution_settles_when_written_and_asks_readiness_when_it_reaches_its_units() {
        let sk = format!("CONTRIB#{RID}#S-1");
        let contribution =
            |units: i64, released: i64| item(&[("units", n(units)), ("released", n(released))]);
        let inserted = asks(&change(ChangeKind::Insert, &sk, contribution(3, 0), None))
            .unwrap()
            .unwrap();
        assert_eq!(inserted.settle.map(|r| r.to_string()), Some(RID.to_owned()));
        assert_eq!(inserted.ready, None);
        let reached = asks(&change(
            ChangeKind::Modify,
            &sk,
            contribution(3, 3),
            Some(contribution(3, 1)),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(reached.ready.map(|s| s.to_string()), Some("S-1".to_owned()));
        assert_eq!(reached.settle, None);
        // Raised but not all its units, or already there before: no question.
        for (new, old) in [
            (contribution(3, 2), contribution(3, 1)),
            (contribution(3, 3), contribution(3, 3)),
        ] {
            assert_eq!(
                asks(&change(ChangeKind::Modify, &sk, new, Some(old))).unwrap(),
                None
            );
        }
        // A cancelled contribution is never ready.
        let mut cancelled = contribution(3, 3);
        cancelled.insert("cancelled_at".to_owned(), s("2026-12-06T00:00:00.000Z"));
        assert_eq!(
            asks(&change(
                ChangeKind::Modify,
                &sk,
                cancelled,
                Some(contribution(3, 1))
            ))
            .unwrap(),
            None
        );
    }

    #[test]
    fn a_flagged_sale_asks_again_once_finalized() {
        let flagged = |status: &str| {
            item(&[
                ("status", s(status)),
                ("ready_check", AttributeValue::Bool(true)),
            ])
        };
        let ask = |new: Item| {
            asks(&change(
                ChangeKind::Modify,
                "SALE#S-1",
                new,
                Some(flagged("finalizing")),
            ))
            .unwrap()
            .and_then(|a| a.ready)
            .map(|s| s.to_string())
        };
        assert_eq!(ask(flagged("finalized")), Some("S-1".to_owned()));
        assert_eq!(ask(flagged("finalizing")), None);
        assert_eq!(ask(item(&[("status", s("finalized"))])), None);
    }

    #[test]
    fn removals_and_other_items_ask_nothing_and_unreadable_changes_are_malformed() {
        let sku = item(&[("on_hand", n(-3))]);
        assert_eq!(
            asks(&change(ChangeKind::Insert, "SKU#A", sku.clone(), None)).unwrap(),
            None
        );
        assert_eq!(
            asks(&change(ChangeKind::Remove, "SALE#S", sku, None)).unwrap(),
            None
        );
        let mut no_new = change(
            ChangeKind::Insert,
            &format!("CONTRIB#{RID}#S"),
            Item::new(),
            None,
        );
        no_new.new = None;
        assert!(asks(&no_new).is_err());
    }

    #[test]
    fn decoding_takes_the_sort_key_from_the_first_image_that_has_one() {
        let keys = Some(item(&[("sk", s("SKU#A"))]));
        let c = ItemChange::decode("e", "MODIFY", None, keys.clone(), None).unwrap();
        assert_eq!((c.kind, c.sort_key.as_str()), (ChangeKind::Modify, "SKU#A"));
        assert!(ItemChange::decode("e", "UPSERT", keys, None, None).is_err());
        assert!(ItemChange::decode("e", "INSERT", None, None, None).is_err());
    }
}
