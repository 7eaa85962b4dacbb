//! A sale applied line by line (its line writes are in [`super::lines`]): the claim of the sale
//! record, the lease of its one applier, the order items and contributions, the completion, and
//! the markers' removal. The rules that make it exactly once are in `service::apply`.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

use super::codec::{contribution_item, n, new_order_item, s, NewContribution, NewOrder, Reader};
use super::dynamo::{conditional, dynamo_error, update_if, CommitError};
use super::layout::*;
use super::Store;
use crate::domain::SaleStatus;
use crate::error::StoreError;
use crate::ids::{AccountId, ReplenishmentId, SaleId, Sku, VendorId};

/// The sale record a caller writes before any line: the whole request, so that whoever completes
/// the sale needs nothing else, and the caller's lease.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    pub fingerprint: &'a str,
    /// The merged lines, as JSON (`[{"sku", "quantity"}]`).
    pub lines_json: &'a str,
    pub fulfillment_id: &'a str,
    pub customer: Option<&'a str>,
    pub channel: Option<&'a str>,
    pub lease: &'a str,
    pub lease_until_ms: i64,
    pub now: &'a str,
}

impl Store {
    /// Writes the record of a sale about to be applied, conditional on none existing
    /// ([`CommitError::Preempted`] if one does). Its insert in the table's stream is what makes
    /// sure it completes even if its caller never comes back (`sale-finalize`'s stream handler).
    pub async fn claim_sale(
        &self,
        account: &AccountId,
        sale: &SaleId,
        claim: Claim<'_>,
    ) -> Result<(), CommitError> {
        let mut item = sale_record(
            account,
            sale,
            claim.fingerprint,
            claim.fulfillment_id,
            claim.customer,
            claim.channel,
            claim.now,
        );
        item.insert(STATUS.to_owned(), s(SaleStatus::Finalizing.as_str()));
        item.insert(PARTS.to_owned(), n(1));
        item.insert(DONE.to_owned(), n(0));
        item.insert(REQUEST.to_owned(), s(claim.lines_json));
        item.insert(LEASE.to_owned(), s(claim.lease));
        item.insert(LEASE_UNTIL.to_owned(), n(claim.lease_until_ms));
        if self.put_if_absent(item).await? {
            Ok(())
        } else {
            Err(CommitError::Preempted)
        }
    }

