//! The sales queue's consumer (the message contract is `backorder::channels::queue`): each message
//! is applied in turn, and the failed ones are reported in `batchItemFailures` so that only they
//! are delivered again.
//!
//! - `kind` `finalize` (or none): `{"sale_id", "customer"?, "channel"?, "lines"}` finalized like
//!   the POST. From a channel (`source` set): lines with SKUs the account does not know are left
//!   out, and a sale finalized before with other lines, or cancelled, is done (logged, not failed).
//! - `kind` `cancel`: `{"sale_id"}` cancelled like the POST; a sale not finalized yet is marked
//!   cancelled so that its finalize, arriving later, is refused.

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use backorder::channels::queue::{Kind, ACCOUNT_ATTR, KIND_ATTR, SOURCE_ATTR};
use backorder::http::{Fields, REQUEST_BUDGET};
use backorder::ids::{AccountId, SaleId};
use backorder::requests::queued_sale;
use backorder::routes;
use backorder::service::{
    cancel_channel_sale, finalize_channel_sale, finalize_sale, ChannelSale, FinalizeError,
};
use backorder::{telemetry, ApiError, Store};
use serde_json::Value;

/// Time kept back from the deadline to answer the batch: messages not finished by then are
/// reported failed (and delivered again), never dropped.
const BATCH_MARGIN: Duration = Duration::from_millis(1500);

/// What a message did, for its log line.
#[derive(Debug)]
struct Done {
    account: AccountId,
    sale_id: SaleId,
    kind: Kind,
    outcome: &'static str,
}

/// Applies each message of a batch in turn; answers the ids of those that failed. A failed
/// message is delivered again after its visibility timeout (a retry is safe: finalizing and
/// cancelling are idempotent per `sale_id`), and after the queue's `maxReceiveCount` it moves to
/// the DLQ, so an invalid one is not retried forever and never blocks or repeats the others.
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
                tokio::time::timeout(budget, Box::pin(apply_message(store, &message)))
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
            Ok(done) => tracing::info!(
                message_id = %id,
                account = %done.account,
                sale_id = %done.sale_id,
                kind = done.kind.as_str(),
                outcome = done.outcome,
                dynamodb_requests = get(&stats.dynamo_requests),
                units_backordered = get(&stats.units_backordered),
                lines_skipped = get(&stats.channel_lines_skipped),
                "queued sale done"
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

/// One message: its account, kind and source (message attributes), applied.
async fn apply_message(store: &Store, message: &SqsMessage) -> Result<Done, ApiError> {
    let attr = |name: &str| {
        message
            .message_attributes
            .get(name)
            .and_then(|a| a.string_value.as_deref())
    };
    let account = attr(ACCOUNT_ATTR)
        .ok_or_else(|| ApiError::invalid_field(ACCOUNT_ATTR, "message attribute is required"))?;
    let account = AccountId::parse(account, ACCOUNT_ATTR)?;
    let kind = Kind::parse(attr(KIND_ATTR))
        .ok_or_else(|| ApiError::invalid_field(KIND_ATTR, "must be finalize or cancel"))?;
    let from_channel = attr(SOURCE_ATTR).is_some();
    let body = message.body.as_deref().unwrap_or_default();
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(body) else {
        return Err(ApiError::invalid_field("body", "must be a JSON object"));
    };
    let done = |sale_id: SaleId, outcome| Done {
        account: account.clone(),
        sale_id,
        kind,
        outcome,
    };
    match kind {
        Kind::Cancel => {
            let mut body = Fields::new(map, "");
            let sale_id = body
                .str("sale_id")?
                .ok_or_else(|| ApiError::invalid_field("sale_id", "is required"))?;
            let sale_id = SaleId::parse(sale_id, "sale_id")?;
            body.finish()?;
            let cancelled = cancel_channel_sale(store, &account, &sale_id).await?;
            let outcome = if cancelled.replayed {
                "replayed"
            } else {
                "cancelled"
            };
            Ok(done(sale_id, outcome))
        }
        Kind::Finalize if from_channel => {
            let (sale_id, request) = queued_sale(Fields::new(map, ""))?;
            let outcome = match finalize_channel_sale(store, &account, &sale_id, &request).await? {
                ChannelSale::Finalized { replayed: true, .. } => "replayed",
                ChannelSale::Finalized { .. } => "finalized",
                ChannelSale::NothingKnown { .. } => "no known sku",
                ChannelSale::Differs => "differs from the sale finalized",
                ChannelSale::Cancelled => "cancelled before",
            };
            Ok(done(sale_id, outcome))
        }
        Kind::Finalize => {
            let (sale_id, request) = queued_sale(Fields::new(map, ""))?;
            let outcome = match finalize_sale(store, &account, &sale_id, &request).await {
                Ok(d) if d.replayed => "replayed",
                Ok(_) => "finalized",
                // This very sale (same body) was finalized, then cancelled: the work is done.
                Err(FinalizeError::Cancelled(_)) => "cancelled before",
                Err(e) => return Err(e.into()),
            };
            Ok(done(sale_id, outcome))
        }
    }
}
