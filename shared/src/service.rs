//! Use cases that need more than one store call: finalizing a sale, closing orders. They hold the
//! retry loops; the rules they apply are the pure functions of [`crate::domain`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::domain::{
    effective_backorder, needs_vendor_settings, plan_line, Fulfillment, LinePlan, OrderAction,
    Replenishment, SaleLine, SaleLineResult, SaleRequest, SaleResult,
};
use crate::error::{ApiError, StoreError};
use crate::ids::{AccountId, AdjustmentId, ReplenishmentId, SaleId, Sku, VendorId};
use crate::retry::{Backoff, MAX_ATTEMPTS};
use crate::store::{CloseOutcome, CloseTx, CommitError, SaleContext, SaleParts, Store, StoredSale};
use crate::telemetry;

/// The current time as RFC 3339 UTC with milliseconds (fixed width, so it sorts as text).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Most (merged) lines one transaction holds: 100 items = the sale record (+ the part record for a
/// sale in parts) + per line its SKU and at most one order.
pub const LINES_PER_TRANSACTION: usize = 49;
/// A finalize stops retrying contention after this long (503), so that with one SDK operation
/// timeout (6 s) on top it still answers within the Lambda timeout (15 s).
pub const FINALIZE_BUDGET: Duration = Duration::from_secs(8);

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

fn conflict(sale_id: &SaleId) -> ApiError {
    ApiError::Conflict {
        code: "sale_conflict",
        message: format!("sale_id {sale_id} was already used with a different body"),
    }
}

fn unknown_sku(request: &SaleRequest, lines: &[SaleLine], ctx: &SaleContext) -> Option<ApiError> {
    let missing = lines.iter().find(|l| !ctx.skus.contains_key(&l.sku))?;
    let index = request
        .lines
        .iter()
        .position(|l| l.sku == missing.sku)
        .unwrap_or_default();
    Some(ApiError::Unprocessable {
        code: "unknown_sku",
        message: format!("lines[{index}].sku {} is not a known SKU", missing.sku),
    })
}

