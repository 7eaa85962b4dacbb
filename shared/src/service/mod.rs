//! Use cases, one file each: they read, apply the pure rules of [`crate::domain`], and commit
//! through [`crate::store`], retrying contention with [`crate::retry`]. Each returns its own error
//! type; [`crate::error`] maps them to HTTP in one place.
//!
//! - [`finalize`] (one transaction) and [`finalize_parts`] (a sale larger than one transaction)
//! - [`sale_view`]: a stored sale as the API answers it
//! - [`channel`]: a channel's (Shopify's) sales and cancels; [`shops`]: the shops registered
//! - [`cancel`], [`adjust`], [`receive`], [`regular_order`], [`close`] (on request and scheduled)
//! - [`release`]: received units released to waiting sales; [`waiting`]: who waits, and whether a
//!   sale became ready; [`stream`]: what a change in the table's stream publishes and releases

pub mod adjust;
pub mod apply;
pub mod cancel;
pub mod channel;
pub mod close;
mod cold;
pub mod finalize;
pub mod finalize_parts;
mod lines;
mod plan;
pub mod receive;
pub mod regular_order;
pub mod release;
pub mod sale_view;
pub mod shops;
pub mod stream;
pub mod waiting;

pub use adjust::{adjust_stock_once, AdjustError, Level};
pub use apply::{claimed_skus, complete_claimed, Completion};
pub use cancel::{cancel_sale, CancelError, Cancelled};
pub use channel::{cancel_channel_sale, finalize_channel_sale, ChannelSale};
pub use close::{close_due_orders, close_order, CloseError, CloseRun};
pub use finalize::{finalize_sale, FinalizeError, Finalized};
pub use receive::{receive_units, Receipt, ReceiveError};
pub use regular_order::{create_regular_order, RegularOrderError};
pub use release::{settle_order, settle_orders_quietly};
pub use sale_view::sale_body;
pub use waiting::{current_sale, readiness, waiting_sales, Readiness, WaitingSale};

pub use crate::domain::NewRegularOrder;
pub use crate::retry::FINALIZE_BUDGET;

/// Most (merged) lines one transaction holds: 100 items = the sale record (+ the part record for a
/// sale in parts) + per line its SKU, at most one order and that order's contribution record. A
/// cancellation's parts are the sale's parts, with three items per line too (the SKU, the
/// contribution, and the order's `cancels` when the units stay in a closed order).
pub const LINES_PER_TRANSACTION: usize = 32;

/// The current time as RFC 3339 UTC with milliseconds (fixed width, so it sorts as text).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
