//! A cold-start experiment: a function that initialises like the real ones (JSON logs, the AWS
//! configuration, a DynamoDB client), with the TLS and warm-up choices of item 4 of the benchmark
//! picked by environment variables, and answers each invocation with one `GetItem`:
//!
//! - `PROBE_ROOTS`: `native` (the platform's store, read from disk at init: the SDK's default),
//!   `mozilla` (the `webpki-root-certs` set, compiled in) or `amazon` (the five Amazon Trust
//!   Services roots, compiled in).
//! - `PROBE_CRYPTO`: `aws-lc` (the SDK's default) or `ring`.
//! - `PROBE_RANDOM=1`: draw 32 bytes from the provider's random generator at init (the first TLS
//!   handshake would seed it), to show what seeding costs.
//! - `PROBE_WARM=1`: send one `GetItem` during init, so the first invocation finds an open
//!   connection.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

/// The five Amazon Trust Services roots, which AWS endpoints chain to.
const AMAZON_ROOTS: &str = include_str!("../../certs/amazon-trust-services.pem");

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn pem(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

fn trust_store(roots: &str) -> TrustStore {
    match roots {
        "native" => TrustStore::default(),
        "mozilla" => webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .fold(TrustStore::empty(), |t, c| t.with_pem_certificate(pem(c))),
        "amazon" => TrustStore::empty().with_pem_certificate(AMAZON_ROOTS),
        other => panic!("PROBE_ROOTS={other}: use native, mozilla or amazon"),
    }
}

fn crypto(name: &str) -> CryptoMode {
    match name {
        "aws-lc" => CryptoMode::AwsLc,
        "ring" => CryptoMode::Ring,
        other => panic!("PROBE_CRYPTO={other}: use aws-lc or ring"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    backorder::telemetry::init_lambda();
    let table = var("TABLE_NAME", "");
    let (roots, mode) = (var("PROBE_ROOTS", "native"), var("PROBE_CRYPTO", "aws-lc"));
    if var("PROBE_RANDOM", "0") == "1" {
        let provider = match crypto(&mode) {
            CryptoMode::Ring => rustls::crypto::ring::default_provider(),
            _ => rustls::crypto::aws_lc_rs::default_provider(),
        };
        let mut bytes = [0u8; 32];
        provider
            .secure_random
            .fill(&mut bytes)
            .map_err(|e| format!("no random bytes: {e:?}"))?;
    }
    let context = TlsContext::builder()
        .with_trust_store(trust_store(&roots))
        .build()?;
    let http = Builder::new().build_with_connector_fn(move |settings, components| {
        let mut conn = ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(crypto(&mode)))
            .tls_context(context.clone());
        conn.set_connector_settings(settings.cloned());
        if let Some(c) = components {
            conn.set_sleep_impl(c.sleep_impl());
        }
        conn.build()
    });
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
