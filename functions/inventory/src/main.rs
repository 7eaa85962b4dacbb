//! Lambda entry point: initialise once (config, logs, DynamoDB client), then serve requests.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    backorder::runtime::run_http(fn_inventory::handle).await
}
