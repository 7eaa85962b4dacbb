//! HTTP helpers shared by the functions: the caller's account, parameters, JSON bodies with named
//! field errors, and the one place a result becomes a response.

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::ids::{AccountId, IdError};
use crate::routes::{self, Operation, Route};
use crate::telemetry;

/// The longest a request may take before it is answered 503: under the functions' 15 s Lambda timeout.
pub const REQUEST_BUDGET: std::time::Duration = std::time::Duration::from_secs(12);

/// Largest request body read, in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The JWT claim naming the caller's account.
pub const ACCOUNT_CLAIM: &str = "account_id";

/// The caller's account: the JWT authorizer claim `account_id`. Nothing else (no header) counts.
pub fn account_id(req: &Request) -> Result<AccountId, ApiError> {
    let claim = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .and_then(|jwt| jwt.claims.get(ACCOUNT_CLAIM)),
        _ => None,
    };
    let claim =
        claim.ok_or_else(|| ApiError::Unauthorized("missing account_id claim".to_owned()))?;
    AccountId::parse(claim.as_str(), ACCOUNT_CLAIM)
        .map_err(|_| ApiError::Unauthorized("invalid account_id claim".to_owned()))
}

/// The route this request was matched to by API Gateway (its `routeKey`), or, for an event whose
/// route key is `$default`, the route its method and path match.
pub fn route(req: &Request) -> Option<&'static Route> {
    if let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() {
        if let Some(route) = ctx.route_key.as_deref().and_then(routes::by_key) {
            return Some(route);
        }
    }
    let segments: Vec<String> = req
        .raw_http_path()
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    routes::find(req.method().as_str(), &segments)
        .ok()
        .map(|(route, _)| route)
}

/// A percent-decoded path segment (invalid escapes are kept as they are, invalid UTF-8 replaced).
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// A path parameter (API Gateway passes them percent-decoded), parsed by `parse`; an invalid one
/// is a 400 naming the parameter.
pub fn path_param<T>(
    req: &Request,
    name: &str,
    parse: impl FnOnce(String, &str) -> Result<T, IdError>,
) -> Result<T, ApiError> {
    let params = req.path_parameters();
    let value = params
        .first(name)
        .ok_or_else(|| ApiError::invalid_parameter(name, "is missing"))?;
    parse(value.to_owned(), name)
        .map_err(|e| ApiError::invalid_parameter(&e.field, e.problem.describe()))
}

/// A query string parameter, if present.
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref()
        .and_then(|q| q.first(name))
        .map(str::to_owned)
}

/// Rejects query parameters other than `allowed`.
pub fn only_query_params(req: &Request, allowed: &[&str]) -> Result<(), ApiError> {
    if let Some(q) = req.query_string_parameters_ref() {
        for (name, _) in q.iter() {
            if !allowed.contains(&name) {
                return Err(ApiError::invalid_parameter(
                    name,
                    "is not a known query parameter",
                ));
            }
        }
    }
    Ok(())
}

/// The request body as bytes: API Gateway's base64 bodies arrive decoded (`Body::Binary`).
pub fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

/// The request body as a JSON object whose fields are read with [`Fields`].
pub fn json_body(req: &Request) -> Result<Fields, ApiError> {
    let bytes = body_bytes(req);
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest {
            code: "invalid_json",
            message: "body must be a JSON object".to_owned(),
            field: None,
        });
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest {
        code: "invalid_json",
        message: format!("body is not valid JSON: {}", json_error_summary(&e)),
        field: None,
    })?;
    match value {
        Value::Object(map) => Ok(Fields::new(map, "")),
        _ => Err(ApiError::BadRequest {
            code: "invalid_json",
            message: "body must be a JSON object".to_owned(),
            field: None,
        }),
    }
}

/// A parse error's kind and position, without echoing the input.
fn json_error_summary(e: &serde_json::Error) -> String {
    let kind = match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "invalid data",
        serde_json::error::Category::Eof => "unexpected end",
    };
    format!("{kind} at line {} column {}", e.line(), e.column())
}

/// The fields of a JSON object, read one by one; [`Fields::finish`] rejects any field left unread.
/// Errors name the field by its path (`lines[3].quantity`).
#[derive(Debug)]
pub struct Fields {
    map: Map<String, Value>,
    prefix: String,
}

impl Fields {
    pub fn new(map: Map<String, Value>, prefix: &str) -> Self {
        Fields {
            map,
            prefix: prefix.to_owned(),
        }
    }

    /// The full path of a field, for error messages.
    pub fn path(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }

    /// Takes a field; `None` when absent. JSON `null` counts as present (see the typed readers).
    pub fn take(&mut self, name: &str) -> Option<Value> {
        self.map.remove(name)
    }

