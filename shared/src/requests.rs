//! Request bodies, parsed into domain types with errors that name the field.

use serde_json::Value;

use crate::domain::{SaleLine, SaleRequest, MAX_LINE_QUANTITY, MAX_SALE_LINES};
use crate::error::ApiError;
use crate::http::Fields;
use crate::ids::Sku;

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
}
