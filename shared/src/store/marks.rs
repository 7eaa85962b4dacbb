//! The removal of a completed sale's line markers from its SKU items, off the sale's path and
//! without a write of its own where it can:
//! - each process remembers the sales it completed ([`Store::settle_marks`]), and its next line
//!   write of the same SKU removes their markers in the same `UpdateItem`
//!   ([`Store::take_settled`]): on a SKU selling fast, one write of the item per sale;
//! - the completion path, which sees every claimed sale in the table's stream, reads the SKU items
//!   of the sales it found complete and removes the markers still there, one write per SKU for a
//!   whole batch ([`Store::sweep_marks`]): the markers of a process that wrote no more. With them
//!   go the versions of closed orders no marker needs any more ([`order_at`]).
//!
//! A marker is removed only once its sale is complete, and nothing reads it after that, so a
//! removal that comes twice, late or never loses nothing (a SKU item holding stale markers looks
//! contended, and its sales take the line-by-line path).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::codec::Reader;
use super::dynamo::update_if;
use super::layout::*;
use super::Store;
use crate::error::StoreError;
use crate::ids::ReplenishmentId;
use crate::ids::{AccountId, SaleId, Sku};

/// The completed sales whose markers ride on one line write, at most.
pub const SETTLED_PER_WRITE: usize = 8;
/// Attributes one sweep's write removes from a SKU item, at most.
const SWEPT_PER_WRITE: usize = 64;
/// How long a process keeps a completed sale's markers for its next write of the SKU; after that
/// they are left to the completion path's sweep.
const SETTLED_TTL: Duration = Duration::from_secs(60);
const SETTLED_CAPACITY: usize = 4096;

/// Per process: SKU (its partition) -> the [`mark_key`]s of completed sales whose markers are
/// still on its item, as far as this process knows, and since when.
#[derive(Debug, Default)]
pub(super) struct Settled {
    marks: Mutex<HashMap<String, Vec<(String, Instant)>>>,
}

impl Store {
    /// Remembers that `sale` is complete, so that this process's next line write of each of
    /// `skus` removes its markers.
    pub fn settle_marks(&self, account: &AccountId, sale: &SaleId, skus: &[Sku]) {
        let key = mark_key(sale);
        let now = Instant::now();
        let mut marks = self.settled.marks.lock().unwrap_or_else(|e| e.into_inner());
        if marks.len() >= SETTLED_CAPACITY {
            marks.retain(|_, keys| {
                keys.iter()
                    .any(|(_, at)| now.duration_since(*at) < SETTLED_TTL)
            });
            if marks.len() >= SETTLED_CAPACITY {
                marks.clear();
            }
        }
        for sku in skus {
            marks
                .entry(sku_partition(account, sku))
                .or_default()
                .push((key.clone(), now));
        }
    }

    /// Takes the [`mark_key`]s of completed sales whose markers the next line write of this SKU
    /// removes (at most [`SETTLED_PER_WRITE`], oldest first): concurrent writes of the SKU in this
    /// process take different ones. A write that fails gives them back ([`Store::give_back_settled`]).
    pub fn take_settled(&self, account: &AccountId, sku: &Sku) -> Vec<String> {
        let now = Instant::now();
        let mut marks = self.settled.marks.lock().unwrap_or_else(|e| e.into_inner());
        let partition = sku_partition(account, sku);
        let Some(keys) = marks.get_mut(&partition) else {
            return Vec::new();
        };
        keys.retain(|(_, at)| now.duration_since(*at) < SETTLED_TTL);
        let mut taken: Vec<String> = keys
            .drain(..keys.len().min(SETTLED_PER_WRITE))
            .map(|(k, _)| k)
            .collect();
        // A name twice in one expression would make DynamoDB refuse the write.
        taken.sort();
        taken.dedup();
        if keys.is_empty() {
            marks.remove(&partition);
        }
        taken
    }

    /// Gives back what [`Store::take_settled`] took, for a write that did not land.
    pub fn give_back_settled(&self, account: &AccountId, sku: &Sku, keys: Vec<String>) {
        if keys.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut marks = self.settled.marks.lock().unwrap_or_else(|e| e.into_inner());
        marks
            .entry(sku_partition(account, sku))
            .or_default()
            .extend(keys.into_iter().map(|k| (k, now)));
    }

