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
mod dynamo;
pub mod layout;
mod lines;
mod listings;
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
pub use dynamo::{CommitError, Contended};
pub use lines::{LineWrite, LinesWrite};
pub use listings::{ContributionPage, OpenOrderPage, OrderFilter, OrderPage};
pub use orders::{CloseOutcome, CloseTx};
pub use releases::{is_waiting_cursor, ReleaseContext, Waiting, WaitingPage};
pub use sales::{SaleContext, SaleParts};
pub use settings::{VendorChange, VendorSettings};
pub use shops::{PutShop, Shop};
pub use skus::SkuChange;

use aws_sdk_dynamodb::Client;

/// Handle on the table; cheap to clone (the SDK client is reference counted).
#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
    sale_lease: std::time::Duration,
    /// The shops table (`ShopsTable`: shops and their webhook secrets), known only to the functions
    /// that verify webhooks.
    shops_table: Option<String>,
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

    pub fn sale_lease(&self) -> std::time::Duration {
        self.sale_lease
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}
