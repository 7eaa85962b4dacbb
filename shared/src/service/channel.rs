//! Sales from a channel (a Shopify store): finalized and cancelled as a channel needs, since it
//! cannot be told "no" in a way it understands, and it redelivers.
//!
//! - A line whose SKU the account does not know is left out (logged, and counted in the metric
//!   `channel_lines_skipped`); the other lines are finalized.
//! - A redelivery whose lines differ from the sale finalized under its id (the order was edited,
//!   or a SKU became known since) changes nothing and is reported, not retried.
//! - A cancel of a sale not yet finalized leaves a tombstone (a sale record whose status is
//!   `cancelled`, with no lines), so that its finalize, arriving later, is refused.

use std::collections::HashSet;

use crate::domain::{
    CancelResult, Fulfillment, FulfillmentStatus, SaleRequest, SaleResult, SaleStatus, StockStatus,
};
use crate::ids::{AccountId, SaleId};
use crate::store::{codec, Store};
use crate::telemetry;

use super::cancel::{cancel_sale, CancelError, Cancelled};
use super::finalize::{finalize_sale, FinalizeError};
use super::now_rfc3339;

/// What became of a channel's sale.
#[derive(Debug, PartialEq, Eq)]
pub enum ChannelSale {
    /// Finalized now (`replayed`: it had been, with these lines).
    Finalized { replayed: bool, skipped: usize },
    /// No line of the order is a SKU the account knows: nothing to finalize.
    NothingKnown { skipped: usize },
    /// Finalized before with other lines: nothing changed.
    Differs,
    /// Cancelled (before or after it was finalized): nothing changed.
    Cancelled,
}

/// Finalizes a channel's sale, leaving out the lines whose SKU the account does not know.
pub async fn finalize_channel_sale(
    store: &Store,
    account: &AccountId,
    sale_id: &SaleId,
    request: &SaleRequest,
) -> Result<ChannelSale, FinalizeError> {
    let skus: Vec<_> = request.lines.iter().map(|l| l.sku.clone()).collect();
    let (missing, _) = store.missing_and_limited_skus(account, &skus).await?;
    let missing: HashSet<_> = missing;
    if !missing.is_empty() {
        let mut unknown: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        unknown.sort_unstable();
        tracing::warn!(
            account = %account,
            sale_id = %sale_id,
            unknown_skus = ?unknown,
            "channel sale: lines with SKUs this account does not know are left out"
        );
        telemetry::count(|s| &s.channel_lines_skipped, missing.len() as u64);
    }
    let known = SaleRequest {
        lines: request
            .lines
            .iter()
            .filter(|l| !missing.contains(&l.sku))
            .cloned()
            .collect(),
        ..request.clone()
    };
    if known.lines.is_empty() {
        return Ok(ChannelSale::NothingKnown {
            skipped: missing.len(),
        });
    }
    match finalize_sale(store, account, sale_id, &known).await {
        Ok(done) => Ok(ChannelSale::Finalized {
            replayed: done.replayed,
            skipped: missing.len(),
        }),
        Err(FinalizeError::Conflict(_)) => {
            tracing::warn!(
                account = %account,
                sale_id = %sale_id,
                "channel sale delivered again with other lines: the sale finalized first stands"
            );
            Ok(ChannelSale::Differs)
        }
        Err(FinalizeError::Cancelled(_) | FinalizeError::CancelledFirst(_)) => {
            Ok(ChannelSale::Cancelled)
        }
        Err(e) => Err(e),
    }
}

/// Cancels a channel's sale; one not finalized yet gets a tombstone instead, so that it never is.
pub async fn cancel_channel_sale(
    store: &Store,
    account: &AccountId,
    sale_id: &SaleId,
) -> Result<Cancelled, CancelError> {
    loop {
        match cancel_sale(store, account, sale_id).await {
            Err(CancelError::NotFound(_)) => {}
            other => return other,
        }
        let now = now_rfc3339();
        let result = SaleResult {
            sale_id: sale_id.to_string(),
            status: SaleStatus::Cancelled,
            customer: None,
            channel: None,
            fulfillment: Fulfillment {
                fulfillment_id: String::new(),
                status: FulfillmentStatus::Pending,
                stock_status: StockStatus::Ready,
            },
            lines: Vec::new(),
        };
        let cancel = CancelResult {
            sale_id: sale_id.to_string(),
            status: SaleStatus::Cancelled,
            cancelled_at: now.clone(),
            not_taken_back: 0,
            lines: Vec::new(),
        };
        let cancel_json = codec::to_json(sale_id, &cancel)?;
        let result_json = codec::to_json(sale_id, &result)?;
        if store
            .put_tombstone(account, sale_id, &result_json, &cancel_json, &now)
            .await?
        {
            telemetry::count(|s| &s.sales_cancelled, 1);
            return Ok(Cancelled {
                body: cancel_json,
                replayed: false,
                taken_back: 0,
                not_taken_back: 0,
            });
        }
        // A sale was claimed under this id meanwhile: cancel it.
    }
}
