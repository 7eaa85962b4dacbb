//! Replenishment orders: reading one, closing, and creating a regular order.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};

use super::codec::{n, new_order_item, order_from_item, s, NewOrder, OrderRef, Reader};
use super::dynamo::{dynamo_error, CommitError, Contended};
use super::layout::*;
use super::{Store, VendorSettings};
use crate::domain::{OrderStatus, Replenishment};
use crate::error::StoreError;
use crate::ids::{AccountId, ReplenishmentId, RequestId, Sku, VendorId};

/// Result of closing an order known (or listed) as open.
#[derive(Debug)]
pub enum CloseTx {
    /// Closed now: the order as the close left it.
    Committed(Box<Replenishment>),
    /// The order was not open (closed by someone else), or a scheduled close found it empty.
    NotOpen,
    /// A transaction conflict or throttling: retry.
    Contended(Contended),
}

/// What an auto-back-order order's SKU said as it let go of the order.
struct ReleasedSku {
    /// The order's final quantity.
    quantity: i64,
    vendor: Option<VendorId>,
    /// The SKU's own pack size, if it overrides its vendor's.
    pack_size: Option<i64>,
    /// Closed orders' versions on the SKU item that no marker needs any more.
    unneeded: Vec<String>,
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
    /// An order as the API shows it: an open auto-back-order order's quantity is its SKU's running
    /// one ([`Self::live_quantities`]).
    pub async fn order(
        &self,
        account: &AccountId,
        rid: &ReplenishmentId,
    ) -> Result<Option<Replenishment>, StoreError> {
        match self.get(order_key(account, rid)).await? {
            Some(item) => {
                let mut orders = [order_from_item(&item)?];
                self.live_quantities(account, &mut orders).await?;
                let [order] = orders;
                Ok(Some(order))
            }
            None => Ok(None),
        }
    }

    /// Sets the quantity of every open auto-back-order order among `orders` to its SKU's running
    /// quantity (sales add their units there, not to the order's item, until the order closes:
    /// `open_qty` while the SKU points at it, `cq#{rid}` while its close is under way).
    /// One batched read of their SKUs; none when no order is open.
    pub async fn live_quantities(
        &self,
        account: &AccountId,
        orders: &mut [Replenishment],
    ) -> Result<(), StoreError> {
        let mut skus: Vec<&str> = orders
            .iter()
            .filter(|o| o.status == OrderStatus::Open && o.is_auto_backorder())
            .map(|o| o.sku.as_str())
            .collect();
        if skus.is_empty() {
            return Ok(());
        }
        skus.sort_unstable();
        skus.dedup();
        let keys = skus
            .iter()
            .filter_map(|sku| Sku::parse(*sku, SKU_ATTR).ok())
            .map(|sku| sku_key(account, &sku))
            .collect();
        let items = self.batch_get(keys).await?;
        let mut by_sku = std::collections::HashMap::new();
        for item in &items {
            if let Some(sku) = sku_of_sort_key(Reader::new(item).str(SK)?) {
                by_sku.insert(sku.to_owned(), item);
            }
        }
        let mut closed_meanwhile = Vec::new();
        for (i, order) in orders
            .iter_mut()
            .enumerate()
            .filter(|(_, o)| o.status == OrderStatus::Open && o.is_auto_backorder())
        {
            let running = by_sku.get(&order.sku).and_then(|item| {
                let r = Reader::new(item);
                let rid = order.replenishment_id.as_str();
                if r.opt_str(OPEN_RID).ok().flatten() == Some(rid) {
                    r.opt_i64(OPEN_QTY).ok().flatten()
                } else {
                    // Being closed: the quantity its close took from the SKU.
                    r.opt_i64(&closing_quantity_attr(rid)).ok().flatten()
                }
            });
            match running {
                Some(q) => order.quantity = q,
                // Its close finished between the two reads: its item has the final quantity.
                None => closed_meanwhile.push(i),
            }
        }
        if !closed_meanwhile.is_empty() {
            let keys = closed_meanwhile
                .iter()
                .map(|&i| order_key_str(account, &orders[i].replenishment_id))
                .collect();
            for item in self.batch_get(keys).await? {
                let fresh = order_from_item(&item)?;
                if let Some(slot) = orders
                    .iter_mut()
                    .find(|o| o.replenishment_id == fresh.replenishment_id)
                {
                    *slot = fresh;
                }
            }
        }
        Ok(())
    }

