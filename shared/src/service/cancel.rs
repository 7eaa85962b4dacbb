//! Cancelling a finalized sale exactly once, in the sale's own parts.

use std::collections::HashMap;

use crate::domain::{
    plan_cancel_line, CancelLine, CancelResult, SaleLineResult, SaleResult, SaleStatus,
};
use crate::error::StoreError;
use crate::ids::{AccountId, ReplenishmentId, SaleId, Sku};
use crate::retry::{Policy, Retry};
use crate::store::{codec, CancelPart, CommitError, Store, StoredSale};
use crate::telemetry;

use super::{now_rfc3339, LINES_PER_TRANSACTION};

/// Why a sale was not cancelled.
#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error("sale_id {0} not found")]
    NotFound(SaleId),
    /// A sale in parts not yet complete: its finalize must be redelivered first.
    #[error("sale_id {0} is still being finalized: redeliver its finalize, then cancel it")]
    Incomplete(SaleId),
    /// A sale finalized by a build that took 49 lines per transaction: its cancellation would not
    /// fit one transaction (100 items).
    #[error(
        "sale_id {0} was finalized with more than {LINES_PER_TRANSACTION} SKUs per transaction (by an earlier version) and cannot be cancelled here"
    )]
    NotCancellable(SaleId),
    #[error(transparent)]
    Store(#[from] StoreError),
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
) -> Result<Cancelled, CancelError> {
    let mut written: HashMap<u32, Vec<CancelLine>> = HashMap::new();
    let mut retry = Retry::new(Policy::PARTS, "cancellation");
    loop {
        let sale = store
            .sale(account, sale_id)
            .await?
            .ok_or_else(|| CancelError::NotFound(sale_id.clone()))?;
        let k = match sale.status {
            SaleStatus::Finalizing => return Err(CancelError::Incomplete(sale_id.clone())),
            SaleStatus::Cancelled => {
                // Units this cancellation left in closed orders are owed to no one now: they
                // go to the next sales waiting there (the stream does it if this does not).
                let freed: Vec<ReplenishmentId> = written
                    .values()
                    .flatten()
                    .filter(|l| l.taken_back == 0 && l.backordered > 0)
                    .filter_map(|l| l.replenishment_id.as_deref())
                    .filter_map(|r| ReplenishmentId::parse(r, "replenishment_id").ok())
                    .collect();
                super::release::settle_orders_quietly(store, account, &freed).await;
                break finish_cancel(store, account, sale_id, &sale, written).await;
            }
            SaleStatus::Finalized => 0,
            SaleStatus::Cancelling => sale.cancel_done,
        };
        let in_parts = sale.result_json.is_none();
        let lines: Vec<SaleLineResult> = match &sale.result_json {
            Some(json) => codec::from_json::<SaleResult>(sale_id, json)?.lines,
            None => store
                .sale_part_lines(account, sale_id, &[k])
                .await?
                .pop()
                .unwrap_or_default(),
        };
        if lines.len() > LINES_PER_TRANSACTION {
            // Only a sale finalized by a build that took 49 lines per transaction: its cancellation
            // would not fit one transaction (100 items). Refuse, changing nothing, rather than fail.
            return Err(CancelError::NotCancellable(sale_id.clone()));
        }
        let rids: Vec<(ReplenishmentId, Sku)> = lines
            .iter()
            .filter(|l| l.backordered > 0)
            .filter_map(|l| {
                let rid =
                    ReplenishmentId::parse(l.replenishment_id.as_deref()?, "replenishment_id");
                Some((rid.ok()?, Sku::parse(l.sku.as_str(), "sku").ok()?))
            })
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
            codec::to_json(sale_id, &plans)?
        } else {
            codec::to_json(
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
                retry.progressed();
            }
            // The sale moved since it was read (a concurrent cancel): re-read and go on from there.
            Err(CommitError::Preempted) => {}
            Err(CommitError::Contended(c)) => {
                retry.contended(&c).await?;
            }
            Err(CommitError::Store(e)) => return Err(e.into()),
        }
    }
}

fn cancel_result(sale_id: &SaleId, cancelled_at: &str, lines: Vec<CancelLine>) -> CancelResult {
    CancelResult {
        sale_id: sale_id.to_string(),
        status: SaleStatus::Cancelled,
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
) -> Result<Cancelled, CancelError> {
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
                    written.insert(*k, codec::from_json(sale_id, &json)?);
                }
            }
            let lines = (0..sale.parts)
                .flat_map(|k| written.remove(&k).unwrap_or_default())
                .collect();
            let at = sale.cancelled_at.clone().unwrap_or_default();
            codec::to_json(sale_id, &cancel_result(sale_id, &at, lines))?
        }
    };
    Ok(Cancelled {
        body,
        replayed,
        taken_back,
        not_taken_back,
    })
}
