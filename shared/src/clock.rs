//! The clock adapters: the machine's clock, and a clock set by tests and simulations (the
//! port is [`crate::ports::clock::Clock`]).
//!
//! Invariant: [`SystemClock`] is the one reader of the wall clock in the library, and only
//! `wiring` hands it out.

use std::sync::Mutex;
use std::time::Instant;

use time::OffsetDateTime;

use crate::ports::clock::Clock;

/// The machine's clock: production.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock set to a chosen time, which then runs on like a watch (so code that waits a
/// few milliseconds sees time pass), and can be set again or moved on: tests and
/// simulations. [`SetClock::frozen`] makes one that stands still.
pub struct SetClock {
    at: Mutex<(OffsetDateTime, Instant)>,
    runs: bool,
}

impl SetClock {
    /// Shows `at` now, and runs on from there.
    pub fn new(at: OffsetDateTime) -> SetClock {
        SetClock {
            at: Mutex::new((at, Instant::now())),
            runs: true,
        }
    }

    /// Shows `at` until it is set or moved on.
    pub fn frozen(at: OffsetDateTime) -> SetClock {
        SetClock {
            runs: false,
            ..SetClock::new(at)
        }
    }

    /// Shows `at` now.
    pub fn set(&self, at: OffsetDateTime) {
        *self.at.lock().unwrap_or_else(|e| e.into_inner()) = (at, Instant::now());
    }

    /// Moves the clock on by `by`.
    pub fn advance(&self, by: time::Duration) {
        let now = self.now();
        self.set(now + by);
    }
}

impl Clock for SetClock {
    fn now(&self) -> OffsetDateTime {
        let (at, since) = *self.at.lock().unwrap_or_else(|e| e.into_inner());
        if self.runs {
            at + since.elapsed()
        } else {
            at
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_set_clock_shows_its_time_and_runs_on_unless_frozen() {
        let at = datetime!(2028-02-29 23:59:59 UTC);
        let running = SetClock::new(at);
        let first = running.now();
        assert!(first >= at && first - at < time::Duration::seconds(5));
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(running.now() > first);
        running.advance(time::Duration::days(1));
        assert_eq!(running.now().date(), time::macros::date!(2028 - 03 - 01));

        let frozen = SetClock::frozen(at);
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_eq!(frozen.now(), at);
        assert_eq!(frozen.timestamp().to_string(), "2028-02-29T23:59:59Z");
        frozen.set(datetime!(2026-12-31 12:00 UTC));
        assert_eq!(frozen.now(), datetime!(2026-12-31 12:00 UTC));
    }
}
