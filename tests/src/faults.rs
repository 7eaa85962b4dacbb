//! Fault injection that DynamoDB Local lacks, as an HTTP client between the SDK and DynamoDB Local
//! (test-only). It can:
//!
//! - cancel a `TransactWriteItems` with `TransactionCanceledException` (reason
//!   `TransactionConflict`) when it overlaps in time with another in-flight transaction on the same
//!   key, as DynamoDB does, and at a random rate; a single-item write on a key an in-flight
//!   transaction holds fails with `TransactionConflictException`;
//! - answer `ProvisionedThroughputExceededException` / `ThrottlingException`, or HTTP 500, at a rate;
//! - send a request, let DynamoDB commit it, and lose the response (the SDK sees a timeout);
//! - crash the invocation before it sends a request (at a rate, or at the n-th request of an
//!   invocation): the invocation's future is dropped mid-way, as when a Lambda dies; see [`invoke`];
//! - black-hole every request (never answer), so the SDK's timeouts must end it;
//! - delay the response of a read after DynamoDB served it (at a rate, or hold one read of an
//!   invocation until the test releases it): writes committed meanwhile are not in it, so the
//!   caller acts on a stale read, as on DynamoDB when a response is slow. A consistent read is
//!   never older than the moment it was served, so this is the only staleness it allows (an
//!   eventually consistent read or a global index query may be staler still).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use serde_json::{json, Value};

/// Rates (0.0 to 1.0) of each fault, per DynamoDB request.
#[derive(Debug, Clone, Default)]
pub struct FaultConfig {
    /// Cancel overlapping transactions on a shared key, as DynamoDB does.
    pub overlap_conflicts: bool,
    /// Cancel a `TransactWriteItems` with `TransactionConflict` at random.
    pub conflict: f64,
    /// Answer `ProvisionedThroughputExceededException` or `ThrottlingException`.
    pub throttle: f64,
    /// Answer HTTP 500 `InternalServerError`.
    pub server_error: f64,
    /// Forward the request, then lose the response (a timeout after the commit).
    pub lost_response: f64,
    /// Crash the invocation (inside [`invoke`]) before it sends the request.
    pub crash: f64,
    /// Never answer any request.
    pub black_hole: bool,
    /// Hold the response of a read (`GetItem`, `BatchGetItem`, `Query`, `Scan`,
    /// `TransactGetItems`) for 1-30 ms after DynamoDB served it.
    pub delayed_reads: f64,
    /// Every answer takes at least this long (a network round trip), so that requests sent
    /// together overlap, as they do against DynamoDB.
    pub latency: Option<std::time::Duration>,
}

impl FaultConfig {
    /// Every kind of fault at `rate`, and overlap conflicts.
    pub fn all(rate: f64) -> Self {
        FaultConfig {
            overlap_conflicts: true,
            conflict: rate,
            throttle: rate,
            server_error: rate,
            lost_response: rate,
            crash: rate,
            black_hole: false,
            delayed_reads: rate,
            latency: None,
        }
    }
}

/// How many faults of each kind were injected.
#[derive(Debug, Default)]
pub struct FaultCounts {
    pub requests: AtomicU64,
    pub overlap_conflicts: AtomicU64,
    pub conflicts: AtomicU64,
    pub throttles: AtomicU64,
    pub server_errors: AtomicU64,
    pub lost_responses: AtomicU64,
    pub crashes: AtomicU64,
    pub delayed_reads: AtomicU64,
}

impl FaultCounts {
    pub fn injected(&self) -> u64 {
        [
            &self.overlap_conflicts,
            &self.conflicts,
            &self.throttles,
            &self.server_errors,
            &self.lost_responses,
            &self.crashes,
        ]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
    }

    pub fn summary(&self) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "requests {}, faults {} (overlap conflicts {}, random conflicts {}, throttles {}, 500s {}, lost responses {}, crashes {}), delayed reads {}",
            g(&self.requests),
            self.injected(),
            g(&self.overlap_conflicts),
            g(&self.conflicts),
            g(&self.throttles),
            g(&self.server_errors),
            g(&self.lost_responses),
            g(&self.crashes),
            g(&self.delayed_reads)
        )
    }
}

/// The shared state of the fault layer.
#[derive(Debug, Default)]
pub struct Faults {
    config: Mutex<FaultConfig>,
    inflight: Mutex<HashMap<String, usize>>,
    pub counts: FaultCounts,
}

