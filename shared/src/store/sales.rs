//! Sales: what finalizing reads, and the transactions that write a sale (whole, or one part).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};

use super::codec::{
    contribution_item, n, new_order_item, s, sku_from_item, stored_sale, NewContribution, NewOrder,
    Reader, SkuRecord, StoredSale,
};
use super::dynamo::CommitError;
use super::layout::*;
use super::Store;
use crate::domain::{LinePlan, OrderAction, SaleLineResult};
use crate::error::StoreError;
use crate::ids::{AccountId, SaleId, Sku};

/// What every part of a sale finalized in several transactions shares.
#[derive(Debug, Clone, Copy)]
pub struct SaleParts<'a> {
    pub fingerprint: &'a str,
    pub parts: u32,
    /// Lines per part, recorded so that a resume cuts the parts the same way.
    pub part_lines: usize,
    /// The SKUs cut into the first part (those held to a back-order limit), recorded likewise.
    pub first: &'a [Sku],
    pub fulfillment_id: &'a str,
    pub customer: Option<&'a str>,
    pub channel: Option<&'a str>,
}

/// What finalizing a sale needs to read, in one request.
#[derive(Debug)]
pub struct SaleContext {
    pub sale: Option<StoredSale>,
    pub account_auto_backorder: bool,
    pub skus: HashMap<Sku, SkuRecord>,
}

impl Store {
    /// The sale (if already finalized), the account's setting and the SKUs, in one batched read.
    pub async fn sale_context(
        &self,
        account: &AccountId,
        sale: &SaleId,
        skus: &[Sku],
    ) -> Result<SaleContext, StoreError> {
        let mut keys = Vec::with_capacity(skus.len() + 2);
        keys.push(sale_key(account, sale));
        keys.push(settings_key(account));
        keys.extend(skus.iter().map(|sku| sku_key(account, sku)));
        let items = self.batch_get(keys).await?;

        let mut ctx = SaleContext {
            sale: None,
            account_auto_backorder: false,
            skus: HashMap::with_capacity(skus.len()),
        };
        for item in &items {
            let r = Reader::new(item);
            let sk = r.str(SK)?;
            if sk == SETTINGS_SK {
                ctx.account_auto_backorder = r.bool_or(AUTO_BACKORDER, false)?;
            } else if sale_of_sort_key(sk) {
                ctx.sale = Some(stored_sale(item)?);
            } else if let Some(raw) = sku_of_sort_key(sk) {
                let sku = Sku::parse(raw, "sku").map_err(|_| StoreError::Malformed {
                    key: sk.to_owned(),
                    problem: "invalid sku".to_owned(),
                })?;
                let record = sku_from_item(&sku, item)?;
                ctx.skus.insert(sku, record);
            }
        }
        Ok(ctx)
    }

    /// Which of `skus` do not exist, and which are held to a back-order limit (batched reads).
    pub async fn missing_and_limited_skus(
        &self,
        account: &AccountId,
        skus: &[Sku],
    ) -> Result<(std::collections::HashSet<Sku>, Vec<Sku>), StoreError> {
        let mut missing: std::collections::HashSet<Sku> = skus.iter().cloned().collect();
        let mut limited = Vec::new();
        for item in self
            .batch_get(skus.iter().map(|s| sku_key(account, s)).collect())
            .await?
        {
            let r = Reader::new(&item);
            let Some(raw) = sku_of_sort_key(r.str(SK)?) else {
                continue;
            };
            let Some(sku) = skus.iter().find(|s| s.as_str() == raw) else {
                continue;
            };
            missing.remove(sku);
            if r.opt_i64(BACKORDER_LIMIT)?.is_some() {
                limited.push(sku.clone());
            }
        }
        limited.sort();
        Ok((missing, limited))
    }

    pub async fn sale(
        &self,
        account: &AccountId,
        sale: &SaleId,
    ) -> Result<Option<StoredSale>, StoreError> {
        match self.get(sale_key(account, sale)).await? {
            Some(item) => stored_sale(&item).map(Some),
            None => Ok(None),
        }
    }

