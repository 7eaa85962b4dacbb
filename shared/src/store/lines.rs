//! A sale's lines written to their SKU items: each one conditional `UpdateItem` (the level guard,
//! the line's marker, its back-order limit), or, for the lines held to a back-order limit when a
//! sale has several, all of them in one transaction, so a refusal leaves none written. What a
//! marker says a line did is read here too. The rules are in `service::apply`.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure, Update,
};

use super::codec::{n, s, sku_from_item, Reader};
use super::dynamo::{dynamo_error, is_throttling};
use super::layout::*;
use super::Store;
use crate::domain::{level_guard, LevelGuard, LinePlan, SkuState};
use crate::error::StoreError;
use crate::ids::{AccountId, ReplenishmentId, SaleId};

/// What writing one line to its SKU item found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineWrite {
    /// Written, now or by an earlier attempt whose answer was lost (its marker says so): the
    /// level right after the line, the order its back-ordered units went into (the SKU's open
    /// order, or the one this write opened), whether this write opened it, and whether the SKU
    /// says that order's item exists already (never known for an earlier attempt).
    Written {
        on_hand_after: i64,
        order: Option<ReplenishmentId>,
        /// The line's place in its order's line of waiting sales (with `order`).
        pos: Option<i64>,
        opened: bool,
        order_made: bool,
    },
    /// The level left the guard's range, or the limit changed: the SKU as it is now.
    Moved(SkuState),
}

/// What writing several lines in one transaction found.
#[derive(Debug)]
pub enum LinesWrite {
    /// All written now, in the order of the plans.
    Written(Vec<LineWrite>),
    /// Written before (the markers say so: a resend of a transaction whose answer was lost, or an
    /// earlier applier): what each marked line did; lines without a marker are `None`.
    Marked(Vec<Option<LineWrite>>),
    /// Some SKU changed since it was read: those SKUs as they are now (`None`: unchanged).
    Moved(Vec<Option<SkuState>>),
    /// A transaction conflict or throttling: send it again as it is.
    Contended(String),
}

