//! Lambda entry point: initialise once (logs, configuration, the EventBridge and DynamoDB
//! clients), then serve the DynamoDB stream's batches through the plain runtime.

use backorder::config::{dynamodb_client, Config, EventsConfig};
use backorder::events::publisher::eventbridge_client;
use backorder::runtime::Deadlines;
use backorder::{telemetry, Store};
use fn_order_events::{handle, Publisher};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init_lambda();
    let events = EventsConfig::from_env()?;
    let config = Config::from_env()?;
    let publisher = Publisher::new(eventbridge_client().await?, events.event_bus_name);
    let publisher = &publisher;
    let store = &Store::new(dynamodb_client().await?, config.table_name);
    let deadlines = &Deadlines::from_env()?;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = deadlines.instant(event.context.deadline());
        handle(publisher, Some(store), event.payload, deadline).await
    }))
    .await
}
