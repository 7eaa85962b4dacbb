//! The full settings matrix: account toggle x SKU policy x vendor default (and no vendor), checked
//! both as `effective_auto_backorder` and by what a sale does.

use backorder_tests::TestApp;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn every_combination() {
    let app = TestApp::new().await;
    let mut case = 0;
    for account_on in [false, true] {
        for policy in ["backorder", "vendor_default", "never"] {
            for vendor in [None, Some(false), Some(true)] {
                case += 1;
                // Each case in its own account so settings do not interfere.
                let acct = format!("matrix-{case}");
                app.enable_account(&acct, account_on).await;
                let vendor_id = vendor.map(|_| "V");
                if let Some(on) = vendor {
                    app.ok(
                        &acct,
                        "PUT",
                        "/vendors/V/settings",
                        Some(json!({"auto_backorder_default": on})),
                    )
                    .await;
                }
                app.sku(&acct, "S", policy, vendor_id, 1).await;
                let expected = account_on
                    && (policy == "backorder"
                        || (policy == "vendor_default" && vendor == Some(true)));
                let settings = app.ok(&acct, "GET", "/skus/S/settings", None).await;
                assert_eq!(
                    settings,
                    json!({"sku": "S", "vendor_id": vendor_id, "auto_backorder": policy, "effective_auto_backorder": expected, "pack_size": null, "backorder_limit": null}),
                    "case {case}"
                );
                let reply = app.finalize(&acct, "sale", &[("S", 4)]).await;
                assert_eq!(reply.status, 200);
                let line = &reply.body["lines"][0];
                assert_eq!(line["on_hand_after"], -3, "case {case}");
                assert_eq!(
                    line["backordered"],
                    if expected { 3 } else { 0 },
                    "case {case}"
                );
                assert_eq!(
                    line["replenishment_id"].is_string(),
                    expected,
                    "case {case}"
                );
                assert_eq!(
                    app.orders(&acct, "").await.len(),
                    usize::from(expected),
                    "case {case}"
                );
            }
        }
    }
    assert_eq!(case, 18);
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_defaults_and_updates() {
    let app = TestApp::new().await;
    let a = "acct";
    assert_eq!(
        app.ok(a, "GET", "/settings", None).await,
        json!({"auto_backorder": false})
    );
    assert_eq!(
        app.ok(a, "GET", "/vendors/V1/settings", None).await,
        json!({"vendor_id": "V1", "auto_backorder_default": false, "lead_time_days": null, "pack_size": null, "min_order_units": null})
    );
    assert_eq!(
        app.ok(
            a,
            "PUT",
            "/vendors/V1/settings",
            Some(json!({"auto_backorder_default": true}))
        )
        .await,
        json!({"vendor_id": "V1", "auto_backorder_default": true, "lead_time_days": null, "pack_size": null, "min_order_units": null})
    );
    assert_eq!(
        app.ok(a, "GET", "/vendors/V1/settings", None).await["auto_backorder_default"],
        true
    );
    // An unknown SKU is 404 on GET; PUT creates it with on_hand 0 and the default policy.
    let missing = app.call(a, "GET", "/skus/NEW/settings", None).await;
    assert_eq!((missing.status, missing.code()), (404, "sku_not_found"));
    assert!(missing.message().contains("NEW"));
    let created = app
        .ok(
            a,
            "PUT",
            "/skus/NEW/settings",
            Some(json!({"vendor_id": "V1"})),
        )
        .await;
    assert_eq!(
        created,
        json!({"sku": "NEW", "vendor_id": "V1", "auto_backorder": "vendor_default", "effective_auto_backorder": false, "pack_size": null, "backorder_limit": null})
    );
    assert_eq!(app.on_hand(a, "NEW").await, 0);
    app.enable_account(a, true).await;
    assert_eq!(
        app.ok(a, "GET", "/skus/NEW/settings", None).await["effective_auto_backorder"],
        true
    );
    // Changing only the policy keeps the vendor; `vendor_id: null` clears it.
    let changed = app
        .ok(
            a,
            "PUT",
            "/skus/NEW/settings",
            Some(json!({"auto_backorder": "never"})),
        )
        .await;
    assert_eq!(changed["vendor_id"], "V1");
    assert_eq!(changed["effective_auto_backorder"], false);
    let cleared = app
        .ok(
            a,
            "PUT",
            "/skus/NEW/settings",
            Some(json!({"vendor_id": null, "auto_backorder": "vendor_default"})),
        )
        .await;
    assert_eq!(
        cleared,
        json!({"sku": "NEW", "vendor_id": null, "auto_backorder": "vendor_default", "effective_auto_backorder": false, "pack_size": null, "backorder_limit": null})
    );
    // Settings never touch stock.
    assert_eq!(app.on_hand(a, "NEW").await, 0);
}
