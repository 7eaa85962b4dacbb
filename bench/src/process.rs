//! Section 6, whole-process CPU per warm invocation, as Lambda bills it.
//!
//! The release binary is driven through the project's Runtime API emulator
//! (`tests/src/runtime_api.rs`) against DynamoDB Local, every thread of the process counted (the
//! runtime's, the SDK's, the handler's), beside a lambda_runtime hello-world fed the same events
//! and a bare `GetItem` function (`init-probe`, initialised like the functions).
//!
//! - CPU milliseconds: the process's threads' run time (`/proc/<pid>/task/*/schedstat`, in ns)
//!   over `ROUNDS` warm invocations after `WARMUP`, per invocation (median of `REPEATS` runs).
//! - Instructions: the process under `valgrind --tool=callgrind` (exact, repeatable on a noisy
//!   machine), per warm invocation: (Ir after `WARMUP + LONG` - Ir after `WARMUP + SHORT`) /
//!   (`LONG - SHORT`), so init and warm-up cancel out. Skipped if valgrind is missing.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use backorder::domain::BackorderPolicy;
use backorder::ids::{AccountId, Sku};
use backorder::Store;
use backorder_tests::runtime_api::{Invocation, RuntimeApi};
use serde_json::{json, Value};

const WARMUP: usize = 30;
const ROUNDS: usize = 300;
const REPEATS: usize = 3;
const CG_WARMUP: usize = 10;
const CG_SHORT: usize = 10;
const CG_LONG: usize = 40;

const ACCOUNT: &str = "proc";

fn release_binary(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/release")
        .join(name)
}

