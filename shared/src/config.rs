//! Configuration, read once at init from the environment. Nothing reads the environment later.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_http_client::ConnectorBuilder;

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

/// The settings of the function that publishes events (`order-events`).
#[derive(Debug, Clone)]
pub struct EventsConfig {
    /// `EVENT_BUS_NAME`: the bus events are put on (a name or ARN).
    pub event_bus_name: String,
}

impl EventsConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(EventsConfig {
            event_bus_name: var("EVENT_BUS_NAME").ok_or(ConfigError::Missing("EVENT_BUS_NAME"))?,
        })
    }
}

/// The settings of the function that takes channels' orders (`channels`).
#[derive(Debug, Clone)]
pub struct ChannelsConfig {
    /// `SHOPS_TABLE_NAME`: the shops and their webhook secrets.
    pub shops_table_name: String,
    /// `SALES_QUEUE_URL`: the queue the mapped sales and cancels are put on.
    pub sales_queue_url: String,
}

impl ChannelsConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(ChannelsConfig {
            shops_table_name: var("SHOPS_TABLE_NAME")
                .ok_or(ConfigError::Missing("SHOPS_TABLE_NAME"))?,
            sales_queue_url: var("SALES_QUEUE_URL")
                .ok_or(ConfigError::Missing("SALES_QUEUE_URL"))?,
        })
    }
}

/// `FUNCTION_TIMEOUT_SECONDS` (default 15, the template's function timeout, which the template
/// passes in): the time an invocation works to when the Runtime API's deadline is unknown (absent
/// or already past on arrival, as local emulators send it; see `runtime::Deadlines`).
pub fn function_timeout() -> Result<Duration, ConfigError> {
    match parse_u64("FUNCTION_TIMEOUT_SECONDS", 15)? {
        0 => Err(ConfigError::Invalid {
            name: "FUNCTION_TIMEOUT_SECONDS",
            problem: "0 is not a timeout".into(),
        }),
        secs => Ok(Duration::from_secs(secs)),
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

/// The root certificates TLS connections trust (`TLS_ROOTS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsRoots {
    /// `bundled` (the default): Mozilla's root store, compiled into the binary
    /// (`webpki-root-certs`), so nothing is read from disk at init.
    Bundled,
    /// `native`: the platform's store (`SSL_CERT_FILE`, `/etc/ssl/certs`, ...), read at init: for
    /// an endpoint behind a private certificate authority.
    Native,
}

impl TlsRoots {
    /// `TLS_ROOTS` from the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::parse(var("TLS_ROOTS").as_deref())
    }

    fn parse(value: Option<&str>) -> Result<Self, ConfigError> {
        match value.map(str::trim) {
            None | Some("bundled") => Ok(TlsRoots::Bundled),
            Some("native") => Ok(TlsRoots::Native),
            Some(other) => Err(ConfigError::Invalid {
                name: "TLS_ROOTS",
                problem: format!("{other:?} is neither \"bundled\" nor \"native\""),
            }),
        }
    }

    /// The SDK trust store of these roots.
    pub fn trust_store(self) -> TrustStore {
        match self {
            TlsRoots::Bundled => webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .fold(TrustStore::empty(), |store, der| {
                    store.with_pem_certificate(pem(der.as_ref()))
                }),
            TlsRoots::Native => TrustStore::default(),
        }
    }
}

/// A DER certificate as PEM, the form the SDK's trust store takes.
fn pem(der: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = Vec::with_capacity(body.len() + body.len() / 64 + 60);
    out.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.extend_from_slice(b"-----END CERTIFICATE-----\n");
    out
}

/// The HTTPS client of every SDK client: rustls with ring, trusting `roots`, with the proxy
/// settings of the environment (as the SDK's default client). Not the SDK's default (rustls with
/// aws-lc and the platform's roots): aws-lc seeds its random generator from CPU jitter on the
/// first TLS handshake, and reading the platform's roots is most of the init time (BENCHMARKS.md,
/// "Cold start").
pub fn https_client(roots: TlsRoots) -> SharedHttpClient {
    https_client_with(roots.trust_store(), CryptoMode::Ring)
}

/// [`https_client`] with any trust store and rustls crypto provider (the benchmark compares them).
pub fn https_client_with(trust: TrustStore, crypto: CryptoMode) -> SharedHttpClient {
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("a TLS context without extra server names always builds");
    aws_smithy_http_client::Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(crypto.clone()))
            .tls_context(context.clone());
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// The shared AWS configuration (region, credentials, and `AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB
/// Local), with the service's HTTPS client, timeouts and SDK retries.
pub async fn aws_config() -> Result<aws_config::SdkConfig, ConfigError> {
    Ok(aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client(TlsRoots::from_env()?))
        .timeout_config(timeouts())
        .retry_config(retries())
        .load()
        .await)
}

/// The DynamoDB client, built once per process, counting its requests for the logs and metrics.
pub async fn dynamodb_client() -> Result<aws_sdk_dynamodb::Client, ConfigError> {
    let config = aws_sdk_dynamodb::config::Builder::from(&aws_config().await?)
        .interceptor(crate::telemetry::DynamoCounter)
        .build();
    Ok(aws_sdk_dynamodb::Client::from_conf(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;

    #[test]
    fn tls_roots_default_to_the_bundled_store_and_reject_anything_else() {
        assert_eq!(TlsRoots::parse(None).unwrap(), TlsRoots::Bundled);
        assert_eq!(TlsRoots::parse(Some("bundled")).unwrap(), TlsRoots::Bundled);
        assert_eq!(TlsRoots::parse(Some(" native ")).unwrap(), TlsRoots::Native);
        let err = TlsRoots::parse(Some("system")).unwrap_err().to_string();
        assert!(err.contains("TLS_ROOTS") && err.contains("system"), "{err}");
    }

    #[test]
    fn the_bundled_store_holds_every_mozilla_root_and_the_amazon_roots() {
        let der: Vec<Vec<u8>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|c| c.to_vec())
            .collect();
        assert!(der.len() > 100, "{} roots", der.len());
        // Each certificate survives the trip to PEM and back byte for byte, as the SDK reads it.
        for cert in &der {
            let back = CertificateDer::from_pem_slice(&pem(cert)).expect("valid PEM");
            assert_eq!(back.as_ref(), cert.as_slice());
        }
        // AWS endpoints chain to Amazon Root CA 1-4 or Starfield Services Root G2.
        let holds = |name: &str| {
            der.iter()
                .any(|c| c.windows(name.len()).any(|w| w == name.as_bytes()))
        };
        for name in [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
        ] {
            assert!(holds(name), "{name} is missing");
        }
    }
}
