//! Shopify orders as sales, as pure code: the webhook signature, the shop domain, the topic, and an
//! order mapped to a sale.
//!
//! - Signature: `X-Shopify-Hmac-Sha256` is the base64 of HMAC-SHA256 over the raw body bytes with
//!   the shop's webhook secret; [`verify`] compares it in constant time (`Mac::verify_slice`).
//! - Sale id: `shopify:{shop_domain}:{order id}` ([`sale_id`]). Shop domains are held to
//!   [`MAX_SHOP_DOMAIN_CHARS`] (96) and an order id has at most 20 digits, so every sale id has at
//!   most 8 + 96 + 1 + 20 = 125 characters, within the 128 the API takes. The order id is read as a `u64` from the JSON
//!   text (never through `f64`: Shopify's ids pass 2^53), or as a string of digits.
//! - Lines: `line_items[].sku` and `quantity`, duplicates merged by SKU (first place kept). A line
//!   without a SKU (`""` or null: a custom item), with a SKU the API would refuse, or with a
//!   quantity outside 1..=1,000,000 is skipped and reported in [`Mapped::skipped`]; the others go on.
//! - `customer`: the customer's first and last name, else its email, else the order's email;
//!   `channel`: `{shop_domain}/{source_name}` (or the domain alone), each clipped to 128 characters.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

use crate::domain::{SaleLine, SaleRequest, MAX_LINE_QUANTITY, MAX_SALE_LINES};
use crate::http::int_in_range;
use crate::ids::{SaleId, Sku, MAX_ID_CHARS};

/// Webhook headers (HTTP header names are case-insensitive; EventBridge's `detail.metadata` may
/// spell them either way, with or without the `X-`).
pub const HMAC_HEADER: &str = "x-shopify-hmac-sha256";
pub const TOPIC_HEADER: &str = "x-shopify-topic";
pub const SHOP_HEADER: &str = "x-shopify-shop-domain";
pub const WEBHOOK_ID_HEADER: &str = "x-shopify-webhook-id";

/// Longest shop domain registered, so that every derived sale id fits [`MAX_ID_CHARS`].
pub const MAX_SHOP_DOMAIN_CHARS: usize = 96;
const DOMAIN_SUFFIX: &str = ".myshopify.com";

/// The topics mapped; any other is answered 200 and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// `orders/create`: the order is finalized as a sale.
    OrderCreated,
    /// `orders/cancelled`: its sale is cancelled (or marked so that it is never finalized).
    OrderCancelled,
}

impl Topic {
    pub fn parse(topic: &str) -> Option<Self> {
        match topic.trim() {
            "orders/create" => Some(Topic::OrderCreated),
            "orders/cancelled" => Some(Topic::OrderCancelled),
            _ => None,
        }
    }
}

/// A shop's permanent domain, `{name}.myshopify.com`, lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShopDomain(String);

