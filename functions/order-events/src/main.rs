//! Lambda entry point: initialise once (logs, configuration, the EventBridge client), then serve
//! the DynamoDB stream's batches through the plain runtime.

use backorder::config::EventsConfig;
use backorder::events::publisher::eventbridge_client;
use backorder::runtime::Deadlines;
use backorder::telemetry;
use fn_order_events::{handle, Publisher};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init_lambda();
    let config = EventsConfig::from_env()?;
    let publisher = Publisher::new(eventbridge_client().await?, config.event_bus_name);
    let publisher = &publisher;
    let deadlines = &Deadlines::from_env()?;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = deadlines.instant(event.context.deadline());
        handle(publisher, event.payload, deadline).await
    }))
    .await
}
