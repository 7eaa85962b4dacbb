//! Entry points every function's `main` calls: initialise once (JSON logs and metrics, typed
//! config, the DynamoDB client), then serve invocations. HTTP-only functions use [`run_http`];
//! functions that also take other events (queues, schedules, direct calls) use [`run_events`] and
//! hand API Gateway events back to their HTTP handler with [`http_request`] / [`http_api_response`].

use std::convert::Infallible;
use std::fmt::Debug;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use lambda_http::aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_http::http::HeaderMap;
use lambda_http::lambda_runtime::{self, Diagnostic, LambdaEvent};
use lambda_http::request::LambdaRequest;
use lambda_http::{service_fn, Body, Request, Response};
use serde_json::{Map, Value};

use crate::{config, telemetry, Config, Store};

/// The store and config, built once and kept for the life of the process (the execution
/// environment).
async fn init() -> Result<(&'static Store, &'static Config), lambda_http::Error> {
    telemetry::init_lambda();
    let config: &'static Config = Box::leak(Box::new(Config::from_env()?));
    let store: &'static Store = Box::leak(Box::new(Store::new(
        config::dynamodb_client().await?,
        config.table_name.clone(),
    )));
    Ok((store, config))
}

/// Runs `handler` under the Lambda runtime until the process ends.
pub async fn run_http<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static Store, Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let (store, _) = init().await?;
    lambda_http::run(service_fn(move |req: Request| {
        let response = handler(store, req);
        async move { Ok::<_, Infallible>(response.await) }
    }))
    .await
}

/// Runs a handler of raw JSON events (with the invocation's deadline) until the process ends.
pub async fn run_events<F, Fut, E>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static Store, &'static Config, Value, Instant) -> Fut,
    Fut: Future<Output = Result<Value, E>> + Send + 'static,
    E: Into<Diagnostic> + Debug,
{
    let (store, config) = init().await?;
    let deadlines: &'static Deadlines = Box::leak(Box::new(Deadlines::from_env()?));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let deadline = deadlines.instant(event.context.deadline());
        handler(store, config, event.payload, deadline)
    }))
    .await
}

/// Whether an event is an API Gateway HTTP API (payload v2) request.
pub fn is_http_api_event(event: &Map<String, Value>) -> bool {
    event.contains_key("requestContext") && event.contains_key("rawPath")
}

/// The HTTP request of an API Gateway event: decoded from the event as it is (no round trip
/// through JSON text).
pub fn http_request(event: Map<String, Value>) -> Result<Request, String> {
    serde_json::from_value::<ApiGatewayV2httpRequest>(Value::Object(event))
        .map(|e| LambdaRequest::ApiGatewayV2(e).into())
        .map_err(|e| format!("not an HTTP API event: {e}"))
}

/// The API Gateway HTTP API v2 response for an HTTP response.
pub fn http_api_response(resp: Response<Body>) -> Value {
    let (parts, body) = resp.into_parts();
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(parts.status.as_u16());
    out.headers = parts.headers;
    out.multi_value_headers = HeaderMap::new();
    out.body = match body {
        Body::Empty => None,
        other => Some(other),
    };
    serde_json::to_value(out).unwrap_or_default()
}

/// The header carrying an invocation's deadline (milliseconds since the Unix epoch).
pub const DEADLINE_HEADER: &str = "Lambda-Runtime-Deadline-Ms";

/// How a function turns the Runtime API's deadline into an `Instant`, built once at init.
///
/// Lambda's deadline is always in the future when an invocation arrives. Local emulators get it
/// wrong: cargo-lambda's sends `600000` (ten minutes after 1970), others send 0 (which
/// `lambda_runtime` reads as 1970 too). A deadline already past on arrival is therefore taken as
/// unknown, and the invocation works to the function's configured timeout
/// ([`config::function_timeout`]) instead; the first such invocation logs a warning naming the
/// header.
#[derive(Debug)]
pub struct Deadlines {
    budget: Duration,
    warned: AtomicBool,
}

