//! The rules of back-ordering, as pure functions on plain types. No I/O here.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::{ReplenishmentId, SaleId, Sku, VendorId};

/// Largest quantity of one sale line.
pub const MAX_LINE_QUANTITY: i64 = 1_000_000;
/// Most lines one sale may have. Up to 49 distinct SKUs are written in one DynamoDB transaction,
/// larger sales in several (see `service::finalize_sale`).
pub const MAX_SALE_LINES: usize = 1000;
/// The tag every automatically raised order carries.
pub const AUTO_BACKORDER_TAG: &str = "auto_backorder";

/// A SKU's back-order policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BackorderPolicy {
    /// Always back-order this SKU (when the account setting is on).
    Backorder,
    /// Inherit the vendor's `auto_backorder_default`.
    #[default]
    VendorDefault,
    /// Never back-order this SKU.
    Never,
}

impl BackorderPolicy {
    pub const ALL: [BackorderPolicy; 3] = [
        BackorderPolicy::Backorder,
        BackorderPolicy::VendorDefault,
        BackorderPolicy::Never,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BackorderPolicy::Backorder => "backorder",
            BackorderPolicy::VendorDefault => "vendor_default",
            BackorderPolicy::Never => "never",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// Whether finalizing a sale of a SKU raises back-orders for it.
///
/// `vendor_default` is the SKU's vendor's `auto_backorder_default` (false when the SKU has no vendor
/// or the vendor has no settings).
pub fn effective_backorder(
    account_auto_backorder: bool,
    policy: BackorderPolicy,
    vendor_default: bool,
) -> bool {
    account_auto_backorder
        && match policy {
            BackorderPolicy::Backorder => true,
            BackorderPolicy::VendorDefault => vendor_default,
            BackorderPolicy::Never => false,
        }
}

/// Whether deciding `effective_backorder` for this SKU needs its vendor's settings.
pub fn needs_vendor_settings(
    account_auto_backorder: bool,
    policy: BackorderPolicy,
    vendor: Option<&VendorId>,
) -> bool {
    account_auto_backorder && policy == BackorderPolicy::VendorDefault && vendor.is_some()
}

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
        let digest = Sha256::digest(canonical.to_string().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
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
    }
}

/// `status` of a replenishment order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Open,
    Closed,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Open => "open",
            OrderStatus::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(OrderStatus::Open),
            "closed" => Some(OrderStatus::Closed),
            _ => None,
        }
    }
}

/// How much of a (closed) order has been received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptStatus {
    #[default]
    NotReceived,
    PartiallyReceived,
    Received,
}

impl ReceiptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptStatus::NotReceived => "not_received",
            ReceiptStatus::PartiallyReceived => "partially_received",
            ReceiptStatus::Received => "received",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            ReceiptStatus::NotReceived,
            ReceiptStatus::PartiallyReceived,
            ReceiptStatus::Received,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }

    /// The status of an order of `quantity` units of which `received` have arrived.
    pub fn of(quantity: i64, received: i64) -> Self {
        if received <= 0 {
            ReceiptStatus::NotReceived
        } else if received < quantity {
            ReceiptStatus::PartiallyReceived
        } else {
            ReceiptStatus::Received
        }
    }
}

/// A replenishment order, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replenishment {
    pub replenishment_id: ReplenishmentIdString,
    pub sku: String,
    pub vendor_id: Option<String>,
    pub quantity: i64,
    pub status: OrderStatus,
    /// `["auto_backorder"]` for an order raised by sales; empty for a regular (manual) order.
    pub tags: Vec<String>,
    /// Units received so far (only a closed order receives).
    pub received: i64,
    pub receipt_status: ReceiptStatus,
    pub created_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
}

impl Replenishment {
    /// Raised by sales (and merged into by later ones while open), as opposed to a regular order.
    pub fn is_auto_backorder(&self) -> bool {
        self.tags.iter().any(|t| t == AUTO_BACKORDER_TAG)
    }
}

/// Why a receipt cannot be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptRefusal {
    /// Only a closed order receives.
    OrderOpen,
    /// More than was ordered, without `allow_over_receipt`: at most `outstanding` more fit.
    OverReceipt { outstanding: i64 },
}

/// Applies a receipt of `quantity` units to an order: the new `received` and receipt status.
pub fn receive(
    order: &Replenishment,
    quantity: i64,
    allow_over_receipt: bool,
) -> Result<(i64, ReceiptStatus), ReceiptRefusal> {
    if order.status != OrderStatus::Closed {
        return Err(ReceiptRefusal::OrderOpen);
    }
    let outstanding = (order.quantity - order.received).max(0);
    if quantity > outstanding && !allow_over_receipt {
        return Err(ReceiptRefusal::OverReceipt { outstanding });
    }
    let received = order.received + quantity;
    Ok((received, ReceiptStatus::of(order.quantity, received)))
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

/// What the order a sale line fed looks like when the sale is cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FedOrder {
    pub open: bool,
    pub quantity: i64,
}