impl ShopDomain {
    /// Parses a domain (ASCII case ignored); the error says what is wrong.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let domain = raw.trim().to_ascii_lowercase();
        let Some(name) = domain.strip_suffix(DOMAIN_SUFFIX) else {
            return Err("must be the shop's permanent domain, {name}.myshopify.com");
        };
        if domain.len() > MAX_SHOP_DOMAIN_CHARS {
            return Err("must be at most 96 characters");
        }
        let valid = !name.is_empty()
            && !name.starts_with('-')
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return Err("must be {name}.myshopify.com, name of letters, digits and hyphens");
        }
        Ok(ShopDomain(domain))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ShopDomain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `signature` (the header's base64) is the HMAC-SHA256 of `body` under `secret`,
/// compared in constant time. A header that is not base64 is simply not a match.
pub fn verify(secret: &[u8], body: &[u8], signature: &str) -> bool {
    use base64::Engine;
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The signature Shopify sends for `body` (tests and the local tools sign with it).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    use base64::Engine;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The sale id of a shop's order: `shopify:{shop_domain}:{order_id}`.
pub fn sale_id(shop: &ShopDomain, order_id: u64) -> SaleId {
    SaleId::parse(format!("shopify:{shop}:{order_id}"), "sale_id")
        .expect("a registered shop domain keeps the sale id within the id rule")
}

/// Why an order body could not be read (the delivery is answered 400 and nothing is written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("body is not a Shopify order: {0}")]
    Invalid(String),
    #[error("id must be a positive integer (or a string of digits)")]
    BadId,
}

/// A line left out of the sale, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Its place in `line_items`.
    pub index: usize,
    pub reason: SkipReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// `sku` is `""`, blank or null (a custom item).
    NoSku,
    /// `sku` breaks the id rule the API holds SKUs to.
    InvalidSku,
    /// `quantity` is not an integer within 1..=1,000,000 (nor are the merged lines of its SKU).
    BadQuantity,
    /// The account does not know the SKU (decided when the sale is applied).
    UnknownSku,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::NoSku => "no_sku",
            SkipReason::InvalidSku => "invalid_sku",
            SkipReason::BadQuantity => "bad_quantity",
            SkipReason::UnknownSku => "unknown_sku",
        }
    }
}

/// An order as a sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    pub sale_id: SaleId,
    pub order_id: u64,
    /// `test: true` (an order placed with Shopify's test gateway).
    pub test: bool,
    /// `None` when no line is left to finalize.
    pub request: Option<SaleRequest>,
    pub skipped: Vec<Skipped>,
}

#[derive(Deserialize)]
struct RawOrder {
    id: Value,
    #[serde(default)]
    test: Option<bool>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    customer: Option<RawCustomer>,
    #[serde(default)]
    source_name: Option<String>,
    #[serde(default)]
    line_items: Option<Vec<RawLine>>,
}

