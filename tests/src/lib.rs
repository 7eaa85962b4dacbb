//! Test support: a fresh DynamoDB Local table per test (created from `template.yaml`), a client
//! that counts DynamoDB requests, and calls through the same API Gateway routing as the local
//! server. Run through `make test`, which starts DynamoDB Local.

pub mod eventbridge;
pub mod faults;
pub mod loopback;
pub mod runtime_api;
pub mod stream;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use backorder::Store;
use backorder_local::router::{body_text, dispatch, RawRequest};
use serde_json::Value;

/// The sale lease of the tests' store: shorter than a function's (10 s), so that a crashed
/// caller's redelivery takes over within seconds, and long enough for a debug build on a loaded
/// machine to apply a sale in one go.
pub const TEST_SALE_LEASE: std::time::Duration = std::time::Duration::from_secs(2);
/// The sale lease under injected faults: shorter still, so that the many crashed callers of the
/// invariant runs are taken over quickly (a caller too slow for it answers 503 and is redelivered).
pub const FAULTY_SALE_LEASE: std::time::Duration = std::time::Duration::from_secs(1);

/// A DynamoDB request's operation (`x-amz-target`'s last part) and its JSON body (`Null` if none).
pub fn dynamodb_request(
    request: &aws_smithy_runtime_api::client::orchestrator::HttpRequest,
) -> (String, Value) {
    let operation = request
        .headers()
        .get("x-amz-target")
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or_default()
        .to_owned();
    let body = request
        .body()
        .bytes()
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or(Value::Null);
    (operation, body)
}

/// The IAM permissions the requests sent needed: `(action, index)` pairs, the action as IAM
/// names it (`dynamodb:PutItem` for each `Put` of a transaction, ...) and the index a query read,
/// if any. Read from each request's body as it is sent.
#[derive(Debug, Clone, Default)]
pub struct PermissionRecorder {
    seen: Arc<Mutex<Permissions>>,
}

/// `(IAM action, index)` pairs.
pub type Permissions = std::collections::BTreeSet<(String, Option<String>)>;

impl PermissionRecorder {
    /// What was needed since the last call, and start over.
    pub fn take(&self) -> Permissions {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

impl Intercept for PermissionRecorder {
    fn name(&self) -> &'static str {
        "PermissionRecorder"
    }

    fn read_before_transmit(
        &self,
        ctx: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (operation, body) = dynamodb_request(ctx.request());
        let mut seen = self.seen.lock().unwrap();
        if operation == "TransactWriteItems" {
            // Authorized per item, by the action each item performs.
            for item in body["TransactItems"].as_array().into_iter().flatten() {
                for kind in item.as_object().into_iter().flat_map(|o| o.keys()) {
                    let action = match kind.as_str() {
                        "ConditionCheck" => "ConditionCheckItem".to_owned(),
                        other => format!("{other}Item"),
                    };
                    seen.insert((format!("dynamodb:{action}"), None));
                }
            }
        } else {
            let index = body["IndexName"].as_str().map(str::to_owned);
            seen.insert((format!("dynamodb:{operation}"), index));
        }
        Ok(())
    }
}

/// Counts DynamoDB operations (not attempts) by name.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    counts: Arc<Mutex<HashMap<String, usize>>>,
}

impl RequestCounter {
    pub fn reset(&self) {
        self.counts.lock().unwrap().clear();
    }

    pub fn total(&self) -> usize {
        self.counts.lock().unwrap().values().sum()
    }

    pub fn by_operation(&self) -> BTreeMap<String, usize> {
        self.counts
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    /// Called once per operation (not per attempt), once the operation's metadata is configured.
    fn read_before_serialization(
        &self,
        _ctx: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg
            .load::<Metadata>()
            .map_or("unknown", Metadata::name)
            .to_owned();
        *self.counts.lock().unwrap().entry(name).or_default() += 1;
        Ok(())
    }
}

/// The DynamoDB Local endpoint `make test` provides.
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .ok()
        .filter(|v| !v.is_empty())
        .expect("AWS_ENDPOINT_URL_DYNAMODB is not set: run the tests with `make test`, which starts DynamoDB Local")
}

/// A fresh table and a store on it.
pub struct TestApp {
    pub store: Store,
    pub client: Client,
    pub table: String,
    pub requests: RequestCounter,
    pub permissions: PermissionRecorder,
    _watchdog: Watchdog,
}

