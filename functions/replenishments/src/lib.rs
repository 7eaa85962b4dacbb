//! `replenishments`: replenishment orders after they are raised.
//!
//! - `GET /replenishments?status=&sku=&vendor_id=&receipt_status=&tag=auto_backorder&limit=50&cursor=`
//!   -> `{"items", "next_cursor"}`
//! - `GET /replenishments/{replenishment_id}`
//! - `POST /replenishments` `{"sku", "vendor_id"?, "quantity", "request_id"?}`: a regular order
//! - `GET /replenishments/{replenishment_id}/sales?limit=&cursor=`: the sales that fed an order
//! - `POST /replenishments/{replenishment_id}/receipts` `{"receipt_id", "quantity", "allow_over_receipt"?}`
//! - `GET /vendors/{vendor_id}/replenishments?status=open|closed&limit=&cursor=`: a vendor's orders
//! - `GET /skus/{sku}/awaiting?limit=&cursor=`: the sales waiting on units of a SKU, oldest first

use backorder::domain::OrderStatus;
use backorder::http::{self, json_body, json_response, only_query_params, path_param, query_param};
use backorder::ids::{check_id, AccountId, ReplenishmentId, Sku, VendorId};
use backorder::requests::{receipt_request, regular_order_request};
use backorder::routes::ReplenishmentsOp;
use backorder::service::{create_regular_order, receive_units, waiting_sales};
use backorder::store::is_waiting_cursor;
use backorder::{ApiError, Store};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use lambda_http::{Body, Request, Response};
use serde_json::json;

mod query;

use query::{ListQuery, LIST_PARAMS};

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 100;

pub async fn handle(store: &Store, req: Request) -> Response<Body> {
    http::serve(req, |op, account, req| dispatch(store, op, account, req)).await
}

async fn dispatch(
    store: &Store,
    op: ReplenishmentsOp,
    account: AccountId,
    req: Request,
) -> Result<Response<Body>, ApiError> {
    match op {
        ReplenishmentsOp::List => {
            only_query_params(&req, &LIST_PARAMS)?;
            let q = ListQuery::read(&req)?;
            let (limit, after) = page_params(&req)?;
            let page = store
                .list_orders(&account, &q.filter(), limit, after.as_deref())
                .await?;
            Ok(page_response(&page.items, page.next.as_deref()))
        }
        ReplenishmentsOp::Get => {
            let rid = path_param(&req, "replenishment_id", ReplenishmentId::parse)?;
            match store.order(&account, &rid).await? {
                Some(order) => Ok(json_response(200, &order)),
                None => Err(order_not_found(&rid)),
            }
        }
        ReplenishmentsOp::CreateRegular => {
            let new = regular_order_request(json_body(&req)?)?;
            let (order, created) = create_regular_order(store, &account, &new).await?;
            Ok(json_response(if created { 201 } else { 200 }, &order))
        }
        ReplenishmentsOp::Sales => {
            let rid = path_param(&req, "replenishment_id", ReplenishmentId::parse)?;
            only_query_params(&req, &["limit", "cursor"])?;
            let (limit, after) = page_params(&req)?;
            if store.order(&account, &rid).await?.is_none() {
                return Err(order_not_found(&rid));
            }
            let page = store
                .contributions(&account, &rid, limit, after.as_deref())
                .await?;
            Ok(page_response(&page.items, page.next.as_deref()))
        }
        ReplenishmentsOp::Receive => {
            let rid = path_param(&req, "replenishment_id", ReplenishmentId::parse)?;
            let receipt = receipt_request(json_body(&req)?)?;
            let done = receive_units(
                store,
                &account,
                &rid,
                &receipt.receipt_id,
                receipt.quantity,
                receipt.allow_over_receipt,
            )
            .await?;
            // The order as the receipt left it, and what the receipt released, oldest sale first.
            let mut body = serde_json::to_value(&done.order).unwrap_or_default();
            body["released"] = json!(done.released);
            Ok(json_response(200, &body))
        }
        ReplenishmentsOp::Awaiting => {
            let sku = path_param(&req, "sku", Sku::parse)?;
            only_query_params(&req, &["limit", "cursor"])?;
            let (limit, after) = page_params(&req)?;
            if after.as_deref().is_some_and(|c| !is_waiting_cursor(c)) {
                return Err(ApiError::invalid_parameter(
                    "cursor",
                    "is not a cursor this API returned",
                ));
            }
            // The SKU read beside the page: an unknown one is 404, as everywhere else.
            let (known, page) = tokio::join!(
                store.sku(&account, &sku),
                waiting_sales(store, &account, &sku, limit, after.as_deref())
            );
            if known?.is_none() {
                return Err(ApiError::not_found(
                    "sku_not_found",
                    format!("sku {sku} not found"),
                ));
            }
            let (items, next) = page?;
            Ok(page_response(&items, next.as_deref()))
        }
        ReplenishmentsOp::ListVendor => {
            let vendor = path_param(&req, "vendor_id", VendorId::parse)?;
            only_query_params(&req, &["status", "limit", "cursor"])?;
            let status = match query_param(&req, "status") {
                None => OrderStatus::Open,
                Some(s) => parse_status(&s)?,
            };
            let (limit, after) = page_params(&req)?;
            let page = store
                .vendor_orders(&account, &vendor, status, limit, after.as_deref())
                .await?;
            Ok(page_response(&page.items, page.next.as_deref()))
        }
    }
}

/// `{"items", "next_cursor"}`: one page of a listing.
fn page_response(items: &impl serde::Serialize, next: Option<&str>) -> Response<Body> {
    json_response(
        200,
        &json!({ "items": items, "next_cursor": next.map(encode_cursor) }),
    )
}

fn order_not_found(rid: &ReplenishmentId) -> ApiError {
    ApiError::not_found(
        "replenishment_not_found",
        format!("replenishment_id {rid} not found"),
    )
}

pub(crate) fn parse_status(s: &str) -> Result<OrderStatus, ApiError> {
    OrderStatus::parse(s)
        .ok_or_else(|| ApiError::invalid_parameter("status", "must be \"open\" or \"closed\""))
}

/// `limit` (1..=100, default 50) and the decoded `cursor` of a paged listing.
fn page_params(req: &Request) -> Result<(usize, Option<String>), ApiError> {
    let limit = match query_param(req, "limit") {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| ApiError::invalid_parameter("limit", "must be an integer in 1..=100"))?,
    };
    let after = query_param(req, "cursor")
        .map(|c| decode_cursor(&c))
        .transpose()?;
    Ok((limit, after))
}

/// A cursor is the last order (or sale) id of a page; the query is rebuilt from the caller's own account,
/// so a cursor cannot reach another account's data.
pub fn encode_cursor(rid: &str) -> String {
    URL_SAFE_NO_PAD.encode(rid.as_bytes())
}

pub fn decode_cursor(cursor: &str) -> Result<String, ApiError> {
    let bad = || ApiError::invalid_parameter("cursor", "is not a cursor this API returned");
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .map_err(|_| bad())?;
    let rid = String::from_utf8(bytes).map_err(|_| bad())?;
    check_id(&rid).map_err(|_| bad())?;
    Ok(rid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_junk() {
        let rid = ReplenishmentId::generate();
        assert_eq!(
            decode_cursor(&encode_cursor(rid.as_str())).unwrap(),
            rid.as_str()
        );
        assert!(decode_cursor("!!!").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode([0xff, 0xfe])).is_err());
        assert!(decode_cursor("").is_err());
    }
}
