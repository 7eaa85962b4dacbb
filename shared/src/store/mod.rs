//! The DynamoDB adapter. Every request the service makes is here; item layout is in [`items`].

pub mod items;
mod lifecycle;

pub use lifecycle::{CancelPart, Contribution, ContributionPage, StoredReceipt};

use std::collections::HashMap;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, ReturnValue, Select, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;

use crate::domain::{
    BackorderPolicy, LinePlan, OrderAction, OrderStatus, Replenishment, SaleLineResult, SaleResult,
    SaleStatus,
};
use crate::error::StoreError;
use crate::ids::{AccountId, AdjustmentId, ReplenishmentId, SaleId, Sku, VendorId};
use items::*;

/// Most keys one `BatchGetItem` takes.
const BATCH_GET_MAX: usize = 100;

/// Handle on the table; cheap to clone (the SDK client is reference counted).
#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
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
    pub fulfillment_id: Option<String>,
    pub customer: Option<String>,
    pub channel: Option<String>,
    /// Parts of a cancellation applied (a cancellation has as many parts as the sale).
    pub cancel_done: u32,
    /// The cancellation's answer, for a sale finalized in one transaction.
    pub cancel_result: Option<String>,
    pub cancelled_at: Option<String>,
    pub created_at: Option<String>,
}

impl StoredSale {
    pub fn finalized(&self) -> bool {
        self.status == SaleStatus::Finalized
    }
}

/// A stock adjustment made with an `adjustment_id`, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAdjustment {
    pub sku: String,
    pub delta: i64,
    pub on_hand_after: i64,
    pub open_rid: Option<String>,
}

/// What every part of a sale finalized in several transactions shares.
#[derive(Debug, Clone, Copy)]
pub struct SaleParts<'a> {
    pub fingerprint: &'a str,
    pub parts: u32,
    /// Lines per part, recorded so that a resume cuts the parts the same way.
    pub part_lines: usize,
    pub fulfillment_id: &'a str,
    pub customer: Option<&'a str>,
    pub channel: Option<&'a str>,
}

fn stored_sale(item: &Item) -> Result<StoredSale, StoreError> {
    let r = Reader::new(item);
    let parts = r.opt_i64(PARTS)?.unwrap_or(1);
    let done = r.opt_i64(DONE)?.unwrap_or(1);
    let status_raw = r.str(STATUS)?;
    let status = SaleStatus::parse(status_raw).ok_or_else(|| StoreError::Malformed {
        key: r.str(SK).unwrap_or_default().to_owned(),
        problem: format!("unknown sale status {status_raw}"),
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
        cancel_result: r.opt_str(CANCEL_RESULT)?.map(str::to_owned),
        cancelled_at: r.opt_str(CANCELLED_AT)?.map(str::to_owned),
        created_at: r.opt_str(CREATED_AT)?.map(str::to_owned),
    })
}

/// What finalizing a sale needs to read, in one request.
#[derive(Debug)]
pub struct SaleContext {
    pub sale: Option<StoredSale>,
    pub account_auto_backorder: bool,
    pub skus: HashMap<Sku, SkuRecord>,
}

/// Why a sale's transaction did not commit.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The first item's condition failed: for a sale, a sale with this id was committed first (a
    /// retry, or a concurrent duplicate); for a close, the order was not open as read.
    #[error("the first item's condition failed")]
    SaleExists,
    /// A SKU or order changed since it was read, or a transaction conflict/throttle: re-read and retry.
    #[error("contended: {0}")]
    Contended(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One page of orders.
#[derive(Debug)]
pub struct OrderPage {
    pub items: Vec<Replenishment>,
    /// The last order id evaluated, when more may follow.
    pub next: Option<String>,
}

/// What closing an order writes besides the order: its SKU's `open_rid` (auto-back-order orders
/// only).
#[derive(Debug, Clone)]
pub struct OrderRef {
    pub rid: ReplenishmentId,
    pub sku: Sku,
    /// An auto-back-order order, which its SKU points at while open.
    pub auto: bool,
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
        })
    }
}

/// One page of open orders across accounts, for the scheduled close.
#[derive(Debug)]
pub struct OpenOrderPage {
    pub orders: Vec<(AccountId, OrderRef)>,
    pub next: Option<Item>,
}

/// Result of a close transaction.
#[derive(Debug)]
pub enum CloseTx {
    Committed,
    /// The order was not open (closed by someone else).
    NotOpen,
    /// A transaction conflict or throttling: retry.
    Contended(String),
}

/// Result of a close attempt.
#[derive(Debug)]
pub enum CloseOutcome {
    Closed(Replenishment),
    AlreadyClosed(Replenishment),
    NotFound,
    /// The order or its SKU changed under us; re-read and retry.
    Contended(String),
}