/// The effect of cancelling one line of a sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelLine {
    pub sku: String,
    /// Units given back to stock: the line's whole quantity.
    pub restored: i64,
    /// The order the line's uncovered units went to, if any.
    pub replenishment_id: Option<String>,
    /// Units the line had back-ordered.
    pub backordered: i64,
    /// Units taken back out of that order (it was still open).
    pub taken_back: i64,
    /// Units left in that order because it was already closed.
    pub not_taken_back: i64,
}

/// Plans the cancellation of one finalized line: all its units go back to stock; the units it
/// back-ordered come out of their order if that order is still open (never below zero), and stay
/// in it if it is closed (or gone).
pub fn plan_cancel_line(line: &SaleLineResult, order: Option<FedOrder>) -> CancelLine {
    let taken_back = match (&line.replenishment_id, order) {
        (Some(_), Some(o)) if o.open => line.backordered.min(o.quantity.max(0)),
        _ => 0,
    };
    CancelLine {
        sku: line.sku.clone(),
        restored: line.quantity,
        replenishment_id: line.replenishment_id.clone(),
        backordered: line.backordered,
        taken_back,
        not_taken_back: line.backordered - taken_back,
    }
}

/// The answer to cancelling a sale, stored with it and replayed on a repeated cancel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelResult {
    pub sale_id: String,
    pub status: String,
    pub cancelled_at: String,
    /// Units that stayed in orders already closed, summed over the lines.
    pub not_taken_back: i64,
    pub lines: Vec<CancelLine>,
}

/// Order ids travel as plain strings in API bodies.
pub type ReplenishmentIdString = String;

/// One line of a finalized sale's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleLineResult {
    pub sku: String,
    pub quantity: i64,
    pub on_hand_after: i64,
    pub backordered: i64,
    pub replenishment_id: Option<String>,
}

/// The fulfillment a finalized sale raises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fulfillment {
    pub fulfillment_id: String,
    pub status: String,
}

