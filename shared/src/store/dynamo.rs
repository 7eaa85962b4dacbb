//! The DynamoDB plumbing every repository shares: consistent reads (batched, with unprocessed keys
//! re-requested), conditional puts, transactions and how their failures are sorted, paged queries,
//! and the mapping of SDK errors to [`StoreError`].

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{KeysAndAttributes, Put, TransactWriteItem};

use super::codec::s;
use super::layout::{Item, PK, SK};
use super::Store;
use crate::error::StoreError;

/// Most keys one `BatchGetItem` takes.
const BATCH_GET_MAX: usize = 100;

/// Why a conditional write (a transaction whose first item is its idempotency record or the item
/// it moves) did not commit.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The first item's condition failed: something got there first. For a sale, receipt,
    /// adjustment or regular order, its record was written by a retry or a concurrent duplicate
    /// (the next read answers as it did); for a part, the header moved; for a close, the order was
    /// not open as read.
    #[error("the first item's condition failed")]
    Preempted,
    /// Another item changed since it was read, or the transaction met a conflict or throttling.
    #[error("contended: {0}")]
    Contended(Contended),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a write was contended, and whether it may be sent again as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Contended {
    /// DynamoDB's cancellation reasons (or error code), for the logs.
    pub reason: String,
    /// No condition failed (only conflicts or throttling): nothing was evaluated against what was
    /// read, so the same write may be sent again without a new read. A failed condition means
    /// something changed: re-read.
    pub resendable: bool,
}

impl Contended {
    /// Cancellation reasons (`ConditionalCheckFailed`, `TransactionConflict`, `None`, ...) joined
    /// by commas, sorted by whether any condition failed.
    pub fn from_reasons(reason: String) -> Self {
        let resendable = !reason.split(',').any(|r| r == "ConditionalCheckFailed");
        Contended { reason, resendable }
    }
}

pub(super) fn is_throttling(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "TransactionInProgressException"
                | "TransactionConflictException"
        )
    )
}

/// One update of a transaction.
pub(super) fn update(
    u: aws_sdk_dynamodb::types::builders::UpdateBuilder,
) -> Result<TransactWriteItem, StoreError> {
    Ok(TransactWriteItem::builder()
        .update(
            u.build()
                .map_err(|e| StoreError::dynamo("TransactWriteItems", e))?,
        )
        .build())
}

impl Store {
    /// Reads up to any number of keys with strongly consistent `BatchGetItem`s (100 keys each),
    /// re-requesting unprocessed keys.
    pub(super) async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::dynamo("BatchGetItem", e))?,
            );
            let mut backoff = crate::retry::Backoff::new();
            let mut rounds = 0;
            while let Some(request) = pending.take() {
                rounds += 1;
                if rounds > crate::retry::MAX_ATTEMPTS {
                    // DynamoDB keeps leaving keys unprocessed (throttling): give up, the caller retries.
                    return Err(StoreError::Unavailable {
                        operation: "BatchGetItem",
                        source: "keys left unprocessed after repeated attempts".into(),
                    });
                }
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| dynamo_error("BatchGetItem", e))?;
                if let Some(mut responses) = out.responses {
                    found.extend(responses.remove(&self.table).unwrap_or_default());
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys.is_empty());
                if pending.is_some() {
                    backoff.wait().await;
                }
            }
        }
        Ok(found)
    }

    pub(super) async fn get(&self, key: Item) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo_error("GetItem", e))?;
        Ok(out.item)
    }

    /// Sends one `TransactWriteItems` and sorts a failure into [`CommitError`].
    pub(super) async fn transact(&self, writes: Vec<TransactWriteItem>) -> Result<(), CommitError> {
        self.client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
            .map(|_| ())
            .map_err(classify_transaction_error)
    }

    /// An `UpdateItem` of the item at `key`, in this table.
    pub(super) fn update_item(&self, key: Item) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
    }

    /// Puts `item` unless an item with its key exists: true if written, false if one existed.
    pub(super) async fn put_if_absent(&self, item: Item) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await;
        conditional(result.map(|_| ()), "PutItem")
    }

    pub(super) fn put_new(&self, item: Item) -> Result<Put, StoreError> {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .build()
            .map_err(|e| StoreError::dynamo("TransactWriteItems", e))
    }

    /// One page of the items of partition `pk` whose sort key starts with `prefix` (strongly
    /// consistent), in sort key order (`forward`) or reverse, after the sort key `after`.
    pub(super) async fn query_prefix(
        &self,
        pk: &str,
        prefix: &str,
        forward: bool,
        limit: usize,
        after: Option<String>,
    ) -> Result<QueryOutput, StoreError> {
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
            .scan_index_forward(forward)
            .consistent_read(true)
            .limit(page_limit(limit));
        if let Some(sk) = after {
            q = q
                .exclusive_start_key(PK, s(pk))
                .exclusive_start_key(SK, s(sk));
        }
        q.send().await.map_err(|e| dynamo_error("Query", e))
    }
}

