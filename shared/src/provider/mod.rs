//! The provider adapters: one folder per provider, each implementing the provider ports
//! ([`crate::ports::provider`]) over its own API, plus an in-memory provider for the
//! use-case tests, and the registry — the one list of them, which builds the clients, the
//! webhooks and the catalog for wiring; and OAuth 2.0 as all of them speak it.

pub mod fitbit;
pub mod google_health;
pub mod memory;
pub mod notification_body;
pub mod oauth2;
pub mod polar;
pub mod registry;
