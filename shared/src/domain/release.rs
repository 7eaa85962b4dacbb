//! Releasing an order's received units to the sales waiting on them: first come, first served.
//!
//! A closed auto-back-order order owes its units to the sales that fed it, in the order their
//! lines were written to the SKU (`pos`, the SKU's version when the line landed). Units received
//! serve the oldest live sale first, a sale partly when they do not cover it all; a cancelled
//! sale is owed nothing, so its units serve the next one; units beyond what is owed go to stock.
//! The rule is a pure function of the order's `received` and its live claims, so whoever computes
//! it (the receipt, a cancellation, the stream) computes the same thing, and since it only grows
//! (with `received`, and as claims are cancelled) every write of it is "raise to at least".

use serde::{Deserialize, Serialize};

/// One sale's claim on an order's units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub sale_id: String,
    /// Where the sale's line landed among the SKU's writes: the order of service.
    pub pos: i64,
    /// Units the sale's line put into the order.
    pub units: i64,
    /// Units taken back out of the order when the sale was cancelled while it was open.
    pub taken_back: i64,
    /// The sale is cancelled: owed nothing.
    pub cancelled: bool,
    /// Units released to it so far, as stored.
    pub released: i64,
}

impl Claim {
    /// Units of the order's quantity this claim accounts for (its units, less any taken back).
    pub fn in_quantity(&self) -> i64 {
        (self.units - self.taken_back).max(0)
    }
}

/// Units released to each claim (in the order given) when the order has received `received`
/// units: the live claims in `pos` order (then sale id), each up to its units, until the
/// received units run out. `held_back` units of the order belong to claims not written yet (a
/// sale still being applied, whose place in line is unknown): they are served first, so no
/// written claim is ever given units an earlier one is owed. Cancelled claims get 0.
pub fn release(received: i64, held_back: i64, claims: &[Claim]) -> Vec<i64> {
    let mut order: Vec<usize> = (0..claims.len())
        .filter(|&i| !claims[i].cancelled)
        .collect();
    order.sort_by(|&a, &b| {
        (claims[a].pos, &claims[a].sale_id).cmp(&(claims[b].pos, &claims[b].sale_id))
    });
    let mut left = (received - held_back.max(0)).max(0);
    let mut out = vec![0; claims.len()];
    for i in order {
        let units = claims[i].units.max(0).min(left);
        out[i] = units;
        left -= units;
    }
    out
}

/// Units of the order's quantity no written claim accounts for: claims of sales still being
/// applied (never negative).
pub fn held_back(quantity: i64, claims: &[Claim]) -> i64 {
    (quantity - claims.iter().map(Claim::in_quantity).sum::<i64>()).max(0)
}

/// What one sale was released by a change from `before` to `after` (both from [`release`] over
/// the same claims): `(sale_id, units)` for each claim that gained, in the order of service.
pub fn released_between(claims: &[Claim], before: &[i64], after: &[i64]) -> Vec<Released> {
    let mut gained: Vec<(usize, i64)> = (0..claims.len())
        .map(|i| (i, after[i] - before[i]))
        .filter(|(_, d)| *d > 0)
        .collect();
    gained.sort_by(|&(a, _), &(b, _)| {
        (claims[a].pos, &claims[a].sale_id).cmp(&(claims[b].pos, &claims[b].sale_id))
    });
    gained
        .into_iter()
        .map(|(i, units)| Released {
            sale_id: claims[i].sale_id.clone(),
            units,
        })
        .collect()
}

/// Units a receipt released to one sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Released {
    pub sale_id: String,
    pub units: i64,
}

/// Whether a sale's customer can be served: `ready` when no line awaits units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StockStatus {
    #[default]
    Ready,
    AwaitingStock,
}

impl StockStatus {
    /// The status of a sale whose lines await these units.
    pub fn of(awaiting: impl IntoIterator<Item = i64>) -> Self {
        if awaiting.into_iter().any(|a| a > 0) {
            StockStatus::AwaitingStock
        } else {
            StockStatus::Ready
        }
    }
}

