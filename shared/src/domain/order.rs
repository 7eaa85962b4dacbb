//! A replenishment order and its receipts.

use serde::{Deserialize, Serialize};

use crate::ids::{RequestId, Sku, VendorId};

/// The tag every automatically raised order carries.
pub const AUTO_BACKORDER_TAG: &str = "auto_backorder";

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
    pub replenishment_id: String,
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
    /// `closed_at` plus the vendor's lead time at close (none while open, or without one).
    pub expected_at: Option<String>,
    /// The units ordered from the vendor: `quantity` rounded up to whole packs and to the
    /// vendor's minimum when the order closes ([`ordered_quantity`]); a regular order's own
    /// quantity. `None` while an auto-back-order order is open (not decided yet).
    pub ordered_quantity: Option<i64>,
    /// `ordered_quantity - quantity`: the units ordered beyond what sales are owed, for stock.
    pub surplus: Option<i64>,
}

/// Largest pack size (units per case) a vendor or SKU may set.
pub const MAX_PACK_SIZE: i64 = 10_000;
/// Largest minimum order a vendor may set, in units.
pub const MAX_MIN_ORDER_UNITS: i64 = 1_000_000;
/// Largest back-order limit a SKU may set, in units.
pub const MAX_BACKORDER_LIMIT: i64 = 1_000_000_000;

/// The units an order of `quantity` (owed to sales) asks of its vendor: the smallest multiple of
/// `pack_size` that is at least `max(quantity, min_order_units)`. An order that owes nothing
/// (every sale cancelled) orders nothing. `pack_size` below 1 is taken as 1.
pub fn ordered_quantity(quantity: i64, pack_size: i64, min_order_units: i64) -> i64 {
    if quantity <= 0 {
        return 0;
    }
    let pack = pack_size.max(1);
    let wanted = quantity.max(min_order_units);
    wanted.div_euclid(pack) * pack + if wanted % pack == 0 { 0 } else { pack }
}

impl Replenishment {
    /// The units a receipt fills: the ordered quantity, or the quantity where none was set.
    pub fn to_fill(&self) -> i64 {
        self.ordered_quantity.unwrap_or(self.quantity)
    }

    /// Sets the ordered quantity (and so the surplus), and the receipt status judged against it.
    pub fn with_ordered(mut self, ordered: Option<i64>) -> Self {
        self.ordered_quantity = ordered;
        self.surplus = ordered.map(|o| o - self.quantity);
        self
    }

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
    let outstanding = (order.to_fill() - order.received).max(0);
    if quantity > outstanding && !allow_over_receipt {
        return Err(ReceiptRefusal::OverReceipt { outstanding });
    }
    let received = order.received + quantity;
    Ok((received, ReceiptStatus::of(order.to_fill(), received)))
}

/// A request to create a regular (manual) order, validated.
#[derive(Debug, Clone)]
pub struct NewRegularOrder {
    pub sku: Sku,
    pub vendor_id: Option<VendorId>,
    pub quantity: i64,
    /// The caller's idempotency key, if any.
    pub request_id: Option<RequestId>,
}

impl NewRegularOrder {
    /// What the request means: a `request_id` reused with another fingerprint is a conflict.
    pub fn fingerprint(&self) -> String {
        super::fingerprint(&serde_json::json!([
            self.sku.as_str(),
            self.vendor_id.as_ref().map(VendorId::as_str),
            self.quantity
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
            expected_at: None,
            ordered_quantity: None,
            surplus: None,
        }
    }

    #[test]
    fn ordered_quantities_on_examples() {
        // 7 owed, cases of 6: 12 ordered.
        assert_eq!(ordered_quantity(7, 6, 0), 12);
        assert_eq!(ordered_quantity(12, 6, 0), 12);
        // The minimum first, then the case.
        assert_eq!(ordered_quantity(3, 1, 10), 10);
        assert_eq!(ordered_quantity(3, 4, 10), 12);
        assert_eq!(ordered_quantity(15, 4, 10), 16);
        // Nothing owed: nothing ordered, whatever the minimum.
        assert_eq!(ordered_quantity(0, 6, 10), 0);
    }

    #[test]
    fn receipts_count_against_the_ordered_quantity() {
        // 7 owed, 12 ordered: 7 received is partial, 12 received, more is over-receipt.
        let o = order(OrderStatus::Closed, 7, 0).with_ordered(Some(12));
        assert_eq!(o.surplus, Some(5));
        assert_eq!(
            receive(&o, 7, false),
            Ok((7, ReceiptStatus::PartiallyReceived))
        );
        assert_eq!(receive(&o, 12, false), Ok((12, ReceiptStatus::Received)));
        assert_eq!(
            receive(&o, 13, false),
            Err(ReceiptRefusal::OverReceipt { outstanding: 12 })
        );
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

    proptest! {
        /// The ordered quantity is whole packs, covers what is owed and the minimum, and is the
        /// smallest such number.
        #[test]
        fn ordered_is_the_smallest_whole_pack_count_covering_quantity_and_minimum(
            q in 1i64..10_000, pack in 1i64..500, min in 0i64..5_000,
        ) {
            let o = ordered_quantity(q, pack, min);
            prop_assert_eq!(o % pack, 0);
            prop_assert!(o >= q && o >= min);
            prop_assert!(o - pack < q.max(min));
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
