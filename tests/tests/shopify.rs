//! Orders straight from Shopify, through the real handler (`channels`) and the real queue consumer
//! (`sale-finalize`'s `handle_sqs`, which the local queue delivers to), on DynamoDB Local. The
//! bodies are the fixtures in `events/shopify/` (see its README), signed here as Shopify signs.

use backorder::channels::queue::{Message, SOURCE_SHOPIFY};
use backorder::channels::shopify::sign;
use backorder::domain::{SaleLine, SaleRequest};
use backorder::ids::{AccountId, SaleId, Sku};
use backorder_local::queue::{sqs_message, LocalQueue};
use backorder_local::router::{api_gateway_event, RawRequest};
use backorder_tests::{enc, Reply, TestApp};
use base64::Engine;
use serde_json::{json, Value};

const CREATE: &[u8] = include_bytes!("../../events/shopify/orders-create.json");
const NO_SKU: &[u8] = include_bytes!("../../events/shopify/orders-create-no-sku.json");
const CANCELLED: &[u8] = include_bytes!("../../events/shopify/orders-cancelled.json");
const EVENT: &[u8] = include_bytes!("../../events/shopify/eventbridge-orders-create.json");

const SHOP: &str = "devkanvas.myshopify.com";
const SECRET: &str = "shpss_0123456789abcdef";
const A: &str = "acct-a";
const SALE: &str = "shopify:devkanvas.myshopify.com:820982911946154508";
const VIDEO: &str = "SNOWBOARD-VIDEOGRAPHER";
const COMPLETE: &str = "SNOWBOARD-COMPLETE";

async fn register(app: &TestApp, account: &str, shop: &str, body: Value) -> Reply {
    app.call(
        account,
        "PUT",
        &format!("/channels/shopify/shops/{shop}"),
        Some(body),
    )
    .await
}

