//! `sale-finalize`: finalizes sales, back-ordering what stock does not cover.
//!
//! - `POST /sales/{sale_id}/finalize` `{"customer"?, "channel"?, "lines": [{"sku", "quantity"}]}`
//! - `GET /sales/{sale_id}`: the finalized sale

use backorder::http::{self, json_body, path_param, raw_json_response};
use backorder::ids::{AccountId, SaleId};
use backorder::requests::sale_request;
use backorder::routes::{self, Route};
use backorder::service::{finalize_sale, sale_body};
use backorder::{ApiError, Store};
use lambda_http::{Body, Request, Response};

pub async fn handle(store: &Store, req: Request) -> Response<Body> {
    http::serve(routes::SALE_FINALIZE, req, |route, account, req| {
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
    let sale_id = path_param(&req, "sale_id", SaleId::parse)?;
    match (route.method, route.path) {
        ("POST", "/sales/{sale_id}/finalize") => {
            let request = sale_request(json_body(&req)?)?;
            let done = finalize_sale(store, &account, &sale_id, &request).await?;
            tracing::debug!(
                sale_id = %sale_id,
                lines = done.lines,
                parts = done.parts,
                backordered = done.backordered,
                replayed = done.replayed,
                attempts = done.attempts,
                "sale finalized"
            );
            Ok(raw_json_response(200, done.body))
        }
        ("GET", "/sales/{sale_id}") => match store.sale(&account, &sale_id).await? {
            Some(sale) => Ok(raw_json_response(
                200,
                sale_body(store, &account, &sale_id, &sale).await?,
            )),
            None => Err(ApiError::not_found(
                "sale_not_found",
                format!("sale_id {sale_id} not found"),
            )),
        },
        _ => Err(http::no_route()),
    }
}
