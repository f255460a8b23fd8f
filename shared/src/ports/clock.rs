//! Port: time as an input. Every use case and adapter that needs "now" asks a [`Clock`]
//! it was given, never the system.
//!
//! Invariants:
//! - Only the system clock adapter ([`crate::clock::SystemClock`]) reads the wall clock,
//!   and only `wiring` hands it out; tests and simulations hand out a set clock.
//! - Elapsed time within one process (timeouts, cache ages, backoff sleeps) is measured
//!   with `std::time::Instant`/`tokio::time`, which no date can break; a [`Clock`] is for
//!   what is compared with dates and stored times: expiries, leases, "yesterday".

use std::sync::Arc;

use time::OffsetDateTime;

/// Port: what time it is.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;

    /// The same instant, as the time-zone arithmetic of [`crate::domain::local_day`] takes it.
    fn timestamp(&self) -> jiff::Timestamp {
        to_timestamp(self.now())
    }
}

/// A clock as services hold it.
pub type SharedClock = Arc<dyn Clock>;

/// `t` as a `jiff::Timestamp`.
pub fn to_timestamp(t: OffsetDateTime) -> jiff::Timestamp {
    jiff::Timestamp::from_nanosecond(t.unix_timestamp_nanos())
        .expect("an OffsetDateTime is within jiff's range")
}
