//! A receipt against a closed order: recorded exactly once per `receipt_id`, releasing the units
//! to the sales waiting on them, oldest first.

use crate::domain::{
    held_back, receive, release, released_between, Claim, ReceiptRefusal, Released, Replenishment,
};
use crate::error::StoreError;
use crate::ids::{AccountId, ReceiptId, ReplenishmentId};
use crate::retry::{with_retries, Attempt};
use crate::store::codec::{released_chunks, MAX_RELEASED_ITEMS};
use crate::store::{Contribution, Store, StoredReceipt};
use crate::telemetry;

use super::now_rfc3339;
use super::release::raise_all;

/// Why a receipt was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("replenishment_id {0} not found")]
    OrderNotFound(ReplenishmentId),
    /// The id was used before for another receipt.
    #[error("receipt_id {0} was already used for another receipt")]
    Conflict(ReceiptId),
    #[error("replenishment_id {0} is still open: only a closed order receives")]
    OrderOpen(ReplenishmentId),
    #[error(
        "quantity {quantity} is more than the {outstanding} units outstanding; send allow_over_receipt: true to receive them anyway"
    )]
    OverReceipt { quantity: i64, outstanding: i64 },
    /// The receipt would release units to more sales than one receipt can record.
    #[error(
        "quantity {quantity} would release units to {sales} sales at once, more than one receipt records; receive them in smaller receipts"
    )]
    TooManyReleased { quantity: i64, sales: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a receipt answers.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub order: Replenishment,
    /// Units the receipt released to waiting sales, oldest first.
    pub released: Vec<Released>,
    /// False for a repeat of a receipt recorded before (nothing changed).
    pub received_now: bool,
}

/// Records a receipt on a closed order exactly once per `receipt_id`: the units go to the order's
/// `received` and to the SKU's stock, and are released to the sales that fed the order, oldest
/// first ([`crate::domain::release`]). A repeat with the same quantity answers the order as it
/// stands and what the receipt released then, and changes nothing; the id reused with another
/// quantity is a conflict.
pub async fn receive_units(
    store: &Store,
    account: &AccountId,
    rid: &ReplenishmentId,
    receipt: &ReceiptId,
    quantity: i64,
    allow_over_receipt: bool,
) -> Result<Receipt, ReceiveError> {
    let done = with_retries("receipt", || async move {
        let (stored, ctx) = store.receipt_context(account, rid, receipt).await?;
        let ctx = ctx.ok_or_else(|| ReceiveError::OrderNotFound(rid.clone()))?;
        let order = ctx.order;
        if let Some(done) = stored {
            if done.quantity != quantity || done.allow_over_receipt != allow_over_receipt {
                return Err(ReceiveError::Conflict(receipt.clone()));
            }
            return Ok(Attempt::Done((
                Receipt {
                    order,
                    released: done.released,
                    received_now: false,
                },
                Vec::new(),
                Vec::new(),
            )));
        }
        let (received_after, receipt_status) = receive(&order, quantity, allow_over_receipt)
            .map_err(|refusal| match refusal {
                ReceiptRefusal::OrderOpen => ReceiveError::OrderOpen(rid.clone()),
                ReceiptRefusal::OverReceipt { outstanding } => ReceiveError::OverReceipt {
                    quantity,
                    outstanding,
                },
            })?;
        // What these units release: the rule over the sales owed now, before and after.
        let claims: Vec<Claim> = ctx.claims.iter().map(Contribution::claim).collect();
        let held = held_back(order.quantity, &claims);
        let before = release(order.received, held, &claims);
        let after = release(received_after, held, &claims);
        let released = released_between(&claims, &before, &after);
        if released_chunks(&released).len() > MAX_RELEASED_ITEMS {
            return Err(ReceiveError::TooManyReleased {
                quantity,
                sales: released.len(),
            });
        }
        let done = StoredReceipt {
            quantity,
            allow_over_receipt,
            received_after,
            receipt_status,
            released,
            released_parts: 0,
        };
        let now = now_rfc3339();
        Ok(
            match store
                .commit_receipt(account, &order, ctx.cancels, receipt, &done, &now)
                .await
            {
                Ok(()) => {
                    telemetry::count(|s| &s.units_received, quantity.unsigned_abs());
                    let order = Replenishment {
                        received: received_after,
                        receipt_status,
                        updated_at: now,
                        ..order
                    };
                    Attempt::Done((
                        Receipt {
                            order,
                            released: done.released,
                            received_now: true,
                        },
                        ctx.claims,
                        after,
                    ))
                }
                // Recorded first by a retry or a duplicate, or a cancellation freed units
                // meanwhile: the next read answers as it stands.
                Err(e) => e.into_attempt()?,
            },
        )
    })
    .await?;
    let (receipt, claims, targets) = done;
    if !claims.is_empty() {
        // The releases themselves: at once, so that what the answer says is what a read shows
        // next. A failure here is finished by the stream (the order's `received` changed).
        if let Err(e) = raise_all(store, account, rid, &claims, &targets).await {
            tracing::warn!(error = %e, replenishment_id = %rid, "release left to the stream");
        }
    } else if !receipt.received_now && !receipt.released.is_empty() {
        // A repeat of a receipt that released units (its first call may have died before its
        // raises, or this is the retry of a commit whose answer was lost): settle the order, so
        // that a read after this answer shows them too.
        super::release::settle_orders_quietly(store, account, std::slice::from_ref(rid)).await;
    }
    Ok(receipt)
}