/// The update expression of one line, for an `UpdateItem` or a transaction's `Update`.
struct LineUpdate {
    update: String,
    condition: String,
    names: Vec<(String, String)>,
    values: Vec<(&'static str, AttributeValue)>,
}

/// Writes the line's level and marker and its back-ordered units into the SKU's open order's
/// running quantity (`open_qty`), opening `new_order` if the SKU has none; conditional on the
/// marker being absent, the level within the guard, and, for a line held to a back-order limit,
/// the level not going below it with the limit as planned. `exact`: on the version read instead
/// of the guard (a transaction, whose answer says nothing of the items). `settled`: the
/// [`mark_key`]s of completed sales whose markers go with this write.
fn line_update(
    sale: &SaleId,
    plan: &LinePlan,
    new_order: &ReplenishmentId,
    exact: bool,
    settled: &[String],
) -> LineUpdate {
    let [mark, pos] = mark_attrs_of(&mark_key(sale));
    let mut set = vec!["#oh = #oh - :q", "#sm = #oh - :q", "#u = :now"];
    let mut condition = vec![
        "attribute_exists(#oh)",
        "attribute_not_exists(#sm)",
        "attribute_not_exists(#lm)",
    ];
    let mut names = vec![
        ("#oh", ON_HAND.to_owned()),
        ("#sm", mark),
        ("#u", UPDATED_AT.to_owned()),
        ("#ver", VERSION.to_owned()),
        ("#lm", legacy_mark_attrs(sale)[0].clone()),
    ];
    let mut values = vec![(":q", n(plan.quantity)), (":one", n(1))];
    match (exact, level_guard(plan)) {
        (true, _) => {
            condition.push("#ver = :v");
            values.push((
                ":v",
                n(i64::try_from(plan.before.version).unwrap_or(i64::MAX)),
            ));
        }
        (false, LevelGuard::Any) => {}
        (false, LevelGuard::Covered) => condition.push("#oh >= :q"),
        (false, LevelGuard::Short) => {
            condition.push("#oh <= :zero");
            values.push((":zero", n(0)));
        }
        (false, LevelGuard::Crossing(h)) => {
            condition.push("#oh = :h");
            values.push((":h", n(h)));
        }
    }
    if let Some(limit) = plan.limit {
        // on_hand - q >= -limit, and the limit as planned (changed: re-plan with the new one).
        condition.push("#oh >= :floor AND #bl = :bl");
        names.push(("#bl", BACKORDER_LIMIT.to_owned()));
        values.push((":floor", n(plan.quantity - limit)));
        values.push((":bl", n(limit)));
    }
    if plan.order.order_id().is_some() {
        // The order the units go into is the one open once the write lands; the marker keeps only
        // the line's place, which tells that order later (`marks::order_at`).
        set.push("#open = if_not_exists(#open, :new)");
        set.push("#oq = if_not_exists(#oq, :none) + :b");
        set.push("#sp = if_not_exists(#ver, :none)");
        names.push(("#sp", pos));
        names.push(("#oq", OPEN_QTY.to_owned()));
        names.push(("#open", OPEN_RID.to_owned()));
        values.push((":new", s(new_order.as_str())));
        values.push((":b", n(plan.backordered)));
        values.push((":none", n(0)));
    }
    let (mut remove, mut removed) = (Vec::new(), Vec::new());
    for (i, key) in settled.iter().enumerate() {
        for (j, attr) in mark_attrs_of(key).into_iter().enumerate() {
            let name = format!("#r{i}_{j}");
            remove.push(name.clone());
            removed.push((name, attr));
        }
    }
    let remove = if remove.is_empty() {
        String::new()
    } else {
        format!(" REMOVE {}", remove.join(", "))
    };
    LineUpdate {
        update: format!("SET {}{remove} ADD #ver :one", set.join(", ")),
        condition: condition.join(" AND "),
        names: names
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .chain(removed)
            .collect(),
        values,
    }
}

/// What an item with this sale's marker says the line did (`None`: no marker), under its name
/// or the names markers had before [`mark_key`] (which named their order).
fn marked(sale: &SaleId, item: &Item) -> Result<Option<LineWrite>, StoreError> {
    let r = Reader::new(item);
    let [mark, pos] = mark_attrs_of(&mark_key(sale));
    let written = |on_hand_after, order, pos| {
        Some(LineWrite::Written {
            on_hand_after,
            order,
            pos,
            opened: false,
            order_made: false,
        })
    };
    if let Some(after) = r.opt_i64(&mark)? {
        let pos = r.opt_i64(&pos)?;
        let order =
            match pos {
                Some(pos) => Some(super::marks::order_at(item, pos)?.ok_or_else(|| {
                    StoreError::Malformed {
                        key: mark.clone(),
                        problem: format!("no order was open at the marked line's place {pos}"),
                    }
                })?),
                None => None,
            };
        return Ok(written(after, order, pos));
    }
    let [mark, order, pos] = legacy_mark_attrs(sale);
    match r.opt_i64(&mark)? {
        Some(after) => Ok(written(
            after,
            r.opt_id(&order, ReplenishmentId::parse)?,
            r.opt_i64(&pos)?,
        )),
        None => Ok(None),
    }
}

/// What a write found in an item its condition failed on: the line's marker (written before), or
/// the SKU as it is.
fn missed(sale: &SaleId, plan: &LinePlan, item: Option<Item>) -> Result<LineWrite, StoreError> {
    let item = item.ok_or_else(|| StoreError::Malformed {
        key: plan.sku.to_string(),
        problem: "the SKU is gone".to_owned(),
    })?;
    match marked(sale, &item)? {
        Some(written) => Ok(written),
        None => Ok(LineWrite::Moved(sku_from_item(&plan.sku, &item)?.state)),
    }
}

/// The SDK's timeouts for a call that must not leave after `send_by` (so no retry of it lands
/// after the applier's stop point); `None` when that time has come.
fn timeouts(send_by: Instant) -> Option<aws_sdk_dynamodb::config::Builder> {
    let left = send_by.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return None;
    }
    Some(
        aws_sdk_dynamodb::config::Builder::new().timeout_config(
            aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                .connect_timeout(left.min(Duration::from_secs(1)))
                .operation_attempt_timeout(left.min(Duration::from_secs(2)))
                .operation_timeout(left)
                .build(),
        ),
    )
}

