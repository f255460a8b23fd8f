//! Deterministic synthetic data and the JSON shapes of the discovery schemas: what every
//! data type shares here (timestamps, civil times, intervals, data sources, the person's
//! strides and planned day), each data type in its own module.
//!
//! Every value derives from a hash of (user, day, kind), so a day always answers the same
//! across runs and sandbox instances (a lapsing person's days also depend on the sandbox's
//! today, see [`crate::synthetic`]). A pattern's planned workouts are the day's exercise,
//! and their steps, distance and minutes are part of the day's totals. Times are built in
//! the user's time zone (a small built-in table with DST rules), so sessions carry the local
//! UTC offset of their start and end, and civil times are the local wall-clock times.

mod activity;
mod exercise;
mod sleep;
mod weight;

use serde_json::{json, Map, Value};
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

pub(super) use activity::{activity_rollup, day_activity, DayActivity};
pub(super) use exercise::{exercise_point, recorded_exercise, synthetic_exercise, ExerciseSession};
pub(super) use sleep::{recorded_sleep, sleep_point, synthetic_sleep, SleepSession};
pub(super) use weight::{
    recorded_weight, synthetic_weight, weight_point, weight_rollup, WeightSample,
};

use super::GoogleUser;
use crate::civil_time::{from_local, local_date, to_local};
use crate::synthetic::{pattern_day, PatternDay, Seed};

/// A 21-digit OpenID subject derived from the health user id.
pub(super) fn derived_sub(health_user_id: &str) -> String {
    let mut seed = Seed::new(&[health_user_id, "openid-sub"]);
    format!("1{:020}", seed.next() % 10_000_000_000_000_000_000)
}

/// RFC 3339, Z-normalized, as Google emits timestamps.
pub(super) fn timestamp(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .expect("formattable timestamp")
}

/// A `google-duration` of whole seconds, e.g. `"-25200s"`.
pub(super) fn duration_json(secs: i64) -> String {
    format!("{secs}s")
}

pub(super) fn offset_json(at: OffsetDateTime) -> String {
    duration_json(i64::from(at.offset().whole_seconds()))
}

/// The `Date` message (`{"year","month","day"}`).
pub(super) fn date_json(date: Date) -> Value {
    json!({ "year": date.year(), "month": date.month() as u8, "day": date.day() })
}

/// The `TimeOfDay` message in proto3 JSON: zero fields left out, midnight is `{}`.
fn time_of_day_json(at: PrimitiveDateTime) -> Value {
    let mut time = Map::new();
    for (name, value) in [
        ("hours", at.hour()),
        ("minutes", at.minute()),
        ("seconds", at.second()),
    ] {
        if value != 0 {
            time.insert(name.to_owned(), json!(value));
        }
    }
    Value::Object(time)
}

/// The `CivilDateTime` message of a local wall-clock time.
pub(super) fn civil_json(at: PrimitiveDateTime) -> Value {
    json!({ "date": date_json(at.date()), "time": time_of_day_json(at) })
}

fn primitive(at: OffsetDateTime) -> PrimitiveDateTime {
    PrimitiveDateTime::new(at.date(), at.time())
}

/// `YYYY-MM-DDTHH:MM:SS`, the civil ISO 8601 form of notifications.
pub(super) fn civil_iso(at: PrimitiveDateTime) -> String {
    at.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]"
    ))
    .expect("formattable civil time")
}

/// A local instant's interval fields (`SessionTimeInterval` / `ObservationTimeInterval`).
pub(super) fn interval_json(start: OffsetDateTime, end: OffsetDateTime) -> Value {
    json!({
        "startTime": timestamp(start),
        "startUtcOffset": offset_json(start),
        "endTime": timestamp(end),
        "endUtcOffset": offset_json(end),
        "civilStartTime": civil_json(primitive(start)),
        "civilEndTime": civil_json(primitive(end)),
    })
}

/// Walking stride (41.5 % of height) in millimetres.
pub(super) fn walking_stride_mm(user: &GoogleUser) -> u64 {
    (user.height_cm * 4.15).round() as u64
}

pub(super) fn running_stride_mm(user: &GoogleUser) -> u64 {
    (user.height_cm * 6.5).round() as u64
}

/// The person's day under their activity pattern (`None` for the default pattern).
fn planned_day(user: &GoogleUser, day: Date, today: Date) -> Option<PatternDay> {
    let person = user
        .legacy_user_id
        .as_deref()
        .unwrap_or(&user.health_user_id);
    pattern_day(user.activity_pattern(), person, day, today)
}

fn data_source(recorded: bool, form_factor: &str) -> Value {
    let device = match form_factor {
        "SCALE" => {
            json!({ "formFactor": "SCALE", "manufacturer": "Google", "displayName": "Aria Air" })
        }
        _ => {
            json!({ "formFactor": "WATCH", "manufacturer": "Google", "displayName": "Pixel Watch 3" })
        }
    };
    json!({
        "recordingMethod": if recorded { "MANUAL" } else if form_factor == "SCALE" { "ACTIVELY_MEASURED" } else { "PASSIVELY_MEASURED" },
        "device": device,
        "platform": "FITBIT",
    })
}

/// Local midnight of a civil date in the user's zone.
pub(super) fn local_midnight(user: &GoogleUser, day: Date) -> OffsetDateTime {
    from_local(&user.time_zone, day.midnight())
}

/// Hours since local midnight as a fraction of the day (for "today").
pub(super) fn elapsed_fraction(user: &GoogleUser, day: Date, now: OffsetDateTime) -> f64 {
    let today = local_date(&user.time_zone, now);
    if day < today {
        1.0
    } else if day > today {
        0.0
    } else {
        let local = to_local(&user.time_zone, now);
        f64::from(local.hour() as u32 * 3600 + local.minute() as u32 * 60 + local.second() as u32)
            / 86_400.0
    }
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};
    use time::Month;

    use super::*;
    use crate::civil_time::utc_offset_secs;

    #[test]
    fn offsets_follow_dst_and_format_like_google() {
        let summer = datetime!(2026-07-01 12:00 UTC);
        assert_eq!(utc_offset_secs("America/Los_Angeles", summer), -25_200);
        assert_eq!(utc_offset_secs("Europe/Berlin", summer), 7200);
        assert_eq!(
            utc_offset_secs("Europe/Berlin", datetime!(2026-12-01 12:00 UTC)),
            3600
        );
        let local = to_local("America/Los_Angeles", summer);
        assert_eq!(offset_json(local), "-25200s");
        assert_eq!(timestamp(local), "2026-07-01T12:00:00Z");
        assert_eq!(
            civil_json(primitive(local)),
            json!({"date": {"year": 2026, "month": 7, "day": 1}, "time": {"hours": 5}})
        );
        assert_eq!(
            civil_json(date!(2026 - 07 - 01).midnight()),
            json!({"date": {"year": 2026, "month": 7, "day": 1}, "time": {}})
        );
    }

    #[test]
    fn nights_span_midnight_and_stages_cover_them() {
        let user = GoogleUser::new("123", "A", "B");
        for day in 1..=28 {
            let date = Date::from_calendar_date(2026, Month::October, day).unwrap();
            let sessions = synthetic_sleep(&user, date);
            let night = &sessions[0];
            assert!(night.main && !night.nap);
            assert!(
                night.start.date() < date && night.end.date() == date,
                "{night:?}"
            );
            assert!(night.start.hour() >= 22 && night.end.hour() <= 8);
            assert_eq!(night.stages.first().unwrap().start, night.start);
            assert_eq!(night.stages.last().unwrap().end, night.end);
            for pair in night.stages.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
            }
        }
    }
}