/// The response to finalizing a sale, stored with the sale and replayed verbatim on a retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleResult {
    pub sale_id: String,
    pub status: String,
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
            status: "finalized".to_owned(),
            customer: request.customer.clone(),
            channel: request.channel.clone(),
            fulfillment: Fulfillment {
                fulfillment_id,
                status: "raised".to_owned(),
            },
            lines: plans
                .iter()
                .map(|p| SaleLineResult {
                    sku: p.sku.to_string(),
                    quantity: p.quantity,
                    on_hand_after: p.on_hand_after,
                    backordered: p.backordered,
                    replenishment_id: p.order.order_id().map(ToString::to_string),
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

    #[test]
    fn settings_matrix() {
        use BackorderPolicy::*;
        for account in [false, true] {
            for policy in BackorderPolicy::ALL {
                for vendor in [false, true] {
                    let expected =
                        account && (policy == Backorder || (policy == VendorDefault && vendor));
                    assert_eq!(
                        effective_backorder(account, policy, vendor),
                        expected,
                        "{account} {policy:?} {vendor}"
                    );
                }
            }
        }
    }

    #[test]
    fn vendor_settings_are_needed_only_for_vendor_default_with_a_vendor() {
        let v = VendorId::parse("v", "vendor_id").unwrap();
        assert!(needs_vendor_settings(
            true,
            BackorderPolicy::VendorDefault,
            Some(&v)
        ));
        assert!(!needs_vendor_settings(
            false,
            BackorderPolicy::VendorDefault,
            Some(&v)
        ));
        assert!(!needs_vendor_settings(
            true,
            BackorderPolicy::VendorDefault,
            None
        ));
        assert!(!needs_vendor_settings(
            true,
            BackorderPolicy::Backorder,
            Some(&v)
        ));
    }

    #[test]
    fn duplicate_lines_merge_in_first_appearance_order() {
        let req = SaleRequest {
            customer: None,
            channel: None,
            lines: vec![
                SaleLine {
                    sku: sku("B"),
                    quantity: 1,
                },
                SaleLine {
                    sku: sku("A"),
                    quantity: 2,
                },
                SaleLine {
                    sku: sku("B"),
                    quantity: 3,
                },
            ],
        };
        assert_eq!(
            req.merged_lines(),
            vec![
                SaleLine {
                    sku: sku("B"),
                    quantity: 4
                },
                SaleLine {
                    sku: sku("A"),
                    quantity: 2
                }
            ]
        );
    }

    #[test]
    fn fingerprint_ignores_line_order_and_splitting_but_not_content() {
        let a = SaleRequest {
            customer: Some("c".into()),
            channel: None,
            lines: vec![
                SaleLine {
                    sku: sku("A"),
                    quantity: 2,
                },
                SaleLine {
                    sku: sku("B"),
                    quantity: 1,
                },
            ],
        };
        let b = SaleRequest {
            lines: vec![
                SaleLine {
                    sku: sku("B"),
                    quantity: 1,
                },
                SaleLine {
                    sku: sku("A"),
                    quantity: 1,
                },
                SaleLine {
                    sku: sku("A"),
                    quantity: 1,
                },
            ],
            ..a.clone()
        };
        assert_eq!(a.fingerprint(), b.fingerprint());
        let c = SaleRequest {
            customer: Some("d".into()),
            ..a.clone()
        };
        assert_ne!(a.fingerprint(), c.fingerprint());
        let d = SaleRequest {
            lines: vec![SaleLine {
                sku: sku("A"),
                quantity: 3,
            }],
            ..a.clone()
        };
        assert_ne!(a.fingerprint(), d.fingerprint());
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

    fn order(status: OrderStatus, quantity: i64, received: i64) -> Replenishment {
        Replenishment {
            replenishment_id: "R".into(),
            sku: "A".into(),
            vendor_id: None,
            quantity,
            status,
            tags: vec![],
            received,
            receipt_status: ReceiptStatus::of(quantity, received),
            created_at: String::new(),
            updated_at: String::new(),
            closed_at: None,
        }
    }

    #[test]
    fn receipts_move_the_status_and_refuse_over_receipt() {
        let closed = order(OrderStatus::Closed, 10, 0);
        assert_eq!(
            receive(&closed, 4, false),
            Ok((4, ReceiptStatus::PartiallyReceived))
        );
        assert_eq!(
            receive(&closed, 10, false),
            Ok((10, ReceiptStatus::Received))
        );
        assert_eq!(
            receive(&closed, 11, false),
            Err(ReceiptRefusal::OverReceipt { outstanding: 10 })
        );
        assert_eq!(
            receive(&closed, 11, true),
            Ok((11, ReceiptStatus::Received))
        );
        let part = order(OrderStatus::Closed, 10, 7);
        assert_eq!(
            receive(&part, 4, false),
            Err(ReceiptRefusal::OverReceipt { outstanding: 3 })
        );
        assert_eq!(receive(&part, 3, false), Ok((10, ReceiptStatus::Received)));
        assert_eq!(
            receive(&order(OrderStatus::Open, 10, 0), 1, true),
            Err(ReceiptRefusal::OrderOpen)
        );
        // Over-received already: nothing is outstanding.
        assert_eq!(
            receive(&order(OrderStatus::Closed, 5, 8), 1, false),
            Err(ReceiptRefusal::OverReceipt { outstanding: 0 })
        );
    }

    #[test]
    fn receipt_status_of() {
        assert_eq!(ReceiptStatus::of(5, 0), ReceiptStatus::NotReceived);
        assert_eq!(ReceiptStatus::of(5, 1), ReceiptStatus::PartiallyReceived);
        assert_eq!(ReceiptStatus::of(5, 5), ReceiptStatus::Received);
        assert_eq!(ReceiptStatus::of(5, 9), ReceiptStatus::Received);
        assert_eq!(ReceiptStatus::of(0, 0), ReceiptStatus::NotReceived);
        for s in [
            ReceiptStatus::NotReceived,
            ReceiptStatus::PartiallyReceived,
            ReceiptStatus::Received,
        ] {
            assert_eq!(ReceiptStatus::parse(s.as_str()), Some(s));
        }
    }

    fn line(backordered: i64, rid: Option<&str>) -> SaleLineResult {
        SaleLineResult {
            sku: "A".into(),
            quantity: 5,
            on_hand_after: -3,
            backordered,
            replenishment_id: rid.map(str::to_owned),
        }
    }

    #[test]
    fn cancelling_takes_back_from_open_orders_only() {
        let open = Some(FedOrder {
            open: true,
            quantity: 7,
        });
        let c = plan_cancel_line(&line(3, Some("R")), open);
        assert_eq!((c.restored, c.taken_back, c.not_taken_back), (5, 3, 0));
        let closed = Some(FedOrder {
            open: false,
            quantity: 7,
        });
        let c = plan_cancel_line(&line(3, Some("R")), closed);
        assert_eq!((c.restored, c.taken_back, c.not_taken_back), (5, 0, 3));
        // Never below zero.
        let low = Some(FedOrder {
            open: true,
            quantity: 2,
        });
        let c = plan_cancel_line(&line(3, Some("R")), low);
        assert_eq!((c.taken_back, c.not_taken_back), (2, 1));
        // Nothing back-ordered: stock only.
        let c = plan_cancel_line(&line(0, None), None);
        assert_eq!((c.restored, c.taken_back, c.not_taken_back), (5, 0, 0));
        // The order is gone: nothing to take back from.
        let c = plan_cancel_line(&line(3, Some("R")), None);
        assert_eq!((c.taken_back, c.not_taken_back), (0, 3));
    }

    proptest! {
        #[test]
        fn cancel_conserves_units(backordered in 0i64..100, q in -5i64..200, open in any::<bool>()) {
            let c = plan_cancel_line(&line(backordered, Some("R")), Some(FedOrder { open, quantity: q }));
            prop_assert_eq!(c.taken_back + c.not_taken_back, backordered);
            prop_assert!(c.taken_back >= 0 && c.taken_back <= q.max(0));
        }

        #[test]
        fn receipts_never_exceed_without_permission(q in 0i64..100, r in 0i64..100, n in 1i64..200) {
            let o = order(OrderStatus::Closed, q, r);
            if let Ok((after, _)) = receive(&o, n, false) {
                prop_assert!(after <= q.max(r));
                prop_assert_eq!(after, r + n);
            }
        }
    }
}
