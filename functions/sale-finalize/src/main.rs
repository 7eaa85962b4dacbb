//! Lambda entry point: initialise once (config, logs, DynamoDB client), then serve API Gateway
//! requests and SQS batches.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    backorder::runtime::run_events(fn_sale_finalize::handle_event).await
}
