//! `sale-finalize`: finalizes sales, back-ordering what stock does not cover, and cancels them.
//!
//! - `POST /sales/{sale_id}/finalize` `{"customer"?, "channel"?, "lines": [{"sku", "quantity"}]}`
//! - `GET /sales/{sale_id}`: the finalized (or cancelled) sale
//! - `POST /sales/{sale_id}/cancel`: gives the sale's units back (see `service::cancel_sale`)
//! - SQS batches of `{"sale_id", "customer"?, "channel"?, "lines"}` messages, the account in the
//!   message attribute `account_id`: each message is finalized like the POST, and the failed ones
//!   are reported in `batchItemFailures` so that only they are delivered again.
//! - The table's stream: every sale claimed is made sure to complete ([`stream`]).

pub mod stream;

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use backorder::http::{self, json_body, path_param, raw_json_response, Fields, REQUEST_BUDGET};
use backorder::ids::{AccountId, SaleId};
use backorder::requests::{queued_sale, sale_request};
use backorder::routes::{self, SalesOp};
use backorder::runtime::{http_api_response, http_request, is_http_api_event};
use backorder::service::{cancel_sale, current_sale, finalize_sale, FinalizeError};
use backorder::{telemetry, ApiError, Config, Store};
use lambda_http::{Body, Request, Response};
use serde_json::Value;

pub async fn handle(store: &Store, req: Request) -> Response<Body> {
    http::serve(req, |op, account, req| dispatch(store, op, account, req)).await
}

async fn dispatch(
    store: &Store,
    op: SalesOp,
    account: AccountId,
    req: Request,
) -> Result<Response<Body>, ApiError> {
    let sale_id = path_param(&req, "sale_id", SaleId::parse)?;
    match op {
        SalesOp::Finalize => {
            let request = sale_request(json_body(&req)?)?;
            let done = finalize_sale(store, &account, &sale_id, &request).await?;
            tracing::debug!(
                sale_id = %sale_id,
                lines = done.lines,
                parts = done.parts,
                backordered = done.backordered,
                replayed = done.replayed,
                attempts = done.attempts,
                "sale finalized"
            );
            Ok(raw_json_response(200, done.body))
        }
        SalesOp::Cancel => {
            // The cancel takes no body; an empty one or `{}` is fine, anything else is rejected.
            if !http::body_is_blank(req.body()) {
                json_body(&req)?.finish()?;
            }
            let done = cancel_sale(store, &account, &sale_id).await?;
            tracing::debug!(
                sale_id = %sale_id,
                replayed = done.replayed,
                taken_back = done.taken_back,
                not_taken_back = done.not_taken_back,
                "sale cancelled"
            );
            Ok(raw_json_response(200, done.body))
        }
        SalesOp::Get => match store.sale(&account, &sale_id).await? {
            Some(sale) => Ok(raw_json_response(
                200,
                current_sale(store, &account, &sale_id, &sale).await?,
            )),
            None => Err(ApiError::not_found(
                "sale_not_found",
                format!("sale_id {sale_id} not found"),
            )),
        },
    }
}

/// A failed invocation that is neither HTTP nor SQS.
#[derive(Debug, thiserror::Error)]
#[error("invalid invocation: {0}")]
pub struct InvalidInvocation(String);

impl From<InvalidInvocation> for lambda_runtime::Diagnostic {
    fn from(err: InvalidInvocation) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "InvalidInput".to_owned(),
            error_message: err.to_string(),
        }
    }
}

/// Any invocation: an API Gateway HTTP API event, an SQS batch or a stream batch.
pub async fn handle_event(
    store: &Store,
    _config: &Config,
    event: Value,
    deadline: Instant,
) -> Result<Value, InvalidInvocation> {
    let Value::Object(map) = event else {
        return Err(InvalidInvocation("the event must be a JSON object".into()));
    };
    if is_http_api_event(&map) {
        let req = http_request(map).map_err(InvalidInvocation)?;
        return Ok(http_api_response(Box::pin(handle(store, req)).await));
    }
    if stream::is_stream_event(&map) {
        let records = map
            .get("Records")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let response = Box::pin(stream::handle_stream(store, &records, deadline)).await;
        return Ok(serde_json::to_value(response).unwrap_or_default());
    }
    let batch: SqsEvent = serde_json::from_value(Value::Object(map)).map_err(|e| {
        InvalidInvocation(format!("neither an HTTP API event nor an SQS batch: {e}"))
    })?;
    let response = Box::pin(handle_sqs(store, batch, deadline)).await;
    Ok(serde_json::to_value(response).unwrap_or_default())
}

/// Time kept back from the deadline to answer the batch: messages not finished by then are
/// reported failed (and delivered again), never dropped.
const BATCH_MARGIN: Duration = Duration::from_millis(1500);

/// Finalizes each message of a batch in turn; answers the ids of those that failed. A failed
/// message is delivered again after its visibility timeout (a retry is safe: finalizing is
/// idempotent per `sale_id`), and after the queue's `maxReceiveCount` it moves to the DLQ, so an
/// invalid one is not retried forever and never blocks or repeats the others.
pub async fn handle_sqs(store: &Store, batch: SqsEvent, deadline: Instant) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in batch.records {
        let id = message.message_id.clone().unwrap_or_default();
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_default()
            .saturating_sub(BATCH_MARGIN);
        let budget = left.min(REQUEST_BUDGET);
        let (outcome, stats) = telemetry::observed(routes::SALE_FINALIZE, async {
            let busy = || ApiError::Busy {
                retry_after: Duration::from_secs(1),
            };
            let outcome = if budget.is_zero() {
                Err(busy())
            } else {
                tokio::time::timeout(budget, Box::pin(finalize_message(store, &message)))
                    .await
                    .unwrap_or_else(|_| Err(busy()))
            };
            if outcome.is_err() {
                telemetry::count(|s| &s.messages_failed, 1);
            }
            outcome
        })
        .await;
        let get = telemetry::Stats::get;
        match &outcome {
            Ok((account, sale_id, replayed)) => tracing::info!(
                message_id = %id,
                account = %account,
                sale_id = %sale_id,
                replayed,
                dynamodb_requests = get(&stats.dynamo_requests),
                units_backordered = get(&stats.units_backordered),
                "queued sale finalized"
            ),
            Err(e) => {
                let level_error = matches!(e, ApiError::Internal(_));
                if level_error {
                    tracing::error!(message_id = %id, code = e.code(), error = %e, "queued sale failed");
                } else {
                    tracing::warn!(message_id = %id, code = e.code(), error = %e.public_message(), "queued sale failed");
                }
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
    }
    response
}

/// One message: its account (message attribute `account_id`), its sale id and body, finalized.
async fn finalize_message(
    store: &Store,
    message: &SqsMessage,
) -> Result<(AccountId, SaleId, bool), ApiError> {
    let account = message
        .message_attributes
        .get("account_id")
        .and_then(|a| a.string_value.clone())
        .ok_or_else(|| ApiError::invalid_field("account_id", "message attribute is required"))?;
    let account = AccountId::parse(account, "account_id")?;
    let body = message.body.as_deref().unwrap_or_default();
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(body) else {
        return Err(ApiError::invalid_field("body", "must be a JSON object"));
    };
    let (sale_id, request) = queued_sale(Fields::new(map, ""))?;
    match finalize_sale(store, &account, &sale_id, &request).await {
        Ok(done) => Ok((account, sale_id, done.replayed)),
        // This very sale (same body) was finalized, then cancelled: the message's work is done.
        Err(FinalizeError::Cancelled(_)) => Ok((account, sale_id, true)),
        Err(e) => Err(e.into()),
    }
}
