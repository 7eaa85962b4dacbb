//! The service's HTTPS client (`backorder::config::https_client`: rustls with ring) against a
//! local TLS endpoint with a self-signed certificate for `localhost`: it completes the handshake and
//! the request when the certificate is among its roots (`TLS_ROOTS=native`, the platform's store
//! pointed at the certificate by `SSL_CERT_FILE`), and refuses the server with the bundled
//! (Mozilla) roots, which do not hold it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::AttributeValue;
use backorder::config::{https_client, TlsRoots};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A TLS server answering every request as DynamoDB answers a `GetItem` that finds nothing; counts
/// the requests it answered.
async fn serve(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> (u16, Arc<AtomicUsize>) {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let answered = Arc::new(AtomicUsize::new(0));
    let counter = answered.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, counter) = (acceptor.clone(), counter.clone());
            tokio::spawn(async move {
                // A refused handshake ends here.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = tls.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf);
                    let Some(head_end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let length = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if buf.len() < head_end + 4 + length {
                        continue;
                    }
                    buf.drain(..head_end + 4 + length);
                    counter.fetch_add(1, Ordering::SeqCst);
                    let body = "{}";
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if tls.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, answered)
}

fn client(roots: TlsRoots, port: u16) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "tls-test"))
        .endpoint_url(format!("https://localhost:{port}"))
        .http_client(https_client(roots))
        .timeout_config(backorder::config::timeouts())
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

async fn get(client: &aws_sdk_dynamodb::Client) -> Result<bool, String> {
    client
        .get_item()
        .table_name("t")
        .key("pk", AttributeValue::S("k".into()))
        .key("sk", AttributeValue::S("k".into()))
        .send()
        .await
        .map(|out| out.item.is_some())
        .map_err(|e| format!("{:?}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))
}

#[tokio::test]
async fn the_https_client_trusts_exactly_its_roots() {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_pem = generated.cert.pem();
    let cert = CertificateDer::from(generated.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        generated.signing_key.serialize_der(),
    ));
    let (port, answered) = serve(cert, key).await;

    // The platform's store, as rustls-native-certs reads it: only this file. The variable is set
    // before anything in this test binary loads the native roots (they are read once per process).
    let file = std::env::temp_dir().join(format!("backorder-tls-{}.pem", std::process::id()));
    std::fs::write(&file, cert_pem).unwrap();
    std::env::set_var("SSL_CERT_FILE", &file);

    let native = client(TlsRoots::Native, port);
    assert_eq!(get(&native).await, Ok(false), "a trusted server answers");
    assert_eq!(answered.load(Ordering::SeqCst), 1);

    let bundled = client(TlsRoots::Bundled, port);
    let refused = get(&bundled)
        .await
        .expect_err("a self-signed server is refused");
    assert!(
        refused.contains("certificate") || refused.contains("Certificate"),
        "refused for its certificate: {refused}"
    );
    assert_eq!(
        answered.load(Ordering::SeqCst),
        1,
        "no request reached the server"
    );
    std::fs::remove_file(&file).ok();
}
