//! `GET /replenishments` filtered by vendor, receipt status and tag (with status and SKU), paged;
//! bad filters are a 400 naming the parameter in `error.field`, and error bodies name their field.

use backorder_tests::TestApp;
use serde_json::{json, Value};

const A: &str = "acct";

async fn all_pages(app: &TestApp, query: &str, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    for _ in 0..100 {
        let page = app
            .ok(
                A,
                "GET",
                &format!("/replenishments?limit={limit}{query}{cursor}"),
                None,
            )
            .await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= limit);
        out.extend(
            items
                .iter()
                .map(|o| o["replenishment_id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
    panic!("paging did not end");
}

fn rid(reply: &Value) -> String {
    reply["lines"][0]["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_by_vendor_receipt_status_and_tag() {
    let app = TestApp::new().await;
    app.enable_account(A, true).await;
    app.sku(A, "A", "backorder", Some("acme"), 0).await;
    app.sku(A, "B", "backorder", Some("bolt"), 0).await;
    // a1: A, closed, 1 of 2 received; b1: B, closed, fully received; a2: A, open;
    // r: a regular order of A from acme, open and untagged.
    let a1 = rid(&app.finalize(A, "s1", &[("A", 2)]).await.body);
    let b1 = rid(&app.finalize(A, "s2", &[("B", 1)]).await.body);
    for (order, units, receipt) in [(&a1, 1, "r1"), (&b1, 1, "r2")] {
        app.ok(A, "POST", &format!("/replenishments/{order}/close"), None)
            .await;
        app.ok(
            A,
            "POST",
            &format!("/replenishments/{order}/receipts"),
            Some(json!({"receipt_id": receipt, "quantity": units})),
        )
        .await;
    }
    let a2 = rid(&app.finalize(A, "s3", &[("A", 1)]).await.body);
    let regular = app
        .call(
            A,
            "POST",
            "/replenishments",
            Some(json!({"sku": "A", "vendor_id": "acme", "quantity": 4})),
        )
        .await;
    assert_eq!(regular.status, 201, "{}", regular.body);
    let r = regular.body["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();

    for limit in [1, 2, 50] {
        let q = |query: &'static str| all_pages(&app, query, limit);
        assert_eq!(
            q("&vendor_id=acme").await,
            [r.as_str(), a2.as_str(), a1.as_str()],
            "limit {limit}"
        );
        assert_eq!(q("&vendor_id=bolt").await, [b1.as_str()]);
        assert_eq!(
            q("&vendor_id=acme&status=open").await,
            [r.as_str(), a2.as_str()]
        );
        assert_eq!(q("&vendor_id=nobody").await, Vec::<&str>::new());
        assert_eq!(q("&receipt_status=partially_received").await, [a1.as_str()]);
        assert_eq!(q("&receipt_status=received").await, [b1.as_str()]);
        assert_eq!(
            q("&receipt_status=not_received").await,
            [r.as_str(), a2.as_str()]
        );
        assert_eq!(
            q("&tag=auto_backorder").await,
            [a2.as_str(), b1.as_str(), a1.as_str()]
        );
        assert_eq!(q("&tag=auto_backorder&status=open").await, [a2.as_str()]);
        assert_eq!(
            q("&sku=A&vendor_id=acme&tag=auto_backorder").await,
            [a2.as_str(), a1.as_str()]
        );
        assert_eq!(q("&sku=A&vendor_id=bolt").await, Vec::<&str>::new());
        assert_eq!(
            q("&status=closed&receipt_status=partially_received&tag=auto_backorder").await,
            [a1.as_str()]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_filters_name_their_parameter_and_errors_name_their_field() {
    let app = TestApp::new().await;
    app.enable_account(A, true).await;
    app.sku(A, "A", "backorder", None, 0).await;
    let before = app.snapshot().await;
    for (query, field) in [
        ("receipt_status=some", "receipt_status"),
        ("tag=vip", "tag"),
        ("vendor_id=", "vendor_id"),
        ("status=pending", "status"),
        ("limit=0", "limit"),
        ("colour=red", "colour"),
    ] {
        let reply = app
            .call(A, "GET", &format!("/replenishments?{query}"), None)
            .await;
        assert_eq!(reply.status, 400, "{query}: {}", reply.body);
        assert_eq!(reply.code(), "invalid_parameter");
        assert_eq!(reply.body["error"]["field"], field, "{query}");
        assert!(reply.message().starts_with(field), "{}", reply.message());
    }
    // A body field (422) and a SKU of a sale line (422 unknown_sku) are named the same way.
    let bad = app
        .call(
            A,
            "POST",
            "/sales/s1/finalize",
            Some(json!({"lines": [{"sku": "A", "quantity": 1}, {"sku": "A", "quantity": 0}]})),
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert_eq!(bad.body["error"]["field"], "lines[1].quantity");
    let unknown = app.finalize(A, "s2", &[("A", 1), ("NOPE", 1)]).await;
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    assert_eq!(unknown.body["error"]["field"], "lines[1].sku");
    // A 404 names no field.
    let missing = app.call(A, "GET", "/sales/none", None).await;
    assert_eq!(missing.status, 404);
    assert!(missing.body["error"].get("field").is_none());
    assert_eq!(app.snapshot().await, before, "bad input changed nothing");
}
