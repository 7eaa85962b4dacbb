//! The messages of the sales queue. Every message carries its account in the message attribute
//! `account_id`; `kind` says what to do (`finalize`, the default, or `cancel`) and `source` who
//! sent it (`shopify` for the channels function; absent for a merchant's own producer).
//!
//! - finalize: `{"sale_id", "customer"?, "channel"?, "lines": [{"sku", "quantity"}]}`
//! - cancel: `{"sale_id"}`
//!
//! A message from a channel (`source` set) is held to what the channel can and cannot redo: its
//! lines whose SKU the account does not know are skipped (the others are finalized), and a
//! redelivery that cannot apply (other lines under the same sale id, a sale cancelled first) is
//! logged and acknowledged rather than retried until the dead-letter queue.

use std::future::Future;

use serde_json::{json, Value};

use crate::domain::SaleRequest;
use crate::ids::{AccountId, SaleId};

pub const ACCOUNT_ATTR: &str = "account_id";
pub const KIND_ATTR: &str = "kind";
pub const SOURCE_ATTR: &str = "source";
/// The `source` of the messages the Shopify channel sends.
pub const SOURCE_SHOPIFY: &str = "shopify";

/// What a message asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Finalize,
    Cancel,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Finalize => "finalize",
            Kind::Cancel => "cancel",
        }
    }

    /// The kind of the attribute's value (absent: finalize).
    pub fn parse(value: Option<&str>) -> Option<Self> {
        match value {
            None | Some("finalize") => Some(Kind::Finalize),
            Some("cancel") => Some(Kind::Cancel),
            Some(_) => None,
        }
    }
}

/// A message for the sales queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub account: AccountId,
    pub kind: Kind,
    pub source: &'static str,
    pub body: String,
    /// The sale the message is about (for logs; it is in the body too).
    pub sale_id: SaleId,
}

impl Message {
    pub fn finalize(
        account: AccountId,
        source: &'static str,
        sale_id: &SaleId,
        request: &SaleRequest,
    ) -> Self {
        let lines: Vec<Value> = request
            .lines
            .iter()
            .map(|l| json!({"sku": l.sku.as_str(), "quantity": l.quantity}))
            .collect();
        let mut body = json!({"sale_id": sale_id.as_str(), "lines": lines});
        if let Some(c) = &request.customer {
            body["customer"] = json!(c);
        }
        if let Some(c) = &request.channel {
            body["channel"] = json!(c);
        }
        Message {
            account,
            kind: Kind::Finalize,
            source,
            body: body.to_string(),
            sale_id: sale_id.clone(),
        }
    }

    pub fn cancel(account: AccountId, source: &'static str, sale_id: &SaleId) -> Self {
        Message {
            account,
            kind: Kind::Cancel,
            source,
            body: json!({"sale_id": sale_id.as_str()}).to_string(),
            sale_id: sale_id.clone(),
        }
    }
}

/// Why a message was not queued (the delivery is answered 503, so the channel sends it again).
#[derive(Debug, thiserror::Error)]
#[error("the sales queue did not take the message: {0}")]
pub struct QueueError(pub String);

/// Where the channels put their messages: SQS in Lambda, the consumer itself locally and in tests.
pub trait SalesQueue: Sync {
    /// Resolves once the message is durably queued.
    fn send(&self, message: Message) -> impl Future<Output = Result<(), QueueError>> + Send;
}
