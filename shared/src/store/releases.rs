//! Received units released to waiting sales: an order's claims (its contributions) as one
//! consistent read, the raise of a contribution's `released`, a SKU's waiting sales (the
//! `awaiting` index), and a sale's lines as they stand (contributions and their orders).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::codec::{contribution_from_item, n, order_from_item, s, Contribution, Reader};
use super::dynamo::{dynamo_error, page_limit, update_if};
use super::layout::*;
use super::Store;
use crate::domain::{OrderStatus, Replenishment};
use crate::error::StoreError;
use crate::ids::{AccountId, ReplenishmentId, SaleId, Sku};

/// An order as its release needs it: the order and its cancellation counter (the receipt's
/// condition), and every contribution, read after the order.
#[derive(Debug, Clone)]
pub struct ReleaseContext {
    pub order: Replenishment,
    pub cancels: i64,
    pub claims: Vec<Contribution>,
}

/// One sale waiting on units of a SKU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub rid: String,
    pub contribution: Contribution,
}

/// One page of a SKU's waiting sales, oldest first.
#[derive(Debug)]
pub struct WaitingPage {
    pub items: Vec<Waiting>,
    /// Where the next page starts (`{pos}:{sort key}`), when more may follow.
    pub next: Option<String>,
}

impl Store {
    /// The order (`None` if there is none) and, when it is a closed auto-back-order order that
    /// has received units, all its contributions, read after it (strongly consistent): a cancellation that lands between the
    /// two reads bumps `cancels`, so a write conditional on the counter read first sees it.
    pub async fn release_context(
        &self,
        account: &AccountId,
        rid: &ReplenishmentId,
    ) -> Result<Option<ReleaseContext>, StoreError> {
        let Some(item) = self.get(order_key(account, rid)).await? else {
            return Ok(None);
        };
        let order = order_from_item(&item)?;
        let cancels = Reader::new(&item).opt_i64(CANCELS)?.unwrap_or(0);
        // Only a closed order that has received units releases any.
        let releases = order.status == OrderStatus::Closed && order.received > 0;
        let claims = if releases && order.is_auto_backorder() {
            self.order_claims(account, rid).await?
        } else {
            Vec::new()
        };
        Ok(Some(ReleaseContext {
            order,
            cancels,
            claims,
        }))
    }

    /// Every contribution of an order (all pages, strongly consistent).
    pub async fn order_claims(
        &self,
        account: &AccountId,
        rid: &ReplenishmentId,
    ) -> Result<Vec<Contribution>, StoreError> {
        let prefix = contribution_prefix(rid.as_str());
        let pk = partition(account, &order_sk(rid.as_str()));
        let mut claims = Vec::new();
        let mut after = None;
        loop {
            let out = self.query_prefix(&pk, &prefix, true, 1000, after).await?;
            for item in out.items() {
                claims.push(contribution_from_item(item)?);
            }
            after = match out.last_evaluated_key().and_then(|k| k.get(SK)) {
                Some(AttributeValue::S(sk)) => Some(sk.clone()),
                _ => break,
            };
        }
        Ok(claims)
    }

