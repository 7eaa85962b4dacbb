//! A tiny EventBridge for tests: an HTTP server speaking the `PutEvents` JSON protocol
//! (`X-Amz-Target: AWSEvents.PutEvents`, `application/x-amz-json-1.1`) on a loopback port. It
//! records the entries it accepts, and can be told to refuse some entries (`FailedEntryCount` with
//! an `ErrorCode` per entry) or to answer HTTP 500.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// An entry as `PutEvents` received it (`detail` parsed from its JSON string).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub source: String,
    pub detail_type: String,
    pub detail: Value,
    pub event_bus_name: String,
}

impl Entry {
    pub fn event_id(&self) -> &str {
        self.detail["event_id"].as_str().unwrap_or_default()
    }
}

type Refuse = Box<dyn Fn(&Entry) -> bool + Send + Sync>;

#[derive(Default)]
struct State {
    accepted: Vec<Entry>,
    /// Entries per `PutEvents` request received, refused ones and 500s included.
    requests: Vec<usize>,
    refuse: Option<Refuse>,
    http_500: bool,
}

/// The recorder; clones share it.
#[derive(Clone)]
pub struct EventBridge {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        "application/x-amz-json-1.1".parse().unwrap(),
    );
    r.headers_mut()
        .insert("x-amzn-requestid", "00000000-test".parse().unwrap());
    r
}

impl EventBridge {
    /// Listens on an ephemeral loopback port until the test's runtime ends.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let bus = EventBridge {
            addr: listener.local_addr().unwrap(),
            state: Arc::default(),
        };
        let served = bus.clone();
        crate::loopback::serve(listener, move |req| {
            let bus = served.clone();
            async move { bus.handle(req).await }
        });
        bus
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let target = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let content_type = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if target != "AWSEvents.PutEvents" || content_type != "application/x-amz-json-1.1" {
            return reply(
                StatusCode::BAD_REQUEST,
                json!({"__type": "UnknownOperationException", "message": format!("{target} {content_type}")}),
            );
        }
        let Ok(request) = serde_json::from_slice::<Value>(&body) else {
            return reply(
                StatusCode::BAD_REQUEST,
                json!({"__type": "SerializationException"}),
            );
        };
        let entries: Vec<Entry> = request["Entries"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|e| Entry {
                source: e["Source"].as_str().unwrap_or_default().to_owned(),
                detail_type: e["DetailType"].as_str().unwrap_or_default().to_owned(),
                detail: serde_json::from_str(e["Detail"].as_str().unwrap_or("null"))
                    .unwrap_or(Value::Null),
                event_bus_name: e["EventBusName"].as_str().unwrap_or_default().to_owned(),
            })
            .collect();
        let mut st = self.state.lock().unwrap();
        st.requests.push(entries.len());
        if st.http_500 {
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"__type": "InternalException", "message": "injected"}),
            );
        }
        if entries.is_empty() || entries.len() > 10 {
            return reply(
                StatusCode::BAD_REQUEST,
                json!({"__type": "ValidationException", "message": "1 to 10 entries"}),
            );
        }
        let mut failed = 0;
        let mut results = Vec::new();
        for entry in entries {
            if st.refuse.as_ref().is_some_and(|refuse| refuse(&entry)) {
                failed += 1;
                results.push(json!({"ErrorCode": "InternalFailure", "ErrorMessage": "injected"}));
            } else {
                results.push(json!({"EventId": ulid::Ulid::new().to_string()}));
                st.accepted.push(entry);
            }
        }
        reply(
            StatusCode::OK,
            json!({"FailedEntryCount": failed, "Entries": results}),
        )
    }

    /// Entries accepted so far, in order.
    pub fn accepted(&self) -> Vec<Entry> {
        self.state.lock().unwrap().accepted.clone()
    }

    /// The entry count of every `PutEvents` request received so far.
    pub fn requests(&self) -> Vec<usize> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Forgets what was received.
    pub fn clear(&self) {
        let mut st = self.state.lock().unwrap();
        st.accepted.clear();
        st.requests.clear();
    }

    /// Refuses every entry `refuse` matches (until [`EventBridge::heal`]).
    pub fn refuse(&self, refuse: impl Fn(&Entry) -> bool + Send + Sync + 'static) {
        self.state.lock().unwrap().refuse = Some(Box::new(refuse));
    }

    /// Answers every request with HTTP 500 (until [`EventBridge::heal`]).
    pub fn fail_requests(&self) {
        self.state.lock().unwrap().http_500 = true;
    }

    /// Back to accepting everything.
    pub fn heal(&self) {
        let mut st = self.state.lock().unwrap();
        st.refuse = None;
        st.http_500 = false;
    }

    /// A client of this EventBridge, as the function builds it but for the endpoint and with short
    /// SDK retries.
    pub fn client(&self) -> aws_sdk_eventbridge::Client {
        use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region};
        let config = aws_sdk_eventbridge::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("local", "local", None, None, "test"))
            .http_client(backorder::config::https_client(
                backorder::config::TlsRoots::Bundled,
            ))
            .retry_config(
                aws_sdk_eventbridge::config::retry::RetryConfig::standard()
                    .with_max_attempts(2)
                    .with_initial_backoff(std::time::Duration::from_millis(1)),
            )
            .build();
        aws_sdk_eventbridge::Client::from_conf(config)
    }
}
