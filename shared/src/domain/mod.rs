//! The rules of back-ordering, as pure functions on plain types. No I/O here.
//!
//! - [`policy`]: whether a SKU is back-ordered (account toggle, SKU policy, vendor default).
//! - [`apply`]: the level guard of a sale line written to its SKU item alone, and what a marked
//!   line did.
//! - [`sale`]: the sale request, the quantity rule ([`uncovered`]), line planning, the answer.
//! - [`order`]: replenishment orders, their statuses and receipts.
//! - [`cancel`]: what cancelling a sale gives back.
//! - [`release`]: received units released to the sales waiting on them, oldest first.

pub mod apply;
pub mod cancel;
pub mod order;
pub mod policy;
pub mod release;
pub mod sale;

pub use apply::*;
pub use cancel::*;
pub use order::*;
pub use policy::*;
pub use release::*;
pub use sale::*;

use sha2::{Digest, Sha256};

/// The idempotency fingerprint of a request: SHA-256 of its canonical JSON, in hex. Two requests
/// with the same fingerprint mean the same thing; an idempotency key reused with another
/// fingerprint is a conflict.
pub fn fingerprint(canonical: &serde_json::Value) -> String {
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