/// Ends the test process if the test that made it is still running after its time limit
/// (`TEST_TIME_LIMIT_SECS`, default 600): a test that loses its way (a lock never released, a
/// retry loop that never ends) fails, naming itself, instead of hanging the run.
struct Watchdog {
    done: std::sync::mpsc::Sender<()>,
}

impl Watchdog {
    fn start() -> Self {
        let limit = std::env::var("TEST_TIME_LIMIT_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(600);
        let test = std::thread::current().name().unwrap_or("a test").to_owned();
        let (done, finished) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                finished.recv_timeout(std::time::Duration::from_secs(limit))
            {
                eprintln!("{test} did not finish within {limit} s (TEST_TIME_LIMIT_SECS): failing");
                std::process::exit(101);
            }
        });
        Watchdog { done }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let _ = self.done.send(());
    }
}

/// A response: status and JSON body (`Value::Null` for an empty body).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    /// The error code of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl TestApp {
    pub async fn new() -> Self {
        // Errors the handlers log show up in a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| {
                // The SDK complains when the fault layer answers without a connection: expected.
                "error,aws_smithy_runtime::client::http::connection_poisoning=off".to_owned()
            }))
            .try_init();
        let requests = RequestCounter::default();
        let permissions = PermissionRecorder::default();
        let config = backorder_local::client::local_config(&endpoint())
            .interceptor(requests.clone())
            .interceptor(permissions.clone())
            .build();
        let client = Client::from_conf(config);
        let table = format!("t-{}", ulid::Ulid::new().to_string().to_lowercase());
        backorder_local::table::create_table(&client, &table)
            .await
            .expect("create the test table");
        TestApp {
            store: Store::new(client.clone(), table.clone())
                .with_sale_lease(TEST_SALE_LEASE)
                .with_shops_table(backorder_local::table::shops_table_name(&table)),
            client,
            table,
            requests,
            permissions,
            _watchdog: Watchdog::start(),
        }
    }

    /// A fresh table whose store talks to DynamoDB Local through the fault layer (no faults until
    /// `faults.set(...)`). `client` (used by snapshots and checkers) stays fault-free.
    pub async fn with_faults() -> (Self, Arc<faults::Faults>) {
        let mut app = Self::new().await;
        let faults = Arc::new(faults::Faults::default());
        let config = backorder_local::client::local_config(&endpoint())
            .interceptor(app.requests.clone())
            .interceptor(app.permissions.clone())
            .http_client(faults::FaultyHttpClient::new(faults.clone()))
            .build();
        app.store = Store::new(Client::from_conf(config), app.table.clone())
            .with_sale_lease(FAULTY_SALE_LEASE)
            .with_shops_table(backorder_local::table::shops_table_name(&app.table));
        (app, faults)
    }

    /// A request through API Gateway routing, as `account` (the `X-Account-Id` of the local server).
    pub async fn call(
        &self,
        account: &str,
        method: &str,
        target: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut req = RawRequest::new(method, target).header("x-account-id", account);
        if let Some(body) = body {
            req = req.json(&body);
        }
        self.send(req).await
    }

    pub async fn send(&self, req: RawRequest) -> Reply {
        // Waits for the work the call left in the background, so the table is settled after it.
        let resp = backorder::background::scope(dispatch(&self.store, &req)).await;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let text = body_text(resp.body());
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("responses are JSON")
        };
        Reply {
            status,
            body,
            headers,
        }
    }

    /// Shorthand for a call that must succeed.
    pub async fn ok(
        &self,
        account: &str,
        method: &str,
        target: &str,
        body: Option<Value>,
    ) -> Value {
        let reply = self.call(account, method, target, body).await;
        assert_eq!(reply.status, 200, "{method} {target}: {}", reply.body);
        reply.body
    }

    /// Every item in the table, sorted: compare before and after to prove nothing changed.
    pub async fn snapshot(&self) -> Vec<BTreeMap<String, String>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan");
            for item in out.items() {
                items.push(
                    item.iter()
                        .map(|(k, v)| (k.clone(), format!("{v:?}")))
                        .collect::<BTreeMap<_, _>>(),
                );
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        items.sort();
        items
    }

    /// Raw items of one kind (by sort key prefix), for invariant checks.
    pub async fn items_with_prefix(&self, prefix: &str) -> Vec<HashMap<String, AttributeValue>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .filter_expression("begins_with(sk, :p)")
                .expression_attribute_values(":p", AttributeValue::S(prefix.to_owned()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan");
            items.extend(out.items().iter().cloned());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        items
    }

    /// The names of the line markers on a SKU's item (`~`, `^`), sorted.
    pub async fn marker_names(&self, account: &str, sku: &str) -> Vec<String> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(root_key(account, &format!("SKU#{sku}"))))
            .consistent_read(true)
            .send()
            .await
            .expect("get the SKU")
            .item
            .expect("the SKU exists");
        let mut names: Vec<String> = item
            .into_keys()
            .filter(|k| k.starts_with(['~', '^']))
            .collect();
        names.sort();
        names
    }

    /// Checks one consistent snapshot (`TransactGetItems`) of a SKU and its orders (those a scan
    /// found, plus the one the SKU points at; taken again when that one is new):
    /// - an order its SKU points at is open, or has no item yet while the sale that opened it is
    ///   still applying (a marker of that sale names it);
    /// - an open order its SKU does not point at is mid-close, and its SKU still holds its
    ///   quantity (`cq#{rid}`): one open order per SKU, whatever a close's crash left behind.
    ///
    /// `Ok(false)` when the SKU moved on at every try (no snapshot this time).
    pub async fn check_sku_orders(&self, account: &str, sku: &str) -> Result<bool, String> {
        let s = |item: &HashMap<String, AttributeValue>, k: &str| -> Option<String> {
            item.get(k).and_then(|v| v.as_s().ok()).cloned()
        };
        let mut rids: Vec<String> = self
            .items_with_prefix("ORDER#")
            .await
            .into_iter()
            .filter(|o| s(o, "sku").as_deref() == Some(sku))
            .filter(|o| s(o, "status").as_deref() == Some("open"))
            .filter_map(|o| s(&o, "rid"))
            .collect();
        for attempt in 0..20 {
            let mut req = self.client.transact_get_items();
            let keys = std::iter::once(root_key(account, &format!("SKU#{sku}"))).chain(
                rids.iter()
                    .map(|r| root_key(account, &format!("ORDER#{r}"))),
            );
            for k in keys.take(100) {
                req = req.transact_items(
                    aws_sdk_dynamodb::types::TransactGetItem::builder()
                        .get(
                            aws_sdk_dynamodb::types::Get::builder()
                                .table_name(&self.table)
                                .set_key(Some(k))
                                .build()
                                .unwrap(),
                        )
                        .build(),
                );
            }
            // A read the checker could not make (DynamoDB Local past the 2 s attempt timeout on a
            // loaded machine) is no finding: read again, and report it only if it never answers.
            let out = match req.send().await {
                Ok(out) => out,
                Err(_) if attempt < 19 => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
                Err(e) => return Err(format!("{sku}: the check's read never answered: {e:?}")),
            };
            let responses = out.responses();
            let empty = HashMap::new();
            let sku_item = responses[0].item().unwrap_or(&empty);
            let pointer = s(sku_item, "open_rid");
            if let Some(p) = &pointer {
                if !rids.contains(p) {
                    rids.push(p.clone());
                    continue;
                }
            }
            let orders: HashMap<String, &HashMap<String, AttributeValue>> = responses[1..]
                .iter()
                .filter_map(|r| r.item())
                .filter_map(|i| Some((s(i, "rid")?, i)))
                .collect();
            if let Some(p) = &pointer {
                match orders.get(p) {
                    Some(o) if s(o, "status").as_deref() != Some("open") => {
                        return Err(format!("{sku}: points at {p}, which is closed"));
                    }
                    Some(_) => {}
                    None => {
                        // A marker whose place is above every close's version went into the
                        // open order.
                        let num = |v: &AttributeValue| v.as_n().ok()?.parse::<i64>().ok();
                        let last_close = sku_item
                            .iter()
                            .filter(|(k, _)| k.starts_with("cc#"))
                            .filter_map(|(_, v)| num(v))
                            .max();
                        let opening = sku_item.iter().any(|(k, v)| {
                            k.starts_with('^')
                                && num(v).is_some_and(|pos| last_close.is_none_or(|c| pos >= c))
                        });
                        if !opening {
                            return Err(format!(
                                "{sku}: points at {p}, which has no item and no sale applying into it"
                            ));
                        }
                    }
                }
            }
            for (rid, o) in &orders {
                let open = s(o, "status").as_deref() == Some("open");
                if open
                    && pointer.as_deref() != Some(rid.as_str())
                    && !sku_item.contains_key(&format!("cq#{rid}"))
                {
                    return Err(format!(
                        "{sku}: {rid} is open, its SKU points at {pointer:?} and keeps no quantity of it"
                    ));
                }
            }
            return Ok(true);
        }
        Ok(false)
    }

    // ---- setup shorthands ------------------------------------------------------------------

    /// Sets `vendor`'s `auto_backorder_default` through the API.
    pub async fn vendor_default(&self, account: &str, vendor: &str, on: bool) {
        self.ok(
            account,
            "PUT",
            &format!("/vendors/{}/settings", enc(vendor)),
            Some(serde_json::json!({ "auto_backorder_default": on })),
        )
        .await;
    }

    pub async fn enable_account(&self, account: &str, on: bool) {
        self.ok(
            account,
            "PUT",
            "/settings",
            Some(serde_json::json!({ "auto_backorder": on })),
        )
        .await;
    }

    pub async fn sku(
        &self,
        account: &str,
        sku: &str,
        policy: &str,
        vendor: Option<&str>,
        on_hand: i64,
    ) {
        self.ok(
            account,
            "PUT",
            &format!("/skus/{}/settings", enc(sku)),
            Some(serde_json::json!({ "auto_backorder": policy, "vendor_id": vendor })),
        )
        .await;
        self.ok(
            account,
            "PUT",
            &format!("/skus/{}/inventory", enc(sku)),
            Some(serde_json::json!({ "on_hand": on_hand })),
        )
        .await;
    }

    pub async fn finalize(&self, account: &str, sale_id: &str, lines: &[(&str, i64)]) -> Reply {
        let lines: Vec<Value> = lines
            .iter()
            .map(|(s, q)| serde_json::json!({"sku": s, "quantity": q}))
            .collect();
        self.call(
            account,
            "POST",
            &format!("/sales/{}/finalize", enc(sale_id)),
            Some(serde_json::json!({"customer": "c-1", "channel": "web", "lines": lines})),
        )
        .await
    }

    pub async fn on_hand(&self, account: &str, sku: &str) -> i64 {
        self.ok(
            account,
            "GET",
            &format!("/skus/{}/inventory", enc(sku)),
            None,
        )
        .await["on_hand"]
            .as_i64()
            .unwrap()
    }

    pub async fn orders(&self, account: &str, query: &str) -> Vec<Value> {
        let body = self
            .ok(account, "GET", &format!("/replenishments{query}"), None)
            .await;
        body["items"].as_array().cloned().unwrap_or_default()
    }
}

