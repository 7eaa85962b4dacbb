//! Exactness under concurrency: racing sales of one SKU, and closes racing sales. A checker polls
//! consistent snapshots (TransactGetItems) during the run: never more than one open order per SKU.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backorder_tests::{Reply, TestApp};
use serde_json::Value;

const A: &str = "acct";

/// Finalizes like a well-behaved caller: retries a 503 after its Retry-After hint, with the same body.
async fn finalize_until_done(
    app: &TestApp,
    sale: &str,
    lines: &[(&str, i64)],
    retries: &AtomicUsize,
) -> Reply {
    loop {
        let r = app.finalize(A, sale, lines).await;
        if r.status == 503 {
            assert!(r.header("retry-after").is_some(), "503 without Retry-After");
            retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        return r;
    }
}

fn spawn_checker(
    app: Arc<TestApp>,
    sku: &'static str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut checks = 0;
        while !stop.load(Ordering::Relaxed) {
            if app.check_sku_orders(A, sku).await.unwrap() {
                checks += 1;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        checks
    })
}

/// Checks conservation: each order holds exactly the units the sales' responses put in it.
fn check_orders_against_responses(orders: &[Value], replies: &[Reply]) {
    let mut by_order: HashMap<String, i64> = HashMap::new();
    for r in replies {
        for line in r.body["lines"].as_array().unwrap() {
            if let Some(rid) = line["replenishment_id"].as_str() {
                *by_order.entry(rid.to_owned()).or_default() +=
                    line["backordered"].as_i64().unwrap();
            }
        }
    }
    assert_eq!(
        by_order.len(),
        orders.len(),
        "every order was fed by some response, and only those"
    );
    for o in orders {
        let rid = o["replenishment_id"].as_str().unwrap();
        assert_eq!(
            o["quantity"].as_i64().unwrap(),
            by_order[rid],
            "order {rid}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_concurrent_sales_of_one_sku() {
    let app = Arc::new(TestApp::new().await);
    app.enable_account(A, true).await;
    app.sku(A, "HOT", "backorder", None, 10).await;
    let stop = Arc::new(AtomicBool::new(false));
    let checker = spawn_checker(app.clone(), "HOT", stop.clone());
    let retries = Arc::new(AtomicUsize::new(0));

    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let (app, retries) = (app.clone(), retries.clone());
            tokio::spawn(async move {
                finalize_until_done(&app, &format!("sale-{i}"), &[("HOT", 1 + i % 3)], &retries)
                    .await
            })
        })
        .collect();
    let mut replies = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        replies.push(r);
    }
    stop.store(true, Ordering::Relaxed);
    let checks = checker.await.unwrap();

    let sold: i64 = (0..32).map(|i| 1 + i % 3).sum();
    assert_eq!(app.on_hand(A, "HOT").await, 10 - sold);
    let orders = app.orders(A, "?sku=HOT").await;
    assert_eq!(orders.len(), 1, "exactly one order");
    assert_eq!(orders[0]["status"], "open");
    assert_eq!(
        orders[0]["quantity"].as_i64().unwrap(),
        sold - 10,
        "every uncovered unit, once"
    );
    check_orders_against_responses(&orders, &replies);
    // The on_hand_after values are a permutation of a serial history: all distinct, ending at the final level.
    let mut afters: Vec<i64> = replies
        .iter()
        .map(|r| r.body["lines"][0]["on_hand_after"].as_i64().unwrap())
        .collect();
    afters.sort();
    afters.dedup();
    assert_eq!(afters.len(), 32);
    assert_eq!(afters[0], 10 - sold);
    eprintln!(
        "32 racing sales: {} retries after 503, {checks} snapshot checks",
        retries.load(Ordering::Relaxed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn closes_racing_sales_lose_and_double_nothing() {
    let app = Arc::new(TestApp::new().await);
    app.enable_account(A, true).await;
    app.sku(A, "RACE", "backorder", None, 3).await;
    let stop = Arc::new(AtomicBool::new(false));
    let checker = spawn_checker(app.clone(), "RACE", stop.clone());
    let retries = Arc::new(AtomicUsize::new(0));

    // A closer that keeps closing whatever order is open.
    let closer = {
        let (app, stop) = (app.clone(), stop.clone());
        tokio::spawn(async move {
            let mut closes = 0;
            while !stop.load(Ordering::Relaxed) {
                let inv = app.ok(A, "GET", "/skus/RACE/inventory", None).await;
                if let Some(rid) = inv["open_replenishment_id"].as_str() {
                    let r = app
                        .call(A, "POST", &format!("/replenishments/{rid}/close"), None)
                        .await;
                    assert!(r.status == 200 || r.status == 503, "{}", r.body);
                    if r.status == 200 {
                        assert_eq!(r.body["status"], "closed");
                        closes += 1;
                    }
                }
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            closes
        })
    };
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let (app, retries) = (app.clone(), retries.clone());
            tokio::spawn(async move {
                let mut replies = Vec::new();
                for i in 0..8 {
                    replies.push(
                        finalize_until_done(
                            &app,
                            &format!("w{w}-s{i}"),
                            &[("RACE", 1 + (w + i) % 2)],
                            &retries,
                        )
                        .await,
                    );
                }
                replies
            })
        })
        .collect();
    let mut replies = Vec::new();
    for w in workers {
        replies.extend(w.await.unwrap());
    }
    stop.store(true, Ordering::Relaxed);
    let closes = closer.await.unwrap();
    checker.await.unwrap();

    let sold: i64 = replies
        .iter()
        .map(|r| r.body["lines"][0]["quantity"].as_i64().unwrap())
        .sum();
    assert_eq!(app.on_hand(A, "RACE").await, 3 - sold);
    let mut orders = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app
            .ok(
                A,
                "GET",
                &format!("/replenishments?sku=RACE&limit=7{cursor}"),
                None,
            )
            .await;
        orders.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    let total: i64 = orders.iter().map(|o| o["quantity"].as_i64().unwrap()).sum();
    assert_eq!(
        total,
        sold - 3,
        "telescoping total: max(0,-final) - max(0,-initial)"
    );
    assert!(orders.iter().filter(|o| o["status"] == "open").count() <= 1);
    check_orders_against_responses(&orders, &replies);
    assert!(
        closes >= 1,
        "the closer closed at least one order during the run"
    );
    eprintln!(
        "64 sales, {closes} closes, {} orders, {} retries after 503",
        orders.len(),
        retries.load(Ordering::Relaxed)
    );
}
