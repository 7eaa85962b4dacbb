//! Received units released to the sales waiting on them (the rule is `domain::release`).
//!
//! The release of a closed order is a pure function of its `received` and its live claims, and it
//! only grows, so it is stored as "raise each contribution's `released` to at least this", by
//! whoever computes it: the receipt that received the units (at once, so its answer and a `GET`
//! that follows agree), a cancellation that frees units of a closed order, and the table's stream
//! (`order-events`, for an order's `received` or `cancels` changing and for a contribution written
//! late), which finishes what a crashed writer left. Raising twice, or in any order, ends the same.

use futures::StreamExt;

use crate::domain::{held_back, release, Claim, OrderStatus};
use crate::error::StoreError;
use crate::ids::{AccountId, ReplenishmentId};
use crate::store::{Contribution, Store};

use super::now_rfc3339;

/// How many contribution writes one release keeps in flight.
const PARALLEL_RAISES: usize = 16;

/// Units released to each contribution of an order that has received `received` units, as the
/// rule has them (cancelled contributions: 0).
pub fn targets(quantity: i64, received: i64, contributions: &[Contribution]) -> Vec<i64> {
    let claims: Vec<Claim> = contributions.iter().map(Contribution::claim).collect();
    release(received, held_back(quantity, &claims), &claims)
}

/// Raises every contribution whose stored `released` is below its target. Returns how many it
/// raised.
pub async fn raise_all(
    store: &Store,
    account: &AccountId,
    rid: &ReplenishmentId,
    contributions: &[Contribution],
    targets: &[i64],
) -> Result<usize, StoreError> {
    let now = now_rfc3339();
    let now = now.as_str();
    let due: Vec<(String, i64, i64)> = contributions
        .iter()
        .zip(targets)
        .filter(|(c, t)| c.cancelled_at.is_none() && **t > c.released)
        .map(|(c, t)| (c.sale_id.clone(), *t, c.units))
        .collect();
    let results: Vec<Result<bool, StoreError>> = futures::stream::iter(due)
        .map(|(sale, target, units)| async move {
            store
                .raise_released(account, rid, &sale, target, units, now)
                .await
        })
        .buffer_unordered(PARALLEL_RAISES)
        .collect()
        .await;
    let mut raised = 0;
    for r in results {
        raised += usize::from(r?);
    }
    Ok(raised)
}

/// Brings an order's stored releases up to the rule: reads the order and its contributions, and
/// raises those below it. Nothing for an order not closed, not received or not auto-back-ordered.
/// Returns how many contributions it raised.
pub async fn settle_order(
    store: &Store,
    account: &AccountId,
    rid: &ReplenishmentId,
) -> Result<usize, StoreError> {
    let Some(ctx) = store.release_context(account, rid).await? else {
        return Ok(0);
    };
    let order = &ctx.order;
    if order.status != OrderStatus::Closed || order.received <= 0 || ctx.claims.is_empty() {
        return Ok(0);
    }
    let targets = targets(order.quantity, order.received, &ctx.claims);
    raise_all(store, account, rid, &ctx.claims, &targets).await
}

/// [`settle_order`] for orders a change just freed units in, off the answer's error path: a
/// failure is logged and left to the stream, which settles the order again.
pub async fn settle_orders_quietly(store: &Store, account: &AccountId, rids: &[ReplenishmentId]) {
    for rid in rids {
        if let Err(e) = settle_order(store, account, rid).await {
            tracing::warn!(error = %e, replenishment_id = %rid, "release left to the stream");
        }
    }
}
