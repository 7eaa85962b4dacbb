//! The one retry policy of every optimistic write: bounded attempts, an optional time budget,
//! full-jitter exponential backoff, and "send it again as it is" versus "re-read".
//!
//! A use case reads, plans and commits; when the commit is contended it asks [`Retry::contended`]
//! what to do next: [`Next::Resend`] (nothing was evaluated against what was read: only conflicts
//! or throttling) or [`Next::Reread`] (something changed). Once the attempts in a row or the budget
//! are spent it answers [`StoreError::Contention`] (503 to an HTTP caller). [`with_retries`] runs
//! the common read-then-commit loop on it.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::StoreError;
use crate::store::Contended;
use crate::telemetry;

/// Attempts a contended operation (a sale, a close) gets before the caller is told to retry (503).
pub const MAX_ATTEMPTS: u32 = 8;
/// A finalize stops retrying contention after this long (503), so that with one SDK operation
/// timeout (6 s) on top it still answers within the Lambda timeout (15 s).
pub const FINALIZE_BUDGET: Duration = Duration::from_secs(8);
const BASE: Duration = Duration::from_millis(8);
const CAP: Duration = Duration::from_millis(250);

/// Full-jitter backoff: the n-th wait is uniform in `0..min(cap, base * 2^n)`.
#[derive(Debug, Clone)]
pub struct Backoff {
    attempt: u32,
    base: Duration,
    cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::with(BASE, CAP)
    }
}

impl Backoff {
    /// The store's backoff: 8 ms doubling to 250 ms.
    pub fn new() -> Self {
        Self::default()
    }

    /// A backoff starting at `base`, doubling up to `cap`.
    pub fn with(base: Duration, cap: Duration) -> Self {
        Backoff {
            attempt: 0,
            base,
            cap,
        }
    }

    /// The longest the next wait may be.
    pub fn ceiling(&self) -> Duration {
        self.base
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(self.cap)
    }

    /// The next wait, drawn at random below the ceiling.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt += 1;
        let ms = u64::try_from(ceiling.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        Duration::from_millis(fastrand::u64(0..=ms))
    }

    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next_delay()).await;
    }
}

/// How long and how often a use case retries contention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Re-reads in a row (the first attempt included) before giving up.
    pub attempts: u32,
    /// Give up once this much time has passed since the first attempt.
    pub budget: Option<Duration>,
    /// Per attempt, how often a write contended only by conflicts or throttling is sent again as
    /// it is (without a new read) before the next read. A resend costs one request, not two.
    pub resends: u32,
}

impl Policy {
    /// Adjustments, receipts, regular orders, closes: [`MAX_ATTEMPTS`] reads, no budget, no resend.
    pub const SIMPLE: Policy = Policy {
        attempts: MAX_ATTEMPTS,
        budget: None,
        resends: 0,
    };
    /// A sale (or a cancellation), one transaction at a time: [`MAX_ATTEMPTS`] reads in a row
    /// within [`FINALIZE_BUDGET`], each transaction resent up to twice when only conflicts or
    /// throttling cancelled it.
    pub const FINALIZE: Policy = Policy {
        attempts: MAX_ATTEMPTS,
        budget: Some(FINALIZE_BUDGET),
        resends: 2,
    };
    /// A write in several transactions (a sale or a cancellation in parts): as [`Self::FINALIZE`]
    /// without resends; the count in a row starts over at each part committed.
    pub const PARTS: Policy = Policy {
        resends: 0,
        ..Policy::FINALIZE
    };
}

/// What to do after a contended attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Send the same write again, without a new read.
    Resend,
    /// Read again and re-plan.
    Reread,
}

/// The state of one use case's retries.
#[derive(Debug)]
pub struct Retry {
    policy: Policy,
    what: &'static str,
    started: Instant,
    backoff: Backoff,
    /// Reads begun since the last progress (the first included).
    in_a_row: u32,
    /// Resends since the last read.
    resends: u32,
    /// Every attempt begun, resends excluded.
    attempts: u32,
}

