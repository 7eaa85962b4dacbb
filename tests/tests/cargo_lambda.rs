//! The function binaries under cargo-lambda's own emulator (`cargo lambda watch`, invoked with
//! `cargo lambda invoke`, as docs/local.md's "One function at a time" does), against DynamoDB Local.
//!
//! cargo-lambda sends `Lambda-Runtime-Deadline-Ms: 600000`, a deadline in 1970: the SQS batch and
//! the scheduled close must still behave as in Lambda (only the invalid message fails; the open
//! order is closed). cargo-lambda comes from PyPI into `.tools/venv-sam` (`make test` installs it
//! through `make validate`; `CARGO_LAMBDA` names another one).

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use backorder::telemetry::function_metrics;
use backorder_tests::{endpoint, TestApp};
use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn cargo_lambda() -> PathBuf {
    let path = std::env::var_os("CARGO_LAMBDA")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".tools/venv-sam/bin/cargo-lambda"));
    assert!(
        path.exists(),
        "{} is missing: `make test` installs it (pip install cargo-lambda into .tools/venv-sam)",
        path.display()
    );
    path
}

/// `cargo lambda watch`, in a process group of its own (it starts `cargo run` and the functions),
/// stopped with its group.
struct Watch {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Watch {
    fn drop(&mut self) {
        // The functions it started run in process groups of their own: stop them by id too.
        let pid = self.child.id();
        let mut targets = vec![format!("-{pid}")];
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for task in tasks.flatten() {
                let children = std::fs::read_to_string(task.path().join("children"));
                targets.extend(
                    children
                        .unwrap_or_default()
                        .split_whitespace()
                        .map(str::to_owned),
                );
            }
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg("--")
            .args(&targets)
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

impl Watch {
    fn start(table: &str, dir: &Path) -> Watch {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join("watch.log");
        let out = File::create(&log).unwrap();
        let env = [
            format!("TABLE_NAME={table}"),
            format!("SHOPS_TABLE_NAME={table}-shops"),
            // No queue locally: the webhook calls below are the ones that queue nothing.
            "SALES_QUEUE_URL=https://sqs.us-east-1.amazonaws.com/123456789012/none".to_owned(),
            format!("AWS_ENDPOINT_URL_DYNAMODB={}", endpoint()),
            "AWS_REGION=us-east-1".to_owned(),
            "AWS_ACCESS_KEY_ID=local".to_owned(),
            "AWS_SECRET_ACCESS_KEY=local".to_owned(),
            "RUST_LOG=info".to_owned(),
        ]
        .join(",");
        let child = Command::new(cargo_lambda())
            .current_dir(root())
            .args(["lambda", "watch", "--ignore-changes", "--quiet"])
            .args(["--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(port.to_string())
            .args(["--env-vars", &env])
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap();
        Watch { child, port, log }
    }

    /// `cargo lambda invoke <function> --data-file <file>` (the first invocation of a function
    /// waits for `cargo run` to build it). The reply, as JSON.
    fn invoke(&self, function: &str, data_file: &Path) -> Value {
        let started = Instant::now();
        loop {
            let out = Command::new(cargo_lambda())
                .current_dir(root())
                .args(["lambda", "invoke", "--invoke-address", "127.0.0.1"])
                .args(["--invoke-port", &self.port.to_string(), function])
                .args(["--output-format", "json", "--data-file"])
                .arg(data_file)
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            if out.status.success() {
                return serde_json::from_str(&stdout)
                    .unwrap_or_else(|e| panic!("{function}: {e}: {stdout}"));
            }
            // The emulator may not listen yet.
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                started.elapsed() < Duration::from_secs(900),
                "{function}: {stdout}{stderr}\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

fn event_file(dir: &Path, name: &str, rid: Option<&str>) -> PathBuf {
    let text = std::fs::read_to_string(root().join(format!("events/{name}.json"))).unwrap();
    let text = rid.map_or(text.clone(), |r| text.replace("REPLENISHMENT_ID", r));
    let path = dir.join(format!("{}.json", name.replace('/', "-")));
    std::fs::write(&path, text).unwrap();
    path
}

/// An API Gateway response's status and JSON body.
fn http(reply: Value) -> (u64, Value) {
    let body = serde_json::from_str(reply["body"].as_str().expect("a text body"))
        .unwrap_or_else(|e| panic!("{e}: {reply}"));
    (reply["statusCode"].as_u64().unwrap(), body)
}

fn ok(reply: Value) -> Value {
    let (status, body) = http(reply);
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn the_functions_behave_under_cargo_lambda_watch() {
    let app = TestApp::new().await;
    let dir = std::env::temp_dir().join(format!("cargo-lambda-{}", app.table));
    std::fs::create_dir_all(&dir).unwrap();
    let watch = Watch::start(&app.table, &dir);
    let call = |function: &str, event: &str, rid: Option<&str>| {
        watch.invoke(function, &event_file(&dir, event, rid))
    };

    // First, a harmless read per function: its first invocation waits for `cargo run` to build it,
    // and an invoke the CLI gave up on and sent again must not repeat a write.
    for (function, event, rid) in [
        ("settings", "settings/get-settings", None),
        ("inventory", "inventory/get-inventory", None),
        ("sale-finalize", "sale-finalize/get-sale", None),
        ("replenishments", "replenishments/list-replenishments", None),
        (
            "replenishment-close",
            "replenishments/get-replenishment",
            Some("NONE"),
        ),
    ] {
        let reply = call(function, event, rid);
        assert!(
            reply["statusCode"].as_u64().is_some(),
            "{function}: {reply}"
        );
    }

    // One HTTP event per function (and the setup the sale needs).
    assert_eq!(
        ok(call("settings", "settings/put-settings", None)),
        json!({"auto_backorder": true})
    );
    ok(call("settings", "settings/put-vendor-settings", None));
    let sku = ok(call("settings", "settings/put-sku-settings", None));
    assert_eq!(sku["effective_auto_backorder"], true);
    assert_eq!(
        ok(call("inventory", "inventory/put-inventory", None))["on_hand"],
        2
    );
    let sale = ok(call("sale-finalize", "sale-finalize/post-finalize", None));
    assert_eq!(sale["lines"][0]["backordered"], 2);
    let rid = sale["lines"][0]["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let order = ok(call(
        "replenishments",
        "replenishments/get-replenishment",
        Some(&rid),
    ));
    assert_eq!(
        (order["status"].as_str(), order["quantity"].as_i64()),
        (Some("open"), Some(2))
    );

    // The scheduled close closes the open order, though the emulator's deadline is in 1970.
    assert_eq!(
        call("replenishment-close", "replenishment-close/scheduled", None),
        json!({"closed": 1, "remaining": 0})
    );
    let order = ok(call(
        "replenishments",
        "replenishments/get-replenishment",
        Some(&rid),
    ));
    assert_eq!(order["status"], "closed");
    // Closing it again over HTTP answers it unchanged.
    assert_eq!(
        ok(call(
            "replenishment-close",
            "replenishment-close/post-close",
            Some(&rid)
        ))["status"],
        "closed"
    );

    // The SQS batch: the two valid sales are finalized, only the invalid message fails.
    assert_eq!(
        call("sale-finalize", "sale-finalize/sqs-batch", None),
        json!({"batchItemFailures": [{"itemIdentifier": "00000000-0000-4000-8000-000000000002"}]})
    );
    for sale_id in ["Q-1", "Q-3"] {
        let stored = app
            .ok("acct-events", "GET", &format!("/sales/{sale_id}"), None)
            .await;
        assert_eq!(stored["status"], "finalized", "{sale_id}: {stored}");
    }
    assert_eq!(
        app.call("acct-events", "GET", "/sales/Q-2", None)
            .await
            .status,
        404
    );
    // Stock counted 2, the sale took 4, the queued sales 2 and 1.
    assert_eq!(
        ok(call("inventory", "inventory/get-inventory", None))["on_hand"],
        2 - 4 - 2 - 1
    );

    // The channels function: a shop registered, shown without its secret, and a delivery of a
    // topic it does not take, verified and ignored (one it takes goes to SQS: see tests/shopify.rs).
    let shop = ok(call("channels", "channels/put-shop", None));
    assert_eq!(shop["webhook_secret_set"], true, "{shop}");
    let shown = ok(call("channels", "channels/get-shop", None));
    assert!(
        !shown.to_string().contains("example-webhook-secret"),
        "{shown}"
    );
    assert_eq!(
        ok(call("channels", "channels/post-webhook-other-topic", None))["status"],
        "ignored"
    );

    // Each function warned once about the header, and published only its own metrics.
    let log = std::fs::read_to_string(&watch.log).unwrap();
    let warnings = log
        .lines()
        .filter(|l| l.contains("Lambda-Runtime-Deadline-Ms") && l.contains("WARN"))
        .count();
    assert_eq!(
        warnings, 2,
        "sale-finalize and replenishment-close, once each:\n{log}"
    );
    let mut seen = std::collections::BTreeSet::new();
    for line in log.lines().filter(|l| l.starts_with(r#"{"_aws""#)) {
        let emf: Value = serde_json::from_str(line).unwrap();
        let function = emf["Function"].as_str().unwrap();
        let declared: Vec<&str> = emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        let own: Vec<&str> = function_metrics(function).iter().map(|m| m.name).collect();
        assert_eq!(declared, own, "{line}");
        seen.insert(function.to_owned());
    }
    assert_eq!(seen.len(), 6, "{seen:?}");
    drop(watch);
    let _ = std::fs::remove_dir_all(&dir);
}