    pub fn bool(&mut self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(_) => Err(ApiError::invalid_field(
                &self.path(name),
                "must be true or false",
            )),
        }
    }

    pub fn required_bool(&mut self, name: &str) -> Result<bool, ApiError> {
        self.bool(name)?
            .ok_or_else(|| ApiError::invalid_field(&self.path(name), "is required"))
    }

    /// A string field; `null` reads as absent-but-given (`Some(None)`).
    pub fn nullable_str(&mut self, name: &str) -> Result<Option<Option<String>>, ApiError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::String(s)) => Ok(Some(Some(s))),
            Some(_) => Err(ApiError::invalid_field(
                &self.path(name),
                "must be a string",
            )),
        }
    }

    pub fn str(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        match self.nullable_str(name)? {
            None => Ok(None),
            Some(None) => Err(ApiError::invalid_field(
                &self.path(name),
                "must be a string",
            )),
            Some(Some(s)) => Ok(Some(s)),
        }
    }

    /// An integer field within `min..=max`.
    pub fn int(&mut self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        match self.take(name) {
            None => Ok(None),
            Some(v) => {
                let path = self.path(name);
                int_in_range(&v, min, max).map(Some).ok_or_else(|| {
                    ApiError::invalid_field(&path, &format!("must be an integer in {min}..={max}"))
                })
            }
        }
    }

    /// An integer field within `min..=max`, or `null` (absent-but-given: `Some(None)`).
    pub fn nullable_int(
        &mut self,
        name: &str,
        min: i64,
        max: i64,
    ) -> Result<Option<Option<i64>>, ApiError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(v) => {
                let path = self.path(name);
                int_in_range(&v, min, max)
                    .map(|i| Some(Some(i)))
                    .ok_or_else(|| {
                        ApiError::invalid_field(
                            &path,
                            &format!("must be an integer in {min}..={max}, or null"),
                        )
                    })
            }
        }
    }

    pub fn required_int(&mut self, name: &str, min: i64, max: i64) -> Result<i64, ApiError> {
        self.int(name, min, max)?
            .ok_or_else(|| ApiError::invalid_field(&self.path(name), "is required"))
    }

    pub fn array(&mut self, name: &str) -> Result<Option<Vec<Value>>, ApiError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(ApiError::invalid_field(
                &self.path(name),
                "must be an array",
            )),
        }
    }

    /// A free-text label (customer, channel, reason): absent or null, or 1-128 characters without
    /// control characters.
    pub fn label(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        match self.nullable_str(name)? {
            None | Some(None) => Ok(None),
            Some(Some(s)) => match crate::ids::check_id(&s) {
                Ok(()) => Ok(Some(s)),
                Err(problem) => Err(ApiError::invalid_field(
                    &self.path(name),
                    problem.describe(),
                )),
            },
        }
    }

    /// Fails on the first field that was not read.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(name) => Err(ApiError::invalid_field(
                &self.path(name),
                "is not a known field",
            )),
        }
    }
}

/// An integral JSON number within `min..=max` (`2.0` counts as 2; `2.5`, `"2"` and `1e400` do not).
pub fn int_in_range(v: &Value, min: i64, max: i64) -> Option<i64> {
    let n = v.as_number()?;
    let i = if let Some(i) = n.as_i64() {
        i
    } else {
        let f = n.as_f64()?;
        if f.fract() != 0.0 || !f.is_finite() || f < i64::MIN as f64 || f > i64::MAX as f64 {
            return None;
        }
        f as i64
    };
    (min..=max).contains(&i).then_some(i)
}

/// Whether a body is absent or only whitespace (routes that take no body accept it, and `{}`).
pub fn body_is_blank(body: &Body) -> bool {
    match body {
        Body::Empty => true,
        Body::Text(t) => t.trim().is_empty(),
        Body::Binary(b) => b.iter().all(u8::is_ascii_whitespace),
        _ => false,
    }
}

/// A JSON response.
pub fn json_response(status: u16, body: &impl Serialize) -> Response<Body> {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    raw_json_response(status, text)
}

