//! Conversions between DynamoDB items and the domain's types and the store's records, on the names
//! and keys of [`super::layout`]. A stream image (converted to the SDK's `AttributeValue` with
//! `serde_dynamo`) decodes through the same functions as a `GetItem` answer.

use aws_sdk_dynamodb::types::AttributeValue;

use super::layout::*;
use crate::domain::{
    BackorderPolicy, OrderStatus, ReceiptStatus, Replenishment, SaleStatus, SkuState,
    AUTO_BACKORDER_TAG,
};
use crate::error::StoreError;
use crate::ids::{AccountId, IdError, ReplenishmentId, SaleId, Sku, VendorId};

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Reads attributes of an item, naming the item in errors.
pub struct Reader<'a> {
    item: &'a Item,
}

impl<'a> Reader<'a> {
    pub fn new(item: &'a Item) -> Self {
        Reader { item }
    }

    pub fn malformed(&self, problem: String) -> StoreError {
        let key = match (self.item.get(PK), self.item.get(SK)) {
            (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => format!("{pk}/{sk}"),
            _ => "<no key>".to_owned(),
        };
        StoreError::Malformed { key, problem }
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<&'a str>, StoreError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v.as_str())),
            Some(_) => Err(self.malformed(format!("{name} is not a string"))),
        }
    }

    pub fn str(&self, name: &str) -> Result<&'a str, StoreError> {
        self.opt_str(name)?
            .ok_or_else(|| self.malformed(format!("{name} is missing")))
    }

    pub fn opt_i64(&self, name: &str) -> Result<Option<i64>, StoreError> {
        match self.item.get(name) {
            None => Ok(None),
            Some(AttributeValue::N(v)) => v
                .parse()
                .map(Some)
                .map_err(|_| self.malformed(format!("{name} is not an integer"))),
            Some(_) => Err(self.malformed(format!("{name} is not a number"))),
        }
    }

    pub fn i64(&self, name: &str) -> Result<i64, StoreError> {
        self.opt_i64(name)?
            .ok_or_else(|| self.malformed(format!("{name} is missing")))
    }

    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool, StoreError> {
        match self.item.get(name) {
            None => Ok(default),
            Some(AttributeValue::Bool(b)) => Ok(*b),
            Some(_) => Err(self.malformed(format!("{name} is not a boolean"))),
        }
    }

    pub fn str_list(&self, name: &str) -> Result<Vec<String>, StoreError> {
        match self.item.get(name) {
            None => Ok(Vec::new()),
            Some(AttributeValue::L(items)) => items
                .iter()
                .map(|v| match v {
                    AttributeValue::S(s) => Ok(s.clone()),
                    _ => Err(self.malformed(format!("{name} holds a non-string"))),
                })
                .collect(),
            Some(_) => Err(self.malformed(format!("{name} is not a list"))),
        }
    }

    pub fn id<T>(
        &self,
        name: &str,
        parse: impl FnOnce(String, &str) -> Result<T, IdError>,
    ) -> Result<T, StoreError> {
        let raw = self.str(name)?;
        parse(raw.to_owned(), name).map_err(|_| self.malformed(format!("{name} is not a valid id")))
    }

    pub fn opt_id<T>(
        &self,
        name: &str,
        parse: impl FnOnce(String, &str) -> Result<T, IdError>,
    ) -> Result<Option<T>, StoreError> {
        match self.opt_str(name)? {
            None => Ok(None),
            Some(_) => self.id(name, parse).map(Some),
        }
    }
}

/// A SKU item as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkuRecord {
    pub sku: Sku,
    pub state: SkuState,
    /// The open order whose item is known to exist (`made`).
    made: Option<String>,
    /// Sales being applied line by line hold markers on the item: the SKU is contended.
    pub in_flight: bool,
}

impl SkuRecord {
    /// The open order as the API shows it: once its item exists, so that a client can act on it
    /// (for the few milliseconds between a sale opening it and writing its item, none is shown).
    pub fn shown_open_order(&self) -> Option<&ReplenishmentId> {
        self.state
            .open_order
            .as_ref()
            .filter(|rid| self.made.as_deref() == Some(rid.as_str()))
    }
}

