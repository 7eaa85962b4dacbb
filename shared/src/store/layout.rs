//! The table's layout: every attribute name, key prefix, key and index partition is spelled here
//! and nowhere else (the conversions between items and domain types are in [`super::codec`]).
//!
//! Every aggregate has a partition of its own: `pk` = `{len(account)}:{account}#{root}`, where
//! `root` is the sort key of the aggregate's root item ([`partition`]); the items that belong to an
//! aggregate (a sale's parts, an order's contributions and receipts) share its partition. So the
//! traffic of one SKU, one sale or one order never lands on another's partition, and a merchant's
//! traffic spreads over as many partitions as it has SKUs, sales and orders.
//!
//! | item              | partition root        | `sk`                  | other attributes |
//! |-------------------|-----------------------|-----------------------|------------------|
//! | account settings  | `SETTINGS`            | `SETTINGS`            | `auto_backorder` |
//! | vendor settings   | `VENDOR#{vendor_id}`  | `VENDOR#{vendor_id}`  | `auto_backorder_default`, `lead_time_days`?, `pack_size`?, `min_order_units`? |
//! | SKU               | `SKU#{sku}`           | `SKU#{sku}`           | `on_hand`, `ver`, `policy`, `vendor_id`?, `open_rid`?, `pack_size`?, `backorder_limit`? |
//! | sale              | `SALE#{sale_id}`      | `SALE#{sale_id}`      | `fingerprint`, `status`, `result` (the response JSON); for a sale in parts `parts`, `done`, `fulfillment_id`, `customer`, `channel` instead of `result` |
//! | cancelled unknown sale | `SALE#{sale_id}` | `SALE#{sale_id}` | `fingerprint` = `cancelled-before-finalized`, `status` = `cancelled`, `result`, `cancel_result`: a channel's cancel that came first (the sale is never finalized) |
//! | sale part         | `SALE#{sale_id}`      | `SALEPART#{k:04}#{sale_id}` | `lines`: part k's response lines (JSON) |
//! | stock adjustment  | `ADJ#{adjustment_id}` | `ADJ#{adjustment_id}` | `sku`, `delta`, `on_hand_after`, `open_rid`? (made with an `adjustment_id` only) |
//! | replenishment     | `ORDER#{ulid}`        | `ORDER#{ulid}`        | `sku`, `vendor_id`?, `quantity`, `ordered_quantity`?, `status`, `tags`, `received`, `receipt_status`, `cancels`?, times, `expected_at`?, index keys |
//! | contribution      | `ORDER#{ulid}`        | `CONTRIB#{ulid}#{sale_id}` | `sale_id`, `units` a sale added to the order, `pos` (its place in line), `released`, `released_at`, `created_at`, `await_pk`/`await_pos` while it waits; `taken_back`, `cancelled_at` once the sale is cancelled |
//! | receipt           | `ORDER#{ulid}`        | `RCPT#{ulid}#{receipt_id}` | `quantity`, `allow_over_receipt`, `received_after`, `receipt_status`, `released_to`, `released_parts` (the receipt's idempotency record and answer) |
//! | receipt part      | `ORDER#{ulid}`        | `RCPTP#{ulid}#{k:04}#{receipt_id}` | `released_to`: part k of a released list too long for one item |
//! | order request     | `REQ#{request_id}`    | `REQ#{request_id}`    | `rid`, `fingerprint`: the idempotency record of a regular order created with a `request_id` |
//!
//! Indexes (all sparse, keys only unless noted, so updating an order's quantity writes no index):
//! - `by_account`: `gsi4pk` = `{len(account)}:{account}#ORDERS`, sort `sk`: an account's orders,
//!   newest first. Written once, when the order is created.
//! - `by_status`: `gsi1pk` = `{status}#{account}`, sort `sk`: an account's orders by status, newest first.
//! - `by_sku`: `gsi2pk` = `{len(account)}:{account}#{sku}`, sort `sk`, projects `status`: a SKU's orders.
//! - `open_by_age`: `open_pk` = `OPEN#{shard}` (16 shards by a hash of the order id, see
//!   [`open_partition`]), `open_sk` = `{created_at}#{ulid}`, projects `sku`: every open
//!   auto-back-order order of every account, oldest first per shard, for the scheduled close
//!   (which reads every shard and closes each order in one transaction, without reading it first).
//!   Removed when the order closes.
//! - `awaiting`: `await_pk` = `{len(account)}:{account}#{sku}`, sort `await_pos` (a number: the
//!   SKU's version when the sale's line landed), projects `sale_id`, `units`, `released`,
//!   `created_at`: the sales waiting on units of a SKU, oldest first. Set on a contribution when it
//!   is written, removed when all its units are released or its sale is cancelled.
//! - `by_vendor`: `gsi3pk` = `{len(account)}:{account}#{vendor}`, sort `sk`, projects `status`: a
//!   vendor's orders, newest first, filtered by status (the open ones are what a buyer sends as one
//!   purchase order).
//!
//! The contribution items of an order share its partition and the prefix `CONTRIB#{ulid}#`, so its
//! audit trail pages with one key-condition query however many sales fed it (no item grows with
//! the sales).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::domain::OrderStatus;
use crate::ids::{
    AccountId, AdjustmentId, ReceiptId, ReplenishmentId, RequestId, SaleId, Sku, VendorId,
};