impl Retry {
    /// `what` names the operation in the logs.
    pub fn new(policy: Policy, what: &'static str) -> Self {
        Retry {
            policy,
            what,
            started: Instant::now(),
            backoff: Backoff::new(),
            in_a_row: 1,
            resends: 0,
            attempts: 1,
        }
    }

    /// Attempts begun so far (reads, not resends).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Whether the time budget is spent.
    pub fn budget_spent(&self) -> bool {
        self.policy
            .budget
            .is_some_and(|b| self.started.elapsed() >= b)
    }

    fn give_up(&self) -> StoreError {
        StoreError::Contention {
            attempts: self.in_a_row,
        }
    }

    /// The attempt must start over from a new read, at once (something else committed first, and
    /// the next read will see it). Counts as an attempt.
    pub fn reread(&mut self) -> Result<(), StoreError> {
        if self.in_a_row >= self.policy.attempts {
            return Err(self.give_up());
        }
        self.in_a_row += 1;
        self.attempts += 1;
        self.resends = 0;
        Ok(())
    }

    /// A contended attempt: counts it, waits, and says whether to resend or re-read; fails once
    /// the policy is spent.
    pub async fn contended(&mut self, contended: &Contended) -> Result<Next, StoreError> {
        tracing::debug!(what = self.what, attempt = self.attempts, reason = %contended.reason, "contended; retrying");
        telemetry::count(|s| &s.conflicts_retried, 1);
        if self.budget_spent() {
            return Err(self.give_up());
        }
        // The last read's transaction is not resent: past it, the caller is answered 503.
        let last_read = self.in_a_row >= self.policy.attempts;
        let next = if contended.resendable && self.resends < self.policy.resends && !last_read {
            self.resends += 1;
            Next::Resend
        } else {
            self.reread()?;
            Next::Reread
        };
        self.backoff.wait().await;
        Ok(next)
    }

    /// A step of a write in several steps committed: the count in a row and the backoff start over.
    pub fn progressed(&mut self) {
        self.in_a_row = 1;
        self.resends = 0;
        self.backoff = Backoff::new();
    }
}

/// What one read-then-commit attempt came to.
#[derive(Debug)]
pub enum Attempt<T> {
    Done(T),
    /// Something else committed first: read again at once.
    Reread,
    /// Contended: back off, then read again.
    Contended(Contended),
}

