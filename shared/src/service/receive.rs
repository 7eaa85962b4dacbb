//! A receipt against a closed order: recorded exactly once per `receipt_id`.

use crate::domain::{receive, ReceiptRefusal, Replenishment};
use crate::error::StoreError;
use crate::ids::{AccountId, ReceiptId, ReplenishmentId};
use crate::retry::{with_retries, Attempt};
use crate::store::{Store, StoredReceipt};
use crate::telemetry;

use super::now_rfc3339;

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
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Records a receipt on a closed order exactly once per `receipt_id`: the units go to the order's
/// `received` and to the SKU's stock. A repeat with the same quantity answers the order as it
/// stands and changes nothing (`false`: not received now); the id reused with another quantity is
/// a conflict.
pub async fn receive_units(
    store: &Store,
    account: &AccountId,
    rid: &ReplenishmentId,
    receipt: &ReceiptId,
    quantity: i64,
    allow_over_receipt: bool,
) -> Result<(Replenishment, bool), ReceiveError> {
    with_retries("receipt", || async move {
        let (stored, order) = store.receipt_context(account, rid, receipt).await?;
        let order = order.ok_or_else(|| ReceiveError::OrderNotFound(rid.clone()))?;
        if let Some(done) = stored {
            if done.quantity != quantity || done.allow_over_receipt != allow_over_receipt {
                return Err(ReceiveError::Conflict(receipt.clone()));
            }
            return Ok(Attempt::Done((order, false)));
        }
        let (received_after, receipt_status) = receive(&order, quantity, allow_over_receipt)
            .map_err(|refusal| match refusal {
                ReceiptRefusal::OrderOpen => ReceiveError::OrderOpen(rid.clone()),
                ReceiptRefusal::OverReceipt { outstanding } => ReceiveError::OverReceipt {
                    quantity,
                    outstanding,
                },
            })?;
        let done = StoredReceipt {
            quantity,
            allow_over_receipt,
            received_after,
            receipt_status,
        };
        let now = now_rfc3339();
        Ok(
            match store
                .commit_receipt(account, &order, receipt, &done, &now)
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
                    Attempt::Done((order, true))
                }
                // Recorded first by a retry or a duplicate: the next read answers as it did.
                Err(e) => e.into_attempt()?,
            },
        )
    })
    .await
}
