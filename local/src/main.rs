//! `backorder-local`: the functions behind one local HTTP server, on DynamoDB Local.
//!
//! - `backorder-local serve`: serve on `127.0.0.1:${PORT:-3000}` until interrupted (`make dev`).
//! - `backorder-local demo`: walk the merchant's test sale over HTTP and print the orders (`make demo`).
//!
//! DynamoDB Local is found at `AWS_ENDPOINT_URL_DYNAMODB` (else `127.0.0.1:${DYNAMODB_PORT:-8000}`).

mod demo;

use std::net::{Ipv4Addr, SocketAddr};

use backorder::{telemetry, Store};
use backorder_local::{client, server, table};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let command = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "serve".to_owned());
    let endpoint = client::endpoint_from_env();
    let dynamodb = client::local_client(&endpoint);
    match command.as_str() {
        "serve" => {
            telemetry::init_local();
            let table_name = std::env::var("TABLE_NAME")
                .ok()
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "backorder-local".to_owned());
            let port: u16 = std::env::var("PORT")
                .ok()
                .and_then(|p| p.parse().ok())
                .unwrap_or(3000);
            table::ensure_table(&dynamodb, &table_name).await?;
            let (addr, task) = server::start(
                Store::new(dynamodb, table_name.clone())
                    .with_shops_table(table::shops_table_name(&table_name)),
                SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            )
            .await?;
            eprintln!("table {table_name} on DynamoDB Local at {endpoint}");
            println!("listening on http://{addr}");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = task => {}
            }
            Ok(())
        }
        "demo" => {
            let table_name = format!(
                "backorder-demo-{}",
                ulid::Ulid::new().to_string().to_lowercase()
            );
            table::create_table(&dynamodb, &table_name).await?;
            let (addr, task) = server::start(
                Store::new(dynamodb.clone(), table_name.clone())
                    .with_shops_table(table::shops_table_name(&table_name)),
                SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            )
            .await?;
            let result = demo::run(addr).await;
            task.abort();
            let _ = dynamodb.delete_table().table_name(&table_name).send().await;
            let shops = table::shops_table_name(&table_name);
            let _ = dynamodb.delete_table().table_name(&shops).send().await;
            result
        }
        other => Err(format!("unknown command {other:?}; use `serve` or `demo`").into()),
    }
}
