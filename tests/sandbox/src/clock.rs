//! The provider sandboxes' clock: the wall clock plus an offset tests set or advance, so
//! tokens, codes and rate windows expire, and the synthetic people's "today" moves, without
//! anyone sleeping.
//!
//! Invariants: the clock runs at the wall clock's pace from wherever it was last set or
//! advanced to; nothing else moves it. Forced throttles do not follow it: they run on real
//! time, since tests wait for them ([`crate::forced_throttles`]).

use time::OffsetDateTime;

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SandboxClock {
    /// Added to the wall clock.
    offset: time::Duration,
}

impl SandboxClock {
    pub(crate) fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.offset
    }

    /// From now on the clock reads `at`, and runs on from there.
    pub(crate) fn set(&mut self, at: OffsetDateTime) {
        self.offset = at - OffsetDateTime::now_utc();
    }

    pub(crate) fn advance(&mut self, secs: i64) {
        self.offset += time::Duration::seconds(secs);
    }
}
