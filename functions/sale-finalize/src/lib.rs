//! `sale-finalize`: finalizes sales, back-ordering what stock does not cover, and cancels them.
//!
//! - `POST /sales/{sale_id}/finalize` `{"customer"?, "channel"?, "lines": [{"sku", "quantity"}]}`
//! - `GET /sales/{sale_id}`: the finalized (or cancelled) sale
//! - `POST /sales/{sale_id}/cancel`: gives the sale's units back (see `service::cancel_sale`)
//! - SQS batches of the sales queue ([`queue`]): sales finalized like the POST and cancels, the
//!   failed ones reported in `batchItemFailures` so that only they are delivered again.
//! - The table's stream: every sale claimed is made sure to complete ([`stream`]).

pub mod queue;
pub mod stream;

pub use queue::handle_sqs;

use std::time::Instant;

use aws_lambda_events::event::sqs::SqsEvent;
use backorder::http::{self, json_body, path_param, raw_json_response};
use backorder::ids::{AccountId, SaleId};
use backorder::requests::sale_request;
use backorder::routes::SalesOp;
use backorder::runtime::{http_api_response, http_request, is_http_api_event};
use backorder::service::{cancel_sale, current_sale, finalize_sale};
use backorder::{ApiError, Config, Store};
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
                path = done.path.as_str(),
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
