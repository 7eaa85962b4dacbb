//! Writing a claimed sale's lines to their SKU items, exactly once, and its back-order limits.
//!
//! A line held to a back-order limit can be refused; a line that is not cannot. So the lines held
//! to a limit are written first, and the others only once they are all written: a refusal then
//! always comes before anything of the sale is written, and the sale changes nothing.
//! - One limited line is one conditional `UpdateItem`, like any other line, with the limit in its
//!   condition: a refusal is its own miss, answered with the SKU as it is.
//! - Several are one transaction on the versions they read: all of them or none.
//!
//! A line's limit is the one its SKU had when the line was planned. A line planned without one
//! is written without one, even if a limit is set meanwhile (the sale read the SKU before it).
//! Whoever applies a sale after a crash may find some of its lines already written: then the sale
//! is complete-to-be, and its other lines are written without a limit.

use futures::future::try_join_all;

use crate::domain::{marked_line, plan_line, LinePlan, SaleLine, SaleLineResult};
use crate::error::StoreError;
use crate::ids::{AccountId, ReplenishmentId, SaleId, Sku, VendorId};
use crate::retry::{until_answered, Backoff};
use crate::store::{LineWrite, LinesWrite, Store};
use crate::telemetry;

use super::apply::Lease;

/// One line once applied: what it did, and whether its order's item is known to exist.
pub(super) struct LineDone {
    pub sku: Sku,
    pub order: Option<ReplenishmentId>,
    /// The line's place in its order's line of waiting sales.
    pub pos: Option<i64>,
    pub result: SaleLineResult,
    pub vendor: Option<VendorId>,
    pub made: bool,
    pub opened: bool,
    pub missed: u32,
}

/// A line its SKU's back-order limit refuses: the units the SKU can still sell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Refusal {
    pub sku: Sku,
    pub available: i64,
}

impl Refusal {
    fn of(plan: &LinePlan) -> Option<Refusal> {
        plan.refused().map(|available| Refusal {
            sku: plan.sku.clone(),
            available,
        })
    }

    /// The first line of `plans` its limit refuses.
    pub fn first(plans: &[LinePlan]) -> Option<Refusal> {
        plans.iter().find_map(Refusal::of)
    }
}

/// What writing the lines did.
pub(super) enum Lines {
    Done(Vec<LineDone>),
    /// Refused before any line of the sale was written by this applier.
    Refused(Refusal),
}

fn done(plan: LinePlan, write: LineWrite, missed: u32) -> Option<LineDone> {
    let LineWrite::Written {
        on_hand_after,
        order,
        pos,
        opened,
        order_made,
    } = write
    else {
        return None;
    };
    Some(LineDone {
        result: marked_line(
            plan.sku.as_str(),
            plan.quantity,
            on_hand_after,
            order.as_ref().map(ReplenishmentId::as_str),
        ),
        vendor: plan.before.vendor_id.clone(),
        sku: plan.sku,
        order,
        pos,
        made: order_made,
        opened,
        missed,
    })
}

/// The plan of `plan`'s line from the SKU as it is now; `limited`: held to its limit as it is.
fn replan(plan: &LinePlan, state: &crate::domain::SkuState, limited: bool) -> LinePlan {
    let line = SaleLine {
        sku: plan.sku.clone(),
        quantity: plan.quantity,
    };
    let mut next = plan_line(&line, state, plan.backorders, ReplenishmentId::generate);
    if !limited {
        next.limit = None;
    }
    next
}

/// Writes every line: those held to a limit first, the others after.
pub(super) async fn write_lines(
    store: &Store,
    account: &AccountId,
    sale: &SaleId,
    plans: Vec<LinePlan>,
    lease: &Lease,
    now: &str,
) -> Result<Lines, StoreError> {
    let (limited, mut free): (Vec<_>, Vec<_>) = plans.into_iter().partition(|p| p.limit.is_some());
    let mut lines = match limited.len() {
        0 => Vec::new(),
        1 => {
            let plan = limited.into_iter().next().expect("one plan");
            match write_one(store, account, sale, plan, true, lease, now).await? {
                Ok(line) => vec![line],
                Err(refusal) => return Ok(Lines::Refused(refusal)),
            }
        }
        _ => match write_together(store, account, sale, limited, lease, now).await? {
            Together::Done(lines) => lines,
            Together::Refused(refusal) => return Ok(Lines::Refused(refusal)),
            // Some were written before (by an applier that died): the rest go without a limit.
            Together::Partly { lines, rest } => {
                free.extend(rest);
                lines
            }
        },
    };
    for plan in &mut free {
        plan.limit = None;
    }
    let rest = try_join_all(free.into_iter().map(|plan| async {
        let line = write_one(store, account, sale, plan, false, lease, now).await?;
        Ok::<_, StoreError>(line.unwrap_or_else(|_| unreachable!("a line without a limit")))
    }))
    .await?;
    lines.extend(rest);
    Ok(Lines::Done(lines))
}