impl Deadlines {
    /// With the budget of an invocation whose deadline is unknown.
    pub fn new(budget: Duration) -> Self {
        Deadlines {
            budget,
            warned: AtomicBool::new(false),
        }
    }

    /// With the function's configured timeout (`FUNCTION_TIMEOUT_SECONDS`) as the budget.
    pub fn from_env() -> Result<Self, config::ConfigError> {
        Ok(Self::new(config::function_timeout()?))
    }

    /// The budget used when the deadline is unknown.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// The invocation's deadline as an `Instant`: the Runtime API's `deadline` if it is still
    /// ahead, otherwise now plus the budget (with one warning per process).
    pub fn instant(&self, deadline: SystemTime) -> Instant {
        let (at, known) = deadline_at(deadline, SystemTime::now(), Instant::now(), self.budget);
        if !known && !self.warned.swap(true, Ordering::Relaxed) {
            let deadline_ms = deadline
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            tracing::warn!(
                header = DEADLINE_HEADER,
                deadline_ms,
                budget_ms = self.budget.as_millis(),
                "the {DEADLINE_HEADER} header of the invocation is absent or already past (a local \
                 emulator?): working to the configured timeout instead; warned once"
            );
        }
        at
    }
}

/// The deadline as an `Instant`, and whether it was known: a `deadline` after `now` is kept (the
/// time left, counted from `now_instant`); one at or before `now` (absent, 0, or a 1970 value from
/// an emulator) gives `now_instant + budget`.
pub fn deadline_at(
    deadline: SystemTime,
    now: SystemTime,
    now_instant: Instant,
    budget: Duration,
) -> (Instant, bool) {
    match deadline.duration_since(now) {
        Ok(left) if !left.is_zero() => (now_instant + left, true),
        _ => (now_instant + budget, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: Duration = Duration::from_secs(15);

    #[test]
    fn a_deadline_ahead_is_kept_to_the_millisecond() {
        let now = SystemTime::now();
        let now_i = Instant::now();
        let (at, known) = deadline_at(now + Duration::from_millis(2_500), now, now_i, BUDGET);
        assert!(known);
        assert_eq!(at - now_i, Duration::from_millis(2_500));
        // Even one far shorter than the budget: Lambda's deadline wins.
        let (at, known) = deadline_at(now + Duration::from_millis(1), now, now_i, BUDGET);
        assert!(known);
        assert_eq!(at - now_i, Duration::from_millis(1));
    }

    #[test]
    fn an_emulators_deadline_in_1970_absent_or_past_gives_the_budget() {
        let now = SystemTime::now();
        let now_i = Instant::now();
        for deadline in [
            // cargo-lambda's `Lambda-Runtime-Deadline-Ms: 600000`.
            SystemTime::UNIX_EPOCH + Duration::from_millis(600_000),
            // Absent or 0: lambda_runtime reads it as the epoch.
            SystemTime::UNIX_EPOCH,
            // Already past on arrival, and exactly now.
            now - Duration::from_millis(1),
            now,
        ] {
            let (at, known) = deadline_at(deadline, now, now_i, BUDGET);
            assert!(!known, "{deadline:?}");
            assert_eq!(at - now_i, BUDGET);
        }
    }

    #[test]
    fn deadlines_warn_once_and_keep_working_to_the_budget() {
        let deadlines = Deadlines::new(Duration::from_secs(120));
        for _ in 0..3 {
            let before = Instant::now();
            let at = deadlines.instant(SystemTime::UNIX_EPOCH + Duration::from_millis(600_000));
            assert!(at >= before + Duration::from_secs(120));
            assert!(at <= Instant::now() + Duration::from_secs(120));
        }
        assert!(deadlines.warned.load(Ordering::Relaxed));
        let at = deadlines.instant(SystemTime::now() + Duration::from_secs(3));
        assert!(at <= Instant::now() + Duration::from_secs(3));
    }
}