fn is_throttling(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "TransactionInProgressException"
                | "TransactionConflictException"
        )
    )
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Store {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Reads up to any number of keys with strongly consistent `BatchGetItem`s (100 keys each),
    /// re-requesting unprocessed keys.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::dynamo("BatchGetItem", e))?,
            );
            let mut backoff = crate::retry::Backoff::new();
            let mut rounds = 0;
            while let Some(request) = pending.take() {
                rounds += 1;
                if rounds > crate::retry::MAX_ATTEMPTS {
                    // DynamoDB keeps leaving keys unprocessed (throttling): give up, the caller retries.
                    return Err(StoreError::Unavailable {
                        operation: "BatchGetItem",
                        source: "keys left unprocessed after repeated attempts".into(),
                    });
                }
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| dynamo_error("BatchGetItem", e))?;
                if let Some(mut responses) = out.responses {
                    found.extend(responses.remove(&self.table).unwrap_or_default());
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys.is_empty());
                if pending.is_some() {
                    backoff.wait().await;
                }
            }
        }
        Ok(found)
    }

    async fn get(&self, key: Item) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo_error("GetItem", e))?;
        Ok(out.item)
    }

    // ---- settings -------------------------------------------------------------------------

    pub async fn account_auto_backorder(&self, account: &AccountId) -> Result<bool, StoreError> {
        match self.get(settings_key(account)).await? {
            Some(item) => Reader::new(&item).bool_or(AUTO_BACKORDER, false),
            None => Ok(false),
        }
    }

    pub async fn set_account_auto_backorder(
        &self,
        account: &AccountId,
        on: bool,
        now: &str,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(settings_key(account)))
            .update_expression("SET #a = :a, #u = :now")
            .expression_attribute_names("#a", AUTO_BACKORDER)
            .expression_attribute_names("#u", UPDATED_AT)
            .expression_attribute_values(":a", AttributeValue::Bool(on))
            .expression_attribute_values(":now", s(now))
            .send()
            .await
            .map_err(|e| dynamo_error("UpdateItem", e))?;
        Ok(())
    }

    pub async fn vendor_auto_backorder_default(
        &self,
        account: &AccountId,
        vendor: &VendorId,
    ) -> Result<bool, StoreError> {
        match self.get(vendor_key(account, vendor)).await? {
            Some(item) => Reader::new(&item).bool_or(AUTO_BACKORDER_DEFAULT, false),
            None => Ok(false),
        }
    }

    pub async fn set_vendor_auto_backorder_default(
        &self,
        account: &AccountId,
        vendor: &VendorId,
        on: bool,
        now: &str,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(vendor_key(account, vendor)))
            .update_expression("SET #a = :a, #u = :now")
            .expression_attribute_names("#a", AUTO_BACKORDER_DEFAULT)
            .expression_attribute_names("#u", UPDATED_AT)
            .expression_attribute_values(":a", AttributeValue::Bool(on))
            .expression_attribute_values(":now", s(now))
            .send()
            .await
            .map_err(|e| dynamo_error("UpdateItem", e))?;
        Ok(())
    }

    /// Vendors' `auto_backorder_default`, in one batched read; vendors without settings are false.
    pub async fn vendor_defaults(
        &self,
        account: &AccountId,
        vendors: &[VendorId],
    ) -> Result<HashMap<VendorId, bool>, StoreError> {
        let mut out: HashMap<VendorId, bool> = vendors.iter().map(|v| (v.clone(), false)).collect();
        if vendors.is_empty() {
            return Ok(out);
        }
        let items = self
            .batch_get(vendors.iter().map(|v| vendor_key(account, v)).collect())
            .await?;
        for item in &items {
            let r = Reader::new(item);
            if let Some(vendor) = vendor_of_sort_key(r.str(SK)?) {
                if let Ok(v) = VendorId::parse(vendor, VENDOR_ID) {
                    out.insert(v, r.bool_or(AUTO_BACKORDER_DEFAULT, false)?);
                }
            }
        }
        Ok(out)
    }

    // ---- SKUs -----------------------------------------------------------------------------

    pub async fn sku(
        &self,
        account: &AccountId,
        sku: &Sku,
    ) -> Result<Option<SkuRecord>, StoreError> {
        match self.get(sku_key(account, sku)).await? {
            Some(item) => sku_from_item(sku, &item).map(Some),
            None => Ok(None),
        }
    }

    /// Sets a SKU's policy and/or vendor (`Some(None)` clears the vendor), creating the SKU with
    /// `on_hand` 0 if it is new.
    pub async fn upsert_sku_settings(
        &self,
        account: &AccountId,
        sku: &Sku,
        policy: Option<BackorderPolicy>,
        vendor: Option<Option<VendorId>>,
        now: &str,
    ) -> Result<SkuRecord, StoreError> {
        let mut set = vec![
            "#oh = if_not_exists(#oh, :zero)",
            "#ver = if_not_exists(#ver, :zero) + :one",
            "#c = if_not_exists(#c, :now)",
            "#u = :now",
        ];
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(sku_key(account, sku)))
            .expression_attribute_names("#oh", ON_HAND)
            .expression_attribute_names("#ver", VERSION)
            .expression_attribute_names("#c", CREATED_AT)
            .expression_attribute_names("#u", UPDATED_AT)
            .expression_attribute_names("#p", POLICY)
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(now))
            .return_values(ReturnValue::AllNew);
        match policy {
            Some(p) => {
                set.push("#p = :p");
                req = req.expression_attribute_values(":p", s(p.as_str()));
            }
            None => {
                set.push("#p = if_not_exists(#p, :p)");
                req = req.expression_attribute_values(":p", s(BackorderPolicy::default().as_str()));
            }
        }
        let mut remove = "";
        match &vendor {
            Some(Some(v)) => {
                set.push("#v = :v");
                req = req
                    .expression_attribute_names("#v", VENDOR_ID)
                    .expression_attribute_values(":v", s(v.as_str()));
            }
            Some(None) => {
                remove = " REMOVE #v";
                req = req.expression_attribute_names("#v", VENDOR_ID);
            }
            None => {}
        }
        let out = req
            .update_expression(format!("SET {}{}", set.join(", "), remove))
            .send()
            .await
            .map_err(|e| dynamo_error("UpdateItem", e))?;
        sku_from_item(sku, &out.attributes.unwrap_or_default())
    }

    /// Sets the stock level (a stock count), creating the SKU if it is new.
    pub async fn set_on_hand(
        &self,
        account: &AccountId,
        sku: &Sku,
        on_hand: i64,
        now: &str,
    ) -> Result<SkuRecord, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(sku_key(account, sku)))
            .update_expression(
                "SET #oh = :oh, #ver = if_not_exists(#ver, :zero) + :one, #p = if_not_exists(#p, :p), \
                 #c = if_not_exists(#c, :now), #u = :now",
            )
            .expression_attribute_names("#oh", ON_HAND)
            .expression_attribute_names("#ver", VERSION)
            .expression_attribute_names("#p", POLICY)
            .expression_attribute_names("#c", CREATED_AT)
            .expression_attribute_names("#u", UPDATED_AT)
            .expression_attribute_values(":oh", n(on_hand))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":p", s(BackorderPolicy::default().as_str()))
            .expression_attribute_values(":now", s(now))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| dynamo_error("UpdateItem", e))?;
        sku_from_item(sku, &out.attributes.unwrap_or_default())
    }

    /// The adjustment recorded under `adjustment` (if any) and the SKU, in one consistent read.
    pub async fn adjustment_context(
        &self,
        account: &AccountId,
        adjustment: &AdjustmentId,
        sku: &Sku,
    ) -> Result<(Option<StoredAdjustment>, Option<SkuRecord>), StoreError> {
        let items = self
            .batch_get(vec![
                adjustment_key(account, adjustment),
                sku_key(account, sku),
            ])
            .await?;
        let (mut stored, mut record) = (None, None);
        for item in &items {
            let r = Reader::new(item);
            if r.str(SK)?.starts_with("SKU#") {
                record = Some(sku_from_item(sku, item)?);
            } else {
                stored = Some(StoredAdjustment {
                    sku: r.str(SKU_ATTR)?.to_owned(),
                    delta: r.i64(DELTA)?,
                    on_hand_after: r.i64(ON_HAND_AFTER)?,
                    open_rid: r.opt_str(OPEN_RID)?.map(str::to_owned),
                });
            }
        }
        Ok((stored, record))
    }

    /// Applies an adjustment exactly once: the adjustment record (conditional on not existing, its
    /// idempotency key) and the SKU's new level (conditional on the version read), in one transaction.
    pub async fn commit_adjustment(
        &self,
        account: &AccountId,
        adjustment: &AdjustmentId,
        before: &SkuRecord,
        delta: i64,
        now: &str,
    ) -> Result<(), CommitError> {
        let after = before.state.on_hand + delta;
        let mut record = adjustment_key(account, adjustment);
        record.insert(SKU_ATTR.to_owned(), s(before.sku.as_str()));
        record.insert(DELTA.to_owned(), n(delta));
        record.insert(ON_HAND_AFTER.to_owned(), n(after));
        if let Some(rid) = &before.state.open_order {
            record.insert(OPEN_RID.to_owned(), s(rid.as_str()));
        }
        record.insert(CREATED_AT.to_owned(), s(now));
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(sku_key(account, &before.sku)))
            .update_expression("SET #oh = :oh, #ver = :ver, #u = :now")
            .condition_expression("#ver = :seen")
            .expression_attribute_names("#oh", ON_HAND)
            .expression_attribute_names("#ver", VERSION)
            .expression_attribute_names("#u", UPDATED_AT)
            .expression_attribute_values(":oh", n(after))
            .expression_attribute_values(":ver", n(before.state.version + 1))
            .expression_attribute_values(":seen", n(before.state.version))
            .expression_attribute_values(":now", s(now))
            .build()
            .map_err(|e| StoreError::dynamo("TransactWriteItems", e))?;
        self.transact(vec![
            TransactWriteItem::builder()
                .put(self.put_new(record)?)
                .build(),
            TransactWriteItem::builder().update(update).build(),
        ])
        .await
    }

    /// Adds `delta` to an existing SKU's stock atomically; `None` if the SKU does not exist.
    pub async fn adjust_on_hand(
        &self,
        account: &AccountId,
        sku: &Sku,
        delta: i64,
        now: &str,
    ) -> Result<Option<SkuRecord>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(sku_key(account, sku)))
            .update_expression(STOCK_DELTA_UPDATE)
            .condition_expression(STOCK_DELTA_CONDITION)
            .set_expression_attribute_names(Some(stock_delta_names()))
            .set_expression_attribute_values(Some(stock_delta_values(delta, now)))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => sku_from_item(sku, &out.attributes.unwrap_or_default()).map(Some),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(dynamo_error("UpdateItem", e)),
        }
    }

    // ---- sales ----------------------------------------------------------------------------

    /// The sale (if already finalized), the account's setting and the SKUs, in one batched read.
    pub async fn sale_context(
        &self,
        account: &AccountId,
        sale: &SaleId,
        skus: &[Sku],
    ) -> Result<SaleContext, StoreError> {
        let mut keys = Vec::with_capacity(skus.len() + 2);
        keys.push(sale_key(account, sale));
        keys.push(settings_key(account));
        keys.extend(skus.iter().map(|sku| sku_key(account, sku)));
        let items = self.batch_get(keys).await?;

        let mut ctx = SaleContext {
            sale: None,
            account_auto_backorder: false,
            skus: HashMap::with_capacity(skus.len()),
        };
        for item in &items {
            let r = Reader::new(item);
            let sk = r.str(SK)?;
            if sk == SETTINGS_SK {
                ctx.account_auto_backorder = r.bool_or(AUTO_BACKORDER, false)?;
            } else if sale_of_sort_key(sk) {
                ctx.sale = Some(stored_sale(item)?);
            } else if let Some(raw) = sku_of_sort_key(sk) {
                let sku = Sku::parse(raw, "sku").map_err(|_| StoreError::Malformed {
                    key: sk.to_owned(),
                    problem: "invalid sku".to_owned(),
                })?;
                let record = sku_from_item(&sku, item)?;
                ctx.skus.insert(sku, record);
            }
        }
        Ok(ctx)
    }

    /// Which of `skus` do not exist (batched reads).
    pub async fn missing_skus(
        &self,
        account: &AccountId,
        skus: &[Sku],
    ) -> Result<std::collections::HashSet<Sku>, StoreError> {
        let found: std::collections::HashSet<String> = self
            .batch_get(skus.iter().map(|s| sku_key(account, s)).collect())
            .await?
            .iter()
            .filter_map(|item| match item.get(SK) {
                Some(AttributeValue::S(sk)) => sku_of_sort_key(sk).map(str::to_owned),
                _ => None,
            })
            .collect();
        Ok(skus
            .iter()
            .filter(|s| !found.contains(s.as_str()))
            .cloned()
            .collect())
    }

    pub async fn sale(
        &self,
        account: &AccountId,
        sale: &SaleId,
    ) -> Result<Option<StoredSale>, StoreError> {
        match self.get(sale_key(account, sale)).await? {
            Some(item) => stored_sale(&item).map(Some),
            None => Ok(None),
        }
    }

    /// The response lines of parts `ks` of a sale in parts, in the order asked (batched reads).
    pub async fn sale_part_lines(
        &self,
        account: &AccountId,
        sale: &SaleId,
        ks: &[u32],
    ) -> Result<Vec<Vec<SaleLineResult>>, StoreError> {
        let texts = self.sale_part_attrs(account, sale, ks, LINES).await?;
        ks.iter()
            .zip(texts)
            .map(|(k, text)| {
                serde_json::from_str(&text).map_err(|e| StoreError::Malformed {
                    key: sale_part_sort_key(sale, *k),
                    problem: e.to_string(),
                })
            })
            .collect()
    }

    /// One string attribute of parts `ks` of a sale in parts, in the order asked (batched reads).
    async fn sale_part_attrs(
        &self,
        account: &AccountId,
        sale: &SaleId,
        ks: &[u32],
        attr: &str,
    ) -> Result<Vec<String>, StoreError> {
        let items = self
            .batch_get(
                ks.iter()
                    .map(|k| sale_part_key(account, sale, *k))
                    .collect(),
            )
            .await?;
        let mut by_key: HashMap<&str, &Item> = HashMap::new();
        for item in &items {
            by_key.insert(Reader::new(item).str(SK)?, item);
        }
        ks.iter()
            .map(|k| {
                let sk = sale_part_sort_key(sale, *k);
                let item = by_key
                    .get(sk.as_str())
                    .ok_or_else(|| StoreError::Malformed {
                        key: sk.clone(),
                        problem: format!("sale part missing (reading {attr})"),
                    })?;
                Ok(Reader::new(item).str(attr)?.to_owned())
            })
            .collect()
    }

    /// Writes part `k` of a sale in parts in one `TransactWriteItems`: the sale header (created by
    /// part 0; advanced from `done = k` to `k + 1` by the others, which makes each part apply at
    /// most once), the part's response lines, and its lines' stock and order changes.
    #[allow(clippy::too_many_arguments)]
    pub async fn commit_sale_part(
        &self,
        account: &AccountId,
        sale: &SaleId,
        header: SaleParts<'_>,
        k: u32,
        plans: &[LinePlan],
        lines: &[SaleLineResult],
        now: &str,
    ) -> Result<(), CommitError> {
        let last = k + 1 == header.parts;
        let status = if last { "finalized" } else { "finalizing" };
        let mut writes = Vec::with_capacity(2 + plans.len() * 3);
        if k == 0 {
            let mut item = sale_key(account, sale);
            item.insert(FINGERPRINT.to_owned(), s(header.fingerprint));
            item.insert(STATUS.to_owned(), s(status));
            item.insert(PARTS.to_owned(), n(header.parts));
            item.insert(PART_LINES.to_owned(), n(header.part_lines));
            item.insert(DONE.to_owned(), n(1));
            item.insert(FULFILLMENT_ID.to_owned(), s(header.fulfillment_id));
            if let Some(c) = header.customer {
                item.insert(CUSTOMER.to_owned(), s(c));
            }
            if let Some(c) = header.channel {
                item.insert(CHANNEL.to_owned(), s(c));
            }
            item.insert(CREATED_AT.to_owned(), s(now));
            writes.push(
                TransactWriteItem::builder()
                    .put(self.put_new(item)?)
                    .build(),
            );
        } else {
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(sale_key(account, sale)))
                .update_expression("SET #done = :next, #st = :st, #u = :now")
                .condition_expression("#done = :k AND #fp = :fp")
                .expression_attribute_names("#done", DONE)
                .expression_attribute_names("#st", STATUS)
                .expression_attribute_names("#u", UPDATED_AT)
                .expression_attribute_names("#fp", FINGERPRINT)
                .expression_attribute_values(":next", n(k + 1))
                .expression_attribute_values(":k", n(k))
                .expression_attribute_values(":st", s(status))
                .expression_attribute_values(":now", s(now))
                .expression_attribute_values(":fp", s(header.fingerprint))
                .build()
                .map_err(|e| StoreError::dynamo("TransactWriteItems", e))?;
            writes.push(TransactWriteItem::builder().update(update).build());
        }
        let lines_json = serde_json::to_string(lines).map_err(|e| StoreError::Malformed {
            key: sale.to_string(),
            problem: e.to_string(),
        })?;
        let mut part = sale_part_key(account, sale, k);
        part.insert(LINES.to_owned(), s(lines_json));
        writes.push(
            TransactWriteItem::builder()
                .put(self.put_new(part)?)
                .build(),
        );
        self.push_line_writes(&mut writes, account, sale, plans, now)?;
        self.transact(writes).await
    }

    /// Writes a whole planned sale in one `TransactWriteItems`: the sale record (its conditional put
    /// is the idempotency key), each SKU's new level (conditional on the version read), and each
    /// order's find-or-create (add to the open order, conditional on it being open; or create one,
    /// conditional on the SKU having none open, which the SKU's version condition guarantees).
    pub async fn commit_sale(
        &self,
        account: &AccountId,
        sale: &SaleId,
        fingerprint: &str,
        plans: &[LinePlan],
        result: &SaleResult,
        now: &str,
    ) -> Result<(), CommitError> {
        let result_json = serde_json::to_string(result).map_err(|e| StoreError::Malformed {
            key: sale.to_string(),
            problem: e.to_string(),
        })?;
        let mut sale_item = sale_key(account, sale);
        sale_item.insert(FINGERPRINT.to_owned(), s(fingerprint));
        sale_item.insert(STATUS.to_owned(), s("finalized"));
        sale_item.insert(RESULT.to_owned(), s(result_json));
        sale_item.insert(CREATED_AT.to_owned(), s(now));

        let mut writes = Vec::with_capacity(1 + plans.len() * 3);
        writes.push(
            TransactWriteItem::builder()
                .put(self.put_new(sale_item)?)
                .build(),
        );
        self.push_line_writes(&mut writes, account, sale, plans, now)?;

        self.transact(writes).await
    }

    /// Sends one `TransactWriteItems` and sorts a failure into [`CommitError`].
    async fn transact(&self, writes: Vec<TransactWriteItem>) -> Result<(), CommitError> {
        self.client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
            .map(|_| ())
            .map_err(classify_transaction_error)
    }

    /// Each line's stock change, its order's find-or-create, and the sale's contribution to that
    /// order (the audit trail).
    fn push_line_writes(
        &self,
        writes: &mut Vec<TransactWriteItem>,
        account: &AccountId,
        sale: &SaleId,
        plans: &[LinePlan],
        now: &str,
    ) -> Result<(), StoreError> {
        for plan in plans {
            writes.push(
                TransactWriteItem::builder()
                    .update(self.sku_sale_update(account, plan, now)?)
                    .build(),
            );
            match &plan.order {
                OrderAction::None => {}
                OrderAction::AddTo(rid) => {
                    let update = Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(order_key(account, rid)))
                        .update_expression("ADD #q :q SET #u = :now")
                        .condition_expression("#st = :open")
                        .expression_attribute_names("#q", QUANTITY)
                        .expression_attribute_names("#u", UPDATED_AT)
                        .expression_attribute_names("#st", STATUS)
                        .expression_attribute_values(":q", n(plan.backordered))
                        .expression_attribute_values(":now", s(now))
                        .expression_attribute_values(":open", s(OrderStatus::Open.as_str()))
                        .build()
                        .map_err(|e| StoreError::dynamo("TransactWriteItems", e))?;
                    writes.push(TransactWriteItem::builder().update(update).build());
                }
                OrderAction::Open(rid) => {
                    let item = new_order_item(&NewOrder {
                        account,
                        rid,
                        sku: &plan.sku,
                        vendor_id: plan.before.vendor_id.as_ref(),
                        quantity: plan.backordered,
                        now,
                        auto: true,
                    });
                    writes.push(
                        TransactWriteItem::builder()
                            .put(self.put_new(item)?)
                            .build(),
                    );
                }
            }
            if let Some(rid) = plan.order.order_id() {
                // Unconditional: the sale record's condition already makes the sale apply once.
                let mut item = contribution_key(account, rid.as_str(), sale);
                item.insert(SALE_ID.to_owned(), s(sale.as_str()));
                item.insert(UNITS.to_owned(), n(plan.backordered));
                item.insert(CREATED_AT.to_owned(), s(now));
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .build()
                    .map_err(|e| StoreError::dynamo("TransactWriteItems", e))?;
                writes.push(TransactWriteItem::builder().put(put).build());
            }
        }
        Ok(())
    }

    fn put_new(&self, item: Item) -> Result<Put, StoreError> {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .build()
            .map_err(|e| StoreError::dynamo("TransactWriteItems", e))
    }

    fn sku_sale_update(
        &self,
        account: &AccountId,
        plan: &LinePlan,
        now: &str,
    ) -> Result<Update, StoreError> {
        let mut expr = String::from("SET #oh = :oh, #ver = :ver, #u = :now");
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(sku_key(account, &plan.sku)))
            .condition_expression("#ver = :seen")
            .expression_attribute_names("#oh", ON_HAND)
            .expression_attribute_names("#ver", VERSION)
            .expression_attribute_names("#u", UPDATED_AT)
            .expression_attribute_values(":oh", n(plan.on_hand_after))
            .expression_attribute_values(":ver", n(plan.before.version + 1))
            .expression_attribute_values(":seen", n(plan.before.version))
            .expression_attribute_values(":now", s(now));
        if let OrderAction::Open(rid) = &plan.order {
            expr.push_str(", #open = :rid");
            update = update
                .expression_attribute_names("#open", OPEN_RID)
                .expression_attribute_values(":rid", s(rid.as_str()));
        }
        update
            .update_expression(expr)
            .build()
            .map_err(|e| StoreError::dynamo("TransactWriteItems", e))
    }

    // ---- replenishment orders -------------------------------------------------------------

    pub async fn order(
        &self,
        account: &AccountId,
        rid: &ReplenishmentId,
    ) -> Result<Option<Replenishment>, StoreError> {
        match self.get(order_key(account, rid)).await? {
            Some(item) => order_from_item(&item).map(Some),
            None => Ok(None),
        }
    }

    /// Closes an open order and releases its SKU in one conditional transaction, so a racing sale
    /// either commits into the order before the close or finds no open order and opens the next.
    pub async fn close_order(
        &self,
        account: &AccountId,
        rid: &ReplenishmentId,
        now: &str,
    ) -> Result<CloseOutcome, StoreError> {
        let Some(order) = self.order(account, rid).await? else {
            return Ok(CloseOutcome::NotFound);
        };
        if order.status == OrderStatus::Closed {
            return Ok(CloseOutcome::AlreadyClosed(order));
        }
        let order_ref = OrderRef::of(&order)?;
        Ok(
            match self
                .close_open_order(account, &order_ref, Some(order.quantity), now)
                .await?
            {
                CloseTx::Committed => CloseOutcome::Closed(Replenishment {
                    status: OrderStatus::Closed,
                    closed_at: Some(now.to_owned()),
                    updated_at: now.to_owned(),
                    ..order
                }),
                // Closed since we read it (the next read returns it), or contended: re-read and retry.
                CloseTx::NotOpen => CloseOutcome::Contended("closed meanwhile".to_owned()),
                CloseTx::Contended(reason) => CloseOutcome::Contended(reason),
            },
        )
    }

    /// The close transaction of an order known to be open: the order goes `open -> closed`
    /// (conditional on `open`) and, for an auto-back-order order, the SKU's `open_rid` is released
    /// (conditional on pointing at it), atomically.
    pub async fn close_open_order(
        &self,
        account: &AccountId,
        order: &OrderRef,
        expected_quantity: Option<i64>,
        now: &str,
    ) -> Result<CloseTx, StoreError> {
        let rid = &order.rid;
        // With the quantity read, a sale adding units in between fails the close, which re-reads:
        // the closed order it returns then has its final quantity. Without it (the scheduled
        // close), an order whose sales were all cancelled (quantity 0) is left open: there is
        // nothing to order, and the next shortfall of its SKU adds to it.
        let (condition, quantity) = match expected_quantity {
            Some(q) => ("#st = :open AND #q = :q", q),
            None => ("#st = :open AND #q > :q", 0),
        };
        let close = Update::builder()
            .table_name(&self.table)
            .set_key(Some(order_key(account, rid)))
            .condition_expression(condition)
            .expression_attribute_names("#st", STATUS)
            .expression_attribute_names("#ca", CLOSED_AT)
            .expression_attribute_names("#u", UPDATED_AT)
            .expression_attribute_names("#g1", GSI1PK)
            .expression_attribute_names("#opk", OPEN_PK)
            .expression_attribute_names("#osk", OPEN_SK)
            .expression_attribute_values(":closed", s(OrderStatus::Closed.as_str()))
            .expression_attribute_values(":open", s(OrderStatus::Open.as_str()))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":g1", s(status_partition(account, OrderStatus::Closed)))
            .expression_attribute_names("#q", QUANTITY)
            .expression_attribute_values(":q", n(quantity))
            .update_expression(
                "SET #st = :closed, #ca = :now, #u = :now, #g1 = :g1 REMOVE #opk, #osk",
            )
            .build()
            .map_err(|e| StoreError::dynamo("TransactWriteItems", e))?;
        let mut writes = vec![TransactWriteItem::builder().update(close).build()];
        if order.auto {
            writes.push(
                TransactWriteItem::builder()
                    .update(self.release_sku(account, order, now)?)
                    .build(),
            );
        }
        match self.transact(writes).await {
            Ok(()) => Ok(CloseTx::Committed),
            Err(CommitError::Store(e)) => Err(e),
            // The first item's condition: the order is not open (or not at the quantity read).
            Err(CommitError::SaleExists) => Ok(CloseTx::NotOpen),
            Err(CommitError::Contended(reason)) => Ok(CloseTx::Contended(reason)),
        }
    }

    /// Releases an auto-back-order order's SKU (`open_rid`), conditional on pointing at it.
    fn release_sku(
        &self,
        account: &AccountId,
        order: &OrderRef,
        now: &str,
    ) -> Result<Update, StoreError> {
        let (rid, sku) = (&order.rid, &order.sku);
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(sku_key(account, sku)))
            .update_expression("REMOVE #open SET #u = :now ADD #ver :one")
            .condition_expression("#open = :rid")
            .expression_attribute_names("#open", OPEN_RID)
            .expression_attribute_names("#u", UPDATED_AT)
            .expression_attribute_names("#ver", VERSION)
            .expression_attribute_values(":rid", s(rid.as_str()))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(|e| StoreError::dynamo("TransactWriteItems", e))
    }

    /// One page of an account's orders, newest first, optionally of one status and/or SKU.
    pub async fn list_orders(
        &self,
        account: &AccountId,
        status: Option<OrderStatus>,
        sku: Option<&Sku>,
        limit: usize,
        after: Option<&str>,
    ) -> Result<OrderPage, StoreError> {
        let limit_i32 = page_limit(limit);
        match (status, sku) {
            (None, None) => {
                let out = self
                    .query_prefix(account, ORDER_PREFIX, false, limit, after.map(order_sk))
                    .await?;
                let items = out
                    .items()
                    .iter()
                    .map(order_from_item)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(OrderPage {
                    items,
                    next: last_rid(out.last_evaluated_key()),
                })
            }
            (Some(status), None) => {
                let partition = status_partition(account, status);
                let mut q = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(INDEX_BY_STATUS)
                    .key_condition_expression("#g = :g")
                    .expression_attribute_names("#g", GSI1PK)
                    .expression_attribute_values(":g", s(partition.clone()))
                    .scan_index_forward(false)
                    .limit(limit_i32);
                if let Some(rid) = after {
                    q = q
                        .exclusive_start_key(GSI1PK, s(partition))
                        .exclusive_start_key(PK, s(account.as_str()))
                        .exclusive_start_key(SK, s(order_sk(rid)));
                }
                let out = q.send().await.map_err(|e| dynamo_error("Query", e))?;
                let next = last_rid(out.last_evaluated_key());
                let items = self
                    .orders_by_keys(out.items.unwrap_or_default(), Some(status))
                    .await?;
                Ok(OrderPage { items, next })
            }
            (status, Some(sku)) => {
                self.list_filtered(
                    INDEX_BY_SKU,
                    GSI2PK,
                    sku_partition(account, sku),
                    account,
                    status,
                    limit,
                    after,
                )
                .await
            }
        }
    }

    /// One page of an account's items whose sort key starts with `prefix` (strongly consistent),
    /// in sort key order (`forward`) or reverse, after the sort key `after`.
    async fn query_prefix(
        &self,
        account: &AccountId,
        prefix: &str,
        forward: bool,
        limit: usize,
        after: Option<String>,
    ) -> Result<aws_sdk_dynamodb::operation::query::QueryOutput, StoreError> {
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(account.as_str()))
            .expression_attribute_values(":prefix", s(prefix))
            .scan_index_forward(forward)
            .consistent_read(true)
            .limit(page_limit(limit));
        if let Some(sk) = after {
            q = q
                .exclusive_start_key(PK, s(account.as_str()))
                .exclusive_start_key(SK, s(sk));
        }
        q.send().await.map_err(|e| dynamo_error("Query", e))
    }

    /// One page of the orders of an index partition projecting `status` (`by_sku`, `by_vendor`),
    /// newest first, optionally of one status (a filter: pages on until `limit` is met, a bounded
    /// number of times).
    #[allow(clippy::too_many_arguments)]
    async fn list_filtered(
        &self,
        index: &str,
        partition_attr: &str,
        partition: String,
        account: &AccountId,
        status: Option<OrderStatus>,
        limit: usize,
        after: Option<&str>,
    ) -> Result<OrderPage, StoreError> {
        let limit_i32 = page_limit(limit);
        let mut keys = Vec::new();
        let mut start = after.map(str::to_owned);
        let mut next = None;
        // A status filter may skip items: page on until the limit is met, a bounded number of times.
        for _ in 0..10 {
            let remaining = limit_i32 - i32::try_from(keys.len()).unwrap_or(0);
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#g = :g")
                .expression_attribute_names("#g", partition_attr)
                .expression_attribute_values(":g", s(partition.clone()))
                .scan_index_forward(false)
                .limit(remaining);
            if let Some(st) = status {
                q = q
                    .filter_expression("#st = :st")
                    .expression_attribute_names("#st", STATUS)
                    .expression_attribute_values(":st", s(st.as_str()));
            }
            if let Some(rid) = &start {
                q = q
                    .exclusive_start_key(partition_attr, s(partition.clone()))
                    .exclusive_start_key(PK, s(account.as_str()))
                    .exclusive_start_key(SK, s(order_sk(rid)));
            }
            let out = q.send().await.map_err(|e| dynamo_error("Query", e))?;
            next = last_rid(out.last_evaluated_key());
            keys.extend(out.items.unwrap_or_default());
            if next.is_none() || keys.len() >= limit {
                break;
            }
            start = next.clone();
        }
        let items = self.orders_by_keys(keys, status).await?;
        Ok(OrderPage { items, next })
    }

    /// Fetches orders by index keys, newest first. An order whose status changed since the
    /// (eventually consistent) index was read is left out when `status` is given.
    async fn orders_by_keys(
        &self,
        index_items: Vec<Item>,
        status: Option<OrderStatus>,
    ) -> Result<Vec<Replenishment>, StoreError> {
        let keys: Vec<Item> = index_items
            .into_iter()
            .filter_map(|mut i| {
                let pk = i.remove(PK)?;
                let sk = i.remove(SK)?;
                Some(HashMap::from([(PK.to_owned(), pk), (SK.to_owned(), sk)]))
            })
            .collect();
        let mut orders = self
            .batch_get(keys)
            .await?
            .iter()
            .map(order_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(st) = status {
            orders.retain(|o| o.status == st);
        }
        orders.sort_by(|a, b| b.replenishment_id.cmp(&a.replenishment_id));
        Ok(orders)
    }

    /// One page of open auto-back-order orders of all accounts created before `cutoff` (RFC 3339),
    /// oldest first.
    pub async fn open_orders_before(
        &self,
        cutoff: &str,
        limit: i32,
        start: Option<Item>,
    ) -> Result<OpenOrderPage, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(INDEX_OPEN_BY_AGE)
            .key_condition_expression("#p = :p AND #s < :cutoff")
            .expression_attribute_names("#p", OPEN_PK)
            .expression_attribute_names("#s", OPEN_SK)
            .expression_attribute_values(":p", s(OPEN_PARTITION))
            .expression_attribute_values(":cutoff", s(cutoff))
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| dynamo_error("Query", e))?;
        let mut orders = Vec::with_capacity(out.items().len());
        for item in out.items() {
            match open_index_entry(item) {
                Ok(entry) => orders.push(entry),
                // One bad entry must not stop the close of all the others.
                Err(e) => tracing::warn!(error = %e, "skipping a malformed open_by_age entry"),
            }
        }
        Ok(OpenOrderPage {
            orders,
            next: out.last_evaluated_key,
        })
    }

    /// How many open auto-back-order orders were created before `cutoff`.
    pub async fn count_open_orders_before(&self, cutoff: &str) -> Result<u64, StoreError> {
        let mut total = 0u64;
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(INDEX_OPEN_BY_AGE)
                .key_condition_expression("#p = :p AND #s < :cutoff")
                .expression_attribute_names("#p", OPEN_PK)
                .expression_attribute_names("#s", OPEN_SK)
                .expression_attribute_values(":p", s(OPEN_PARTITION))
                .expression_attribute_values(":cutoff", s(cutoff))
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| dynamo_error("Query", e))?;
            total += u64::try_from(out.count).unwrap_or(0);
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(total),
            }
        }
    }
}

