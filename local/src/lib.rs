//! Dev-only support: DynamoDB Local clients, the tables from `template.yaml`, a local HTTP server
//! that routes as API Gateway would, and the sales queue delivered to its consumer at once. Never
//! deployed.

pub mod client;
pub mod queue;
pub mod router;
pub mod server;
pub mod table;
