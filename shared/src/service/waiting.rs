//! Who waits for stock, and for how long: a sale as it stands (its lines' `awaiting`, `released`
//! and `expected_at`, its `stock_status`), the sales waiting on a SKU, and whether a sale has just
//! become ready (the `FulfillmentReady` event).

use serde::Serialize;

use crate::domain::{SaleResult, SaleStatus, StockStatus};
use crate::error::StoreError;
use crate::events::ReadyLine;
use crate::ids::{AccountId, SaleId, Sku};
use crate::store::{codec, Store, StoredSale};

use super::sale_view::{is_cancelled, sale_body};

/// A stored sale as it stands now (`GET /sales/{sale_id}`): its answer, each back-ordered line
/// with the units still awaited, released and when its order is expected, and the fulfillment's
/// `stock_status`. A cancelled sale awaits nothing.
pub async fn current_sale(
    store: &Store,
    account: &AccountId,
    sale_id: &SaleId,
    sale: &StoredSale,
) -> Result<String, StoreError> {
    let body = sale_body(store, account, sale_id, sale).await?;
    let mut result: SaleResult = codec::from_json(sale_id, &body)?;
    let rids: Vec<&str> = result
        .lines
        .iter()
        .filter(|l| l.backordered > 0)
        .filter_map(|l| l.replenishment_id.as_deref())
        .collect();
    let (claims, orders) = if rids.is_empty() {
        Default::default()
    } else {
        store.sale_waits(account, sale_id, &rids).await?
    };
    let cancelled = is_cancelled(sale);
    for line in &mut result.lines {
        let Some(rid) = line
            .replenishment_id
            .as_deref()
            .filter(|_| line.backordered > 0)
        else {
            line.awaiting = 0;
            continue;
        };
        // A contribution not written yet (the sale is still being applied) releases nothing.
        let released = claims.get(rid).map_or(0, |c| c.released);
        line.released = released;
        line.awaiting = if cancelled {
            0
        } else {
            (line.backordered - released).max(0)
        };
        line.expected_at = orders.get(rid).and_then(|o| o.expected_at.clone());
    }
    result.fulfillment.stock_status = StockStatus::of(result.lines.iter().map(|l| l.awaiting));
    codec::to_json(sale_id, &result)
}

/// One sale waiting on units of a SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaitingSale {
    pub sale_id: String,
    pub replenishment_id: String,
    pub awaiting: i64,
    /// When its order is expected (`null` while open, or without a lead time).
    pub expected_at: Option<String>,
    /// Since when it waits (when its line was finalized).
    pub at: String,
}

/// One page of the sales waiting on units of a SKU, oldest first, and where the next starts.
pub async fn waiting_sales(
    store: &Store,
    account: &AccountId,
    sku: &Sku,
    limit: usize,
    after: Option<&str>,
) -> Result<(Vec<WaitingSale>, Option<String>), StoreError> {
    let page = store.waiting_page(account, sku, limit, after).await?;
    let mut rids: Vec<&str> = page.items.iter().map(|w| w.rid.as_str()).collect();
    rids.sort_unstable();
    rids.dedup();
    let orders = if rids.is_empty() {
        Default::default()
    } else {
        store.orders_by_id(account, &rids).await?
    };
    let items = page
        .items
        .iter()
        .filter(|w| w.contribution.awaiting() > 0)
        .map(|w| WaitingSale {
            sale_id: w.contribution.sale_id.clone(),
            replenishment_id: w.rid.clone(),
            awaiting: w.contribution.awaiting(),
            expected_at: orders.get(&w.rid).and_then(|o| o.expected_at.clone()),
            at: w.contribution.at.clone(),
        })
        .collect();
    Ok((items, page.next))
}

/// Where a sale stands for the `FulfillmentReady` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Every back-ordered line has all its units: the lines and when the last was released.
    Ready {
        fulfillment_id: String,
        lines: Vec<ReadyLine>,
        at: String,
    },
    /// Some line still waits, the sale is cancelled, or it never waited.
    NotReady,
    /// The sale is still being finalized: ask again once it completes.
    Unsettled,
}

/// Whether a sale's back-ordered lines have all their units released (and it is not cancelled).
/// Deterministic once ready: the same lines and time whoever asks, however often.
pub async fn readiness(
    store: &Store,
    account: &AccountId,
    sale_id: &SaleId,
) -> Result<Readiness, StoreError> {
    let Some(sale) = store.sale(account, sale_id).await? else {
        return Ok(Readiness::NotReady);
    };
    match sale.status {
        SaleStatus::Finalizing => return Ok(Readiness::Unsettled),
        SaleStatus::Cancelling | SaleStatus::Cancelled => return Ok(Readiness::NotReady),
        SaleStatus::Finalized => {}
    }
    let body = sale_body(store, account, sale_id, &sale).await?;
    let result: SaleResult = codec::from_json(sale_id, &body)?;
    let waited: Vec<(&str, &str)> = result
        .lines
        .iter()
        .filter(|l| l.backordered > 0)
        .filter_map(|l| Some((l.sku.as_str(), l.replenishment_id.as_deref()?)))
        .collect();
    if waited.is_empty() {
        return Ok(Readiness::NotReady);
    }
    let rids: Vec<&str> = waited.iter().map(|(_, rid)| *rid).collect();
    let (claims, _) = store.sale_waits(account, sale_id, &rids).await?;
    let mut lines = Vec::with_capacity(waited.len());
    let mut at = String::new();
    for (sku, rid) in waited {
        let Some(c) = claims.get(rid) else {
            return Ok(Readiness::NotReady);
        };
        if c.cancelled_at.is_some() || c.released < c.units {
            return Ok(Readiness::NotReady);
        }
        at = at.max(c.released_at.clone().unwrap_or_default());
        lines.push(ReadyLine {
            sku: sku.to_owned(),
            replenishment_id: rid.to_owned(),
            units: c.released,
        });
    }
    Ok(Readiness::Ready {
        fulfillment_id: result.fulfillment.fulfillment_id,
        lines,
        at,
    })
}