fn event_file(name: &str) -> Value {
    let path = format!("{}/../events/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// An API Gateway event for `path` (with its route and parameters), as `ACCOUNT`.
fn http_event(base: &str, method: &str, route: &str, sale_id: &str, body: Option<Value>) -> Value {
    let mut e = event_file(base);
    let path = route.replace("{sale_id}", sale_id);
    e["routeKey"] = json!(format!("{method} {route}"));
    e["rawPath"] = json!(path);
    e["requestContext"]["http"]["path"] = json!(path);
    e["requestContext"]["http"]["method"] = json!(method);
    e["requestContext"]["routeKey"] = json!(format!("{method} {route}"));
    e["requestContext"]["authorizer"]["jwt"]["claims"]["account_id"] = json!(ACCOUNT);
    e["pathParameters"] = json!({ "sale_id": sale_id });
    e["body"] = body.map_or(Value::Null, |b| json!(b.to_string()));
    e
}

fn finalize_event(count: usize, n: usize, tag: &str) -> Value {
    let lines: Vec<Value> = (0..count)
        .map(|i| json!({"sku": format!("P-{i}"), "quantity": 1}))
        .collect();
    http_event(
        "sale-finalize/post-finalize",
        "POST",
        "/sales/{sale_id}/finalize",
        &format!("P-{count}-{tag}-{n}"),
        Some(json!({"customer": "c-1", "channel": "web", "lines": lines})),
    )
}

fn get_sale_event() -> Value {
    http_event(
        "sale-finalize/get-sale",
        "GET",
        "/sales/{sale_id}",
        "P-seed",
        None,
    )
}

/// One case: a binary, its extra environment, and the n-th event it is sent.
struct Case {
    name: &'static str,
    binary: &'static str,
    env: &'static [(&'static str, &'static str)],
    event: fn(usize, &str) -> Value,
}

const PROBE_ENV: &[(&str, &str)] = &[("PROBE_ROOTS", "mozilla"), ("PROBE_CRYPTO", "ring")];

const CASES: [Case; 5] = [
    Case {
        name: "hello-world (lambda_runtime echo), 1-line sale events",
        binary: "hello-bootstrap",
        env: &[],
        event: |n, tag| finalize_event(1, n, tag),
    },
    Case {
        name: "bare GetItem (init-probe, the functions' client setup)",
        binary: "init-probe",
        env: PROBE_ENV,
        event: |_, _| json!({"ping": 1}),
    },
    Case {
        name: "sale-finalize: GET /sales/{sale_id} (one GetItem)",
        binary: "sale-finalize",
        env: &[],
        event: |_, _| get_sale_event(),
    },
    Case {
        name: "sale-finalize: 1-line sale",
        binary: "sale-finalize",
        env: &[],
        event: |n, tag| finalize_event(1, n, tag),
    },
    Case {
        name: "sale-finalize: 10-line sale",
        binary: "sale-finalize",
        env: &[],
        event: |n, tag| finalize_event(10, n, tag),
    },
];

async fn prepare(table: &str) {
    let client = backorder_local::client::local_client(&super::endpoint());
    let store = Store::new(client, table.to_owned());
    let account = AccountId::parse(ACCOUNT, "account").unwrap();
    let now = "2026-01-01T00:00:00.000Z";
    for i in 0..10 {
        let sku = Sku::parse(format!("P-{i}"), "sku").unwrap();
        store
            .upsert_sku_settings(
                &account,
                &sku,
                &backorder::store::SkuChange::policy(BackorderPolicy::Never),
                now,
            )
            .await
            .unwrap();
        store
            .set_on_hand(&account, &sku, 1_000_000_000, now)
            .await
            .unwrap();
    }
}

fn spawn(
    case: &Case,
    api: &RuntimeApi,
    table: &str,
    valgrind_out: Option<&str>,
) -> tokio::process::Child {
    let bin = release_binary(case.binary);
    let mut cmd = match valgrind_out {
        None => tokio::process::Command::new(&bin),
        Some(out) => {
            let mut c = tokio::process::Command::new("valgrind");
            c.args([
                "--tool=callgrind",
                "--quiet",
                &format!("--callgrind-out-file={out}"),
            ])
            .arg(&bin);
            c
        }
    };
    cmd.env_clear()
        .envs(case.env.iter().copied())
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", case.binary)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_ENDPOINT_URL_DYNAMODB", super::endpoint())
        .env("TABLE_NAME", table)
        // As in Lambda: JSON logs at INFO (one line per request) and the EMF lines, to a pipe.
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Run time of every thread of `pid` so far.
fn process_cpu(pid: u32) -> Duration {
    let mut ns = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        ns += stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Duration::from_nanos(ns)
}

async fn invoke(api: &RuntimeApi, case: &Case, n: usize, tag: &str) {
    let outcome = api
        .invoke_with_timeout((case.event)(n, tag), Duration::from_secs(120))
        .await;
    match &outcome {
        Invocation::Response(v) if v.get("statusCode").is_none_or(|s| s.as_u64() < Some(300)) => {}
        other => panic!("{}: {other:?}", case.name),
    }
}

/// CPU ms per warm invocation (one run).
async fn cpu_run(case: &Case, table: &str, run: usize) -> f64 {
    let api = RuntimeApi::start().await;
    let child = spawn(case, &api, table, None);
    let pid = child.id().unwrap();
    let tag = format!("cpu{run}");
    for n in 0..WARMUP {
        invoke(&api, case, n, &tag).await;
    }
    let before = process_cpu(pid);
    for n in WARMUP..WARMUP + ROUNDS {
        invoke(&api, case, n, &tag).await;
    }
    let spent = process_cpu(pid) - before;
    drop(child);
    spent.as_secs_f64() * 1000.0 / ROUNDS as f64
}

/// Callgrind's instruction count of a process that served `WARMUP + n` invocations.
async fn instructions_after(case: &Case, table: &str, n: usize) -> Option<f64> {
    let out = std::env::temp_dir().join(format!(
        "callgrind.bench.{}.{}.{n}",
        std::process::id(),
        case.binary
    ));
    let out = out.to_str().unwrap().to_owned();
    let api = RuntimeApi::start().await;
    let mut child = spawn(case, &api, table, Some(&out));
    let tag = format!("cg{n}-{}", fastrand::u32(..));
    for i in 0..CG_WARMUP + n {
        invoke(&api, case, i, &tag).await;
    }
    // SIGTERM: valgrind writes the profile as the process ends.
    let pid = child.id().unwrap();
    // SAFETY: signalling the child we spawned.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let _ = child.wait().await;
    let text = std::fs::read_to_string(&out).ok()?;
    // Keep the long run's profile for callgrind_annotate; remove the others.
    if n != CG_LONG {
        let _ = std::fs::remove_file(&out);
    } else {
        println!("  profile: {out}");
    }
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary: ")
                .or_else(|| l.strip_prefix("totals: "))
        })
        .and_then(|v| v.trim().parse().ok())
}