/// A query's `Limit` for a page of `limit` items (1..=1000).
pub(super) fn page_limit(limit: usize) -> i32 {
    i32::try_from(limit.clamp(1, 1000)).unwrap_or(100)
}

/// Sorts a failed transaction into "the sale exists", "contended, retry" and real failures.
pub(super) fn classify_transaction_error(
    err: SdkError<TransactWriteItemsError, HttpResponse>,
) -> CommitError {
    if let Some(service) = err.as_service_error() {
        if let TransactWriteItemsError::TransactionCanceledException(cancel) = service {
            let reasons: Vec<&str> = cancel
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None"))
                .collect();
            if reasons.first() == Some(&"ConditionalCheckFailed") {
                return CommitError::Preempted;
            }
            return CommitError::Contended(Contended::from_reasons(reasons.join(",")));
        }
        if is_throttling(service.code()) {
            return CommitError::Contended(Contended::from_reasons(
                service.code().unwrap_or_default().to_owned(),
            ));
        }
    }
    CommitError::Store(dynamo_error("TransactWriteItems", err))
}

/// Whether an error code is one DynamoDB uses for a transient condition.
pub(super) fn is_transient_code(code: Option<&str>) -> bool {
    is_throttling(code)
        || matches!(
            code,
            Some("InternalServerError" | "ServiceUnavailable" | "LimitExceededException")
        )
}

/// Maps an SDK error to a store error, sorting transient failures (timeouts, connection errors,
/// throttling, 5xx: the SDK already retried them) from permanent ones.
pub(super) fn dynamo_error<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let transient = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(se) => {
            is_transient_code(se.err().code()) || se.raw().status().is_server_error()
        }
        _ => false,
    };
    if transient {
        StoreError::Unavailable {
            operation,
            source: Box::new(err),
        }
    } else {
        StoreError::dynamo(operation, err)
    }
}

impl CommitError {
    /// What a failed commit means for a read-then-commit loop: read again at once when something
    /// else got there first (the next read sees it), back off when contended; a store error ends it.
    pub fn into_attempt<T>(self) -> Result<crate::retry::Attempt<T>, StoreError> {
        match self {
            CommitError::Preempted => Ok(crate::retry::Attempt::Reread),
            CommitError::Contended(c) => Ok(crate::retry::Attempt::Contended(c)),
            CommitError::Store(e) => Err(e),
        }
    }
}

/// Sends a conditional `UpdateItem`: true if written, false if its condition failed.
pub(super) async fn update_if(req: UpdateItemFluentBuilder) -> Result<bool, StoreError> {
    conditional(req.send().await.map(|_| ()), "UpdateItem")
}

/// A conditional write's result: true if written, false if its condition failed.
pub(super) fn conditional<E>(
    result: Result<
        (),
        aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    >,
    operation: &'static str,
) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(()) => Ok(true),
        Err(e)
            if e.as_service_error().and_then(ProvideErrorMetadata::code)
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(e) => Err(dynamo_error(operation, e)),
    }
}