/// The account and order of an `open_by_age` index entry (which lists auto-back-order orders only).
fn open_index_entry(item: &Item) -> Result<(AccountId, OrderRef), StoreError> {
    let r = Reader::new(item);
    let bad = |problem: &str| StoreError::Malformed {
        key: r.str(SK).unwrap_or_default().to_owned(),
        problem: problem.to_owned(),
    };
    let account = AccountId::parse(r.str(PK)?, PK).map_err(|_| bad("bad account"))?;
    let rid = r
        .str(SK)?
        .strip_prefix(ORDER_PREFIX)
        .ok_or_else(|| bad("not an order"))?;
    let rid = ReplenishmentId::parse(rid, RID).map_err(|_| bad("bad order id"))?;
    let sku = Sku::parse(r.str(SKU_ATTR)?, SKU_ATTR).map_err(|_| bad("bad sku"))?;
    Ok((
        account,
        OrderRef {
            rid,
            sku,
            auto: true,
        },
    ))
}

/// A query's `Limit` for a page of `limit` items (1..=1000).
fn page_limit(limit: usize) -> i32 {
    i32::try_from(limit.clamp(1, 1000)).unwrap_or(100)
}

fn last_rid(key: Option<&Item>) -> Option<String> {
    match key?.get(SK)? {
        AttributeValue::S(sk) => sk.strip_prefix(ORDER_PREFIX).map(str::to_owned),
        _ => None,
    }
}

