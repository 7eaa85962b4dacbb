//! The merchant's test sale, over real HTTP against the local server.

use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Api {
    base: String,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

impl Api {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Error> {
        let (status, value) = self.call_status(method, path, body).await?;
        if !(200..300).contains(&status) {
            return Err(format!("{method} {path} failed: {status} {value}").into());
        }
        Ok(value)
    }

    /// A call whose answer may be an error: its status and body.
    async fn call_status(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), Error> {
        let req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path))
            .header("x-account-id", "demo")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(
                body.as_ref().map(Value::to_string).unwrap_or_default(),
            )))?;
        let resp = self.client.request(req).await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        let value: Value = serde_json::from_slice(&bytes)?;
        println!("{method:>4} {path:<44} -> {}", status.as_u16());
        Ok((status.as_u16(), value))
    }
}

fn sale(sku: &str, quantity: i64) -> Value {
    json!({"customer": "walk-in", "channel": "pos", "lines": [{"sku": sku, "quantity": quantity}]})
}

pub async fn run(addr: SocketAddr) -> Result<(), Error> {
    let api = Api {
        base: format!("http://{addr}"),
        client: Client::builder(TokioExecutor::new()).build_http(),
    };
    println!("local server on http://{addr}, account \"demo\"\n");

    println!("1. Turn on \"automatically back order items when out of stock\" and the SKU's \"Backorder\" policy; the vendor delivers 14 days after an order closes");
    api.call("PUT", "/settings", Some(json!({"auto_backorder": true})))
        .await?;
    api.call(
        "PUT",
        "/vendors/acme/settings",
        Some(json!({"auto_backorder_default": false, "lead_time_days": 14})),
    )
    .await?;
    api.call(
        "PUT",
        "/skus/CHAIR-1/settings",
        Some(json!({"auto_backorder": "backorder", "vendor_id": "acme"})),
    )
    .await?;

    println!("\n2. The SKU is already short: on_hand -2");
    api.call(
        "PUT",
        "/skus/CHAIR-1/inventory",
        Some(json!({"on_hand": -2})),
    )
    .await?;

    println!("\n3. Finalize a sale of 3: an auto-back-ordered replenishment order opens");
    let first = api
        .call("POST", "/sales/S-1001/finalize", Some(sale("CHAIR-1", 3)))
        .await?;
    let order_1 = first["lines"][0]["replenishment_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    println!(
        "     on_hand_after {}, backordered {}, order {order_1}",
        first["lines"][0]["on_hand_after"], first["lines"][0]["backordered"]
    );

    println!("\n4. A second sale of 2 adds to the same open order");
    let second = api
        .call("POST", "/sales/S-1002/finalize", Some(sale("CHAIR-1", 2)))
        .await?;
    println!(
        "     on_hand_after {}, backordered {}, order {}",
        second["lines"][0]["on_hand_after"],
        second["lines"][0]["backordered"],
        second["lines"][0]["replenishment_id"]
    );
    if second["lines"][0]["replenishment_id"] != json!(order_1) {
        return Err("the second sale did not add to the open order".into());
    }

    println!("\n5. Retrying the first sale changes nothing (same response)");
    let replay = api
        .call("POST", "/sales/S-1001/finalize", Some(sale("CHAIR-1", 3)))
        .await?;
    if replay != first {
        return Err("the replay differs from the first response".into());
    }

    println!("\n6. Close the order (finalize the replenishment)");
    let closed = api
        .call("POST", &format!("/replenishments/{order_1}/close"), None)
        .await?;
    println!(
        "     status {}, quantity {}, expected_at {}",
        closed["status"], closed["quantity"], closed["expected_at"]
    );

    println!("\n7. A third sale opens a new order");
    let third = api
        .call("POST", "/sales/S-1003/finalize", Some(sale("CHAIR-1", 4)))
        .await?;
    let order_2 = third["lines"][0]["replenishment_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if order_2.is_empty() || order_2 == order_1 {
        return Err("the third sale did not open a new order".into());
    }

    println!("\n8. The first order's audit trail: the sales that fed it");
    let trail = api
        .call("GET", &format!("/replenishments/{order_1}/sales"), None)
        .await?;
    for c in trail["items"].as_array().cloned().unwrap_or_default() {
        println!("     {} added {}", c["sale_id"], c["units"]);
    }

    println!("\n9. Who is waiting for CHAIR-1, oldest first?");
    let waiting = api.call("GET", "/skus/CHAIR-1/awaiting", None).await?;
    for w in waiting["items"].as_array().cloned().unwrap_or_default() {
        println!(
            "     {} waits for {} on {} since {}, expected {}",
            w["sale_id"], w["awaiting"], w["replenishment_id"], w["at"], w["expected_at"]
        );
    }

    println!("\n10. 3 of the first order's 5 units arrive: they go to the oldest sale first");
    let dock_1 = api
        .call(
            "POST",
            &format!("/replenishments/{order_1}/receipts"),
            Some(json!({"receipt_id": "dock-1", "quantity": 3})),
        )
        .await?;
    println!(
        "     received {}, released {}",
        dock_1["received"], dock_1["released"]
    );
    if dock_1["released"] != json!([{"sale_id": "S-1001", "units": 3}]) {
        return Err("the receipt did not release the oldest sale first".into());
    }
    let first_now = api.call("GET", "/sales/S-1001", None).await?;
    let second_now = api.call("GET", "/sales/S-1002", None).await?;
    println!(
        "     S-1001 is {}; S-1002 is {}: {} units awaited, expected {}",
        first_now["fulfillment"]["stock_status"],
        second_now["fulfillment"]["stock_status"],
        second_now["lines"][0]["awaiting"],
        second_now["lines"][0]["expected_at"]
    );
    if first_now["fulfillment"]["stock_status"] != "ready"
        || second_now["lines"][0]["expected_at"] != closed["expected_at"]
    {
        return Err("the first sale is not ready, or the second has no expected date".into());
    }

    println!("\n11. The other 2 arrive: S-1002 is ready too (stock went up by 5 in all)");
    let dock_2 = api
        .call(
            "POST",
            &format!("/replenishments/{order_1}/receipts"),
            Some(json!({"receipt_id": "dock-2", "quantity": 2})),
        )
        .await?;
    let second_now = api.call("GET", "/sales/S-1002", None).await?;
    println!(
        "     received {}, receipt_status {}, released {}; S-1002 is {}",
        dock_2["received"],
        dock_2["receipt_status"],
        dock_2["released"],
        second_now["fulfillment"]["stock_status"]
    );

    println!(
        "\n12. The third sale is cancelled: its 4 units go back to stock and out of the open order"
    );
    let cancelled = api.call("POST", "/sales/S-1003/cancel", None).await?;
    println!(
        "     restored {}, taken back {}, left in closed orders {}",
        cancelled["lines"][0]["restored"],
        cancelled["lines"][0]["taken_back"],
        cancelled["not_taken_back"]
    );

    println!("\n13. The vendor sells in cases of 6, and 10 units at least: a sale of 3 goes into the open order, whose close orders 12");
    api.call(
        "PUT",
        "/vendors/acme/settings",
        Some(json!({"pack_size": 6, "min_order_units": 10})),
    )
    .await?;
    let fourth = api
        .call("POST", "/sales/S-1004/finalize", Some(sale("CHAIR-1", 3)))
        .await?;
    let closed_2 = api
        .call("POST", &format!("/replenishments/{order_2}/close"), None)
        .await?;
    println!(
        "     S-1004 back-ordered {} into {}; closed: quantity {} owed to sales, ordered_quantity {}, surplus {} for stock",
        fourth["lines"][0]["backordered"],
        fourth["lines"][0]["replenishment_id"],
        closed_2["quantity"],
        closed_2["ordered_quantity"],
        closed_2["surplus"]
    );
    if closed_2["ordered_quantity"] != json!(12) {
        return Err("the close did not order whole cases of at least the minimum".into());
    }

    println!("\n14. Pre-orders stop 5 below zero: a back-order limit of 5, and a sale past it is refused, writing nothing");
    api.call(
        "PUT",
        "/skus/CHAIR-1/settings",
        Some(json!({"backorder_limit": 5})),
    )
    .await?;
    let refused = api
        .call_status("POST", "/sales/S-1005/finalize", Some(sale("CHAIR-1", 1)))
        .await?;
    println!(
        "     {} {}: {}",
        refused.0, refused.1["error"]["code"], refused.1["error"]["message"]
    );
    if refused.0 != 409 {
        return Err("the sale past the back-order limit was not refused".into());
    }

    let inventory = api.call("GET", "/skus/CHAIR-1/inventory", None).await?;
    let orders = api.call("GET", "/replenishments", None).await?;
    println!(
        "\nReplenishment orders (newest first); CHAIR-1 on_hand {}\n",
        inventory["on_hand"]
    );
    println!(
        "{:<28} {:<9} {:<7} {:>8} {:>8} {:>8}  {:<16} vendor",
        "replenishment_id", "sku", "status", "quantity", "ordered", "received", "tags"
    );
    for o in orders["items"].as_array().cloned().unwrap_or_default() {
        println!(
            "{:<28} {:<9} {:<7} {:>8} {:>8} {:>8}  {:<16} {}",
            o["replenishment_id"].as_str().unwrap_or_default(),
            o["sku"].as_str().unwrap_or_default(),
            o["status"].as_str().unwrap_or_default(),
            o["quantity"].as_i64().unwrap_or_default(),
            o["ordered_quantity"]
                .as_i64()
                .map_or("-".to_owned(), |q| q.to_string()),
            o["received"].as_i64().unwrap_or_default(),
            o["tags"]
                .as_array()
                .map(|t| t
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","))
                .unwrap_or_default(),
            o["vendor_id"].as_str().unwrap_or("-"),
        );
    }
    if inventory["on_hand"] != json!(-5) {
        return Err(format!(
            "expected on_hand -5 (-2 -3 -2 -4 +5 +4 -3), got {}",
            inventory["on_hand"]
        )
        .into());
    }
    println!("\ndemo finished: 3 + 2 units went to the first order (received, released to S-1001 then S-1002), 4 to the second (cancelled), then 3 more (ordered as 12), and the limit refused the next.");
    Ok(())
}
