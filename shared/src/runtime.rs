//! Entry points every function's `main` calls: initialise once (JSON logs and metrics, typed
//! config, the DynamoDB client), then serve invocations. HTTP-only functions use [`run_http`];
//! functions that also take other events (queues, schedules, direct calls) use [`run_events`] and
//! hand API Gateway events back to their HTTP handler with [`http_request`] / [`http_api_response`].

use std::convert::Infallible;
use std::fmt::Debug;
use std::future::Future;
use std::time::{Instant, SystemTime};

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use lambda_http::http::HeaderMap;
use lambda_http::lambda_runtime::{self, Diagnostic, LambdaEvent};
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
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let deadline = deadline_instant(event.context.deadline());
        handler(store, config, event.payload, deadline)
    }))
    .await
}

/// Whether an event is an API Gateway HTTP API (payload v2) request.
pub fn is_http_api_event(event: &Map<String, Value>) -> bool {
    event.contains_key("requestContext") && event.contains_key("rawPath")
}

/// The HTTP request of an API Gateway event.
pub fn http_request(event: Map<String, Value>) -> Result<Request, String> {
    lambda_http::request::from_str(&Value::Object(event).to_string())
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

/// The deadline of an invocation, as an `Instant`.
pub fn deadline_instant(deadline: SystemTime) -> Instant {
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    Instant::now() + left
}
