//! Listing orders: newest first, filters, paging with cursors, limits.

use std::collections::BTreeSet;

use backorder_tests::TestApp;
use serde_json::Value;

const A: &str = "acct";

async fn all_pages(app: &TestApp, query: &str, limit: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    for _ in 0..100 {
        let sep = if query.is_empty() { "?" } else { "&" };
        let page = app
            .ok(
                A,
                "GET",
                &format!("/replenishments{query}{sep}limit={limit}{cursor}"),
                None,
            )
            .await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= limit);
        out.extend(items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
    panic!("paging did not end");
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|o| o["replenishment_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_order_and_pages() {
    let app = TestApp::new().await;
    app.enable_account(A, true).await;
    for sku in ["A", "B"] {
        app.sku(A, sku, "backorder", None, 0).await;
    }
    // A: 3 orders (two closed), B: 2 orders (one closed). Created in this order.
    let mut created = Vec::new();
    for (i, sku) in ["A", "B", "A", "B", "A"].iter().enumerate() {
        let r = app.finalize(A, &format!("s{i}"), &[(sku, 1)]).await;
        let rid = r.body["lines"][0]["replenishment_id"]
            .as_str()
            .unwrap()
            .to_owned();
        created.push((sku.to_string(), rid.clone()));
        if i < 3 {
            app.ok(A, "POST", &format!("/replenishments/{rid}/close"), None)
                .await;
        }
    }
    let newest_first = |f: &dyn Fn(&(String, String), usize) -> bool| -> Vec<String> {
        created
            .iter()
            .enumerate()
            .rev()
            .filter(|(i, c)| f(c, *i))
            .map(|(_, c)| c.1.clone())
            .collect()
    };

    for limit in [1, 2, 3, 50] {
        assert_eq!(
            ids(&all_pages(&app, "", limit).await),
            newest_first(&|_, _| true),
            "limit {limit}"
        );
        assert_eq!(
            ids(&all_pages(&app, "?status=closed", limit).await),
            newest_first(&|_, i| i < 3)
        );
        assert_eq!(
            ids(&all_pages(&app, "?status=open", limit).await),
            newest_first(&|_, i| i >= 3)
        );
        assert_eq!(
            ids(&all_pages(&app, "?sku=A", limit).await),
            newest_first(&|c, _| c.0 == "A")
        );
        assert_eq!(
            ids(&all_pages(&app, "?sku=A&status=open", limit).await),
            newest_first(&|c, i| c.0 == "A" && i >= 3)
        );
        assert_eq!(
            ids(&all_pages(&app, "?sku=B&status=closed", limit).await),
            newest_first(&|c, i| c.0 == "B" && i < 3)
        );
    }
    assert!(all_pages(&app, "?sku=NONE", 10).await.is_empty());
    // Items have every documented field.
    let item = &all_pages(&app, "", 1).await[0];
    let keys: BTreeSet<&str> = item
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "replenishment_id",
            "sku",
            "vendor_id",
            "quantity",
            "ordered_quantity",
            "surplus",
            "status",
            "tags",
            "received",
            "receipt_status",
            "created_at",
            "updated_at",
            "closed_at",
            "expected_at"
        ])
    );
    // The default limit is 50 and the first page of 5 has no cursor.
    let page = app.ok(A, "GET", "/replenishments", None).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 5);
    assert_eq!(page["next_cursor"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn inventory_levels_and_adjustments() {
    let app = TestApp::new().await;
    let r = app.call(A, "GET", "/skus/NEW/inventory", None).await;
    assert_eq!((r.status, r.code()), (404, "sku_not_found"));
    // PUT creates the SKU with the default policy.
    let level = app
        .ok(
            A,
            "PUT",
            "/skus/NEW/inventory",
            Some(serde_json::json!({"on_hand": 5})),
        )
        .await;
    assert_eq!(level["on_hand"], 5);
    assert_eq!(
        app.ok(A, "GET", "/skus/NEW/settings", None).await["auto_backorder"],
        "vendor_default"
    );
    // Concurrent adjustments all land.
    let adds = (0..20).map(|i| {
        let delta = if i % 2 == 0 { 3 } else { -1 };
        app.call(
            A,
            "POST",
            "/skus/NEW/inventory/adjustments",
            Some(serde_json::json!({"delta": delta, "reason": "count"})),
        )
    });
    for r in futures::future::join_all(adds).await {
        assert_eq!(r.status, 200);
    }
    assert_eq!(app.on_hand(A, "NEW").await, 5 + 10 * 3 - 10);
    // A stock count sets the level, even negative.
    assert_eq!(
        app.ok(
            A,
            "PUT",
            "/skus/NEW/inventory",
            Some(serde_json::json!({"on_hand": -4}))
        )
        .await["on_hand"],
        -4
    );
}