/// A response whose body is already JSON text (a stored sale result, replayed verbatim).
pub fn raw_json_response(status: u16, text: String) -> Response<Body> {
    let mut resp = Response::new(Body::Text(text));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// The response for an error, logged at the right level.
pub fn error_response(err: &ApiError) -> Response<Body> {
    match err {
        ApiError::Internal(source) => tracing::error!(error = %source, "request failed"),
        ApiError::Busy { .. } => tracing::warn!(error = %err, "request shed under contention"),
        other => tracing::info!(
            status = other.status(),
            code = other.code(),
            "request rejected"
        ),
    }
    let mut resp = json_response(err.status(), &err.body());
    if let Some(after) = err.retry_after() {
        let secs = after.as_secs().max(1).to_string();
        if let Ok(v) = HeaderValue::from_str(&secs) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    resp
}

/// Turns a handler's result into the response.
pub fn respond<T: Serialize>(result: Result<T, ApiError>) -> Response<Body> {
    match result {
        Ok(body) => json_response(200, &body),
        Err(err) => error_response(&err),
    }
}

/// The 404 for a route this function does not serve.
pub fn no_route() -> ApiError {
    ApiError::not_found("route_not_found", "no such route")
}

/// Serves one request of the function whose operations are `Op`: resolves the route and the
/// caller's account, runs `handler` on the route's operation, and logs one line with the route,
/// account, status and counters.
pub async fn serve<Op, F, Fut>(req: Request, handler: F) -> Response<Body>
where
    Op: Operation,
    F: FnOnce(Op, AccountId, Request) -> Fut,
    Fut: std::future::Future<Output = Result<Response<Body>, ApiError>>,
{
    let function = Op::FUNCTION;
    let Some((route, op)) = route(&req).and_then(|r| Some((r, Op::of(r.endpoint)?))) else {
        tracing::info!(function, status = 404, "no such route");
        return error_response(&no_route());
    };
    let account = match account_id(&req) {
        Ok(a) => a,
        Err(e) => {
            tracing::info!(route = %route.key(), status = e.status(), "unauthenticated request");
            return error_response(&e);
        }
    };
    // The ids this request names (path parameters), for its log line: ids only, never bodies.
    let ids = {
        let params = req.path_parameters();
        let mut ids: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        ids.sort();
        ids.join(",")
    };
    let (response, stats) = telemetry::observed(function, async {
        // Whatever the SDK calls take, answer before the Lambda timeout. Dropping the handler
        // mid-way is safe (as a crash is): a retry of the same request replays or resumes it.
        let outcome =
            tokio::time::timeout(REQUEST_BUDGET, Box::pin(handler(op, account.clone(), req))).await;
        let response = match outcome {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) => error_response(&e),
            Err(_) => error_response(&ApiError::Busy {
                retry_after: std::time::Duration::from_secs(1),
            }),
        };
        if response.status().is_client_error() {
            telemetry::count(|s| &s.requests_rejected, 1);
        }
        response
    })
    .await;
    let get = telemetry::Stats::get;
    tracing::info!(
        route = %route.key(),
        account = %account,
        ids = %ids,
        status = response.status().as_u16(),
        dynamodb_requests = get(&stats.dynamo_requests),
        dynamodb_retries = stats.dynamo_retries(),
        conflicts_retried = get(&stats.conflicts_retried),
        sales_finalized = get(&stats.sales_finalized),
        lines_in_transaction = get(&stats.lines_in_transaction),
        lines_line_by_line = get(&stats.lines_line_by_line),
        units_backordered = get(&stats.units_backordered),
        orders_opened = get(&stats.orders_opened),
        orders_closed = get(&stats.orders_closed),
        "request served"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn ints_must_be_integral_and_in_range() {
        assert_eq!(int_in_range(&json!(5), 1, 10), Some(5));
        assert_eq!(int_in_range(&json!(5.0), 1, 10), Some(5));
        assert_eq!(int_in_range(&json!(5.5), 1, 10), None);
        assert_eq!(int_in_range(&json!("5"), 1, 10), None);
        assert_eq!(int_in_range(&json!(0), 1, 10), None);
        assert_eq!(int_in_range(&json!(11), 1, 10), None);
        assert_eq!(int_in_range(&json!(u64::MAX), 1, i64::MAX), None);
        assert_eq!(int_in_range(&json!(-1e300), i64::MIN, i64::MAX), None);
    }

    #[test]
    fn unknown_fields_are_named() {
        let Value::Object(map) = json!({"known": true, "extra": 1}) else {
            unreachable!()
        };
        let mut f = Fields::new(map, "lines[0].");
        assert_eq!(f.bool("known").unwrap(), Some(true));
        let err = f.finish().unwrap_err();
        assert_eq!(
            err.body()["error"]["message"],
            "lines[0].extra is not a known field"
        );
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb%20c"), "a/b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }

    proptest! {
        #[test]
        fn int_reader_never_accepts_out_of_range(v in proptest::num::i64::ANY) {
            let got = int_in_range(&json!(v), 1, 1_000_000);
            prop_assert_eq!(got.is_some(), (1..=1_000_000).contains(&v));
        }

        #[test]
        fn float_reader_accepts_only_integers(f in proptest::num::f64::ANY) {
            if let Some(i) = int_in_range(&json!(f), -1_000_000, 1_000_000) {
                prop_assert_eq!(i as f64, f);
            }
        }
    }
}
