//! `channels`: orders straight from Shopify.
//!
//! - `POST /channels/shopify/webhooks` (no JWT): an `orders/create` or `orders/cancelled` delivery,
//!   verified with the shop's webhook secret ([`webhook`]), mapped to a sale or a cancel, and put
//!   on the sales queue before it is answered 200; `sale-finalize` consumes the queue.
//! - EventBridge events of Shopify's partner event source (`detail-type` `shopifyWebhook`): the
//!   same, without a signature (the event bus is the trust boundary).
//! - `PUT|GET|DELETE /channels/shopify/shops/{shop_domain}` (scope `backorder/admin`): the caller's
//!   shops, `{"webhook_secret"?, "ignore_test_orders"?}` -> `{"shop_domain",
//!   "webhook_secret_set", "ignore_test_orders", "created_at", "updated_at"}` (never the secret).

pub mod webhook;

use backorder::channels::queue::SOURCE_ATTR;
use backorder::channels::queue::{Message, QueueError, SalesQueue, ACCOUNT_ATTR, KIND_ATTR};
use backorder::channels::shopify::ShopDomain;
use backorder::http::{self, json_body, json_response};
use backorder::ids::AccountId;
use backorder::requests::shop_request;
use backorder::routes::{ChannelsOp, Operation};
use backorder::runtime::{http_api_response, http_request, is_http_api_event};
use backorder::service::shops::{delete_shop, get_shop, put_shop};
use backorder::{ApiError, Store};
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

/// An HTTP request: the webhook (authenticated by its signature), or a shop route (by the JWT).
pub async fn handle<Q: SalesQueue>(store: &Store, queue: &Q, req: Request) -> Response<Body> {
    let op = http::route(&req).and_then(|r| ChannelsOp::of(r.endpoint));
    if op.is_some_and(|op| !op.needs_account()) {
        return Box::pin(webhook::serve_webhook(store, queue, req)).await;
    }
    http::serve(req, |op, account, req| shops(store, op, account, req)).await
}

fn shop_param(req: &Request) -> Result<ShopDomain, ApiError> {
    use lambda_http::RequestExt;
    let params = req.path_parameters();
    let raw = params
        .first("shop_domain")
        .ok_or_else(|| ApiError::invalid_parameter("shop_domain", "is missing"))?;
    ShopDomain::parse(raw).map_err(|problem| ApiError::invalid_parameter("shop_domain", problem))
}

async fn shops(
    store: &Store,
    op: ChannelsOp,
    account: AccountId,
    req: Request,
) -> Result<Response<Body>, ApiError> {
    let domain = shop_param(&req)?;
    match op {
        ChannelsOp::PutShop => {
            let settings = shop_request(json_body(&req)?)?;
            let shop = put_shop(store, &account, &domain, &settings).await?;
            Ok(json_response(200, &shop))
        }
        ChannelsOp::GetShop => Ok(json_response(
            200,
            &get_shop(store, &account, &domain).await?,
        )),
        ChannelsOp::DeleteShop => {
            delete_shop(store, &account, &domain).await?;
            Ok(json_response(
                200,
                &json!({"shop_domain": domain.as_str(), "deleted": true}),
            ))
        }
        ChannelsOp::ShopifyWebhook => Err(http::no_route()),
    }
}

/// A failed invocation that is neither HTTP nor a Shopify event, or an event not handled (Lambda
/// retries an asynchronous invocation that fails, then hands it to the on-failure destination).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvocationError(String);

impl From<InvocationError> for lambda_runtime::Diagnostic {
    fn from(err: InvocationError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "InvocationError".to_owned(),
            error_message: err.to_string(),
        }
    }
}

/// Any invocation: an API Gateway HTTP API event, or an EventBridge event from Shopify.
pub async fn handle_event<Q: SalesQueue>(
    store: &Store,
    queue: &Q,
    event: Value,
) -> Result<Value, InvocationError> {
    let Value::Object(map) = event else {
        return Err(InvocationError("the event must be a JSON object".into()));
    };
    if is_http_api_event(&map) {
        let req = http_request(map).map_err(InvocationError)?;
        return Ok(http_api_response(Box::pin(handle(store, queue, req)).await));
    }
    if webhook::is_shopify_event(&map) {
        return Box::pin(webhook::handle_shopify_event(
            store,
            queue,
            Value::Object(map),
        ))
        .await
        .map_err(InvocationError);
    }
    Err(InvocationError(
        "neither an HTTP API event nor a Shopify EventBridge event".into(),
    ))
}

/// The sales queue in Lambda: SQS.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: String) -> Self {
        SqsQueue { client, url }
    }
}

fn attribute(value: &str) -> aws_sdk_sqs::types::MessageAttributeValue {
    aws_sdk_sqs::types::MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .expect("data_type is set")
}

impl SalesQueue for SqsQueue {
    async fn send(&self, message: Message) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(message.body)
            .message_attributes(ACCOUNT_ATTR, attribute(message.account.as_str()))
            .message_attributes(KIND_ATTR, attribute(message.kind.as_str()))
            .message_attributes(SOURCE_ATTR, attribute(message.source))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| QueueError(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))
    }
}
