//! Routes HTTP requests to the functions exactly as API Gateway (HTTP API, payload v2) would: it
//! matches the route table, builds the v2 event JSON (with the `account_id` JWT claim taken from
//! the `X-Account-Id` header, default `demo`), and runs the function's handler on it.
//!
//! The `X-Account-Id` header exists only here. The Lambda handlers read the account from the JWT
//! authorizer claim alone.

use std::collections::BTreeMap;

use backorder::http::{error_response, percent_decode as decode, ACCOUNT_CLAIM};
use backorder::routes::{self, Route};
use backorder::{ApiError, Store};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use lambda_http::{Body, Response};
use serde_json::{json, Map, Value};

/// Header the local server reads the account from.
pub const ACCOUNT_HEADER: &str = "x-account-id";
/// Account used when the header is absent.
pub const DEFAULT_ACCOUNT: &str = "demo";

/// A request as it reaches API Gateway.
#[derive(Debug, Clone, Default)]
pub struct RawRequest {
    pub method: String,
    /// Path and query, as sent (percent-encoded).
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawRequest {
    pub fn new(method: &str, target: &str) -> Self {
        RawRequest {
            method: method.to_owned(),
            target: target.to_owned(),
            ..Default::default()
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    pub fn json(mut self, body: &Value) -> Self {
        self.body = body.to_string().into_bytes();
        self.header("content-type", "application/json")
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

/// Builds the API Gateway HTTP API v2 event for a matched request.
pub fn api_gateway_event(req: &RawRequest, route: &Route, params: &[(String, String)]) -> Value {
    let (raw_path, raw_query) = req
        .target
        .split_once('?')
        .unwrap_or((req.target.as_str(), ""));
    let mut headers = Map::new();
    for (name, value) in &req.headers {
        let joined = match headers.get(name).and_then(Value::as_str) {
            Some(prev) => format!("{prev},{value}"),
            None => value.clone(),
        };
        headers.insert(name.clone(), Value::String(joined));
    }
    let account = req
        .headers
        .iter()
        .find(|(n, _)| n == ACCOUNT_HEADER)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| DEFAULT_ACCOUNT.to_owned());

    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (decode(k), decode(v));
        query
            .entry(k)
            .and_modify(|prev| *prev = format!("{prev},{v}"))
            .or_insert(v);
    }
    let path_params: Map<String, Value> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
        .collect();
    let (body, is_base64) = match std::str::from_utf8(&req.body) {
        _ if req.body.is_empty() => (Value::Null, false),
        Ok(text) => (Value::String(text.to_owned()), false),
        Err(_) => (Value::String(STANDARD.encode(&req.body)), true),
    };
    let now = chrono::Utc::now();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route.key(),
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "authorizer": { "jwt": { "claims": { ACCOUNT_CLAIM: account }, "scopes": null } },
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": req.method.to_ascii_uppercase(),
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "local"
            },
            "requestId": ulid::Ulid::new().to_string(),
            "routeKey": route.key(),
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": now.timestamp_millis()
        },
        "isBase64Encoded": is_base64,
    });
    if !query.is_empty() {
        event["queryStringParameters"] = json!(query);
    }
    if !path_params.is_empty() {
        event["pathParameters"] = Value::Object(path_params);
    }
    if !body.is_null() {
        event["body"] = body;
    }
    event
}

/// Serves one request with the function its route belongs to.
pub async fn dispatch(store: &Store, req: &RawRequest) -> Response<Body> {
    let raw_path = req
        .target
        .split_once('?')
        .map_or(req.target.as_str(), |(p, _)| p);
    let segments: Vec<String> = raw_path
        .trim_start_matches('/')
        .split('/')
        .map(decode)
        .collect();
    let (route, params) = match routes::find(&req.method, &segments) {
        Ok(found) => found,
        Err(_) => {
            return error_response(&ApiError::not_found(
                "route_not_found",
                format!("no route for {} {raw_path}", req.method),
            ))
        }
    };
    let event = api_gateway_event(req, route, &params);
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(r) => r,
        Err(e) => {
            return error_response(&ApiError::BadRequest {
                code: "invalid_request",
                message: format!("unreadable request: {e}"),
                field: None,
            })
        }
    };
    match route.function {
        routes::SETTINGS => Box::pin(fn_settings::handle(store, request)).await,
        routes::INVENTORY => Box::pin(fn_inventory::handle(store, request)).await,
        routes::SALE_FINALIZE => Box::pin(fn_sale_finalize::handle(store, request)).await,
        routes::REPLENISHMENTS => Box::pin(fn_replenishments::handle(store, request)).await,
        routes::REPLENISHMENT_CLOSE => {
            Box::pin(fn_replenishment_close::handle_http(store, request)).await
        }
        routes::CHANNELS => {
            let queue = crate::queue::LocalQueue::new(store);
            Box::pin(fn_channels::handle(store, &queue, request)).await
        }
        // The page, with the local settings: same origin, the account chosen in the page.
        routes::CONSOLE => fn_console::handle(&fn_console::ConsoleConfig::local(), &request),
        other => error_response(&ApiError::not_found(
            "route_not_found",
            format!("no function {other}"),
        )),
    }
}

/// A response's body as text (every handler answers JSON text).
pub fn body_text(body: &Body) -> String {
    match body {
        Body::Empty => String::new(),
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}
