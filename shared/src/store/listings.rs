//! Listings: an account's orders (by status, SKU or vendor), an order's audit trail, and the
//! open orders of every account for the scheduled close.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Select};

use super::codec::{
    contribution_from_item, open_index_entry, order_from_item, s, Contribution, OrderRef,
};
use super::dynamo::{dynamo_error, page_limit};
use super::layout::*;
use super::Store;
use crate::domain::{OrderStatus, ReceiptStatus, Replenishment};
use crate::error::StoreError;
use crate::ids::{AccountId, ReplenishmentId, Sku, VendorId};

/// One page of orders.
#[derive(Debug)]
pub struct OrderPage {
    pub items: Vec<Replenishment>,
    /// The last order id evaluated, when more may follow.
    pub next: Option<String>,
}

/// What a listing of orders is narrowed to; every part is optional.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrderFilter<'a> {
    pub status: Option<OrderStatus>,
    pub sku: Option<&'a Sku>,
    pub vendor: Option<&'a VendorId>,
    pub receipt_status: Option<ReceiptStatus>,
    /// An order tag, e.g. `auto_backorder`.
    pub tag: Option<&'a str>,
}

impl OrderFilter<'_> {
    /// Whether an order passes every part of the filter.
    pub fn admits(&self, order: &Replenishment) -> bool {
        self.status.is_none_or(|s| order.status == s)
            && self.sku.is_none_or(|s| order.sku == s.as_str())
            && self
                .vendor
                .is_none_or(|v| order.vendor_id.as_deref() == Some(v.as_str()))
            && self
                .receipt_status
                .is_none_or(|r| order.receipt_status == r)
            && self
                .tag
                .is_none_or(|t| order.tags.iter().any(|have| have == t))
    }
}

/// One page of open orders across accounts, for the scheduled close.
#[derive(Debug)]
pub struct OpenOrderPage {
    pub orders: Vec<(AccountId, OrderRef)>,
    pub next: Option<Item>,
}

/// One page of an order's contributions, in sale id order.
#[derive(Debug)]
pub struct ContributionPage {
    pub items: Vec<Contribution>,
    /// The last sale id of the page, when more may follow.
    pub next: Option<String>,
}

impl Store {
    /// One page of an account's orders, newest first, narrowed by `filter`. The status, SKU and
    /// vendor choose the index; the receipt status and tag (and a vendor beside a SKU) are read
    /// from the orders themselves, so a page may hold fewer than `limit` orders, even none, while
    /// `next` says more may follow.
    pub async fn list_orders(
        &self,
        account: &AccountId,
        filter: &OrderFilter<'_>,
        limit: usize,
        after: Option<&str>,
    ) -> Result<OrderPage, StoreError> {
        let status = filter.status;
        let mut page = match (filter.sku, filter.vendor) {
            (Some(sku), _) => {
                self.list_filtered(
                    INDEX_BY_SKU,
                    GSI2PK,
                    sku_partition(account, sku),
                    account,
                    status,
                    limit,
                    after,
                )
                .await?
            }
            (None, Some(vendor)) => {
                self.list_filtered(
                    INDEX_BY_VENDOR,
                    GSI3PK,
                    vendor_partition(account, vendor.as_str()),
                    account,
                    status,
                    limit,
                    after,
                )
                .await?
            }
            // One page of the account's orders, or of those in one status: an index partition
            // whose entries are exactly the page (no filter).
            (None, None) => {
                let (index, attr, partition) = match status {
                    None => (INDEX_BY_ACCOUNT, GSI4PK, orders_partition(account)),
                    Some(status) => (INDEX_BY_STATUS, GSI1PK, status_partition(account, status)),
                };
                let out = self
                    .index_page(index, attr, &partition, account, page_limit(limit), after)
                    .send()
                    .await
                    .map_err(|e| dynamo_error("Query", e))?;
                let next = last_rid(out.last_evaluated_key());
                let items = self
                    .orders_by_keys(account, out.items.unwrap_or_default(), status)
                    .await?;
                OrderPage { items, next }
            }
        };
        page.items.retain(|o| filter.admits(o));
        Ok(page)
    }

    /// A query of one page of an order index partition, newest first, after the order `after`.
    fn index_page(
        &self,
        index: &str,
        partition_attr: &str,
        partition: &str,
        account: &AccountId,
        limit: i32,
        after: Option<&str>,
    ) -> QueryFluentBuilder {
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#g = :g")
            .expression_attribute_names("#g", partition_attr)
            .expression_attribute_values(":g", s(partition))
            .scan_index_forward(false)
            .limit(limit);
        if let Some(rid) = after {
            q = q
                .exclusive_start_key(partition_attr, s(partition))
                .exclusive_start_key(PK, s(super::layout::partition(account, &order_sk(rid))))
                .exclusive_start_key(SK, s(order_sk(rid)));
        }
        q
    }

