//! HTTP adapters: API Gateway HTTP API (payload 2.0) requests in, responses out.

pub mod oauth;
mod page;
pub mod sqs;
pub mod webhook;
