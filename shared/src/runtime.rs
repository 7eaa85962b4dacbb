//! The one entry point every HTTP function's `main` calls: initialise once (JSON logs and metrics,
//! typed config, the DynamoDB client), then serve API Gateway requests with the handler.

use std::convert::Infallible;
use std::future::Future;

use lambda_http::{service_fn, Body, Request, Response};

use crate::{config, telemetry, Config, Store};

/// Runs `handler` under the Lambda runtime until the process ends.
pub async fn run_http<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static Store, Request) -> Fut,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    telemetry::init_lambda();
    let config = Config::from_env()?;
    // Built once and kept for the life of the process (the execution environment).
    let store: &'static Store = Box::leak(Box::new(Store::new(
        config::dynamodb_client().await,
        config.table_name,
    )));
    lambda_http::run(service_fn(move |req: Request| {
        let response = handler(store, req);
        async move { Ok::<_, Infallible>(response.await) }
    }))
    .await
}
