//! `settings`: the account toggle, vendor defaults and per-SKU policy.
//!
//! - `GET|PUT /settings` -> `{"auto_backorder"}`
//! - `GET|PUT /vendors/{vendor_id}/settings` -> `{"vendor_id", "auto_backorder_default",
//!   "lead_time_days", "pack_size", "min_order_units"}`
//! - `GET|PUT /skus/{sku}/settings` -> `{"sku", "vendor_id", "auto_backorder",
//!   "effective_auto_backorder", "pack_size", "backorder_limit"}`

use backorder::domain::{
    effective_backorder, BackorderPolicy, MAX_BACKORDER_LIMIT, MAX_LEAD_TIME_DAYS,
    MAX_MIN_ORDER_UNITS, MAX_PACK_SIZE,
};
use backorder::http::{self, json_body, json_response, path_param};
use backorder::ids::{AccountId, Sku, VendorId};
use backorder::routes::SettingsOp;
use backorder::service::now_rfc3339;
use backorder::store::{SkuChange, SkuRecord, VendorChange, VendorSettings};
use backorder::{ApiError, Store};
use lambda_http::{Body, Request, Response};
use serde_json::json;

pub async fn handle(store: &Store, req: Request) -> Response<Body> {
    http::serve(req, |op, account, req| dispatch(store, op, account, req)).await
}

async fn dispatch(
    store: &Store,
    op: SettingsOp,
    account: AccountId,
    req: Request,
) -> Result<Response<Body>, ApiError> {
    match op {
        SettingsOp::GetAccount => {
            let on = store.account_auto_backorder(&account).await?;
            Ok(json_response(200, &json!({ "auto_backorder": on })))
        }
        SettingsOp::PutAccount => {
            let mut body = json_body(&req)?;
            let on = body.required_bool("auto_backorder")?;
            body.finish()?;
            store
                .set_account_auto_backorder(&account, on, &now_rfc3339())
                .await?;
            Ok(json_response(200, &json!({ "auto_backorder": on })))
        }
        SettingsOp::GetVendor => {
            let vendor = path_param(&req, "vendor_id", VendorId::parse)?;
            let settings = store.vendor_settings(&account, &vendor).await?;
            Ok(vendor_settings(&vendor, settings))
        }
        SettingsOp::PutVendor => {
            let vendor = path_param(&req, "vendor_id", VendorId::parse)?;
            let mut body = json_body(&req)?;
            let change = VendorChange {
                auto_backorder_default: body.bool("auto_backorder_default")?,
                lead_time_days: body.nullable_int("lead_time_days", 0, MAX_LEAD_TIME_DAYS)?,
                pack_size: body.nullable_int("pack_size", 1, MAX_PACK_SIZE)?,
                min_order_units: body.nullable_int("min_order_units", 0, MAX_MIN_ORDER_UNITS)?,
            };
            body.finish()?;
            if change.is_empty() {
                return Err(ApiError::invalid_field(
                    "auto_backorder_default",
                    "or lead_time_days, pack_size or min_order_units is required",
                ));
            }
            let settings = store
                .set_vendor_settings(&account, &vendor, change, &now_rfc3339())
                .await?;
            Ok(vendor_settings(&vendor, settings))
        }
        SettingsOp::GetSku => {
            let sku = path_param(&req, "sku", Sku::parse)?;
            let record = store.sku(&account, &sku).await?.ok_or_else(|| {
                ApiError::not_found("sku_not_found", format!("sku {sku} not found"))
            })?;
            sku_settings(store, &account, &record).await
        }
        SettingsOp::PutSku => {
            let sku = path_param(&req, "sku", Sku::parse)?;
            let mut body = json_body(&req)?;
            let policy = match body.str("auto_backorder")? {
                None => None,
                Some(p) => Some(BackorderPolicy::parse(&p).ok_or_else(|| {
                    ApiError::invalid_field(
                        "auto_backorder",
                        "must be one of \"backorder\", \"vendor_default\", \"never\"",
                    )
                })?),
            };
            let vendor = match body.nullable_str("vendor_id")? {
                None => None,
                Some(None) => Some(None),
                Some(Some(v)) => Some(Some(VendorId::parse(v, "vendor_id")?)),
            };
            let change = SkuChange {
                policy,
                vendor,
                pack_size: body.nullable_int("pack_size", 1, MAX_PACK_SIZE)?,
                backorder_limit: body.nullable_int("backorder_limit", 0, MAX_BACKORDER_LIMIT)?,
            };
            body.finish()?;
            if change.is_empty() {
                return Err(ApiError::invalid_field(
                    "auto_backorder",
                    "or vendor_id, pack_size or backorder_limit is required",
                ));
            }
            let record = store
                .upsert_sku_settings(&account, &sku, &change, &now_rfc3339())
                .await?;
            sku_settings(store, &account, &record).await
        }
    }
}

async fn sku_settings(
    store: &Store,
    account: &AccountId,
    record: &SkuRecord,
) -> Result<Response<Body>, ApiError> {
    let state = &record.state;
    // The vendor's default matters only under `vendor_default`; read it with the account's
    // setting, in one request.
    let vendor = state
        .vendor_id
        .as_ref()
        .filter(|_| state.policy == BackorderPolicy::VendorDefault);
    let (account_on, vendor_default) = store.account_and_vendor_flags(account, vendor).await?;
    Ok(json_response(
        200,
        &json!({
            "sku": record.sku.as_str(),
            "vendor_id": state.vendor_id.as_ref().map(VendorId::as_str),
            "auto_backorder": state.policy.as_str(),
            "effective_auto_backorder": effective_backorder(account_on, state.policy, vendor_default),
            "pack_size": state.pack_size,
            "backorder_limit": state.backorder_limit,
        }),
    ))
}

/// `{"vendor_id", "auto_backorder_default", "lead_time_days", "pack_size", "min_order_units"}`.
fn vendor_settings(vendor: &VendorId, settings: VendorSettings) -> Response<Body> {
    json_response(
        200,
        &json!({
            "vendor_id": vendor.as_str(),
            "auto_backorder_default": settings.auto_backorder_default,
            "lead_time_days": settings.lead_time_days,
            "pack_size": settings.pack_size,
            "min_order_units": settings.min_order_units,
        }),
    )
}
