//! A minimal AWS Lambda Runtime API (the protocol a `bootstrap` speaks), to run the real function
//! binaries locally without Docker: `GET /2018-06-01/runtime/invocation/next` hands out queued
//! events, and `.../{id}/response` and `.../{id}/error` complete them.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Notify};

/// What an invocation returned: its response, or the error it reported (`errorType`, `errorMessage`).
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    Response(Value),
    Error {
        error_type: String,
        error_message: String,
    },
}

#[derive(Default)]
struct State {
    queue: VecDeque<(String, Value, Duration)>,
    waiting: HashMap<String, oneshot::Sender<Invocation>>,
    first_next: Option<Instant>,
    init_error: Option<String>,
}

/// One emulated Runtime API endpoint (one per function process).
#[derive(Clone)]
pub struct RuntimeApi {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    ready: Arc<Notify>,
    started: Instant,
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

impl RuntimeApi {
    /// Listens on an ephemeral loopback port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = RuntimeApi {
            addr: listener.local_addr().unwrap(),
            state: Arc::default(),
            ready: Arc::new(Notify::new()),
            started: Instant::now(),
        };
        let served = api.clone();
        crate::loopback::serve(listener, move |req| {
            let api = served.clone();
            async move { api.handle(req).await }
        });
        api
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        let method = req.method().clone();
        let error_type = req
            .headers()
            .get("lambda-runtime-function-error-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method, parts.as_slice()) {
            (Method::GET, ["2018-06-01", "runtime", "invocation", "next"]) => {
                loop {
                    let next = {
                        let mut st = self.state.lock().unwrap();
                        st.first_next.get_or_insert_with(Instant::now);
                        st.queue.pop_front()
                    };
                    match next {
                        Some((id, event, timeout)) => {
                            let deadline = SystemTime::now() + timeout;
                            let deadline_ms =
                                deadline.duration_since(UNIX_EPOCH).unwrap().as_millis();
                            let mut r = reply(StatusCode::OK, event.to_string());
                            let h = r.headers_mut();
                            h.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
                            h.insert(
                                "lambda-runtime-deadline-ms",
                                deadline_ms.to_string().parse().unwrap(),
                            );
                            h.insert(
                                "lambda-runtime-invoked-function-arn",
                                "arn:aws:lambda:us-east-1:123456789012:function:local"
                                    .parse()
                                    .unwrap(),
                            );
                            h.insert(
                                "lambda-runtime-trace-id",
                                "Root=1-00000000-000000000000000000000000;Sampled=0"
                                    .parse()
                                    .unwrap(),
                            );
                            h.insert("content-type", "application/json".parse().unwrap());
                            return r;
                        }
                        None => {
                            self.ready.notify_waiters();
                            // Long-poll, as Lambda does, until an event is queued.
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                }
            }
            (
                Method::POST,
                ["2018-06-01", "runtime", "invocation", id, kind @ ("response" | "error")],
            ) => {
                let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let outcome = if *kind == "response" {
                    Invocation::Response(value)
                } else {
                    Invocation::Error {
                        error_type: value["errorType"]
                            .as_str()
                            .map(str::to_owned)
                            .or(error_type)
                            .unwrap_or_default(),
                        error_message: value["errorMessage"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    }
                };
                if let Some(tx) = self.state.lock().unwrap().waiting.remove(*id) {
                    let _ = tx.send(outcome);
                }
                reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
            }
            (Method::POST, ["2018-06-01", "runtime", "init", "error"]) => {
                self.state.lock().unwrap().init_error =
                    Some(String::from_utf8_lossy(&body).into_owned());
                reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
            }
            _ => reply(StatusCode::NOT_FOUND, "not found"),
        }
    }

    /// Invokes the function with `event` and waits for its response or error.
    pub async fn invoke(&self, event: Value) -> Invocation {
        self.invoke_with_timeout(event, Duration::from_secs(15))
            .await
    }

    pub async fn invoke_with_timeout(&self, event: Value, timeout: Duration) -> Invocation {
        let id = ulid::Ulid::new().to_string();
        let (tx, rx) = oneshot::channel();
        {
            let mut st = self.state.lock().unwrap();
            st.waiting.insert(id.clone(), tx);
            st.queue.push_back((id, event, timeout));
        }
        tokio::time::timeout(timeout + Duration::from_secs(5), rx)
            .await
            .expect("the function did not answer in time")
            .expect("the Runtime API dropped the invocation")
    }

    /// Time from `start()` to the function's first `next` request, once it has made one.
    pub fn time_to_first_next(&self) -> Option<Duration> {
        self.state
            .lock()
            .unwrap()
            .first_next
            .map(|t| t.duration_since(self.started))
    }

    /// What the function reported at `init/error`, if anything.
    pub fn init_error(&self) -> Option<String> {
        self.state.lock().unwrap().init_error.clone()
    }
}
