//! `settings`: the account toggle, vendor defaults and per-SKU policy.
//!
//! - `GET|PUT /settings` -> `{"auto_backorder"}`
//! - `GET|PUT /vendors/{vendor_id}/settings` -> `{"vendor_id", "auto_backorder_default"}`
//! - `GET|PUT /skus/{sku}/settings` -> `{"sku", "vendor_id", "auto_backorder", "effective_auto_backorder"}`

use backorder::domain::{effective_backorder, BackorderPolicy};
use backorder::http::{self, json_body, json_response, path_param};
use backorder::ids::{AccountId, Sku, VendorId};
use backorder::routes::{self, Route};
use backorder::service::now_rfc3339;
use backorder::store::items::SkuRecord;
use backorder::{ApiError, Store};
use lambda_http::{Body, Request, Response};
use serde_json::json;

pub async fn handle(store: &Store, req: Request) -> Response<Body> {
    http::serve(routes::SETTINGS, req, |route, account, req| {
        dispatch(store, route, account, req)
    })
    .await
}

async fn dispatch(
    store: &Store,
    route: &Route,
    account: AccountId,
    req: Request,
) -> Result<Response<Body>, ApiError> {
    match (route.method, route.path) {
        ("GET", "/settings") => {
            let on = store.account_auto_backorder(&account).await?;
            Ok(json_response(200, &json!({ "auto_backorder": on })))
        }
        ("PUT", "/settings") => {
            let mut body = json_body(&req)?;
            let on = body.required_bool("auto_backorder")?;
            body.finish()?;
            store
                .set_account_auto_backorder(&account, on, &now_rfc3339())
                .await?;
            Ok(json_response(200, &json!({ "auto_backorder": on })))
        }
        ("GET", "/vendors/{vendor_id}/settings") => {
            let vendor = path_param(&req, "vendor_id", VendorId::parse)?;
            let on = store
                .vendor_auto_backorder_default(&account, &vendor)
                .await?;
            Ok(json_response(
                200,
                &json!({ "vendor_id": vendor.as_str(), "auto_backorder_default": on }),
            ))
        }
        ("PUT", "/vendors/{vendor_id}/settings") => {
            let vendor = path_param(&req, "vendor_id", VendorId::parse)?;
            let mut body = json_body(&req)?;
            let on = body.required_bool("auto_backorder_default")?;
            body.finish()?;
            store
                .set_vendor_auto_backorder_default(&account, &vendor, on, &now_rfc3339())
                .await?;
            Ok(json_response(
                200,
                &json!({ "vendor_id": vendor.as_str(), "auto_backorder_default": on }),
            ))
        }
        ("GET", "/skus/{sku}/settings") => {
            let sku = path_param(&req, "sku", Sku::parse)?;
            let record = store.sku(&account, &sku).await?.ok_or_else(|| {
                ApiError::not_found("sku_not_found", format!("sku {sku} not found"))
            })?;
            sku_settings(store, &account, &record).await
        }
        ("PUT", "/skus/{sku}/settings") => {
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
            body.finish()?;
            if policy.is_none() && vendor.is_none() {
                return Err(ApiError::invalid_field(
                    "auto_backorder",
                    "or vendor_id is required",
                ));
            }
            let record = store
                .upsert_sku_settings(&account, &sku, policy, vendor, &now_rfc3339())
                .await?;
            sku_settings(store, &account, &record).await
        }
        _ => Err(http::no_route()),
    }
}

async fn sku_settings(
    store: &Store,
    account: &AccountId,
    record: &SkuRecord,
) -> Result<Response<Body>, ApiError> {
    let state = &record.state;
    let account_on = store.account_auto_backorder(account).await?;
    let vendor_default = match (
        &state.vendor_id,
        account_on && state.policy == BackorderPolicy::VendorDefault,
    ) {
        (Some(vendor), true) => store.vendor_auto_backorder_default(account, vendor).await?,
        _ => false,
    };
    Ok(json_response(
        200,
        &json!({
            "sku": record.sku.as_str(),
            "vendor_id": state.vendor_id.as_ref().map(VendorId::as_str),
            "auto_backorder": state.policy.as_str(),
            "effective_auto_backorder": effective_backorder(account_on, state.policy, vendor_default),
        }),
    ))
}
