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
    /// Lines written with their sale in one transaction (cold SKUs, nothing back-ordered).
    pub lines_in_transaction: AtomicU64,
    /// Lines written one conditional write each (contended SKUs, or lines that back-order).
    pub lines_line_by_line: AtomicU64,
    pub units_backordered: AtomicU64,
    pub orders_opened: AtomicU64,
    pub orders_closed: AtomicU64,
    pub conflicts_retried: AtomicU64,
    pub requests_rejected: AtomicU64,
    pub sales_cancelled: AtomicU64,
    pub units_restored: AtomicU64,
    pub units_received: AtomicU64,
    pub messages_failed: AtomicU64,
    /// Lines of a channel's order left out (no SKU, an invalid one, or one the account does not know).
    pub channel_lines_skipped: AtomicU64,
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

/// A metric of the service: its CloudWatch name and the invocation counter it reports.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub name: &'static str,
    pub counter: fn(&Stats) -> &AtomicU64,
}

macro_rules! metric {
    ($name:literal, $field:ident) => {
        Metric {
            name: $name,
            counter: |s| &s.$field,
        }
    };
}

const SALES_FINALIZED: Metric = metric!("SalesFinalized", sales_finalized);
const LINES: Metric = metric!("Lines", lines);
const UNITS_BACKORDERED: Metric = metric!("UnitsBackordered", units_backordered);
const ORDERS_OPENED: Metric = metric!("OrdersOpened", orders_opened);
const ORDERS_CLOSED: Metric = metric!("OrdersClosed", orders_closed);
const CONFLICTS_RETRIED: Metric = metric!("ConflictsRetried", conflicts_retried);
const REQUESTS_REJECTED: Metric = metric!("RequestsRejected", requests_rejected);
const SALES_CANCELLED: Metric = metric!("SalesCancelled", sales_cancelled);
const UNITS_RESTORED: Metric = metric!("UnitsRestored", units_restored);
const UNITS_RECEIVED: Metric = metric!("UnitsReceived", units_received);
const MESSAGES_FAILED: Metric = metric!("MessagesFailed", messages_failed);
const CHANNEL_LINES_SKIPPED: Metric = metric!("ChannelLinesSkipped", channel_lines_skipped);
const DYNAMODB_REQUESTS: Metric = metric!("DynamoDbRequests", dynamo_requests);

/// Every metric, in the order EMF lines list them.
pub const ALL_METRICS: [Metric; 13] = [
    SALES_FINALIZED,
    LINES,
    UNITS_BACKORDERED,
    ORDERS_OPENED,
    ORDERS_CLOSED,
    CONFLICTS_RETRIED,
    REQUESTS_REJECTED,
    SALES_CANCELLED,
    UNITS_RESTORED,
    UNITS_RECEIVED,
    MESSAGES_FAILED,
    CHANNEL_LINES_SKIPPED,
    DYNAMODB_REQUESTS,
];

/// The metrics a function can produce, and so publishes (each is a CloudWatch custom metric,
/// billed per metric and hour it is published: docs/operating.md, "What it costs at rest"). A counter a
/// function was not expected to move is still published on the line where it is not zero, so
/// nothing is lost if this table falls behind the code; the binaries' test checks it has not.
pub fn function_metrics(function: &str) -> &'static [Metric] {
    match function {
        // Settings: reads and writes of settings; rejects bad input.
        "settings" => &[REQUESTS_REJECTED, DYNAMODB_REQUESTS],
        // Stock counts and adjustments (an adjustment with an id retries conflicts).
        "inventory" => &[CONFLICTS_RETRIED, REQUESTS_REJECTED, DYNAMODB_REQUESTS],
        // Finalize (HTTP and queue) and cancel.
        "sale-finalize" => &[
            SALES_FINALIZED,
            LINES,
            UNITS_BACKORDERED,
            ORDERS_OPENED,
            CONFLICTS_RETRIED,
            REQUESTS_REJECTED,
            SALES_CANCELLED,
            UNITS_RESTORED,
            MESSAGES_FAILED,
            CHANNEL_LINES_SKIPPED,
            DYNAMODB_REQUESTS,
        ],
        // Shopify webhooks and events mapped to queued sales; shops registered.
        "channels" => &[CHANNEL_LINES_SKIPPED, REQUESTS_REJECTED, DYNAMODB_REQUESTS],
        // Listing, receipts, regular orders.
        "replenishments" => &[
            CONFLICTS_RETRIED,
            REQUESTS_REJECTED,
            UNITS_RECEIVED,
            DYNAMODB_REQUESTS,
        ],
        // Close by id (HTTP, direct) and the scheduled close.
        "replenishment-close" => &[
            ORDERS_CLOSED,
            CONFLICTS_RETRIED,
            REQUESTS_REJECTED,
            DYNAMODB_REQUESTS,
        ],
        // Unknown (order-events publishes no EMF): every metric.
        _ => &ALL_METRICS,
    }
}

