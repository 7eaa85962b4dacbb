//! Finalizing a sale of up to [`LINES_PER_TRANSACTION`] (merged) lines: planned from one
//! consistent read (plus one for vendor settings when a line needs them), claimed, and applied
//! line by line ([`super::apply`]). Larger sales are written in parts ([`super::finalize_parts`]).

use std::time::{Duration, Instant};

use crate::domain::SaleRequest;
use crate::error::StoreError;
use crate::ids::{AccountId, SaleId};
use crate::retry::{Backoff, Policy};
use crate::store::{Claim, CommitError, Store};
use crate::telemetry;

use super::apply::{self, Applied, Lease};
use super::cold::{try_cold, Cold};
use super::plan::{check_claimed, line_of, record_finalized, replay, unknown_sku_error};
use super::{now_rfc3339, LINES_PER_TRANSACTION};

pub use super::plan::{FinalizeError, Finalized, WritePath};

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
    // This process has not seen these SKUs contended lately: read first, in the hope of writing
    // the sale whole in one transaction ([`super::cold`]); if not, go on from that read.
    let mut pending = None;
    let mut missed_cold = 0;
    if !store.recently_contended(account, &skus) {
        match try_cold(store, account, sale_id, request, &merged, &fingerprint).await? {
            Cold::Done(done) => return Ok(done),
            Cold::Refused(e) => return Err(e),
            Cold::Claim { ctx, plans, missed } => {
                missed_cold = u32::from(missed);
                pending = Some((*ctx, plans));
            }
            Cold::Reread => {}
        }
    }
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
        let (ctx, claimed, plans) = if let Some((ctx, plans)) = pending.take() {
            // Read by the cold attempt: claim now (below), and apply from what it planned.
            (Ok(ctx), None, plans)
        } else if attempts == 1 {
            let (ctx, claimed) = tokio::join!(
                store.sale_context(account, sale_id, &skus),
                store.claim_sale(account, sale_id, claim)
            );
            (ctx, Some(claimed), None)
        } else {
            (
                store.sale_context(account, sale_id, &skus).await,
                None,
                None,
            )
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
                    plans,
                )
                .await?
            }
            Err(CommitError::Preempted) => {
                // Claimed before: by an earlier delivery (or a concurrent one).
                let Some(sale) = &ctx.sale else {
                    // Read before that claim landed: read again.
                    continue;
                };
                check_claimed(sale, sale_id, &fingerprint)?;
                if sale.applying.is_none() {
                    return replay(store, account, sale_id, sale, attempts, merged.len()).await;
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
                telemetry::count(|s| &s.lines_line_by_line, merged.len() as u64);
                return Ok(Finalized {
                    body,
                    replayed: false,
                    attempts: attempts + missed + missed_cold,
                    lines: merged.len(),
                    parts: 1,
                    backordered,
                    path: WritePath::LineByLine,
                });
            }
            // Another applier completes it: the next read replays it.
            Applied::LeaseLost => continue,
            // A SKU of the sale does not exist: the claim was dropped, nothing was written.
            Applied::UnknownSku(sku) => return Err(unknown_sku_error(request, &sku)),
            // A line would pass its SKU's back-order limit: likewise.
            Applied::Refused(refusal) => {
                return Err(FinalizeError::LimitReached {
                    index: line_of(request, &refusal.sku),
                    sku: refusal.sku,
                    available: refusal.available,
                })
            }
        }
    }
}