    /// One page of the orders of an index partition projecting `status` (`by_sku`, `by_vendor`),
    /// newest first, optionally of one status (a filter: pages on until `limit` is met, a bounded
    /// number of times).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn list_filtered(
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
            let mut q = self.index_page(
                index,
                partition_attr,
                &partition,
                account,
                remaining,
                start.as_deref(),
            );
            if let Some(st) = status {
                q = q
                    .filter_expression("#st = :st")
                    .expression_attribute_names("#st", STATUS)
                    .expression_attribute_values(":st", s(st.as_str()));
            }
            let out = q.send().await.map_err(|e| dynamo_error("Query", e))?;
            next = last_rid(out.last_evaluated_key());
            keys.extend(out.items.unwrap_or_default());
            if next.is_none() || keys.len() >= limit {
                break;
            }
            start = next.clone();
        }
        let items = self.orders_by_keys(account, keys, status).await?;
        Ok(OrderPage { items, next })
    }

    /// Fetches orders by index keys, newest first. An order whose status changed since the
    /// (eventually consistent) index was read is left out when `status` is given. Open
    /// auto-back-order orders show their SKU's running quantity.
    pub(super) async fn orders_by_keys(
        &self,
        account: &AccountId,
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
        self.live_quantities(account, &mut orders).await?;
        Ok(orders)
    }

    /// A query of the open auto-back-order orders of all accounts created before `cutoff`, in
    /// `open_by_age` shard `shard`.
    fn open_before(&self, shard: usize, cutoff: &str) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(INDEX_OPEN_BY_AGE)
            .key_condition_expression("#p = :p AND #s < :cutoff")
            .expression_attribute_names("#p", OPEN_PK)
            .expression_attribute_names("#s", OPEN_SK)
            .expression_attribute_values(":p", s(open_shard(shard)))
            .expression_attribute_values(":cutoff", s(cutoff))
    }

    /// One page of the open auto-back-order orders of all accounts created before `cutoff` (RFC
    /// 3339) in `open_by_age` shard `shard` (0..[`OPEN_SHARDS`]), oldest first.
    pub async fn open_orders_before(
        &self,
        shard: usize,
        cutoff: &str,
        limit: i32,
        start: Option<Item>,
    ) -> Result<OpenOrderPage, StoreError> {
        let out = self
            .open_before(shard, cutoff)
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

    /// How many open auto-back-order orders were created before `cutoff` (every shard).
    pub async fn count_open_orders_before(&self, cutoff: &str) -> Result<u64, StoreError> {
        let mut total = 0u64;
        for shard in 0..OPEN_SHARDS {
            let mut start = None;
            loop {
                let out = self
                    .open_before(shard, cutoff)
                    .select(Select::Count)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| dynamo_error("Query", e))?;
                total += u64::try_from(out.count).unwrap_or(0);
                match out.last_evaluated_key {
                    Some(k) if !k.is_empty() => start = Some(k),
                    _ => break,
                }
            }
        }
        Ok(total)
    }

    /// One page of the sales that fed an order, in sale id order.
    pub async fn contributions(
        &self,
        account: &AccountId,
        rid: &ReplenishmentId,
        limit: usize,
        after: Option<&str>,
    ) -> Result<ContributionPage, StoreError> {
        let prefix = contribution_prefix(rid.as_str());
        let after = after.map(|sale| format!("{prefix}{sale}"));
        let pk = partition(account, &order_sk(rid.as_str()));
        let out = self.query_prefix(&pk, &prefix, true, limit, after).await?;
        let items = out
            .items()
            .iter()
            .map(contribution_from_item)
            .collect::<Result<Vec<_>, StoreError>>()?;
        let next = match out.last_evaluated_key().and_then(|k| k.get(SK)) {
            Some(AttributeValue::S(sk)) => sale_of_contribution(sk, rid.as_str()),
            _ => None,
        };
        Ok(ContributionPage { items, next })
    }

    /// One page of a vendor's orders in a status, newest first.
    pub async fn vendor_orders(
        &self,
        account: &AccountId,
        vendor: &VendorId,
        status: OrderStatus,
        limit: usize,
        after: Option<&str>,
    ) -> Result<OrderPage, StoreError> {
        self.list_filtered(
            INDEX_BY_VENDOR,
            GSI3PK,
            vendor_partition(account, vendor.as_str()),
            account,
            Some(status),
            limit,
            after,
        )
        .await
    }
}

pub(super) fn last_rid(key: Option<&Item>) -> Option<String> {
    match key?.get(SK)? {
        AttributeValue::S(sk) => rid_of_order_sort_key(sk).map(str::to_owned),
        _ => None,
    }
}
