//! A person's local (civil) day: providers' days are the person's own, in their time zone.
//! An unknown or missing time zone counts as UTC.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use time::Date;

/// The person's time zone; an unknown or missing one counts as UTC.
fn zone(timezone: Option<&str>) -> TimeZone {
    timezone
        .and_then(|name| TimeZone::get(name).ok())
        .unwrap_or(TimeZone::UTC)
}

/// The person's today at `now`. An unknown or missing time zone counts as UTC.
pub fn today(timezone: Option<&str>, now: Timestamp) -> Date {
    let tz = zone(timezone);
    let today = now.to_zoned(tz).date();
    Date::from_calendar_date(
        today.year() as i32,
        time::Month::try_from(today.month() as u8).expect("1..=12"),
        today.day() as u8,
    )
    .expect("a civil date converts")
}

/// The person's yesterday at `now`. An unknown or missing time zone counts as UTC.
pub fn yesterday(timezone: Option<&str>, now: Timestamp) -> Date {
    today(timezone, now)
        .previous_day()
        .expect("not the first day of time")
}

/// The instant `date` ends for the person: the local midnight after it (a day whose
/// midnight falls in a DST gap ends when the next day starts). An unknown or missing time
/// zone counts as UTC.
pub fn end_of(timezone: Option<&str>, date: Date) -> Timestamp {
    let tz = zone(timezone);
    jiff::civil::date(
        date.year() as i16,
        u8::from(date.month()) as i8,
        date.day() as i8,
    )
    .tomorrow()
    .and_then(|next| next.to_zoned(tz))
    .map(|z| z.timestamp())
    .unwrap_or(Timestamp::MAX)
}

/// A stable number for `key` (FNV-1a): the same in every build and process, so a person
/// keeps their place in the paced daily pull from one night, and one deployment, to the next.
pub fn stable_hash(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The paced daily pull: a person's yesterday is due at their own fixed point, `offset`
/// seconds after a local midnight (`offset` below the pacing window). Returns the first such
/// point at or after `from`, and the day it pulls (the day before that midnight).
pub fn paced_point(timezone: Option<&str>, offset: i64, from: Timestamp) -> (Timestamp, Date) {
    let tz = zone(timezone);
    let mut date = from.to_zoned(tz.clone()).date();
    loop {
        // The first instant of the local day (a day starting in a DST gap starts later).
        let midnight = date
            .to_zoned(tz.clone())
            .map(|z| z.timestamp())
            .unwrap_or(from);
        let point = midnight
            .checked_add(jiff::SignedDuration::from_secs(offset))
            .unwrap_or(midnight);
        if point >= from {
            let day = yesterday(timezone, midnight);
            return (point, day);
        }
        date = date.tomorrow().expect("not the last day of time");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_ends_at_the_persons_next_local_midnight() {
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let day = time::macros::date!(2026 - 12 - 06);
        assert_eq!(
            end_of(Some("Europe/Berlin"), day),
            at("2026-12-06T23:00:00Z")
        );
        assert_eq!(
            end_of(Some("America/New_York"), day),
            at("2026-12-07T05:00:00Z")
        );
        assert_eq!(end_of(None, day), at("2026-12-07T00:00:00Z"));
        // The day before summer time in Berlin ends at 23:00 UTC, the day after at 22:00.
        let before = time::macros::date!(2027 - 03 - 27);
        assert_eq!(
            end_of(Some("Europe/Berlin"), before),
            at("2027-03-27T23:00:00Z")
        );
        assert_eq!(
            end_of(Some("Europe/Berlin"), before.next_day().unwrap()),
            at("2027-03-28T22:00:00Z")
        );
    }

    #[test]
    fn a_paced_point_falls_after_the_next_local_midnight_and_pulls_the_day_before() {
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        // 22:30 UTC is 23:30 in Berlin: the next point is 00:10 Berlin, pulling the 20th.
        let (point, day) = paced_point(Some("Europe/Berlin"), 600, at("2026-11-20T22:30:00Z"));
        assert_eq!(point, at("2026-11-20T23:10:00Z"));
        assert_eq!(day.to_string(), "2026-11-20");
        // Just after today's point: tomorrow's.
        let (point, day) = paced_point(Some("Europe/Berlin"), 600, at("2026-11-20T23:10:01Z"));
        assert_eq!(point, at("2026-11-21T23:10:00Z"));
        assert_eq!(day.to_string(), "2026-11-21");
        // The point itself counts.
        let (point, _) = paced_point(None, 0, at("2026-11-21T00:00:00Z"));
        assert_eq!(point, at("2026-11-21T00:00:00Z"));
        assert_eq!(
            stable_hash("a"),
            0xaf63_dc4c_8601_ec8c,
            "FNV-1a, as published"
        );
    }

    #[test]
    fn yesterday_is_local() {
        // 2026-11-21 01:30 UTC: already the 21st in Berlin, still the 20th in Los Angeles.
        let now: Timestamp = "2026-11-21T01:30:00Z".parse().unwrap();
        assert_eq!(
            yesterday(Some("Europe/Berlin"), now).to_string(),
            "2026-11-20"
        );
        assert_eq!(
            yesterday(Some("America/Los_Angeles"), now).to_string(),
            "2026-11-19"
        );
        assert_eq!(
            yesterday(Some("Pacific/Kiritimati"), now).to_string(),
            "2026-11-20"
        );
        assert_eq!(yesterday(None, now).to_string(), "2026-11-20");
        assert_eq!(
            yesterday(Some("Mars/Olympus"), now).to_string(),
            "2026-11-20"
        );
    }

    #[test]
    fn today_is_local() {
        let now: Timestamp = "2026-11-21T01:30:00Z".parse().unwrap();
        assert_eq!(today(Some("Europe/Berlin"), now).to_string(), "2026-11-21");
        assert_eq!(
            today(Some("America/Los_Angeles"), now).to_string(),
            "2026-11-20"
        );
        assert_eq!(today(None, now).to_string(), "2026-11-21");
    }
}
