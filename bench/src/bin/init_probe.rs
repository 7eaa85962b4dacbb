//! A cold-start experiment: a function that initialises like the real ones (JSON logs, the AWS
//! configuration, a DynamoDB client on `backorder::config::https_client_with`), with the TLS and
//! warm-up choices of item 4 of the benchmark
//! picked by environment variables, and answers each invocation with one `GetItem`:
//!
//! - `PROBE_ROOTS`: `native` (the platform's store, read from disk at init: the SDK's default),
//!   `mozilla` (the `webpki-root-certs` set, compiled in) or `amazon` (the five Amazon Trust
//!   Services roots, compiled in).
//! - `PROBE_CRYPTO`: `ring` (the default) or `aws-lc` (the SDK's default; needs the bench's
//!   `aws-lc-probe` feature).
//! - `PROBE_RANDOM=1`: draw 32 bytes from the provider's random generator at init (the first TLS
//!   handshake would seed it), to show what seeding costs.
//! - `PROBE_WARM=1`: send one `GetItem` during init, so the first invocation finds an open
//!   connection.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, TrustStore};
use backorder::config::{https_client_with, TlsRoots};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

/// The five Amazon Trust Services roots, which AWS endpoints chain to.
const AMAZON_ROOTS: &str = include_str!("../../certs/amazon-trust-services.pem");

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn trust_store(roots: &str) -> TrustStore {
    match roots {
        "native" => TlsRoots::Native.trust_store(),
        "mozilla" => TlsRoots::Bundled.trust_store(),
        "amazon" => TrustStore::empty().with_pem_certificate(AMAZON_ROOTS),
        other => panic!("PROBE_ROOTS={other}: use native, mozilla or amazon"),
    }
}

fn crypto(name: &str) -> CryptoMode {
    match name {
        #[cfg(feature = "aws-lc-probe")]
        "aws-lc" => CryptoMode::AwsLc,
        "ring" => CryptoMode::Ring,
        other => panic!("PROBE_CRYPTO={other}: use ring, or aws-lc with --features aws-lc-probe"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    backorder::telemetry::init_lambda();
    let table = var("TABLE_NAME", "");
    let (roots, mode) = (var("PROBE_ROOTS", "native"), var("PROBE_CRYPTO", "ring"));
    if var("PROBE_RANDOM", "0") == "1" {
        let provider = match crypto(&mode) {
            #[cfg(feature = "aws-lc-probe")]
            CryptoMode::AwsLc => rustls::crypto::aws_lc_rs::default_provider(),
            _ => rustls::crypto::ring::default_provider(),
        };
        let mut bytes = [0u8; 32];
        provider
            .secure_random
            .fill(&mut bytes)
            .map_err(|e| format!("no random bytes: {e:?}"))?;
    }
    let http = https_client_with(trust_store(&roots), crypto(&mode));
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&shared);
    let get = || {
        client
            .get_item()
            .table_name(&table)
            .key("pk", AttributeValue::S("PROBE".into()))
            .key("sk", AttributeValue::S("PROBE".into()))
            .send()
    };
    if var("PROBE_WARM", "0") == "1" {
        get().await?;
    }
    let get = &get;
    run(service_fn(move |_: LambdaEvent<Value>| async move {
        let found = get().await?.item.is_some();
        Ok::<Value, Error>(json!({ "found": found }))
    }))
    .await
}
