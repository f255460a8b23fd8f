//! fitbridge: brings people's wearable data into SAP Marketing Cloud.
//!
//! Organised by capability. Functions (the Lambda binaries) call the use cases here;
//! use cases talk to ports (small traits); adapters implement the ports over DynamoDB,
//! Secrets Manager, SQS and HTTP. Arrows point one way:
//! functions → use cases ([`connect`]) → ports ← adapters.

pub mod api;
pub mod clock;
pub mod config;
pub mod connect;
pub mod connect_link;
pub mod daily;
pub mod domain;
pub mod http_client;
pub mod marketing;
pub mod provider;
pub mod queue;
pub mod refresh;
pub mod secret;
pub mod secret_store;
pub mod signals;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod tokens;
pub mod webhook;
pub mod wiring;
