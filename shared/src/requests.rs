//! Request bodies, parsed into domain types with errors that name the field.

use serde_json::Value;

use crate::domain::{SaleLine, SaleRequest, MAX_LINE_QUANTITY, MAX_SALE_LINES};
use crate::error::ApiError;
use crate::http::Fields;
use crate::ids::{ReceiptId, RequestId, SaleId, Sku, VendorId};
use crate::service::NewRegularOrder;

/// Parses a finalize body: `{"customer"?, "channel"?, "lines": [{"sku", "quantity"}]}`.
pub fn sale_request(mut body: Fields) -> Result<SaleRequest, ApiError> {
    let customer = body.label("customer")?;
    let channel = body.label("channel")?;
    let lines = body
        .array("lines")?
        .ok_or_else(|| ApiError::invalid_field("lines", "is required"))?;
    body.finish()?;
    if lines.is_empty() {
        return Err(ApiError::invalid_field(
            "lines",
            "must hold at least one line",
        ));
    }
    if lines.len() > MAX_SALE_LINES {
        return Err(ApiError::invalid_field(
            "lines",
            &format!("must hold at most {MAX_SALE_LINES} lines"),
        ));
    }
    let lines = lines
        .into_iter()
        .enumerate()
        .map(|(i, line)| sale_line(i, line))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SaleRequest {
        customer,
        channel,
        lines,
    })
}

fn sale_line(i: usize, line: Value) -> Result<SaleLine, ApiError> {
    let prefix = format!("lines[{i}].");
    let Value::Object(map) = line else {
        return Err(ApiError::invalid_field(
            &format!("lines[{i}]"),
            "must be an object",
        ));
    };
    let mut f = Fields::new(map, &prefix);
    let sku = f
        .str("sku")?
        .ok_or_else(|| ApiError::invalid_field(&f.path("sku"), "is required"))?;
    let sku = Sku::parse(sku, &f.path("sku"))?;
    let quantity = f.required_int("quantity", 1, MAX_LINE_QUANTITY)?;
    f.finish()?;
    Ok(SaleLine { sku, quantity })
}

/// Longest webhook secret taken, in characters.
pub const MAX_WEBHOOK_SECRET_CHARS: usize = 256;

/// A shop's registration: `{"webhook_secret"?, "ignore_test_orders"?}` (a PUT: what is left out
/// is unset, or false).
pub fn shop_request(mut body: Fields) -> Result<crate::service::shops::ShopSettings, ApiError> {
    let webhook_secret = body.str("webhook_secret")?;
    if let Some(secret) = &webhook_secret {
        let chars = secret.chars().count();
        if chars == 0 || chars > MAX_WEBHOOK_SECRET_CHARS || secret.chars().any(char::is_control) {
            return Err(ApiError::invalid_field(
                "webhook_secret",
                "must be 1-256 characters without control characters",
            ));
        }
    }
    let ignore_test_orders = body.bool("ignore_test_orders")?.unwrap_or(false);
    body.finish()?;
    Ok(crate::service::shops::ShopSettings {
        webhook_secret,
        ignore_test_orders,
    })
}

/// Largest quantity of a receipt or a regular order.
pub const MAX_ORDER_QUANTITY: i64 = MAX_LINE_QUANTITY;

/// A receipt: `{"receipt_id", "quantity", "allow_over_receipt"?}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRequest {
    pub receipt_id: ReceiptId,
    pub quantity: i64,
    pub allow_over_receipt: bool,
}

pub fn receipt_request(mut body: Fields) -> Result<ReceiptRequest, ApiError> {
    let receipt_id = body
        .str("receipt_id")?
        .ok_or_else(|| ApiError::invalid_field("receipt_id", "is required"))?;
    let receipt_id = ReceiptId::parse(receipt_id, "receipt_id")?;
    let quantity = body.required_int("quantity", 1, MAX_ORDER_QUANTITY)?;
    let allow_over_receipt = body.bool("allow_over_receipt")?.unwrap_or(false);
    body.finish()?;
    Ok(ReceiptRequest {
        receipt_id,
        quantity,
        allow_over_receipt,
    })
}

