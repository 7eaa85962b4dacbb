//! What every way of finalizing a sale shares: its error and outcome, the unknown SKU, lines
//! planned against what was read, the answer to a sale already claimed, and its metrics. Used by
//! [`super::finalize`], [`super::apply`] and [`super::finalize_parts`], which import nothing of
//! each other but this.

use std::collections::HashMap;

use crate::domain::{
    effective_backorder, needs_vendor_settings, plan_line, LinePlan, OrderAction, SaleLine,
    SaleRequest,
};
use crate::error::StoreError;
use crate::ids::{AccountId, ReplenishmentId, SaleId, Sku, VendorId};
use crate::store::{SaleContext, Store, StoredSale};
use crate::telemetry;

use super::sale_view::{is_cancelled, sale_body};

/// Why a sale was not finalized.
#[derive(Debug, thiserror::Error)]
pub enum FinalizeError {
    /// The sale id was used before with a different body.
    #[error("sale_id {0} was already used with a different body")]
    Conflict(SaleId),
    /// This sale was finalized, then cancelled.
    #[error("sale_id {0} was cancelled and cannot be finalized again")]
    Cancelled(SaleId),
    /// A channel cancelled this sale before it was finalized: it never will be.
    #[error("sale_id {0} was cancelled before it was finalized and cannot be finalized")]
    CancelledFirst(SaleId),
    /// `lines[index].sku` does not exist (nothing was written).
    #[error("lines[{index}].sku {sku} is not a known SKU")]
    UnknownSku { index: usize, sku: Sku },
    /// `lines[index]` would take its SKU below its back-order limit (nothing was written).
    #[error(
        "lines[{index}].sku {sku} has reached its back-order limit: {available} more units can be sold"
    )]
    LimitReached {
        index: usize,
        sku: Sku,
        available: i64,
    },
    /// A sale in parts checks every line held to a back-order limit in its first part.
    #[error("lines: at most {most} SKUs of one sale may have a back-order limit ({limited} have)")]
    TooManyLimited { limited: usize, most: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What finalizing did.
#[derive(Debug)]
pub struct Finalized {
    /// The response body: the stored one, byte for byte, when the sale was already finalized.
    pub body: String,
    /// True when the sale had been finalized before (a retry) and nothing changed.
    pub replayed: bool,
    /// Transactions attempted (1 per part when uncontended).
    pub attempts: u32,
    /// Lines after merging duplicate SKUs.
    pub lines: usize,
    /// Transactions the sale was written in.
    pub parts: u32,
    /// Units this call added to auto-back-order orders (0 on a replay).
    pub backordered: i64,
    /// How this call wrote the sale, for its log line.
    pub path: WritePath,
}

/// How a sale was written: the sale's log line says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePath {
    /// Every line on a cold SKU and nothing back-ordered: one transaction with its record.
    Transaction,
    /// Claimed, then one conditional write per line (contended SKUs, or lines that back-order).
    LineByLine,
    /// More than [`super::LINES_PER_TRANSACTION`] SKUs: one transaction per part.
    InParts,
    /// Written before: its stored answer.
    Replayed,
}

impl WritePath {
    pub fn as_str(self) -> &'static str {
        match self {
            WritePath::Transaction => "transaction",
            WritePath::LineByLine => "line_by_line",
            WritePath::InParts => "in_parts",
            WritePath::Replayed => "replayed",
        }
    }
}

/// The error for a line of `lines` whose SKU `ctx` did not find.
pub(super) fn unknown_sku(
    request: &SaleRequest,
    lines: &[SaleLine],
    ctx: &SaleContext,
) -> Option<FinalizeError> {
    let missing = lines.iter().find(|l| !ctx.skus.contains_key(&l.sku))?;
    Some(unknown_sku_error(request, &missing.sku))
}

