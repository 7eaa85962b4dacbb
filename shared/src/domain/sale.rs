//! A sale: its request, the quantity rule, how each line is planned, and the answer it gets.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::policy::BackorderPolicy;
use super::release::StockStatus;
use crate::ids::{ReplenishmentId, SaleId, Sku, VendorId};

/// Largest quantity of one sale line.
pub const MAX_LINE_QUANTITY: i64 = 1_000_000;
/// Most lines one sale may have. Up to 49 distinct SKUs are written in one DynamoDB transaction,
/// larger sales in several (see `service::finalize_sale`).
pub const MAX_SALE_LINES: usize = 1000;

/// Units of a sale of `quantity` that stock `on_hand_before` does not cover:
/// `max(0, quantity - max(0, on_hand_before))`.
pub fn uncovered(on_hand_before: i64, quantity: i64) -> i64 {
    (quantity - on_hand_before.max(0)).max(0)
}

/// One line of a sale as the caller sent it (already validated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleLine {
    pub sku: Sku,
    pub quantity: i64,
}

/// A validated request to finalize a sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleRequest {
    pub customer: Option<String>,
    pub channel: Option<String>,
    pub lines: Vec<SaleLine>,
}

impl SaleRequest {
    /// Lines with the same SKU summed, in the order each SKU first appears.
    pub fn merged_lines(&self) -> Vec<SaleLine> {
        let mut index: HashMap<&Sku, usize> = HashMap::with_capacity(self.lines.len());
        let mut merged: Vec<SaleLine> = Vec::with_capacity(self.lines.len());
        for line in &self.lines {
            match index.get(&line.sku) {
                Some(&i) => merged[i].quantity += line.quantity,
                None => {
                    index.insert(&line.sku, merged.len());
                    merged.push(line.clone());
                }
            }
        }
        merged
    }

    /// A digest of what the sale means: customer, channel and the merged lines in SKU order. Two
    /// requests with the same fingerprint finalize to the same result; a `sale_id` reused with
    /// another fingerprint is a conflict.
    pub fn fingerprint(&self) -> String {
        let mut lines = self.merged_lines();
        lines.sort_by(|a, b| a.sku.cmp(&b.sku));
        let canonical = serde_json::json!({
            "customer": self.customer,
            "channel": self.channel,
            "lines": lines.iter().map(|l| (l.sku.as_str(), l.quantity)).collect::<Vec<_>>(),
        });
        super::fingerprint(&canonical)
    }
}

/// What the store knows of a SKU when a sale is planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkuState {
    pub on_hand: i64,
    /// Bumped by every write to the SKU; a sale commits only if it is unchanged.
    pub version: u64,
    pub policy: BackorderPolicy,
    pub vendor_id: Option<VendorId>,
    /// The SKU's single open auto-back-order order, if any.
    pub open_order: Option<ReplenishmentId>,
    /// Units per case, overriding its vendor's (`None`: the vendor's).
    pub pack_size: Option<i64>,
    /// How far below zero sales may take its stock (`None`: no limit).
    pub backorder_limit: Option<i64>,
}

/// What a sale does to the SKU's open auto-back-order order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderAction {
    /// Nothing uncovered (or back-ordering is off for this SKU).
    None,
    /// Add the uncovered units to the open order.
    AddTo(ReplenishmentId),
    /// No order is open: open one with the uncovered units.
    Open(ReplenishmentId),
}

impl OrderAction {
    pub fn order_id(&self) -> Option<&ReplenishmentId> {
        match self {
            OrderAction::None => None,
            OrderAction::AddTo(id) | OrderAction::Open(id) => Some(id),
        }
    }
}

/// The effect of one (merged) sale line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinePlan {
    pub sku: Sku,
    pub quantity: i64,
    pub before: SkuState,
    pub on_hand_after: i64,
    pub backordered: i64,
    pub order: OrderAction,
    /// Back-ordering is on for this line's SKU (its uncovered units go to an order).
    pub backorders: bool,
    /// The back-order limit the line is held to: its stock may not go below `-limit`
    /// (`None`: not held to one).
    pub limit: Option<i64>,
}