    /// Closes an open order. An auto-back-order order's SKU is released first: from then on no
    /// sale adds to it, and its running quantity is final.
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
                .close_open_order(account, &order_ref, false, now)
                .await?
            {
                CloseTx::Committed(closed) => CloseOutcome::Closed(*closed),
                // Closed since we read it (the next read returns it), or contended: re-read and retry.
                CloseTx::NotOpen => CloseOutcome::Contended(Contended {
                    reason: "closed meanwhile".to_owned(),
                    resendable: false,
                }),
                CloseTx::Contended(reason) => CloseOutcome::Contended(reason),
            },
        )
    }

    /// Closes an order known to be open. An auto-back-order order in three conditional writes,
    /// each safe to repeat, so a close that crashes is finished by the next one:
    /// 1. its SKU lets go of it (conditional on pointing at it; `keep_empty`: and on its running
    ///    quantity being above 0, for the scheduled close, which leaves an order whose sales were
    ///    all cancelled open for the next shortfall), moving `open_qty` to `cq#{rid}` in the same
    ///    write: the quantity is final from here, and the next sale opens the next order;
    /// 2. the order item goes `open -> closed` with that quantity (conditional on `open`);
    /// 3. the SKU forgets `cq#{rid}`.
    ///
    /// A regular order is one conditional update.
    pub async fn close_open_order(
        &self,
        account: &AccountId,
        order: &OrderRef,
        keep_empty: bool,
        now: &str,
    ) -> Result<CloseTx, StoreError> {
        let rid = &order.rid;
        let mut unneeded = Vec::new();
        let (quantity, vendor, sku_pack) = if order.auto {
            match self.release_sku(account, order, keep_empty, now).await? {
                Some(released) => {
                    unneeded = released.unneeded;
                    (
                        Some(released.quantity),
                        order.vendor.clone().or(released.vendor),
                        released.pack_size,
                    )
                }
                None => return Ok(CloseTx::NotOpen),
            }
        } else {
            (None, order.vendor.clone(), None)
        };
        // Expected at: the close plus the vendor's lead time as it stands now; the units ordered
        // are whole packs (the SKU's own size, else the vendor's) and at least the vendor's minimum.
        let settings = match &vendor {
            Some(v) => self.vendor_settings(account, v).await?,
            None => VendorSettings::default(),
        };
        let expected = crate::domain::expected_at(now, settings.lead_time_days);
        let ordered = quantity.map(|q| {
            crate::domain::ordered_quantity(
                q,
                sku_pack.or(settings.pack_size).unwrap_or(1),
                settings.min_order_units.unwrap_or(0),
            )
        });
        let mut close = self
            .update_item(order_key(account, rid))
            .condition_expression("#st = :open")
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
            .return_values(ReturnValue::AllNew);
        let mut set = "SET #st = :closed, #ca = :now, #u = :now, #g1 = :g1".to_owned();
        if let Some(at) = expected {
            set.push_str(", #ea = :ea");
            close = close
                .expression_attribute_names("#ea", EXPECTED_AT)
                .expression_attribute_values(":ea", s(at));
        }
        if let (Some(q), Some(ordered)) = (quantity, ordered) {
            set.push_str(", #q = :q, #oq = :oq");
            close = close
                .expression_attribute_names("#q", QUANTITY)
                .expression_attribute_values(":q", n(q))
                .expression_attribute_names("#oq", ORDERED_QUANTITY)
                .expression_attribute_values(":oq", n(ordered));
        }
        let closed = match close
            .update_expression(format!("{set} REMOVE #opk, #osk"))
            .send()
            .await
        {
            Ok(out) => order_from_item(&out.attributes.unwrap_or_default())?,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                return Ok(CloseTx::NotOpen)
            }
            Err(e) => {
                let err = dynamo_error("UpdateItem", e);
                return Ok(match err {
                    StoreError::Unavailable { .. } => CloseTx::Contended(Contended {
                        reason: err.to_string(),
                        resendable: true,
                    }),
                    other => return Err(other),
                });
            }
        };
        if order.auto {
            self.forget_running_quantity(account, order, &unneeded)
                .await;
        }
        Ok(CloseTx::Committed(Box::new(closed)))
    }

    /// Step 1 of closing an auto-back-order order: its SKU lets go of it. The order's final
    /// quantity, the SKU's vendor and pack size, or `None` when it is not open (its close is
    /// finished) or, with `keep_empty`, has no units.
    async fn release_sku(
        &self,
        account: &AccountId,
        order: &OrderRef,
        keep_empty: bool,
        now: &str,
    ) -> Result<Option<ReleasedSku>, StoreError> {
        let closing = closing_quantity_attr(order.rid.as_str());
        let released = |item: &Item, quantity: i64| -> Result<ReleasedSku, StoreError> {
            let r = Reader::new(item);
            Ok(ReleasedSku {
                quantity,
                vendor: r.opt_id(VENDOR_ID, VendorId::parse)?,
                pack_size: r.opt_i64(PACK_SIZE)?,
                unneeded: super::marks::unneeded_closes(item, &[]),
            })
        };
        // With the close, the SKU keeps the version it closed at, for the markers of lines
        // written into the order (see `marks::order_at`).
        let mut req = self
            .update_item(sku_key(account, &order.sku))
            .update_expression(
                "SET #cq = if_not_exists(#oq, :zero), #cv = #ver, #u = :now \
                 REMOVE #open, #oq ADD #ver :one",
            )
            .expression_attribute_names("#cq", &closing)
            .expression_attribute_names("#cv", closed_version_attr(order.rid.as_str()))
            .expression_attribute_names("#oq", OPEN_QTY)
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_names("#open", OPEN_RID)
            .expression_attribute_names("#u", UPDATED_AT)
            .expression_attribute_names("#ver", VERSION)
            .expression_attribute_values(":rid", s(order.rid.as_str()))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        req = if keep_empty {
            req.condition_expression("#open = :rid AND #oq > :zero")
        } else {
            req.condition_expression("#open = :rid")
        };
        let item = match req.send().await {
            Ok(out) => out.attributes.unwrap_or_default(),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                    let item = c.item().cloned().unwrap_or_default();
                    let r = Reader::new(&item);
                    if r.opt_str(OPEN_RID)? == Some(order.rid.as_str()) {
                        // Still its SKU's open order, with no units: left open.
                        return Ok(None);
                    }
                    // Released before (a close that did not finish): finish it with the
                    // quantity kept, if the order item does not have it already.
                    return match r.opt_i64(&closing)? {
                        Some(q) => released(&item, q).map(Some),
                        None => Ok(None),
                    };
                }
                _ => return Err(dynamo_error("UpdateItem", e)),
            },
        };
        let quantity = Reader::new(&item).opt_i64(&closing)?.unwrap_or(0);
        released(&item, quantity).map(Some)
    }

    /// Step 3 of closing: the SKU forgets the closed order's quantity, and the closed orders'
    /// versions no marker needs. A failure only leaves a few bytes on the SKU item (readers use
    /// the order item's quantity once closed).
    async fn forget_running_quantity(
        &self,
        account: &AccountId,
        order: &OrderRef,
        unneeded: &[String],
    ) {
        let names: Vec<String> = std::iter::once(closing_quantity_attr(order.rid.as_str()))
            .chain(unneeded.iter().cloned())
            .collect();
        let result = self.remove_sku_attrs(account, &order.sku, &names).await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "a closed order's running quantity was left on its SKU");
        }
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
