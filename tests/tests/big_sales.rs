//! Sales larger than one transaction (up to 1,000 lines): written in idempotent parts; a crash at
//! any part boundary leaves the sale `finalizing`, and redelivering the same request completes it
//! without applying any line twice.

use std::collections::HashMap;

use backorder::domain::BackorderPolicy;
use backorder::ids::{AccountId, Sku};
use backorder::service::LINES_PER_TRANSACTION;
use backorder_tests::faults::{invoke_with, Invocation, Outcome};
use backorder_tests::{Reply, TestApp};
use futures::StreamExt;
use serde_json::{json, Value};

const A: &str = "acct";

/// Creates `n` SKUs (policy backorder) with on_hand 1, directly through the store.
async fn skus(app: &TestApp, prefix: &str, n: usize) -> Vec<String> {
    let account = AccountId::parse(A, "a").unwrap();
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}-{i:04}")).collect();
    futures::stream::iter(names.clone())
        .map(|name| {
            let (store, account) = (&app.store, &account);
            async move {
                let sku = Sku::parse(name, "sku").unwrap();
                store
                    .upsert_sku_settings(
                        account,
                        &sku,
                        &backorder::store::SkuChange::policy(BackorderPolicy::Backorder),
                        "2026-01-01T00:00:00.000Z",
                    )
                    .await
                    .unwrap();
                store
                    .set_on_hand(account, &sku, 1, "2026-01-01T00:00:00.000Z")
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    names
}

fn body(skus: &[String], qty: i64) -> Value {
    // Every SKU twice (merged into one line of 2*qty), to exercise merging across the split.
    let lines: Vec<Value> = skus
        .iter()
        .chain(skus.iter())
        .map(|s| json!({"sku": s, "quantity": qty}))
        .collect();
    json!({"customer": "big-buyer", "channel": "b2b", "lines": lines})
}

async fn finalize(app: &TestApp, sale: &str, body: &Value) -> Reply {
    app.call(
        A,
        "POST",
        &format!("/sales/{sale}/finalize"),
        Some(body.clone()),
    )
    .await
}

async fn levels(app: &TestApp, skus: &[String]) -> HashMap<String, (i64, Option<String>)> {
    let mut out = HashMap::new();
    for item in app.items_with_prefix("SKU#").await {
        let sku = item["sk"]
            .as_s()
            .unwrap()
            .trim_start_matches("SKU#")
            .to_owned();
        if skus.contains(&sku) {
            let on_hand = item["on_hand"].as_n().unwrap().parse().unwrap();
            out.insert(
                sku,
                (
                    on_hand,
                    item.get("open_rid").map(|v| v.as_s().unwrap().clone()),
                ),
            );
        }
    }
    out
}

fn check_response(r: &Reply, skus: &[String], before: i64, qty_per_line: i64) {
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "finalized");
    assert_eq!(r.body["fulfillment"]["status"], "raised");
    assert_eq!(r.body["customer"], "big-buyer");
    let lines = r.body["lines"].as_array().unwrap();
    assert_eq!(lines.len(), skus.len(), "one line per distinct SKU");
    for (line, sku) in lines.iter().zip(skus) {
        assert_eq!(
            line["sku"].as_str(),
            Some(sku.as_str()),
            "lines keep first-appearance order"
        );
        assert_eq!(line["quantity"], 2 * qty_per_line);
        assert_eq!(line["on_hand_after"], before - 2 * qty_per_line);
        assert_eq!(
            line["backordered"],
            (2 * qty_per_line - before.max(0)).max(0)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_lines_finalize_once() {
    let app = TestApp::new().await;
    app.enable_account(A, true).await;
    let names = skus(&app, "K", 500).await;
    let sale = body(&names, 1); // 1,000 lines, 500 SKUs after merging: 11 transactions
    assert_eq!(sale["lines"].as_array().unwrap().len(), 1000);
    app.requests.reset();
    let first = finalize(&app, "big-1", &sale).await;
    check_response(&first, &names, 1, 1);
    let parts = names.len().div_ceil(LINES_PER_TRANSACTION);
    assert_eq!(
        app.requests.by_operation().get("TransactWriteItems"),
        Some(&parts)
    );
    // Replays and reads return the same body; nothing changes.
    let snapshot = app.snapshot().await;
    assert_eq!(finalize(&app, "big-1", &sale).await.body, first.body);
    assert_eq!(app.ok(A, "GET", "/sales/big-1", None).await, first.body);
    assert_eq!(app.snapshot().await, snapshot);
    // Each SKU: 1 - 2 = -1, one unit back-ordered, in its own open order.
    let lv = levels(&app, &names).await;
    assert!(lv
        .values()
        .all(|(on_hand, open)| *on_hand == -1 && open.is_some()));
    // Over 1,000 lines is refused for good.
    let mut lines = sale["lines"].as_array().unwrap().clone();
    lines.push(json!({"sku": names[0], "quantity": 1}));
    let r = finalize(&app, "big-2", &json!({"lines": lines})).await;
    assert_eq!(
        (r.status, r.message()),
        (422, "lines must hold at most 1000 lines")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_at_every_request_resumes_exactly() {
    let (app, _faults) = TestApp::with_faults().await;
    app.enable_account(A, true).await;
    // 150 SKUs -> 5 parts (32, 32, 32, 32, 22); no vendor reads: per part one read and one
    // transaction, plus, before part 0, the reads (100 keys each) checking that every SKU exists.
    // The transactions are requests 3, 5, 7, 9 and 11.
    let names = skus(&app, "C", 150).await;
    let parts = names.len().div_ceil(LINES_PER_TRANSACTION);
    let checks = names.len().div_ceil(100);
    let requests_per_sale = 2 * parts + checks;
    assert_eq!(requests_per_sale, 12);
    let sale = body(&names, 1);
    let mut on_hand = 1;
    for crash_at in 0..requests_per_sale {
        let sale_id = format!("crash-{crash_at}");
        let plan = Invocation::crash_before(crash_at);
        let outcome = invoke_with(plan, finalize(&app, &sale_id, &sale)).await;
        assert!(
            matches!(outcome, Outcome::Crashed),
            "crash point {crash_at}"
        );

        // While crashed between parts, the sale is `finalizing` with the parts applied so far.
        let parts_done = (0..parts).filter(|k| 1 + checks + 2 * k < crash_at).count();
        let view = app.call(A, "GET", &format!("/sales/{sale_id}"), None).await;
        if parts_done == 0 {
            assert_eq!(
                view.status, 404,
                "nothing was written before the first transaction"
            );
        } else {
            assert_eq!(view.body["status"], "finalizing");
            assert_eq!(
                view.body["lines"].as_array().unwrap().len(),
                parts_done * LINES_PER_TRANSACTION
            );
            // A different body for a finalizing sale is a conflict and changes nothing.
            let other = body(&names, 2);
            let before = app.snapshot().await;
            assert_eq!(finalize(&app, &sale_id, &other).await.status, 409);
            assert_eq!(app.snapshot().await, before);
        }

        // Redelivery completes it: each line applied exactly once.
        let done = finalize(&app, &sale_id, &sale).await;
        check_response(&done, &names, on_hand, 1);
        on_hand -= 2;
        let lv = levels(&app, &names).await;
        assert!(
            lv.values().all(|(h, _)| *h == on_hand),
            "crash point {crash_at}: {lv:?}"
        );
        assert_eq!(
            finalize(&app, &sale_id, &sale).await.body,
            done.body,
            "replay after completion"
        );
    }
    // Every SKU's one open order holds every uncovered unit: -(final) since stock started at 1.
    let mut total = 0;
    let mut page = app
        .ok(A, "GET", "/replenishments?status=open&limit=100", None)
        .await;
    loop {
        for o in page["items"].as_array().unwrap() {
            total += o["quantity"].as_i64().unwrap();
        }
        match page["next_cursor"].as_str() {
            Some(c) => {
                page = app
                    .ok(
                        A,
                        "GET",
                        &format!("/replenishments?status=open&limit=100&cursor={c}"),
                        None,
                    )
                    .await
            }
            None => break,
        }
    }
    // Stock started at 1 and only fell: max(0, -final) - max(0, -1) per SKU.
    assert_eq!(total, names.len() as i64 * -on_hand);
}

/// Concurrent redeliveries of one large sale apply it once.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_redeliveries_of_a_large_sale() {
    let app = TestApp::new().await;
    app.enable_account(A, true).await;
    let names = skus(&app, "P", 120).await;
    let sale = body(&names, 3);
    let replies = futures::future::join_all((0..6).map(|_| finalize(&app, "para", &sale))).await;
    let ok: Vec<&Reply> = replies.iter().filter(|r| r.status == 200).collect();
    assert!(!ok.is_empty());
    for r in &ok {
        assert_eq!(r.body, ok[0].body);
    }
    for r in &replies {
        assert!(r.status == 200 || r.status == 503, "{}", r.body);
    }
    // Retry any that gave up, as a caller would.
    let done = finalize(&app, "para", &sale).await;
    check_response(&done, &names, 1, 3);
    let lv = levels(&app, &names).await;
    assert!(lv.values().all(|(h, _)| *h == -5));
}

/// A redelivery may list the same lines in another order (or split differently): it is the same
/// sale, and it resumes the same parts.
#[tokio::test(flavor = "multi_thread")]
async fn a_redelivery_in_another_order_resumes_exactly() {
    let (app, _faults) = TestApp::with_faults().await;
    app.enable_account(A, true).await;
    let names = skus(&app, "R", 110).await;
    let forward = body(&names, 1);
    let mut reversed_lines = forward["lines"].as_array().unwrap().clone();
    reversed_lines.reverse();
    let reversed = json!({"customer": "big-buyer", "channel": "b2b", "lines": reversed_lines});
    // Part 0 commits (requests 0 and 1, after the all-SKUs check at request 1), then a crash.
    for crash_at in [2, 3, 4] {
        let sale_id = format!("reorder-{crash_at}");
        let outcome = invoke_with(
            Invocation::crash_before(crash_at),
            finalize(&app, &sale_id, &forward),
        )
        .await;
        assert!(matches!(outcome, Outcome::Crashed));
        let done = finalize(&app, &sale_id, &reversed).await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert_eq!(done.body["lines"].as_array().unwrap().len(), names.len());
    }
    // Three sales of 2 units each, each applied exactly once.
    let lv = levels(&app, &names).await;
    assert!(lv.values().all(|(h, _)| *h == 1 - 6), "{lv:?}");
}

/// An unknown SKU anywhere in a sale in parts is a 422 before anything is written.
#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_sku_in_a_later_part_changes_nothing() {
    let app = TestApp::new().await;
    app.enable_account(A, true).await;
    let mut names = skus(&app, "U", 60).await;
    names.push("ZZZ-MISSING".to_owned());
    let before = app.snapshot().await;
    let r = finalize(&app, "unknown-late", &body(&names, 1)).await;
    assert_eq!((r.status, r.code()), (422, "unknown_sku"), "{}", r.body);
    assert!(r.message().contains("ZZZ-MISSING"));
    assert_eq!(app.snapshot().await, before);
}

/// Sales written by a build that put 49 lines in a transaction (before the part size was recorded
/// on the sale): a redelivery resumes them cut as they were started, or replays them.
#[tokio::test(flavor = "multi_thread")]
async fn sales_started_with_49_lines_per_part_resume_as_they_were_cut() {
    use backorder::domain::{plan_line, SaleLine, SaleRequest, SaleResult};
    use backorder::ids::{ReplenishmentId, SaleId};
    use backorder::store::SaleParts;
    let app = TestApp::new().await;
    // Back-ordering off: the old part 0 (49 lines) fits one transaction of this build's items.
    app.enable_account(A, false).await;
    let account = AccountId::parse(A, "a").unwrap();
    let names = skus(&app, "L", 60).await;
    let request = SaleRequest {
        customer: Some("big-buyer".into()),
        channel: Some("b2b".into()),
        lines: names
            .iter()
            .map(|n| SaleLine {
                sku: Sku::parse(n.clone(), "sku").unwrap(),
                quantity: 2,
            })
            .collect(),
    };
    // Part 0 as the old build wrote it: the first 49 lines in SKU order, 2 parts.
    let sale = SaleId::parse("legacy", "s").unwrap();
    let first: Vec<SaleLine> = request.lines[..49].to_vec();
    let skus: Vec<Sku> = first.iter().map(|l| l.sku.clone()).collect();
    let ctx = app
        .store
        .sale_context(&account, &sale, &skus)
        .await
        .unwrap();
    let plans: Vec<_> = first
        .iter()
        .map(|l| plan_line(l, &ctx.skus[&l.sku].state, false, ReplenishmentId::generate))
        .collect();
    let results = SaleResult::finalized(&sale, &request, String::new(), &plans).lines;
    let fingerprint = request.fingerprint();
    let header = SaleParts {
        fingerprint: &fingerprint,
        parts: 2,
        part_lines: 49,
        first: &[],
        fulfillment_id: "01JDLEGACY0000000000000000",
        customer: request.customer.as_deref(),
        channel: request.channel.as_deref(),
    };
    app.store
        .commit_sale_part(
            &account,
            &sale,
            header,
            0,
            &plans,
            &results,
            "2026-01-01T00:00:00.000Z",
        )
        .await
        .unwrap();
    app.client
        .update_item()
        .table_name(&app.table)
        .set_key(Some(backorder_tests::root_key(A, "SALE#legacy")))
        .update_expression("REMOVE part_lines")
        .send()
        .await
        .unwrap();
    let lines: Vec<Value> = names
        .iter()
        .map(|n| json!({"sku": n, "quantity": 2}))
        .collect();
    let body = json!({"customer": "big-buyer", "channel": "b2b", "lines": lines});
    let done = finalize(&app, "legacy", &body).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body["status"], "finalized");
    assert_eq!(done.body["lines"].as_array().unwrap().len(), 60);
    for n in &names {
        assert_eq!(app.on_hand(A, n).await, -1, "{n}: each line applied once");
    }
    assert_eq!(finalize(&app, "legacy", &body).await.body, done.body);

    // A 40-line sale the old build finalized in one transaction: a retry replays it.
    let forty: Vec<Value> = names[..40]
        .iter()
        .map(|n| json!({"sku": n, "quantity": 1}))
        .collect();
    let forty = json!({"lines": forty});
    let old_lines: Vec<Value> = names[..40]
        .iter()
        .map(|n| json!({"sku": n, "quantity": 1, "on_hand_after": -2, "backordered": 0, "replenishment_id": null}))
        .collect();
    let stored = json!({"sale_id": "old-40", "status": "finalized", "customer": null, "channel": null,
        "fulfillment": {"fulfillment_id": "01JDLEGACY0000000000000001", "status": "raised"}, "lines": old_lines});

    let request = SaleRequest {
        customer: None,
        channel: None,
        lines: names[..40]
            .iter()
            .map(|n| SaleLine {
                sku: Sku::parse(n.clone(), "sku").unwrap(),
                quantity: 1,
            })
            .collect(),
    };
    let s = |v: &str| aws_sdk_dynamodb::types::AttributeValue::S(v.into());
    app.client
        .put_item()
        .table_name(&app.table)
        .set_item(Some(backorder_tests::root_key(A, "SALE#old-40")))
        .item("fingerprint", s(&request.fingerprint()))
        .item("status", s("finalized"))
        .item("result", s(&stored.to_string()))
        .send()
        .await
        .unwrap();
    let before = app.snapshot().await;
    let replay = finalize(&app, "old-40", &forty).await;
    assert_eq!((replay.status, &replay.body), (200, &stored));
    assert_eq!(app.snapshot().await, before);
    // Its cancellation would not fit one transaction: refused, nothing changed.
    let cancel = app.call(A, "POST", "/sales/old-40/cancel", None).await;
    assert_eq!(
        (cancel.status, cancel.code()),
        (409, "sale_not_cancellable")
    );
    assert_eq!(app.snapshot().await, before);
}
