//! The scheduled close: every open auto-back-order order in every account, paging, stopping before
//! the deadline, safe to repeat, and exact while sales keep arriving.

use std::time::{Duration, Instant};

use backorder::service::close_due_orders;
use backorder_tests::TestApp;
use futures::StreamExt;

/// Opens `per_account` orders in each of `accounts` accounts (one SKU per order).
async fn open_orders(app: &TestApp, accounts: usize, per_account: usize) -> usize {
    for a in 0..accounts {
        app.enable_account(&format!("acct-{a}"), true).await;
    }
    let jobs: Vec<(usize, usize)> = (0..accounts)
        .flat_map(|a| (0..per_account).map(move |s| (a, s)))
        .collect();
    futures::stream::iter(jobs)
        .map(|(a, s)| async move {
            let acct = format!("acct-{a}");
            let sku = format!("SKU-{s}");
            app.sku(&acct, &sku, "backorder", None, 0).await;
            let r = app
                .finalize(&acct, &format!("sale-{s}"), &[(sku.as_str(), 2)])
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    accounts * per_account
}

async fn open_count(app: &TestApp) -> usize {
    app.items_with_prefix("ORDER#")
        .await
        .iter()
        .filter(|i| {
            i.get("status")
                .and_then(|s| s.as_s().ok())
                .map(String::as_str)
                == Some("open")
        })
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn closes_every_account_and_is_safe_to_repeat() {
    let app = TestApp::new().await;
    let n = open_orders(&app, 3, 4).await;
    assert_eq!(open_count(&app).await, n);
    // Orders younger than the minimum age stay open.
    let far = Instant::now() + Duration::from_secs(60);
    let run = close_due_orders(
        &app.store,
        Duration::from_secs(3600),
        far,
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    assert_eq!((run.closed, run.remaining), (0, 0));
    assert_eq!(open_count(&app).await, n);
    // Age 0: all of them, in every account.
    let run = close_due_orders(&app.store, Duration::ZERO, far, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!((run.closed, run.remaining), (n as u64, 0));
    assert_eq!(open_count(&app).await, 0);
    for a in 0..3 {
        let orders = app.orders(&format!("acct-{a}"), "").await;
        assert_eq!(orders.len(), 4);
        assert!(orders
            .iter()
            .all(|o| o["status"] == "closed" && o["quantity"] == 2 && o["closed_at"].is_string()));
    }
    // Twice: nothing more to do.
    let run = close_due_orders(&app.store, Duration::ZERO, far, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!((run.closed, run.remaining), (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn stops_before_the_deadline_and_resumes() {
    let app = TestApp::new().await;
    let n = open_orders(&app, 4, 60).await as u64;
    // A deadline that leaves almost no time past the margin: the run stops early.
    let margin = Duration::from_millis(500);
    let run = close_due_orders(
        &app.store,
        Duration::ZERO,
        Instant::now() + margin + Duration::from_millis(40),
        margin,
    )
    .await
    .unwrap();
    assert!(run.remaining > 0, "{run:?}");
    assert_eq!(run.closed + run.remaining, n, "{run:?}");
    // Repeated runs with short deadlines finish the job, closing each order exactly once.
    let mut closed = run.closed;
    let mut runs = 1;
    loop {
        let run = close_due_orders(
            &app.store,
            Duration::ZERO,
            Instant::now() + margin + Duration::from_millis(150),
            margin,
        )
        .await
        .unwrap();
        closed += run.closed;
        runs += 1;
        if run.remaining == 0 {
            break;
        }
        assert!(runs < 200, "no progress");
    }
    assert_eq!(
        closed, n,
        "every order closed exactly once over {runs} runs"
    );
    assert_eq!(open_count(&app).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn sales_arriving_during_the_close_are_not_lost() {
    let app = TestApp::new().await;
    open_orders(&app, 2, 10).await;
    let far = Instant::now() + Duration::from_secs(60);
    let sales = async {
        let mut sold = 0;
        for i in 0..30 {
            let acct = format!("acct-{}", i % 2);
            let sku = format!("SKU-{}", i % 10);
            let r = app
                .finalize(&acct, &format!("late-{i}"), &[(sku.as_str(), 1)])
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            sold += 1;
        }
        sold
    };
    let (sold, run) = tokio::join!(
        sales,
        close_due_orders(&app.store, Duration::ZERO, far, Duration::from_secs(1))
    );
    let run = run.unwrap();
    assert!(run.closed >= 1);
    // Every unit of every sale is in exactly one order: 2 per SKU from the setup, plus 1 per late sale.
    let mut total = 0;
    for a in 0..2 {
        for o in app.orders(&format!("acct-{a}"), "").await {
            total += o["quantity"].as_i64().unwrap();
        }
    }
    assert_eq!(total, 20 * 2 + sold);
    // And at most one open order per SKU.
    for a in 0..2 {
        for s in 0..10 {
            let open = app
                .orders(&format!("acct-{a}"), &format!("?sku=SKU-{s}&status=open"))
                .await;
            assert!(open.len() <= 1);
        }
    }
}

/// 5,000 open orders across 50 accounts, short deadlines, sales arriving throughout: repeated runs
/// stop early with `remaining` > 0, and together close every order exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_thousand_orders_in_fifty_accounts() {
    use backorder::domain::{BackorderPolicy, SaleLine, SaleRequest};
    use backorder::ids::{AccountId, SaleId, Sku};
    use backorder::service::finalize_sale;

    const ACCOUNTS: usize = 50;
    const PER_ACCOUNT: usize = 100;
    let app = TestApp::new().await;
    let now = "2026-01-01T00:00:00.000Z";
    let pairs: Vec<(usize, usize)> = (0..ACCOUNTS)
        .flat_map(|a| (0..PER_ACCOUNT).map(move |s| (a, s)))
        .collect();
    for a in 0..ACCOUNTS {
        app.store
            .set_account_auto_backorder(
                &AccountId::parse(format!("acct-{a}"), "a").unwrap(),
                true,
                now,
            )
            .await
            .unwrap();
    }
    let sale = |a: usize, s: usize, id: String| {
        let store = &app.store;
        async move {
            let account = AccountId::parse(format!("acct-{a}"), "a").unwrap();
            let sku = Sku::parse(format!("SKU-{s}"), "sku").unwrap();
            let request = SaleRequest {
                customer: None,
                channel: None,
                lines: vec![SaleLine { sku, quantity: 1 }],
            };
            loop {
                match finalize_sale(
                    store,
                    &account,
                    &SaleId::parse(id.clone(), "sale_id").unwrap(),
                    &request,
                )
                .await
                .map_err(backorder::ApiError::from)
                {
                    Ok(done) => return done.backordered,
                    Err(e) if e.status() == 503 => continue,
                    Err(e) => panic!("{e}"),
                }
            }
        }
    };
    futures::stream::iter(pairs.clone())
        .map(|(a, s)| {
            let store = &app.store;
            async move {
                let account = AccountId::parse(format!("acct-{a}"), "a").unwrap();
                let sku = Sku::parse(format!("SKU-{s}"), "sku").unwrap();
                store
                    .upsert_sku_settings(
                        &account,
                        &sku,
                        &backorder::store::SkuChange::policy(BackorderPolicy::Backorder),
                        now,
                    )
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    let opened: i64 = futures::stream::iter(pairs.clone())
        .map(|(a, s)| sale(a, s, format!("setup-{s}")))
        .buffer_unordered(32)
        .collect::<Vec<i64>>()
        .await
        .into_iter()
        .sum();
    assert_eq!(opened, (ACCOUNTS * PER_ACCOUNT) as i64);
    assert_eq!(open_count(&app).await, ACCOUNTS * PER_ACCOUNT);

    // Sales keep arriving while the runs go on.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let arriving = async {
        let mut units = 0;
        let mut n = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let (a, s) = pairs[fastrand::usize(0..pairs.len())];
            units += sale(a, s, format!("late-{n}")).await;
            n += 1;
        }
        (n, units)
    };
    let runs = async {
        let margin = Duration::from_millis(300);
        let mut closed = 0;
        let mut runs = Vec::new();
        loop {
            let run = close_due_orders(
                &app.store,
                Duration::ZERO,
                Instant::now() + margin + Duration::from_millis(400),
                margin,
            )
            .await
            .unwrap();
            closed += run.closed;
            runs.push(run);
            if run.remaining == 0 {
                break;
            }
            assert!(
                runs.len() < 500,
                "no progress: {:?}",
                &runs[runs.len() - 3..]
            );
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (closed, runs)
    };
    let ((late_sales, late_units), (closed, runs)) = tokio::join!(arriving, runs);
    assert!(
        runs[0].remaining > 0,
        "the first short run stops before the deadline: {:?}",
        runs[0]
    );
    assert!(runs.len() > 1);
    // One last run for orders the late sales opened after the previous cutoff.
    let last = close_due_orders(
        &app.store,
        Duration::ZERO,
        Instant::now() + Duration::from_secs(60),
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    assert_eq!(last.remaining, 0);
    let orders = app.items_with_prefix("ORDER#").await;
    let closed_orders = orders
        .iter()
        .filter(|o| o["status"].as_s().unwrap() == "closed")
        .count() as u64;
    assert_eq!(
        closed + last.closed,
        closed_orders,
        "every order closed exactly once"
    );
    assert_eq!(closed_orders as usize, orders.len());
    let units: i64 = orders
        .iter()
        .map(|o| o["quantity"].as_n().unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(units, opened + late_units, "no unit lost or doubled");
    println!(
        "5,000 orders in 50 accounts: {} runs ({} closed), first run {:?}; {late_sales} sales during the runs",
        runs.len() + 1,
        closed + last.closed,
        runs[0]
    );
}
