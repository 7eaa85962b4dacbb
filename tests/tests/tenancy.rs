//! All data is scoped to the caller's account: another account's objects are 404, and changes by
//! one account never reach another.

use backorder_tests::TestApp;
use serde_json::json;

const OWNER: &str = "owner";
const OTHER: &str = "intruder";

#[tokio::test(flavor = "multi_thread")]
async fn another_account_sees_404_and_changes_nothing() {
    let app = TestApp::new().await;
    app.enable_account(OWNER, true).await;
    app.ok(
        OWNER,
        "PUT",
        "/vendors/V/settings",
        Some(json!({"auto_backorder_default": true})),
    )
    .await;
    app.sku(OWNER, "S", "vendor_default", Some("V"), 0).await;
    let sale = app.finalize(OWNER, "sale-1", &[("S", 2)]).await;
    let rid = sale.body["lines"][0]["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = app.snapshot().await;

    // Reads of the owner's objects.
    for path in [
        "/skus/S/settings",
        "/skus/S/inventory",
        "/sales/sale-1",
        &format!("/replenishments/{rid}"),
    ] {
        let r = app.call(OTHER, "GET", path, None).await;
        assert_eq!(r.status, 404, "GET {path}: {}", r.body);
    }
    // Lists and account-level settings are the other account's own (empty, defaults).
    assert!(app.orders(OTHER, "").await.is_empty());
    assert!(app.orders(OTHER, "?status=open").await.is_empty());
    assert!(app.orders(OTHER, "?sku=S").await.is_empty());
    assert_eq!(
        app.ok(OTHER, "GET", "/settings", None).await,
        json!({"auto_backorder": false})
    );
    assert_eq!(
        app.ok(OTHER, "GET", "/vendors/V/settings", None).await["auto_backorder_default"],
        false
    );
    // Writes to the owner's objects.
    let close = app
        .call(OTHER, "POST", &format!("/replenishments/{rid}/close"), None)
        .await;
    assert_eq!(close.status, 404);
    let adjust = app
        .call(
            OTHER,
            "POST",
            "/skus/S/inventory/adjustments",
            Some(json!({"delta": 5})),
        )
        .await;
    assert_eq!(adjust.status, 404);
    let finalize = app.finalize(OTHER, "sale-2", &[("S", 1)]).await;
    assert_eq!((finalize.status, finalize.code()), (422, "unknown_sku"));
    // A cursor does not carry an account: paging with the owner's position lists only one's own.
    let page = app.ok(OWNER, "GET", "/replenishments?limit=1", None).await;
    assert!(page["items"].as_array().unwrap().len() == 1);
    assert_eq!(
        app.snapshot().await,
        before,
        "the other account changed nothing of the owner's"
    );

    // The same ids in the other account are separate objects.
    app.sku(OTHER, "S", "backorder", None, 100).await;
    assert_eq!(app.finalize(OTHER, "sale-1", &[("S", 1)]).await.status, 200);
    assert_eq!(app.on_hand(OWNER, "S").await, -2);
    assert_eq!(app.on_hand(OTHER, "S").await, 99);
    assert_eq!(app.ok(OWNER, "GET", "/sales/sale-1", None).await, sale.body);
}