/// The marker names a sale's line leaves on its SKU item, sorted: 13 bytes each; a line that
/// back-orders also keeps its place in line.
pub fn sale_marker_names(sale: &str, backordered: bool) -> Vec<String> {
    let sale = backorder::ids::SaleId::parse(sale, "sale_id").unwrap();
    let key = backorder::store::layout::mark_key(&sale);
    assert_eq!(key.len(), 12);
    let mut names = vec![format!("~{key}")];
    if backordered {
        names.push(format!("^{key}"));
    }
    names.sort();
    names
}

/// Percent-encodes a path segment.
/// The key of an aggregate's root item (`sk` its root sort key: `SKU#..`, `ORDER#..`, `SALE#..`),
/// as the store lays it out.
pub fn root_key(account: &str, sk: &str) -> HashMap<String, AttributeValue> {
    let account = backorder::ids::AccountId::parse(account, "account_id").unwrap();
    HashMap::from([
        (
            "pk".to_owned(),
            AttributeValue::S(backorder::store::layout::partition(&account, sk)),
        ),
        ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

/// Runs `fut`, failing the test if it has not finished within `limit`: a concurrent test that
/// loses its way (a lock never released, a retry loop that never ends) fails instead of hanging.
pub async fn within<F: std::future::Future>(
    limit: std::time::Duration,
    what: &str,
    fut: F,
) -> F::Output {
    match tokio::time::timeout(limit, fut).await {
        Ok(out) => out,
        Err(_) => panic!("{what} did not finish within {limit:?}"),
    }
}

pub fn enc(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