    /// Raises the units released to a sale's contribution to `target` (of its `units`): never
    /// lowers it, never writes a cancelled one. Once all its units are released it leaves the
    /// `awaiting` index. False when there was nothing to raise.
    pub async fn raise_released(
        &self,
        account: &AccountId,
        rid: &ReplenishmentId,
        sale: &str,
        target: i64,
        units: i64,
        now: &str,
    ) -> Result<bool, StoreError> {
        let sale = SaleId::parse(sale, SALE_ID).map_err(|_| StoreError::Malformed {
            key: contribution_prefix(rid.as_str()),
            problem: "invalid sale id".to_owned(),
        })?;
        let mut expr = "SET #rel = :t, #rat = :now".to_owned();
        let mut req = self
            .update_item(contribution_key(account, rid.as_str(), &sale))
            .condition_expression(
                "attribute_exists(#pk) AND attribute_not_exists(#ca) \
                 AND (attribute_not_exists(#rel) OR #rel < :t)",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#ca", CANCELLED_AT)
            .expression_attribute_names("#rel", RELEASED)
            .expression_attribute_names("#rat", RELEASED_AT)
            .expression_attribute_values(":t", n(target))
            .expression_attribute_values(":now", s(now));
        if target >= units {
            expr.push_str(" REMOVE #apk, #apos");
            req = req
                .expression_attribute_names("#apk", AWAIT_PK)
                .expression_attribute_names("#apos", AWAIT_POS);
        }
        update_if(req.update_expression(expr)).await
    }

    /// One page of the sales waiting on units of a SKU, oldest first (the `awaiting` index).
    pub async fn waiting_page(
        &self,
        account: &AccountId,
        sku: &Sku,
        limit: usize,
        after: Option<&str>,
    ) -> Result<WaitingPage, StoreError> {
        let partition_key = awaiting_partition(account, sku);
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(INDEX_AWAITING)
            .key_condition_expression("#apk = :apk")
            .expression_attribute_names("#apk", AWAIT_PK)
            .expression_attribute_values(":apk", s(&partition_key))
            .scan_index_forward(true)
            .limit(page_limit(limit));
        if let Some((pos, sk)) = after.and_then(parse_waiting_cursor) {
            let root = contribution_of_sort_key(sk)
                .map(|(rid, _)| order_sk(rid))
                .unwrap_or_default();
            q = q
                .exclusive_start_key(AWAIT_PK, s(&partition_key))
                .exclusive_start_key(AWAIT_POS, n(pos))
                .exclusive_start_key(PK, s(partition(account, &root)))
                .exclusive_start_key(SK, s(sk));
        }
        let out = q.send().await.map_err(|e| dynamo_error("Query", e))?;
        let mut items = Vec::with_capacity(out.items().len());
        for item in out.items() {
            let r = Reader::new(item);
            let sk = r.str(SK)?;
            let rid = contribution_of_sort_key(sk)
                .map(|(rid, _)| rid.to_owned())
                .ok_or_else(|| r.malformed("not a contribution".to_owned()))?;
            let mut contribution = contribution_from_item(item)?;
            contribution.pos = r.opt_i64(AWAIT_POS)?;
            items.push(Waiting { rid, contribution });
        }
        let next = out.last_evaluated_key().and_then(|k| {
            let pos = match k.get(AWAIT_POS)? {
                AttributeValue::N(p) => p.clone(),
                _ => return None,
            };
            match k.get(SK)? {
                AttributeValue::S(sk) => Some(format!("{pos}:{sk}")),
                _ => None,
            }
        });
        Ok(WaitingPage { items, next })
    }

    /// The contributions of a sale to the orders `rids`, and those orders, in one batched read:
    /// what its lines wait for, and when.
    pub async fn sale_waits(
        &self,
        account: &AccountId,
        sale: &SaleId,
        rids: &[&str],
    ) -> Result<
        (
            HashMap<String, Contribution>,
            HashMap<String, Replenishment>,
        ),
        StoreError,
    > {
        let mut keys = Vec::with_capacity(rids.len() * 2);
        for rid in rids {
            keys.push(contribution_key(account, rid, sale));
            keys.push(order_key_str(account, rid));
        }
        let (mut claims, mut orders) = (HashMap::new(), HashMap::new());
        for item in self.batch_get(keys).await? {
            let r = Reader::new(&item);
            let sk = r.str(SK)?;
            if let Some(rid) = rid_of_order_sort_key(sk) {
                orders.insert(rid.to_owned(), order_from_item(&item)?);
            } else if let Some((rid, _)) = contribution_of_sort_key(sk) {
                claims.insert(rid.to_owned(), contribution_from_item(&item)?);
            }
        }
        Ok((claims, orders))
    }

    /// Flags a sale still being finalized (`ready_check`) whose last units were released, so that
    /// its completion asks whether it is ready. False if it is no longer being finalized.
    pub async fn flag_ready_check(
        &self,
        account: &AccountId,
        sale: &SaleId,
    ) -> Result<bool, StoreError> {
        let result = self
            .update_item(sale_key(account, sale))
            .update_expression("SET #rc = :yes")
            .condition_expression("#st = :finalizing")
            .expression_attribute_names("#rc", READY_CHECK)
            .expression_attribute_names("#st", STATUS)
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(
                ":finalizing",
                s(crate::domain::SaleStatus::Finalizing.as_str()),
            );
        update_if(result).await
    }

    /// The orders `rids` (those that exist), in one batched read.
    pub async fn orders_by_id(
        &self,
        account: &AccountId,
        rids: &[&str],
    ) -> Result<HashMap<String, Replenishment>, StoreError> {
        let keys = rids.iter().map(|rid| order_key_str(account, rid)).collect();
        let mut orders = HashMap::new();
        for item in self.batch_get(keys).await? {
            let order = order_from_item(&item)?;
            orders.insert(order.replenishment_id.clone(), order);
        }
        Ok(orders)
    }
}

/// `{pos}:{contribution sort key}`, as [`Store::waiting_page`] answers it.
fn parse_waiting_cursor(cursor: &str) -> Option<(i64, &str)> {
    let (pos, sk) = cursor.split_once(':')?;
    let pos = pos.parse().ok()?;
    contribution_of_sort_key(sk)?;
    Some((pos, sk))
}

/// Whether `cursor` is one [`Store::waiting_page`] answered.
pub fn is_waiting_cursor(cursor: &str) -> bool {
    parse_waiting_cursor(cursor).is_some()
}
