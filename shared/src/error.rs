//! Typed errors and their one mapping to HTTP.
//!
//! Each layer says what went wrong in its own terms: [`StoreError`] for the adapter, one enum per
//! use case in [`crate::service`], [`IdError`] for an invalid id. The `From` impls below are the only
//! place any of them becomes an [`ApiError`], and [`ApiError::status`], [`ApiError::code`] and
//! [`ApiError::public_message`] the only place an error becomes a status code and a JSON body.
//! Store internals never reach a caller: they are logged and answered with a generic 500.

use std::time::Duration;

use crate::ids::IdError;
use crate::service::{
    AdjustError, CancelError, CloseError, FinalizeError, ReceiveError, RegularOrderError,
};

/// An error of the storage adapter.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A DynamoDB request failed (network, throttling after the SDK's retries, service error).
    #[error("DynamoDB {operation} failed: {source}")]
    Dynamo {
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// DynamoDB was unreachable, throttled us, timed out or failed on its side, after the SDK's own
    /// retries: a transient condition the caller should retry (503).
    #[error("DynamoDB {operation} unavailable: {source}")]
    Unavailable {
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An item in the table does not have the shape this code writes.
    #[error("malformed item {key}: {problem}")]
    Malformed { key: String, problem: String },
    /// Optimistic concurrency retries ran out (hot item or persistent transaction conflicts).
    #[error("gave up after {attempts} attempts under contention")]
    Contention { attempts: u32 },
}

impl StoreError {
    pub fn dynamo<E>(operation: &'static str, err: E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        StoreError::Dynamo {
            operation,
            source: Box::new(err),
        }
    }
}

/// Everything a request can fail with, as the caller will see it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: no `account_id` claim (or an invalid one).
    #[error("{0}")]
    Unauthorized(String),
    /// 400: the request cannot be read (not JSON, bad path or query parameter, bad cursor).
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        message: String,
        /// The parameter or field at fault, when there is one (the body's `error.field`).
        field: Option<String>,
    },
    /// 404: no such object in this account, or no such route.
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// 409: the request contradicts what is stored (idempotency key reused with another body).
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    /// 413: the body is larger than the service reads.
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// 422: a field of a well-formed request has an invalid value.
    #[error("{message}")]
    Unprocessable {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    /// 503: contention did not clear within the retry budget; the caller should retry.
    #[error("the service is busy, retry after {retry_after:?}")]
    Busy { retry_after: Duration },
    /// 500: a failure of ours; details are logged, never returned.
    #[error(transparent)]
    Internal(StoreError),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Contention { .. } | StoreError::Unavailable { .. } => ApiError::Busy {
                retry_after: Duration::from_secs(1),
            },
            other => ApiError::Internal(other),
        }
    }
}

/// An invalid id in a request body (422, naming the field).
impl From<IdError> for ApiError {
    fn from(err: IdError) -> Self {
        ApiError::invalid_field(&err.field, err.problem.describe())
    }
}

fn conflict(code: &'static str, err: &impl std::fmt::Display, field: Option<String>) -> ApiError {
    ApiError::Conflict {
        code,
        message: err.to_string(),
        field,
    }
}

fn not_found(code: &'static str, err: &impl std::fmt::Display) -> ApiError {
    ApiError::not_found(code, err.to_string())
}

fn unprocessable(code: &'static str, err: &impl std::fmt::Display, field: String) -> ApiError {
    ApiError::Unprocessable {
        code,
        message: err.to_string(),
        field: Some(field),
    }
}

fn field(name: &str) -> Option<String> {
    Some(name.to_owned())
}

impl From<FinalizeError> for ApiError {
    fn from(err: FinalizeError) -> Self {
        match err {
            FinalizeError::Conflict(_) => conflict("sale_conflict", &err, field("sale_id")),
            FinalizeError::Cancelled(_) | FinalizeError::CancelledFirst(_) => {
                conflict("sale_cancelled", &err, field("sale_id"))
            }
            FinalizeError::UnknownSku { index, .. } => {
                unprocessable("unknown_sku", &err, format!("lines[{index}].sku"))
            }
            FinalizeError::LimitReached { index, .. } => conflict(
                "backorder_limit_reached",
                &err,
                Some(format!("lines[{index}].sku")),
            ),
            FinalizeError::TooManyLimited { .. } => {
                unprocessable("invalid_field", &err, "lines".to_owned())
            }
            FinalizeError::Store(e) => e.into(),
        }
    }
}

impl From<crate::service::shops::ShopError> for ApiError {
    fn from(err: crate::service::shops::ShopError) -> Self {
        use crate::service::shops::ShopError;
        match err {
            ShopError::Taken(_) => conflict("shop_taken", &err, field("shop_domain")),
            ShopError::NotFound(_) => not_found("shop_not_found", &err),
            ShopError::Store(e) => e.into(),
        }
    }
}

impl From<CancelError> for ApiError {
    fn from(err: CancelError) -> Self {
        match err {
            CancelError::NotFound(_) => not_found("sale_not_found", &err),
            CancelError::Incomplete(_) => conflict("sale_incomplete", &err, None),
            CancelError::NotCancellable(_) => conflict("sale_not_cancellable", &err, None),
            CancelError::Store(e) => e.into(),
        }
    }
}

