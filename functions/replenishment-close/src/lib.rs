//! `replenishment-close`: closes replenishment orders. One binary, three kinds of invocation:
//!
//! - API Gateway: `POST /replenishments/{replenishment_id}/close` -> 200 the closed order.
//! - Direct (jobs): `{"account_id", "replenishment_id"}` -> the closed order.
//! - EventBridge schedule (`"detail-type": "Scheduled Event"`): closes every open auto-back-order
//!   order older than `MIN_OPEN_AGE_MINUTES`, in all accounts, stopping before the deadline;
//!   returns `{"closed", "remaining"}`.

use std::time::{Duration, Instant};

use backorder::http::{self, json_body, json_response, path_param};
use backorder::ids::{AccountId, ReplenishmentId};
use backorder::routes::{self, CloseOp};
use backorder::runtime::{http_api_response, http_request, is_http_api_event};
use backorder::service::{close_due_orders, close_order, CloseError};
use backorder::{telemetry, ApiError, Config, Store};
use lambda_http::{Body, Request, Response};
use lambda_runtime::Diagnostic;
use serde_json::{Map, Value};

/// The HTTP route.
pub async fn handle_http(store: &Store, req: Request) -> Response<Body> {
    http::serve(req, |op, account, req| dispatch(store, op, account, req)).await
}

async fn dispatch(
    store: &Store,
    op: CloseOp,
    account: AccountId,
    req: Request,
) -> Result<Response<Body>, ApiError> {
    match op {
        CloseOp::Close => {
            let rid = path_param(&req, "replenishment_id", ReplenishmentId::parse)?;
            // The close takes no body; an empty one or `{}` is fine, anything else is rejected.
            if !http::body_is_blank(req.body()) {
                json_body(&req)?.finish()?;
            }
            let (order, closed_now) = close_order(store, &account, &rid).await?;
            tracing::debug!(replenishment_id = %rid, closed_now, quantity = order.quantity, "order closed");
            Ok(json_response(200, &order))
        }
    }
}

/// A failed direct or scheduled invocation, reported to the runtime with a meaningful `errorType`.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("invalid invocation: {0}")]
    InvalidInput(String),
    #[error("{0}")]
    Api(#[from] ApiError),
}

impl From<InvokeError> for Diagnostic {
    fn from(err: InvokeError) -> Self {
        let error_type = match &err {
            InvokeError::InvalidInput(_) => "InvalidInput",
            InvokeError::Api(ApiError::NotFound { .. }) => "NotFound",
            InvokeError::Api(ApiError::Busy { .. }) => "Busy",
            InvokeError::Api(ApiError::Internal(_)) => "Internal",
            InvokeError::Api(_) => "InvalidInput",
        };
        let error_message = match &err {
            InvokeError::Api(api) => api.public_message(),
            other => other.to_string(),
        };
        if let InvokeError::Api(ApiError::Internal(source)) = &err {
            tracing::error!(error = %source, "invocation failed");
        }
        Diagnostic {
            error_type: error_type.to_owned(),
            error_message,
        }
    }
}

/// Any invocation: an API Gateway HTTP API v2 event, a scheduled event or a direct close.
pub async fn handle_event(
    store: &Store,
    config: &Config,
    event: Value,
    deadline: Instant,
) -> Result<Value, InvokeError> {
    let Value::Object(map) = event else {
        return Err(InvokeError::InvalidInput(
            "the event must be a JSON object".to_owned(),
        ));
    };
    if is_http_api_event(&map) {
        let req = http_request(map).map_err(InvokeError::InvalidInput)?;
        let resp = Box::pin(handle_http(store, req)).await;
        return Ok(http_api_response(resp));
    }
    if map.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") {
        let min_age = Duration::from_secs(config.min_open_age_minutes.saturating_mul(60));
        let (run, stats) = telemetry::observed(
            routes::REPLENISHMENT_CLOSE,
            Box::pin(close_due_orders(
                store,
                min_age,
                deadline,
                config.close_deadline_margin,
            )),
        )
        .await;
        let run = run.map_err(ApiError::from)?;
        tracing::info!(
            closed = run.closed,
            remaining = run.remaining,
            dynamodb_requests = telemetry::Stats::get(&stats.dynamo_requests),
            dynamodb_retries = stats.dynamo_retries(),
            "scheduled close finished"
        );
        return Ok(serde_json::to_value(run).unwrap_or_default());
    }
    let (account, rid) = direct_close_request(map)?;
    let (result, stats) = telemetry::observed(
        routes::REPLENISHMENT_CLOSE,
        Box::pin(close_order(store, &account, &rid)),
    )
    .await;
    tracing::info!(
        account = %account,
        replenishment_id = %rid,
        outcome = match &result {
            Ok((_, true)) => "closed",
            Ok((_, false)) => "already_closed",
            Err(CloseError::NotFound(_)) => "replenishment_not_found",
            Err(CloseError::Store(_)) => "failed",
        },
        dynamodb_requests = telemetry::Stats::get(&stats.dynamo_requests),
        dynamodb_retries = stats.dynamo_retries(),
        "direct close"
    );
    let (order, _) = result.map_err(ApiError::from)?;
    Ok(serde_json::to_value(order).unwrap_or_default())
}

fn direct_close_request(
    mut map: Map<String, Value>,
) -> Result<(AccountId, ReplenishmentId), InvokeError> {
    let mut field = |name: &str| match map.remove(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(InvokeError::InvalidInput(format!(
            "{name} must be a string"
        ))),
        None => Err(InvokeError::InvalidInput(format!("{name} is required"))),
    };
    let account = field("account_id")?;
    let rid = field("replenishment_id")?;
    if let Some(unknown) = map.keys().next() {
        return Err(InvokeError::InvalidInput(format!(
            "{unknown} is not a known field"
        )));
    }
    let account = AccountId::parse(account, "account_id")
        .map_err(|e| InvokeError::InvalidInput(e.to_string()))?;
    let rid = ReplenishmentId::parse(rid, "replenishment_id")
        .map_err(|e| InvokeError::InvalidInput(e.to_string()))?;
    Ok((account, rid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn direct(v: Value) -> Result<(AccountId, ReplenishmentId), InvokeError> {
        let Value::Object(map) = v else {
            unreachable!()
        };
        direct_close_request(map)
    }

    #[test]
    fn direct_payload_is_validated() {
        assert!(direct(json!({"account_id": "a", "replenishment_id": "r"})).is_ok());
        assert!(direct(json!({"account_id": "a"})).is_err());
        assert!(direct(json!({"account_id": "a", "replenishment_id": 5})).is_err());
        assert!(direct(json!({"account_id": "", "replenishment_id": "r"})).is_err());
        assert!(direct(json!({"account_id": "a", "replenishment_id": "r", "x": 1})).is_err());
    }

    #[test]
    fn diagnostics_have_meaningful_types() {
        let d: Diagnostic = InvokeError::InvalidInput("x".into()).into();
        assert_eq!(d.error_type, "InvalidInput");
        let d: Diagnostic =
            InvokeError::Api(ApiError::not_found("replenishment_not_found", "gone")).into();
        assert_eq!(d.error_type, "NotFound");
    }
}
