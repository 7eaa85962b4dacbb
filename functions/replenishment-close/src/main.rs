//! Lambda entry point: initialise once (config, logs, DynamoDB client), then serve invocations
//! (API Gateway, direct, scheduled) through the plain runtime.

use backorder::{config, telemetry, Config, Store};
use fn_replenishment_close::{deadline_instant, handle_event};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_lambda();
    let config = Config::from_env()?;
    let store = Store::new(config::dynamodb_client().await, config.table_name.clone());
    let (store, config) = (&store, &config);
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = deadline_instant(event.context.deadline());
        handle_event(store, config, event.payload, deadline).await
    }))
    .await
}