/// When a closed order is expected: `closed_at` plus the vendor's lead time, as RFC 3339 (`None`
/// without a lead time or a readable `closed_at`).
pub fn expected_at(closed_at: &str, lead_time_days: Option<i64>) -> Option<String> {
    let days = lead_time_days?;
    let closed = chrono::DateTime::parse_from_rfc3339(closed_at).ok()?;
    let at = closed.with_timezone(&chrono::Utc) + chrono::Duration::days(days);
    Some(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// Longest vendor lead time accepted, in days.
pub const MAX_LEAD_TIME_DAYS: i64 = 365;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn claim(sale: &str, pos: i64, units: i64) -> Claim {
        Claim {
            sale_id: sale.to_owned(),
            pos,
            units,
            taken_back: 0,
            cancelled: false,
            released: 0,
        }
    }

    #[test]
    fn oldest_first_partly_when_short() {
        let claims = [
            claim("late", 9, 2),
            claim("first", 1, 3),
            claim("second", 4, 2),
        ];
        assert_eq!(release(0, 0, &claims), vec![0, 0, 0]);
        assert_eq!(release(4, 0, &claims), vec![0, 3, 1]);
        assert_eq!(release(7, 0, &claims), vec![2, 3, 2]);
        // Over-received: the rest goes to stock.
        assert_eq!(release(100, 0, &claims), vec![2, 3, 2]);
    }

    #[test]
    fn a_cancelled_sale_is_owed_nothing_and_its_units_serve_the_next() {
        let mut claims = [claim("a", 1, 3), claim("b", 2, 2)];
        claims[0].cancelled = true;
        assert_eq!(release(3, 0, &claims), vec![0, 2]);
    }

    #[test]
    fn units_of_claims_not_written_yet_are_held_back() {
        let claims = [claim("a", 5, 2)];
        // quantity 5: 3 units belong to a sale still being applied.
        let held = held_back(5, &claims);
        assert_eq!(held, 3);
        assert_eq!(release(4, held, &claims), vec![1]);
        assert_eq!(release(5, held, &claims), vec![2]);
    }

    #[test]
    fn released_between_lists_the_gains_in_order_of_service() {
        let claims = [claim("b", 2, 2), claim("a", 1, 3)];
        let before = release(2, 0, &claims);
        let after = release(4, 0, &claims);
        assert_eq!(
            released_between(&claims, &before, &after),
            vec![
                Released {
                    sale_id: "a".into(),
                    units: 1
                },
                Released {
                    sale_id: "b".into(),
                    units: 1
                },
            ]
        );
    }

    #[test]
    fn expected_at_adds_the_lead_time() {
        assert_eq!(
            expected_at("2026-12-01T10:00:00.000Z", Some(14)).as_deref(),
            Some("2026-12-15T10:00:00.000Z")
        );
        assert_eq!(expected_at("2026-12-01T10:00:00.000Z", None), None);
        assert_eq!(
            expected_at("2026-12-01T10:00:00.000Z", Some(0)).as_deref(),
            Some("2026-12-01T10:00:00.000Z")
        );
    }

    fn claims() -> impl Strategy<Value = Vec<Claim>> {
        prop::collection::vec((0i64..50, 1i64..6, any::<bool>()), 0..12).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(i, (pos, units, cancelled))| Claim {
                    cancelled,
                    ..claim(&format!("s{i}"), pos, units)
                })
                .collect()
        })
    }

    proptest! {
        /// Released = min(received, owed to live sales); never more than a sale is owed; oldest
        /// first (a later live sale gets units only when every earlier one has all of its own).
        #[test]
        fn release_is_min_of_received_and_owed_oldest_first(claims in claims(), received in 0i64..80) {
            let out = release(received, 0, &claims);
            let owed: i64 = claims.iter().filter(|c| !c.cancelled).map(|c| c.units).sum();
            prop_assert_eq!(out.iter().sum::<i64>(), received.min(owed));
            for (i, c) in claims.iter().enumerate() {
                prop_assert!(out[i] >= 0 && out[i] <= c.units);
                if c.cancelled { prop_assert_eq!(out[i], 0); }
                for (j, d) in claims.iter().enumerate() {
                    let earlier = (d.pos, &d.sale_id) < (c.pos, &c.sale_id);
                    if out[i] > 0 && earlier && !d.cancelled {
                        prop_assert_eq!(out[j], d.units);
                    }
                }
            }
        }

        /// Only grows: with more received, and when a sale is cancelled; so raising each stored
        /// value to the newest computation is safe whatever order the writes land in.
        #[test]
        fn release_only_grows(claims in claims(), received in 0i64..80, more in 0i64..20, k in 0usize..12) {
            let before = release(received, 0, &claims);
            let after = release(received + more, 0, &claims);
            let mut cancelled = claims.clone();
            if let Some(c) = cancelled.get_mut(k) { c.cancelled = true; }
            let later = release(received, 0, &cancelled);
            for i in 0..claims.len() {
                prop_assert!(after[i] >= before[i]);
                if !cancelled[i].cancelled { prop_assert!(later[i] >= before[i]); }
            }
        }

        /// Holding back units of unwritten claims never gives a written claim more than it gets
        /// once they are written, wherever they land in line.
        #[test]
        fn holding_back_is_safe(claims in claims(), received in 0i64..80, missing in 1usize..4) {
            let k = missing.min(claims.len());
            let (unwritten, written) = claims.split_at(k);
            let quantity: i64 = claims.iter().map(Claim::in_quantity).sum();
            let partial = release(received, held_back(quantity, written), written);
            let full = release(received, 0, &claims);
            for i in 0..written.len() {
                prop_assert!(partial[i] <= full[k + i]);
            }
            let _ = unwritten;
        }

        /// What a change released sums to the growth of the total.
        #[test]
        fn released_between_sums_to_the_growth(claims in claims(), received in 0i64..80, more in 0i64..20) {
            let before = release(received, 0, &claims);
            let after = release(received + more, 0, &claims);
            let gained: i64 = released_between(&claims, &before, &after).iter().map(|r| r.units).sum();
            prop_assert_eq!(gained, after.iter().sum::<i64>() - before.iter().sum::<i64>());
            prop_assert!(gained <= more);
        }
    }
}
