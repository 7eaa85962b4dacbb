//! End to end, no hand-made images: a workload of real requests changes orders in DynamoDB Local
//! with its stream on, the stream is read back with the DynamoDB Streams API, handed to the
//! order-events handler as Lambda would (filtered to order items, in batches), and what reaches
//! EventBridge (a recorder speaking `PutEvents`) is exactly one event per change.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use backorder_tests::eventbridge::EventBridge;
use backorder_tests::stream::{
    deliver_to_order_events, enable_stream, order_events_records, stream_records,
};
use backorder_tests::{root_key, TestApp};
use fn_order_events::{handle, Publisher};
use serde_json::{json, Value};

const A: &str = "acct";

/// The event source mapping's filter: order items only (`dynamodb.Keys.sk.S` prefix `ORDER#`).
fn order_records(records: &[Value]) -> Vec<Value> {
    records
        .iter()
        .filter(|r| {
            r["dynamodb"]["Keys"]["sk"]["S"]
                .as_str()
                .is_some_and(|sk| sk.starts_with("ORDER#"))
        })
        .cloned()
        .collect()
}

async fn publish_all(bus: &EventBridge, records: &[Value]) {
    let mut publisher = Publisher::new(bus.client(), "orders");
    publisher.backoff = Duration::from_millis(1);
    for chunk in records.chunks(100) {
        let out = handle(
            &publisher,
            None,
            json!({ "Records": chunk }),
            Instant::now() + Duration::from_secs(60),
        )
        .await
        .unwrap();
        let out = serde_json::to_value(out).unwrap();
        assert_eq!(out["batchItemFailures"], json!([]));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_order_change_made_by_the_service_publishes_exactly_one_event() {
    let app = TestApp::new().await;
    enable_stream(&app).await;

    // The workload: two SKUs back-ordered, an order topped up, closed, received in two receipts;
    // a second order opened and emptied by a cancellation; a regular order created, closed and
    // received in one go; retries of everything along the way.
    app.enable_account(A, true).await;
    app.sku(A, "X", "backorder", Some("V"), 0).await;
    app.sku(A, "Y", "backorder", None, 0).await;
    for (sale, sku, q) in [("s1", "X", 3), ("s2", "X", 2), ("s3", "Y", 4)] {
        for _ in 0..2 {
            assert_eq!(app.finalize(A, sale, &[(sku, q)]).await.status, 200);
        }
    }
    let orders = app.orders(A, "").await;
    let rid_of = |sku: &str| {
        orders.iter().find(|o| o["sku"] == sku).unwrap()["replenishment_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (x, y) = (rid_of("X"), rid_of("Y"));
    for _ in 0..2 {
        app.ok(A, "POST", &format!("/replenishments/{x}/close"), None)
            .await;
    }
    for (receipt, q) in [("r1", 2), ("r1", 2), ("r2", 3), ("r2", 3)] {
        let r = app
            .call(
                A,
                "POST",
                &format!("/replenishments/{x}/receipts"),
                Some(json!({"receipt_id": receipt, "quantity": q})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    for _ in 0..2 {
        assert_eq!(
            app.call(A, "POST", "/sales/s3/cancel", None).await.status,
            200
        );
    }
    let regular = app
        .call(
            A,
            "POST",
            "/replenishments",
            Some(json!({"sku": "Y", "quantity": 7, "request_id": "po-1"})),
        )
        .await;
    assert_eq!(regular.status, 201);
    let m = regular.body["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.call(
        A,
        "POST",
        "/replenishments",
        Some(json!({"sku": "Y", "quantity": 7, "request_id": "po-1"})),
    )
    .await;
    app.ok(A, "POST", &format!("/replenishments/{m}/close"), None)
        .await;
    let r = app
        .call(
            A,
            "POST",
            &format!("/replenishments/{m}/receipts"),
            Some(json!({"receipt_id": "g", "quantity": 7})),
        )
        .await;
    assert_eq!(r.status, 200);

    let all = stream_records(&app).await;
    let records = order_records(&all);
    assert!(
        records.len() < all.len(),
        "the stream carries other items too"
    );
    let bus = EventBridge::start().await;
    publish_all(&bus, &records).await;
    let events: Vec<(String, String, Value)> = bus
        .accepted()
        .iter()
        .map(|e| {
            let detail = e.detail.clone();
            (
                e.detail_type.clone(),
                detail["replenishment_id"].as_str().unwrap().to_owned(),
                detail,
            )
        })
        .collect();
    let mut got: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (kind, rid, _) in &events {
        *got.entry((kind.clone(), rid.clone())).or_default() += 1;
    }
    let key = |k: &str, r: &str| (k.to_owned(), r.to_owned());
    assert_eq!(
        got,
        BTreeMap::from([
            (key("ReplenishmentOpened", &x), 1),
            (key("ReplenishmentClosed", &x), 1),
            (key("ReplenishmentReceived", &x), 1),
            (key("ReplenishmentOpened", &y), 1),
            (key("ReplenishmentOpened", &m), 1),
            (key("ReplenishmentClosed", &m), 1),
            (key("ReplenishmentReceived", &m), 1),
        ]),
        "{events:#?}"
    );
    let detail = |kind: &str, rid: &str| {
        events
            .iter()
            .find(|(k, r, _)| k == kind && r == rid)
            .unwrap()
            .2
            .clone()
    };
    let opened = detail("ReplenishmentOpened", &x);
    assert_eq!(
        (opened["quantity"].as_i64(), opened["vendor_id"].as_str()),
        (Some(3), Some("V"))
    );
    assert_eq!(opened["auto_backorder"], true);
    assert_eq!(opened["account_id"], A);
    let closed = detail("ReplenishmentClosed", &x);
    assert_eq!(closed["quantity"], 5, "the final quantity");
    let received = detail("ReplenishmentReceived", &x);
    assert_eq!(
        (
            received["received"].as_i64(),
            received["receipt_status"].as_str()
        ),
        (Some(5), Some("received"))
    );
    assert_eq!(detail("ReplenishmentOpened", &m)["auto_backorder"], false);

    // Lambda delivering the whole stream again: the same event ids, so consumers deduplicate.
    let first: Vec<String> = bus
        .accepted()
        .iter()
        .map(|e| e.event_id().to_owned())
        .collect();
    bus.clear();
    publish_all(&bus, &records).await;
    let again: Vec<String> = bus
        .accepted()
        .iter()
        .map(|e| e.event_id().to_owned())
        .collect();
    assert_eq!(again, first);
}

/// A receipt whose releases were lost with its process (the contributions' `released` as they were
/// before it, as a crash between the receipt's commit and its raises leaves them), and a
/// cancellation that freed units of a closed order: the stream finishes both, and each sale that
/// becomes ready is published once as `FulfillmentReady` with the sale's own `event_id`.
#[tokio::test(flavor = "multi_thread")]
async fn the_stream_finishes_releases_and_publishes_each_ready_sale_once() {
    let app = TestApp::new().await;
    enable_stream(&app).await;
    app.enable_account(A, true).await;
    app.sku(A, "X", "backorder", Some("V"), 0).await;
    app.sku(A, "Y", "backorder", None, 0).await;
    for (sale, lines) in [
        ("s1", vec![("X", 2), ("Y", 1)]),
        ("s2", vec![("X", 1)]),
        ("s3", vec![("X", 2)]),
    ] {
        let r = app.finalize(A, sale, &lines).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let orders = app.orders(A, "").await;
    let rid_of = |sku: &str| {
        orders.iter().find(|o| o["sku"] == sku).unwrap()["replenishment_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (x, y) = (rid_of("X"), rid_of("Y"));
    for rid in [&x, &y] {
        app.ok(A, "POST", &format!("/replenishments/{rid}/close"), None)
            .await;
    }
    let receive = |rid: String, receipt: &'static str, q: i64| {
        let app = &app;
        async move {
            let r = app
                .call(
                    A,
                    "POST",
                    &format!("/replenishments/{rid}/receipts"),
                    Some(json!({"receipt_id": receipt, "quantity": q})),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
            r.body
        }
    };
    // X receives 3: s1's 2 and s2's 1; Y receives s1's 1.
    let rx = receive(x.clone(), "rx", 3).await;
    assert_eq!(
        rx["released"],
        json!([{"sale_id": "s1", "units": 2}, {"sale_id": "s2", "units": 1}])
    );
    receive(y.clone(), "ry", 1).await;
    // s2 cancels after X closed: its unit is owed to no one now and goes to s3.
    assert_eq!(
        app.call(A, "POST", "/sales/s2/cancel", None).await.status,
        200
    );
    // The crash: what the receipt and the cancellation released on X lost with their processes.
    for sale in ["s1", "s3"] {
        let key = root_key(A, &format!("ORDER#{x}"));
        app.client
            .update_item()
            .table_name(&app.table)
            .key("pk", key["pk"].clone())
            .key(
                "sk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("CONTRIB#{x}#{sale}")),
            )
            .update_expression("REMOVE released, released_at")
            .send()
            .await
            .unwrap();
    }
    let sale_line = |body: &Value, sku: &str| {
        body["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["sku"] == sku)
            .unwrap()
            .clone()
    };
    let s1 = app.ok(A, "GET", "/sales/s1", None).await;
    assert_eq!(sale_line(&s1, "X")["awaiting"], 2, "lost with the crash");

    let bus = EventBridge::start().await;
    let records = order_events_records(&stream_records(&app).await);
    deliver_to_order_events(&app, &bus, &records).await;
    let s1 = app.ok(A, "GET", "/sales/s1", None).await;
    assert_eq!(s1["fulfillment"]["stock_status"], "ready", "{s1}");
    assert_eq!(sale_line(&s1, "X")["released"], 2);
    let s3 = app.ok(A, "GET", "/sales/s3", None).await;
    assert_eq!(
        (
            s3["lines"][0]["released"].as_i64(),
            s3["lines"][0]["awaiting"].as_i64()
        ),
        (Some(1), Some(1))
    );
    // Until X's last unit: then s3 is ready too. The stream from the start, as a replay would.
    receive(x.clone(), "rx2", 2).await;
    let all = order_events_records(&stream_records(&app).await);
    deliver_to_order_events(&app, &bus, &all).await;

    let ready: Vec<Value> = bus
        .accepted()
        .iter()
        .filter(|e| e.detail_type == "FulfillmentReady")
        .map(|e| e.detail.clone())
        .collect();
    let mut by_id: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for d in &ready {
        by_id
            .entry(d["event_id"].as_str().unwrap().to_owned())
            .or_default()
            .push(d.clone());
    }
    let sales: Vec<&str> = by_id
        .values()
        .map(|ds| ds[0]["sale_id"].as_str().unwrap())
        .collect();
    assert_eq!(sales, ["s1", "s3"], "s2 was cancelled: {ready:#?}");
    for ds in by_id.values() {
        assert!(
            ds.iter().all(|d| d == &ds[0]),
            "every delivery of a sale's event is the same: {ds:#?}"
        );
    }
    let s1_event = &by_id.values().next().unwrap()[0];
    assert_eq!(s1_event["account_id"], A);
    assert_eq!(s1_event["event_id"], "4:acct#SALE#s1:FulfillmentReady");
    assert!(s1_event["fulfillment_id"].as_str().unwrap().len() > 10);
    let mut lines = s1_event["lines"].as_array().unwrap().clone();
    lines.sort_by_key(|l| l["sku"].as_str().unwrap().to_owned());
    assert_eq!(
        lines,
        [
            json!({"sku": "X", "replenishment_id": x, "units": 2}),
            json!({"sku": "Y", "replenishment_id": y, "units": 1}),
        ]
    );
    assert!(s1_event["at"].as_str().unwrap().ends_with('Z'));
}

/// A sale whose last units are released while it is still being finalized (its caller died before
/// the completion): the stream flags it instead of holding up the shard, and its completion's
/// record publishes `FulfillmentReady`.
#[tokio::test(flavor = "multi_thread")]
async fn a_sale_released_before_it_completes_is_published_once_it_completes() {
    use backorder_tests::faults::{invoke_with, Invocation, Outcome};
    let (app, _faults) = TestApp::with_faults().await;
    enable_stream(&app).await;
    app.enable_account(A, true).await;
    app.sku(A, "X", "backorder", None, 0).await;
    // Requests 0 and 1 read and claim, 2 writes the line, 3 and 4 the order's item and the
    // contribution; the caller dies before the completion.
    let died = invoke_with(
        Invocation::crash_before(5),
        app.finalize(A, "late", &[("X", 2)]),
    )
    .await;
    assert!(matches!(died, Outcome::Crashed));
    assert_eq!(
        app.ok(A, "GET", "/sales/late", None).await["status"],
        "finalizing"
    );
    let rid = app.orders(A, "").await[0]["replenishment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ok(A, "POST", &format!("/replenishments/{rid}/close"), None)
        .await;
    let r = app
        .call(
            A,
            "POST",
            &format!("/replenishments/{rid}/receipts"),
            Some(json!({"receipt_id": "r", "quantity": 2})),
        )
        .await;
    assert_eq!(r.body["released"], json!([{"sale_id": "late", "units": 2}]));

    let bus = EventBridge::start().await;
    let first = stream_records(&app).await;
    deliver_to_order_events(&app, &bus, &order_events_records(&first)).await;
    assert!(
        bus.accepted()
            .iter()
            .all(|e| e.detail_type != "FulfillmentReady"),
        "not finalized yet: no FulfillmentReady"
    );
    let flagged = app
        .client
        .get_item()
        .table_name(&app.table)
        .set_key(Some(root_key(A, "SALE#late")))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        flagged.get("ready_check"),
        Some(&aws_sdk_dynamodb::types::AttributeValue::Bool(true))
    );

    // The redelivery, once the dead caller's lease has expired, completes the sale.
    tokio::time::sleep(app.store.sale_lease() + Duration::from_millis(200)).await;
    let done = app.finalize(A, "late", &[("X", 2)]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let after = stream_records(&app).await;
    deliver_to_order_events(&app, &bus, &order_events_records(&after[first.len()..])).await;
    let ready: Vec<Value> = bus
        .accepted()
        .iter()
        .filter(|e| e.detail_type == "FulfillmentReady")
        .map(|e| e.detail.clone())
        .collect();
    assert_eq!(ready.len(), 1, "{ready:#?}");
    assert_eq!(ready[0]["sale_id"], "late");
    assert_eq!(
        ready[0]["lines"],
        json!([{"sku": "X", "replenishment_id": rid, "units": 2}])
    );
}