fn have_valgrind() -> bool {
    std::process::Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub async fn whole_process(table: &str) -> Value {
    prepare(table).await;
    // The sale the GET case reads.
    {
        let api = RuntimeApi::start().await;
        let _child = spawn(&CASES[3], &api, table, None);
        let mut seed = finalize_event(1, 0, "seed");
        seed["pathParameters"]["sale_id"] = json!("P-seed");
        let path = "/sales/P-seed/finalize";
        seed["rawPath"] = json!(path);
        seed["requestContext"]["http"]["path"] = json!(path);
        let outcome = api.invoke(seed).await;
        assert!(matches!(outcome, Invocation::Response(_)), "{outcome:?}");
    }
    let valgrind = have_valgrind();
    let mut rows = Vec::new();
    for case in &CASES {
        let mut runs = Vec::new();
        for run in 0..REPEATS {
            runs.push(cpu_run(case, table, run).await);
        }
        let cpu_ms = super::median(runs.clone());
        let instructions = if valgrind {
            let short = instructions_after(case, table, CG_SHORT).await;
            let long = instructions_after(case, table, CG_LONG).await;
            short
                .zip(long)
                .map(|(s, l)| ((l - s) / (CG_LONG - CG_SHORT) as f64).round())
        } else {
            None
        };
        println!(
            "  {}: {cpu_ms:.3} ms ({runs:.3?}), {instructions:?} instructions",
            case.name
        );
        rows.push(
            json!({"case": case.name, "cpu_ms": cpu_ms, "cpu_ms_runs": runs,
                         "instructions": instructions}),
        );
    }
    json!({"rounds": ROUNDS, "warmup": WARMUP, "rows": rows})
}

/// The figures the issue measured before this section existed (whole `sale-finalize` process, 300
/// warm invocations), which the target halves.
const ISSUE_BEFORE_MS: [(&str, f64); 2] = [
    ("sale-finalize: 1-line sale", 3.0),
    ("sale-finalize: 10-line sale", 3.3),
];

/// This build before the cuts of section 6 (same machine and method; see BENCHMARKS.md).
pub const BEFORE_NOTE: &str = "\nBefore and after the cuts of 2026-12-02 (same method, same machine, runs minutes apart; the hello-world and the bare `GetItem` did not change, so their milliseconds show the noise):\n\n| invocation | CPU ms before | after | instructions before | after | |\n|---|---:|---:|---:|---:|---:|\n| hello-world (lambda_runtime echo), 1-line sale events | 0.121 | 0.177 | 204,966 | 199,497 | -3% |\n| bare GetItem (init-probe, the functions' client setup) | 0.403 | 0.456 | 512,661 | 511,300 | -0% |\n| sale-finalize: GET /sales/{sale_id} (one GetItem) | 0.503 | 0.422 | 922,844 | 723,836 | -22% |\n| sale-finalize: 1-line sale | 1.262 | 1.046 | 1,551,963 | 1,338,612 | -14% |\n| sale-finalize: 10-line sale | 1.948 | 1.269 | 2,549,649 | 2,282,115 | -10% |\n\nThe cuts: a current-thread Tokio runtime in every `main.rs` (`#[tokio::main]` started a worker per core and an I/O driver thread for one invocation at a time: the wake-ups between them are kernel time, which the milliseconds count and callgrind does not, hence -35% ms for 10 lines against -10% instructions); an API Gateway event decoded into the HTTP request directly instead of printed to JSON text and parsed again (141k -> 34k instructions per invocation); EMF lines written straight into a string with only the function's metrics, instead of a `serde_json::Value` tree of twelve (124k -> under 10k).\n\nWhere a warm 10-line sale's 2.28M instructions go (callgrind, inclusive, per invocation): the SDK's two operations (`BatchGetItem`, `TransactWriteItems`: serialization, SigV4 signing, hyper, deserialization) 1.49M (65%), of which SigV4 signing 0.68M and SHA-256 0.55M (valgrind hides the CPU's SHA instructions, so the software SHA-256 runs here; on hardware with SHA extensions, as on Graviton, that share is smaller); the service's own work (routing, planning, building the items and the stored response) about 0.5M; lambda_runtime (polling for the event, decoding it into a `serde_json::Value`, posting the response) and the logs about 0.3M. A bare `GetItem` function (`init-probe`: the same client, but a multi-thread runtime and no request log) costs 0.51M, a hello-world 0.20M: one small SDK operation is about 0.31M over the runtime's floor. What remains is mostly the SDK's per-operation floor times two operations.\n\nAgainst the issue's figures (3.0 ms for a 1-line sale, 3.3 ms for 10 lines, measured on a busier day), 1.05 and 1.27 ms are below half; against this machine's own before (1.26 and 1.95 ms) the cut is 17% and 35%.\n\n#12, the line-by-line write path, against the cuts above (same method): a 1-line sale (the bench's SKUs hold stock and never back-order: these are covered sales) 1.05 -> 1.13 ms and 1.34M -> 2.79M instructions; a 10-line sale 1.27 -> 3.80 ms and 2.28M -> 12.10M. The price is one DynamoDB operation per line instead of one transaction for all: a 10-line sale sends 24 operations (the read and the claim, 10 line writes, one batch of contributions, the completion, and 10 marker removals after the answer) where it sent 2, and each costs the SDK's per-operation floor (about 0.3M instructions: serialization, SigV4 signing, HTTP). The 1-line figure stays under half the issue's 3.0 ms; the 10-line figure no longer does. What would cut it: the marker removals riding on the applier's next write of the same SKU, and the SDK's signing cost.\n\n#13 (releases) leaves these covered sales as they were: 2.80M and 12.18M instructions against 2.79M and 12.10M (the milliseconds of this run are from a slower hour: the hello-world's init went 2.89 -> 3.52 ms). A sale that back-orders sends one `PutItem` per contribution instead of one batch (section 1), about 0.3M instructions each by the per-operation floor above; not measured here.\n\nThe cold transaction (a sale of up to 32 SKUs that back-orders nothing, on SKUs with no sale in flight, is its read and one `TransactWriteItems`; the bench's sales are such sales, on SKUs that hold stock), against the run of 2026-12-06 (same method): a 1-line sale 2.80M -> 1.38M instructions (1.52 -> 0.55 ms), a 10-line sale 12.18M -> 2.42M (6.49 -> 0.84 ms). A 10-line sale sends 2 operations where it sent 24. The hello-world went 198k -> 202k instructions and 0.40 -> 0.19 ms, so the earlier run's milliseconds are from a slower hour: read the instructions. A sale on contended SKUs (sales in flight, or back-ordering) is still written line by line, one operation per line.\n";

/// The target row: at most half the issue's whole-process CPU for a 1-line and a 10-line sale.
pub fn target_row(r: &Value) -> String {
    let rows = r["process"]["rows"].as_array().cloned().unwrap_or_default();
    let ms = |case: &str| {
        rows.iter()
            .find(|x| x["case"] == case)
            .and_then(|x| x["cpu_ms"].as_f64())
            .unwrap_or(f64::NAN)
    };
    let figures: Vec<String> = ISSUE_BEFORE_MS
        .iter()
        .map(|(case, before)| format!("{:.2} ms (was {before})", ms(case)))
        .collect();
    let met = ISSUE_BEFORE_MS
        .iter()
        .all(|(case, before)| ms(case) <= before / 2.0);
    format!(
        "| whole-process CPU per warm sale at most half of 3.0 ms (1 line) and 3.3 ms (10 lines) | {} | {} |\n",
        figures.join(", "),
        if met { "met" } else { "**not met**" }
    )
}

/// The instructions of a warm 10-line sale before the cold transaction (the run of 2026-12-06).
const TEN_LINES_BEFORE: u64 = 12_176_812;

/// The target row for a warm 10-line sale's instructions: at most half of before.
pub fn instructions_target_row(r: &Value) -> String {
    let ins = r["process"]["rows"]
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|x| x["case"] == "sale-finalize: 10-line sale")
                .and_then(|x| x["instructions"].as_f64())
        })
        .unwrap_or(0.0);
    format!(
        "| whole-process instructions of a warm 10-line sale at most half of {:.1}M | {:.2}M | {} |\n",
        TEN_LINES_BEFORE as f64 / 1e6,
        ins / 1e6,
        if ins > 0.0 && ins * 2.0 <= TEN_LINES_BEFORE as f64 {
            "met"
        } else {
            "**not met**"
        }
    )
}

