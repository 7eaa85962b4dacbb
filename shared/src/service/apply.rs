//! Applying a claimed sale line by line, exactly once, whoever applies it: the caller, a
//! redelivery that takes over an expired lease, or the completion sweep.
//!
//! 1. The sale record is claimed first (conditional on not existing): it holds the request and
//!    the lease of its one applier. A second delivery finds it and waits for the sale to complete,
//!    or takes the lease over once it has expired.
//! 2. Each line is one `UpdateItem` of its SKU item, guarded by the range of levels its plan holds
//!    for ([`crate::domain::level_guard`]) and by the line's marker being absent. The marker keeps
//!    the level after the line and its order, so a repeat applies nothing twice and learns what
//!    the line did. A miss answers the item as it is: the line is re-planned from it, no read.
//! 3. The order items the lines opened, and each line's contribution, are written (each
//!    conditional on not existing).
//! 4. The record is completed with the answer (conditional on still holding the lease). The
//!    markers go later, with this process's next write of the SKU or the completion path's sweep
//!    ([`crate::store::Store::sweep_marks`]). A marker is removed only once the sale is complete,
//!    and an applier writes lines only while its lease lasts, so no applier can meet a removed
//!    marker.

use std::time::{Duration, Instant};

use futures::future::try_join_all;
use serde::{Deserialize, Serialize};

use crate::domain::{LinePlan, SaleLine, SaleRequest, SaleResult, StockStatus};
use crate::error::StoreError;
use crate::ids::{AccountId, SaleId, Sku};
use crate::retry::until_answered;
use crate::store::codec::NewContribution;
use crate::store::{codec, SaleContext, Store};
use crate::telemetry;

use super::lines::{write_lines, Lines, Refusal};
use super::now_rfc3339;
use super::plan::plan_lines;

/// An applier stops writing lines this long before its lease expires (a quarter of a short
/// lease), so that no write of its can land after another applier has taken over.
const LEASE_SAFETY: Duration = Duration::from_millis(1000);

fn lease_safety(lease: Duration) -> Duration {
    LEASE_SAFETY.min(lease / 4)
}

/// A merged line as the sale record keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct StoredLine {
    pub sku: String,
    pub quantity: i64,
}

pub(super) fn lines_json(lines: &[SaleLine]) -> String {
    let stored: Vec<StoredLine> = lines
        .iter()
        .map(|l| StoredLine {
            sku: l.sku.to_string(),
            quantity: l.quantity,
        })
        .collect();
    serde_json::to_string(&stored).unwrap_or_default()
}

pub(super) fn lines_from_json(sale: &SaleId, json: &str) -> Result<Vec<SaleLine>, StoreError> {
    let malformed = |problem: String| StoreError::Malformed {
        key: sale.to_string(),
        problem,
    };
    let stored: Vec<StoredLine> =
        serde_json::from_str(json).map_err(|e| malformed(e.to_string()))?;
    stored
        .into_iter()
        .map(|l| {
            Ok(SaleLine {
                sku: Sku::parse(l.sku, "sku").map_err(|e| malformed(e.to_string()))?,
                quantity: l.quantity,
            })
        })
        .collect()
}

/// The SKUs of a claimed sale, from its record's request (`None`: unreadable).
pub fn claimed_skus(sale: &SaleId, request_json: &str) -> Option<Vec<Sku>> {
    let lines = lines_from_json(sale, request_json).ok()?;
    Some(lines.into_iter().map(|l| l.sku).collect())
}

/// The lease an applier holds: its token and when it expires.
#[derive(Debug, Clone)]
pub(super) struct Lease {
    pub token: String,
    pub until_ms: i64,
    /// When the applier stops writing lines.
    pub(super) stop_at: Instant,
    /// Taken over from an applier whose lease expired (which may have written lines).
    pub(super) taken_over: bool,
}

impl Lease {
    pub fn new(store: &Store) -> Self {
        let lease = store.sale_lease();
        Lease {
            token: ulid::Ulid::new().to_string(),
            until_ms: now_ms() + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX),
            stop_at: Instant::now() + lease.saturating_sub(lease_safety(lease)),
            taken_over: false,
        }
    }

    pub(super) fn check(&self) -> Result<(), StoreError> {
        if Instant::now() >= self.stop_at {
            // The sale is left to a redelivery or the completion sweep.
            return Err(StoreError::Contention { attempts: 0 });
        }
        Ok(())
    }
}

