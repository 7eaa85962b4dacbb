//! Every function binary, as built, run under a Lambda Runtime API emulator against DynamoDB Local
//! and invoked with the event files in `events/`: the real runtime protocol, no Docker.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use backorder_tests::eventbridge::EventBridge;
use backorder_tests::runtime_api::{Invocation, RuntimeApi};
use backorder_tests::{endpoint, TestApp};
use serde_json::{json, Value};

struct Function {
    api: RuntimeApi,
    child: Child,
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/debug")
        .join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace` (make test does)",
        path.display()
    );
    path
}

async fn spawn(name: &str, table: &str) -> Function {
    let api = RuntimeApi::start().await;
    let child = Command::new(binary(name))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_ENDPOINT_URL_DYNAMODB", endpoint())
        .env("TABLE_NAME", table)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    Function { api, child }
}

fn event(name: &str, rid: Option<&str>) -> Value {
    let path = format!("{}/../events/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&rid.map_or(text.clone(), |r| text.replace("REPLENISHMENT_ID", r)))
        .unwrap()
}

/// An HTTP API response: (status, JSON body).
fn http(outcome: Invocation) -> (u16, Value) {
    let Invocation::Response(resp) = outcome else {
        panic!("expected a response, got {outcome:?}")
    };
    assert_eq!(
        resp["headers"]["content-type"], "application/json",
        "{resp}"
    );
    let body = serde_json::from_str(resp["body"].as_str().expect("a text body")).unwrap();
    (resp["statusCode"].as_u64().unwrap() as u16, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_binary_speaks_the_runtime_protocol() {
    let app = TestApp::new().await;
    let settings = spawn("settings", &app.table).await;
    let inventory = spawn("inventory", &app.table).await;
    let sales = spawn("sale-finalize", &app.table).await;
    let reads = spawn("replenishments", &app.table).await;
    let close = spawn("replenishment-close", &app.table).await;
    let ok = |(status, body): (u16, Value)| {
        assert_eq!(status, 200, "{body}");
        body
    };

    assert_eq!(
        ok(http(
            settings
                .api
                .invoke(event("settings/put-settings", None))
                .await
        )),
        json!({"auto_backorder": true})
    );
    assert_eq!(
        ok(http(
            settings
                .api
                .invoke(event("settings/get-settings", None))
                .await
        )),
        json!({"auto_backorder": true})
    );
    ok(http(
        settings
            .api
            .invoke(event("settings/put-vendor-settings", None))
            .await,
    ));
    ok(http(
        settings
            .api
            .invoke(event("settings/get-vendor-settings", None))
            .await,
    ));
    let sku = ok(http(
        settings
            .api
            .invoke(event("settings/put-sku-settings", None))
            .await,
    ));
    assert_eq!(sku["effective_auto_backorder"], true);
    assert_eq!(
        ok(http(
            settings
                .api
                .invoke(event("settings/get-sku-settings", None))
                .await
        )),
        sku
    );

    assert_eq!(
        ok(http(
            inventory
                .api
                .invoke(event("inventory/put-inventory", None))
                .await
        ))["on_hand"],
        2
    );
    assert_eq!(
        ok(http(
            inventory
                .api
                .invoke(event("inventory/post-adjustment", None))
                .await
        ))["on_hand"],
        1
    );
    assert_eq!(
        ok(http(
            inventory
                .api
                .invoke(event("inventory/get-inventory", None))
                .await
        ))["on_hand"],
        1
    );

    let sale = ok(http(
        sales
            .api
            .invoke(event("sale-finalize/post-finalize", None))
            .await,
    ));
    assert_eq!(
        (
            sale["lines"][0]["on_hand_after"].as_i64(),
            sale["lines"][0]["backordered"].as_i64()
        ),
        (Some(-3), Some(3))
    );
    let rid = sale["lines"][0]["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        ok(http(
            sales
                .api
                .invoke(event("sale-finalize/post-finalize", None))
                .await
        )),
        sale,
        "a redelivery replays"
    );
    assert_eq!(
        ok(http(
            sales
                .api
                .invoke(event("sale-finalize/get-sale", None))
                .await
        )),
        sale
    );

    let list = ok(http(
        reads
            .api
            .invoke(event("replenishments/list-replenishments", None))
            .await,
    ));
    assert_eq!(list["items"][0]["replenishment_id"], json!(rid));
    assert_eq!(
        ok(http(
            reads
                .api
                .invoke(event("replenishments/get-replenishment", Some(&rid)))
                .await
        ))["quantity"],
        3
    );

    let closed = ok(http(
        close
            .api
            .invoke(event("replenishment-close/post-close", Some(&rid)))
            .await,
    ));
    assert_eq!(closed["status"], "closed");
    match close
        .api
        .invoke(event("replenishment-close/direct", Some(&rid)))
        .await
    {
        Invocation::Response(v) => assert_eq!(v, closed),
        other => panic!("{other:?}"),
    }
    // Errors of a direct invocation reach the runtime as a Diagnostic with a meaningful type.
    match close
        .api
        .invoke(event("replenishment-close/direct", Some("NOPE")))
        .await
    {
        Invocation::Error {
            error_type,
            error_message,
        } => {
            assert_eq!(error_type, "NotFound");
            assert!(error_message.contains("NOPE"));
        }
        other => panic!("{other:?}"),
    }
    match close.api.invoke(json!({"replenishment_id": 5})).await {
        Invocation::Error { error_type, .. } => assert_eq!(error_type, "InvalidInput"),
        other => panic!("{other:?}"),
    }
    // The scheduled event: a new shortfall's order gets closed.
    let again = app.finalize("acct-events", "S-2", &[("CHAIR-1", 1)]).await;
    assert!(again.body["lines"][0]["replenishment_id"].is_string());
    match close
        .api
        .invoke(event("replenishment-close/scheduled", None))
        .await
    {
        Invocation::Response(v) => assert_eq!(v, json!({"closed": 1, "remaining": 0})),
        other => panic!("{other:?}"),
    }
    // sale-finalize takes SQS batches too: only the invalid message is reported failed.
    match sales
        .api
        .invoke(event("sale-finalize/sqs-batch", None))
        .await
    {
        Invocation::Response(v) => assert_eq!(
            v,
            json!({"batchItemFailures": [{"itemIdentifier": "00000000-0000-4000-8000-000000000002"}]})
        ),
        other => panic!("{other:?}"),
    }
    match sales.api.invoke(json!({"hello": "world"})).await {
        Invocation::Error { error_type, .. } => assert_eq!(error_type, "InvalidInput"),
        other => panic!("{other:?}"),
    }
    let cancelled = ok(http(
        sales
            .api
            .invoke(event("sale-finalize/post-cancel", None))
            .await,
    ));
    assert_eq!(cancelled["status"], "cancelled");
    let (status, regular) = http(
        reads
            .api
            .invoke(event("replenishments/post-replenishment", None))
            .await,
    );
    assert_eq!((status, &regular["tags"]), (201, &json!([])));
    // An HTTP request without the claim: 401 through the real binary too.
    let mut no_claim = event("settings/get-settings", None);
    no_claim["requestContext"]["authorizer"] = json!({});
    assert_eq!(http(settings.api.invoke(no_claim).await).0, 401);
    for f in [&settings, &inventory, &sales, &reads, &close] {
        assert_eq!(f.api.init_error(), None);
    }
}

/// The order-events binary with EventBridge pointed at the recorder: a stream batch publishes its
/// transitions, a refused entry is reported as a batch item failure, a non-stream event is an
/// `InvalidInput` error. No DynamoDB: it only reads the events it is given.
#[tokio::test(flavor = "multi_thread")]
async fn order_events_binary_speaks_the_runtime_protocol() {
    // Its table (the batch's orders are not in it: nothing to release).
    let app = TestApp::new().await;
    let bus = EventBridge::start().await;
    let api = RuntimeApi::start().await;
    let child = Command::new(binary("order-events"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "order-events")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_ENDPOINT_URL_EVENTBRIDGE", bus.endpoint())
        .env("AWS_ENDPOINT_URL_DYNAMODB", endpoint())
        .env("TABLE_NAME", &app.table)
        .env("EVENT_BUS_NAME", "orders-bus")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let function = Function { api, child };
    let batch = event("order-events/batch", None);
    match function.api.invoke(batch.clone()).await {
        Invocation::Response(v) => assert_eq!(v, json!({"batchItemFailures": []})),
        other => panic!("{other:?}"),
    }
    let published: Vec<(String, String)> = bus
        .accepted()
        .iter()
        .map(|e| (e.detail_type.clone(), e.event_bus_name.clone()))
        .collect();
    assert_eq!(
        published,
        [
            "ReplenishmentOpened",
            "ReplenishmentClosed",
            "ReplenishmentReceived"
        ]
        .map(|t| (t.to_owned(), "orders-bus".to_owned()))
    );
    // The close's entry refused every time: its record is the one to retry from.
    bus.refuse(|e| e.detail_type == "ReplenishmentClosed");
    let closed_seq = event("order-events/modify-closed", None)["Records"][0]["dynamodb"]
        ["SequenceNumber"]
        .clone();
    match function.api.invoke(batch).await {
        Invocation::Response(v) => assert_eq!(
            v,
            json!({"batchItemFailures": [{"itemIdentifier": closed_seq}]})
        ),
        other => panic!("{other:?}"),
    }
    match function.api.invoke(json!({"ping": 1})).await {
        Invocation::Error { error_type, .. } => assert_eq!(error_type, "InvalidInput"),
        other => panic!("{other:?}"),
    }
    assert_eq!(function.api.init_error(), None);

    // Without EVENT_BUS_NAME it does not start, and says why.
    let api = RuntimeApi::start().await;
    let out = Command::new(binary("order-events"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_REGION", "us-east-1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("EVENT_BUS_NAME"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A function started without its configuration reports an init error naming the variable.
#[tokio::test(flavor = "multi_thread")]
async fn missing_configuration_is_named() {
    let api = RuntimeApi::start().await;
    let status = Command::new(binary("settings"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_REGION", "us-east-1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!status.status.success());
    assert!(
        String::from_utf8_lossy(&status.stderr).contains("TABLE_NAME"),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
}
