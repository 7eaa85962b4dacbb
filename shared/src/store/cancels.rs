//! Cancelling a sale: the orders it fed, and the transaction of each part of a cancellation.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::Update;

use super::codec::{n, s, Reader};
use super::dynamo::{update, CommitError};
use super::layout::*;
use super::Store;
use crate::domain::{CancelLine, FedOrder, SaleStatus};
use crate::error::StoreError;
use crate::ids::{AccountId, ReplenishmentId, SaleId, Sku};

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

impl Store {
    /// The orders `fed` (order, SKU) as a cancellation sees them, in one consistent batched read
    /// of their SKUs: an order is open while its SKU points at it, and its quantity is then the
    /// SKU's running quantity (`open_qty`). An order its SKU has let go of is closed (its close may still
    /// be writing the order item): nothing can be taken out of it.
    pub async fn fed_orders(
        &self,
        account: &AccountId,
        fed: &[(ReplenishmentId, Sku)],
    ) -> Result<HashMap<String, FedOrder>, StoreError> {
        let mut skus: Vec<&Sku> = fed.iter().map(|(_, sku)| sku).collect();
        skus.sort();
        skus.dedup();
        let keys: Vec<Item> = skus.iter().map(|sku| sku_key(account, sku)).collect();
        let mut by_sku = HashMap::with_capacity(keys.len());
        for item in self.batch_get(keys).await? {
            let sk = Reader::new(&item).str(SK)?.to_owned();
            by_sku.insert(sk, item);
        }
        let mut out = HashMap::with_capacity(fed.len());
        for (rid, sku) in fed {
            let item = by_sku.get(&sku_sort_key(sku));
            let r = item.map(Reader::new);
            let open = match &r {
                Some(r) => r.opt_str(OPEN_RID)? == Some(rid.as_str()),
                None => false,
            };
            let quantity = match &r {
                Some(r) => r.opt_i64(OPEN_QTY)?.unwrap_or(0),
                None => 0,
            };
            out.insert(rid.to_string(), FedOrder { open, quantity });
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
            let Some(rid) = &line.replenishment_id else {
                writes.push(update(self.add_stock(account, &sku, line.restored, now))?);
                continue;
            };
            if line.taken_back > 0 {
                // Out of the SKU's running quantity of the order, conditional on the SKU still
                // pointing at it (open) with at least that many units.
                writes.push(update(
                    self.add_stock(account, &sku, line.restored, now)
                        .update_expression("ADD #oh :d, #ver :one, #oq :minus SET #u = :now")
                        .condition_expression(
                            "attribute_exists(#oh) AND #open = :rid AND #oq >= :t",
                        )
                        .expression_attribute_names("#oq", OPEN_QTY)
                        .expression_attribute_names("#open", OPEN_RID)
                        .expression_attribute_values(":minus", n(-line.taken_back))
                        .expression_attribute_values(":t", n(line.taken_back))
                        .expression_attribute_values(":rid", s(rid)),
                )?);
            } else {
                writes.push(update(self.add_stock(account, &sku, line.restored, now))?);
            }
            // An order read as closed needs no guard: a closed order never reopens. One read as
            // open but closed since fails the condition above, and the cancellation re-plans.
            // Units that stay in it are owed to no one now: its `cancels` moves, so a receipt
            // that computed its release over this sale as owed does not commit.
            if line.taken_back == 0 && line.backordered > 0 {
                writes.push(update(
                    Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(order_key_str(account, rid)))
                        .update_expression("ADD #cancels :one")
                        .condition_expression("attribute_exists(#pk)")
                        .expression_attribute_names("#cancels", CANCELS)
                        .expression_attribute_names("#pk", PK)
                        .expression_attribute_values(":one", n(1)),
                )?);
            }
            writes.push(update(
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(contribution_key(account, rid, sale)))
                    .update_expression(
                        "SET #sid = :sid, #units = :b, #c = if_not_exists(#c, :now), \
                         #tb = :t, #ca = :now REMOVE #apk, #apos, #rel, #rat",
                    )
                    .expression_attribute_names("#rel", RELEASED)
                    .expression_attribute_names("#rat", RELEASED_AT)
                    .expression_attribute_names("#apk", AWAIT_PK)
                    .expression_attribute_names("#apos", AWAIT_POS)
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
}

impl Store {
    /// Writes the record of a sale cancelled before it was ever finalized (its `fingerprint` is
    /// [`TOMBSTONE`]), unless the sale exists: a later finalize of this sale id finds it and
    /// refuses. `result` and `cancel_result` are the answers a GET and a repeated cancel replay.
    /// False if a sale was claimed under this id first.
    pub async fn put_tombstone(
        &self,
        account: &AccountId,
        sale: &SaleId,
        result: &str,
        cancel_result: &str,
        now: &str,
    ) -> Result<bool, StoreError> {
        let mut item = sale_key(account, sale);
        item.insert(FINGERPRINT.to_owned(), s(TOMBSTONE));
        item.insert(STATUS.to_owned(), s(SaleStatus::Cancelled.as_str()));
        item.insert(RESULT.to_owned(), s(result));
        item.insert(CANCEL_RESULT.to_owned(), s(cancel_result));
        item.insert(CANCELLED_AT.to_owned(), s(now));
        item.insert(CREATED_AT.to_owned(), s(now));
        self.put_if_absent(item).await
    }
}
