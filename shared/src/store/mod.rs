//! The DynamoDB adapter: every request the service makes.
//!
//! - [`layout`]: attribute names, key prefixes, keys and index partitions (spelled only there).
//! - [`codec`]: items <-> domain types and the store's records.
//! - `dynamo`: the SDK plumbing (batched consistent reads, conditional puts, transactions and how
//!   their failures are sorted, paged queries, error mapping).
//! - One file per aggregate: `settings`, `skus`, `sales`, `cancels`, `orders`, `receipts`, and
//!   `listings` for the paged queries.

mod cancels;
pub mod codec;
mod dynamo;
pub mod layout;
mod listings;
mod orders;
mod receipts;
mod sales;
mod settings;
mod skus;

pub use cancels::CancelPart;
pub use codec::{Contribution, OrderRef, SkuRecord, StoredAdjustment, StoredReceipt, StoredSale};
pub use dynamo::{CommitError, Contended};
pub use listings::{ContributionPage, OpenOrderPage, OrderPage};
pub use orders::{CloseOutcome, CloseTx};
pub use sales::{SaleContext, SaleParts};

use aws_sdk_dynamodb::Client;

/// Handle on the table; cheap to clone (the SDK client is reference counted).
#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Store {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}
