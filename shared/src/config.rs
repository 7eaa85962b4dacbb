//! Configuration, read once at init from the environment. Nothing reads the environment later.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;

/// A missing or unusable environment variable, by name.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {problem}")]
    Invalid { name: &'static str, problem: String },
}

/// The service's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `TABLE_NAME`: the DynamoDB table.
    pub table_name: String,
    /// `MIN_OPEN_AGE_MINUTES` (default 0): the scheduled close leaves younger orders open.
    pub min_open_age_minutes: u64,
    /// `CLOSE_DEADLINE_MARGIN_MS` (default 3000): the scheduled close stops this long before the
    /// Lambda deadline.
    pub close_deadline_margin: Duration,
}

fn var(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse_u64(name: &'static str, default: u64) -> Result<u64, ConfigError> {
    match var(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| ConfigError::Invalid {
            name,
            problem: format!("{v:?} is not a whole number"),
        }),
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Config {
            table_name: var("TABLE_NAME").ok_or(ConfigError::Missing("TABLE_NAME"))?,
            min_open_age_minutes: parse_u64("MIN_OPEN_AGE_MINUTES", 0)?,
            close_deadline_margin: Duration::from_millis(parse_u64(
                "CLOSE_DEADLINE_MARGIN_MS",
                3000,
            )?),
        })
    }

    /// Settings for tests and the local server.
    pub fn for_table(table_name: impl Into<String>) -> Self {
        Config {
            table_name: table_name.into(),
            min_open_age_minutes: 0,
            close_deadline_margin: Duration::from_millis(3000),
        }
    }
}

/// Timeouts so that a black-holed connection cannot hold a request: each attempt gives up after
/// 2 s, and an operation with its SDK retries after 6 s.
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(6))
        .build()
}

/// The SDK's own retries of throttling, 5xx, timeouts and connection errors: 3 attempts, short
/// jittered backoff (the service's own loop retries contention on top, within its budget).
pub fn retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(25))
        .with_max_backoff(Duration::from_secs(1))
}

/// The shared AWS configuration (region, credentials, and `AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB
/// Local), with the service's timeouts.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .load()
        .await
}

/// The DynamoDB client, built once per process, counting its requests for the logs and metrics.
pub async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::from(&aws_config().await)
        .interceptor(crate::telemetry::DynamoCounter)
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}
