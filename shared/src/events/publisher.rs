//! Puts events on an EventBridge bus, sending refused entries again a few times with the shared
//! backoff ([`crate::retry::Backoff`]), never past the invocation's deadline.

use std::time::{Duration, Instant};

use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use super::{entry_size, requests, OrderEvent};
use crate::config::ConfigError;
use crate::retry::Backoff;

/// The EventBridge client, built once per process: the shared AWS configuration (region,
/// credentials, `AWS_ENDPOINT_URL_EVENTBRIDGE`), HTTPS client, timeouts and SDK retries.
pub async fn eventbridge_client() -> Result<aws_sdk_eventbridge::Client, ConfigError> {
    Ok(aws_sdk_eventbridge::Client::new(
        &crate::config::aws_config().await?,
    ))
}

/// Puts events on one bus, sending entries EventBridge refused again a few times.
pub struct Publisher {
    client: aws_sdk_eventbridge::Client,
    bus: String,
    /// `PutEvents` calls per request, the first included, before its failed entries are given up.
    pub attempts: u32,
    /// Backoff before the second call; doubled each time, with full jitter.
    pub backoff: Duration,
    /// No `PutEvents` call starts with less than this left before the invocation's deadline (an
    /// operation takes at most 6 s with the SDK's retries): its records are reported failed
    /// instead, so a timeout does not make Lambda retry the whole batch.
    pub deadline_margin: Duration,
}

impl Publisher {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> Self {
        Publisher {
            client,
            bus: bus.into(),
            attempts: 3,
            backoff: Duration::from_millis(100),
            deadline_margin: Duration::from_secs(7),
        }
    }

    pub fn bus(&self) -> &str {
        &self.bus
    }

    /// Publishes groups of events (one group per stream record) in order, in requests of at most
    /// [`super::MAX_ENTRIES_PER_REQUEST`] entries and [`super::MAX_REQUEST_BYTES`] bytes, stopping at
    /// the first request with an entry still refused. Answers the events published and the index
    /// of the first group with an unpublished event, if any.
    pub async fn publish_in_order(
        &self,
        groups: &[&[OrderEvent]],
        deadline: Instant,
    ) -> (usize, Option<usize>) {
        // Entries in order, each with the index of its group.
        let (owners, (entries, sizes)): (Vec<usize>, (Vec<_>, Vec<_>)) = groups
            .iter()
            .enumerate()
            .flat_map(|(g, events)| {
                events
                    .iter()
                    .map(move |e| (g, (e.entry(&self.bus), entry_size(&self.bus, e))))
            })
            .unzip();
        let mut published = 0;
        for range in requests(&sizes) {
            match self.put(&entries[range.clone()], deadline).await {
                Ok(()) => published += range.len(),
                Err(i) => return (published, Some(owners[range.start + i])),
            }
        }
        (published, None)
    }

    /// Puts `entries` (one request's worth). `Err(i)`: entry `i` (the first of those still failed
    /// after every attempt) and maybe others were not published.
    async fn put(&self, entries: &[PutEventsRequestEntry], deadline: Instant) -> Result<(), usize> {
        let mut pending: Vec<usize> = (0..entries.len()).collect();
        let mut backoff = Backoff::with(self.backoff, self.backoff.saturating_mul(1 << 10));
        for attempt in 0..self.attempts.max(1) {
            if attempt > 0 {
                backoff.wait().await;
            }
            if Instant::now() + self.deadline_margin > deadline {
                break;
            }
            let sent: Vec<PutEventsRequestEntry> =
                pending.iter().map(|&i| entries[i].clone()).collect();
            match self
                .client
                .put_events()
                .set_entries(Some(sent))
                .send()
                .await
            {
                Err(e) => {
                    tracing::warn!(
                        attempt,
                        entries = pending.len(),
                        error = %aws_sdk_eventbridge::error::DisplayErrorContext(&e),
                        "PutEvents failed"
                    );
                }
                Ok(out) => {
                    let results = out.entries();
                    if out.failed_entry_count() == 0 {
                        return Ok(());
                    }
                    let failed: Vec<usize> = if results.len() == pending.len() {
                        pending
                            .iter()
                            .zip(results)
                            .filter(|(_, r)| r.error_code().is_some())
                            .map(|(&i, _)| i)
                            .collect()
                    } else {
                        Vec::new()
                    };
                    // A count without entries to match it: which ones failed is unknown.
                    let failed = if failed.is_empty() {
                        pending.clone()
                    } else {
                        failed
                    };
                    let codes: Vec<&str> = results.iter().filter_map(|r| r.error_code()).collect();
                    tracing::warn!(
                        attempt,
                        failed = failed.len(),
                        of = pending.len(),
                        error_codes = ?codes,
                        "PutEvents refused entries"
                    );
                    pending = failed;
                }
            }
        }
        Err(pending.first().copied().unwrap_or(0))
    }
}
