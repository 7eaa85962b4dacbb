//! `backorder`: automated back-ordering of in-house inventory.
//!
//! - [`domain`]: the rules, as pure functions (no I/O).
//! - [`ids`]: validated identifiers.
//! - [`store`]: the DynamoDB adapter (all requests; names and keys in [`store::layout`], item
//!   conversions in [`store::codec`]).
//! - [`service`]: the use cases, one file each, with their error types.
//! - [`http`], [`requests`], [`routes`]: the HTTP API's plumbing, shared by every function.
//! - [`error`]: typed errors and their one mapping to HTTP.
//! - [`events`]: the published event contract and its EventBridge publisher.
//! - [`retry`]: the one retry policy of every optimistic write.
//! - [`channels`]: orders from a store's platform (Shopify) as sales, and the sales queue's messages.

pub mod background;
pub mod channels;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod http;
pub mod ids;
pub mod requests;
pub mod retry;
pub mod routes;
pub mod runtime;
pub mod service;
pub mod store;
pub mod telemetry;

pub use config::Config;
pub use error::{ApiError, StoreError};
pub use store::Store;