pub type Item = HashMap<String, AttributeValue>;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1PK: &str = "gsi1pk";
pub const GSI2PK: &str = "gsi2pk";
pub const OPEN_PK: &str = "open_pk";
pub const OPEN_SK: &str = "open_sk";
pub const GSI3PK: &str = "gsi3pk";
pub const INDEX_BY_STATUS: &str = "by_status";
pub const INDEX_BY_SKU: &str = "by_sku";
pub const INDEX_OPEN_BY_AGE: &str = "open_by_age";
pub const INDEX_BY_VENDOR: &str = "by_vendor";
pub const OPEN_PARTITION: &str = "OPEN";
/// Index partitions the open orders of all accounts are spread over (see [`open_partition`]).
pub const OPEN_SHARDS: usize = 16;
pub const INDEX_BY_ACCOUNT: &str = "by_account";
pub const GSI4PK: &str = "gsi4pk";
/// The root of an account's order listing partition in `by_account`.
const ORDERS_ROOT: &str = "ORDERS";
pub const AUTO_BACKORDER: &str = "auto_backorder";
pub const AUTO_BACKORDER_DEFAULT: &str = "auto_backorder_default";
pub const ON_HAND: &str = "on_hand";
pub const VERSION: &str = "ver";
pub const POLICY: &str = "policy";
pub const VENDOR_ID: &str = "vendor_id";
pub const OPEN_RID: &str = "open_rid";
pub const FINGERPRINT: &str = "fingerprint";
pub const PARTS: &str = "parts";
pub const PART_LINES: &str = "part_lines";
/// Sale record of a sale in parts: the SKUs cut into its first part (held to a back-order limit).
pub const FIRST_SKUS: &str = "first_skus";
pub const DONE: &str = "done";
pub const FULFILLMENT_ID: &str = "fulfillment_id";
pub const CUSTOMER: &str = "customer";
pub const CHANNEL: &str = "channel";
pub const LINES: &str = "lines";
pub const DELTA: &str = "delta";
pub const ON_HAND_AFTER: &str = "on_hand_after";
pub const STATUS: &str = "status";
pub const RESULT: &str = "result";
pub const RID: &str = "rid";
pub const SKU_ATTR: &str = "sku";
pub const QUANTITY: &str = "quantity";
pub const TAGS: &str = "tags";
pub const CREATED_AT: &str = "created_at";
pub const UPDATED_AT: &str = "updated_at";
pub const CLOSED_AT: &str = "closed_at";
pub const RECEIVED: &str = "received";
pub const RECEIPT_STATUS: &str = "receipt_status";
pub const RECEIVED_AFTER: &str = "received_after";
pub const ALLOW_OVER_RECEIPT: &str = "allow_over_receipt";
pub const SALE_ID: &str = "sale_id";
pub const UNITS: &str = "units";
pub const TAKEN_BACK: &str = "taken_back";
pub const CANCELLED_AT: &str = "cancelled_at";
pub const CANCEL_DONE: &str = "cancel_done";
pub const CANCEL_RESULT: &str = "cancel_result";
pub const CANCEL_LINES: &str = "cancel_lines";
/// The `fingerprint` of a sale record written by a cancel that came before its sale: no request
/// has this fingerprint (they are hex digests), so a finalize under the sale id is told apart.
pub const TOMBSTONE: &str = "cancelled-before-finalized";
/// Sale record of a sale being applied line by line: the request (JSON), and the lease of the one
/// applier allowed to write its lines (epoch milliseconds, and the applier's token).
pub const REQUEST: &str = "request";
pub const LEASE_UNTIL: &str = "lease_until";
pub const LEASE: &str = "lease";
/// SKU item: the id of the open order whose order item is known to exist.
pub const ORDER_MADE: &str = "made";
/// SKU item: the running quantity of its open auto-back-order order (`open_rid`): sales add their
/// units here, not to the order item, until the order closes.
pub const OPEN_QTY: &str = "open_qty";
/// Contribution: its place in the order of service (the SKU's version when its line landed).
pub const POS: &str = "pos";
/// Contribution: units released to the sale (received on the order, oldest sale first).
pub const RELEASED: &str = "released";
pub const RELEASED_AT: &str = "released_at";
/// Contribution of a sale still waiting on units: its `awaiting` index partition (the SKU's) and
/// sort key (`pos`). Removed once all its units are released or the sale is cancelled.
pub const AWAIT_PK: &str = "await_pk";
pub const AWAIT_POS: &str = "await_pos";
pub const INDEX_AWAITING: &str = "awaiting";
/// Order: bumped by every cancellation of a sale whose units stayed in it once closed, so a
/// receipt's release is computed over the sales still owed (its condition).
pub const CANCELS: &str = "cancels";
/// Order: `closed_at` plus the vendor's lead time at close.
pub const EXPECTED_AT: &str = "expected_at";
/// Order: the units asked of the vendor (set at close for an auto-back-order order; a regular
/// order's quantity).
pub const ORDERED_QUANTITY: &str = "ordered_quantity";
/// Vendor settings (and a SKU's own override): units per case.
pub const PACK_SIZE: &str = "pack_size";
/// Vendor settings: the smallest order, in units.
pub const MIN_ORDER_UNITS: &str = "min_order_units";
/// SKU: how far below zero sales may take its stock (absent: no limit).
pub const BACKORDER_LIMIT: &str = "backorder_limit";
/// Vendor settings: days from an order's close to its expected arrival.
pub const LEAD_TIME_DAYS: &str = "lead_time_days";
/// Receipt record: what it released, `[{"sale_id", "units"}]` (JSON), and how many part items
/// continue the list when it does not fit one item.
pub const RELEASED_TO: &str = "released_to";
pub const RELEASED_PARTS: &str = "released_parts";
/// Sale record: set while the sale was still being finalized when its last units were released,
/// so that its completion's stream record asks whether it is ready (order-events' filter).
pub const READY_CHECK: &str = "ready_check";
pub const SETTINGS_SK: &str = "SETTINGS";
const VENDOR_PREFIX: &str = "VENDOR#";
const SKU_PREFIX: &str = "SKU#";
const SALE_PREFIX: &str = "SALE#";
const SALE_PART_PREFIX: &str = "SALEPART#";
pub const ORDER_PREFIX: &str = "ORDER#";
const ADJUSTMENT_PREFIX: &str = "ADJ#";
const CONTRIBUTION_PREFIX: &str = "CONTRIB#";
const RECEIPT_PREFIX: &str = "RCPT#";
const RECEIPT_PART_PREFIX: &str = "RCPTP#";
const REQUEST_PREFIX: &str = "REQ#";

