//! A sale whose SKUs are cold, written in one transaction: its completed record (put if absent:
//! the idempotency key) and each SKU's line on the version the sale read. No claim, no lease, no
//! markers: the transaction is all of the sale or none of it, so there is nothing for anyone to
//! finish and nothing to remove after the answer. Only sales that back-order nothing take this
//! path (`service::finalize`); everything else is applied line by line ([`super::lines`]).

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::TransactWriteItem;

use super::codec::s;
use super::dynamo::{dynamo_error, is_throttling};
use super::layout::*;
use super::Store;
use crate::domain::{LinePlan, SaleStatus};
use crate::error::StoreError;
use crate::ids::{AccountId, SaleId, Sku};

/// The record of a sale written whole.
#[derive(Debug, Clone, Copy)]
pub struct ColdSale<'a> {
    pub fingerprint: &'a str,
    pub fulfillment_id: &'a str,
    pub customer: Option<&'a str>,
    pub channel: Option<&'a str>,
    /// The answer, stored to be replayed.
    pub result_json: &'a str,
    pub now: &'a str,
}

/// What the transaction found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColdWrite {
    /// Written: every line as planned.
    Written,
    /// A record of the sale exists (a delivery before this one, or a concurrent one): nothing was
    /// written; the next read says what it is.
    SaleExists,
    /// These SKUs changed since they were read: nothing was written.
    Moved(Vec<Sku>),
    /// A transaction conflict or throttling: nothing was written.
    Contended(String),
}

impl Store {
    /// Writes the whole sale in one `TransactWriteItems`: the completed record if none exists,
    /// and each line's level after it, conditional on the SKU's version as read. Sent again by the
    /// SDK, it keeps its client request token: DynamoDB answers a repeat of a committed
    /// transaction as committed (and a later one fails on the record).
    pub async fn finalize_cold(
        &self,
        account: &AccountId,
        sale: &SaleId,
        plans: &[LinePlan],
        record: ColdSale<'_>,
    ) -> Result<ColdWrite, StoreError> {
        let mut item = super::apply::sale_record(
            account,
            sale,
            record.fingerprint,
            record.fulfillment_id,
            record.customer,
            record.channel,
            record.now,
        );
        item.insert(STATUS.to_owned(), s(SaleStatus::Finalized.as_str()));
        item.insert(RESULT.to_owned(), s(record.result_json));
        item.insert(UPDATED_AT.to_owned(), s(record.now));
        let mut writes = Vec::with_capacity(plans.len() + 1);
        writes.push(
            TransactWriteItem::builder()
                .put(self.put_new(item)?)
                .build(),
        );
        for plan in plans {
            let (sku, seen) = (&plan.sku, plan.before.version);
            writes.push(self.level_on_version(
                account,
                sku,
                seen,
                plan.on_hand_after,
                record.now,
            )?);
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(ColdWrite::Written),
            Err(e) => e,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancel)) =
            err.as_service_error()
        else {
            let code = err
                .as_service_error()
                .and_then(|e| aws_sdk_dynamodb::error::ProvideErrorMetadata::code(e));
            if is_throttling(code) {
                return Ok(ColdWrite::Contended(err.to_string()));
            }
            return Err(dynamo_error("TransactWriteItems", err));
        };
        let reasons = cancel.cancellation_reasons();
        let failed = |i: usize| {
            reasons
                .get(i)
                .is_some_and(|r| r.code() == Some("ConditionalCheckFailed"))
        };
        // The record first: a resend of a transaction that committed (its answer lost) fails on
        // it, and so does a sale delivered before.
        if failed(0) {
            return Ok(ColdWrite::SaleExists);
        }
        let moved: Vec<Sku> = plans
            .iter()
            .enumerate()
            .filter(|(i, _)| failed(i + 1))
            .map(|(_, p)| p.sku.clone())
            .collect();
        if !moved.is_empty() {
            return Ok(ColdWrite::Moved(moved));
        }
        let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("None")).collect();
        Ok(ColdWrite::Contended(codes.join(",")))
    }
}