/// One CloudWatch Embedded Metric Format line with the invocation's metrics, dimension `Function`:
/// the function's own metrics ([`function_metrics`], zeros included), plus any other counter that
/// is not zero. Written straight into a string: no JSON tree per invocation.
pub fn emf_line(function: &str, stats: &Stats, timestamp_ms: i64) -> String {
    use std::fmt::Write;
    let own = function_metrics(function);
    let extra = ALL_METRICS
        .iter()
        .filter(|m| !own.iter().any(|o| o.name == m.name) && Stats::get((m.counter)(stats)) != 0);
    let metrics: Vec<&Metric> = own.iter().chain(extra).collect();
    let mut line = String::with_capacity(160 + 48 * metrics.len());
    let _ = write!(
        line,
        r#"{{"_aws":{{"Timestamp":{timestamp_ms},"CloudWatchMetrics":[{{"Namespace":"{METRICS_NAMESPACE}","Dimensions":[["Function"]],"Metrics":["#
    );
    for (i, m) in metrics.iter().enumerate() {
        let comma = if i == 0 { "" } else { "," };
        let _ = write!(line, r#"{comma}{{"Name":"{}","Unit":"Count"}}"#, m.name);
    }
    line.push_str(r#"]}]},"Function":"#);
    push_json_string(&mut line, function);
    for m in &metrics {
        let _ = write!(line, r#","{}":{}"#, m.name, Stats::get((m.counter)(stats)));
    }
    line.push('}');
    line
}

/// `s` as a JSON string (function names are plain, but never trust that to produce valid JSON).
fn push_json_string(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::Value::from(s).to_string());
    }
}

/// Writes the EMF line to stdout (Lambda ships it to CloudWatch Logs, which extracts the metrics;
/// no network call). Only in Lambda: see [`init_lambda`].
pub fn emit_metrics(function: &str, stats: &Stats) {
    if EMIT_EMF.load(Ordering::Relaxed) {
        let mut line = emf_line(function, stats, chrono::Utc::now().timestamp_millis());
        line.push('\n');
        use std::io::Write;
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(function: &str, stats: &Stats) -> serde_json::Value {
        let text = emf_line(function, stats, 1);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    fn declared(line: &serde_json::Value) -> Vec<&str> {
        line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                assert_eq!(m["Unit"], "Count");
                m["Name"].as_str().unwrap()
            })
            .collect()
    }

    #[tokio::test]
    async fn counters_are_per_invocation_and_emf_is_well_formed() {
        let ((), stats) = with_stats(async {
            count(|s| &s.sales_finalized, 1);
            count(|s| &s.units_backordered, 3);
        })
        .await;
        count(|s| &s.sales_finalized, 100); // outside any invocation: ignored
        let line = parse("sale-finalize", &stats);
        assert_eq!(line["SalesFinalized"], 1);
        assert_eq!(line["UnitsBackordered"], 3);
        assert_eq!(line["Function"], "sale-finalize");
        assert_eq!(line["_aws"]["Timestamp"], 1);
        let aws = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(aws["Namespace"], METRICS_NAMESPACE);
        assert_eq!(aws["Dimensions"], serde_json::json!([["Function"]]));
        for name in declared(&line) {
            assert!(line[name].is_u64(), "{name} has a value");
        }
    }

    #[test]
    fn each_function_publishes_only_its_own_metrics() {
        let stats = Stats::default();
        let mut total = 0;
        for (function, expected) in [
            ("settings", vec!["RequestsRejected", "DynamoDbRequests"]),
            (
                "inventory",
                vec!["ConflictsRetried", "RequestsRejected", "DynamoDbRequests"],
            ),
            (
                "sale-finalize",
                vec![
                    "SalesFinalized",
                    "Lines",
                    "UnitsBackordered",
                    "OrdersOpened",
                    "ConflictsRetried",
                    "RequestsRejected",
                    "SalesCancelled",
                    "UnitsRestored",
                    "MessagesFailed",
                    "ChannelLinesSkipped",
                    "DynamoDbRequests",
                ],
            ),
            (
                "channels",
                vec![
                    "ChannelLinesSkipped",
                    "RequestsRejected",
                    "DynamoDbRequests",
                ],
            ),
            (
                "replenishments",
                vec![
                    "ConflictsRetried",
                    "RequestsRejected",
                    "UnitsReceived",
                    "DynamoDbRequests",
                ],
            ),
            (
                "replenishment-close",
                vec![
                    "OrdersClosed",
                    "ConflictsRetried",
                    "RequestsRejected",
                    "DynamoDbRequests",
                ],
            ),
        ] {
            let line = parse(function, &stats);
            assert_eq!(declared(&line), expected, "{function}");
            for name in &expected {
                assert_eq!(line[name], 0, "{function} {name}: zeros are published");
            }
            let keys = line.as_object().unwrap().len();
            assert_eq!(keys, 2 + expected.len(), "{function}: no undeclared value");
            total += expected.len();
        }
        // docs/operating.md's count of custom metrics (dimension Function): 27, not 6 x 13 = 78.
        assert_eq!(total, 27);
    }

    #[test]
    fn a_counter_outside_the_functions_list_is_still_published_when_not_zero() {
        let stats = Stats::default();
        stats.orders_closed.fetch_add(2, Ordering::Relaxed);
        let line = parse("settings", &stats);
        assert_eq!(
            declared(&line),
            ["RequestsRejected", "DynamoDbRequests", "OrdersClosed"]
        );
        assert_eq!(line["OrdersClosed"], 2);
        // An unknown function publishes all twelve; an odd name stays valid JSON.
        let line = parse("we\"ird\\", &stats);
        assert_eq!(declared(&line).len(), ALL_METRICS.len());
        assert_eq!(line["Function"], "we\"ird\\");
    }
}
