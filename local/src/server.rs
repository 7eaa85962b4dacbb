//! The local HTTP server: hyper on 127.0.0.1, every request through [`crate::router::dispatch`].

use std::net::SocketAddr;
use std::sync::Arc;

use backorder::Store;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::router::{body_text, dispatch, RawRequest};

/// Requests larger than this are refused before they reach a function (API Gateway's own limit is
/// 10 MB; the functions refuse bodies over 1 MB with a JSON 413).
const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;

async fn serve_one(
    store: Arc<Store>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = req.into_parts();
    let bytes = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            let mut resp = hyper::Response::new(Full::new(Bytes::from_static(
                br#"{"error":{"code":"payload_too_large","message":"request body is too large"}}"#,
            )));
            *resp.status_mut() = hyper::StatusCode::PAYLOAD_TOO_LARGE;
            return Ok(resp);
        }
    };
    let raw = RawRequest {
        method: parts.method.as_str().to_owned(),
        target: parts
            .uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: bytes.to_vec(),
    };
    let resp = dispatch(&store, &raw).await;
    let (parts, body) = resp.into_parts();
    let mut out = hyper::Response::new(Full::new(Bytes::from(body_text(&body))));
    *out.status_mut() = parts.status;
    *out.headers_mut() = parts.headers;
    Ok(out)
}

/// Binds `addr` and returns the bound address and the serving task.
pub async fn start(
    store: Store,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let store = Arc::new(store);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let store = store.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| serve_one(store.clone(), req));
                if let Err(e) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(error = %e, "connection ended");
                }
            });
        }
    });
    Ok((local, task))
}