    /// The response lines of parts `ks` of a sale in parts, in the order asked (batched reads).
    pub async fn sale_part_lines(
        &self,
        account: &AccountId,
        sale: &SaleId,
        ks: &[u32],
    ) -> Result<Vec<Vec<SaleLineResult>>, StoreError> {
        let texts = self.sale_part_attrs(account, sale, ks, LINES).await?;
        ks.iter()
            .zip(texts)
            .map(|(k, text)| {
                serde_json::from_str(&text).map_err(|e| StoreError::Malformed {
                    key: sale_part_sort_key(sale, *k),
                    problem: e.to_string(),
                })
            })
            .collect()
    }

    /// One string attribute of parts `ks` of a sale in parts, in the order asked (batched reads).
    pub(super) async fn sale_part_attrs(
        &self,
        account: &AccountId,
        sale: &SaleId,
        ks: &[u32],
        attr: &str,
    ) -> Result<Vec<String>, StoreError> {
        let items = self
            .batch_get(
                ks.iter()
                    .map(|k| sale_part_key(account, sale, *k))
                    .collect(),
            )
            .await?;
        let mut by_key: HashMap<&str, &Item> = HashMap::new();
        for item in &items {
            by_key.insert(Reader::new(item).str(SK)?, item);
        }
        ks.iter()
            .map(|k| {
                let sk = sale_part_sort_key(sale, *k);
                let item = by_key
                    .get(sk.as_str())
                    .ok_or_else(|| StoreError::Malformed {
                        key: sk.clone(),
                        problem: format!("sale part missing (reading {attr})"),
                    })?;
                Ok(Reader::new(item).str(attr)?.to_owned())
            })
            .collect()
    }