pub fn sku_from_item(sku: &Sku, item: &Item) -> Result<SkuRecord, StoreError> {
    let r = Reader::new(item);
    let policy = BackorderPolicy::parse(r.str(POLICY)?)
        .ok_or_else(|| r.malformed(format!("{POLICY} is not a known policy")))?;
    Ok(SkuRecord {
        sku: sku.clone(),
        state: SkuState {
            on_hand: r.i64(ON_HAND)?,
            version: u64::try_from(r.i64(VERSION)?).unwrap_or(0),
            policy,
            vendor_id: r.opt_id(VENDOR_ID, VendorId::parse)?,
            open_order: r.opt_id(OPEN_RID, ReplenishmentId::parse)?,
            pack_size: r.opt_i64(PACK_SIZE)?,
            backorder_limit: r.opt_i64(BACKORDER_LIMIT)?,
        },
        made: r.opt_str(ORDER_MADE)?.map(str::to_owned),
        in_flight: item.keys().any(|k| is_mark_attr(k)),
    })
}

/// A new open order: an auto-back-order one (raised by a sale) or a regular one.
pub struct NewOrder<'a> {
    pub account: &'a AccountId,
    pub rid: &'a ReplenishmentId,
    pub sku: &'a Sku,
    pub vendor_id: Option<&'a VendorId>,
    pub quantity: i64,
    pub now: &'a str,
    /// Raised by a sale: tagged, and listed for the scheduled close.
    pub auto: bool,
}

pub fn new_order_item(o: &NewOrder<'_>) -> Item {
    let mut item = order_key(o.account, o.rid);
    item.insert(RID.to_owned(), s(o.rid.as_str()));
    item.insert(SKU_ATTR.to_owned(), s(o.sku.as_str()));
    if let Some(v) = o.vendor_id {
        item.insert(VENDOR_ID.to_owned(), s(v.as_str()));
    }
    item.insert(QUANTITY.to_owned(), n(o.quantity));
    item.insert(STATUS.to_owned(), s(OrderStatus::Open.as_str()));
    let tags = if o.auto {
        vec![s(AUTO_BACKORDER_TAG)]
    } else {
        Vec::new()
    };
    item.insert(TAGS.to_owned(), AttributeValue::L(tags));
    item.insert(RECEIVED.to_owned(), n(0));
    item.insert(
        RECEIPT_STATUS.to_owned(),
        s(ReceiptStatus::NotReceived.as_str()),
    );
    item.insert(CREATED_AT.to_owned(), s(o.now));
    item.insert(UPDATED_AT.to_owned(), s(o.now));
    item.insert(
        GSI1PK.to_owned(),
        s(status_partition(o.account, OrderStatus::Open)),
    );
    item.insert(GSI2PK.to_owned(), s(sku_partition(o.account, o.sku)));
    if let Some(v) = o.vendor_id {
        item.insert(
            GSI3PK.to_owned(),
            s(vendor_partition(o.account, v.as_str())),
        );
    }
    item.insert(GSI4PK.to_owned(), s(orders_partition(o.account)));
    if o.auto {
        item.insert(OPEN_PK.to_owned(), s(open_partition(o.rid.as_str())));
        item.insert(OPEN_SK.to_owned(), s(open_sort_key(o.now, o.rid.as_str())));
    }
    item
}

/// The account an item belongs to (its partition key).
pub fn account_of(item: &Item) -> Result<AccountId, StoreError> {
    let r = Reader::new(item);
    parse_partition(r.str(PK)?)
        .and_then(|(account, _)| AccountId::parse(account, PK).ok())
        .ok_or_else(|| r.malformed(format!("{PK} names no valid account")))
}

