//! Receipts against closed orders.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use super::codec::{n, order_from_item, receipt_from_item, s, OrderRef, Reader, StoredReceipt};
use super::dynamo::{update, CommitError};
use super::layout::*;
use super::Store;
use crate::domain::{OrderStatus, Replenishment};
use crate::error::StoreError;
use crate::ids::{AccountId, ReceiptId, ReplenishmentId};

impl Store {
    /// The receipt recorded as `receipt` on the order (if any) and the order, in one read.
    pub async fn receipt_context(
        &self,
        account: &AccountId,
        rid: &ReplenishmentId,
        receipt: &ReceiptId,
    ) -> Result<(Option<StoredReceipt>, Option<Replenishment>), StoreError> {
        let items = self
            .batch_get(vec![
                receipt_key(account, rid, receipt),
                order_key(account, rid),
            ])
            .await?;
        let (mut stored, mut order) = (None, None);
        for item in &items {
            if rid_of_order_sort_key(Reader::new(item).str(SK)?).is_some() {
                order = Some(order_from_item(item)?);
            } else {
                stored = Some(receipt_from_item(item)?);
            }
        }
        Ok((stored, order))
    }

    /// Records a receipt exactly once: the receipt record (its idempotency key), the order's
    /// `received` (conditional on it being closed at the `received` read) and the SKU's stock.
    pub async fn commit_receipt(
        &self,
        account: &AccountId,
        order: &Replenishment,
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
        let seen = if order.received == 0 {
            "#st = :closed AND (attribute_not_exists(#rcv) OR #rcv = :seen)"
        } else {
            "#st = :closed AND #rcv = :seen"
        };
        let writes = vec![
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
                    .expression_attribute_values(":closed", s(OrderStatus::Closed.as_str()))
                    .expression_attribute_values(":seen", n(order.received))
                    .expression_attribute_values(":after", n(done.received_after))
                    .expression_attribute_values(":rs", s(done.receipt_status.as_str()))
                    .expression_attribute_values(":now", s(now)),
            )?,
            update(self.add_stock(account, &sku, done.quantity, now))?,
        ];
        self.transact(writes).await
    }
}