    /// Removes a claim this applier holds that turned out invalid (a SKU it names does not exist),
    /// before any line was written: the request then changed nothing. False if the lease was
    /// taken over meanwhile (the claim is someone else's now).
    pub async fn drop_claim(
        &self,
        account: &AccountId,
        sale: &SaleId,
        lease: &str,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(sale_key(account, sale)))
            .condition_expression("#lease = :lease")
            .expression_attribute_names("#lease", LEASE)
            .expression_attribute_values(":lease", s(lease))
            .send()
            .await;
        conditional(result.map(|_| ()), "DeleteItem")
    }

    /// Takes the lease of a sale still being applied whose lease (`seen_until_ms`) has expired:
    /// false if it completed or someone else took it first.
    pub async fn take_lease(
        &self,
        account: &AccountId,
        sale: &SaleId,
        seen_until_ms: i64,
        lease: &str,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .update_item(sale_key(account, sale))
            .update_expression("SET #lease = :lease, #lu = :until")
            .condition_expression("#st = :finalizing AND #lu = :seen")
            .expression_attribute_names("#lease", LEASE)
            .expression_attribute_names("#lu", LEASE_UNTIL)
            .expression_attribute_names("#st", STATUS)
            .expression_attribute_values(":lease", s(lease))
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":finalizing", s(SaleStatus::Finalizing.as_str()))
            .expression_attribute_values(":seen", n(seen_until_ms));
        // A resend (the first send's answer was lost) finds our own lease in place.
        update_or_find_own(result, |r| {
            r.opt_str(STATUS).ok().flatten() == Some(SaleStatus::Finalizing.as_str())
                && r.opt_str(LEASE).ok().flatten() == Some(lease)
        })
        .await
    }

    /// Makes sure an auto-back-order order's item exists (conditional on not existing: whoever
    /// writes it first writes it). Its quantity is the SKU's running one until it closes.
    #[allow(clippy::too_many_arguments)]
    pub async fn ensure_order(
        &self,
        account: &AccountId,
        rid: &ReplenishmentId,
        sku: &Sku,
        vendor: Option<&VendorId>,
        units: i64,
        now: &str,
    ) -> Result<(), StoreError> {
        let item = new_order_item(&NewOrder {
            account,
            rid,
            sku,
            vendor_id: vendor,
            quantity: units,
            now,
            auto: true,
        });
        self.put_if_absent(item).await.map(|_| ())
    }

    /// A sale's contributions to the orders its lines fed (its audit trail, and its place in each
    /// order's line of waiting sales), each put if absent, concurrently: an earlier attempt's put
    /// (identical) may have been released to since, and is left as it is.
    pub async fn put_contributions(
        &self,
        account: &AccountId,
        sale: &SaleId,
        fed: &[NewContribution<'_>],
        now: &str,
    ) -> Result<(), StoreError> {
        let puts = fed
            .iter()
            .map(|c| self.put_if_absent(contribution_item(account, sale, c, now)));
        futures::future::try_join_all(puts).await.map(|_| ())
    }

    /// Completes a sale this applier holds the lease of: its answer stored, its request and lease
    /// removed. False if the lease was lost (someone else completes it).
    pub async fn complete_sale(
        &self,
        account: &AccountId,
        sale: &SaleId,
        lease: &str,
        result_json: &str,
        now: &str,
    ) -> Result<bool, StoreError> {
        let result = self
            .update_item(sale_key(account, sale))
            .update_expression(
                "SET #st = :finalized, #r = :result, #u = :now \
                 REMOVE #req, #lease, #lu, #parts, #done",
            )
            .condition_expression("#st = :finalizing AND #lease = :lease")
            .expression_attribute_names("#st", STATUS)
            .expression_attribute_names("#r", RESULT)
            .expression_attribute_names("#u", UPDATED_AT)
            .expression_attribute_names("#req", REQUEST)
            .expression_attribute_names("#lease", LEASE)
            .expression_attribute_names("#lu", LEASE_UNTIL)
            .expression_attribute_names("#parts", PARTS)
            .expression_attribute_names("#done", DONE)
            .expression_attribute_values(":finalized", s(SaleStatus::Finalized.as_str()))
            .expression_attribute_values(":finalizing", s(SaleStatus::Finalizing.as_str()))
            .expression_attribute_values(":lease", s(lease))
            .expression_attribute_values(":result", s(result_json))
            .expression_attribute_values(":now", s(now));
        // A resend (the first send's answer was lost) finds the sale completed with this very
        // answer: that was us.
        update_or_find_own(result, |r| {
            r.opt_str(RESULT).ok().flatten() == Some(result_json)
        })
        .await
    }

    /// Records on a SKU that the item of its open order `rid` exists (`made`), if the SKU still
    /// points at it (closed meanwhile: nothing to record): reads show the open order from then on.
    pub async fn mark_made(
        &self,
        account: &AccountId,
        sku: &Sku,
        rid: &ReplenishmentId,
    ) -> Result<(), StoreError> {
        let made = self
            .update_item(sku_key(account, sku))
            .update_expression("SET #made = :rid")
            .condition_expression("#open = :rid")
            .expression_attribute_names("#made", ORDER_MADE)
            .expression_attribute_names("#open", OPEN_RID)
            .expression_attribute_values(":rid", s(rid.as_str()));
        update_if(made).await.map(|_| ())
    }
}

/// What every record of a sale of up to 32 SKUs holds from its first write: its key, the
/// request's fingerprint, the fulfillment id, customer and channel, and when it was written.
pub(super) fn sale_record(
    account: &AccountId,
    sale: &SaleId,
    fingerprint: &str,
    fulfillment_id: &str,
    customer: Option<&str>,
    channel: Option<&str>,
    now: &str,
) -> Item {
    let mut item = sale_key(account, sale);
    item.insert(FINGERPRINT.to_owned(), s(fingerprint));
    item.insert(FULFILLMENT_ID.to_owned(), s(fulfillment_id));
    if let Some(c) = customer {
        item.insert(CUSTOMER.to_owned(), s(c));
    }
    if let Some(c) = channel {
        item.insert(CHANNEL.to_owned(), s(c));
    }
    item.insert(CREATED_AT.to_owned(), s(now));
    item
}

/// Sends a conditional `UpdateItem` that may be a resend of one whose answer was lost: true if
/// written now, or if its condition failed on an item `ours` recognises as this very write's.
async fn update_or_find_own(
    req: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    ours: impl Fn(&Reader) -> bool,
) -> Result<bool, StoreError> {
    let result = req
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await;
    match result {
        Ok(_) => Ok(true),
        Err(e) => match condition_failed_item(&e) {
            Some(item) => Ok(item.is_some_and(|item| ours(&Reader::new(&item)))),
            None => Err(dynamo_error("UpdateItem", e)),
        },
    }
}

/// The item a failed condition answered (`Some(None)`: no item), or `None` for another error.
pub(super) fn condition_failed_item(
    e: &aws_sdk_dynamodb::error::SdkError<
        UpdateItemError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
) -> Option<Option<Item>> {
    match e.as_service_error() {
        Some(UpdateItemError::ConditionalCheckFailedException(c)) => Some(c.item().cloned()),
        _ => None,
    }
}