impl Store {
    /// Writes one line to its SKU item ([`line_update`]), removing with it the markers of the
    /// completed sales `settled` names (see [`Store::take_settled`]). Whatever order is open when
    /// the write lands takes the units, so concurrent sales, opens and closes never make it miss.
    /// A miss answers what the item holds, so the retry needs no read.
    #[allow(clippy::too_many_arguments)]
    pub async fn apply_line(
        &self,
        account: &AccountId,
        sale: &SaleId,
        plan: &LinePlan,
        new_order: &ReplenishmentId,
        settled: &[String],
        now: &str,
        send_by: Instant,
    ) -> Result<LineWrite, StoreError> {
        let line = line_update(sale, plan, new_order, false, settled);
        let mut req = self
            .update_item(sku_key(account, &plan.sku))
            .update_expression(line.update)
            .condition_expression(line.condition)
            .expression_attribute_values(":now", s(now))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (k, v) in line.names {
            req = req.expression_attribute_names(k, v);
        }
        for (k, v) in line.values {
            req = req.expression_attribute_values(k, v);
        }
        let Some(timeouts) = timeouts(send_by) else {
            return Err(StoreError::Contention { attempts: 0 });
        };
        match req.customize().config_override(timeouts).send().await {
            Ok(out) => {
                let item = out.attributes.unwrap_or_default();
                let r = Reader::new(&item);
                let [mark, pos] = mark_attrs_of(&mark_key(sale));
                // The order the units went into: the one open once the line landed.
                let order = match plan.order.order_id() {
                    Some(_) => r.opt_id(OPEN_RID, ReplenishmentId::parse)?,
                    None => None,
                };
                let made = order
                    .as_ref()
                    .is_some_and(|rid| r.opt_str(ORDER_MADE).ok().flatten() == Some(rid.as_str()));
                Ok(LineWrite::Written {
                    on_hand_after: r.i64(&mark)?,
                    opened: order.as_ref() == Some(new_order),
                    order,
                    pos: r.opt_i64(&pos)?,
                    order_made: made,
                })
            }
            Err(e) => match super::apply::condition_failed_item(&e) {
                Some(item) => missed(sale, plan, item),
                None => Err(dynamo_error("UpdateItem", e)),
            },
        }
    }

