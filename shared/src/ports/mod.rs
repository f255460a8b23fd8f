//! The ports: the small traits through which use cases reach everything outside them —
//! providers and their catalog, storage, queues, the marketing system, signal events,
//! credentials, the clock — with their own neutral errors. Adapters implement them; a port
//! names only domain types and its own errors.

pub mod budget;
pub mod catalog;
pub mod clock;
pub mod marketing;
pub mod provider;
pub mod queue;
pub mod secrets;
pub mod signals;
pub mod store;
pub mod tokens;
