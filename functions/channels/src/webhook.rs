//! A Shopify delivery, by webhook or EventBridge, turned into a message on the sales queue.
//!
//! Webhook: the body over [`MAX_WEBHOOK_BYTES`] is 413; a missing or malformed
//! `X-Shopify-Shop-Domain`, an unregistered shop (or one without a webhook secret), a missing or
//! wrong `X-Shopify-Hmac-Sha256` are 401; nothing is read into the order before the signature
//! over the raw bytes matched. Then a topic other than `orders/create` or `orders/cancelled` is
//! 200 `{"status": "ignored"}`, a body that is not an order 400 (naming `body` or `id`), and an
//! order is put on the sales queue and answered 200 `{"status": "queued", "sale_id"}` (503 if the
//! queue did not take it: Shopify sends it again). Nothing is written to the table here.

use backorder::channels::queue::{Message, SalesQueue, SOURCE_SHOPIFY};
use backorder::channels::shopify::{
    map_order, map_order_value, verify, Mapped, OrderError, ShopDomain, Topic, HMAC_HEADER,
    SHOP_HEADER, TOPIC_HEADER, WEBHOOK_ID_HEADER,
};
use backorder::http::{body_bytes, error_response, json_response, REQUEST_BUDGET};
use backorder::routes::CHANNELS;
use backorder::store::Shop;
use backorder::{telemetry, ApiError, Store};
use lambda_http::{Body, Request, Response};
use serde_json::{json, Map, Value};

/// Largest webhook body taken, in bytes (Shopify's orders stay far below it).
pub const MAX_WEBHOOK_BYTES: usize = backorder::http::MAX_BODY_BYTES;

/// The event source prefix of Shopify's partner event sources, and their events' `detail-type`.
pub const EVENT_SOURCE_PREFIX: &str = "aws.partner/shopify.com";
pub const DETAIL_TYPE: &str = "shopifyWebhook";

fn unauthorized(why: &str) -> ApiError {
    ApiError::Unauthorized(why.to_owned())
}

/// Serves one webhook delivery, with its log line and metrics.
pub async fn serve_webhook<Q: SalesQueue>(
    store: &Store,
    queue: &Q,
    req: Request,
) -> Response<Body> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let topic = header(TOPIC_HEADER).unwrap_or_default();
    let shop = header(SHOP_HEADER).unwrap_or_default();
    let webhook_id = header(WEBHOOK_ID_HEADER).unwrap_or_default();
    let (outcome, stats) = telemetry::observed(CHANNELS, async {
        // Answered well within Shopify's 5 s when DynamoDB and SQS answer; never past the budget.
        let outcome = tokio::time::timeout(REQUEST_BUDGET, webhook(store, queue, &req))
            .await
            .unwrap_or_else(|_| {
                Err(ApiError::Busy {
                    retry_after: std::time::Duration::from_secs(1),
                })
            });
        if outcome.is_err() {
            telemetry::count(|s| &s.requests_rejected, 1);
        }
        outcome
    })
    .await;
    let response = match &outcome {
        Ok(body) => json_response(200, body),
        Err(e) => error_response(e),
    };
    tracing::info!(
        route = "POST /channels/shopify/webhooks",
        shop = %shop,
        topic = %topic,
        webhook_id = %webhook_id,
        status = response.status().as_u16(),
        outcome = %outcome.as_ref().map_or("rejected", |b| b["status"].as_str().unwrap_or("")),
        lines_skipped = telemetry::Stats::get(&stats.channel_lines_skipped),
        dynamodb_requests = telemetry::Stats::get(&stats.dynamo_requests),
        "shopify webhook served"
    );
    response
}

async fn webhook<Q: SalesQueue>(
    store: &Store,
    queue: &Q,
    req: &Request,
) -> Result<Value, ApiError> {
    let body = body_bytes(req);
    if body.len() > MAX_WEBHOOK_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_WEBHOOK_BYTES,
        });
    }
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let domain =
        header(SHOP_HEADER).ok_or_else(|| unauthorized("X-Shopify-Shop-Domain is required"))?;
    let domain = ShopDomain::parse(domain)
        .map_err(|_| unauthorized("X-Shopify-Shop-Domain is not a registered shop"))?;
    let signature =
        header(HMAC_HEADER).ok_or_else(|| unauthorized("X-Shopify-Hmac-Sha256 is required"))?;
    let shop = store
        .shop(&domain)
        .await?
        .ok_or_else(|| unauthorized("X-Shopify-Shop-Domain is not a registered shop"))?;
    let secret = shop.webhook_secret.as_deref().ok_or_else(|| {
        unauthorized("this shop has no webhook secret: it delivers by EventBridge")
    })?;
    if !verify(secret.as_bytes(), body, signature) {
        return Err(unauthorized(
            "X-Shopify-Hmac-Sha256 does not match the body and the shop's webhook secret",
        ));
    }
    let Some(topic) = header(TOPIC_HEADER).and_then(Topic::parse) else {
        return Ok(json!({"status": "ignored", "reason": "topic not handled"}));
    };
    let mapped = map_order(&shop.domain, body).map_err(order_error)?;
    enqueue(queue, &shop, topic, mapped).await
}

