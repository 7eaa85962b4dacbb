//! `inventory`: stock levels.
//!
//! - `GET /skus/{sku}/inventory` -> `{"sku", "on_hand", "open_replenishment_id"}`
//! - `PUT /skus/{sku}/inventory` `{"on_hand"}`: a stock count; creates the SKU if new
//! - `POST /skus/{sku}/inventory/adjustments` `{"delta", "reason"?, "adjustment_id"?}`: adds
//!   atomically; with an `adjustment_id`, exactly once however often it is retried

use backorder::http::{self, json_body, json_response, path_param};
use backorder::ids::{AccountId, AdjustmentId, ReplenishmentId, Sku};
use backorder::routes::InventoryOp;
use backorder::service::{adjust_stock_once, now_rfc3339};
use backorder::store::SkuRecord;
use backorder::{ApiError, Store};
use lambda_http::{Body, Request, Response};
use serde_json::json;

/// Largest stock level accepted (either sign).
pub const MAX_ON_HAND: i64 = 1_000_000_000_000;
/// Largest single adjustment (either sign).
pub const MAX_DELTA: i64 = 1_000_000_000;

pub async fn handle(store: &Store, req: Request) -> Response<Body> {
    http::serve(req, |op, account, req| dispatch(store, op, account, req)).await
}

async fn dispatch(
    store: &Store,
    op: InventoryOp,
    account: AccountId,
    req: Request,
) -> Result<Response<Body>, ApiError> {
    let sku = path_param(&req, "sku", Sku::parse)?;
    let not_found = || ApiError::not_found("sku_not_found", format!("sku {sku} not found"));
    let record = match op {
        InventoryOp::Get => store.sku(&account, &sku).await?.ok_or_else(not_found)?,
        InventoryOp::Count => {
            let mut body = json_body(&req)?;
            let on_hand = body.required_int("on_hand", -MAX_ON_HAND, MAX_ON_HAND)?;
            body.finish()?;
            store
                .set_on_hand(&account, &sku, on_hand, &now_rfc3339())
                .await?
        }
        InventoryOp::Adjust => {
            let mut body = json_body(&req)?;
            let delta = body.required_int("delta", -MAX_DELTA, MAX_DELTA)?;
            let reason = body.label("reason")?;
            let adjustment = match body.nullable_str("adjustment_id")? {
                None | Some(None) => None,
                Some(Some(id)) => Some(AdjustmentId::parse(id, "adjustment_id")?),
            };
            body.finish()?;
            tracing::debug!(sku = %sku, delta, reason = reason.as_deref().unwrap_or(""), "stock adjustment");
            if let Some(adjustment) = adjustment {
                // With an adjustment_id: exactly once, however often it is retried.
                let level = adjust_stock_once(store, &account, &sku, delta, &adjustment).await?;
                return Ok(json_response(
                    200,
                    &json!({
                        "sku": level.sku,
                        "on_hand": level.on_hand,
                        "open_replenishment_id": level.open_replenishment_id,
                    }),
                ));
            }
            store
                .adjust_on_hand(&account, &sku, delta, &now_rfc3339())
                .await?
                .ok_or_else(not_found)?
        }
    };
    Ok(level(&record))
}

fn level(record: &SkuRecord) -> Response<Body> {
    json_response(
        200,
        &json!({
            "sku": record.sku.as_str(),
            "on_hand": record.state.on_hand,
            "open_replenishment_id": record.shown_open_order().map(ReplenishmentId::as_str),
        }),
    )
}
