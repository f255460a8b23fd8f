//! A person's local (civil) day: providers' days are the person's own, in their time zone.
//! An unknown or missing time zone counts as UTC.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use time::Date;

/// The person's today at `now`. An unknown or missing time zone counts as UTC.
pub fn today(timezone: Option<&str>, now: Timestamp) -> Date {
    let tz = timezone
        .and_then(|name| TimeZone::get(name).ok())
        .unwrap_or(TimeZone::UTC);
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

#[cfg(test)]
mod tests {
    use super::*;

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
