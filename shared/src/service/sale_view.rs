//! A stored sale as the API answers it (`GET /sales/{sale_id}`, and a finalize replayed).

use std::collections::HashMap;

use crate::domain::{
    Fulfillment, FulfillmentStatus, SaleLineResult, SaleResult, SaleStatus, StockStatus,
};
use crate::error::StoreError;
use crate::ids::{AccountId, SaleId};
use crate::store::{codec, Store, StoredSale};

/// The response of a stored sale: the stored body of a one-transaction sale, or a sale in parts
/// assembled from its parts (`"status": "finalizing"` with the lines applied so far while it is
/// incomplete).
pub async fn sale_body(
    store: &Store,
    account: &AccountId,
    sale_id: &SaleId,
    sale: &StoredSale,
) -> Result<String, StoreError> {
    let body = match &sale.result_json {
        Some(body) => body.clone(),
        None => assemble_parts(store, account, sale_id, sale, HashMap::new()).await?,
    };
    if !is_cancelled(sale) {
        return Ok(body);
    }
    // A cancelled sale shows what it was, with its status: the cancellation has its own answer.
    let mut result: SaleResult = codec::from_json(sale_id, &body)?;
    result.status = sale.status;
    codec::to_json(sale_id, &result)
}

pub(super) fn is_cancelled(sale: &StoredSale) -> bool {
    matches!(sale.status, SaleStatus::Cancelled | SaleStatus::Cancelling)
}

/// The answer of a sale in parts: the lines of its applied parts (those in `known`, and the
/// others read).
pub(super) async fn assemble_parts(
    store: &Store,
    account: &AccountId,
    sale_id: &SaleId,
    sale: &StoredSale,
    mut known: HashMap<u32, Vec<SaleLineResult>>,
) -> Result<String, StoreError> {
    let applied = sale.done.min(sale.parts);
    let missing: Vec<u32> = (0..applied).filter(|k| !known.contains_key(k)).collect();
    if !missing.is_empty() {
        for (k, lines) in missing
            .iter()
            .zip(store.sale_part_lines(account, sale_id, &missing).await?)
        {
            known.insert(*k, lines);
        }
    }
    let lines: Vec<SaleLineResult> = (0..applied)
        .flat_map(|k| known.remove(&k).unwrap_or_default())
        .collect();
    let finalizing = sale.status == SaleStatus::Finalizing;
    let result = SaleResult {
        sale_id: sale_id.to_string(),
        status: if finalizing {
            SaleStatus::Finalizing
        } else {
            SaleStatus::Finalized
        },
        customer: sale.customer.clone(),
        channel: sale.channel.clone(),
        fulfillment: Fulfillment {
            fulfillment_id: sale.fulfillment_id.clone().unwrap_or_default(),
            status: if finalizing {
                FulfillmentStatus::Pending
            } else {
                FulfillmentStatus::Raised
            },
            stock_status: StockStatus::of(lines.iter().map(|l| l.awaiting)),
        },
        lines,
    };
    codec::to_json(sale_id, &result)
}
