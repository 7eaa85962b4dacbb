//! A sale on cold SKUs, written whole in one transaction: read, then one `TransactWriteItems` of
//! its completed record and its lines (2 requests, 2 round trips, nothing after the answer).
//!
//! A sale takes this path when this process has not found its SKUs contended lately, the read
//! finds no record of the sale, no sale in flight on any of its SKUs (no line markers) and the
//! plan back-orders nothing. The transaction is conditional on the record being absent and on
//! every SKU's version as read, so it is all of the sale or none of it: a crash leaves nothing to
//! finish, and a repeat finds the record. Any other case, or a transaction that finds a SKU
//! moved, goes on from the same read to the claim and the line-by-line path ([`super::apply`]),
//! and the SKUs are remembered as contended so that their next sales claim with their read.

use crate::domain::{LinePlan, SaleLine, SaleRequest, SaleResult};
use crate::ids::{AccountId, SaleId};
use crate::store::{codec, ColdSale, ColdWrite, SaleContext, Store};
use crate::telemetry;

use super::lines::Refusal;
use super::now_rfc3339;
use super::plan::{
    line_of, plan_lines, record_finalized, unknown_sku, FinalizeError, Finalized, WritePath,
};

/// What the cold attempt did.
pub(super) enum Cold {
    /// Written whole.
    Done(Finalized),
    /// Refused by the read (an unknown SKU, a back-order limit): nothing was written.
    Refused(FinalizeError),
    /// Not written: the sale goes on line by line, from this read (and these plans, when made).
    Claim {
        ctx: Box<SaleContext>,
        plans: Option<Vec<LinePlan>>,
        /// The transaction was sent and lost to a concurrent write.
        missed: bool,
    },
    /// A record of the sale appeared: read again.
    Reread,
}

/// Reads the sale's context and, if the sale is new and cold, writes it in one transaction.
pub(super) async fn try_cold(
    store: &Store,
    account: &AccountId,
    sale_id: &SaleId,
    request: &SaleRequest,
    merged: &[SaleLine],
    fingerprint: &str,
) -> Result<Cold, FinalizeError> {
    let skus: Vec<_> = merged.iter().map(|l| l.sku.clone()).collect();
    let ctx = store.sale_context(account, sale_id, &skus).await?;
    let claim = |ctx, plans| Cold::Claim {
        ctx: Box::new(ctx),
        plans,
        missed: false,
    };
    if ctx.sale.is_some() {
        // Delivered before: the claim path replays it, waits for it, or takes it over.
        return Ok(claim(ctx, None));
    }
    // Nothing of this sale exists, so nothing of it is written: a refusal needs no claim.
    if let Some(unknown) = unknown_sku(request, merged, &ctx) {
        return Ok(Cold::Refused(unknown));
    }
    let busy: Vec<_> = ctx
        .skus
        .values()
        .filter(|r| r.in_flight)
        .map(|r| &r.sku)
        .collect();
    if !busy.is_empty() {
        store.note_contended(account, busy);
        return Ok(claim(ctx, None));
    }
    let plans = plan_lines(store, account, &ctx, merged).await?;
    if let Some(refusal) = Refusal::first(&plans) {
        telemetry::count(|s| &s.requests_rejected, 1);
        return Ok(Cold::Refused(FinalizeError::LimitReached {
            index: line_of(request, &refusal.sku),
            sku: refusal.sku,
            available: refusal.available,
        }));
    }
    if plans.iter().any(|p| p.order.order_id().is_some()) {
        // Lines that back-order are written line by line (their contributions follow the line);
        // sales of a short SKU come in crowds: the next ones claim with their read.
        store.note_contended(
            account,
            plans
                .iter()
                .filter(|p| p.order.order_id().is_some())
                .map(|p| &p.sku),
        );
        return Ok(claim(ctx, Some(plans)));
    }
    let fulfillment_id = ulid::Ulid::new().to_string();
    let result = SaleResult::finalized(sale_id, request, fulfillment_id.clone(), &plans);
    let body = codec::to_json(sale_id, &result)?;
    let now = now_rfc3339();
    let record = ColdSale {
        fingerprint,
        fulfillment_id: &fulfillment_id,
        customer: request.customer.as_deref(),
        channel: request.channel.as_deref(),
        result_json: &body,
        now: &now,
    };
    let lost = match store
        .finalize_cold(account, sale_id, &plans, record)
        .await?
    {
        ColdWrite::Written => {
            record_finalized(merged.len());
            telemetry::count(|s| &s.lines_in_transaction, merged.len() as u64);
            return Ok(Cold::Done(Finalized {
                body,
                replayed: false,
                attempts: 1,
                lines: merged.len(),
                parts: 1,
                backordered: 0,
                path: WritePath::Transaction,
            }));
        }
        ColdWrite::SaleExists => return Ok(Cold::Reread),
        ColdWrite::Moved(moved) => moved,
        ColdWrite::Contended(reason) => {
            tracing::debug!(%reason, "a cold sale's transaction was contended");
            skus
        }
    };
    telemetry::count(|s| &s.conflicts_retried, 1);
    store.note_contended(account, &lost);
    Ok(Cold::Claim {
        ctx: Box::new(ctx),
        plans: Some(plans),
        missed: true,
    })
}
