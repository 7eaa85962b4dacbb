//! Replenishment orders: reading one, closing, and creating a regular order.

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

use super::codec::{n, new_order_item, order_from_item, s, NewOrder, OrderRef, Reader};
use super::dynamo::{CommitError, Contended};
use super::layout::*;
use super::Store;
use crate::domain::{OrderStatus, Replenishment};
use crate::error::StoreError;
use crate::ids::{AccountId, ReplenishmentId, RequestId, Sku, VendorId};

/// Result of a close transaction.
#[derive(Debug)]
pub enum CloseTx {
    Committed,
    /// The order was not open (closed by someone else).
    NotOpen,
    /// A transaction conflict or throttling: retry.
    Contended(Contended),
}

/// Result of a close attempt.
#[derive(Debug)]
pub enum CloseOutcome {
    Closed(Replenishment),
    AlreadyClosed(Replenishment),
    NotFound,
    /// The order or its SKU changed under us; re-read and retry.
    Contended(Contended),
}

impl Store {
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
                CloseTx::NotOpen => CloseOutcome::Contended(Contended {
                    reason: "closed meanwhile".to_owned(),
                    resendable: false,
                }),
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
            Err(CommitError::Preempted) => Ok(CloseTx::NotOpen),
            Err(CommitError::Contended(reason)) => Ok(CloseTx::Contended(reason)),
        }
    }

    /// Releases an auto-back-order order's SKU (`open_rid`), conditional on pointing at it.
    pub(super) fn release_sku(
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
    /// The order a regular-order `request_id` created, with the request's fingerprint.
    pub async fn order_request(
        &self,
        account: &AccountId,
        request: &RequestId,
    ) -> Result<Option<(String, String)>, StoreError> {
        match self.get(request_key(account, request)).await? {
            Some(item) => {
                let r = Reader::new(&item);
                Ok(Some((
                    r.str(RID)?.to_owned(),
                    r.str(FINGERPRINT)?.to_owned(),
                )))
            }
            None => Ok(None),
        }
    }

    /// Creates a regular (manual) open order: no tag, not the SKU's open order, so sales never
    /// merge into it. With a `request_id`, its record is written in the same transaction
    /// (conditional on not existing), so a retry cannot create a second order. Answers the order
    /// as written.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_regular_order(
        &self,
        account: &AccountId,
        rid: &ReplenishmentId,
        sku: &Sku,
        vendor: Option<&VendorId>,
        quantity: i64,
        request: Option<(&RequestId, &str)>,
        now: &str,
    ) -> Result<Replenishment, CommitError> {
        let mut writes = Vec::with_capacity(2);
        if let Some((request, fingerprint)) = request {
            let mut record = request_key(account, request);
            record.insert(RID.to_owned(), s(rid.as_str()));
            record.insert(FINGERPRINT.to_owned(), s(fingerprint));
            record.insert(CREATED_AT.to_owned(), s(now));
            writes.push(
                TransactWriteItem::builder()
                    .put(self.put_new(record)?)
                    .build(),
            );
        }
        let item = new_order_item(&NewOrder {
            account,
            rid,
            sku,
            vendor_id: vendor,
            quantity,
            now,
            auto: false,
        });
        let order = order_from_item(&item)?;
        writes.push(
            TransactWriteItem::builder()
                .put(self.put_new(item)?)
                .build(),
        );
        self.transact(writes).await.map(|()| order)
    }
}
