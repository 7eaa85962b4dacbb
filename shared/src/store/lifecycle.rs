//! The rest of an order's life after sales fed it: the audit trail of contributions, sale
//! cancellation, receipts, regular (manual) orders and the per-vendor view. Same rules as the rest
//! of the adapter: every change is one conditional transaction whose first item is its
//! idempotency record, so a retry or a duplicate can apply it at most once.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use super::items::*;
use super::{
    stock_delta_names, stock_delta_values, CommitError, OrderPage, OrderRef, Store,
    STOCK_DELTA_CONDITION, STOCK_DELTA_UPDATE,
};
use crate::domain::{CancelLine, FedOrder, OrderStatus, ReceiptStatus, Replenishment, SaleStatus};
use crate::error::StoreError;
use crate::ids::{AccountId, ReceiptId, ReplenishmentId, RequestId, SaleId, Sku, VendorId};

/// One sale's contribution to an order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Contribution {
    pub sale_id: String,
    /// Units the sale added to the order.
    pub units: i64,
    pub at: String,
    /// Set once the sale is cancelled: units taken back out of the (then open) order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taken_back: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<String>,
}

/// One page of an order's contributions, in sale id order.
#[derive(Debug)]
pub struct ContributionPage {
    pub items: Vec<Contribution>,
    /// The last sale id of the page, when more may follow.
    pub next: Option<String>,
}

/// A receipt as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReceipt {
    pub quantity: i64,
    pub allow_over_receipt: bool,
    pub received_after: i64,
    pub receipt_status: ReceiptStatus,
}

/// Where one part of a cancellation is written.
#[derive(Debug, Clone, Copy)]
pub struct CancelPart<'a> {
    /// Part index and count (a sale finalized in one transaction has one part).
    pub k: u32,
    pub parts: u32,
    /// True for a sale finalized in parts: the part's answer goes on its part record; otherwise
    /// the whole answer goes on the sale record.
    pub in_parts: bool,
    /// The JSON stored as the part's (or the whole cancellation's) answer.
    pub answer: &'a str,
}