/// The partition of an aggregate: `{len(account)}:{account}#{root sort key}`. Each aggregate (a
/// SKU, a sale, an order, a vendor's settings, ...) has a partition of its own, so no merchant's
/// traffic shares a partition with another aggregate's; the byte length of the account makes
/// the key unambiguous whatever the ids hold.
pub fn partition(account: &AccountId, root: &str) -> String {
    format!("{}:{}#{}", account.as_str().len(), account, root)
}

/// The account and root sort key of a partition key ([`partition`]'s inverse).
pub fn parse_partition(pk: &str) -> Option<(&str, &str)> {
    let (len, rest) = pk.split_once(':')?;
    let len: usize = len.parse().ok()?;
    let account = rest.get(..len)?;
    let root = rest.get(len..)?.strip_prefix('#')?;
    Some((account, root))
}

fn item_key(pk: String, sk: String) -> Item {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(pk)),
        (SK.to_owned(), AttributeValue::S(sk)),
    ])
}

/// The key of an aggregate's root item, in its own partition.
fn key(account: &AccountId, sk: String) -> Item {
    item_key(partition(account, &sk), sk)
}

/// The key of an item that belongs to the aggregate whose root sort key is `root`.
fn child_key(account: &AccountId, root: &str, sk: String) -> Item {
    item_key(partition(account, root), sk)
}

