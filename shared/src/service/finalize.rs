//! Finalizing a sale of up to [`LINES_PER_TRANSACTION`] (merged) lines: planned from one
//! consistent read (plus one for vendor settings when a line needs them), claimed, and applied
//! line by line ([`super::apply`]). Larger sales are written in parts ([`super::finalize_parts`]).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::domain::{
    effective_backorder, needs_vendor_settings, plan_line, LinePlan, OrderAction, SaleLine,
    SaleRequest,
};
use crate::error::StoreError;
use crate::ids::{AccountId, ReplenishmentId, SaleId, Sku, VendorId};
use crate::retry::{Backoff, Policy};
use crate::store::{Claim, CommitError, SaleContext, Store};
use crate::telemetry;

use super::apply::{self, Applied, Lease};
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
/// read once, claimed, and applied line by line with single-item conditional writes
/// ([`super::apply`]): sales of one SKU never invalidate each other while it stays on one side of
/// zero. A larger one is written in parts, each its own idempotent transaction. A redelivery
/// replays the answer, waits for the sale's applier, or takes an expired lease over.
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
    let started = Instant::now();
    let mut backoff = Backoff::with(Duration::from_millis(50), Duration::from_secs(1));
    let mut attempts = 0;
    let lines_json = apply::lines_json(&merged);
    // Our claim, once sent: a claim whose answer was lost and was sent again by the SDK finds
    // itself in place, and is ours.
    let mut sent: Option<(Lease, String)> = None;
    loop {
        attempts += 1;
        // The claim needs no read, so the first one goes out with the read; later attempts claim
        // only once the read found no sale.
        let (lease, fulfillment_id) = sent
            .clone()
            .unwrap_or_else(|| (Lease::new(store), ulid::Ulid::new().to_string()));
        let now = now_rfc3339();
        let claim = Claim {
            fingerprint: &fingerprint,
            lines_json: &lines_json,
            fulfillment_id: &fulfillment_id,
            customer: request.customer.as_deref(),
            channel: request.channel.as_deref(),
            lease: &lease.token,
            lease_until_ms: lease.until_ms,
            now: &now,
        };
        let (ctx, claimed) = if attempts == 1 {
            let (ctx, claimed) = tokio::join!(
                store.sale_context(account, sale_id, &skus),
                store.claim_sale(account, sale_id, claim)
            );
            (ctx, Some(claimed))
        } else {
            (store.sale_context(account, sale_id, &skus).await, None)
        };
        let ctx = ctx?;
        let ours = ctx
            .sale
            .as_ref()
            .and_then(|s| s.applying.as_ref())
            .is_some_and(|a| a.lease == lease.token);
        let claimed = match (claimed, &ctx.sale) {
            (None | Some(Err(CommitError::Preempted)), _) if ours => Ok(()),
            (Some(claimed), _) => claimed,
            (None, None) => store.claim_sale(account, sale_id, claim).await,
            (None, Some(_)) => Err(CommitError::Preempted),
        };
        if claimed.is_err() {
            sent = Some((lease.clone(), fulfillment_id.clone()));
        }
        let applied = match claimed {
            Ok(()) => {
                apply::apply_sale(
                    store,
                    account,
                    sale_id,
                    request,
                    &fulfillment_id,
                    &ctx,
                    &lease,
                )
                .await?
            }
            Err(CommitError::Preempted) => {
                // Claimed before: by an earlier delivery (or a concurrent one).
                let Some(sale) = &ctx.sale else {
                    // Read before that claim landed: read again.
                    continue;
                };
                if sale.fingerprint != fingerprint {
                    return Err(FinalizeError::Conflict(sale_id.clone()));
                }
                if is_cancelled(sale) {
                    return Err(FinalizeError::Cancelled(sale_id.clone()));
                }
                if sale.applying.is_none() {
                    return Ok(Finalized {
                        body: sale_body(store, account, sale_id, sale).await?,
                        replayed: true,
                        attempts,
                        lines: merged.len(),
                        parts: 1,
                        backordered: 0,
                    });
                }
                // Being applied: by someone at work (wait for its lease to end, then look again),
                // or abandoned (take it over).
                match apply::take_over(store, account, sale_id, &ctx).await? {
                    Some(applied) => applied,
                    None => {
                        let lease_left = sale.applying.as_ref().map_or(0, |a| a.lease_until_ms)
                            - apply::now_ms();
                        // A live applier answers in milliseconds; a dead one's lease must run out.
                        let wait =
                            Duration::from_millis(u64::try_from(lease_left).unwrap_or(0) + 5)
                                .min(backoff.next_delay().max(Duration::from_millis(10)));
                        let budget = Policy::FINALIZE.budget.unwrap_or_default();
                        if started.elapsed() + wait >= budget {
                            return Err(StoreError::Contention { attempts }.into());
                        }
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                }
            }
            Err(CommitError::Contended(_)) => {
                backoff.wait().await;
                continue;
            }
            Err(CommitError::Store(e)) => return Err(e.into()),
        };
        match applied {
            Applied::Done {
                body,
                backordered,
                opened,
                missed,
            } => {
                telemetry::count(
                    |s| &s.units_backordered,
                    u64::try_from(backordered).unwrap_or(0),
                );
                telemetry::count(|s| &s.orders_opened, opened as u64);
                record_finalized(merged.len());
                return Ok(Finalized {
                    body,
                    replayed: false,
                    attempts: attempts + missed,
                    lines: merged.len(),
                    parts: 1,
                    backordered,
                });
            }
            // Another applier completes it: the next read replays it.
            Applied::LeaseLost => continue,
            // A SKU of the sale does not exist: the claim was dropped, nothing was written.
            Applied::UnknownSku(sku) => return Err(unknown_sku_error(request, &sku)),
        }
    }
}
