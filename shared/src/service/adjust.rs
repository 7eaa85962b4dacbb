//! A stock adjustment made with an `adjustment_id`: applied exactly once.

use crate::error::StoreError;
use crate::ids::{AccountId, AdjustmentId, Sku};
use crate::retry::{with_retries, Attempt};
use crate::store::Store;

use super::now_rfc3339;

/// Why an adjustment was not applied.
#[derive(Debug, thiserror::Error)]
pub enum AdjustError {
    /// The id was used before for another SKU or delta.
    #[error("adjustment_id {0} was already used for another adjustment")]
    Conflict(AdjustmentId),
    #[error("sku {0} not found")]
    SkuNotFound(Sku),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A SKU's stock level as the inventory routes answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    pub sku: String,
    pub on_hand: i64,
    pub open_replenishment_id: Option<String>,
}

/// Applies a stock adjustment exactly once per `adjustment_id`: a retry with the same SKU and delta
/// gets the first answer and changes nothing; the id reused for another SKU or delta is a conflict.
pub async fn adjust_stock_once(
    store: &Store,
    account: &AccountId,
    sku: &Sku,
    delta: i64,
    adjustment: &AdjustmentId,
) -> Result<Level, AdjustError> {
    with_retries("adjustment", || async move {
        let (stored, record) = store.adjustment_context(account, adjustment, sku).await?;
        if let Some(done) = stored {
            if done.sku != sku.as_str() || done.delta != delta {
                return Err(AdjustError::Conflict(adjustment.clone()));
            }
            return Ok(Attempt::Done(Level {
                sku: done.sku,
                on_hand: done.on_hand_after,
                open_replenishment_id: done.open_rid,
            }));
        }
        let record = record.ok_or_else(|| AdjustError::SkuNotFound(sku.clone()))?;
        Ok(
            match store
                .commit_adjustment(account, adjustment, &record, delta, &now_rfc3339())
                .await
            {
                Ok(()) => Attempt::Done(Level {
                    sku: sku.to_string(),
                    on_hand: record.state.on_hand + delta,
                    open_replenishment_id: record.shown_open_order().map(ToString::to_string),
                }),
                // Recorded first by a retry or a duplicate: the next read answers as it did.
                Err(e) => e.into_attempt()?,
            },
        )
    })
    .await
}