pub fn settings_key(account: &AccountId) -> Item {
    key(account, SETTINGS_SK.to_owned())
}

pub fn vendor_key(account: &AccountId, vendor: &VendorId) -> Item {
    key(account, format!("{VENDOR_PREFIX}{vendor}"))
}

pub fn sku_key(account: &AccountId, sku: &Sku) -> Item {
    key(account, sku_sort_key(sku))
}

pub fn sku_sort_key(sku: &Sku) -> String {
    format!("{SKU_PREFIX}{sku}")
}

pub fn sale_key(account: &AccountId, sale: &SaleId) -> Item {
    key(account, format!("{SALE_PREFIX}{sale}"))
}

/// Results of part `k` of a sale finalized in several transactions. The part number comes first,
/// fixed width, so no sale id can make two parts' keys equal.
pub fn sale_part_sort_key(sale: &SaleId, k: u32) -> String {
    format!("{SALE_PART_PREFIX}{k:04}#{sale}")
}

pub fn sale_part_key(account: &AccountId, sale: &SaleId, k: u32) -> Item {
    child_key(
        account,
        &format!("{SALE_PREFIX}{sale}"),
        sale_part_sort_key(sale, k),
    )
}

pub fn order_sk(rid: &str) -> String {
    format!("{ORDER_PREFIX}{rid}")
}

/// A stock adjustment made with an `adjustment_id` (its idempotency key, per account).
pub fn adjustment_key(account: &AccountId, adjustment: &AdjustmentId) -> Item {
    key(account, format!("{ADJUSTMENT_PREFIX}{adjustment}"))
}

pub fn order_key(account: &AccountId, rid: &ReplenishmentId) -> Item {
    key(account, order_sk(rid.as_str()))
}

pub fn order_key_str(account: &AccountId, rid: &str) -> Item {
    key(account, order_sk(rid))
}

/// What a sale added to an order. Order ids are fixed-width ULIDs, so the prefix of one order's
/// contributions is never the prefix of another's.
pub fn contribution_prefix(rid: &str) -> String {
    format!("{CONTRIBUTION_PREFIX}{rid}#")
}

pub fn contribution_key(account: &AccountId, rid: &str, sale: &SaleId) -> Item {
    child_key(
        account,
        &order_sk(rid),
        format!("{}{sale}", contribution_prefix(rid)),
    )
}

/// The sale id of a contribution's sort key.
pub fn sale_of_contribution(sk: &str, rid: &str) -> Option<String> {
    sk.strip_prefix(&contribution_prefix(rid))
        .map(str::to_owned)
}

pub fn receipt_key(account: &AccountId, rid: &ReplenishmentId, receipt: &ReceiptId) -> Item {
    child_key(
        account,
        &order_sk(rid.as_str()),
        format!("{RECEIPT_PREFIX}{rid}#{receipt}"),
    )
}

/// Part `k` (1..) of what a receipt released, when the list does not fit its record. The part
/// number comes first, fixed width, so no receipt id can make two parts' keys equal.
pub fn receipt_part_key(
    account: &AccountId,
    rid: &ReplenishmentId,
    receipt: &ReceiptId,
    k: usize,
) -> Item {
    child_key(
        account,
        &order_sk(rid.as_str()),
        format!("{RECEIPT_PART_PREFIX}{rid}#{k:04}#{receipt}"),
    )
}

pub fn request_key(account: &AccountId, request: &RequestId) -> Item {
    key(account, format!("{REQUEST_PREFIX}{request}"))
}

/// `by_vendor` partition of a vendor's orders; the length prefix keeps (account, vendor) pairs
/// distinct. Set once when the order is created (it never moves, so a close writes no index).
pub fn vendor_partition(account: &AccountId, vendor: &str) -> String {
    format!("{}:{}#{}", account.as_str().len(), account, vendor)
}

/// `by_status` partition of an account's orders in a status.
pub fn status_partition(account: &AccountId, status: OrderStatus) -> String {
    format!("{}#{}", status.as_str(), account)
}