/// The index of the first line of the request with `sku`.
pub(super) fn line_of(request: &SaleRequest, sku: &Sku) -> usize {
    request
        .lines
        .iter()
        .position(|l| &l.sku == sku)
        .unwrap_or_default()
}

/// Names the first line of the request with `sku`.
pub(super) fn unknown_sku_error(request: &SaleRequest, sku: &Sku) -> FinalizeError {
    FinalizeError::UnknownSku {
        index: line_of(request, sku),
        sku: sku.clone(),
    }
}

/// Plans `lines` against what `ctx` read, reading the vendor settings the lines rely on (one
/// batched request, only when some line needs them).
pub(super) async fn plan_lines(
    store: &Store,
    account: &AccountId,
    ctx: &SaleContext,
    lines: &[SaleLine],
) -> Result<Vec<LinePlan>, StoreError> {
    let mut vendors: Vec<VendorId> = lines
        .iter()
        .filter_map(|l| {
            let state = &ctx.skus[&l.sku].state;
            needs_vendor_settings(
                ctx.account_auto_backorder,
                state.policy,
                state.vendor_id.as_ref(),
            )
            .then(|| state.vendor_id.clone())
            .flatten()
        })
        .collect();
    vendors.sort();
    vendors.dedup();
    let vendor_defaults: HashMap<VendorId, bool> = store.vendor_defaults(account, &vendors).await?;
    Ok(lines
        .iter()
        .map(|line| {
            let state = &ctx.skus[&line.sku].state;
            let vendor_default = state
                .vendor_id
                .as_ref()
                .and_then(|v| vendor_defaults.get(v))
                .copied()
                .unwrap_or(false);
            let effective =
                effective_backorder(ctx.account_auto_backorder, state.policy, vendor_default);
            plan_line(line, state, effective, ReplenishmentId::generate)
        })
        .collect())
}

/// Counts a committed sale (or part of one) in the invocation's metrics; `lines` > 0 marks a whole
/// sale finalized.
pub(super) fn record_sale(plans: &[LinePlan], lines: usize) {
    let units: i64 = plans.iter().map(|p| p.backordered).sum();
    let opened = plans
        .iter()
        .filter(|p| matches!(p.order, OrderAction::Open(_)))
        .count();
    telemetry::count(|s| &s.units_backordered, u64::try_from(units).unwrap_or(0));
    telemetry::count(|s| &s.orders_opened, opened as u64);
    if lines > 0 {
        record_finalized(lines);
    }
}

/// Counts a whole sale finalized.
pub(super) fn record_finalized(lines: usize) {
    telemetry::count(|s| &s.sales_finalized, 1);
    telemetry::count(|s| &s.lines, lines as u64);
}

/// A sale already claimed under this id: another body is a conflict, a cancelled sale cannot be
/// finalized again, nor one cancelled before it was finalized (its record is a tombstone).
pub(super) fn check_claimed(
    sale: &StoredSale,
    sale_id: &SaleId,
    fingerprint: &str,
) -> Result<(), FinalizeError> {
    if sale.fingerprint == crate::store::layout::TOMBSTONE {
        return Err(FinalizeError::CancelledFirst(sale_id.clone()));
    }
    if sale.fingerprint != fingerprint {
        return Err(FinalizeError::Conflict(sale_id.clone()));
    }
    if is_cancelled(sale) {
        return Err(FinalizeError::Cancelled(sale_id.clone()));
    }
    Ok(())
}

/// A finalized sale's stored answer, replayed: nothing changes.
pub(super) async fn replay(
    store: &Store,
    account: &AccountId,
    sale_id: &SaleId,
    sale: &StoredSale,
    attempts: u32,
    lines: usize,
) -> Result<Finalized, FinalizeError> {
    Ok(Finalized {
        body: sale_body(store, account, sale_id, sale).await?,
        replayed: true,
        attempts,
        lines,
        parts: 1,
        backordered: 0,
        path: WritePath::Replayed,
    })
}