fn order_error(e: OrderError) -> ApiError {
    match e {
        OrderError::BadId => ApiError::invalid_field("id", "must be a positive integer"),
        OrderError::Invalid(_) => ApiError::BadRequest {
            code: "invalid_json",
            message: "body is not a Shopify order (a JSON object with an id)".to_owned(),
            field: None,
        },
    }
}

/// Queues the sale (or cancel) of a mapped order from `shop`; the answer says what was done.
async fn enqueue<Q: SalesQueue>(
    queue: &Q,
    shop: &Shop,
    topic: Topic,
    mapped: Mapped,
) -> Result<Value, ApiError> {
    let sale_id = mapped.sale_id.as_str().to_owned();
    if mapped.test && shop.ignore_test_orders {
        return Ok(json!({"status": "ignored", "reason": "test order", "sale_id": sale_id}));
    }
    let skipped: Vec<Value> = mapped
        .skipped
        .iter()
        .map(|s| json!({"line_items_index": s.index, "reason": s.reason.as_str()}))
        .collect();
    let message = match topic {
        Topic::OrderCancelled => {
            Message::cancel(shop.account.clone(), SOURCE_SHOPIFY, &mapped.sale_id)
        }
        Topic::OrderCreated => {
            if !skipped.is_empty() {
                telemetry::count(|s| &s.channel_lines_skipped, skipped.len() as u64);
                tracing::warn!(shop = %shop.domain, sale_id = %sale_id, skipped = ?mapped.skipped, "order lines left out");
            }
            let Some(request) = &mapped.request else {
                return Ok(
                    json!({"status": "ignored", "reason": "no line with a SKU", "sale_id": sale_id, "skipped_lines": skipped}),
                );
            };
            Message::finalize(
                shop.account.clone(),
                SOURCE_SHOPIFY,
                &mapped.sale_id,
                request,
            )
        }
    };
    queue.send(message).await.map_err(|e| {
        tracing::error!(error = %e, "the sales queue did not take a Shopify order");
        ApiError::Busy {
            retry_after: std::time::Duration::from_secs(1),
        }
    })?;
    Ok(json!({"status": "queued", "sale_id": sale_id, "skipped_lines": skipped}))
}

/// Whether an event comes from a Shopify partner event source.
pub fn is_shopify_event(event: &Map<String, Value>) -> bool {
    event.get("detail-type").and_then(Value::as_str) == Some(DETAIL_TYPE)
        && event
            .get("source")
            .and_then(Value::as_str)
            .is_some_and(|s| s.starts_with(EVENT_SOURCE_PREFIX))
}

/// A header of `detail.metadata`, however it is spelled (`X-Shopify-Topic`, `x-shopify-topic`,
/// `shopify-topic`).
fn metadata<'a>(metadata: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    let bare = name.trim_start_matches("x-");
    metadata.iter().find_map(|(k, v)| {
        let k = k.to_ascii_lowercase();
        (k == name || k == bare).then(|| v.as_str()).flatten()
    })
}

/// An EventBridge event from Shopify: no signature (only Shopify can put events on its partner
/// event source), the rest as a webhook. An event that can never be handled (an unregistered shop,
/// a body that is not an order) is logged and dropped; a queue that fails is an error, so Lambda
/// retries the event.
pub async fn handle_shopify_event<Q: SalesQueue>(
    store: &Store,
    queue: &Q,
    mut event: Value,
) -> Result<Value, String> {
    let detail = event["detail"].take();
    let meta = detail["metadata"].as_object().cloned().unwrap_or_default();
    let topic = metadata(&meta, TOPIC_HEADER).unwrap_or_default().to_owned();
    let shop_raw = metadata(&meta, SHOP_HEADER).unwrap_or_default().to_owned();
    let (outcome, _) = telemetry::observed(CHANNELS, async {
        let Some(topic) = Topic::parse(&topic) else {
            return Ok(json!({"status": "ignored", "reason": "topic not handled"}));
        };
        let shop = match ShopDomain::parse(&shop_raw) {
            Ok(domain) => store.shop(&domain).await.map_err(|e| e.to_string())?,
            Err(_) => None,
        };
        let Some(shop) = shop else {
            return Ok(json!({"status": "ignored", "reason": "shop not registered"}));
        };
        let payload = detail.get("payload").cloned().unwrap_or(Value::Null);
        let mapped = match map_order_value(&shop.domain, payload) {
            Ok(mapped) => mapped,
            Err(e) => return Ok(json!({"status": "ignored", "reason": e.to_string()})),
        };
        enqueue(queue, &shop, topic, mapped)
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    match &outcome {
        Ok(answer) => {
            tracing::info!(shop = %shop_raw, topic = %topic, outcome = %answer["status"], reason = %answer["reason"], "shopify event handled")
        }
        Err(e) => {
            tracing::error!(shop = %shop_raw, topic = %topic, error = %e, "shopify event failed")
        }
    }
    outcome
}