/// `by_sku` partition of a SKU's orders; the length prefix keeps (account, sku) pairs distinct.
pub fn sku_partition(account: &AccountId, sku: &Sku) -> String {
    format!("{}:{}#{}", account.as_str().len(), account, sku)
}

/// `by_account` partition of an account's orders (all statuses), newest first.
pub fn orders_partition(account: &AccountId) -> String {
    partition(account, ORDERS_ROOT)
}

/// The `open_by_age` shard of an order: its id's FNV-1a hash modulo [`OPEN_SHARDS`], so the open
/// orders of every account spread over that many index partitions; the scheduled close reads
/// them all.
pub fn open_partition(rid: &str) -> String {
    open_shard(usize::try_from(fnv(rid) % OPEN_SHARDS as u64).unwrap_or(0))
}

/// FNV-1a, 64 bits.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The name of `open_by_age` shard `n` (0..[`OPEN_SHARDS`]).
pub fn open_shard(n: usize) -> String {
    format!("{OPEN_PARTITION}#{n:02}")
}

pub fn open_sort_key(created_at: &str, rid: &str) -> String {
    format!("{created_at}#{rid}")
}

/// SKU item: the quantity of an auto-back-order order `rid` its close has taken from `open_qty`,
/// until the close has written it on the order item.
pub fn closing_quantity_attr(rid: &str) -> String {
    format!("cq#{rid}")
}

/// The prefix of [`closed_version_attr`].
pub const CLOSED_VERSION_PREFIX: &str = "cc#";

/// SKU item: the `ver` just before the close of its auto-back-order order `rid`, while a marker of
/// a line written into that order may still need it: a marker names no order, and the one its
/// line went into is the first to close after its place, or else the open one
/// (`super::marks::order_at`).
pub fn closed_version_attr(rid: &str) -> String {
    format!("{CLOSED_VERSION_PREFIX}{rid}")
}

/// The prefix of every line marker's name: an item holding one has a sale in flight (or one
/// completed whose markers are not removed yet).
pub const SALE_MARK_PREFIX: &str = "~";

/// The prefix of the markers written before they were named by [`mark_key`] (`sm#{sale_id}`,
/// with `so#` and `sp#`): read and removed like the others, so that a sale claimed before and
/// applied after an upgrade is still applied once.
const LEGACY_MARK_PREFIX: &str = "sm#";

/// The part of a sale's marker names that tells the sale: 12 URL-safe base64 characters of the
/// SHA-256 of its id (72 bits). Markers are only compared with the others on the same SKU item,
/// a few dozen at a time: a new marker shares its name with one of 50 others with probability
/// 50 / 2^72, about 1e-20, so ten billion sales would meet one such pair with probability about
/// 1e-10 (the order and fulfillment ids, ULIDs, rest on 80 random bits). What a shared name
/// would do: the second sale would take the first's marker for its own line and answer its level
/// without writing it.
pub fn mark_key(sale: &SaleId) -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(sale.as_str().as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..9])
}

/// Whether a SKU item's attribute is a line marker (of either naming).
pub fn is_mark_attr(name: &str) -> bool {
    name.starts_with(SALE_MARK_PREFIX) || name.starts_with(LEGACY_MARK_PREFIX)
}

/// The prefix of a marker's place in line ([`mark_attrs_of`]).
pub const MARK_POS_PREFIX: &str = "^";

/// SKU item: the two marker attributes of the sale with this [`mark_key`], while it is being
/// applied: the stock level right after its line (so a replay applies nothing twice and learns
/// what the line did), and, for a line that back-orders, its place in line (the SKU's version
/// just before it), which also tells the order its units went into ([`closed_version_attr`]).
/// Covered lines have only the first: 16 bytes or so; a line that back-orders about 33.
pub fn mark_attrs_of(key: &str) -> [String; 2] {
    [
        format!("{SALE_MARK_PREFIX}{key}"),
        format!("{MARK_POS_PREFIX}{key}"),
    ]
}

/// The names a sale's markers had before [`mark_key`]: level, order, place.
pub fn legacy_mark_attrs(sale: &SaleId) -> [String; 3] {
    [
        format!("{LEGACY_MARK_PREFIX}{sale}"),
        format!("so#{sale}"),
        format!("sp#{sale}"),
    ]
}

/// `awaiting` index partition of a SKU's waiting sales (same shape as [`sku_partition`]).
pub fn awaiting_partition(account: &AccountId, sku: &Sku) -> String {
    sku_partition(account, sku)
}

