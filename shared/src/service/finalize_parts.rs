//! A sale larger than one transaction, written in parts of [`LINES_PER_TRANSACTION`] lines, each
//! its own idempotent transaction; a redelivery resumes at the first part not applied.

use std::collections::HashMap;

use crate::domain::{SaleLine, SaleLineResult, SaleRequest, SaleResult, SaleStatus};
use crate::error::StoreError;
use crate::ids::{AccountId, SaleId, Sku};
use crate::retry::{Policy, Retry};
use crate::store::{CommitError, SaleParts, Store, StoredSale};

use super::lines::Refusal;
use super::plan::{
    check_claimed, line_of, plan_lines, record_finalized, record_sale, replay, unknown_sku,
    unknown_sku_error, FinalizeError, Finalized, WritePath,
};
use super::sale_view::assemble_parts;
use super::{now_rfc3339, LINES_PER_TRANSACTION};

/// The part size of sales in parts started before the size was recorded on the sale.
const LEGACY_PART_LINES: usize = 49;

/// A sale larger than one transaction: part k (lines k*32..) is written with the sale header
/// advancing `done` from k to k+1, so each part applies exactly once whatever is redelivered,
/// and a crash between parts leaves the sale `finalizing` until a redelivery completes it.
pub(super) async fn finalize_in_parts(
    store: &Store,
    account: &AccountId,
    sale_id: &SaleId,
    request: &SaleRequest,
    merged: &[SaleLine],
) -> Result<Finalized, FinalizeError> {
    let fingerprint = request.fingerprint();
    // Parts are cut from the lines in SKU order, so that they depend only on what the fingerprint
    // covers: a redelivery listing the same lines in another order resumes the same parts. Lines
    // held to a back-order limit come first, all in part 0: a refusal then comes before anything
    // is written. Which those are is recorded with part 0, so a resume cuts the same way.
    let mut first: Vec<Sku> = Vec::new();
    let mut sorted = cut(merged, &first);
    // The part size is recorded on the sale, so a sale resumed by a build with another size is
    // cut as it was started (sales started before it was recorded used 49).
    let mut part_lines = LINES_PER_TRANSACTION;
    let mut chunks: Vec<&[SaleLine]> = sorted.chunks(part_lines).collect();
    let mut checked_skus = false;
    let mut parts = u32::try_from(chunks.len()).unwrap_or(u32::MAX);
    let mut written: HashMap<u32, Vec<SaleLineResult>> = HashMap::new();
    let mut next = 0u32;
    let mut attempts = 0u32;
    let mut backordered = 0;
    let mut retry = Retry::new(Policy::PARTS, "sale part");

    let header = loop {
        attempts += 1;
        let part_skus: Vec<_> = chunks[next as usize]
            .iter()
            .map(|l| l.sku.clone())
            .collect();
        let ctx = store.sale_context(account, sale_id, &part_skus).await?;
        if let Some(sale) = &ctx.sale {
            let stored_lines = sale.part_lines.unwrap_or(LEGACY_PART_LINES);
            let stored_first: Vec<&str> = sale.first_skus.iter().map(String::as_str).collect();
            let cut_first: Vec<&str> = first.iter().map(Sku::as_str).collect();
            if sale.fingerprint == fingerprint
                && sale.result_json.is_none()
                && (stored_lines != part_lines || stored_first != cut_first)
            {
                part_lines = stored_lines;
                first = merged
                    .iter()
                    .filter(|l| sale.first_skus.iter().any(|f| f == l.sku.as_str()))
                    .map(|l| l.sku.clone())
                    .collect();
                first.sort();
                sorted = cut(merged, &first);
                chunks = sorted.chunks(part_lines).collect();
                parts = u32::try_from(chunks.len()).unwrap_or(u32::MAX);
                next = 0;
                checked_skus = true;
                continue;
            }
        }
        if let Some(sale) = &ctx.sale {
            check_claimed(sale, sale_id, &fingerprint)?;
            // Finalized in one transaction by a build that took more lines per transaction: a replay.
            if sale.result_json.is_some() {
                return replay(store, account, sale_id, sale, attempts, merged.len()).await;
            }
        }
        let (done, fulfillment_id) = match &ctx.sale {
            None => (0, None),
            Some(sale) if sale.parts != parts => {
                return Err(FinalizeError::Conflict(sale_id.clone()))
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
            // All or nothing: every SKU of the sale must exist before part 0 writes anything, and
            // the lines held to a back-order limit go in part 0.
            let all: Vec<_> = sorted.iter().map(|l| l.sku.clone()).collect();
            let (missing, limited) = store.missing_and_limited_skus(account, &all).await?;
            if let Some(line) = merged.iter().find(|l| missing.contains(&l.sku)) {
                return Err(unknown_sku_error(request, &line.sku));
            }
            if limited.len() > part_lines {
                return Err(FinalizeError::TooManyLimited {
                    limited: limited.len(),
                    most: part_lines,
                });
            }
            checked_skus = true;
            if limited != first {
                first = limited;
                sorted = cut(merged, &first);
                chunks = sorted.chunks(part_lines).collect();
                continue;
            }
        }
        if let Some(err) = unknown_sku(request, lines, &ctx) {
            // SKUs are never deleted, so one checked before part 0 cannot be missing now unless
            // the table was changed by hand: report it rather than loop.
            return Err(StoreError::Malformed {
                key: sale_id.to_string(),
                problem: err.to_string(),
            }
            .into());
        }
        let mut plans = plan_lines(store, account, &ctx, lines).await?;
        if next == 0 {
            // Part 0 commits on the versions it read: its check is exact.
            if let Some(refusal) = Refusal::first(&plans) {
                return Err(FinalizeError::LimitReached {
                    index: line_of(request, &refusal.sku),
                    sku: refusal.sku,
                    available: refusal.available,
                });
            }
        } else {
            // Part 0 is written: the sale completes, as read before any limit set since.
            for plan in &mut plans {
                plan.limit = None;
            }
        }
        let results = SaleResult::finalized(sale_id, request, String::new(), &plans).lines;
        let fulfillment_id = fulfillment_id.unwrap_or_else(|| ulid::Ulid::new().to_string());
        let shared = SaleParts {
            fingerprint: &fingerprint,
            parts,
            part_lines,
            first: &first,
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
                        first_skus: first.iter().map(Sku::to_string).collect(),
                        fulfillment_id: Some(fulfillment_id),
                        customer: request.customer.clone(),
                        channel: request.channel.clone(),
                        applying: None,
                    });
                }
                retry.progressed();
            }
            // The header moved (another delivery applied this part): re-read and continue.
            Err(CommitError::Preempted) => {}
            Err(CommitError::Contended(c)) => {
                retry.contended(&c).await?;
            }
            Err(CommitError::Store(e)) => return Err(e.into()),
        }
        if retry.budget_spent() && next < parts {
            return Err(StoreError::Contention { attempts }.into());
        }
    };
    let header = header.ok_or_else(|| StoreError::Malformed {
        key: sale_id.to_string(),
        problem: "finished sale without a header".into(),
    })?;
    let replayed = written.is_empty();
    if !replayed {
        record_finalized(merged.len());
    }
    let body = assemble_parts(store, account, sale_id, &header, written).await?;
    Ok(Finalized {
        body,
        replayed,
        attempts,
        lines: merged.len(),
        parts,
        backordered,
        path: if replayed {
            WritePath::Replayed
        } else {
            WritePath::InParts
        },
    })
}

/// The lines in the order parts are cut from: those of `first` (held to a back-order limit), then
/// the others, each in SKU order.
fn cut(merged: &[SaleLine], first: &[Sku]) -> Vec<SaleLine> {
    let mut sorted = merged.to_vec();
    sorted
        .sort_by(|a, b| (!first.contains(&a.sku), &a.sku).cmp(&(!first.contains(&b.sku), &b.sku)));
    sorted
}