impl Faults {
    pub fn set(&self, config: FaultConfig) {
        *self.config.lock().unwrap() = config;
    }

    fn config(&self) -> FaultConfig {
        self.config.lock().unwrap().clone()
    }
}

/// A response held by the fault layer until the test releases it (see [`Invocation::hold`]).
#[derive(Debug, Default)]
pub struct Hold {
    /// The operation of the held request (`Query`, `BatchGetItem`, ...), once it is sent.
    operation: std::sync::OnceLock<String>,
    served: tokio::sync::Notify,
    is_served: AtomicBool,
    release: tokio::sync::Notify,
    is_released: AtomicBool,
}

impl Hold {
    /// The operation of the held request (`None` until it is sent): a test names the read it
    /// means to hold, so that a change in the order of requests fails it rather than hold another.
    pub fn operation(&self) -> Option<&str> {
        self.operation.get().map(String::as_str)
    }

    /// Waits until DynamoDB has served the held request (its response is held from then on).
    pub async fn served(&self) {
        loop {
            let notified = self.served.notified();
            if self.is_served.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }

    /// Lets the held response through.
    pub fn release(&self) {
        self.is_released.store(true, Ordering::SeqCst);
        self.release.notify_waiters();
    }

    async fn hold(&self) {
        self.is_served.store(true, Ordering::SeqCst);
        self.served.notify_waiters();
        loop {
            let notified = self.release.notified();
            if self.is_released.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

/// One invocation's plan and state: a crash point, a point from which every transaction
/// conflicts, and a response to hold, all counted in DynamoDB requests of this invocation.
#[derive(Debug, Default)]
pub struct Invocation {
    hold: Option<(usize, Arc<Hold>)>,
    crash_before: Option<usize>,
    conflicts_from: Option<usize>,
    conflicts_until: Option<usize>,
    requests: AtomicUsize,
    in_flight: AtomicUsize,
    round_trips: AtomicUsize,
    crashed: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Invocation {
    /// Crashes just before the invocation's `n`-th DynamoDB request (0-based).
    pub fn crash_before(n: usize) -> Self {
        Invocation {
            crash_before: Some(n),
            ..Default::default()
        }
    }

    /// Every write from the invocation's `n`-th request on conflicts: a transaction is cancelled
    /// (`TransactionConflict`), a single-item write rejected (`TransactionConflictException`, as
    /// when a transaction holds its item).
    pub fn conflicts_from(n: usize) -> Self {
        Invocation {
            conflicts_from: Some(n),
            ..Default::default()
        }
    }

    /// The writes among the invocation's requests `from..until` conflict, later ones do not.
    pub fn conflicts_between(from: usize, until: usize) -> Self {
        Invocation {
            conflicts_from: Some(from),
            conflicts_until: Some(until),
            ..Default::default()
        }
    }

    /// Holds the response of the invocation's `n`-th DynamoDB request (0-based) after DynamoDB
    /// served it, until the returned [`Hold`] is released: what the test writes meanwhile is not
    /// in it.
    pub fn hold(n: usize) -> (Self, Arc<Hold>) {
        let hold = Arc::new(Hold::default());
        let plan = Invocation {
            hold: Some((n, hold.clone())),
            ..Default::default()
        };
        (plan, hold)
    }

    /// DynamoDB requests the invocation sent (work it left in the background is not its own).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Sequential round trips: requests sent while none of the invocation's was in flight (those
    /// sent together count once).
    pub fn round_trips(&self) -> usize {
        self.round_trips.load(Ordering::SeqCst)
    }

    fn crash(&self) {
        self.crashed.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }
}

tokio::task_local! {
    static INVOCATION: Arc<Invocation>;
}

/// The result of an invocation run by [`invoke`].
#[derive(Debug)]
pub enum Outcome<T> {
    Done(T),
    /// The invocation died before sending a request; whatever it had written stays written.
    Crashed,
}

/// Runs `fut` as one invocation under `plan`: if the fault layer crashes it, the future is dropped
/// where it stands (no further request is sent, no response produced).
pub async fn invoke_with<F: Future>(plan: Invocation, fut: F) -> Outcome<F::Output> {
    invoke_in(Arc::new(plan), fut).await
}

/// [`invoke_with`] on a plan the caller keeps, to read what the invocation sent afterwards.
pub async fn invoke_in<F: Future>(slot: Arc<Invocation>, fut: F) -> Outcome<F::Output> {
    let scoped = INVOCATION.scope(slot.clone(), fut);
    tokio::select! {
        biased;
        _ = slot.notify.notified() => Outcome::Crashed,
        r = scoped => if slot.crashed.load(Ordering::SeqCst) { Outcome::Crashed } else { Outcome::Done(r) },
    }
}

/// Runs `fut` as one invocation that crashes only at the configured random rate.
pub async fn invoke<F: Future>(fut: F) -> Outcome<F::Output> {
    invoke_with(Invocation::default(), fut).await
}

/// An SDK HTTP client that injects faults in front of the real one.
#[derive(Debug, Clone)]
pub struct FaultyHttpClient {
    inner: SharedHttpClient,
    faults: Arc<Faults>,
}

impl FaultyHttpClient {
    pub fn new(faults: Arc<Faults>) -> Self {
        FaultyHttpClient {
            inner: aws_smithy_http_client::Builder::new().build_http(),
            faults,
        }
    }
}

impl HttpClient for FaultyHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(FaultyConnector {
            inner: self.inner.http_connector(settings, components),
            faults: self.faults.clone(),
        })
    }
}

#[derive(Debug)]
struct FaultyConnector {
    inner: SharedHttpConnector,
    faults: Arc<Faults>,
}

fn roll(rate: f64) -> bool {
    rate > 0.0 && fastrand::f64() < rate
}

fn error_response(status: u16, body: Value) -> HttpResponse {
    let mut resp = HttpResponse::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(body.to_string()),
    );
    resp.headers_mut()
        .insert("content-type", "application/x-amz-json-1.0");
    resp
}

fn dynamo_type(name: &str) -> String {
    format!("com.amazonaws.dynamodb.v20120810#{name}")
}

fn key_string(table: &str, key: &Value) -> String {
    format!("{table}|{}|{}", key["pk"], key["sk"])
}

/// The item keys a write request touches, in item order.
fn written_keys(operation: &str, body: &Value) -> Vec<String> {
    match operation {
        "TransactWriteItems" => body["TransactItems"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| {
                        let (kind, op) = item.as_object()?.iter().next()?;
                        let key = if kind == "Put" {
                            &op["Item"]
                        } else {
                            &op["Key"]
                        };
                        Some(key_string(
                            op["TableName"].as_str().unwrap_or_default(),
                            key,
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        "PutItem" => vec![key_string(
            body["TableName"].as_str().unwrap_or_default(),
            &body["Item"],
        )],
        "UpdateItem" | "DeleteItem" => vec![key_string(
            body["TableName"].as_str().unwrap_or_default(),
            &body["Key"],
        )],
        _ => Vec::new(),
    }
}

fn cancellation(conflicting: &[bool]) -> HttpResponse {
    let reasons: Vec<Value> = conflicting
        .iter()
        .map(|c| {
            if *c {
                json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"})
            } else {
                json!({"Code": "None"})
            }
        })
        .collect();
    error_response(
        400,
        json!({
            "__type": dynamo_type("TransactionCanceledException"),
            "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
            "CancellationReasons": reasons,
        }),
    )
}

/// Counts a request of an invocation out of flight when its response arrives (or it is dropped).
struct InFlight(Option<Arc<Invocation>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(inv) = &self.0 {
            inv.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Removes a transaction's keys from the in-flight set when it completes (or is dropped).
struct InflightGuard {
    faults: Arc<Faults>,
    keys: Vec<String>,
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        let mut inflight = self.faults.inflight.lock().unwrap();
        for k in &self.keys {
            if let Some(n) = inflight.get_mut(k) {
                *n -= 1;
                if *n == 0 {
                    inflight.remove(k);
                }
            }
        }
    }
}

impl HttpConnector for FaultyConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let faults = self.faults.clone();
        let config = faults.config();
        faults.counts.requests.fetch_add(1, Ordering::Relaxed);
        let (operation, body) = crate::dynamodb_request(&request);

        // Crashes: the invocation dies before this request leaves.
        let invocation = INVOCATION.try_with(Arc::clone).ok();
        let mut forced_conflict = false;
        let mut held = None;
        let n = invocation.as_ref().map(|inv| {
            if inv.in_flight.fetch_add(1, Ordering::SeqCst) == 0 {
                inv.round_trips.fetch_add(1, Ordering::SeqCst);
            }
            inv.requests.fetch_add(1, Ordering::SeqCst)
        });
        // Out of flight when this request's answer (or injected failure) is back.
        let in_flight = InFlight(invocation.clone());
        if let (Some(inv), Some(n)) = (&invocation, n) {
            held = inv
                .hold
                .as_ref()
                .filter(|(at, _)| *at == n)
                .map(|(_, h)| h.clone());
            if let Some(h) = &held {
                let _ = h.operation.set(operation.clone());
            }
            if inv.crash_before == Some(n) || roll(config.crash) {
                faults.counts.crashes.fetch_add(1, Ordering::Relaxed);
                inv.crash();
                return HttpConnectorFuture::new(std::future::pending());
            }
            forced_conflict = inv.conflicts_from.is_some_and(|from| n >= from)
                && inv.conflicts_until.is_none_or(|until| n < until);
        }
        if config.black_hole {
            return HttpConnectorFuture::new(std::future::pending());
        }
        if roll(config.throttle) {
            faults.counts.throttles.fetch_add(1, Ordering::Relaxed);
            let kind = if fastrand::bool() {
                "ProvisionedThroughputExceededException"
            } else {
                "ThrottlingException"
            };
            return HttpConnectorFuture::ready(Ok(error_response(
                400,
                json!({"__type": dynamo_type(kind), "message": "injected"}),
            )));
        }
        if roll(config.server_error) {
            faults.counts.server_errors.fetch_add(1, Ordering::Relaxed);
            return HttpConnectorFuture::ready(Ok(error_response(
                500,
                json!({"__type": dynamo_type("InternalServerError"), "message": "injected"}),
            )));
        }

        let keys = written_keys(&operation, &body);
        let mut guard = None;
        if forced_conflict && operation != "TransactWriteItems" && !keys.is_empty() {
            // A single-item write meeting a transaction that holds its item.
            faults.counts.conflicts.fetch_add(1, Ordering::Relaxed);
            return HttpConnectorFuture::ready(Ok(error_response(
                400,
                json!({"__type": dynamo_type("TransactionConflictException"), "message": "Transaction is ongoing for the item"}),
            )));
        }
        if operation == "TransactWriteItems" && (forced_conflict || roll(config.conflict)) {
            faults.counts.conflicts.fetch_add(1, Ordering::Relaxed);
            let hit = fastrand::usize(0..keys.len().max(1));
            let conflicting: Vec<bool> = (0..keys.len()).map(|i| i == hit).collect();
            return HttpConnectorFuture::ready(Ok(cancellation(&conflicting)));
        }
        if config.overlap_conflicts && !keys.is_empty() {
            let mut inflight = faults.inflight.lock().unwrap();
            let conflicting: Vec<bool> = keys.iter().map(|k| inflight.contains_key(k)).collect();
            if conflicting.iter().any(|c| *c) {
                drop(inflight);
                faults
                    .counts
                    .overlap_conflicts
                    .fetch_add(1, Ordering::Relaxed);
                let resp = if operation == "TransactWriteItems" {
                    cancellation(&conflicting)
                } else {
                    error_response(
                        400,
                        json!({"__type": dynamo_type("TransactionConflictException"), "message": "Transaction is ongoing for the item"}),
                    )
                };
                return HttpConnectorFuture::ready(Ok(resp));
            }
            if operation == "TransactWriteItems" {
                for k in &keys {
                    *inflight.entry(k.clone()).or_default() += 1;
                }
                guard = Some(InflightGuard {
                    faults: faults.clone(),
                    keys,
                });
            }
        }

        let lose = roll(config.lost_response);
        let is_read = matches!(
            operation.as_str(),
            "GetItem" | "BatchGetItem" | "Query" | "Scan" | "TransactGetItems"
        );
        let delay = (is_read && roll(config.delayed_reads)).then(|| {
            faults.counts.delayed_reads.fetch_add(1, Ordering::Relaxed);
            std::time::Duration::from_millis(fastrand::u64(1..=30))
        });
        let inner = self.inner.call(request);
        let latency = config.latency;
        HttpConnectorFuture::new(async move {
            let result = match latency {
                Some(rtt) => tokio::join!(inner, tokio::time::sleep(rtt)).0,
                None => inner.await,
            };
            drop(in_flight);
            drop(guard);
            if let Some(hold) = held {
                hold.hold().await;
            }
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            if lose && result.is_ok() {
                faults.counts.lost_responses.fetch_add(1, Ordering::Relaxed);
                return Err(ConnectorError::timeout(
                    "injected: response lost after the request was processed".into(),
                ));
            }
            result
        })
    }
}