/// Section 6 of BENCHMARKS.md.
pub fn markdown(r: &Value) -> String {
    let p = &r["process"];
    let mut s = format!(
        "\n## 6. Whole-process CPU per warm invocation\n\nAs Lambda bills it: the release binary driven through the project's Runtime API emulator (`tests/src/runtime_api.rs`) against DynamoDB Local, the CPU of every thread of the process (`/proc/<pid>/task/*/schedstat`) over {} warm invocations after {} of warm-up, per invocation, median of {REPEATS} runs; and instructions per warm invocation counted by `valgrind --tool=callgrind` (the difference between a process that served {} and one that served {} invocations, divided by {}: exact and repeatable where milliseconds are not). JSON logs at INFO and the EMF lines are written, as in Lambda. `BENCH_ONLY=process make bench` reruns it. At 256 MB a function gets about 1/7 of a vCPU, so each CPU millisecond here is about 7 ms of billed duration.\n\n| invocation | CPU ms | instructions |\n|---|---:|---:|\n",
        p["rounds"], p["warmup"], CG_WARMUP + CG_SHORT, CG_WARMUP + CG_LONG, CG_LONG - CG_SHORT
    );
    for row in p["rows"].as_array().cloned().unwrap_or_default() {
        let ins = row["instructions"]
            .as_f64()
            .map_or("n/a".to_owned(), |v| format!("{:.0}", v));
        s.push_str(&format!(
            "| {} | {:.3} | {ins} |\n",
            row["case"].as_str().unwrap_or(""),
            row["cpu_ms"].as_f64().unwrap_or(f64::NAN)
        ));
    }
    s.push_str(BEFORE_NOTE);
    s
}
