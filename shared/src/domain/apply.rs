//! A sale line written to its SKU item alone: the condition under which the planned back-ordered
//! units stay right however many other sales write the SKU meanwhile, and what a marked line did.
//!
//! A line planned from a level `h` back-orders `uncovered(h, q)` units. That number is the same
//! for every level in a range, so the write is conditioned on the range, not on the exact level:
//! a covered line (`h >= q`) on `on_hand >= q`, a short SKU (`h <= 0`) on `on_hand <= 0`, and only
//! a line that crosses zero (`0 < h < q`) on the exact level. A short SKU stays short for every
//! concurrent seller, so a flash sale's writes all succeed first time.

use super::sale::{uncovered, LinePlan, SaleLineResult};

/// The range of stock levels a line's write is conditioned on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelGuard {
    /// Back-ordering is off for the SKU: no level changes what the line does.
    Any,
    /// `on_hand >= quantity`: stock covers the line, nothing back-ordered.
    Covered,
    /// `on_hand <= 0`: the SKU is short, every unit back-ordered.
    Short,
    /// `on_hand = h` with `0 < h < quantity`: `quantity - h` units back-ordered.
    Crossing(i64),
}

impl LevelGuard {
    /// Whether a level satisfies the guard.
    pub fn holds(self, on_hand: i64, quantity: i64) -> bool {
        match self {
            LevelGuard::Any => true,
            LevelGuard::Covered => on_hand >= quantity,
            LevelGuard::Short => on_hand <= 0,
            LevelGuard::Crossing(h) => on_hand == h,
        }
    }
}

/// The guard of a planned line: the widest range of levels in which its back-ordered units are
/// the ones planned.
pub fn level_guard(plan: &LinePlan) -> LevelGuard {
    let (h, q) = (plan.before.on_hand, plan.quantity);
    if !plan.backorders {
        LevelGuard::Any
    } else if h >= q {
        LevelGuard::Covered
    } else if h <= 0 {
        LevelGuard::Short
    } else {
        LevelGuard::Crossing(h)
    }
}

/// What a line did, from its marker: the level right after it and the order its units went into
/// (none when nothing was back-ordered or back-ordering was off). Its back-ordered units follow
/// from the level before it, `on_hand_after + quantity`.
pub fn marked_line(
    sku: &str,
    quantity: i64,
    on_hand_after: i64,
    order: Option<&str>,
) -> SaleLineResult {
    SaleLineResult::new(
        sku.to_owned(),
        quantity,
        on_hand_after,
        order.map_or(0, |_| uncovered(on_hand_after + quantity, quantity)),
        order.map(str::to_owned),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{plan_line, BackorderPolicy, OrderAction, SaleLine, SkuState};
    use crate::ids::{ReplenishmentId, Sku};
    use proptest::prelude::*;

    fn plan(on_hand: i64, quantity: i64, backorders: bool) -> LinePlan {
        let state = SkuState {
            on_hand,
            version: 1,
            policy: BackorderPolicy::Backorder,
            vendor_id: None,
            open_order: None,
            pack_size: None,
            backorder_limit: None,
        };
        let line = SaleLine {
            sku: Sku::parse("A", "sku").unwrap(),
            quantity,
        };
        plan_line(&line, &state, backorders, || {
            ReplenishmentId::parse("01HZZZZZZZZZZZZZZZZZZZZZZZ", "id").unwrap()
        })
    }

    #[test]
    fn guards_on_examples() {
        assert_eq!(level_guard(&plan(10, 3, true)), LevelGuard::Covered);
        assert_eq!(level_guard(&plan(3, 3, true)), LevelGuard::Covered);
        assert_eq!(level_guard(&plan(0, 3, true)), LevelGuard::Short);
        assert_eq!(level_guard(&plan(-7, 3, true)), LevelGuard::Short);
        assert_eq!(level_guard(&plan(2, 3, true)), LevelGuard::Crossing(2));
        assert_eq!(level_guard(&plan(-7, 3, false)), LevelGuard::Any);
    }

    #[test]
    fn a_marker_tells_what_the_line_did() {
        // 5 sold from 2: 3 back-ordered into the order.
        let line = marked_line("A", 5, -3, Some("R"));
        assert_eq!((line.backordered, line.on_hand_after), (3, -3));
        // Sold from stock: nothing back-ordered, no order.
        assert_eq!(marked_line("A", 5, 4, None).backordered, 0);
        // Already short: every unit.
        assert_eq!(marked_line("A", 5, -12, Some("R")).backordered, 5);
    }

    proptest! {
        /// Whatever level the write meets, if the guard holds there the line back-orders exactly
        /// what the quantity rule gives from that level, and what it planned.
        #[test]
        fn a_guarded_write_follows_the_rule(
            seen in -50i64..50, actual in -50i64..50, q in 1i64..20, backorders: bool,
        ) {
            let p = plan(seen, q, backorders);
            let guard = level_guard(&p);
            prop_assert!(guard.holds(seen, q));
            if guard.holds(actual, q) {
                let rule = if backorders { uncovered(actual, q) } else { 0 };
                prop_assert_eq!(p.backordered, rule);
                let order = match &p.order {
                    OrderAction::None => None,
                    OrderAction::AddTo(r) | OrderAction::Open(r) => Some(r.as_str()),
                };
                let marked = marked_line("A", q, actual - q, order);
                prop_assert_eq!(marked.backordered, rule);
            }
        }
    }
}