    /// Writes several lines in one transaction, each conditional on the version its plan read
    /// (and its marker and limit): all of them or none. `new_orders[i]` is line i's order if its
    /// SKU has none open.
    pub async fn apply_lines_together(
        &self,
        account: &AccountId,
        sale: &SaleId,
        plans: &[LinePlan],
        new_orders: &[ReplenishmentId],
        now: &str,
        send_by: Instant,
    ) -> Result<LinesWrite, StoreError> {
        let mut writes = Vec::with_capacity(plans.len());
        for (plan, new_order) in plans.iter().zip(new_orders) {
            let line = line_update(sale, plan, new_order, true, &[]);
            let mut u = Update::builder()
                .table_name(&self.table)
                .set_key(Some(sku_key(account, &plan.sku)))
                .update_expression(line.update)
                .condition_expression(line.condition)
                .expression_attribute_values(":now", s(now))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            for (k, v) in line.names {
                u = u.expression_attribute_names(k, v);
            }
            for (k, v) in line.values {
                u = u.expression_attribute_values(k, v);
            }
            writes.push(super::dynamo::update(u)?);
        }
        let Some(timeouts) = timeouts(send_by) else {
            return Err(StoreError::Contention { attempts: 0 });
        };
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .customize()
            .config_override(timeouts)
            .send()
            .await;
        let err = match result {
            Ok(_) => {
                // Exact versions: each line did what its plan says.
                return Ok(LinesWrite::Written(
                    plans
                        .iter()
                        .zip(new_orders)
                        .map(|(p, new_order)| planned_write(p, new_order))
                        .collect(),
                ));
            }
            Err(e) => e,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancel)) =
            err.as_service_error()
        else {
            if is_throttling(
                err.as_service_error()
                    .and_then(|e| aws_sdk_dynamodb::error::ProvideErrorMetadata::code(e)),
            ) {
                return Ok(LinesWrite::Contended(err.to_string()));
            }
            return Err(dynamo_error("TransactWriteItems", err));
        };
        let reasons = cancel.cancellation_reasons();
        if !reasons
            .iter()
            .any(|r| r.code() == Some("ConditionalCheckFailed"))
        {
            let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("None")).collect();
            return Ok(LinesWrite::Contended(codes.join(",")));
        }
        let mut marks = Vec::with_capacity(plans.len());
        let mut moved = Vec::with_capacity(plans.len());
        for (plan, reason) in plans.iter().zip(reasons) {
            if reason.code() != Some("ConditionalCheckFailed") {
                marks.push(None);
                moved.push(None);
                continue;
            }
            match missed(sale, plan, reason.item().cloned())? {
                written @ LineWrite::Written { .. } => {
                    marks.push(Some(written));
                    moved.push(None);
                }
                LineWrite::Moved(state) => {
                    marks.push(None);
                    moved.push(Some(state));
                }
            }
        }
        Ok(if marks.iter().any(Option::is_some) {
            LinesWrite::Marked(marks)
        } else {
            LinesWrite::Moved(moved)
        })
    }

    /// Whether any of these SKU items carries this sale's marker (a line of it written).
    pub async fn any_line_marked(
        &self,
        account: &AccountId,
        sale: &SaleId,
        skus: &[crate::ids::Sku],
    ) -> Result<bool, StoreError> {
        let items = self
            .batch_get(skus.iter().map(|s| sku_key(account, s)).collect())
            .await?;
        for item in &items {
            if marked(sale, item)?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// What a line written on the exact version it read did.
fn planned_write(plan: &LinePlan, new_order: &ReplenishmentId) -> LineWrite {
    let order = plan.order.order_id().map(|_| {
        plan.before
            .open_order
            .clone()
            .unwrap_or_else(|| new_order.clone())
    });
    LineWrite::Written {
        on_hand_after: plan.on_hand_after,
        opened: order.as_ref() == Some(new_order),
        pos: order
            .as_ref()
            .map(|_| i64::try_from(plan.before.version).unwrap_or(i64::MAX)),
        order,
        order_made: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(attrs: &[(String, AttributeValue)]) -> Item {
        attrs.iter().cloned().collect()
    }

    #[test]
    fn a_marker_is_found_under_its_name_or_the_one_before_it() {
        let sale = SaleId::parse("s-1", "sale_id").unwrap();
        let other = SaleId::parse("s-2", "sale_id").unwrap();
        let [mark, pos] = mark_attrs_of(&mark_key(&sale));
        let (closed, open) = (ReplenishmentId::generate(), ReplenishmentId::generate());
        let written = |order: &ReplenishmentId| {
            Some(LineWrite::Written {
                on_hand_after: -3,
                order: Some(order.clone()),
                pos: Some(7),
                opened: false,
                order_made: false,
            })
        };
        // Written into the order open now.
        let now = item(&[
            (mark.clone(), n(-3)),
            (pos.clone(), n(7)),
            (ON_HAND.to_owned(), n(-3)),
            (OPEN_RID.to_owned(), s(open.as_str())),
        ]);
        assert_eq!(marked(&sale, &now).unwrap(), written(&open));
        // Written into an order that closed since (at version 9), before the open one opened.
        let mut since = now.clone();
        since.insert(closed_version_attr(closed.as_str()), n(9));
        assert_eq!(marked(&sale, &since).unwrap(), written(&closed));
        // A marker with no order open at its place is a malformed item, not a guess.
        let mut lost = now.clone();
        lost.remove(OPEN_RID);
        assert!(marked(&sale, &lost).is_err());
        // The names markers had before name their order.
        let [old_mark, old_order, old_pos] = legacy_mark_attrs(&sale);
        let before = item(&[
            (old_mark, n(-3)),
            (old_order, s(closed.as_str())),
            (old_pos, n(7)),
        ]);
        assert_eq!(marked(&sale, &before).unwrap(), written(&closed));
        for it in [&now, &since, &before] {
            assert_eq!(marked(&other, it).unwrap(), None, "another sale's marker");
        }
    }

    #[test]
    fn a_line_write_removes_the_settled_sales_markers_and_guards_both_names() {
        let sale = SaleId::parse("s-1", "sale_id").unwrap();
        let state = crate::domain::SkuState {
            on_hand: 5,
            version: 3,
            policy: crate::domain::BackorderPolicy::Backorder,
            vendor_id: None,
            open_order: None,
            pack_size: None,
            backorder_limit: None,
        };
        let line = crate::domain::SaleLine {
            sku: crate::ids::Sku::parse("X", "sku").unwrap(),
            quantity: 1,
        };
        let plan = crate::domain::plan_line(&line, &state, true, ReplenishmentId::generate);
        let settled = vec![mark_key(&SaleId::parse("s-0", "sale_id").unwrap())];
        let u = line_update(&sale, &plan, &ReplenishmentId::generate(), false, &settled);
        assert!(u.update.contains(" REMOVE #r0_0, #r0_1 "), "{}", u.update);
        let names: std::collections::HashMap<_, _> = u.names.into_iter().collect();
        assert_eq!(names["#r0_0"], mark_attrs_of(&settled[0])[0]);
        assert_eq!(names["#lm"], legacy_mark_attrs(&sale)[0]);
        assert!(u.condition.contains("attribute_not_exists(#sm)"));
        assert!(u.condition.contains("attribute_not_exists(#lm)"));
        let plain = line_update(&sale, &plan, &ReplenishmentId::generate(), false, &[]);
        assert!(!plain.update.contains("REMOVE"), "{}", plain.update);
    }
}
