//! The DynamoDB adapter: every request the service makes.
//!
//! - [`layout`]: attribute names, key prefixes, keys and index partitions (spelled only there).
//! - [`codec`]: items <-> domain types and the store's records.
//! - `dynamo`: the SDK plumbing (batched consistent reads, conditional puts, transactions and how
//!   their failures are sorted, paged queries, error mapping).
//! - One file per aggregate: `settings`, `skus`, `sales`, `cancels`, `orders`, `receipts`,
//!   `releases` (received units released to waiting sales), and `listings` for the paged queries;
//!   `shops` (the channels' shops) in a table of its own.

mod apply;
mod cancels;
pub mod codec;
mod cold;
mod dynamo;
pub mod layout;
mod lines;
mod listings;
mod marks;
mod orders;
mod receipts;
mod releases;
mod sales;
mod settings;
mod shops;
mod skus;

pub use apply::Claim;
pub use cancels::CancelPart;
pub use codec::{
    Applying, Contribution, OrderRef, SkuRecord, StoredAdjustment, StoredReceipt, StoredSale,
};
pub use cold::{ColdSale, ColdWrite};
pub use dynamo::{CommitError, Contended};
pub use lines::{LineWrite, LinesWrite};
pub use listings::{ContributionPage, OpenOrderPage, OrderFilter, OrderPage};
pub use marks::SETTLED_PER_WRITE;
pub use orders::{CloseOutcome, CloseTx};
pub use releases::{is_waiting_cursor, ReleaseContext, Waiting, WaitingPage};
pub use sales::{SaleContext, SaleParts};
pub use settings::{VendorChange, VendorSettings};
pub use shops::{PutShop, Shop};
pub use skus::SkuChange;

use aws_sdk_dynamodb::Client;

use crate::ids::{AccountId, Sku};

/// Handle on the table; cheap to clone (the SDK client is reference counted).
#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
    sale_lease: std::time::Duration,
    /// The shops table (`ShopsTable`: shops and their webhook secrets), known only to the functions
    /// that verify webhooks.
    shops_table: Option<String>,
    /// The SKUs this process recently found contended (see [`Heat`]).
    heat: std::sync::Arc<Heat>,
    /// The completed sales whose markers this process's next write of their SKU removes.
    settled: std::sync::Arc<marks::Settled>,
}

/// How long a sale's applier holds it before a redelivery or the completion sweep may take it
/// over: the function's timeout (15 s) would do; the applier stops writing lines a second before.
pub const SALE_LEASE: std::time::Duration = std::time::Duration::from_secs(10);

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Store {
            client,
            table: table.into(),
            sale_lease: SALE_LEASE,
            shops_table: None,
            heat: std::sync::Arc::default(),
            settled: std::sync::Arc::default(),
        }
    }

    /// The same store with the shops table.
    pub fn with_shops_table(mut self, table: impl Into<String>) -> Self {
        self.shops_table = Some(table.into());
        self
    }

    /// The same store with another sale lease (tests shorten it, so that a crashed caller's
    /// redelivery takes over sooner).
    pub fn with_sale_lease(mut self, lease: std::time::Duration) -> Self {
        self.sale_lease = lease;
        self
    }

    /// The same store remembering contended SKUs for `ttl` (tests shorten it, so that cold
    /// transactions and line-by-line writes meet on the same SKUs), with nothing remembered yet.
    pub fn with_heat_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.heat = std::sync::Arc::new(Heat {
            ttl,
            ..Heat::default()
        });
        self
    }

    pub fn sale_lease(&self) -> std::time::Duration {
        self.sale_lease
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Whether this process found any of these SKUs contended (sales of it in flight, or a
    /// write that lost to another) within [`HEAT_TTL`].
    pub fn recently_contended(&self, account: &AccountId, skus: &[Sku]) -> bool {
        let now = std::time::Instant::now();
        let seen = self.heat.seen.lock().unwrap_or_else(|e| e.into_inner());
        skus.iter()
            .any(|sku| seen.get(&heat_key(account, sku)).is_some_and(|t| *t > now))
    }

    /// Remembers these SKUs as contended for [`HEAT_TTL`] (or the store's own, [`Store::with_heat_ttl`]).
    pub fn note_contended<'a>(&self, account: &AccountId, skus: impl IntoIterator<Item = &'a Sku>) {
        let now = std::time::Instant::now();
        let mut seen = self.heat.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= HEAT_CAPACITY {
            seen.retain(|_, until| *until > now);
            if seen.len() >= HEAT_CAPACITY {
                seen.clear();
            }
        }
        for sku in skus {
            seen.insert(heat_key(account, sku), now + self.heat.ttl);
        }
    }
}

/// How long a SKU found contended is treated as such by this process.
pub const HEAT_TTL: std::time::Duration = std::time::Duration::from_secs(30);
const HEAT_CAPACITY: usize = 4096;

/// The SKUs a process found contended, and until when: a sale of them claims itself with its
/// first read and goes line by line, instead of reading first in the hope of one transaction.
/// Only a prediction: a wrong one costs a round trip, never a unit.
#[derive(Debug)]
struct Heat {
    ttl: std::time::Duration,
    seen: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

impl Default for Heat {
    fn default() -> Self {
        Heat {
            ttl: HEAT_TTL,
            seen: std::sync::Mutex::default(),
        }
    }
}

fn heat_key(account: &AccountId, sku: &Sku) -> String {
    layout::sku_partition(account, sku)
}