pub(super) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// What applying a sale did.
#[derive(Debug)]
pub(super) enum Applied {
    /// Complete: the answer, the units back-ordered, and the guarded writes missed on the way.
    Done {
        body: String,
        backordered: i64,
        opened: usize,
        missed: u32,
    },
    /// Another applier took the lease over: the record now says what happened.
    LeaseLost,
    /// A SKU of the sale does not exist: its claim was dropped before any line was written.
    UnknownSku(Sku),
    /// A line would take its SKU past its back-order limit: the claim was dropped, no line of
    /// the sale is written.
    Refused(Refusal),
}

/// Applies the lines of a claimed sale this applier holds `lease` of, then completes it. `plans`:
/// the lines already planned from `ctx`, if they were.
#[allow(clippy::too_many_arguments)]
pub(super) async fn apply_sale(
    store: &Store,
    account: &AccountId,
    sale: &SaleId,
    request: &SaleRequest,
    fulfillment_id: &str,
    ctx: &SaleContext,
    lease: &Lease,
    plans: Option<Vec<LinePlan>>,
) -> Result<Applied, StoreError> {
    let lines = request.merged_lines();
    if let Some(missing) = lines.iter().find(|l| !ctx.skus.contains_key(&l.sku)) {
        if !store.drop_claim(account, sale, &lease.token).await? {
            // Taken over meanwhile (this applier was slow): the sale is someone else's now, and
            // they read the SKUs again.
            return Ok(Applied::LeaseLost);
        }
        return Ok(Applied::UnknownSku(missing.sku.clone()));
    }
    let plans = match plans {
        Some(plans) => plans,
        None => plan_lines(store, account, ctx, &lines).await?,
    };
    let now = now_rfc3339();
    let now = now.as_str();
    // The caller that claimed the sale knows no line of it is written yet: a line its read
    // refuses refuses the sale at once.
    let refused = match Refusal::first(&plans).filter(|_| !lease.taken_over) {
        Some(refusal) => Lines::Refused(refusal),
        None => write_lines(store, account, sale, plans.clone(), lease, now).await?,
    };
    let done = match refused {
        Lines::Done(done) => done,
        // A redelivery that took the sale over may find lines written by the applier it took
        // over from, under the limits that applier read: then the sale completes, without limits.
        Lines::Refused(_)
            if lease.taken_over
                && store
                    .any_line_marked(
                        account,
                        sale,
                        &lines.iter().map(|l| l.sku.clone()).collect::<Vec<_>>(),
                    )
                    .await? =>
        {
            let unlimited = plans
                .into_iter()
                .map(|p| LinePlan { limit: None, ..p })
                .collect();
            match write_lines(store, account, sale, unlimited, lease, now).await? {
                Lines::Done(done) => done,
                Lines::Refused(_) => unreachable!("no line is held to a limit"),
            }
        }
        Lines::Refused(refusal) => {
            if !store.drop_claim(account, sale, &lease.token).await? {
                return Ok(Applied::LeaseLost);
            }
            telemetry::count(|s| &s.requests_rejected, 1);
            return Ok(Applied::Refused(refusal));
        }
    };

    // The orders' items (when the SKU does not say they exist) and the contributions, together.
    let until = lease.stop_at + lease_safety(store.sale_lease());
    let unmade = || {
        done.iter()
            .filter(|d| !d.made)
            .filter_map(|d| Some((d, d.order.as_ref()?)))
    };
    let orders = try_join_all(unmade().map(|(d, rid)| {
        until_answered(until, move || {
            let units = d.result.backordered;
            store.ensure_order(account, rid, &d.sku, d.vendor.as_ref(), units, now)
        })
    }));
    let fed: Vec<NewContribution> = done
        .iter()
        .filter_map(|d| {
            Some(NewContribution {
                rid: d.order.as_ref()?,
                sku: &d.sku,
                units: d.result.backordered,
                pos: d.pos,
            })
        })
        .collect();
    let contributions = async {
        if fed.is_empty() {
            return Ok(());
        }
        until_answered(until, || store.put_contributions(account, sale, &fed, now)).await
    };
    futures::future::try_join(orders, contributions).await?;

    let mut result = SaleResult {
        lines: done.iter().map(|d| d.result.clone()).collect(),
        ..SaleResult::finalized(sale, request, fulfillment_id.to_owned(), &[])
    };
    result.fulfillment.stock_status = StockStatus::of(result.lines.iter().map(|l| l.awaiting));
    let body = codec::to_json(sale, &result)?;
    // With the completion, the SKUs whose open order's item this sale wrote record that it
    // exists (reads show an open order once its item exists).
    let made = unmade()
        .map(|(d, rid)| until_answered(until, move || store.mark_made(account, &d.sku, rid)));
    let complete = until_answered(until, || {
        store.complete_sale(account, sale, &lease.token, &body, now)
    });
    let (completed, made) = tokio::join!(complete, try_join_all(made));
    made?;
    if !completed? {
        return Ok(Applied::LeaseLost);
    }

    // The markers: nothing reads them once the sale is complete. This process's next line write
    // of each SKU removes them, or the completion path's sweep does ([`crate::store::Store::sweep_marks`]).
    let skus: Vec<Sku> = done.iter().map(|d| d.sku.clone()).collect();
    store.settle_marks(account, sale, &skus);

    Ok(Applied::Done {
        body,
        backordered: done.iter().map(|d| d.result.backordered).sum(),
        opened: done.iter().filter(|d| d.opened).count(),
        missed: done.iter().map(|d| d.missed).sum(),
    })
}

