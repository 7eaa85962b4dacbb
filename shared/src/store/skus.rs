//! SKUs: their settings and stock level, counts and adjustments.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem, Update};

use super::codec::{
    adjustment_from_item, n, s, sku_from_item, Reader, SkuRecord, StoredAdjustment,
};
use super::dynamo::{dynamo_error, CommitError};
use super::layout::*;
use super::Store;
use crate::domain::BackorderPolicy;
use crate::error::StoreError;
use crate::ids::{AccountId, AdjustmentId, Sku, VendorId};

/// A change of a SKU's settings: each field given is set (`Some(None)` clears it), the others stay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkuChange {
    pub policy: Option<BackorderPolicy>,
    pub vendor: Option<Option<VendorId>>,
    /// Units per case, overriding the vendor's.
    pub pack_size: Option<Option<i64>>,
    /// How far below zero sales may take the stock.
    pub backorder_limit: Option<Option<i64>>,
}

impl SkuChange {
    /// A change of the policy alone.
    pub fn policy(policy: BackorderPolicy) -> Self {
        SkuChange {
            policy: Some(policy),
            ..SkuChange::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == SkuChange::default()
    }
}

impl Store {
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

    /// Changes a SKU's settings (each one given; `Some(None)` clears it), creating the SKU with
    /// `on_hand` 0 if it is new.
    pub async fn upsert_sku_settings(
        &self,
        account: &AccountId,
        sku: &Sku,
        change: &SkuChange,
        now: &str,
    ) -> Result<SkuRecord, StoreError> {
        let mut set = vec![
            "#oh = if_not_exists(#oh, :zero)".to_owned(),
            "#ver = if_not_exists(#ver, :zero) + :one".to_owned(),
            "#c = if_not_exists(#c, :now)".to_owned(),
            "#u = :now".to_owned(),
        ];
        let mut remove = Vec::new();
        let mut req = self
            .update_item(sku_key(account, sku))
            .expression_attribute_names("#oh", ON_HAND)
            .expression_attribute_names("#ver", VERSION)
            .expression_attribute_names("#c", CREATED_AT)
            .expression_attribute_names("#u", UPDATED_AT)
            .expression_attribute_names("#p", POLICY)
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(now))
            .return_values(ReturnValue::AllNew);
        match change.policy {
            Some(p) => {
                set.push("#p = :p".to_owned());
                req = req.expression_attribute_values(":p", s(p.as_str()));
            }
            None => {
                set.push("#p = if_not_exists(#p, :p)".to_owned());
                req = req.expression_attribute_values(":p", s(BackorderPolicy::default().as_str()));
            }
        }
        let values = [
            (
                "v",
                VENDOR_ID,
                change
                    .vendor
                    .as_ref()
                    .map(|v| v.as_ref().map(|v| s(v.as_str()))),
            ),
            ("ps", PACK_SIZE, change.pack_size.map(|v| v.map(n))),
            (
                "bl",
                BACKORDER_LIMIT,
                change.backorder_limit.map(|v| v.map(n)),
            ),
        ];
        for (tag, attr, value) in values {
            match value {
                None => continue,
                Some(Some(v)) => {
                    set.push(format!("#{tag} = :{tag}"));
                    req = req.expression_attribute_values(format!(":{tag}"), v);
                }
                Some(None) => remove.push(format!("#{tag}")),
            }
            req = req.expression_attribute_names(format!("#{tag}"), attr);
        }
        let mut expr = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expr.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let out = req
            .update_expression(expr)
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
            if sku_of_sort_key(Reader::new(item).str(SK)?).is_some() {
                record = Some(sku_from_item(sku, item)?);
            } else {
                stored = Some(adjustment_from_item(item)?);
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
        if let Some(rid) = before.shown_open_order() {
            record.insert(OPEN_RID.to_owned(), s(rid.as_str()));
        }
        record.insert(CREATED_AT.to_owned(), s(now));
        let level =
            self.level_on_version(account, &before.sku, before.state.version, after, now)?;
        self.transact(vec![
            TransactWriteItem::builder()
                .put(self.put_new(record)?)
                .build(),
            level,
        ])
        .await
    }

    /// A transaction's write of a SKU's stock level, conditional on the version it was read at
    /// (`seen`): the level set to `on_hand`, the version bumped.
    pub(super) fn level_on_version(
        &self,
        account: &AccountId,
        sku: &Sku,
        seen: u64,
        on_hand: i64,
        now: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(sku_key(account, sku)))
            .update_expression("SET #oh = :oh, #ver = :ver, #u = :now")
            .condition_expression("#ver = :seen")
            .expression_attribute_names("#oh", ON_HAND)
            .expression_attribute_names("#ver", VERSION)
            .expression_attribute_names("#u", UPDATED_AT)
            .expression_attribute_values(":oh", n(on_hand))
            .expression_attribute_values(":ver", n(seen + 1))
            .expression_attribute_values(":seen", n(seen))
            .expression_attribute_values(":now", s(now))
            .build()
            .map_err(|e| StoreError::dynamo("TransactWriteItems", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
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
    /// Units back into an existing SKU's stock (a cancellation, a receipt): [`STOCK_DELTA_UPDATE`].
    pub(super) fn add_stock(
        &self,
        account: &AccountId,
        sku: &Sku,
        units: i64,
        now: &str,
    ) -> UpdateBuilder {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(sku_key(account, sku)))
            .update_expression(STOCK_DELTA_UPDATE)
            .condition_expression(STOCK_DELTA_CONDITION)
            .set_expression_attribute_names(Some(stock_delta_names()))
            .set_expression_attribute_values(Some(stock_delta_values(units, now)))
    }
}

/// Adds `:d` units to an existing SKU's stock and bumps its version, so that a sale planned on the
/// old level re-reads (a stock adjustment, a cancellation, a receipt).
pub(super) const STOCK_DELTA_UPDATE: &str = "ADD #oh :d, #ver :one SET #u = :now";

pub(super) const STOCK_DELTA_CONDITION: &str = "attribute_exists(#oh)";

pub(super) fn stock_delta_names() -> HashMap<String, String> {
    [("#oh", ON_HAND), ("#ver", VERSION), ("#u", UPDATED_AT)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

pub(super) fn stock_delta_values(delta: i64, now: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (":d".to_owned(), n(delta)),
        (":one".to_owned(), n(1)),
        (":now".to_owned(), s(now)),
    ])
}
