//! Lambda entry point: initialise once (logs, configuration, the DynamoDB and SQS clients), then
//! serve API Gateway requests (webhooks, shops) and EventBridge events from Shopify.

use backorder::config::{aws_config, dynamodb_client, ChannelsConfig, Config};
use backorder::{telemetry, Store};
use fn_channels::{handle_event, SqsQueue};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init_lambda();
    let config = Config::from_env()?;
    let channels = ChannelsConfig::from_env()?;
    let store = &Store::new(dynamodb_client().await?, config.table_name)
        .with_shops_table(channels.shops_table_name);
    let queue = &SqsQueue::new(
        aws_sdk_sqs::Client::new(&aws_config().await?),
        channels.sales_queue_url,
    );
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        Box::pin(handle_event(store, queue, event.payload)).await
    }))
    .await
}