/// Applies a sale whose record `ctx` read as being applied, taking its lease over if it has
/// expired. `None` when it has not expired yet (its applier is at work) or someone else took it.
pub(super) async fn take_over(
    store: &Store,
    account: &AccountId,
    sale: &SaleId,
    ctx: &SaleContext,
) -> Result<Option<Applied>, StoreError> {
    let Some(record) = &ctx.sale else {
        return Ok(None);
    };
    let Some(applying) = &record.applying else {
        return Ok(None);
    };
    if applying.lease_until_ms > now_ms() {
        return Ok(None);
    }
    let lease = Lease {
        taken_over: true,
        ..Lease::new(store)
    };
    if !store
        .take_lease(
            account,
            sale,
            applying.lease_until_ms,
            &lease.token,
            lease.until_ms,
        )
        .await?
    {
        return Ok(None);
    }
    let request = SaleRequest {
        customer: record.customer.clone(),
        channel: record.channel.clone(),
        lines: lines_from_json(sale, &applying.lines_json)?,
    };
    let fulfillment_id = record.fulfillment_id.clone().unwrap_or_default();
    apply_sale(
        store,
        account,
        sale,
        &request,
        &fulfillment_id,
        ctx,
        &lease,
        None,
    )
    .await
    .map(Some)
}

/// What the completion of a claimed sale found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// Its applier completed it: nothing to do.
    AlreadyDone,
    /// No sale is being applied under this id (dropped as invalid, nothing of it written, or
    /// cancelled first): nothing to do.
    Gone,
    /// Its applier never came back: completed now.
    Completed,
    /// Still being applied, by an applier whose lease outlasts `until`: try again later.
    InProgress,
}

/// Makes sure a claimed sale completes (the table's stream reports every claim): waits, until
/// `until` at the latest, for its lease to expire unless its applier completes it first, then
/// takes the lease over and applies what is left.
pub async fn complete_claimed(
    store: &Store,
    account: &AccountId,
    sale: &SaleId,
    until: Instant,
) -> Result<Completion, StoreError> {
    let mut backoff =
        crate::retry::Backoff::with(Duration::from_millis(50), Duration::from_secs(1));
    loop {
        let Some(record) = store.sale(account, sale).await? else {
            return Ok(Completion::Gone);
        };
        let Some(applying) = &record.applying else {
            return Ok(Completion::AlreadyDone);
        };
        let left = applying.lease_until_ms - now_ms();
        if left > 0 {
            let wait = backoff.next_delay().max(
                Duration::from_millis(u64::try_from(left).unwrap_or(0)).min(Duration::from_secs(1)),
            );
            if Instant::now() + wait >= until {
                return Ok(Completion::InProgress);
            }
            tokio::time::sleep(wait).await;
            continue;
        }
        let lines = lines_from_json(sale, &applying.lines_json)?;
        let skus: Vec<Sku> = lines.iter().map(|l| l.sku.clone()).collect();
        let ctx = store.sale_context(account, sale, &skus).await?;
        match take_over(store, account, sale, &ctx).await? {
            Some(Applied::Done { .. }) => return Ok(Completion::Completed),
            // Dropped as invalid (nothing of it was written).
            Some(Applied::UnknownSku(_) | Applied::Refused(_)) => return Ok(Completion::Gone),
            // Taken over by someone else meanwhile: look again.
            Some(Applied::LeaseLost) | None => {}
        }
    }
}