/// The order id and sale id of a contribution's sort key (`CONTRIB#{ulid}#{sale_id}`).
pub fn contribution_of_sort_key(sk: &str) -> Option<(&str, &str)> {
    sk.strip_prefix(CONTRIBUTION_PREFIX)?.split_once('#')
}

/// The SKU a `SKU#...` sort key names.
pub fn sku_of_sort_key(sk: &str) -> Option<&str> {
    sk.strip_prefix(SKU_PREFIX)
}

/// The vendor a `VENDOR#...` sort key names.
pub fn vendor_of_sort_key(sk: &str) -> Option<&str> {
    sk.strip_prefix(VENDOR_PREFIX)
}

/// The sale id of a `SALE#...` sort key.
pub fn sale_id_of_sort_key(sk: &str) -> Option<&str> {
    sk.strip_prefix(SALE_PREFIX)
}

pub fn sale_of_sort_key(sk: &str) -> bool {
    sk.starts_with(SALE_PREFIX)
}

/// The order id of an `ORDER#...` sort key.
pub fn rid_of_order_sort_key(sk: &str) -> Option<&str> {
    sk.strip_prefix(ORDER_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn acct(s: &str) -> AccountId {
        AccountId::parse(s, "account_id").unwrap()
    }

    /// Ids may hold any character but control characters, `#` and `:` included.
    fn id() -> impl Strategy<Value = String> {
        "[a-c#:0-9é]{1,12}"
    }

    proptest! {
        /// A partition key names one (account, root) pair: it parses back to it, and two pairs
        /// share a key only if they are equal, whatever `#` and `:` the ids hold.
        #[test]
        fn partitions_are_unambiguous(a1 in id(), r1 in id(), a2 in id(), r2 in id()) {
            let (k1, k2) = (partition(&acct(&a1), &r1), partition(&acct(&a2), &r2));
            prop_assert_eq!(parse_partition(&k1), Some((a1.as_str(), r1.as_str())));
            prop_assert_eq!(k1 == k2, a1 == a2 && r1 == r2);
        }

        /// The same for the index partitions of a SKU's and a vendor's orders.
        #[test]
        fn index_partitions_are_unambiguous(a1 in id(), s1 in id(), a2 in id(), s2 in id()) {
            let k = |a: &str, s: &str| sku_partition(&acct(a), &Sku::parse(s, "sku").unwrap());
            prop_assert_eq!(k(&a1, &s1) == k(&a2, &s2), a1 == a2 && s1 == s2);
            prop_assert_eq!(
                vendor_partition(&acct(&a1), &s1) == vendor_partition(&acct(&a2), &s2),
                a1 == a2 && s1 == s2
            );
        }

        /// Open orders spread over every shard, each order always to the same one.
        #[test]
        fn open_shards_are_stable_and_in_range(rid in "[0-9A-Z]{26}") {
            let shard = open_partition(&rid);
            prop_assert_eq!(&shard, &open_partition(&rid));
            prop_assert!((0..OPEN_SHARDS).any(|n| open_shard(n) == shard));
        }
    }

    #[test]
    fn generated_order_ids_use_every_open_shard() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            seen.insert(open_partition(ReplenishmentId::generate().as_str()));
        }
        assert_eq!(seen.len(), OPEN_SHARDS);
    }

    #[test]
    fn marker_names_are_short_stable_and_tell_sales_apart() {
        let sale = |s: &str| SaleId::parse(s, "sale_id").unwrap();
        let long = "shopify:a-rather-long-shop-name.myshopify.com:820982911946154508";
        let key = mark_key(&sale(long));
        assert_eq!(key.len(), 12, "{key}");
        assert_eq!(key, mark_key(&sale(long)), "the same sale, the same name");
        assert!(key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        let names = mark_attrs_of(&key);
        assert!(names.iter().all(|n| n.len() == 13), "{names:?}");
        assert!(is_mark_attr(&names[0]) && is_mark_attr(&legacy_mark_attrs(&sale("s"))[0]));
        assert!(!is_mark_attr(ON_HAND) && !is_mark_attr(OPEN_RID) && !is_mark_attr("cq#X"));
        let keys: std::collections::HashSet<String> = (0..10_000)
            .map(|i| mark_key(&sale(&format!("sale-{i}"))))
            .collect();
        assert_eq!(keys.len(), 10_000);
    }
}
