//! The removal of a completed sale's line markers from its SKU items, off the sale's path and
//! without a write of its own where it can:
//! - each process remembers the sales it completed ([`Store::settle_marks`]), and its next line
//!   write of the same SKU removes their markers in the same `UpdateItem`
//!   ([`Store::settled_marks`]): on a SKU selling fast, one write of the item per sale;
//! - the completion path, which sees every claimed sale in the table's stream, reads the SKU items
//!   of the sales it found complete and removes the markers still there, one write per SKU for a
//!   whole batch ([`Store::sweep_marks`]): the markers of a process that wrote no more.
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
use crate::ids::{AccountId, SaleId, Sku};

/// The completed sales whose markers ride on one line write, at most.
pub const SETTLED_PER_WRITE: usize = 8;
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

    /// The [`mark_key`]s of completed sales whose markers the next line write of this SKU should
    /// remove (at most [`SETTLED_PER_WRITE`]); they stay remembered until [`Store::forget_settled`].
    pub fn settled_marks(&self, account: &AccountId, sku: &Sku) -> Vec<String> {
        let now = Instant::now();
        let mut marks = self.settled.marks.lock().unwrap_or_else(|e| e.into_inner());
        let Some(keys) = marks.get_mut(&sku_partition(account, sku)) else {
            return Vec::new();
        };
        keys.retain(|(_, at)| now.duration_since(*at) < SETTLED_TTL);
        keys.iter()
            .take(SETTLED_PER_WRITE)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Forgets these sales' markers on this SKU: a write removed them.
    pub fn forget_settled(&self, account: &AccountId, sku: &Sku, removed: &[String]) {
        if removed.is_empty() {
            return;
        }
        let mut marks = self.settled.marks.lock().unwrap_or_else(|e| e.into_inner());
        let partition = sku_partition(account, sku);
        if let Some(keys) = marks.get_mut(&partition) {
            keys.retain(|(k, _)| !removed.contains(k));
            if keys.is_empty() {
                marks.remove(&partition);
            }
        }
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
        let mut written = 0;
        for item in self.batch_get(keys).await? {
            let Some((account, sku, sales)) =
                wanted.get(&(key_text(&item, PK), key_text(&item, SK)))
            else {
                continue;
            };
            let mut names: Vec<String> = Vec::new();
            for sale in sales {
                for attrs in [mark_attrs_of(&mark_key(sale)), legacy_mark_attrs(sale)] {
                    names.extend(attrs.into_iter().filter(|a| item.contains_key(a)));
                }
            }
            if names.is_empty() {
                continue;
            }
            self.clear_marks(account, sku, &names).await?;
            written += 1;
        }
        Ok(written)
    }

    /// Removes these marker attributes from a SKU item (it must still exist).
    async fn clear_marks(
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

fn key_text(item: &Item, attr: &str) -> String {
    Reader::new(item)
        .opt_str(attr)
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_owned()
}
