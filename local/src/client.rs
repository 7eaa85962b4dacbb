//! DynamoDB clients for DynamoDB Local.

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::Client;
use backorder::config::TlsRoots;

/// Endpoint of DynamoDB Local from `AWS_ENDPOINT_URL_DYNAMODB`, else `http://127.0.0.1:{DYNAMODB_PORT or 8000}`.
pub fn endpoint_from_env() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            let port = std::env::var("DYNAMODB_PORT")
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "8000".to_owned());
            format!("http://127.0.0.1:{port}")
        })
}

/// A config builder for DynamoDB Local: fixed region and dummy credentials (every client must use
/// the same ones, since DynamoDB Local keeps one database per access key and region), the
/// service's timeouts.
pub fn local_config(endpoint: &str) -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "local",
            "local",
            None,
            None,
            "backorder-local",
        ))
        .endpoint_url(endpoint)
        .http_client(backorder::config::https_client(TlsRoots::Bundled))
        .timeout_config(backorder::config::timeouts())
        .retry_config(backorder::config::retries())
        .interceptor(backorder::telemetry::DynamoCounter)
}

pub fn local_client(endpoint: &str) -> Client {
    Client::from_conf(local_config(endpoint).build())
}
