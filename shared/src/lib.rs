//! fitbridge: brings people's wearable data into SAP Marketing Cloud.
//!
//! Arrows point one way: functions → inbound adapters ([`inbound`]) → use cases
//! ([`use_cases`]) → ports ([`ports`]) ← adapters ([`store`], [`queue`], [`budget`], [`marketing`],
//! [`provider`], [`events`], [`secret_store`], [`clock`]); the [`domain`] is the ground and
//! imports nothing of the crate but itself. [`config`] reads the environment, once;
//! [`wiring`] builds the adapters from it and hands them to the use cases as ports. The
//! architecture test (`tests/use_cases/architecture.rs`) holds these rules.

pub mod budget;
pub mod clock;
pub mod config;
pub mod domain;
pub mod events;
#[cfg(feature = "aws")]
pub mod http_client;
pub mod inbound;
pub mod marketing;
pub mod ports;
pub mod provider;
pub mod queue;
pub mod secret_store;
pub mod settings;
pub mod store;
pub mod telemetry;
pub mod use_cases;
#[cfg(feature = "aws")]
pub mod wiring;