/// An order item (a `GetItem` answer or a stream image) as the API shows the order.
pub fn order_from_item(item: &Item) -> Result<Replenishment, StoreError> {
    let r = Reader::new(item);
    let status_raw = r.str(STATUS)?;
    let status = OrderStatus::parse(status_raw).ok_or_else(|| StoreError::Malformed {
        key: r.str(SK).unwrap_or_default().to_owned(),
        problem: format!("{STATUS} is not a known order status"),
    })?;
    let quantity = r.i64(QUANTITY)?;
    let received = r.opt_i64(RECEIVED)?.unwrap_or(0);
    let tags = r.str_list(TAGS)?;
    let auto = tags.iter().any(|t| t == AUTO_BACKORDER_TAG);
    // Decided at close for an auto-back-order order; a regular order orders its quantity (and so
    // do orders closed before ordered quantities were kept).
    let ordered = match r.opt_i64(ORDERED_QUANTITY)? {
        Some(o) => Some(o),
        None if auto && status == OrderStatus::Open => None,
        None => Some(quantity),
    };
    // `rid` repeats the sort key's id: either may be read, and where both are present they agree.
    let from_key = r.opt_str(SK)?.and_then(rid_of_order_sort_key);
    let replenishment_id = match (r.opt_str(RID)?, from_key) {
        (Some(rid), Some(key)) if rid != key => {
            return Err(r.malformed(format!("{RID} differs from the sort key")))
        }
        (Some(rid), _) | (None, Some(rid)) if !rid.is_empty() => rid.to_owned(),
        _ => return Err(r.malformed(format!("{RID} is missing"))),
    };
    Ok(Replenishment {
        replenishment_id,
        sku: r.str(SKU_ATTR)?.to_owned(),
        vendor_id: r.opt_str(VENDOR_ID)?.map(str::to_owned),
        quantity,
        status,
        tags,
        received,
        receipt_status: match r.opt_str(RECEIPT_STATUS)? {
            Some(raw) => ReceiptStatus::parse(raw).ok_or_else(|| StoreError::Malformed {
                key: r.str(SK).unwrap_or_default().to_owned(),
                problem: format!("{RECEIPT_STATUS} is not a known receipt status"),
            })?,
            None => ReceiptStatus::of(ordered.unwrap_or(quantity), received),
        },
        created_at: r.str(CREATED_AT)?.to_owned(),
        updated_at: r.str(UPDATED_AT)?.to_owned(),
        closed_at: r.opt_str(CLOSED_AT)?.map(str::to_owned),
        expected_at: r.opt_str(EXPECTED_AT)?.map(str::to_owned),
        ordered_quantity: None,
        surplus: None,
    }
    .with_ordered(ordered))
}

/// A sale as stored.
#[derive(Debug, Clone)]
pub struct StoredSale {
    pub fingerprint: String,
    pub status: SaleStatus,
    /// The whole response, for a sale finalized in one transaction.
    pub result_json: Option<String>,
    /// For a sale in parts: how many parts, how many are applied, and what the response needs.
    pub parts: u32,
    pub done: u32,
    /// Lines per part of a sale in parts (absent on sales started before it was recorded).
    pub part_lines: Option<usize>,
    /// The SKUs a sale in parts cut into its first part.
    pub first_skus: Vec<String>,
    pub fulfillment_id: Option<String>,
    pub customer: Option<String>,
    pub channel: Option<String>,
    /// Parts of a cancellation applied (a cancellation has as many parts as the sale).
    pub cancel_done: u32,
    /// The cancellation's answer, for a sale finalized in one transaction.
    pub cancel_result: Option<String>,
    pub cancelled_at: Option<String>,
    pub created_at: Option<String>,
    /// A sale being applied line by line: its merged lines (JSON) and its applier's lease.
    pub applying: Option<Applying>,
}

/// What the record of a sale being applied line by line holds besides the common fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applying {
    pub lines_json: String,
    pub lease_until_ms: i64,
    /// The token of the applier holding the lease.
    pub lease: String,
}

impl StoredSale {
    pub fn finalized(&self) -> bool {
        self.status == SaleStatus::Finalized
    }
}

pub fn stored_sale(item: &Item) -> Result<StoredSale, StoreError> {
    let r = Reader::new(item);
    let parts = r.opt_i64(PARTS)?.unwrap_or(1);
    let done = r.opt_i64(DONE)?.unwrap_or(1);
    let status_raw = r.str(STATUS)?;
    let status = SaleStatus::parse(status_raw).ok_or_else(|| StoreError::Malformed {
        key: r.str(SK).unwrap_or_default().to_owned(),
        problem: format!("{STATUS} is not a known sale status"),
    })?;
    Ok(StoredSale {
        fingerprint: r.str(FINGERPRINT)?.to_owned(),
        status,
        result_json: r.opt_str(RESULT)?.map(str::to_owned),
        parts: u32::try_from(parts).unwrap_or(1),
        done: u32::try_from(done).unwrap_or(0),
        fulfillment_id: r.opt_str(FULFILLMENT_ID)?.map(str::to_owned),
        customer: r.opt_str(CUSTOMER)?.map(str::to_owned),
        channel: r.opt_str(CHANNEL)?.map(str::to_owned),
        cancel_done: u32::try_from(r.opt_i64(CANCEL_DONE)?.unwrap_or(0)).unwrap_or(0),
        part_lines: r.opt_i64(PART_LINES)?.and_then(|v| usize::try_from(v).ok()),
        first_skus: r.str_list(FIRST_SKUS)?,
        cancel_result: r.opt_str(CANCEL_RESULT)?.map(str::to_owned),
        cancelled_at: r.opt_str(CANCELLED_AT)?.map(str::to_owned),
        created_at: r.opt_str(CREATED_AT)?.map(str::to_owned),
        applying: match r.opt_str(REQUEST)? {
            Some(lines) => Some(Applying {
                lines_json: lines.to_owned(),
                lease_until_ms: r.i64(LEASE_UNTIL)?,
                lease: r.str(LEASE)?.to_owned(),
            }),
            None => None,
        },
    })
}