#[derive(Deserialize)]
struct RawCustomer {
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

#[derive(Deserialize)]
struct RawLine {
    #[serde(default)]
    sku: Option<String>,
    #[serde(default)]
    quantity: Value,
}

/// The order id of a JSON number or string, as a `u64` (serde_json keeps integers exact).
fn order_id(id: &Value) -> Result<u64, OrderError> {
    let id = match id {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    };
    id.filter(|id| *id > 0).ok_or(OrderError::BadId)
}

/// A label within the id rule: control characters dropped, blanks collapsed, clipped.
fn label(text: &str) -> Option<String> {
    let cleaned: String = text
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let clipped: String = cleaned.chars().take(MAX_ID_CHARS).collect();
    (!clipped.is_empty()).then_some(clipped)
}

fn customer_of(order: &RawOrder) -> Option<String> {
    let c = order.customer.as_ref();
    let name = c
        .map(|c| {
            format!(
                "{} {}",
                c.first_name.as_deref().unwrap_or_default(),
                c.last_name.as_deref().unwrap_or_default()
            )
        })
        .and_then(|n| label(&n));
    name.or_else(|| c.and_then(|c| c.email.as_deref()).and_then(label))
        .or_else(|| order.email.as_deref().and_then(label))
}

/// Maps an order webhook body (an `orders/create` or `orders/cancelled` payload) from `shop`.
pub fn map_order(shop: &ShopDomain, body: &[u8]) -> Result<Mapped, OrderError> {
    let order: RawOrder =
        serde_json::from_slice(body).map_err(|e| OrderError::Invalid(e.to_string()))?;
    map_raw(shop, order)
}

/// Maps an order already parsed (the `detail.payload` of an EventBridge event).
pub fn map_order_value(shop: &ShopDomain, order: Value) -> Result<Mapped, OrderError> {
    let order: RawOrder =
        serde_json::from_value(order).map_err(|e| OrderError::Invalid(e.to_string()))?;
    map_raw(shop, order)
}

fn map_raw(shop: &ShopDomain, order: RawOrder) -> Result<Mapped, OrderError> {
    let order_id = order_id(&order.id)?;
    let mut skipped = Vec::new();
    let mut lines: Vec<SaleLine> = Vec::new();
    let mut first_index: Vec<usize> = Vec::new();
    for (index, line) in order.line_items.iter().flatten().enumerate() {
        let sku = line.sku.as_deref().map(str::trim).unwrap_or_default();
        if sku.is_empty() {
            skipped.push(Skipped {
                index,
                reason: SkipReason::NoSku,
            });
            continue;
        }
        let Ok(sku) = Sku::parse(sku, "sku") else {
            skipped.push(Skipped {
                index,
                reason: SkipReason::InvalidSku,
            });
            continue;
        };
        let Some(quantity) = int_in_range(&line.quantity, 1, MAX_LINE_QUANTITY) else {
            skipped.push(Skipped {
                index,
                reason: SkipReason::BadQuantity,
            });
            continue;
        };
        match lines.iter_mut().position(|l| l.sku == sku) {
            Some(i) => lines[i].quantity += quantity,
            None => {
                lines.push(SaleLine { sku, quantity });
                first_index.push(index);
            }
        }
    }
    // Merged lines over the limit are left out whole: no partial quantity is ever finalized.
    let mut kept = Vec::with_capacity(lines.len());
    for (line, index) in lines.into_iter().zip(first_index) {
        if line.quantity > MAX_LINE_QUANTITY || kept.len() == MAX_SALE_LINES {
            skipped.push(Skipped {
                index,
                reason: SkipReason::BadQuantity,
            });
        } else {
            kept.push(line);
        }
    }
    skipped.sort_by_key(|s| s.index);
    let channel = match order.source_name.as_deref().and_then(label) {
        Some(source) => label(&format!("{shop}/{source}")),
        None => Some(shop.to_string()),
    };
    let request = (!kept.is_empty()).then(|| SaleRequest {
        customer: customer_of(&order),
        channel,
        lines: kept,
    });
    Ok(Mapped {
        sale_id: sale_id(shop, order_id),
        order_id,
        test: order.test.unwrap_or(false),
        request,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATE: &[u8] = include_bytes!("../../../events/shopify/orders-create.json");
    const NO_SKU: &[u8] = include_bytes!("../../../events/shopify/orders-create-no-sku.json");
    const CANCELLED: &[u8] = include_bytes!("../../../events/shopify/orders-cancelled.json");

    fn shop() -> ShopDomain {
        ShopDomain::parse("Devkanvas.myshopify.com").unwrap()
    }

    #[test]
    fn the_fixture_order_maps_to_a_sale() {
        let m = map_order(&shop(), CREATE).unwrap();
        // 820982911946154508 > 2^53: read exactly.
        assert_eq!(m.order_id, 820_982_911_946_154_508);
        assert_eq!(
            m.sale_id.as_str(),
            "shopify:devkanvas.myshopify.com:820982911946154508"
        );
        assert!(m.test);
        let req = m.request.unwrap();
        assert_eq!(req.customer.as_deref(), Some("John Smith"));
        assert_eq!(req.channel.as_deref(), Some("devkanvas.myshopify.com/web"));
        let lines: Vec<(&str, i64)> = req
            .lines
            .iter()
            .map(|l| (l.sku.as_str(), l.quantity))
            .collect();
        assert_eq!(
            lines,
            [("SNOWBOARD-VIDEOGRAPHER", 1), ("SNOWBOARD-COMPLETE", 1)]
        );
        assert!(m.skipped.is_empty());
    }

    #[test]
    fn lines_without_a_sku_are_skipped_and_reported() {
        for body in [NO_SKU, CANCELLED] {
            let m = map_order(&shop(), body).unwrap();
            assert_eq!(m.request, None);
            assert_eq!(
                m.skipped,
                [0, 1].map(|index| Skipped {
                    index,
                    reason: SkipReason::NoSku
                })
            );
        }
    }

    #[test]
    fn duplicates_merge_and_bad_lines_skip_without_failing_the_others() {
        let body = br#"{"id":"18446744073709551615","line_items":[
            {"sku":"A","quantity":2},{"sku":"","quantity":1},{"sku":"B","quantity":0},
            {"sku":"A","quantity":3},{"sku":"bad\u0001","quantity":1},{"sku":"C","quantity":1.0}],
            "email":"buyer@example.com"}"#;
        let m = map_order(&shop(), body).unwrap();
        assert_eq!(m.order_id, u64::MAX);
        assert!(!m.test);
        let req = m.request.unwrap();
        assert_eq!(req.customer.as_deref(), Some("buyer@example.com"));
        assert_eq!(req.channel.as_deref(), Some("devkanvas.myshopify.com"));
        let lines: Vec<(&str, i64)> = req
            .lines
            .iter()
            .map(|l| (l.sku.as_str(), l.quantity))
            .collect();
        assert_eq!(lines, [("A", 5), ("C", 1)]);
        let reasons: Vec<(usize, SkipReason)> =
            m.skipped.iter().map(|s| (s.index, s.reason)).collect();
        assert_eq!(
            reasons,
            [
                (1, SkipReason::NoSku),
                (2, SkipReason::BadQuantity),
                (4, SkipReason::InvalidSku)
            ]
        );
    }

    #[test]
    fn bad_ids_and_bodies_are_errors() {
        for body in [
            &br#"{"id":-1}"#[..],
            br#"{"id":1.5}"#,
            br#"{"id":"12a"}"#,
            br#"{"id":0}"#,
            br#"{"id":18446744073709551616}"#,
        ] {
            assert_eq!(map_order(&shop(), body), Err(OrderError::BadId), "{body:?}");
        }
        assert!(matches!(
            map_order(&shop(), b"{not json"),
            Err(OrderError::Invalid(_))
        ));
        assert!(matches!(
            map_order(&shop(), b"[]"),
            Err(OrderError::Invalid(_))
        ));
    }

    #[test]
    fn signatures_verify_over_the_raw_bytes_only() {
        let secret = b"hush";
        let sig = sign(secret, CREATE);
        assert!(verify(secret, CREATE, &sig));
        assert!(!verify(b"other", CREATE, &sig));
        // The same order re-serialised is other bytes: no match.
        let reserialised = serde_json::to_vec(&serde_json::from_slice::<Value>(CREATE).unwrap());
        assert!(!verify(secret, &reserialised.unwrap(), &sig));
        assert!(!verify(secret, CREATE, "not base64!"));
        assert!(!verify(secret, CREATE, ""));
        // A known answer (RFC 4231 test case 2, base64).
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
        );
    }

    #[test]
    fn shop_domains_and_topics() {
        assert_eq!(
            ShopDomain::parse(" My-Shop.MyShopify.com ")
                .unwrap()
                .as_str(),
            "my-shop.myshopify.com"
        );
        for bad in [
            "",
            "shop.example.com",
            ".myshopify.com",
            "-a.myshopify.com",
            "a_b.myshopify.com",
        ] {
            assert!(ShopDomain::parse(bad).is_err(), "{bad}");
        }
        let longest = format!("{}.myshopify.com", "a".repeat(MAX_SHOP_DOMAIN_CHARS - 14));
        let shop = ShopDomain::parse(&longest).unwrap();
        assert!(sale_id(&shop, u64::MAX).as_str().chars().count() <= MAX_ID_CHARS);
        assert!(ShopDomain::parse(&format!("a{longest}")).is_err());
        assert_eq!(Topic::parse("orders/create"), Some(Topic::OrderCreated));
        assert_eq!(
            Topic::parse("orders/cancelled"),
            Some(Topic::OrderCancelled)
        );
        assert_eq!(Topic::parse("orders/updated"), None);
    }
}