/// Plans `lines` against what `ctx` read, reading the vendor settings the lines rely on (one
/// batched request, only when some line needs them).
async fn plan_lines(
    store: &Store,
    account: &AccountId,
    ctx: &SaleContext,
    lines: &[SaleLine],
) -> Result<Vec<LinePlan>, ApiError> {
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
fn record_sale(plans: &[LinePlan], lines: usize) {
    let units: i64 = plans.iter().map(|p| p.backordered).sum();
    let opened = plans
        .iter()
        .filter(|p| matches!(p.order, OrderAction::Open(_)))
        .count();
    telemetry::count(|s| &s.units_backordered, u64::try_from(units).unwrap_or(0));
    telemetry::count(|s| &s.orders_opened, opened as u64);
    if lines > 0 {
        telemetry::count(|s| &s.sales_finalized, 1);
        telemetry::count(|s| &s.lines, lines as u64);
    }
}

fn to_json(sale_id: &SaleId, result: &SaleResult) -> Result<String, ApiError> {
    serde_json::to_string(result).map_err(|e| {
        ApiError::Internal(StoreError::Malformed {
            key: sale_id.to_string(),
            problem: e.to_string(),
        })
    })
}

/// Finalizes a sale exactly once. A sale of up to [`LINES_PER_TRANSACTION`] (merged) lines is
/// planned from one consistent read (plus one for vendor settings when a line needs them) and
/// written in one transaction; a larger one is written in parts, each its own idempotent
/// transaction, and a redelivery resumes at the first part not applied. Contention is retried with
/// backoff within a budget, then answered 503.
pub async fn finalize_sale(
    store: &Store,
    account: &AccountId,
    sale_id: &SaleId,
    request: &SaleRequest,
) -> Result<Finalized, ApiError> {
    let merged = request.merged_lines();
    if merged.len() > LINES_PER_TRANSACTION {
        return finalize_in_parts(store, account, sale_id, request, &merged).await;
    }
    let fingerprint = request.fingerprint();
    let skus: Vec<_> = merged.iter().map(|l| l.sku.clone()).collect();
    let mut backoff = Backoff::new();
    let started = Instant::now();

    for attempt in 1..=MAX_ATTEMPTS {
        let ctx = store.sale_context(account, sale_id, &skus).await?;
        if let Some(sale) = &ctx.sale {
            if sale.fingerprint != fingerprint {
                return Err(conflict(sale_id));
            }
            let body = sale_body(store, account, sale_id, sale).await?;
            return Ok(Finalized {
                body,
                replayed: true,
                attempts: attempt,
                lines: merged.len(),
                parts: 1,
                backordered: 0,
            });
        }
        if let Some(err) = unknown_sku(request, &merged, &ctx) {
            return Err(err);
        }
        let plans = plan_lines(store, account, &ctx, &merged).await?;
        let now = now_rfc3339();
        let result = SaleResult::finalized(sale_id, request, ulid::Ulid::new().to_string(), &plans);
        match store
            .commit_sale(account, sale_id, &fingerprint, &plans, &result, &now)
            .await
        {
            Ok(()) => {
                let backordered = plans.iter().map(|p| p.backordered).sum();
                record_sale(&plans, merged.len());
                let body = to_json(sale_id, &result)?;
                return Ok(Finalized {
                    body,
                    replayed: false,
                    attempts: attempt,
                    lines: merged.len(),
                    parts: 1,
                    backordered,
                });
            }
            // Someone finalized this sale id first: the next read replays it or reports the conflict.
            Err(CommitError::SaleExists) => continue,
            Err(CommitError::Contended(reason)) => {
                tracing::debug!(attempt, %reason, "sale contended; retrying");
                telemetry::count(|s| &s.conflicts_retried, 1);
                if started.elapsed() >= FINALIZE_BUDGET {
                    break;
                }
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

/// A sale larger than one transaction: part k (lines k*49..) is written with the sale header
/// advancing `done` from k to k+1, so each part applies exactly once whatever is redelivered,
/// and a crash between parts leaves the sale `finalizing` until a redelivery completes it.
async fn finalize_in_parts(
    store: &Store,
    account: &AccountId,
    sale_id: &SaleId,
    request: &SaleRequest,
    merged: &[SaleLine],
) -> Result<Finalized, ApiError> {
    let fingerprint = request.fingerprint();
    // Parts are cut from the lines in SKU order, so that they depend only on what the fingerprint
    // covers: a redelivery listing the same lines in another order resumes the same parts.
    let mut sorted = merged.to_vec();
    sorted.sort_by(|a, b| a.sku.cmp(&b.sku));
    let chunks: Vec<&[SaleLine]> = sorted.chunks(LINES_PER_TRANSACTION).collect();
    let mut checked_skus = false;
    let parts = u32::try_from(chunks.len()).unwrap_or(u32::MAX);
    let mut written: HashMap<u32, Vec<SaleLineResult>> = HashMap::new();
    let mut next = 0u32;
    let mut attempts = 0u32;
    let mut contended_in_a_row = 0u32;
    let mut backordered = 0;
    let mut backoff = Backoff::new();
    let started = Instant::now();

    let header = loop {
        attempts += 1;
        let part_skus: Vec<_> = chunks[next as usize]
            .iter()
            .map(|l| l.sku.clone())
            .collect();
        let ctx = store.sale_context(account, sale_id, &part_skus).await?;
        let (done, fulfillment_id) = match &ctx.sale {
            None => (0, None),
            Some(sale) if sale.fingerprint != fingerprint || sale.parts != parts => {
                return Err(conflict(sale_id))
            }
            Some(sale) => (sale.done, sale.fulfillment_id.clone()),
        };
        if done >= parts {
            break ctx.sale;
        }
        if done != next {
            // A previous delivery (or a concurrent one) got further: continue from there.
            next = done;
            continue;
        }
        let lines = chunks[next as usize];
        if next == 0 && !checked_skus {
            // All or nothing: every SKU of the sale must exist before part 0 writes anything.
            let all: Vec<_> = sorted.iter().map(|l| l.sku.clone()).collect();
            let missing = store.missing_skus(account, &all).await?;
            if let Some(line) = merged.iter().find(|l| missing.contains(&l.sku)) {
                let index = request
                    .lines
                    .iter()
                    .position(|l| l.sku == line.sku)
                    .unwrap_or_default();
                return Err(ApiError::Unprocessable {
                    code: "unknown_sku",
                    message: format!("lines[{index}].sku {} is not a known SKU", line.sku),
                });
            }
            checked_skus = true;
        }
        if let Some(err) = unknown_sku(request, lines, &ctx) {
            // SKUs are never deleted, so one checked before part 0 cannot be missing now unless
            // the table was changed by hand: report it rather than loop.
            return Err(ApiError::Internal(StoreError::Malformed {
                key: sale_id.to_string(),
                problem: err.to_string(),
            }));
        }
        let plans = plan_lines(store, account, &ctx, lines).await?;
        let results = SaleResult::finalized(sale_id, request, String::new(), &plans).lines;
        let fulfillment_id = fulfillment_id.unwrap_or_else(|| ulid::Ulid::new().to_string());
        let shared = SaleParts {
            fingerprint: &fingerprint,
            parts,
            fulfillment_id: &fulfillment_id,
            customer: request.customer.as_deref(),
            channel: request.channel.as_deref(),
        };
        match store
            .commit_sale_part(
                account,
                sale_id,
                shared,
                next,
                &plans,
                &results,
                &now_rfc3339(),
            )
            .await
        {
            Ok(()) => {
                backordered += plans.iter().map(|p| p.backordered).sum::<i64>();
                record_sale(&plans, 0);
                written.insert(next, results);
                next += 1;
                if next == parts {
                    break Some(StoredSale {
                        fingerprint: fingerprint.clone(),
                        finalized: true,
                        result_json: None,
                        parts,
                        done: parts,
                        fulfillment_id: Some(fulfillment_id),
                        customer: request.customer.clone(),
                        channel: request.channel.clone(),
                    });
                }
                contended_in_a_row = 0;
                backoff = Backoff::new();
            }
            // The header moved (another delivery applied this part): re-read and continue.
            Err(CommitError::SaleExists) => {}
            Err(CommitError::Contended(reason)) => {
                tracing::debug!(part = next, %reason, "sale part contended; retrying");
                telemetry::count(|s| &s.conflicts_retried, 1);
                contended_in_a_row += 1;
                if contended_in_a_row >= MAX_ATTEMPTS || started.elapsed() >= FINALIZE_BUDGET {
                    return Err(StoreError::Contention {
                        attempts: contended_in_a_row,
                    }
                    .into());
                }
                backoff.wait().await;
            }
            Err(CommitError::Store(e)) => return Err(e.into()),
        }
        if started.elapsed() >= FINALIZE_BUDGET && next < parts {
            return Err(StoreError::Contention { attempts }.into());
        }
    };
    let header = header.ok_or_else(|| {
        ApiError::Internal(StoreError::Malformed {
            key: sale_id.to_string(),
            problem: "finished sale without a header".into(),
        })
    })?;
    let replayed = written.is_empty();
    if !replayed {
        telemetry::count(|s| &s.sales_finalized, 1);
        telemetry::count(|s| &s.lines, merged.len() as u64);
    }
    let body = assemble_parts(store, account, sale_id, &header, written).await?;
    Ok(Finalized {
        body,
        replayed,
        attempts,
        lines: merged.len(),
        parts,
        backordered,
    })
}

/// The response of a stored sale: the stored body of a one-transaction sale, or a sale in parts
/// assembled from its parts (`"status": "finalizing"` with the lines applied so far while it is
/// incomplete).
pub async fn sale_body(
    store: &Store,
    account: &AccountId,
    sale_id: &SaleId,
    sale: &StoredSale,
) -> Result<String, ApiError> {
    match &sale.result_json {
        Some(body) => Ok(body.clone()),
        None => assemble_parts(store, account, sale_id, sale, HashMap::new()).await,
    }
}

async fn assemble_parts(
    store: &Store,
    account: &AccountId,
    sale_id: &SaleId,
    sale: &StoredSale,
    mut known: HashMap<u32, Vec<SaleLineResult>>,
) -> Result<String, ApiError> {
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
    let lines = (0..applied)
        .flat_map(|k| known.remove(&k).unwrap_or_default())
        .collect();
    let result = SaleResult {
        sale_id: sale_id.to_string(),
        status: if sale.finalized {
            "finalized"
        } else {
            "finalizing"
        }
        .to_owned(),
        customer: sale.customer.clone(),
        channel: sale.channel.clone(),
        fulfillment: Fulfillment {
            fulfillment_id: sale.fulfillment_id.clone().unwrap_or_default(),
            status: if sale.finalized { "raised" } else { "pending" }.to_owned(),
        },
        lines,
    };
    to_json(sale_id, &result)
}

/// A SKU's stock level as the inventory routes answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    pub sku: String,
    pub on_hand: i64,
    pub open_replenishment_id: Option<String>,
}

/// Applies a stock adjustment exactly once per `adjustment_id`: a retry with the same SKU and delta
/// gets the first answer and changes nothing; the id reused for another SKU or delta is 409.
pub async fn adjust_stock_once(
    store: &Store,
    account: &AccountId,
    sku: &Sku,
    delta: i64,
    adjustment: &AdjustmentId,
) -> Result<Level, ApiError> {
    let mut backoff = Backoff::new();
    for _ in 0..MAX_ATTEMPTS {
        let (stored, record) = store.adjustment_context(account, adjustment, sku).await?;
        if let Some(done) = stored {
            if done.sku != sku.as_str() || done.delta != delta {
                return Err(ApiError::Conflict {
                    code: "adjustment_conflict",
                    message: format!(
                        "adjustment_id {adjustment} was already used for another adjustment"
                    ),
                });
            }
            return Ok(Level {
                sku: done.sku,
                on_hand: done.on_hand_after,
                open_replenishment_id: done.open_rid,
            });
        }
        let record = record
            .ok_or_else(|| ApiError::not_found("sku_not_found", format!("sku {sku} not found")))?;
        match store
            .commit_adjustment(account, adjustment, &record, delta, &now_rfc3339())
            .await
        {
            Ok(()) => {
                return Ok(Level {
                    sku: sku.to_string(),
                    on_hand: record.state.on_hand + delta,
                    open_replenishment_id: record.state.open_order.map(|r| r.to_string()),
                })
            }
            // Recorded first by a retry or a duplicate: the next read answers as it did.
            Err(CommitError::SaleExists) => continue,
            Err(CommitError::Contended(reason)) => {
                tracing::debug!(%reason, "adjustment contended; retrying");
                telemetry::count(|s| &s.conflicts_retried, 1);
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
            CloseOutcome::Closed(order) => {
                telemetry::count(|s| &s.orders_closed, 1);
                return Ok((order, true));
            }
            CloseOutcome::AlreadyClosed(order) => return Ok((order, false)),
            CloseOutcome::NotFound => {
                return Err(ApiError::not_found(
                    "replenishment_not_found",
                    format!("replenishment_id {rid} not found"),
                ))
            }
            CloseOutcome::Contended(reason) => {
                tracing::debug!(%reason, "close contended; retrying");
                telemetry::count(|s| &s.conflicts_retried, 1);
                backoff.wait().await;
            }
        }
    }
    Err(StoreError::Contention {
        attempts: MAX_ATTEMPTS,
    }
    .into())
}

/// Closes an order the open index listed, in one transaction (the index carries its SKU): true
/// if this call closed it, false if it was no longer open.
async fn close_listed_order(
    store: &Store,
    account: &AccountId,
    rid: &ReplenishmentId,
    sku: &Sku,
) -> Result<bool, ApiError> {
    let mut backoff = Backoff::new();
    for _ in 0..MAX_ATTEMPTS {
        match store
            .close_open_order(account, rid, sku, None, &now_rfc3339())
            .await?
        {
            CloseTx::Committed => {
                telemetry::count(|s| &s.orders_closed, 1);
                return Ok(true);
            }
            CloseTx::NotOpen => return Ok(false),
            CloseTx::Contended(reason) => {
                tracing::debug!(%reason, "close contended; retrying");
                telemetry::count(|s| &s.conflicts_retried, 1);
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
    let started = Instant::now();
    let stop_at = deadline.checked_sub(margin).unwrap_or(started);
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
            .map(|(account, rid, sku)| async move {
                if Instant::now() >= stop_at {
                    return None;
                }
                Some(close_listed_order(store, &account, &rid, &sku).await)
            })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        for result in results.into_iter().flatten() {
            match result {
                Ok(true) => closed += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "scheduled close skipped an order"),
            }
        }
        tracing::info!(
            pages,
            closed,
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            time_left_ms = u64::try_from(
                stop_at
                    .saturating_duration_since(Instant::now())
                    .as_millis()
            )
            .unwrap_or(0),
            "scheduled close progress"
        );
        match page.next {
            Some(next) if !next.is_empty() => start = Some(next),
            _ => break,
        }
    }
    let remaining = store.count_open_orders_before(&cutoff).await?;
    Ok(CloseRun { closed, remaining })
}