/// Runs `attempt` (a read, then a conditional write) under [`Policy::SIMPLE`] until it is done, an
/// error ends it, or the attempts run out ([`StoreError::Contention`]).
pub async fn with_retries<T, E, F, Fut>(what: &'static str, mut attempt: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Attempt<T>, E>>,
    E: From<StoreError>,
{
    let mut retry = Retry::new(Policy::SIMPLE, what);
    loop {
        match attempt().await? {
            Attempt::Done(value) => return Ok(value),
            Attempt::Reread => retry.reread()?,
            Attempt::Contended(c) => {
                retry.contended(&c).await?;
            }
        }
    }
}

/// Sends an idempotent request (one whose condition makes a repeat harmless) until it answers,
/// waiting out transient failures ([`StoreError::Unavailable`]: throttling, timeouts, a lost
/// answer) until `until`; then the failure is the answer.
pub async fn until_answered<T, F, Fut>(until: Instant, mut send: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut backoff = Backoff::new();
    loop {
        match send().await {
            Err(StoreError::Unavailable { operation, source }) => {
                if Instant::now() + backoff.ceiling() >= until {
                    return Err(StoreError::Unavailable { operation, source });
                }
                telemetry::count(|s| &s.conflicts_retried, 1);
                backoff.wait().await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contended(resendable: bool) -> Contended {
        Contended {
            reason: if resendable {
                "TransactionConflict".into()
            } else {
                "ConditionalCheckFailed".into()
            },
            resendable,
        }
    }

    #[test]
    fn delays_grow_then_cap() {
        let mut b = Backoff::new();
        let mut ceilings = Vec::new();
        for _ in 0..10 {
            ceilings.push(b.ceiling());
            let d = b.next_delay();
            assert!(d <= *ceilings.last().unwrap());
        }
        assert_eq!(ceilings[0], Duration::from_millis(8));
        assert_eq!(ceilings[1], Duration::from_millis(16));
        assert_eq!(*ceilings.last().unwrap(), CAP);
    }

    #[tokio::test(start_paused = true)]
    async fn simple_gives_up_after_eight_attempts() {
        let mut calls = 0;
        let out: Result<(), StoreError> = with_retries("test", || {
            calls += 1;
            async { Ok(Attempt::Contended(contended(true))) }
        })
        .await;
        assert!(matches!(out, Err(StoreError::Contention { attempts: 8 })));
        assert_eq!(calls, 8);
    }

    #[tokio::test(start_paused = true)]
    async fn simple_returns_the_first_success_and_rereads_count() {
        let mut calls = 0;
        let out: Result<u32, StoreError> = with_retries("test", || {
            calls += 1;
            let n = calls;
            async move {
                Ok(match n {
                    1 => Attempt::Reread,
                    2 => Attempt::Contended(contended(false)),
                    n => Attempt::Done(n),
                })
            }
        })
        .await;
        assert_eq!(out.unwrap(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn finalize_resends_twice_per_read_only_when_nothing_was_evaluated() {
        let mut retry = Retry::new(Policy::FINALIZE, "test");
        assert_eq!(
            retry.contended(&contended(true)).await.unwrap(),
            Next::Resend
        );
        assert_eq!(
            retry.contended(&contended(true)).await.unwrap(),
            Next::Resend
        );
        assert_eq!(
            retry.contended(&contended(true)).await.unwrap(),
            Next::Reread
        );
        assert_eq!(retry.attempts(), 2);
        // A failed condition always re-reads.
        assert_eq!(
            retry.contended(&contended(false)).await.unwrap(),
            Next::Reread
        );
        assert_eq!(retry.attempts(), 3);
        // After a read, resends are allowed again.
        assert_eq!(
            retry.contended(&contended(true)).await.unwrap(),
            Next::Resend
        );
    }

    #[tokio::test(start_paused = true)]
    async fn finalize_gives_up_after_eight_reads_whatever_the_resends() {
        let mut retry = Retry::new(Policy::FINALIZE, "test");
        let (mut reads, mut sends) = (1, 0);
        let err = loop {
            sends += 1;
            match retry.contended(&contended(true)).await {
                Ok(Next::Reread) => reads += 1,
                Ok(Next::Resend) => {}
                Err(e) => break e,
            }
        };
        assert_eq!(reads, 8);
        assert!(matches!(err, StoreError::Contention { attempts: 8 }));
        // Two resends after each of the first seven reads, none after the last: 22 sends in all.
        assert_eq!(sends, 22);
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_budget_ends_retries_with_attempts_left() {
        let mut spent = Retry::new(
            Policy {
                budget: Some(Duration::ZERO),
                ..Policy::FINALIZE
            },
            "test",
        );
        assert!(spent.budget_spent());
        assert!(spent.contended(&contended(true)).await.is_err());
        assert!(!Retry::new(Policy::FINALIZE, "test").budget_spent());
    }

    #[tokio::test(start_paused = true)]
    async fn progress_starts_the_count_over() {
        let mut retry = Retry::new(Policy::PARTS, "test");
        for _ in 0..7 {
            assert_eq!(
                retry.contended(&contended(true)).await.unwrap(),
                Next::Reread
            );
        }
        retry.progressed();
        for _ in 0..7 {
            assert_eq!(
                retry.contended(&contended(true)).await.unwrap(),
                Next::Reread
            );
        }
        assert!(retry.contended(&contended(true)).await.is_err());
        assert_eq!(retry.attempts(), 15);
    }
}