/// A regular order: `{"sku", "vendor_id"?, "quantity", "request_id"?}`.
pub fn regular_order_request(mut body: Fields) -> Result<NewRegularOrder, ApiError> {
    let sku = body
        .str("sku")?
        .ok_or_else(|| ApiError::invalid_field("sku", "is required"))?;
    let sku = Sku::parse(sku, "sku")?;
    let vendor_id = body
        .str("vendor_id")?
        .map(|v| VendorId::parse(v, "vendor_id"))
        .transpose()?;
    let quantity = body.required_int("quantity", 1, MAX_ORDER_QUANTITY)?;
    let request_id = body
        .str("request_id")?
        .map(|r| RequestId::parse(r, "request_id"))
        .transpose()?;
    body.finish()?;
    Ok(NewRegularOrder {
        sku,
        vendor_id,
        quantity,
        request_id,
    })
}

/// A sale from a queue: `{"sale_id", "customer"?, "channel"?, "lines"}`.
pub fn queued_sale(mut body: Fields) -> Result<(SaleId, SaleRequest), ApiError> {
    let sale_id = body
        .str("sale_id")?
        .ok_or_else(|| ApiError::invalid_field("sale_id", "is required"))?;
    let sale_id = SaleId::parse(sale_id, "sale_id")?;
    Ok((sale_id, sale_request(body)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<SaleRequest, ApiError> {
        let Value::Object(map) = v else {
            panic!("not an object")
        };
        sale_request(Fields::new(map, ""))
    }

    fn message(v: Value) -> String {
        parse(v).unwrap_err().body()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn parses_a_sale() {
        let req = parse(
            json!({"customer": "c1", "channel": "pos", "lines": [{"sku": "A", "quantity": 2}]}),
        )
        .unwrap();
        assert_eq!(req.customer.as_deref(), Some("c1"));
        assert_eq!(req.lines[0].quantity, 2);
    }

    #[test]
    fn names_the_offending_field() {
        assert_eq!(message(json!({})), "lines is required");
        assert_eq!(
            message(json!({"lines": []})),
            "lines must hold at least one line"
        );
        assert_eq!(
            message(json!({"lines": [{"sku": "A", "quantity": 0}]})),
            "lines[0].quantity must be an integer in 1..=1000000"
        );
        assert_eq!(
            message(json!({"lines": [{"sku": "A", "quantity": 2.5}]})),
            "lines[0].quantity must be an integer in 1..=1000000"
        );
        assert_eq!(
            message(json!({"lines": [{"sku": "A", "quantity": "2"}]})),
            "lines[0].quantity must be an integer in 1..=1000000"
        );
        assert_eq!(
            message(json!({"lines": [{"sku": "A", "quantity": 1000001}]})),
            "lines[0].quantity must be an integer in 1..=1000000"
        );
        assert_eq!(
            message(json!({"lines": [{"sku": "A"}]})),
            "lines[0].quantity is required"
        );
        assert_eq!(
            message(json!({"lines": [{"sku": "", "quantity": 1}]})),
            "lines[0].sku must not be empty"
        );
        assert_eq!(
            message(json!({"lines": [{"sku": "A", "quantity": 1, "x": 1}]})),
            "lines[0].x is not a known field"
        );
        assert_eq!(message(json!({"lines": [1]})), "lines[0] must be an object");
        assert_eq!(
            message(json!({"lines": [{"sku": "A", "quantity": 1}], "note": "x"})),
            "note is not a known field"
        );
        assert_eq!(
            message(json!({"customer": 5, "lines": [{"sku": "A", "quantity": 1}]})),
            "customer must be a string"
        );
    }

    #[test]
    fn line_count_limit() {
        let lines: Vec<Value> = (0..MAX_SALE_LINES)
            .map(|i| json!({"sku": format!("S{i}"), "quantity": 1}))
            .collect();
        assert!(parse(json!({"lines": lines})).is_ok());
        let lines: Vec<Value> = (0..=MAX_SALE_LINES)
            .map(|i| json!({"sku": format!("S{i}"), "quantity": 1}))
            .collect();
        assert_eq!(
            message(json!({"lines": lines})),
            "lines must hold at most 1000 lines"
        );
    }

    proptest! {
        #[test]
        fn any_quantity_outside_the_range_is_rejected(q in proptest::num::i64::ANY) {
            let got = parse(json!({"lines": [{"sku": "A", "quantity": q}]}));
            prop_assert_eq!(got.is_ok(), (1..=MAX_LINE_QUANTITY).contains(&q));
        }

        #[test]
        fn arbitrary_json_never_panics(s in "\\PC{0,64}") {
            if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&s) {
                let _ = sale_request(Fields::new(map, ""));
            }
        }
    }

    fn fields(v: Value) -> Fields {
        let Value::Object(map) = v else {
            panic!("not an object")
        };
        Fields::new(map, "")
    }

    fn msg(e: ApiError) -> String {
        e.body()["error"]["message"].as_str().unwrap().to_owned()
    }

    #[test]
    fn receipts_are_validated() {
        let r = receipt_request(fields(json!({"receipt_id": "r1", "quantity": 3}))).unwrap();
        assert_eq!((r.quantity, r.allow_over_receipt), (3, false));
        let r = receipt_request(fields(
            json!({"receipt_id": "r1", "quantity": 3, "allow_over_receipt": true}),
        ))
        .unwrap();
        assert!(r.allow_over_receipt);
        let bad = |v: Value| msg(receipt_request(fields(v)).unwrap_err());
        assert_eq!(bad(json!({"quantity": 3})), "receipt_id is required");
        assert_eq!(
            bad(json!({"receipt_id": "r", "quantity": 0})),
            "quantity must be an integer in 1..=1000000"
        );
        assert_eq!(bad(json!({"receipt_id": "r"})), "quantity is required");
        assert_eq!(
            bad(json!({"receipt_id": "r", "quantity": 1, "allow_over_receipt": "yes"})),
            "allow_over_receipt must be true or false"
        );
        assert_eq!(
            bad(json!({"receipt_id": "", "quantity": 1})),
            "receipt_id must not be empty"
        );
        assert_eq!(
            bad(json!({"receipt_id": "r", "quantity": 1, "x": 1})),
            "x is not a known field"
        );
    }

    #[test]
    fn regular_orders_are_validated() {
        let o = regular_order_request(fields(json!({"sku": "A", "vendor_id": "V", "quantity": 4})))
            .unwrap();
        assert_eq!(o.quantity, 4);
        assert_eq!(o.vendor_id.unwrap().as_str(), "V");
        let bad = |v: Value| msg(regular_order_request(fields(v)).unwrap_err());
        assert_eq!(bad(json!({"quantity": 4})), "sku is required");
        assert_eq!(bad(json!({"sku": "A"})), "quantity is required");
        assert_eq!(
            bad(json!({"sku": "A", "quantity": -1})),
            "quantity must be an integer in 1..=1000000"
        );
        assert_eq!(
            bad(json!({"sku": "A", "quantity": 1, "vendor_id": 7})),
            "vendor_id must be a string"
        );
        assert_eq!(
            bad(json!({"sku": "A", "quantity": 1, "tags": []})),
            "tags is not a known field"
        );
    }

    #[test]
    fn queued_sales_need_a_sale_id() {
        let (id, sale) = queued_sale(fields(
            json!({"sale_id": "s1", "channel": "web", "lines": [{"sku": "A", "quantity": 1}]}),
        ))
        .unwrap();
        assert_eq!(id.as_str(), "s1");
        assert_eq!(sale.channel.as_deref(), Some("web"));
        assert_eq!(
            msg(queued_sale(fields(json!({"lines": [{"sku": "A", "quantity": 1}]}))).unwrap_err()),
            "sale_id is required"
        );
        assert_eq!(
            msg(queued_sale(fields(json!({"sale_id": "s1"}))).unwrap_err()),
            "lines is required"
        );
    }
}
