//! Use cases that need more than one store call: finalizing a sale, closing orders. They hold the
//! retry loops; the rules they apply are the pure functions of [`crate::domain`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::domain::{
    effective_backorder, needs_vendor_settings, plan_line, Replenishment, SaleRequest, SaleResult,
};
use crate::error::{ApiError, StoreError};
use crate::ids::{AccountId, ReplenishmentId, SaleId, VendorId};
use crate::retry::{Backoff, MAX_ATTEMPTS};
use crate::store::{CloseOutcome, CommitError, Store};

/// The current time as RFC 3339 UTC with milliseconds (fixed width, so it sorts as text).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// What finalizing did.
#[derive(Debug)]
pub struct Finalized {
    /// The response body: the stored one, byte for byte, when the sale was already finalized.
    pub body: String,
    /// True when the sale had been finalized before (a retry) and nothing changed.
    pub replayed: bool,
    /// Transaction attempts made (1 when uncontended).
    pub attempts: u32,
    /// Lines after merging duplicate SKUs.
    pub lines: usize,
    /// Units added to auto-back-order orders (0 on a replay).
    pub backordered: i64,
}

/// Finalizes a sale exactly once: plans it from one consistent read (plus one for vendor settings
/// when a line needs them) and commits it in one transaction; retries contention with backoff.
pub async fn finalize_sale(
    store: &Store,
    account: &AccountId,
    sale_id: &SaleId,
    request: &SaleRequest,
) -> Result<Finalized, ApiError> {
    let merged = request.merged_lines();
    let fingerprint = request.fingerprint();
    let skus: Vec<_> = merged.iter().map(|l| l.sku.clone()).collect();
    let mut backoff = Backoff::new();

    for attempt in 1..=MAX_ATTEMPTS {
        let ctx = store.sale_context(account, sale_id, &skus).await?;
        if let Some(sale) = ctx.sale {
            if sale.fingerprint == fingerprint {
                return Ok(Finalized {
                    body: sale.result_json,
                    replayed: true,
                    attempts: attempt,
                    lines: merged.len(),
                    backordered: 0,
                });
            }
            return Err(ApiError::Conflict {
                code: "sale_conflict",
                message: format!("sale_id {sale_id} was already finalized with a different body"),
            });
        }
        if let Some(missing) = merged.iter().position(|l| !ctx.skus.contains_key(&l.sku)) {
            let sku = &merged[missing].sku;
            let index = request
                .lines
                .iter()
                .position(|l| &l.sku == sku)
                .unwrap_or(missing);
            return Err(ApiError::Unprocessable {
                code: "unknown_sku",
                message: format!("lines[{index}].sku {sku} is not a known SKU"),
            });
        }

        let mut vendors: Vec<VendorId> = merged
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
        let vendor_defaults: HashMap<VendorId, bool> =
            store.vendor_defaults(account, &vendors).await?;

        let plans: Vec<_> = merged
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
            .collect();

        let now = now_rfc3339();
        let result = SaleResult::finalized(sale_id, request, ulid::Ulid::new().to_string(), &plans);
        match store
            .commit_sale(account, sale_id, &fingerprint, &plans, &result, &now)
            .await
        {
            Ok(()) => {
                let body = serde_json::to_string(&result).map_err(|e| {
                    ApiError::Internal(StoreError::Malformed {
                        key: sale_id.to_string(),
                        problem: e.to_string(),
                    })
                })?;
                let backordered = plans.iter().map(|p| p.backordered).sum();
                return Ok(Finalized {
                    body,
                    replayed: false,
                    attempts: attempt,
                    lines: merged.len(),
                    backordered,
                });
            }
            // Someone finalized this sale id first: the next read replays it or reports the conflict.
            Err(CommitError::SaleExists) => continue,
            Err(CommitError::Contended(reason)) => {
                tracing::debug!(attempt, %reason, "sale contended; retrying");
                backoff.wait().await;
            }
            Err(CommitError::Store(e)) => return Err(e.into()),
        }
    }
    Err(StoreError::Contention {
        attempts: MAX_ATTEMPTS,
    }
    .into())
}

/// Closes an order (closing a closed order returns it unchanged); 404 when it does not exist.
pub async fn close_order(
    store: &Store,
    account: &AccountId,
    rid: &ReplenishmentId,
) -> Result<(Replenishment, bool), ApiError> {
    let mut backoff = Backoff::new();
    for _ in 0..MAX_ATTEMPTS {
        match store.close_order(account, rid, &now_rfc3339()).await? {
            CloseOutcome::Closed(order) => return Ok((order, true)),
            CloseOutcome::AlreadyClosed(order) => return Ok((order, false)),
            CloseOutcome::NotFound => {
                return Err(ApiError::not_found(
                    "replenishment_not_found",
                    format!("replenishment_id {rid} not found"),
                ))
            }
            CloseOutcome::Contended(reason) => {
                tracing::debug!(%reason, "close contended; retrying");
                backoff.wait().await;
            }
        }
    }
    Err(StoreError::Contention {
        attempts: MAX_ATTEMPTS,
    }
    .into())
}

/// What a scheduled close run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CloseRun {
    /// Orders this run closed.
    pub closed: u64,
    /// Open orders older than the cutoff still open when the run stopped.
    pub remaining: u64,
}

/// Closes every open auto-back-order order, in all accounts, created before `now - min_age`,
/// stopping `margin` before `deadline`. Safe to run twice or concurrently: closing is idempotent.
pub async fn close_due_orders(
    store: &Store,
    min_age: Duration,
    deadline: Instant,
    margin: Duration,
) -> Result<CloseRun, ApiError> {
    const PAGE: i32 = 50;
    const PARALLEL: usize = 8;
    let cutoff = (chrono::Utc::now() - chrono::Duration::from_std(min_age).unwrap_or_default())
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let stop_at = deadline.checked_sub(margin).unwrap_or_else(Instant::now);
    let mut closed = 0u64;
    let mut start = None;
    let mut pages = 0u64;
    loop {
        if Instant::now() >= stop_at {
            break;
        }
        let page = store
            .open_orders_before(&cutoff, PAGE, start.take())
            .await?;
        pages += 1;
        let results: Vec<_> = futures::stream::iter(page.orders)
            .map(|(account, rid)| async move {
                if Instant::now() >= stop_at {
                    return None;
                }
                Some(close_order(store, &account, &rid).await)
            })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        for result in results.into_iter().flatten() {
            match result {
                Ok((_, true)) => closed += 1,
                Ok((_, false)) => {}
                Err(e) => tracing::warn!(error = %e, "scheduled close skipped an order"),
            }
        }
        tracing::info!(pages, closed, "scheduled close progress");
        match page.next {
            Some(next) if !next.is_empty() => start = Some(next),
            _ => break,
        }
    }
    let remaining = store.count_open_orders_before(&cutoff).await?;
    Ok(CloseRun { closed, remaining })
}