/// A stock adjustment made with an `adjustment_id`, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAdjustment {
    pub sku: String,
    pub delta: i64,
    pub on_hand_after: i64,
    pub open_rid: Option<String>,
}

/// What closing an order writes besides the order: its SKU's `open_rid` (auto-back-order orders
/// only).
#[derive(Debug, Clone)]
pub struct OrderRef {
    pub rid: ReplenishmentId,
    pub sku: Sku,
    /// An auto-back-order order, which its SKU points at while open.
    pub auto: bool,
    /// Its vendor, when known (an index entry does not carry it: its SKU's is used then).
    pub vendor: Option<VendorId>,
}

impl OrderRef {
    pub fn of(order: &Replenishment) -> Result<Self, StoreError> {
        let bad = |problem: &str| StoreError::Malformed {
            key: order_sk(&order.replenishment_id),
            problem: problem.to_owned(),
        };
        Ok(OrderRef {
            rid: ReplenishmentId::parse(order.replenishment_id.clone(), RID)
                .map_err(|_| bad("invalid order id"))?,
            sku: Sku::parse(order.sku.clone(), SKU_ATTR).map_err(|_| bad("invalid sku"))?,
            auto: order.is_auto_backorder(),
            vendor: order
                .vendor_id
                .as_deref()
                .and_then(|v| VendorId::parse(v, VENDOR_ID).ok()),
        })
    }
}

/// The account and order of an `open_by_age` index entry (which lists auto-back-order orders only).
pub fn open_index_entry(item: &Item) -> Result<(AccountId, OrderRef), StoreError> {
    let r = Reader::new(item);
    let bad = |problem: &str| StoreError::Malformed {
        key: r.str(SK).unwrap_or_default().to_owned(),
        problem: problem.to_owned(),
    };
    let account = parse_partition(r.str(PK)?)
        .and_then(|(account, _)| AccountId::parse(account, PK).ok())
        .ok_or_else(|| bad("bad account"))?;
    let rid = rid_of_order_sort_key(r.str(SK)?).ok_or_else(|| bad("not an order"))?;
    let rid = ReplenishmentId::parse(rid, RID).map_err(|_| bad("bad order id"))?;
    let sku = Sku::parse(r.str(SKU_ATTR)?, SKU_ATTR).map_err(|_| bad("bad sku"))?;
    Ok((
        account,
        OrderRef {
            rid,
            sku,
            auto: true,
            vendor: None,
        },
    ))
}

/// A contribution item.
pub fn contribution_from_item(item: &Item) -> Result<Contribution, StoreError> {
    let r = Reader::new(item);
    Ok(Contribution {
        sale_id: r.str(SALE_ID)?.to_owned(),
        units: r.i64(UNITS)?,
        released: r.opt_i64(RELEASED)?.unwrap_or(0),
        at: r.str(CREATED_AT)?.to_owned(),
        taken_back: r.opt_i64(TAKEN_BACK)?,
        cancelled_at: r.opt_str(CANCELLED_AT)?.map(str::to_owned),
        pos: r.opt_i64(POS)?,
        released_at: r.opt_str(RELEASED_AT)?.map(str::to_owned),
    })
}

/// What a sale's line put into an order.
#[derive(Debug, Clone, Copy)]
pub struct NewContribution<'a> {
    pub rid: &'a ReplenishmentId,
    pub sku: &'a Sku,
    pub units: i64,
    /// The line's place in the order of service (the SKU's version before the line); none for a
    /// line an earlier build wrote (its marker has no place).
    pub pos: Option<i64>,
}

