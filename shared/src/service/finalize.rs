//! Finalizing a sale of up to [`LINES_PER_TRANSACTION`] (merged) lines: planned from one
//! consistent read (plus one for vendor settings when a line needs them) and written in one
//! transaction. Larger sales are written in parts ([`super::finalize_parts`]).

use std::collections::HashMap;

use crate::domain::{
    effective_backorder, needs_vendor_settings, plan_line, LinePlan, OrderAction, SaleLine,
    SaleRequest, SaleResult,
};
use crate::error::StoreError;
use crate::ids::{AccountId, ReplenishmentId, SaleId, Sku, VendorId};
use crate::retry::{Next, Policy, Retry};
use crate::store::{codec, CommitError, SaleContext, Store};
use crate::telemetry;

use super::sale_view::{is_cancelled, sale_body};
use super::{now_rfc3339, LINES_PER_TRANSACTION};

/// Why a sale was not finalized.
#[derive(Debug, thiserror::Error)]
pub enum FinalizeError {
    /// The sale id was used before with a different body.
    #[error("sale_id {0} was already used with a different body")]
    Conflict(SaleId),
    /// This sale was finalized, then cancelled.
    #[error("sale_id {0} was cancelled and cannot be finalized again")]
    Cancelled(SaleId),
    /// `lines[index].sku` does not exist (nothing was written).
    #[error("lines[{index}].sku {sku} is not a known SKU")]
    UnknownSku { index: usize, sku: Sku },
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

/// Names the first line of the request with `sku`.
pub(super) fn unknown_sku_error(request: &SaleRequest, sku: &Sku) -> FinalizeError {
    let index = request
        .lines
        .iter()
        .position(|l| &l.sku == sku)
        .unwrap_or_default();
    FinalizeError::UnknownSku {
        index,
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

/// Finalizes a sale exactly once. A sale of up to [`LINES_PER_TRANSACTION`] (merged) lines is
/// planned from one consistent read (plus one for vendor settings when a line needs them) and
/// written in one transaction; a larger one is written in parts, each its own idempotent
/// transaction, and a redelivery resumes at the first part not applied. Contention is retried with
/// backoff within a budget ([`Policy::FINALIZE`]), then answered 503.
pub async fn finalize_sale(
    store: &Store,
    account: &AccountId,
    sale_id: &SaleId,
    request: &SaleRequest,
) -> Result<Finalized, FinalizeError> {
    let merged = request.merged_lines();
    if merged.len() > LINES_PER_TRANSACTION {
        return super::finalize_parts::finalize_in_parts(store, account, sale_id, request, &merged)
            .await;
    }
    let fingerprint = request.fingerprint();
    let skus: Vec<_> = merged.iter().map(|l| l.sku.clone()).collect();
    let mut retry = Retry::new(Policy::FINALIZE, "sale");
    // A transaction cancelled only by conflicts or throttling evaluated none of its conditions
    // against what was read, so it is sent again as it was, without a new read; its conditions
    // still decide. A failed condition (a SKU or order changed, or the sale exists) re-reads.
    let mut resend: Option<(Vec<LinePlan>, SaleResult, String)> = None;
    loop {
        let (plans, result, now) = match resend.take() {
            Some(planned) => planned,
            None => {
                let ctx = store.sale_context(account, sale_id, &skus).await?;
                if let Some(sale) = &ctx.sale {
                    if sale.fingerprint != fingerprint {
                        return Err(FinalizeError::Conflict(sale_id.clone()));
                    }
                    if is_cancelled(sale) {
                        return Err(FinalizeError::Cancelled(sale_id.clone()));
                    }
                    return Ok(Finalized {
                        body: sale_body(store, account, sale_id, sale).await?,
                        replayed: true,
                        attempts: retry.attempts(),
                        lines: merged.len(),
                        parts: 1,
                        backordered: 0,
                    });
                }
                if let Some(err) = unknown_sku(request, &merged, &ctx) {
                    return Err(err);
                }
                let plans = plan_lines(store, account, &ctx, &merged).await?;
                let result =
                    SaleResult::finalized(sale_id, request, ulid::Ulid::new().to_string(), &plans);
                (plans, result, now_rfc3339())
            }
        };
        match store
            .commit_sale(account, sale_id, &fingerprint, &plans, &result, &now)
            .await
        {
            Ok(()) => {
                record_sale(&plans, merged.len());
                return Ok(Finalized {
                    body: codec::to_json(sale_id, &result)?,
                    replayed: false,
                    attempts: retry.attempts(),
                    lines: merged.len(),
                    parts: 1,
                    backordered: plans.iter().map(|p| p.backordered).sum(),
                });
            }
            // Someone finalized this sale id first: the next read replays it or reports the conflict.
            Err(CommitError::Preempted) => retry.reread()?,
            Err(CommitError::Contended(c)) => {
                if retry.contended(&c).await? == Next::Resend {
                    resend = Some((plans, result, now));
                }
            }
            Err(CommitError::Store(e)) => return Err(e.into()),
        }
    }
}