    /// Removes the markers of these complete sales (account, sale, its SKUs) still on their SKU
    /// items: one consistent read of the items, then one removal per item that holds any.
    /// Answers the items written.
    pub async fn sweep_marks(
        &self,
        sales: &[(AccountId, SaleId, Vec<Sku>)],
    ) -> Result<usize, StoreError> {
        // (pk, sk) of each SKU item -> its account and SKU, and the sales that wrote lines to it.
        let mut wanted: HashMap<(String, String), (&AccountId, &Sku, HashSet<&SaleId>)> =
            HashMap::new();
        for (account, sale, skus) in sales {
            for sku in skus {
                let key = sku_key(account, sku);
                let id = (key_text(&key, PK), key_text(&key, SK));
                wanted
                    .entry(id)
                    .or_insert_with(|| (account, sku, HashSet::new()))
                    .2
                    .insert(sale);
            }
        }
        let keys = wanted
            .values()
            .map(|(account, sku, _)| sku_key(account, sku))
            .collect();
        let (mut written, mut failed) = (0, None);
        for item in self.batch_get(keys).await? {
            let Some((account, sku, sales)) =
                wanted.get(&(key_text(&item, PK), key_text(&item, SK)))
            else {
                continue;
            };
            let mut names: Vec<String> = Vec::new();
            for sale in sales {
                let attrs = mark_attrs_of(&mark_key(sale))
                    .into_iter()
                    .chain(legacy_mark_attrs(sale));
                names.extend(attrs.filter(|a| item.contains_key(a)));
            }
            // With them go the closed orders' versions no marker left needs.
            names.extend(unneeded_closes(&item, &names));
            if names.is_empty() {
                continue;
            }
            // One expression stays well inside DynamoDB's 4 KB; the rest go with a later sweep.
            names.truncate(SWEPT_PER_WRITE);
            // An item that fails leaves the others to be swept still.
            match self.remove_sku_attrs(account, sku, &names).await {
                Ok(()) => written += 1,
                Err(e) => failed = failed.or(Some(e)),
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(written),
        }
    }

    /// Removes these attributes (markers, a closed order's leftovers) from a SKU item, if it
    /// still exists.
    pub(super) async fn remove_sku_attrs(
        &self,
        account: &AccountId,
        sku: &Sku,
        names: &[String],
    ) -> Result<(), StoreError> {
        let placeholders: Vec<String> = (0..names.len()).map(|i| format!("#m{i}")).collect();
        let clear = self
            .update_item(sku_key(account, sku))
            .update_expression(format!("REMOVE {}", placeholders.join(", ")))
            .condition_expression("attribute_exists(#oh)")
            .expression_attribute_names("#oh", ON_HAND);
        let clear = placeholders
            .into_iter()
            .zip(names)
            .fold(clear, |u, (p, name)| u.expression_attribute_names(p, name));
        update_if(clear).await.map(|_| ())
    }
}

/// The order a marked line whose place is `pos` went into: the first of the SKU's orders to close
/// after it (the smallest [`closed_version_attr`] above `pos`), or else its open order. One order
/// is open at a time, so any order that closed after the line and before that one would have
/// been open beside it.
pub(super) fn order_at(item: &Item, pos: i64) -> Result<Option<ReplenishmentId>, StoreError> {
    let r = Reader::new(item);
    let mut first: Option<(i64, &str)> = None;
    for name in item.keys() {
        let Some(rid) = name.strip_prefix(CLOSED_VERSION_PREFIX) else {
            continue;
        };
        let closed = r.i64(name)?;
        if closed > pos && first.is_none_or(|(c, _)| closed < c) {
            first = Some((closed, rid));
        }
    }
    match first {
        Some((_, rid)) => ReplenishmentId::parse(rid, "replenishment_id")
            .map(Some)
            .map_err(|e| StoreError::Malformed {
                key: rid.to_owned(),
                problem: e.to_string(),
            }),
        None => r.opt_id(OPEN_RID, ReplenishmentId::parse),
    }
}

/// The closed orders' versions ([`closed_version_attr`]) of a SKU item that no marker needs once
/// `removed` are gone: those with no marked place below them. Markers written later have places
/// above every one of them, so what none needs now, none ever will.
pub(super) fn unneeded_closes(item: &Item, removed: &[String]) -> Vec<String> {
    let r = Reader::new(item);
    let places: Vec<i64> = item
        .keys()
        .filter(|k| k.starts_with(MARK_POS_PREFIX) && !removed.contains(k))
        .filter_map(|k| r.opt_i64(k).ok().flatten())
        .collect();
    item.keys()
        .filter(|k| k.starts_with(CLOSED_VERSION_PREFIX))
        .filter(|k| {
            let closed = r.opt_i64(k).ok().flatten().unwrap_or(i64::MAX);
            !places.iter().any(|p| *p < closed)
        })
        .cloned()
        .collect()
}

fn key_text(item: &Item, attr: &str) -> String {
    Reader::new(item)
        .opt_str(attr)
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::codec::{n, s};

    #[test]
    fn a_place_tells_its_order_and_closes_are_kept_while_a_marker_below_them_stays() {
        let (a, b, open) = (
            ReplenishmentId::generate(),
            ReplenishmentId::generate(),
            ReplenishmentId::generate(),
        );
        // Order a closed at version 10, b (opened after) at 20; `open` is open now.
        let mut item: Item = [
            (closed_version_attr(a.as_str()), n(10)),
            (closed_version_attr(b.as_str()), n(20)),
            (OPEN_RID.to_owned(), s(open.as_str())),
            ("^one".to_owned(), n(4)),
            ("^two".to_owned(), n(15)),
        ]
        .into_iter()
        .collect();
        assert_eq!(order_at(&item, 4).unwrap(), Some(a.clone()));
        assert_eq!(order_at(&item, 9).unwrap(), Some(a.clone()));
        assert_eq!(order_at(&item, 15).unwrap(), Some(b.clone()));
        assert_eq!(order_at(&item, 20).unwrap(), Some(open.clone()));
        // Both closes are needed: a marker lies below each.
        assert!(unneeded_closes(&item, &[]).is_empty());
        // Once the marker at 4 goes, a's close is needed by none (the one at 15 is above it).
        assert_eq!(
            unneeded_closes(&item, &["^one".to_owned()]),
            vec![closed_version_attr(a.as_str())]
        );
        item.remove("^one");
        item.remove("^two");
        let mut all = unneeded_closes(&item, &[]);
        all.sort();
        let mut both = vec![
            closed_version_attr(a.as_str()),
            closed_version_attr(b.as_str()),
        ];
        both.sort();
        assert_eq!(all, both);
    }
}
