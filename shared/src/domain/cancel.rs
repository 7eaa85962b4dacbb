//! Cancelling a finalized sale: what each line gives back, and what stays in closed orders.

use serde::{Deserialize, Serialize};

use super::sale::{SaleLineResult, SaleStatus};

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
    pub status: SaleStatus,
    pub cancelled_at: String,
    /// Units that stayed in orders already closed, summed over the lines.
    pub not_taken_back: i64,
    pub lines: Vec<CancelLine>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(backordered: i64, rid: Option<&str>) -> SaleLineResult {
        SaleLineResult::new("A".into(), 5, -3, backordered, rid.map(str::to_owned))
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
    }
}
