//! Logging setup: JSON lines in Lambda (CloudWatch parses them), compact text locally.

use tracing_subscriber::EnvFilter;

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,aws_config=warn,aws_smithy_runtime=warn"))
}

/// JSON logs for Lambda: one object per line, no ANSI colours, no timestamps (Lambda adds them);
/// metrics as EMF lines.
pub fn init_lambda() {
    EMIT_EMF.store(true, Ordering::Relaxed);
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter())
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .try_init();
}

/// Human-readable logs for the local server.
pub fn init_local() {
    let _ = tracing_subscriber::fmt()
        .compact()
        .with_env_filter(filter())
        .with_target(false)
        .try_init();
}

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};

/// Counters of one invocation: DynamoDB requests and attempts (counted by [`DynamoCounter`]) and
/// the service's metrics, logged in the request's log line and emitted as one EMF line.
#[derive(Debug, Default)]
pub struct Stats {
    pub dynamo_requests: AtomicU64,
    pub dynamo_attempts: AtomicU64,
    pub sales_finalized: AtomicU64,
    pub lines: AtomicU64,
    pub units_backordered: AtomicU64,
    pub orders_opened: AtomicU64,
    pub orders_closed: AtomicU64,
    pub conflicts_retried: AtomicU64,
    pub requests_rejected: AtomicU64,
    pub sales_cancelled: AtomicU64,
    pub units_restored: AtomicU64,
    pub units_received: AtomicU64,
    pub messages_failed: AtomicU64,
}

impl Stats {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// SDK retries: attempts beyond the first of each request.
    pub fn dynamo_retries(&self) -> u64 {
        Self::get(&self.dynamo_attempts).saturating_sub(Self::get(&self.dynamo_requests))
    }
}

tokio::task_local! {
    static STATS: Arc<Stats>;
}

/// Adds to the current invocation's counters (a no-op outside [`with_stats`]).
pub fn count(pick: impl FnOnce(&Stats) -> &AtomicU64, n: u64) {
    let _ = STATS.try_with(|s| pick(s).fetch_add(n, Ordering::Relaxed));
}

/// Runs one invocation with fresh counters and returns them with its output.
pub async fn with_stats<F: Future>(fut: F) -> (F::Output, Arc<Stats>) {
    let stats = Arc::new(Stats::default());
    let out = STATS.scope(stats.clone(), fut).await;
    (out, stats)
}

/// Runs one unit of work of `function` (a request, a queued message, a scheduled run) with fresh
/// counters, then emits its metrics; returns its output and the counters for its log line. Every
/// entry point goes through here, so each unit of work emits exactly one EMF line.
pub async fn observed<F: Future>(function: &'static str, fut: F) -> (F::Output, Arc<Stats>) {
    let (out, stats) = with_stats(fut).await;
    emit_metrics(function, &stats);
    (out, stats)
}

/// SDK interceptor counting DynamoDB requests (once per operation) and attempts (once per try).
#[derive(Debug, Clone, Copy, Default)]
pub struct DynamoCounter;

impl Intercept for DynamoCounter {
    fn name(&self) -> &'static str {
        "DynamoCounter"
    }

    fn read_before_serialization(
        &self,
        _ctx: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        count(|s| &s.dynamo_requests, 1);
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        count(|s| &s.dynamo_attempts, 1);
        Ok(())
    }
}

static EMIT_EMF: AtomicBool = AtomicBool::new(false);

/// The CloudWatch namespace of the service's metrics.
pub const METRICS_NAMESPACE: &str = "backorder";

/// One CloudWatch Embedded Metric Format line with the invocation's metrics, dimension `Function`.
pub fn emf_line(function: &str, stats: &Stats, timestamp_ms: i64) -> serde_json::Value {
    let metrics = [
        ("SalesFinalized", &stats.sales_finalized),
        ("Lines", &stats.lines),
        ("UnitsBackordered", &stats.units_backordered),
        ("OrdersOpened", &stats.orders_opened),
        ("OrdersClosed", &stats.orders_closed),
        ("ConflictsRetried", &stats.conflicts_retried),
        ("RequestsRejected", &stats.requests_rejected),
        ("SalesCancelled", &stats.sales_cancelled),
        ("UnitsRestored", &stats.units_restored),
        ("UnitsReceived", &stats.units_received),
        ("MessagesFailed", &stats.messages_failed),
        ("DynamoDbRequests", &stats.dynamo_requests),
    ];
    let mut line = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": metrics.iter().map(|(name, _)| serde_json::json!({"Name": name, "Unit": "Count"})).collect::<Vec<_>>(),
            }]
        },
        "Function": function,
    });
    for (name, counter) in metrics {
        line[name] = serde_json::json!(Stats::get(counter));
    }
    line
}

/// Writes the EMF line to stdout (Lambda ships it to CloudWatch Logs, which extracts the metrics;
/// no network call). Only in Lambda: see [`init_lambda`].
pub fn emit_metrics(function: &str, stats: &Stats) {
    if EMIT_EMF.load(Ordering::Relaxed) {
        println!(
            "{}",
            emf_line(function, stats, chrono::Utc::now().timestamp_millis())
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counters_are_per_invocation_and_emf_is_well_formed() {
        let ((), stats) = with_stats(async {
            count(|s| &s.sales_finalized, 1);
            count(|s| &s.units_backordered, 3);
        })
        .await;
        count(|s| &s.sales_finalized, 100); // outside any invocation: ignored
        let line = emf_line("sale-finalize", &stats, 1);
        assert_eq!(line["SalesFinalized"], 1);
        assert_eq!(line["UnitsBackordered"], 3);
        assert_eq!(line["Function"], "sale-finalize");
        let declared: Vec<&str> = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        for name in &declared {
            assert!(line[name].is_u64(), "{name} has a value");
        }
        assert_eq!(declared.len(), 12);
    }
}
