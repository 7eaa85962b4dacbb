//! Lambda entry point: read the page's settings once, then serve the console's assets.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    backorder::telemetry::init_lambda();
    let config: &'static fn_console::ConsoleConfig =
        Box::leak(Box::new(fn_console::ConsoleConfig::from_env()?));
    lambda_http::run(lambda_http::service_fn(move |req| async move {
        Ok::<_, std::convert::Infallible>(fn_console::handle(config, &req))
    }))
    .await
}
