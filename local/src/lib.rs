//! Dev-only support: DynamoDB Local clients, the table from `template.yaml`, and a local HTTP
//! server that routes as API Gateway would. Never deployed.

pub mod client;
pub mod router;
pub mod server;
pub mod table;