impl LinePlan {
    /// Whether the line would take its SKU below its back-order limit: then the units the SKU can
    /// still sell (`on_hand + limit`, at least 0).
    pub fn refused(&self) -> Option<i64> {
        let limit = self.limit?;
        (self.on_hand_after < -limit).then(|| (self.before.on_hand + limit).max(0))
    }
}

/// Plans one merged line: the new stock level, the uncovered units and where they go.
/// `new_order_id` is called only when an order must be opened.
pub fn plan_line(
    line: &SaleLine,
    state: &SkuState,
    backorder_effective: bool,
    new_order_id: impl FnOnce() -> ReplenishmentId,
) -> LinePlan {
    let backordered = if backorder_effective {
        uncovered(state.on_hand, line.quantity)
    } else {
        0
    };
    let order = match (&state.open_order, backordered > 0) {
        (_, false) => OrderAction::None,
        (Some(open), true) => OrderAction::AddTo(open.clone()),
        (None, true) => OrderAction::Open(new_order_id()),
    };
    LinePlan {
        sku: line.sku.clone(),
        quantity: line.quantity,
        before: state.clone(),
        on_hand_after: state.on_hand - line.quantity,
        backordered,
        order,
        backorders: backorder_effective,
        limit: state.backorder_limit,
    }
}

/// The lifecycle of a sale record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SaleStatus {
    /// A sale in parts with some parts still to apply (a redelivery completes it).
    Finalizing,
    Finalized,
    /// A cancellation in parts with some parts still to apply (a repeated cancel completes it).
    Cancelling,
    Cancelled,
}

impl SaleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SaleStatus::Finalizing => "finalizing",
            SaleStatus::Finalized => "finalized",
            SaleStatus::Cancelling => "cancelling",
            SaleStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            SaleStatus::Finalizing,
            SaleStatus::Finalized,
            SaleStatus::Cancelling,
            SaleStatus::Cancelled,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// One line of a finalized sale's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleLineResult {
    pub sku: String,
    pub quantity: i64,
    pub on_hand_after: i64,
    pub backordered: i64,
    pub replenishment_id: Option<String>,
    /// Back-ordered units still waiting on their order (`backordered` at finalize, 0 once the
    /// sale is cancelled).
    #[serde(default)]
    pub awaiting: i64,
    /// Back-ordered units whose stock has arrived (received on their order, released to this
    /// sale oldest sale first).
    #[serde(default)]
    pub released: i64,
    /// When the line's order is expected: its `closed_at` plus the vendor's lead time (`null`
    /// while it is open, or without a lead time).
    #[serde(default)]
    pub expected_at: Option<String>,
}

impl SaleLineResult {
    /// A line as finalized: its back-ordered units all wait, none released yet.
    pub fn new(
        sku: String,
        quantity: i64,
        on_hand_after: i64,
        backordered: i64,
        replenishment_id: Option<String>,
    ) -> Self {
        SaleLineResult {
            sku,
            quantity,
            on_hand_after,
            backordered,
            replenishment_id,
            awaiting: backordered,
            released: 0,
            expected_at: None,
        }
    }
}

/// Where the fulfillment of a sale stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FulfillmentStatus {
    /// The sale is still being finalized (a sale in parts).
    Pending,
    Raised,
}

/// The fulfillment a finalized sale raises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fulfillment {
    pub fulfillment_id: String,
    pub status: FulfillmentStatus,
    /// `ready` when no line awaits units, else `awaiting_stock`.
    #[serde(default)]
    pub stock_status: StockStatus,
}

/// The response to finalizing a sale, stored with the sale and replayed verbatim on a retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleResult {
    pub sale_id: String,
    pub status: SaleStatus,
    pub customer: Option<String>,
    pub channel: Option<String>,
    pub fulfillment: Fulfillment,
    pub lines: Vec<SaleLineResult>,
}