/// Writes one line, re-planning from what a miss answers, until it is applied (or found applied),
/// or, `limited`, its limit refuses it.
async fn write_one(
    store: &Store,
    account: &AccountId,
    sale: &SaleId,
    mut plan: LinePlan,
    limited: bool,
    lease: &Lease,
    now: &str,
) -> Result<Result<LineDone, Refusal>, StoreError> {
    let mut missed = 0;
    // The id of the order this line opens if its SKU has none open when the write lands.
    let new_order = ReplenishmentId::generate();
    // Completed sales of this process whose markers go with the write (removed with it, or, if
    // the line's marker says it was written before, left to the sweep); given back if it fails.
    let mut settled = store.take_settled(account, &plan.sku);
    // Never this sale's own markers (its line is the write's own target).
    let own = crate::store::layout::mark_key(sale);
    settled.retain(|k| *k != own);
    let sku = plan.sku.clone();
    let result = async {
        loop {
            if let Some(refusal) = Refusal::of(&plan) {
                return Ok(Err(refusal));
            }
            lease.check()?;
            let until = lease.stop_at;
            let write = until_answered(until, || {
                store.apply_line(account, sale, &plan, &new_order, &settled, now, until)
            });
            match write.await? {
                LineWrite::Moved(state) => {
                    missed += 1;
                    telemetry::count(|s| &s.conflicts_retried, 1);
                    plan = replan(&plan, &state, limited);
                }
                written => return Ok(Ok(done(plan, written, missed).expect("written"))),
            }
        }
    }
    .await;
    if !matches!(result, Ok(Ok(_))) {
        store.give_back_settled(account, &sku, settled);
    }
    result
}

enum Together {
    Done(Vec<LineDone>),
    Refused(Refusal),
    /// Some lines found written before: those, and the plans of the others.
    Partly {
        lines: Vec<LineDone>,
        rest: Vec<LinePlan>,
    },
}

/// Writes the lines held to a limit in one transaction, re-planning the SKUs that moved, until
/// all are written or one is refused.
async fn write_together(
    store: &Store,
    account: &AccountId,
    sale: &SaleId,
    mut plans: Vec<LinePlan>,
    lease: &Lease,
    now: &str,
) -> Result<Together, StoreError> {
    let mut missed = 0;
    let mut backoff = Backoff::new();
    let new_orders: Vec<ReplenishmentId> =
        plans.iter().map(|_| ReplenishmentId::generate()).collect();
    loop {
        if let Some(refusal) = Refusal::first(&plans) {
            return Ok(Together::Refused(refusal));
        }
        lease.check()?;
        let until = lease.stop_at;
        let write = until_answered(until, || {
            store.apply_lines_together(account, sale, &plans, &new_orders, now, until)
        });
        match write.await? {
            LinesWrite::Written(writes) => {
                let lines = plans
                    .into_iter()
                    .zip(writes)
                    .filter_map(|(p, w)| done(p, w, missed))
                    .collect();
                return Ok(Together::Done(lines));
            }
            LinesWrite::Marked(marks) => {
                let (mut lines, mut rest) = (Vec::new(), Vec::new());
                for (plan, mark) in plans.into_iter().zip(marks) {
                    match mark.and_then(|w| done(plan.clone(), w, missed)) {
                        Some(line) => lines.push(line),
                        None => rest.push(plan),
                    }
                }
                if rest.is_empty() {
                    return Ok(Together::Done(lines));
                }
                return Ok(Together::Partly { lines, rest });
            }
            LinesWrite::Moved(states) => {
                missed += 1;
                telemetry::count(|s| &s.conflicts_retried, 1);
                for (plan, state) in plans.iter_mut().zip(states) {
                    if let Some(state) = state {
                        *plan = replan(plan, &state, true);
                    }
                }
            }
            LinesWrite::Contended(reason) => {
                missed += 1;
                telemetry::count(|s| &s.conflicts_retried, 1);
                tracing::debug!(%reason, "limited lines contended: sent again");
                backoff.wait().await;
            }
        }
    }
}
