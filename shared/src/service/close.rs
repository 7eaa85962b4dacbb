//! Closing orders: one on request, and the scheduled close of every open auto-back-order order.

use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::domain::Replenishment;
use crate::error::StoreError;
use crate::ids::{AccountId, ReplenishmentId};
use crate::retry::{with_retries, Attempt};
use crate::store::layout::OPEN_SHARDS;
use crate::store::{CloseOutcome, CloseTx, OrderRef, Store};
use crate::telemetry;

use super::now_rfc3339;

/// Why an order was not closed.
#[derive(Debug, thiserror::Error)]
pub enum CloseError {
    #[error("replenishment_id {0} not found")]
    NotFound(ReplenishmentId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Closes an order (closing a closed order returns it unchanged, `false`: not closed now).
pub async fn close_order(
    store: &Store,
    account: &AccountId,
    rid: &ReplenishmentId,
) -> Result<(Replenishment, bool), CloseError> {
    with_retries("close", || async move {
        Ok(
            match store.close_order(account, rid, &now_rfc3339()).await? {
                CloseOutcome::Closed(order) => {
                    telemetry::count(|s| &s.orders_closed, 1);
                    Attempt::Done((order, true))
                }
                CloseOutcome::AlreadyClosed(order) => Attempt::Done((order, false)),
                CloseOutcome::NotFound => return Err(CloseError::NotFound(rid.clone())),
                CloseOutcome::Contended(c) => Attempt::Contended(c),
            },
        )
    })
    .await
}

/// Closes an order the open index listed, in one transaction (the index carries its SKU): true
/// if this call closed it, false if it was no longer open.
async fn close_listed_order(
    store: &Store,
    account: &AccountId,
    order: &OrderRef,
) -> Result<bool, StoreError> {
    with_retries("scheduled close", || async move {
        Ok(
            match store
                .close_open_order(account, order, true, &now_rfc3339())
                .await?
            {
                CloseTx::Committed(_) => {
                    telemetry::count(|s| &s.orders_closed, 1);
                    Attempt::Done(true)
                }
                CloseTx::NotOpen => Attempt::Done(false),
                CloseTx::Contended(c) => Attempt::Contended(c),
            },
        )
    })
    .await
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
) -> Result<CloseRun, StoreError> {
    const PAGE: i32 = 50;
    const PARALLEL: usize = 8;
    let cutoff = (chrono::Utc::now() - chrono::Duration::from_std(min_age).unwrap_or_default())
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let started = Instant::now();
    let stop_at = deadline.checked_sub(margin).unwrap_or(started);
    let mut closed = 0u64;
    let mut pages = 0u64;
    // Shard by shard (the open orders of all accounts are spread over OPEN_SHARDS index
    // partitions), page by page, oldest first within a shard.
    let (mut shard, mut start) = (0, None);
    while shard < OPEN_SHARDS {
        if Instant::now() >= stop_at {
            break;
        }
        let page = store
            .open_orders_before(shard, &cutoff, PAGE, start.take())
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
            shard,
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
            _ => shard += 1,
        }
    }
    let remaining = store.count_open_orders_before(&cutoff).await?;
    Ok(CloseRun { closed, remaining })
}
