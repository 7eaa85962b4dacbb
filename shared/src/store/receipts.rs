//! Receipts against closed orders.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use super::codec::{
    from_json, n, order_from_item, receipt_from_item, released_chunks, s, OrderRef, Reader,
    StoredReceipt,
};
use super::dynamo::{update, CommitError};
use super::layout::*;
use super::releases::ReleaseContext;
use super::Store;
use crate::domain::{OrderStatus, Replenishment};
use crate::error::StoreError;
use crate::ids::{AccountId, ReceiptId, ReplenishmentId};

impl Store {
    /// The receipt recorded as `receipt` on the order (if any), and the order with what its
    /// release needs (its contributions when it is a closed auto-back-order order and the receipt
    /// is new): the receipt and order in one read, the contributions after.
    pub async fn receipt_context(
        &self,
        account: &AccountId,
        rid: &ReplenishmentId,
        receipt: &ReceiptId,
    ) -> Result<(Option<StoredReceipt>, Option<ReleaseContext>), StoreError> {
        let items = self
            .batch_get(vec![
                receipt_key(account, rid, receipt),
                order_key(account, rid),
            ])
            .await?;
        let (mut stored, mut order) = (None, None);
        for item in &items {
            let r = Reader::new(item);
            if rid_of_order_sort_key(r.str(SK)?).is_some() {
                order = Some((order_from_item(item)?, r.opt_i64(CANCELS)?.unwrap_or(0)));
            } else {
                stored = Some(receipt_from_item(item)?);
            }
        }
        if let Some(done) = stored.as_mut().filter(|d| d.released_parts > 0) {
            let keys = (1..=done.released_parts)
                .map(|k| receipt_part_key(account, rid, receipt, k))
                .collect();
            let mut parts: Vec<(String, String)> = Vec::with_capacity(done.released_parts);
            for item in self.batch_get(keys).await? {
                let r = Reader::new(&item);
                parts.push((r.str(SK)?.to_owned(), r.str(RELEASED_TO)?.to_owned()));
            }
            // The part number is fixed width right after the order id: sort keys sort by it.
            parts.sort();
            for (_, json) in parts {
                let more: Vec<crate::domain::Released> = from_json(&RELEASED_TO, &json)?;
                done.released.extend(more);
            }
        }
        let Some((order, cancels)) = order else {
            return Ok((stored, None));
        };
        let claims =
            if stored.is_none() && order.status == OrderStatus::Closed && order.is_auto_backorder()
            {
                self.order_claims(account, rid).await?
            } else {
                Vec::new()
            };
        Ok((
            stored,
            Some(ReleaseContext {
                order,
                cancels,
                claims,
            }),
        ))
    }

    /// Records a receipt exactly once: the receipt record (its idempotency key, with what it
    /// released), the order's `received` (conditional on it being closed at the `received` read,
    /// and on no cancellation since `cancels` was read: what it released was computed over the
    /// sales then owed) and the SKU's stock.
    pub async fn commit_receipt(
        &self,
        account: &AccountId,
        order: &Replenishment,
        cancels: i64,
        receipt: &ReceiptId,
        done: &StoredReceipt,
        now: &str,
    ) -> Result<(), CommitError> {
        let OrderRef { rid, sku, .. } = OrderRef::of(order)?;
        let mut record = receipt_key(account, &rid, receipt);
        record.insert(QUANTITY.to_owned(), n(done.quantity));
        record.insert(
            ALLOW_OVER_RECEIPT.to_owned(),
            AttributeValue::Bool(done.allow_over_receipt),
        );
        record.insert(RECEIVED_AFTER.to_owned(), n(done.received_after));
        record.insert(RECEIPT_STATUS.to_owned(), s(done.receipt_status.as_str()));
        record.insert(CREATED_AT.to_owned(), s(now));
        let chunks = released_chunks(&done.released);
        let mut writes = Vec::with_capacity(2 + chunks.len());
        record.insert(RELEASED_TO.to_owned(), s(&chunks[0]));
        if chunks.len() > 1 {
            record.insert(RELEASED_PARTS.to_owned(), n(chunks.len() - 1));
        }
        for (k, chunk) in chunks.iter().enumerate().skip(1) {
            let mut part = receipt_part_key(account, &rid, receipt, k);
            part.insert(RELEASED_TO.to_owned(), s(chunk));
            writes.push(
                TransactWriteItem::builder()
                    .put(self.put_new(part)?)
                    .build(),
            );
        }
        let seen = if order.received == 0 {
            "#st = :closed AND (attribute_not_exists(#rcv) OR #rcv = :seen) \
             AND (attribute_not_exists(#cancels) OR #cancels = :cancels)"
        } else {
            "#st = :closed AND #rcv = :seen \
             AND (attribute_not_exists(#cancels) OR #cancels = :cancels)"
        };
        writes.extend([
            TransactWriteItem::builder()
                .put(self.put_new(record)?)
                .build(),
            update(
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(order_key(account, &rid)))
                    .update_expression("SET #rcv = :after, #rs = :rs, #u = :now")
                    .condition_expression(seen)
                    .expression_attribute_names("#st", STATUS)
                    .expression_attribute_names("#rcv", RECEIVED)
                    .expression_attribute_names("#rs", RECEIPT_STATUS)
                    .expression_attribute_names("#u", UPDATED_AT)
                    .expression_attribute_names("#cancels", CANCELS)
                    .expression_attribute_values(":cancels", n(cancels))
                    .expression_attribute_values(":closed", s(OrderStatus::Closed.as_str()))
                    .expression_attribute_values(":seen", n(order.received))
                    .expression_attribute_values(":after", n(done.received_after))
                    .expression_attribute_values(":rs", s(done.receipt_status.as_str()))
                    .expression_attribute_values(":now", s(now)),
            )?,
            update(self.add_stock(account, &sku, done.quantity, now))?,
        ]);
        self.transact(writes).await
    }
}
