//! Lambda entry point: initialise once (config, logs, DynamoDB client), then serve requests.

use backorder::{config, telemetry, Config, Store};
use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_lambda();
    let config = Config::from_env()?;
    let store = Store::new(config::dynamodb_client().await, config.table_name);
    let store = &store;
    run(service_fn(move |req: Request| async move {
        Ok::<_, std::convert::Infallible>(fn_sale_finalize::handle(store, req).await)
    }))
    .await
}