impl From<AdjustError> for ApiError {
    fn from(err: AdjustError) -> Self {
        match err {
            AdjustError::Conflict(_) => {
                conflict("adjustment_conflict", &err, field("adjustment_id"))
            }
            AdjustError::SkuNotFound(_) => not_found("sku_not_found", &err),
            AdjustError::Store(e) => e.into(),
        }
    }
}

impl From<CloseError> for ApiError {
    fn from(err: CloseError) -> Self {
        match err {
            CloseError::NotFound(_) => not_found("replenishment_not_found", &err),
            CloseError::Store(e) => e.into(),
        }
    }
}

impl From<ReceiveError> for ApiError {
    fn from(err: ReceiveError) -> Self {
        match err {
            ReceiveError::OrderNotFound(_) => not_found("replenishment_not_found", &err),
            ReceiveError::Conflict(_) => conflict("receipt_conflict", &err, field("receipt_id")),
            ReceiveError::OrderOpen(_) => conflict("replenishment_open", &err, None),
            ReceiveError::OverReceipt { .. } => {
                unprocessable("over_receipt", &err, "quantity".to_owned())
            }
            ReceiveError::TooManyReleased { .. } => {
                unprocessable("receipt_too_large", &err, "quantity".to_owned())
            }
            ReceiveError::Store(e) => e.into(),
        }
    }
}

impl From<RegularOrderError> for ApiError {
    fn from(err: RegularOrderError) -> Self {
        match err {
            RegularOrderError::Conflict(_) => {
                conflict("request_conflict", &err, field("request_id"))
            }
            RegularOrderError::UnknownSku(_) => {
                unprocessable("unknown_sku", &err, "sku".to_owned())
            }
            RegularOrderError::NotWholePacks { .. } => {
                unprocessable("invalid_field", &err, "quantity".to_owned())
            }
            RegularOrderError::Store(e) => e.into(),
        }
    }
}

impl ApiError {
    /// A body field with an invalid value (422), named by its JSON path, e.g. `lines[3].quantity`.
    pub fn invalid_field(field: &str, problem: &str) -> Self {
        ApiError::Unprocessable {
            code: "invalid_field",
            message: format!("{field} {problem}"),
            field: Some(field.to_owned()),
        }
    }

    /// A path or query parameter that cannot be used (400).
    pub fn invalid_parameter(name: &str, problem: &str) -> Self {
        ApiError::BadRequest {
            code: "invalid_parameter",
            message: format!("{name} {problem}"),
            field: Some(name.to_owned()),
        }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::NotFound {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::Unauthorized(_) => 401,
            ApiError::BadRequest { .. } => 400,
            ApiError::NotFound { .. } => 404,
            ApiError::Conflict { .. } => 409,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::Unprocessable { .. } => 422,
            ApiError::Busy { .. } => 503,
            ApiError::Internal(_) => 500,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::BadRequest { code, .. }
            | ApiError::NotFound { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Unprocessable { code, .. } => code,
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::Busy { .. } => "busy",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The message a caller may see: never internals.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Internal(_) => "internal error; the request may be retried".to_owned(),
            other => other.to_string(),
        }
    }

    /// Seconds for a `Retry-After` header, when the caller should retry later.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Busy { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// The parameter or body field the error is about (`lines[2].quantity`, `status`), if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            ApiError::BadRequest { field, .. }
            | ApiError::Conflict { field, .. }
            | ApiError::Unprocessable { field, .. } => field.as_deref(),
            _ => None,
        }
    }

    /// The JSON body `{"error": {"code", "message", "field"?}}`.
    pub fn body(&self) -> serde_json::Value {
        let mut error =
            serde_json::json!({ "code": self.code(), "message": self.public_message() });
        if let Some(field) = self.field() {
            error["field"] = serde_json::Value::String(field.to_owned());
        }
        serde_json::json!({ "error": error })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_do_not_leak() {
        let err = ApiError::from(StoreError::Malformed {
            key: "secret-key".into(),
            problem: "x".into(),
        });
        assert_eq!(err.status(), 500);
        assert!(!err.body().to_string().contains("secret-key"));
    }

    #[test]
    fn unavailable_is_a_503() {
        let err = ApiError::from(StoreError::Unavailable {
            operation: "GetItem",
            source: "timeout".into(),
        });
        assert_eq!(err.status(), 503);
        assert!(err.retry_after().is_some());
    }

    #[test]
    fn contention_is_a_503_with_retry_after() {
        let err = ApiError::from(StoreError::Contention { attempts: 8 });
        assert_eq!(err.status(), 503);
        assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    }

    #[test]
    fn field_errors_name_the_field() {
        let err = ApiError::invalid_field("lines[2].quantity", "must be an integer in 1..=1000000");
        assert_eq!(err.status(), 422);
        assert_eq!(
            err.body()["error"]["message"],
            "lines[2].quantity must be an integer in 1..=1000000"
        );
        assert_eq!(err.body()["error"]["field"], "lines[2].quantity");
        let bad = ApiError::invalid_parameter("status", "must be \"open\" or \"closed\"");
        assert_eq!(bad.body()["error"]["field"], "status");
        let busy = ApiError::Busy {
            retry_after: Duration::from_secs(1),
        };
        assert!(busy.body()["error"].get("field").is_none());
    }
}