fn update(
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
    /// Units back into an existing SKU's stock (a cancellation, a receipt): [`STOCK_DELTA_UPDATE`].
    fn add_stock(
        &self,
        account: &AccountId,
        sku: &Sku,
        units: i64,
        now: &str,
    ) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(sku_key(account, sku)))
            .update_expression(STOCK_DELTA_UPDATE)
            .condition_expression(STOCK_DELTA_CONDITION)
            .set_expression_attribute_names(Some(stock_delta_names()))
            .set_expression_attribute_values(Some(stock_delta_values(units, now)))
    }

    /// One page of the sales that fed an order, in sale id order.
    pub async fn contributions(
        &self,
        account: &AccountId,
        rid: &ReplenishmentId,
        limit: usize,
        after: Option<&str>,
    ) -> Result<ContributionPage, StoreError> {
        let prefix = contribution_prefix(rid.as_str());
        let after = after.map(|sale| format!("{prefix}{sale}"));
        let out = self
            .query_prefix(account, &prefix, true, limit, after)
            .await?;
        let items = out
            .items()
            .iter()
            .map(|item| {
                let r = Reader::new(item);
                Ok(Contribution {
                    sale_id: r.str(SALE_ID)?.to_owned(),
                    units: r.i64(UNITS)?,
                    at: r.str(CREATED_AT)?.to_owned(),
                    taken_back: r.opt_i64(TAKEN_BACK)?,
                    cancelled_at: r.opt_str(CANCELLED_AT)?.map(str::to_owned),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let next = match out.last_evaluated_key().and_then(|k| k.get(SK)) {
            Some(AttributeValue::S(sk)) => sale_of_contribution(sk, rid.as_str()),
            _ => None,
        };
        Ok(ContributionPage { items, next })
    }

    /// The orders `rids` as a cancellation sees them (open or not, and their quantity), in one
    /// consistent batched read. Orders that do not exist are absent.
    pub async fn fed_orders(
        &self,
        account: &AccountId,
        rids: &[ReplenishmentId],
    ) -> Result<HashMap<String, FedOrder>, StoreError> {
        let mut rids = rids.to_vec();
        rids.sort();
        rids.dedup();
        let keys: Vec<Item> = rids.iter().map(|r| order_key(account, r)).collect();
        let mut out = HashMap::with_capacity(keys.len());
        for item in self.batch_get(keys).await? {
            let order = order_from_item(&item)?;
            out.insert(
                order.replenishment_id.clone(),
                FedOrder {
                    open: order.status == OrderStatus::Open,
                    quantity: order.quantity,
                },
            );
        }
        Ok(out)
    }

    /// Writes part `k` of a sale's cancellation in one transaction: the sale record moves
    /// (`finalized` -> `cancelling`/`cancelled`, or `cancel_done` k -> k + 1: the idempotency
    /// condition), every line's units go back to stock, units still in an open order come out of
    /// it (conditional on it being open with at least that many units), and the line's
    /// contribution is marked cancelled.
    pub async fn commit_cancel_part(
        &self,
        account: &AccountId,
        sale: &SaleId,
        part: CancelPart<'_>,
        lines: &[CancelLine],
        now: &str,
    ) -> Result<(), CommitError> {
        let last = part.k + 1 == part.parts;
        let status = if last {
            SaleStatus::Cancelled
        } else {
            SaleStatus::Cancelling
        };
        let mut header = Update::builder()
            .table_name(&self.table)
            .set_key(Some(sale_key(account, sale)))
            .expression_attribute_names("#st", STATUS)
            .expression_attribute_names("#cd", CANCEL_DONE)
            .expression_attribute_names("#ca", CANCELLED_AT)
            .expression_attribute_names("#u", UPDATED_AT)
            .expression_attribute_values(":st", s(status.as_str()))
            .expression_attribute_values(":next", n(part.k + 1))
            .expression_attribute_values(":now", s(now));
        let mut set =
            "SET #st = :st, #cd = :next, #ca = if_not_exists(#ca, :now), #u = :now".to_owned();
        header = if part.k == 0 {
            header
                .condition_expression("#st = :finalized")
                .expression_attribute_values(":finalized", s(SaleStatus::Finalized.as_str()))
        } else {
            header
                .condition_expression("#st = :cancelling AND #cd = :k")
                .expression_attribute_values(":cancelling", s(SaleStatus::Cancelling.as_str()))
                .expression_attribute_values(":k", n(part.k))
        };
        if !part.in_parts {
            set.push_str(", #cr = :answer");
            header = header
                .expression_attribute_names("#cr", CANCEL_RESULT)
                .expression_attribute_values(":answer", s(part.answer));
        }
        let mut writes = Vec::with_capacity(2 + lines.len() * 3);
        writes.push(update(header.update_expression(set))?);
        if part.in_parts {
            writes.push(update(
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(sale_part_key(account, sale, part.k)))
                    .update_expression("SET #cl = :answer")
                    .condition_expression("attribute_exists(#pk)")
                    .expression_attribute_names("#cl", CANCEL_LINES)
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_values(":answer", s(part.answer)),
            )?);
        }
        for line in lines {
            let sku =
                Sku::parse(line.sku.clone(), SKU_ATTR).map_err(|_| StoreError::Malformed {
                    key: sale.to_string(),
                    problem: format!("invalid sku {}", line.sku),
                })?;
            writes.push(update(self.add_stock(account, &sku, line.restored, now))?);
            let Some(rid) = &line.replenishment_id else {
                continue;
            };
            if line.taken_back > 0 {
                writes.push(update(
                    Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(order_key_str(account, rid)))
                        .update_expression("ADD #q :minus SET #u = :now")
                        .condition_expression("#st = :open AND #q >= :t")
                        .expression_attribute_names("#q", QUANTITY)
                        .expression_attribute_names("#st", STATUS)
                        .expression_attribute_names("#u", UPDATED_AT)
                        .expression_attribute_values(":minus", n(-line.taken_back))
                        .expression_attribute_values(":t", n(line.taken_back))
                        .expression_attribute_values(":open", s(OrderStatus::Open.as_str()))
                        .expression_attribute_values(":now", s(now)),
                )?);
            }
            // An order read as closed needs no guard: a closed order never reopens. One read as
            // open but closed since fails the condition above, and the cancellation re-plans.
            writes.push(update(
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(contribution_key(account, rid, sale)))
                    .update_expression(
                        "SET #sid = :sid, #units = :b, #c = if_not_exists(#c, :now), \
                         #tb = :t, #ca = :now",
                    )
                    .expression_attribute_names("#sid", SALE_ID)
                    .expression_attribute_names("#units", UNITS)
                    .expression_attribute_names("#c", CREATED_AT)
                    .expression_attribute_names("#tb", TAKEN_BACK)
                    .expression_attribute_names("#ca", CANCELLED_AT)
                    .expression_attribute_values(":sid", s(sale.as_str()))
                    .expression_attribute_values(":b", n(line.backordered))
                    .expression_attribute_values(":t", n(line.taken_back))
                    .expression_attribute_values(":now", s(now)),
            )?);
        }
        self.transact(writes).await
    }

    /// The stored answers of parts `ks` of a cancellation in parts, in the order asked.
    pub async fn cancel_part_answers(
        &self,
        account: &AccountId,
        sale: &SaleId,
        ks: &[u32],
    ) -> Result<Vec<String>, StoreError> {
        self.sale_part_attrs(account, sale, ks, CANCEL_LINES).await
    }

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
            let r = Reader::new(item);
            if r.str(SK)?.starts_with(ORDER_PREFIX) {
                order = Some(order_from_item(item)?);
            } else {
                let status = r.str(RECEIPT_STATUS)?;
                stored = Some(StoredReceipt {
                    quantity: r.i64(QUANTITY)?,
                    allow_over_receipt: r.bool_or(ALLOW_OVER_RECEIPT, false)?,
                    received_after: r.i64(RECEIVED_AFTER)?,
                    receipt_status: ReceiptStatus::parse(status).ok_or_else(|| {
                        StoreError::Malformed {
                            key: r.str(SK).unwrap_or_default().to_owned(),
                            problem: format!("unknown receipt_status {status}"),
                        }
                    })?,
                });
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

    /// The order a regular-order `request_id` created, with the request's fingerprint.
    pub async fn order_request(
        &self,
        account: &AccountId,
        request: &RequestId,
    ) -> Result<Option<(String, String)>, StoreError> {
        match self.get(request_key(account, request)).await? {
            Some(item) => {
                let r = Reader::new(&item);
                Ok(Some((
                    r.str(RID)?.to_owned(),
                    r.str(FINGERPRINT)?.to_owned(),
                )))
            }
            None => Ok(None),
        }
    }

    /// Creates a regular (manual) open order: no tag, not the SKU's open order, so sales never
    /// merge into it. With a `request_id`, its record is written in the same transaction
    /// (conditional on not existing), so a retry cannot create a second order. Answers the order
    /// as written.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_regular_order(
        &self,
        account: &AccountId,
        rid: &ReplenishmentId,
        sku: &Sku,
        vendor: Option<&VendorId>,
        quantity: i64,
        request: Option<(&RequestId, &str)>,
        now: &str,
    ) -> Result<Replenishment, CommitError> {
        let mut writes = Vec::with_capacity(2);
        if let Some((request, fingerprint)) = request {
            let mut record = request_key(account, request);
            record.insert(RID.to_owned(), s(rid.as_str()));
            record.insert(FINGERPRINT.to_owned(), s(fingerprint));
            record.insert(CREATED_AT.to_owned(), s(now));
            writes.push(
                TransactWriteItem::builder()
                    .put(self.put_new(record)?)
                    .build(),
            );
        }
        let item = new_order_item(&NewOrder {
            account,
            rid,
            sku,
            vendor_id: vendor,
            quantity,
            now,
            auto: false,
        });
        let order = order_from_item(&item)?;
        writes.push(
            TransactWriteItem::builder()
                .put(self.put_new(item)?)
                .build(),
        );
        self.transact(writes).await.map(|()| order)
    }

    /// One page of a vendor's orders in a status, newest first.
    pub async fn vendor_orders(
        &self,
        account: &AccountId,
        vendor: &VendorId,
        status: OrderStatus,
        limit: usize,
        after: Option<&str>,
    ) -> Result<OrderPage, StoreError> {
        self.list_filtered(
            INDEX_BY_VENDOR,
            GSI3PK,
            vendor_partition(account, vendor.as_str()),
            account,
            Some(status),
            limit,
            after,
        )
        .await
    }
}