impl SaleResult {
    /// The result of a sale planned as `plans`.
    pub fn finalized(
        sale_id: &SaleId,
        request: &SaleRequest,
        fulfillment_id: String,
        plans: &[LinePlan],
    ) -> Self {
        SaleResult {
            sale_id: sale_id.to_string(),
            status: SaleStatus::Finalized,
            customer: request.customer.clone(),
            channel: request.channel.clone(),
            fulfillment: Fulfillment {
                fulfillment_id,
                status: FulfillmentStatus::Raised,
                stock_status: StockStatus::of(plans.iter().map(|p| p.backordered)),
            },
            lines: plans
                .iter()
                .map(|p| {
                    SaleLineResult::new(
                        p.sku.to_string(),
                        p.quantity,
                        p.on_hand_after,
                        p.backordered,
                        p.order.order_id().map(ToString::to_string),
                    )
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sku(s: &str) -> Sku {
        Sku::parse(s, "sku").unwrap()
    }

    fn state(on_hand: i64, open: Option<&str>) -> SkuState {
        SkuState {
            on_hand,
            version: 1,
            policy: BackorderPolicy::Backorder,
            vendor_id: None,
            open_order: open.map(|o| ReplenishmentId::parse(o, "id").unwrap()),
            pack_size: None,
            backorder_limit: None,
        }
    }

    #[test]
    fn uncovered_matches_the_examples() {
        assert_eq!(uncovered(2, 5), 3); // on_hand 2, sale 5 -> -3, +3
        assert_eq!(uncovered(-3, 2), 2); // on_hand -3, sale 2 -> -5, +2
        assert_eq!(uncovered(10, 2), 0); // on_hand 10, sale 2 -> 8, nothing
    }

    #[test]
    fn uncovered_edges() {
        assert_eq!(uncovered(0, 1), 1);
        assert_eq!(uncovered(5, 5), 0);
        assert_eq!(uncovered(4, 5), 1);
        assert_eq!(uncovered(6, 5), 0);
        assert_eq!(uncovered(i64::from(i32::MIN), 1), 1);
        assert_eq!(uncovered(0, MAX_LINE_QUANTITY), MAX_LINE_QUANTITY);
    }

    /// Sale lines of (SKU, quantity).
    fn lines(of: &[(&str, i64)]) -> Vec<SaleLine> {
        of.iter()
            .map(|&(s, quantity)| SaleLine {
                sku: sku(s),
                quantity,
            })
            .collect()
    }

    #[test]
    fn duplicate_lines_merge_in_first_appearance_order() {
        let req = SaleRequest {
            customer: None,
            channel: None,
            lines: lines(&[("B", 1), ("A", 2), ("B", 3)]),
        };
        assert_eq!(req.merged_lines(), lines(&[("B", 4), ("A", 2)]));
    }

    #[test]
    fn fingerprint_ignores_line_order_and_splitting_but_not_content() {
        let a = SaleRequest {
            customer: Some("c".into()),
            channel: None,
            lines: lines(&[("A", 2), ("B", 1)]),
        };
        let b = SaleRequest {
            lines: lines(&[("B", 1), ("A", 1), ("A", 1)]),
            ..a.clone()
        };
        assert_eq!(a.fingerprint(), b.fingerprint());
        let c = SaleRequest {
            customer: Some("d".into()),
            ..a.clone()
        };
        assert_ne!(a.fingerprint(), c.fingerprint());
        let d = SaleRequest {
            lines: lines(&[("A", 3)]),
            ..a.clone()
        };
        assert_ne!(a.fingerprint(), d.fingerprint());
    }

    #[test]
    fn a_line_past_the_back_order_limit_is_refused_with_what_is_left() {
        let line = SaleLine {
            sku: sku("A"),
            quantity: 3,
        };
        let limited = |on_hand: i64, limit: Option<i64>| SkuState {
            backorder_limit: limit,
            ..state(on_hand, None)
        };
        let refused = |on_hand, limit| {
            plan_line(&line, &limited(on_hand, limit), true, || {
                ReplenishmentId::parse("NEW", "id").unwrap()
            })
            .refused()
        };
        // Limit 5: down to -5 is fine, -6 is not.
        assert_eq!(refused(2, Some(5)), None);
        assert_eq!(refused(-2, Some(5)), None);
        assert_eq!(refused(-3, Some(5)), Some(2));
        assert_eq!(refused(-5, Some(5)), Some(0));
        // Below the limit already (it was lowered): nothing left.
        assert_eq!(refused(-9, Some(5)), Some(0));
        // Limit 0: only what is in stock.
        assert_eq!(refused(3, Some(0)), None);
        assert_eq!(refused(2, Some(0)), Some(2));
        assert_eq!(refused(-50, None), None);
    }

    #[test]
    fn plan_opens_adds_or_leaves_alone() {
        let line = SaleLine {
            sku: sku("A"),
            quantity: 5,
        };
        let new_id = || ReplenishmentId::parse("NEW", "id").unwrap();

        let p = plan_line(&line, &state(2, None), true, new_id);
        assert_eq!((p.on_hand_after, p.backordered), (-3, 3));
        assert_eq!(
            p.order,
            OrderAction::Open(ReplenishmentId::parse("NEW", "id").unwrap())
        );

        let p = plan_line(&line, &state(-3, Some("R1")), true, || {
            panic!("must not open")
        });
        assert_eq!((p.on_hand_after, p.backordered), (-8, 5));
        assert_eq!(
            p.order,
            OrderAction::AddTo(ReplenishmentId::parse("R1", "id").unwrap())
        );

        let p = plan_line(&line, &state(10, Some("R1")), true, || {
            panic!("must not open")
        });
        assert_eq!(
            (p.on_hand_after, p.backordered, p.order),
            (5, 0, OrderAction::None)
        );

        let p = plan_line(&line, &state(-3, None), false, || panic!("must not open"));
        assert_eq!(
            (p.on_hand_after, p.backordered, p.order),
            (-8, 0, OrderAction::None)
        );
    }

    proptest! {
        /// A line is refused exactly when it would take the stock below -limit, and what it is
        /// told is left can be sold.
        #[test]
        fn the_limit_refuses_exactly_past_the_floor(
            on_hand in -100i64..100, q in 1i64..50, limit in 0i64..60,
        ) {
            let line = SaleLine { sku: sku("A"), quantity: q };
            let st = SkuState { backorder_limit: Some(limit), ..state(on_hand, None) };
            let plan = plan_line(&line, &st, true, || ReplenishmentId::parse("N", "id").unwrap());
            prop_assert_eq!(plan.refused().is_some(), on_hand - q < -limit);
            if let Some(left) = plan.refused() {
                prop_assert!(left < q);
                prop_assert!(left == 0 || on_hand - left >= -limit);
            }
        }

        /// Over any sequence of sales from any start, the units back-ordered add up to
        /// max(0, -final) - max(0, -initial): the telescoping total, whatever the order.
        #[test]
        fn backorders_telescope(initial in -1000i64..1000, sales in proptest::collection::vec(1i64..=500, 0..50)) {
            let mut on_hand = initial;
            let mut total = 0;
            for q in &sales {
                let u = uncovered(on_hand, *q);
                prop_assert!(u >= 0 && u <= *q);
                total += u;
                on_hand -= q;
            }
            prop_assert_eq!(total, (-on_hand).max(0) - (-initial).max(0));
        }

        #[test]
        fn merge_preserves_total_units(qs in proptest::collection::vec((0usize..5, 1i64..=MAX_LINE_QUANTITY), 1..40)) {
            let lines: Vec<SaleLine> = qs.iter().map(|(s, q)| SaleLine { sku: sku(&s.to_string()), quantity: *q }).collect();
            let req = SaleRequest { customer: None, channel: None, lines };
            let merged = req.merged_lines();
            prop_assert_eq!(merged.iter().map(|l| l.quantity).sum::<i64>(), qs.iter().map(|(_, q)| q).sum::<i64>());
            let mut skus: Vec<_> = merged.iter().map(|l| l.sku.clone()).collect();
            skus.dedup();
            skus.sort();
            skus.dedup();
            prop_assert_eq!(skus.len(), merged.len());
        }
    }
}
