//! Use cases that need more than one store call: finalizing a sale, closing orders. They hold the
//! retry loops; the rules they apply are the pure functions of [`crate::domain`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;

use sha2::Digest;

use crate::domain::{
    effective_backorder, needs_vendor_settings, plan_cancel_line, plan_line, receive, CancelLine,
    CancelResult, Fulfillment, LinePlan, OrderAction, ReceiptRefusal, Replenishment, SaleLine,
    SaleLineResult, SaleRequest, SaleResult, SaleStatus,
};
use crate::error::{ApiError, StoreError};
use crate::ids::{
    AccountId, AdjustmentId, ReceiptId, ReplenishmentId, RequestId, SaleId, Sku, VendorId,
};
use crate::retry::{Backoff, MAX_ATTEMPTS};
use crate::store::{
    CancelPart, CloseOutcome, CloseTx, CommitError, OrderRef, SaleContext, SaleParts, Store,
    StoredReceipt, StoredSale,
};
use crate::telemetry;

/// The current time as RFC 3339 UTC with milliseconds (fixed width, so it sorts as text).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Most (merged) lines one transaction holds: 100 items = the sale record (+ the part record for a
/// sale in parts) + per line its SKU, at most one order and that order's contribution record. A
/// cancellation's parts are the sale's parts, with the same three items per line.
pub const LINES_PER_TRANSACTION: usize = 32;
/// The part size of sales in parts started before the size was recorded on the sale.
const LEGACY_PART_LINES: usize = 49;
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
    Some(unknown_sku_error(request, &missing.sku))
}