/// Adds `:d` units to an existing SKU's stock and bumps its version, so that a sale planned on the
/// old level re-reads (a stock adjustment, a cancellation, a receipt).
const STOCK_DELTA_UPDATE: &str = "ADD #oh :d, #ver :one SET #u = :now";
const STOCK_DELTA_CONDITION: &str = "attribute_exists(#oh)";

fn stock_delta_names() -> HashMap<String, String> {
    [("#oh", ON_HAND), ("#ver", VERSION), ("#u", UPDATED_AT)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn stock_delta_values(delta: i64, now: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (":d".to_owned(), n(delta)),
        (":one".to_owned(), n(1)),
        (":now".to_owned(), s(now)),
    ])
}

/// Whether a [`CommitError::Contended`] reason names a failed condition (something changed since
/// it was read), rather than only conflicts or throttling (nothing was evaluated).
pub fn condition_failed(reason: &str) -> bool {
    reason.split(',').any(|r| r == "ConditionalCheckFailed")
}

/// Sorts a failed transaction into "the sale exists", "contended, retry" and real failures.
fn classify_transaction_error(err: SdkError<TransactWriteItemsError, HttpResponse>) -> CommitError {
    if let Some(service) = err.as_service_error() {
        if let TransactWriteItemsError::TransactionCanceledException(cancel) = service {
            let reasons: Vec<&str> = cancel
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None"))
                .collect();
            if reasons.first() == Some(&"ConditionalCheckFailed") {
                return CommitError::SaleExists;
            }
            return CommitError::Contended(reasons.join(","));
        }
        if is_throttling(service.code()) {
            return CommitError::Contended(service.code().unwrap_or_default().to_owned());
        }
    }
    CommitError::Store(dynamo_error("TransactWriteItems", err))
}

/// Whether an error code is one DynamoDB uses for a transient condition.
fn is_transient_code(code: Option<&str>) -> bool {
    is_throttling(code)
        || matches!(
            code,
            Some("InternalServerError" | "ServiceUnavailable" | "LimitExceededException")
        )
}

/// Maps an SDK error to a store error, sorting transient failures (timeouts, connection errors,
/// throttling, 5xx: the SDK already retried them) from permanent ones.
fn dynamo_error<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let transient = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(se) => {
            is_transient_code(se.err().code()) || se.raw().status().is_server_error()
        }
        _ => false,
    };
    if transient {
        StoreError::Unavailable {
            operation,
            source: Box::new(err),
        }
    } else {
        StoreError::dynamo(operation, err)
    }
}