/// A webhook delivery with Shopify's documented headers, signed with `secret` (unsigned if None).
fn delivery(shop: &str, topic: &str, body: &[u8], secret: Option<&str>) -> RawRequest {
    let mut req = RawRequest::new("POST", "/channels/shopify/webhooks")
        .header("content-type", "application/json")
        .header("x-shopify-topic", topic)
        .header("x-shopify-shop-domain", shop)
        .header("x-shopify-api-version", "2024-04")
        .header(
            "x-shopify-webhook-id",
            "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        )
        .header("x-shopify-triggered-at", "2024-06-26T16:33:22.173Z")
        .header("x-shopify-event-id", "98880550-7158-44d4-b7cd-2c97c8a091b5")
        .body(body.to_vec());
    if let Some(secret) = secret {
        req = req.header("x-shopify-hmac-sha256", &sign(secret.as_bytes(), body));
    }
    req
}

async fn deliver(app: &TestApp, topic: &str, body: &[u8]) -> Reply {
    app.send(delivery(SHOP, topic, body, Some(SECRET))).await
}

async fn sale(app: &TestApp, account: &str, sale_id: &str) -> Reply {
    app.call(account, "GET", &format!("/sales/{}", enc(sale_id)), None)
        .await
}

/// An account with the fixture's two SKUs (5 and 3 on hand) and the shop registered.
async fn store_with_shop(app: &TestApp, account: &str) {
    app.sku(account, VIDEO, "never", None, 5).await;
    app.sku(account, COMPLETE, "never", None, 3).await;
    let r = register(app, account, SHOP, json!({"webhook_secret": SECRET})).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_order_is_finalized_once_and_its_redeliveries_change_nothing() {
    let app = TestApp::new().await;
    store_with_shop(&app, A).await;
    let r = deliver(&app, "orders/create", CREATE).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "queued");
    assert_eq!(r.body["sale_id"], SALE);
    let s = sale(&app, A, SALE).await;
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(s.body["status"], "finalized");
    assert_eq!(s.body["customer"], "John Smith");
    assert_eq!(s.body["channel"], "devkanvas.myshopify.com/web");
    assert_eq!(s.body["lines"].as_array().unwrap().len(), 2);
    assert_eq!(app.on_hand(A, VIDEO).await, 4);
    assert_eq!(app.on_hand(A, COMPLETE).await, 2);

    // Shopify's retries send the original payload: nothing changes.
    let before = app.snapshot().await;
    for _ in 0..2 {
        let r = deliver(&app, "orders/create", CREATE).await;
        assert_eq!((r.status, &r.body["status"]), (200, &json!("queued")));
    }
    assert_eq!(app.snapshot().await, before);

    // The same order with other lines (edited, or another body under the same id): the sale
    // finalized first stands, and the consumer acknowledges the message instead of failing it.
    let other = String::from_utf8(CREATE.to_vec()).unwrap().replacen(
        "\"quantity\":1,\"requires_shipping\"",
        "\"quantity\":7,\"requires_shipping\"",
        1,
    );
    let r = deliver(&app, "orders/create", other.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(app.snapshot().await, before);
    let request = SaleRequest {
        customer: None,
        channel: None,
        lines: vec![SaleLine {
            sku: Sku::parse(VIDEO, "sku").unwrap(),
            quantity: 7,
        }],
    };
    let account = AccountId::parse(A, "account_id").unwrap();
    let sale_id = SaleId::parse(SALE, "sale_id").unwrap();
    let message = Message::finalize(account, SOURCE_SHOPIFY, &sale_id, &request);
    let mut batch = aws_lambda_events::event::sqs::SqsEvent::default();
    batch.records = vec![sqs_message(&message)];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let answer =
        backorder::background::scope(fn_sale_finalize::handle_sqs(&app.store, batch, deadline))
            .await;
    assert!(
        answer.batch_item_failures.is_empty(),
        "acknowledged, not retried"
    );
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_or_wrong_signature_or_an_unknown_shop_is_401_and_writes_nothing() {
    let app = TestApp::new().await;
    store_with_shop(&app, A).await;
    let before = app.snapshot().await;
    let mut flipped = CREATE.to_vec();
    flipped[10] ^= 1;
    let mut tampered = delivery(SHOP, "orders/create", &flipped, None);
    tampered = tampered.header("x-shopify-hmac-sha256", &sign(SECRET.as_bytes(), CREATE));
    let cases = [
        ("unsigned", delivery(SHOP, "orders/create", CREATE, None)),
        (
            "another secret",
            delivery(SHOP, "orders/create", CREATE, Some("nope")),
        ),
        ("a changed body", tampered),
        (
            "an unknown shop",
            delivery("other.myshopify.com", "orders/create", CREATE, Some(SECRET)),
        ),
        (
            "not a shop domain",
            delivery(
                "devkanvas.example.com",
                "orders/create",
                CREATE,
                Some(SECRET),
            ),
        ),
        (
            "no shop header",
            RawRequest::new("POST", "/channels/shopify/webhooks")
                .header("x-shopify-topic", "orders/create")
                .header("x-shopify-hmac-sha256", &sign(SECRET.as_bytes(), CREATE))
                .body(CREATE.to_vec()),
        ),
        (
            "a bad signature on an unknown topic",
            delivery(SHOP, "orders/updated", CREATE, Some("nope")),
        ),
    ];
    for (what, req) in cases {
        let r = app.send(req).await;
        assert_eq!(r.status, 401, "{what}: {}", r.body);
        assert_eq!(r.code(), "unauthorized", "{what}");
        assert!(r.message().contains("X-Shopify"), "{what}: {}", r.message());
    }
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_before_its_create_leaves_the_sale_never_finalized() {
    let app = TestApp::new().await;
    store_with_shop(&app, A).await;
    let r = deliver(&app, "orders/cancelled", CANCELLED).await;
    assert_eq!(
        (r.status, &r.body["status"]),
        (200, &json!("queued")),
        "{}",
        r.body
    );
    let s = sale(&app, A, SALE).await;
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(s.body["status"], "cancelled");
    assert_eq!(s.body["lines"], json!([]));
    // The create arrives late (and again): refused, nothing is taken from stock.
    for _ in 0..2 {
        let r = deliver(&app, "orders/create", CREATE).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(app.on_hand(A, VIDEO).await, 5);
    assert_eq!(sale(&app, A, SALE).await.body["status"], "cancelled");
    // Through the API too, with a clear answer.
    let r = app
        .call(
            A,
            "POST",
            &format!("/sales/{}/finalize", enc(SALE)),
            Some(json!({"lines": [{"sku": VIDEO, "quantity": 1}]})),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "sale_cancelled"), "{}", r.body);
    assert!(
        r.message().contains("before it was finalized"),
        "{}",
        r.message()
    );
    // The cancel again: a replay.
    let r = deliver(&app, "orders/cancelled", CANCELLED).await;
    assert_eq!(r.status, 200);
    assert_eq!(app.on_hand(A, VIDEO).await, 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_after_its_create_gives_the_units_back() {
    let app = TestApp::new().await;
    store_with_shop(&app, A).await;
    assert_eq!(deliver(&app, "orders/create", CREATE).await.status, 200);
    assert_eq!(app.on_hand(A, VIDEO).await, 4);
    assert_eq!(
        deliver(&app, "orders/cancelled", CANCELLED).await.status,
        200
    );
    assert_eq!(app.on_hand(A, VIDEO).await, 5);
    assert_eq!(app.on_hand(A, COMPLETE).await, 3);
    assert_eq!(sale(&app, A, SALE).await.body["status"], "cancelled");
}

#[tokio::test(flavor = "multi_thread")]
async fn lines_without_a_sku_or_with_an_unknown_one_are_left_out_not_failed() {
    let app = TestApp::new().await;
    // Only one of the fixture's SKUs is known to this account.
    app.sku(A, VIDEO, "never", None, 5).await;
    let r = register(&app, A, SHOP, json!({"webhook_secret": SECRET})).await;
    assert_eq!(r.status, 200);
    let r = deliver(&app, "orders/create", NO_SKU).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "ignored");
    assert_eq!(
        r.body["skipped_lines"],
        json!([{"line_items_index": 0, "reason": "no_sku"}, {"line_items_index": 1, "reason": "no_sku"}])
    );
    assert_eq!(sale(&app, A, SALE).await.status, 404);
    let r = deliver(&app, "orders/create", CREATE).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let s = sale(&app, A, SALE).await;
    assert_eq!(s.body["status"], "finalized", "{}", s.body);
    let skus: Vec<&str> = s.body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus, [VIDEO]);
    assert_eq!(app.on_hand(A, VIDEO).await, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_shops_of_two_accounts_are_kept_apart() {
    let app = TestApp::new().await;
    const B: &str = "acct-b";
    const SHOP_B: &str = "other-store.myshopify.com";
    store_with_shop(&app, A).await;
    app.sku(B, VIDEO, "never", None, 10).await;
    app.sku(B, COMPLETE, "never", None, 10).await;
    assert_eq!(
        register(&app, B, SHOP_B, json!({"webhook_secret": "b-secret"}))
            .await
            .status,
        200
    );
    // B cannot take, see or remove A's shop.
    let r = register(&app, B, SHOP, json!({"webhook_secret": "mine"})).await;
    assert_eq!((r.status, r.code()), (409, "shop_taken"), "{}", r.body);
    let path = format!("/channels/shopify/shops/{SHOP}");
    assert_eq!(app.call(B, "GET", &path, None).await.status, 404);
    assert_eq!(app.call(B, "DELETE", &path, None).await.status, 404);
    assert_eq!(app.call(A, "GET", &path, None).await.status, 200);
    // A's shop signed with B's secret is refused.
    let r = app
        .send(delivery(SHOP, "orders/create", CREATE, Some("b-secret")))
        .await;
    assert_eq!(r.status, 401);
    // The same order id from each shop: a sale in each account, under each shop's sale id.
    assert_eq!(deliver(&app, "orders/create", CREATE).await.status, 200);
    let r = app
        .send(delivery(SHOP_B, "orders/create", CREATE, Some("b-secret")))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sale_b = "shopify:other-store.myshopify.com:820982911946154508";
    assert_eq!(r.body["sale_id"], sale_b);
    assert_eq!(sale(&app, A, SALE).await.status, 200);
    assert_eq!(sale(&app, B, sale_b).await.status, 200);
    assert_eq!(sale(&app, B, SALE).await.status, 404);
    assert_eq!(sale(&app, A, sale_b).await.status, 404);
    assert_eq!(app.on_hand(A, VIDEO).await, 4);
    assert_eq!(app.on_hand(B, VIDEO).await, 9);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_topics_bad_bodies_and_test_orders() {
    let app = TestApp::new().await;
    store_with_shop(&app, A).await;
    let before = app.snapshot().await;
    let r = deliver(&app, "orders/updated", CREATE).await;
    assert_eq!((r.status, &r.body["status"]), (200, &json!("ignored")));
    let r = deliver(&app, "orders/create", b"{\"id\": 1, \"line_items\": [").await;
    assert_eq!((r.status, r.code()), (400, "invalid_json"), "{}", r.body);
    let r = deliver(&app, "orders/create", br#"{"id": 1.5}"#).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.message().starts_with("id "), "{}", r.message());
    let big = vec![b' '; backorder::http::MAX_BODY_BYTES + 1];
    let r = deliver(&app, "orders/create", &big).await;
    assert_eq!(
        (r.status, r.code()),
        (413, "payload_too_large"),
        "{}",
        r.body
    );
    assert_eq!(app.snapshot().await, before);

    // A shop set to ignore test orders: the fixture (`"test": true`) is acknowledged and dropped.
    let r = register(
        &app,
        A,
        SHOP,
        json!({"webhook_secret": SECRET, "ignore_test_orders": true}),
    )
    .await;
    assert_eq!(r.body["ignore_test_orders"], true);
    let r = deliver(&app, "orders/create", CREATE).await;
    assert_eq!((r.status, &r.body["reason"]), (200, &json!("test order")));
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_base64_body_is_verified_on_its_decoded_bytes() {
    let app = TestApp::new().await;
    store_with_shop(&app, A).await;
    let req = delivery(SHOP, "orders/create", CREATE, Some(SECRET));
    let route = backorder::routes::by_key("POST /channels/shopify/webhooks").unwrap();
    let mut event = api_gateway_event(&req, route, &[]);
    event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(CREATE));
    event["isBase64Encoded"] = json!(true);
    let queue = LocalQueue::new(&app.store);
    let out = backorder::background::scope(fn_channels::handle_event(&app.store, &queue, event))
        .await
        .unwrap();
    assert_eq!(out["statusCode"], 200, "{out}");
    assert_eq!(sale(&app, A, SALE).await.body["status"], "finalized");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_eventbridge_delivery_needs_no_signature_and_does_the_same() {
    let app = TestApp::new().await;
    store_with_shop(&app, A).await;
    let event: Value = serde_json::from_slice(EVENT).unwrap();
    let queue = LocalQueue::new(&app.store);
    let out =
        backorder::background::scope(fn_channels::handle_event(&app.store, &queue, event.clone()))
            .await
            .unwrap();
    assert_eq!(out["status"], "queued", "{out}");
    assert_eq!(sale(&app, A, SALE).await.body["status"], "finalized");
    // Delivered again: nothing changes.
    let before = app.snapshot().await;
    backorder::background::scope(fn_channels::handle_event(&app.store, &queue, event.clone()))
        .await
        .unwrap();
    assert_eq!(app.snapshot().await, before);
    // Headers spelled as EventBridge may (lowercase, no X-), and an unregistered shop: ignored.
    let mut other = event.clone();
    other["detail"]["metadata"] = json!({
        "shopify-topic": "orders/create",
        "shopify-shop-domain": "unknown.myshopify.com"
    });
    let out = backorder::background::scope(fn_channels::handle_event(&app.store, &queue, other))
        .await
        .unwrap();
    assert_eq!(out["reason"], "shop not registered", "{out}");
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn shops_are_validated_and_never_show_their_secret() {
    let app = TestApp::new().await;
    let r = register(&app, A, "shop.example.com", json!({"webhook_secret": "x"})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.message().starts_with("shop_domain "), "{}", r.message());
    let r = register(&app, A, SHOP, json!({"webhook_secret": 5})).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.message().starts_with("webhook_secret "),
        "{}",
        r.message()
    );
    let r = register(&app, A, SHOP, json!({"webhook_secret": ""})).await;
    assert!(
        r.message().starts_with("webhook_secret "),
        "{}",
        r.message()
    );
    let r = register(&app, A, SHOP, json!({"secret": "x"})).await;
    assert!(r.message().starts_with("secret "), "{}", r.message());
    let r = register(
        &app,
        A,
        &SHOP.to_uppercase(),
        json!({"webhook_secret": SECRET}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["shop_domain"], SHOP);
    let path = format!("/channels/shopify/shops/{SHOP}");
    let shown = app.ok(A, "GET", &path, None).await;
    assert_eq!(shown["webhook_secret_set"], true);
    assert_eq!(shown["ignore_test_orders"], false);
    assert!(!shown.to_string().contains(SECRET), "{shown}");
    app.ok(A, "DELETE", &path, None).await;
    assert_eq!(app.call(A, "GET", &path, None).await.status, 404);
    // Removed: its deliveries are refused.
    assert_eq!(deliver(&app, "orders/create", CREATE).await.status, 401);
}
