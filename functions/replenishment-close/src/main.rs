//! Lambda entry point: initialise once (config, logs, DynamoDB client), then serve invocations
//! (API Gateway, direct, scheduled) through the plain runtime.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    backorder::runtime::run_events(fn_replenishment_close::handle_event).await
}
