//! The merchant's test sale, end to end through the API Gateway routing of every function.

use backorder_tests::TestApp;
use serde_json::json;

const A: &str = "merchant-1";

#[tokio::test(flavor = "multi_thread")]
async fn merchant_walkthrough() {
    let app = TestApp::new().await;
    // Both settings on: the account toggle and the SKU's "Backorder" policy.
    assert_eq!(
        app.ok(A, "GET", "/settings", None).await,
        json!({"auto_backorder": false})
    );
    assert_eq!(
        app.ok(A, "PUT", "/settings", Some(json!({"auto_backorder": true})))
            .await,
        json!({"auto_backorder": true})
    );
    let sku = app
        .ok(
            A,
            "PUT",
            "/skus/CHAIR-1/settings",
            Some(json!({"auto_backorder": "backorder", "vendor_id": "acme"})),
        )
        .await;
    assert_eq!(
        sku,
        json!({"sku": "CHAIR-1", "vendor_id": "acme", "auto_backorder": "backorder", "effective_auto_backorder": true, "pack_size": null, "backorder_limit": null})
    );
    // The SKU is at negative stock.
    let level = app
        .ok(
            A,
            "PUT",
            "/skus/CHAIR-1/inventory",
            Some(json!({"on_hand": -2})),
        )
        .await;
    assert_eq!(
        level,
        json!({"sku": "CHAIR-1", "on_hand": -2, "open_replenishment_id": null})
    );

    // First sale: opens an auto-back-ordered order with every uncovered unit.
    let first = app.finalize(A, "S-1", &[("CHAIR-1", 3)]).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["status"], "finalized");
    assert_eq!(first.body["fulfillment"]["status"], "raised");
    assert_eq!(first.body["customer"], "c-1");
    assert_eq!(first.body["channel"], "web");
    let line = &first.body["lines"][0];
    assert_eq!(
        (
            line["quantity"].as_i64(),
            line["on_hand_after"].as_i64(),
            line["backordered"].as_i64()
        ),
        (Some(3), Some(-5), Some(3))
    );
    let order_1 = line["replenishment_id"].as_str().unwrap().to_owned();

    let order = app
        .ok(A, "GET", &format!("/replenishments/{order_1}"), None)
        .await;
    assert_eq!(order["status"], "open");
    assert_eq!(order["quantity"], 3);
    assert_eq!(order["tags"], json!(["auto_backorder"]));
    assert_eq!(order["sku"], "CHAIR-1");
    assert_eq!(order["vendor_id"], "acme");
    assert_eq!(order["closed_at"], json!(null));
    assert_eq!(
        app.ok(A, "GET", "/skus/CHAIR-1/inventory", None).await["open_replenishment_id"],
        json!(order_1)
    );

    // Second sale: adds to the same open order.
    let second = app.finalize(A, "S-2", &[("CHAIR-1", 2)]).await;
    assert_eq!(second.body["lines"][0]["replenishment_id"], json!(order_1));
    assert_eq!(second.body["lines"][0]["backordered"], 2);
    assert_eq!(
        app.ok(A, "GET", &format!("/replenishments/{order_1}"), None)
            .await["quantity"],
        5
    );

    // Close it: quantity frozen, closed_at set; closing again returns it unchanged.
    let closed = app
        .ok(A, "POST", &format!("/replenishments/{order_1}/close"), None)
        .await;
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["quantity"], 5);
    assert!(closed["closed_at"].is_string());
    assert_eq!(
        app.ok(A, "POST", &format!("/replenishments/{order_1}/close"), None)
            .await,
        closed
    );
    assert_eq!(
        app.ok(A, "GET", &format!("/replenishments/{order_1}"), None)
            .await,
        closed
    );
    assert_eq!(
        app.ok(A, "GET", "/skus/CHAIR-1/inventory", None).await["open_replenishment_id"],
        json!(null)
    );

    // Third sale: a new order opens; the closed one keeps its quantity.
    let third = app.finalize(A, "S-3", &[("CHAIR-1", 4)]).await;
    let order_2 = third.body["lines"][0]["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(order_2, order_1);
    assert_eq!(
        app.ok(A, "GET", &format!("/replenishments/{order_1}"), None)
            .await["quantity"],
        5
    );

    // The table: newest first.
    let all = app.orders(A, "").await;
    let ids: Vec<&str> = all
        .iter()
        .map(|o| o["replenishment_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![order_2.as_str(), order_1.as_str()]);
    assert_eq!(all[0]["quantity"], 4);
    assert_eq!(app.on_hand(A, "CHAIR-1").await, -11);

    // The sale can be read back as finalized.
    assert_eq!(app.ok(A, "GET", "/sales/S-1", None).await, first.body);
}

/// The real local server: TCP, hyper, the X-Account-Id header and a JSON 404 for unknown routes.
#[tokio::test(flavor = "multi_thread")]
async fn local_server_over_tcp() {
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let app = TestApp::new().await;
    let (addr, task) =
        backorder_local::server::start(app.store.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let call = |method: &str, path: &str, account: Option<&str>, body: &str| {
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"));
        if let Some(a) = account {
            req = req.header("x-account-id", a);
        }
        let req = req.body(Full::new(Bytes::from(body.to_owned()))).unwrap();
        let client = client.clone();
        async move {
            let resp = client.request(req).await.unwrap();
            let status = resp.status().as_u16();
            let ct = resp
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned());
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                ct,
                serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(),
            )
        }
    };
    let (status, ct, body) = call(
        "PUT",
        "/settings",
        Some("tcp-acct"),
        r#"{"auto_backorder": true}"#,
    )
    .await;
    assert_eq!((status, ct.as_deref()), (200, Some("application/json")));
    assert_eq!(body, json!({"auto_backorder": true}));
    // Without the header the local server uses the account "demo", which is a different account.
    assert_eq!(
        call("GET", "/settings", None, "").await.2,
        json!({"auto_backorder": false})
    );
    assert_eq!(
        call("GET", "/settings", Some("tcp-acct"), "").await.2,
        json!({"auto_backorder": true})
    );
    let (status, _, body) = call("GET", "/nowhere", None, "").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "route_not_found");
    let (status, _, body) = call("DELETE", "/settings", None, "").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "route_not_found");
    // Percent-encoded path segments arrive decoded.
    let (status, _, body) = call(
        "PUT",
        "/skus/A%2FB%20C/inventory",
        Some("tcp-acct"),
        r#"{"on_hand": 1}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["sku"], "A/B C");
    task.abort();
}
