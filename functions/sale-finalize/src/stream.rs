//! The completion path: the table's stream reports every sale claimed (its record's `INSERT`), and
//! this makes sure each one completes, even when its caller never comes back. Most are complete by
//! the time their record arrives (one read tells); one still being applied is waited for until its
//! applier's lease expires, then taken over (`backorder::service::complete_claimed`). The markers
//! the batch's complete sales left on their SKU items (those their own process has not removed
//! with its next write) are removed then, one write per SKU item for the batch
//! (`Store::sweep_marks`).
//!
//! The event source mapping passes only `INSERT`s of sale records being applied (its filter); any
//! other record is ignored. A sale not completed in time is reported in `batchItemFailures` with
//! its `SequenceNumber`, so Lambda retries from it (the records after it again too: completing is
//! idempotent).

use std::time::{Duration, Instant};

use aws_lambda_events::dynamodb::EventRecord;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use backorder::ids::{AccountId, SaleId, Sku};
use backorder::service::{claimed_skus, complete_claimed, Completion};
use backorder::store::{codec, layout};
use backorder::Store;
use futures::StreamExt;
use serde_json::Value;

/// Time kept back from the deadline to answer the batch.
const MARGIN: Duration = Duration::from_millis(1500);
/// Sales completed at once.
const PARALLEL: usize = 16;

/// A claimed sale a stream record reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub account: AccountId,
    pub sale: SaleId,
    /// The SKUs of its lines.
    pub skus: Vec<Sku>,
    pub sequence_number: String,
}

/// The claimed sale of a stream record: an `INSERT` of a sale record being applied (with a
/// `request`); `None` for anything else.
pub fn claimed(record: &EventRecord) -> Option<Claimed> {
    if record.event_name != "INSERT" {
        return None;
    }
    let image: layout::Item = std::collections::HashMap::from(record.change.new_image.clone());
    let r = codec::Reader::new(&image);
    let request = r.opt_str(layout::REQUEST).ok()??;
    let sale = layout::sale_id_of_sort_key(r.str(layout::SK).ok()?)?;
    let sale = SaleId::parse(sale, "sale_id").ok()?;
    Some(Claimed {
        account: codec::account_of(&image).ok()?,
        // An unreadable request still goes to its completion (which reports it); it is only
        // not swept.
        skus: claimed_skus(&sale, request).unwrap_or_default(),
        sale,
        sequence_number: record.change.sequence_number.clone()?,
    })
}

/// Whether an event is a DynamoDB stream batch.
pub fn is_stream_event(event: &serde_json::Map<String, Value>) -> bool {
    event
        .get("Records")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(|r| r.get("eventSource"))
        .and_then(Value::as_str)
        == Some("aws:dynamodb")
}

/// Completes every claimed sale of a stream batch; answers the first one not completed.
pub async fn handle_stream(
    store: &Store,
    records: &[Value],
    deadline: Instant,
) -> DynamoDbEventResponse {
    let until = deadline.checked_sub(MARGIN).unwrap_or_else(Instant::now);
    let claims: Vec<Claimed> = records
        .iter()
        .filter_map(|raw| serde_json::from_value::<EventRecord>(raw.clone()).ok())
        .filter_map(|record| claimed(&record))
        .collect();
    let results: Vec<(usize, Result<Completion, String>)> =
        futures::stream::iter(claims.clone().into_iter().enumerate())
            .map(|(i, c)| async move {
                let result = complete_claimed(store, &c.account, &c.sale, until)
                    .await
                    .map_err(|e| e.to_string());
                (i, result)
            })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
    let mut first_failed: Option<usize> = None;
    let mut completed = 0;
    let mut complete = Vec::new();
    for (i, result) in &results {
        if let Ok(Completion::Completed | Completion::AlreadyDone) = result {
            let c = &claims[*i];
            complete.push((c.account.clone(), c.sale.clone(), c.skus.clone()));
        }
        match result {
            Ok(Completion::Completed) => completed += 1,
            Ok(Completion::AlreadyDone | Completion::Gone) => {}
            Ok(Completion::InProgress) | Err(_) => {
                if let Err(e) = result {
                    tracing::warn!(sale = %claims[*i].sale, error = %e, "a claimed sale was not completed");
                }
                first_failed = Some(first_failed.map_or(*i, |f| f.min(*i)));
            }
        }
    }
    // Only markers of complete sales, so none an applier could still need. A sweep that fails is
    // no failure of the batch: the markers are only bytes on the items, and it is logged.
    // Within what is left of the invocation, so that the batch's answer is never lost to the
    // function's timeout; what it leaves, a later batch's sweep of those SKUs takes.
    let left = deadline
        .saturating_duration_since(Instant::now())
        .saturating_sub(MARGIN / 3);
    let swept = match tokio::time::timeout(left, store.sweep_marks(&complete)).await {
        Ok(Ok(written)) => written,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "the markers of complete sales were left on their SKUs");
            0
        }
        Err(_) => {
            tracing::warn!("the sweep of markers ran out of time");
            0
        }
    };
    tracing::info!(
        records = records.len(),
        claims = claims.len(),
        completed,
        markers_swept_from = swept,
        failed = first_failed.is_some(),
        "sale completion batch"
    );
    let mut response = DynamoDbEventResponse::default();
    if let Some(i) = first_failed {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(claims[i].sequence_number.clone());
        response.batch_item_failures.push(failure);
    }
    response
}