/// The item of a sale's contribution to an order, waiting (in the `awaiting` index) for all its
/// units.
pub fn contribution_item(
    account: &AccountId,
    sale: &SaleId,
    c: &NewContribution<'_>,
    now: &str,
) -> Item {
    let mut item = contribution_key(account, c.rid.as_str(), sale);
    item.insert(SALE_ID.to_owned(), s(sale.as_str()));
    item.insert(UNITS.to_owned(), n(c.units));
    item.insert(CREATED_AT.to_owned(), s(now));
    if let Some(pos) = c.pos {
        item.insert(POS.to_owned(), n(pos));
        if c.units > 0 {
            item.insert(AWAIT_PK.to_owned(), s(awaiting_partition(account, c.sku)));
            item.insert(AWAIT_POS.to_owned(), n(pos));
        }
    }
    item
}

/// The place in line of a contribution written without one (by a build before places were kept):
/// before every placed one (it was written earlier), in the order of its `created_at`.
fn legacy_pos(at: &str) -> i64 {
    let ms = chrono::DateTime::parse_from_rfc3339(at).map_or(0, |t| t.timestamp_millis());
    ms.saturating_sub(i64::MAX / 2)
}

impl Contribution {
    /// The contribution as a claim on its order's units.
    pub fn claim(&self) -> crate::domain::Claim {
        crate::domain::Claim {
            sale_id: self.sale_id.clone(),
            pos: self.pos.unwrap_or_else(|| legacy_pos(&self.at)),
            units: self.units,
            taken_back: self.taken_back.unwrap_or(0),
            cancelled: self.cancelled_at.is_some(),
            released: self.released,
        }
    }

    /// Units still waiting (0 once cancelled).
    pub fn awaiting(&self) -> i64 {
        if self.cancelled_at.is_some() {
            0
        } else {
            (self.units - self.released).max(0)
        }
    }
}

/// An adjustment record.
pub fn adjustment_from_item(item: &Item) -> Result<StoredAdjustment, StoreError> {
    let r = Reader::new(item);
    Ok(StoredAdjustment {
        sku: r.str(SKU_ATTR)?.to_owned(),
        delta: r.i64(DELTA)?,
        on_hand_after: r.i64(ON_HAND_AFTER)?,
        open_rid: r.opt_str(OPEN_RID)?.map(str::to_owned),
    })
}

/// A receipt record.
pub fn receipt_from_item(item: &Item) -> Result<StoredReceipt, StoreError> {
    let r = Reader::new(item);
    let status = r.str(RECEIPT_STATUS)?;
    Ok(StoredReceipt {
        quantity: r.i64(QUANTITY)?,
        allow_over_receipt: r.bool_or(ALLOW_OVER_RECEIPT, false)?,
        received_after: r.i64(RECEIVED_AFTER)?,
        receipt_status: ReceiptStatus::parse(status).ok_or_else(|| {
            r.malformed(format!("{RECEIPT_STATUS} is not a known receipt status"))
        })?,
        released: match r.opt_str(RELEASED_TO)? {
            Some(json) => from_json(&RELEASED_TO, json)?,
            None => Vec::new(),
        },
        released_parts: usize::try_from(r.opt_i64(RELEASED_PARTS)?.unwrap_or(0)).unwrap_or(0),
    })
}

/// Most bytes of a released list one item holds (an item holds 400 KB).
pub const RELEASED_BYTES_PER_ITEM: usize = 300_000;
/// Most items a receipt's released list may take (its record and 9 parts: 3 MB of the 4 MB a
/// transaction holds), some 60,000 sales at the least.
pub const MAX_RELEASED_ITEMS: usize = 10;

/// A receipt's released list as the JSON of the items that hold it: the receipt record's, then its
/// parts', each at most [`RELEASED_BYTES_PER_ITEM`] (one entry is far smaller).
pub fn released_chunks(released: &[crate::domain::Released]) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut bytes = 2;
    for entry in released {
        // A struct of a string and an integer: serializing it cannot fail.
        let json = serde_json::to_string(entry).unwrap_or_default();
        if !current.is_empty() && bytes + json.len() + 1 > RELEASED_BYTES_PER_ITEM {
            chunks.push(format!("[{}]", current.join(",")));
            (current, bytes) = (Vec::new(), 2);
        }
        bytes += json.len() + 1;
        current.push(json);
    }
    chunks.push(format!("[{}]", current.join(",")));
    chunks
}

/// JSON text stored in an item (a sale's answer, a part's lines), named by `key` in errors.
pub fn to_json(
    key: &dyn std::fmt::Display,
    value: &impl serde::Serialize,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Malformed {
        key: key.to_string(),
        problem: e.to_string(),
    })
}