    /// Writes part `k` of a sale in parts in one `TransactWriteItems`: the sale header (created by
    /// part 0; advanced from `done = k` to `k + 1` by the others, which makes each part apply at
    /// most once), the part's response lines, and its lines' stock and order changes.
    #[allow(clippy::too_many_arguments)]
    pub async fn commit_sale_part(
        &self,
        account: &AccountId,
        sale: &SaleId,
        header: SaleParts<'_>,
        k: u32,
        plans: &[LinePlan],
        lines: &[SaleLineResult],
        now: &str,
    ) -> Result<(), CommitError> {
        let last = k + 1 == header.parts;
        let status = if last { "finalized" } else { "finalizing" };
        let mut writes = Vec::with_capacity(2 + plans.len() * 3);
        if k == 0 {
            let mut item = sale_key(account, sale);
            item.insert(FINGERPRINT.to_owned(), s(header.fingerprint));
            item.insert(STATUS.to_owned(), s(status));
            item.insert(PARTS.to_owned(), n(header.parts));
            item.insert(PART_LINES.to_owned(), n(header.part_lines));
            if !header.first.is_empty() {
                let first = header.first.iter().map(|sku| s(sku.as_str())).collect();
                item.insert(FIRST_SKUS.to_owned(), AttributeValue::L(first));
            }
            item.insert(DONE.to_owned(), n(1));
            item.insert(FULFILLMENT_ID.to_owned(), s(header.fulfillment_id));
            if let Some(c) = header.customer {
                item.insert(CUSTOMER.to_owned(), s(c));
            }
            if let Some(c) = header.channel {
                item.insert(CHANNEL.to_owned(), s(c));
            }
            item.insert(CREATED_AT.to_owned(), s(now));
            writes.push(
                TransactWriteItem::builder()
                    .put(self.put_new(item)?)
                    .build(),
            );
        } else {
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(sale_key(account, sale)))
                .update_expression("SET #done = :next, #st = :st, #u = :now")
                .condition_expression("#done = :k AND #fp = :fp")
                .expression_attribute_names("#done", DONE)
                .expression_attribute_names("#st", STATUS)
                .expression_attribute_names("#u", UPDATED_AT)
                .expression_attribute_names("#fp", FINGERPRINT)
                .expression_attribute_values(":next", n(k + 1))
                .expression_attribute_values(":k", n(k))
                .expression_attribute_values(":st", s(status))
                .expression_attribute_values(":now", s(now))
                .expression_attribute_values(":fp", s(header.fingerprint))
                .build()
                .map_err(|e| StoreError::dynamo("TransactWriteItems", e))?;
            writes.push(TransactWriteItem::builder().update(update).build());
        }
        let lines_json = serde_json::to_string(lines).map_err(|e| StoreError::Malformed {
            key: sale.to_string(),
            problem: e.to_string(),
        })?;
        let mut part = sale_part_key(account, sale, k);
        part.insert(LINES.to_owned(), s(lines_json));
        writes.push(
            TransactWriteItem::builder()
                .put(self.put_new(part)?)
                .build(),
        );
        self.push_line_writes(&mut writes, account, sale, plans, now)?;
        self.transact(writes).await
    }

    /// Each line's stock change, its order's find-or-create, and the sale's contribution to that
    /// order (the audit trail).
    pub(super) fn push_line_writes(
        &self,
        writes: &mut Vec<TransactWriteItem>,
        account: &AccountId,
        sale: &SaleId,
        plans: &[LinePlan],
        now: &str,
    ) -> Result<(), StoreError> {
        for plan in plans {
            writes.push(
                TransactWriteItem::builder()
                    .update(self.sku_sale_update(account, plan, now)?)
                    .build(),
            );
            match &plan.order {
                OrderAction::None => {}
                // Its units go to the SKU's running quantity of the order (in the SKU's update).
                OrderAction::AddTo(_) => {}
                OrderAction::Open(rid) => {
                    let item = new_order_item(&NewOrder {
                        account,
                        rid,
                        sku: &plan.sku,
                        vendor_id: plan.before.vendor_id.as_ref(),
                        quantity: plan.backordered,
                        now,
                        auto: true,
                    });
                    writes.push(
                        TransactWriteItem::builder()
                            .put(self.put_new(item)?)
                            .build(),
                    );
                }
            }
            if let Some(rid) = plan.order.order_id() {
                // Unconditional: the sale record's condition already makes the sale apply once.
                // Its place in line: the SKU's version this transaction is conditional on.
                let contribution = NewContribution {
                    rid,
                    sku: &plan.sku,
                    units: plan.backordered,
                    pos: i64::try_from(plan.before.version).ok(),
                };
                let item = contribution_item(account, sale, &contribution, now);
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .build()
                    .map_err(|e| StoreError::dynamo("TransactWriteItems", e))?;
                writes.push(TransactWriteItem::builder().put(put).build());
            }
        }
        Ok(())
    }

    pub(super) fn sku_sale_update(
        &self,
        account: &AccountId,
        plan: &LinePlan,
        now: &str,
    ) -> Result<Update, StoreError> {
        let mut expr = String::from("SET #oh = :oh, #ver = :ver, #u = :now");
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(sku_key(account, &plan.sku)))
            .condition_expression("#ver = :seen")
            .expression_attribute_names("#oh", ON_HAND)
            .expression_attribute_names("#ver", VERSION)
            .expression_attribute_names("#u", UPDATED_AT)
            .expression_attribute_values(":oh", n(plan.on_hand_after))
            .expression_attribute_values(":ver", n(plan.before.version + 1))
            .expression_attribute_values(":seen", n(plan.before.version))
            .expression_attribute_values(":now", s(now));
        if plan.order.order_id().is_some() {
            expr.push_str(", #oq = if_not_exists(#oq, :none) + :b");
            update = update
                .expression_attribute_names("#oq", OPEN_QTY)
                .expression_attribute_values(":none", n(0))
                .expression_attribute_values(":b", n(plan.backordered));
        }
        if let OrderAction::Open(rid) = &plan.order {
            // The order's item is written in the same transaction.
            expr.push_str(", #open = :rid, #made = :rid");
            update = update
                .expression_attribute_names("#open", OPEN_RID)
                .expression_attribute_names("#made", ORDER_MADE)
                .expression_attribute_values(":rid", s(rid.as_str()));
        }
        update
            .update_expression(expr)
            .build()
            .map_err(|e| StoreError::dynamo("TransactWriteItems", e))
    }
}
