//! Bounded retries with full-jitter exponential backoff.

use std::time::Duration;

/// Attempts a contended operation (a sale, a close) gets before the caller is told to retry (503).
pub const MAX_ATTEMPTS: u32 = 8;
const BASE: Duration = Duration::from_millis(8);
const CAP: Duration = Duration::from_millis(250);

/// Full-jitter backoff: the n-th wait is uniform in `0..min(CAP, BASE * 2^n)`.
#[derive(Debug, Default)]
pub struct Backoff {
    attempt: u32,
}

impl Backoff {
    pub fn new() -> Self {
        Self::default()
    }

    /// The longest the next wait may be.
    pub fn ceiling(&self) -> Duration {
        BASE.saturating_mul(1u32 << self.attempt.min(16)).min(CAP)
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