/// The value of JSON text stored in an item, named by `key` in errors.
pub fn from_json<T: serde::de::DeserializeOwned>(
    key: &dyn std::fmt::Display,
    json: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Malformed {
        key: key.to_string(),
        problem: e.to_string(),
    })
}

/// One sale's contribution to an order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Contribution {
    pub sale_id: String,
    /// Units the sale added to the order.
    pub units: i64,
    /// Units received on the order and released to the sale (oldest sale first).
    pub released: i64,
    pub at: String,
    /// Set once the sale is cancelled: units taken back out of the (then open) order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taken_back: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<String>,
    /// Its place in the order of service (none for contributions written before it was kept).
    #[serde(skip)]
    pub pos: Option<i64>,
    /// When `released` was last raised.
    #[serde(skip)]
    pub released_at: Option<String>,
}

/// A receipt as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReceipt {
    pub quantity: i64,
    pub allow_over_receipt: bool,
    pub received_after: i64,
    pub receipt_status: ReceiptStatus,
    /// What the receipt released to waiting sales, oldest first.
    pub released: Vec<crate::domain::Released>,
    /// Part items holding the rest of `released` (0: it is all here).
    pub released_parts: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct(s: &str) -> AccountId {
        AccountId::parse(s, "account_id").unwrap()
    }

    #[test]
    fn contributions_without_a_place_come_first_in_the_order_they_were_written() {
        let c = |sale: &str, pos: Option<i64>, at: &str| Contribution {
            sale_id: sale.to_owned(),
            units: 1,
            released: 0,
            at: at.to_owned(),
            taken_back: None,
            cancelled_at: None,
            pos,
            released_at: None,
        };
        let later = c("a", None, "2026-12-01T10:00:01.000Z").claim();
        let earlier = c("b", None, "2026-12-01T10:00:00.000Z").claim();
        let placed = c("c", Some(0), "2026-11-01T00:00:00.000Z").claim();
        assert!(earlier.pos < later.pos && later.pos < placed.pos);
    }

    #[test]
    fn a_long_released_list_splits_into_items_that_each_fit_and_rejoin_in_order() {
        use crate::domain::Released;
        let list: Vec<Released> = (0..20_000)
            .map(|i| Released {
                sale_id: format!("sale-{i:08}-{}", "x".repeat(i % 40)),
                units: 1 + (i as i64 % 7),
            })
            .collect();
        let chunks = released_chunks(&list);
        assert!(chunks.len() > 1);
        assert!(chunks.iter().all(|c| c.len() <= RELEASED_BYTES_PER_ITEM));
        let back: Vec<Released> = chunks
            .iter()
            .flat_map(|c| serde_json::from_str::<Vec<Released>>(c).unwrap())
            .collect();
        assert_eq!(back, list);
        // Nothing released: one empty list on the record.
        assert_eq!(released_chunks(&[]), vec!["[]".to_owned()]);
    }

    #[test]
    fn sku_partitions_are_distinct_for_ambiguous_pairs() {
        let a = sku_partition(&acct("a#b"), &Sku::parse("c", "sku").unwrap());
        let b = sku_partition(&acct("a"), &Sku::parse("b#c", "sku").unwrap());
        assert_ne!(a, b);
    }

    #[test]
    fn new_order_round_trips() {
        let account = acct("acme");
        let rid = ReplenishmentId::generate();
        let sku = Sku::parse("A", "sku").unwrap();
        let vendor = VendorId::parse("V", "vendor_id").unwrap();
        let item = new_order_item(&NewOrder {
            account: &account,
            rid: &rid,
            sku: &sku,
            vendor_id: Some(&vendor),
            quantity: 3,
            now: "2026-11-29T00:00:00.000Z",
            auto: true,
        });
        let order = order_from_item(&item).unwrap();
        assert_eq!(order.replenishment_id, rid.as_str());
        assert_eq!(order.quantity, 3);
        assert_eq!(order.status, OrderStatus::Open);
        assert_eq!(order.tags, vec!["auto_backorder".to_owned()]);
        assert_eq!(order.vendor_id.as_deref(), Some("V"));
        assert_eq!(order.closed_at, None);
    }

    #[test]
    fn malformed_items_are_errors_not_panics() {
        let mut item = settings_key(&acct("a"));
        item.insert(ON_HAND.to_owned(), s("lots"));
        item.insert(POLICY.to_owned(), s("backorder"));
        item.insert(VERSION.to_owned(), n(1));
        assert!(sku_from_item(&Sku::parse("A", "sku").unwrap(), &item).is_err());
    }
}