/// 422 naming the first line of the request with `sku`.
fn unknown_sku_error(request: &SaleRequest, sku: &Sku) -> ApiError {
    let index = request
        .lines
        .iter()
        .position(|l| &l.sku == sku)
        .unwrap_or_default();
    ApiError::Unprocessable {
        code: "unknown_sku",
        message: format!("lines[{index}].sku {sku} is not a known SKU"),
    }
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

fn to_json(sale_id: &SaleId, value: &impl serde::Serialize) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(|e| {
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

    // A transaction cancelled only by conflicts or throttling evaluated none of its conditions
    // against what was read, so it is sent again as it was, without a new read; its conditions
    // still decide. A failed condition (a SKU or order changed, or the sale exists) re-reads.
    // A resend costs one request, not two, and does not use up an attempt: each attempt may send
    // its transaction up to RESENDS + 1 times.
    const RESENDS: u32 = 2;
    let mut resend: Option<(Vec<LinePlan>, SaleResult, String)> = None;
    let (mut attempt, mut resends) = (0, 0);
    while attempt < MAX_ATTEMPTS {
        if resend.is_none() {
            attempt += 1;
            resends = 0;
        }
        let (plans, result, now) = match resend.take() {
            Some(planned) => planned,
            None => {
                let ctx = store.sale_context(account, sale_id, &skus).await?;
                if let Some(sale) = &ctx.sale {
                    if sale.fingerprint != fingerprint {
                        return Err(conflict(sale_id));
                    }
                    if is_cancelled(sale) {
                        return Err(cancelled(sale_id));
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
                if !crate::store::condition_failed(&reason) && resends < RESENDS {
                    resends += 1;
                    resend = Some((plans, result, now));
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

/// A sale larger than one transaction: part k (lines k*32..) is written with the sale header
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
    // The part size is recorded on the sale, so a sale resumed by a build with another size is
    // cut as it was started (sales started before it was recorded used 49).
    let mut part_lines = LINES_PER_TRANSACTION;
    let mut chunks: Vec<&[SaleLine]> = sorted.chunks(part_lines).collect();
    let mut checked_skus = false;
    let mut parts = u32::try_from(chunks.len()).unwrap_or(u32::MAX);
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
        if let Some(sale) = &ctx.sale {
            let stored_lines = sale.part_lines.unwrap_or(LEGACY_PART_LINES);
            if sale.fingerprint == fingerprint
                && sale.result_json.is_none()
                && stored_lines != part_lines
            {
                part_lines = stored_lines;
                chunks = sorted.chunks(part_lines).collect();
                parts = u32::try_from(chunks.len()).unwrap_or(u32::MAX);
                next = 0;
                continue;
            }
        }
        let (done, fulfillment_id) = match &ctx.sale {
            None => (0, None),
            Some(sale) if sale.fingerprint != fingerprint => return Err(conflict(sale_id)),
            Some(sale) if is_cancelled(sale) => return Err(cancelled(sale_id)),
            // Finalized in one transaction by a build that took more lines per transaction: a replay.
            Some(sale) if sale.result_json.is_some() => {
                return Ok(Finalized {
                    body: sale_body(store, account, sale_id, sale).await?,
                    replayed: true,
                    attempts,
                    lines: merged.len(),
                    parts: 1,
                    backordered: 0,
                })
            }
            Some(sale) if sale.parts != parts => return Err(conflict(sale_id)),
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
                return Err(unknown_sku_error(request, &line.sku));
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
            part_lines,
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
                        status: SaleStatus::Finalized,
                        cancel_done: 0,
                        cancel_result: None,
                        cancelled_at: None,
                        created_at: None,
                        result_json: None,
                        parts,
                        done: parts,
                        part_lines: Some(part_lines),
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
                note_contention(&mut contended_in_a_row, started)?;
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
    let body = match &sale.result_json {
        Some(body) => body.clone(),
        None => assemble_parts(store, account, sale_id, sale, HashMap::new()).await?,
    };
    if !is_cancelled(sale) {
        return Ok(body);
    }
    // A cancelled sale shows what it was, with its status: the cancellation has its own answer.
    let mut result: SaleResult = parse_stored(sale_id, &body)?;
    result.status = sale.status.as_str().to_owned();
    to_json(sale_id, &result)
}

fn is_cancelled(sale: &StoredSale) -> bool {
    matches!(sale.status, SaleStatus::Cancelled | SaleStatus::Cancelling)
}

fn cancelled(sale_id: &SaleId) -> ApiError {
    ApiError::Conflict {
        code: "sale_cancelled",
        message: format!("sale_id {sale_id} was cancelled and cannot be finalized again"),
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
        status: if sale.status == SaleStatus::Finalizing {
            "finalizing"
        } else {
            "finalized"
        }
        .to_owned(),
        customer: sale.customer.clone(),
        channel: sale.channel.clone(),
        fulfillment: Fulfillment {
            fulfillment_id: sale.fulfillment_id.clone().unwrap_or_default(),
            status: if sale.status == SaleStatus::Finalizing {
                "pending"
            } else {
                "raised"
            }
            .to_owned(),
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
    order: &OrderRef,
) -> Result<bool, ApiError> {
    let mut backoff = Backoff::new();
    for _ in 0..MAX_ATTEMPTS {
        match store
            .close_open_order(account, order, None, &now_rfc3339())
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
            .map(|(account, order)| async move {
                if Instant::now() >= stop_at {
                    return None;
                }
                Some(close_listed_order(store, &account, &order).await)
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

/// What a cancellation answered.
#[derive(Debug)]
pub struct Cancelled {
    pub body: String,
    /// True when the sale had been cancelled before and nothing changed.
    pub replayed: bool,
    /// Units this call took back out of open orders, and left in closed ones.
    pub taken_back: i64,
    pub not_taken_back: i64,
}

/// Cancels a finalized sale exactly once: every line's units go back to stock; units it added to
/// an order still open come out of that order, units in an order already closed stay there (the
/// answer says how many). Applied in the sale's own parts, each one conditional transaction, so a
/// repeated or concurrent cancel resumes or replays and never restores anything twice.
pub async fn cancel_sale(
    store: &Store,
    account: &AccountId,
    sale_id: &SaleId,
) -> Result<Cancelled, ApiError> {
    let mut written: HashMap<u32, Vec<CancelLine>> = HashMap::new();
    let mut contended_in_a_row = 0u32;
    let mut backoff = Backoff::new();
    let started = Instant::now();
    loop {
        let sale = store.sale(account, sale_id).await?.ok_or_else(|| {
            ApiError::not_found("sale_not_found", format!("sale_id {sale_id} not found"))
        })?;
        let k = match sale.status {
            SaleStatus::Finalizing => {
                return Err(ApiError::Conflict {
                    code: "sale_incomplete",
                    message: format!(
                        "sale_id {sale_id} is still being finalized: redeliver its finalize, then cancel it"
                    ),
                })
            }
            SaleStatus::Cancelled => break finish_cancel(store, account, sale_id, &sale, written).await,
            SaleStatus::Finalized => 0,
            SaleStatus::Cancelling => sale.cancel_done,
        };
        let in_parts = sale.result_json.is_none();
        let lines: Vec<SaleLineResult> = match &sale.result_json {
            Some(json) => parse_stored::<SaleResult>(sale_id, json)?.lines,
            None => store
                .sale_part_lines(account, sale_id, &[k])
                .await?
                .pop()
                .unwrap_or_default(),
        };
        if lines.len() > LINES_PER_TRANSACTION {
            // Only a sale finalized by a build that took 49 lines per transaction: its cancellation
            // would not fit one transaction (100 items). Refuse, changing nothing, rather than fail.
            return Err(ApiError::Conflict {
                code: "sale_not_cancellable",
                message: format!(
                    "sale_id {sale_id} was finalized with more than {LINES_PER_TRANSACTION} SKUs per \
                     transaction (by an earlier version) and cannot be cancelled here"
                ),
            });
        }
        let rids: Vec<ReplenishmentId> = lines
            .iter()
            .filter(|l| l.backordered > 0)
            .filter_map(|l| l.replenishment_id.as_deref())
            .filter_map(|r| ReplenishmentId::parse(r, "replenishment_id").ok())
            .collect();
        let fed = if rids.is_empty() {
            HashMap::new()
        } else {
            store.fed_orders(account, &rids).await?
        };
        let plans: Vec<CancelLine> = lines
            .iter()
            .map(|l| {
                let order = l
                    .replenishment_id
                    .as_ref()
                    .and_then(|r| fed.get(r))
                    .copied();
                plan_cancel_line(l, order)
            })
            .collect();
        let now = now_rfc3339();
        let cancelled_at = sale.cancelled_at.clone().unwrap_or_else(|| now.clone());
        let answer = if in_parts {
            to_json(sale_id, &plans)?
        } else {
            to_json(
                sale_id,
                &cancel_result(sale_id, &cancelled_at, plans.clone()),
            )?
        };
        let part = CancelPart {
            k,
            parts: sale.parts,
            in_parts,
            answer: &answer,
        };
        match store
            .commit_cancel_part(account, sale_id, part, &plans, &now)
            .await
        {
            Ok(()) => {
                let units: u64 = plans.iter().map(|p| p.restored.unsigned_abs()).sum();
                telemetry::count(|s| &s.units_restored, units);
                written.insert(k, plans);
                contended_in_a_row = 0;
                backoff = Backoff::new();
            }
            // The sale moved since it was read (a concurrent cancel): re-read and go on from there.
            Err(CommitError::SaleExists) => {}
            Err(CommitError::Contended(reason)) => {
                tracing::debug!(part = k, %reason, "cancellation contended; retrying");
                note_contention(&mut contended_in_a_row, started)?;
                backoff.wait().await;
            }
            Err(CommitError::Store(e)) => return Err(e.into()),
        }
    }
}

/// Counts a contended attempt of a loop that writes in several transactions: 503 once
/// [`MAX_ATTEMPTS`] in a row were contended or [`FINALIZE_BUDGET`] is spent.
fn note_contention(in_a_row: &mut u32, started: Instant) -> Result<(), ApiError> {
    telemetry::count(|s| &s.conflicts_retried, 1);
    *in_a_row += 1;
    if *in_a_row >= MAX_ATTEMPTS || started.elapsed() >= FINALIZE_BUDGET {
        return Err(StoreError::Contention {
            attempts: *in_a_row,
        }
        .into());
    }
    Ok(())
}

fn parse_stored<T: serde::de::DeserializeOwned>(
    sale_id: &SaleId,
    json: &str,
) -> Result<T, ApiError> {
    serde_json::from_str(json).map_err(|e| {
        ApiError::Internal(StoreError::Malformed {
            key: sale_id.to_string(),
            problem: e.to_string(),
        })
    })
}

fn cancel_result(sale_id: &SaleId, cancelled_at: &str, lines: Vec<CancelLine>) -> CancelResult {
    CancelResult {
        sale_id: sale_id.to_string(),
        status: SaleStatus::Cancelled.as_str().to_owned(),
        cancelled_at: cancelled_at.to_owned(),
        not_taken_back: lines.iter().map(|l| l.not_taken_back).sum(),
        lines,
    }
}

/// The answer of a cancelled sale: stored whole for a one-part sale, assembled from the parts'
/// answers (those this call wrote, and the others read) for a sale in parts.
async fn finish_cancel(
    store: &Store,
    account: &AccountId,
    sale_id: &SaleId,
    sale: &StoredSale,
    mut written: HashMap<u32, Vec<CancelLine>>,
) -> Result<Cancelled, ApiError> {
    let replayed = written.is_empty();
    if !replayed {
        telemetry::count(|s| &s.sales_cancelled, 1);
    }
    let mine: Vec<&CancelLine> = written.values().flatten().collect();
    let taken_back = mine.iter().map(|l| l.taken_back).sum();
    let not_taken_back = mine.iter().map(|l| l.not_taken_back).sum();
    let body = match &sale.cancel_result {
        Some(body) => body.clone(),
        None => {
            let missing: Vec<u32> = (0..sale.parts)
                .filter(|k| !written.contains_key(k))
                .collect();
            if !missing.is_empty() {
                let answers = store
                    .cancel_part_answers(account, sale_id, &missing)
                    .await?;
                for (k, json) in missing.iter().zip(answers) {
                    written.insert(*k, parse_stored(sale_id, &json)?);
                }
            }
            let lines = (0..sale.parts)
                .flat_map(|k| written.remove(&k).unwrap_or_default())
                .collect();
            let at = sale.cancelled_at.clone().unwrap_or_default();
            to_json(sale_id, &cancel_result(sale_id, &at, lines))?
        }
    };
    Ok(Cancelled {
        body,
        replayed,
        taken_back,
        not_taken_back,
    })
}

/// Records a receipt on a closed order exactly once per `receipt_id`: the units go to the order's
/// `received` and to the SKU's stock. A repeat with the same quantity answers the order as it
/// stands and changes nothing; the id reused with another quantity is 409.
pub async fn receive_units(
    store: &Store,
    account: &AccountId,
    rid: &ReplenishmentId,
    receipt: &ReceiptId,
    quantity: i64,
    allow_over_receipt: bool,
) -> Result<(Replenishment, bool), ApiError> {
    let mut backoff = Backoff::new();
    for _ in 0..MAX_ATTEMPTS {
        let (stored, order) = store.receipt_context(account, rid, receipt).await?;
        let order = order.ok_or_else(|| {
            ApiError::not_found(
                "replenishment_not_found",
                format!("replenishment_id {rid} not found"),
            )
        })?;
        if let Some(done) = stored {
            if done.quantity != quantity || done.allow_over_receipt != allow_over_receipt {
                return Err(ApiError::Conflict {
                    code: "receipt_conflict",
                    message: format!("receipt_id {receipt} was already used for another receipt"),
                });
            }
            return Ok((order, false));
        }
        let (received_after, receipt_status) = receive(&order, quantity, allow_over_receipt)
            .map_err(|refusal| match refusal {
                ReceiptRefusal::OrderOpen => ApiError::Conflict {
                    code: "replenishment_open",
                    message: format!(
                        "replenishment_id {rid} is still open: only a closed order receives"
                    ),
                },
                ReceiptRefusal::OverReceipt { outstanding } => ApiError::Unprocessable {
                    code: "over_receipt",
                    message: format!(
                        "quantity {quantity} is more than the {outstanding} units outstanding; \
                         send allow_over_receipt: true to receive them anyway"
                    ),
                },
            })?;
        let done = StoredReceipt {
            quantity,
            allow_over_receipt,
            received_after,
            receipt_status,
        };
        let now = now_rfc3339();
        match store
            .commit_receipt(account, &order, receipt, &done, &now)
            .await
        {
            Ok(()) => {
                telemetry::count(|s| &s.units_received, quantity.unsigned_abs());
                return Ok((
                    Replenishment {
                        received: received_after,
                        receipt_status,
                        updated_at: now,
                        ..order
                    },
                    true,
                ));
            }
            // Recorded first by a retry or a duplicate: the next read answers as it did.
            Err(CommitError::SaleExists) => continue,
            Err(CommitError::Contended(reason)) => {
                tracing::debug!(%reason, "receipt contended; retrying");
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

/// A request to create a regular order (validated).
#[derive(Debug, Clone)]
pub struct NewRegularOrder {
    pub sku: Sku,
    pub vendor_id: Option<VendorId>,
    pub quantity: i64,
    pub request_id: Option<RequestId>,
}

impl NewRegularOrder {
    fn fingerprint(&self) -> String {
        let canonical = serde_json::json!([
            self.sku.as_str(),
            self.vendor_id.as_ref().map(VendorId::as_str),
            self.quantity
        ]);
        let digest = sha2::Sha256::digest(canonical.to_string().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Creates a regular (manual) order: open, untagged, never merged into by sales, closable and
/// receivable like the others. With a `request_id`, a retry returns the order the first call
/// created (`false`: not created now); the id reused for another order is 409.
pub async fn create_regular_order(
    store: &Store,
    account: &AccountId,
    new: &NewRegularOrder,
) -> Result<(Replenishment, bool), ApiError> {
    let fingerprint = new.fingerprint();
    let mut backoff = Backoff::new();
    for _ in 0..MAX_ATTEMPTS {
        if let Some(request) = &new.request_id {
            if let Some((rid, seen)) = store.order_request(account, request).await? {
                if seen != fingerprint {
                    return Err(ApiError::Conflict {
                        code: "request_conflict",
                        message: format!(
                            "request_id {request} was already used to create another order"
                        ),
                    });
                }
                let rid = ReplenishmentId::parse(rid, "replenishment_id")?;
                let order = store.order(account, &rid).await?.ok_or_else(|| {
                    ApiError::Internal(StoreError::Malformed {
                        key: rid.to_string(),
                        problem: "request record without its order".into(),
                    })
                })?;
                return Ok((order, false));
            }
        }
        let sku = store
            .sku(account, &new.sku)
            .await?
            .ok_or_else(|| ApiError::Unprocessable {
                code: "unknown_sku",
                message: format!("sku {} is not a known SKU", new.sku),
            })?;
        let vendor = new.vendor_id.clone().or(sku.state.vendor_id);
        let rid = ReplenishmentId::generate();
        let now = now_rfc3339();
        let request = new.request_id.as_ref().map(|r| (r, fingerprint.as_str()));
        match store
            .create_regular_order(
                account,
                &rid,
                &new.sku,
                vendor.as_ref(),
                new.quantity,
                request,
                &now,
            )
            .await
        {
            Ok(order) => return Ok((order, true)),
            Err(CommitError::SaleExists) => continue,
            Err(CommitError::Contended(reason)) => {
                tracing::debug!(%reason, "order creation contended; retrying");
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
