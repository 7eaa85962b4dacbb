//! The filters of `GET /replenishments`.

use backorder::domain::{OrderStatus, ReceiptStatus, AUTO_BACKORDER_TAG};
use backorder::http::query_param;
use backorder::ids::{Sku, VendorId};
use backorder::store::OrderFilter;
use backorder::ApiError;
use lambda_http::Request;

use crate::parse_status;

pub(crate) const LIST_PARAMS: [&str; 7] = [
    "status",
    "sku",
    "vendor_id",
    "receipt_status",
    "tag",
    "limit",
    "cursor",
];

/// The filters of `GET /replenishments`, each checked (400 naming the parameter).
pub(crate) struct ListQuery {
    status: Option<OrderStatus>,
    sku: Option<Sku>,
    vendor: Option<VendorId>,
    receipt_status: Option<ReceiptStatus>,
    tag: Option<&'static str>,
}

impl ListQuery {
    pub(crate) fn read(req: &Request) -> Result<Self, ApiError> {
        let param = |name: &str| query_param(req, name);
        Ok(ListQuery {
            status: param("status").map(|s| parse_status(&s)).transpose()?,
            sku: param("sku")
                .map(|s| {
                    Sku::parse(s, "sku")
                        .map_err(|_| ApiError::invalid_parameter("sku", "is not a valid SKU"))
                })
                .transpose()?,
            vendor: param("vendor_id")
                .map(|v| {
                    VendorId::parse(v, "vendor_id").map_err(|_| {
                        ApiError::invalid_parameter("vendor_id", "is not a valid vendor id")
                    })
                })
                .transpose()?,
            receipt_status: param("receipt_status")
                .map(|r| {
                    ReceiptStatus::parse(&r).ok_or_else(|| {
                        ApiError::invalid_parameter(
                            "receipt_status",
                            "must be \"not_received\", \"partially_received\" or \"received\"",
                        )
                    })
                })
                .transpose()?,
            tag: param("tag")
                .map(|t| {
                    (t == AUTO_BACKORDER_TAG)
                        .then_some(AUTO_BACKORDER_TAG)
                        .ok_or_else(|| {
                            ApiError::invalid_parameter("tag", "must be \"auto_backorder\"")
                        })
                })
                .transpose()?,
        })
    }

    pub(crate) fn filter(&self) -> OrderFilter<'_> {
        OrderFilter {
            status: self.status,
            sku: self.sku.as_ref(),
            vendor: self.vendor.as_ref(),
            receipt_status: self.receipt_status,
            tag: self.tag,
        }
    }
}
