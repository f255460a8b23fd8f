//! AccessLink wire types (contract: `tests/contracts/polar-accesslink/accesslink-api-v3.md`,
//! section "Schemas") and their mapping to the domain. Parsing is lenient: the page marks
//! every field optional, numbers may come as floats, unknown fields are ignored.

use serde::Deserialize;
use serde_json::Value;

use crate::domain::work::iso_date;
use crate::domain::{DaySummary, Gender, Profile};

/// The token endpoint's answer.
#[derive(Deserialize)]
pub(super) struct TokenResponse {
    pub access_token: String,
    /// About a year (`31535999`); Polar says its tokens do not expire unless revoked.
    #[serde(default)]
    pub expires_in: Option<i64>,
    /// The Polar user id, a number.
    #[serde(default)]
    pub x_user_id: Value,
}

/// The API's `error` schema; only `errorType` is kept (messages may echo input).
#[derive(Deserialize, Default)]
pub(super) struct ApiError {
    #[serde(rename = "errorType", default)]
    pub error_type: String,
}

/// A Polar id as the wire carries it: a number (sometimes a string); `None` if neither.
pub(super) fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.to_owned())
        }
        _ => None,
    }
}

/// Schema `user`: the registered person (`POST /v3/users`, `GET /v3/users/{user-id}`).
#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case", default)]
pub(super) struct User {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// `yyyy-MM-dd`.
    pub birthdate: Option<String>,
    /// `MALE` or `FEMALE`.
    pub gender: Option<String>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

impl User {
    /// What the contact gets: name, gender and birth date. Polar tells no country,
    /// language, time zone or email.
    pub fn into_profile(self) -> Profile {
        let first_name = non_empty(self.first_name);
        let last_name = non_empty(self.last_name);
        let full_name = match (&first_name, &last_name) {
            (None, None) => None,
            (first, last) => Some(
                [first.as_deref(), last.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        };
        Profile {
            full_name,
            first_name,
            last_name,
            gender: non_empty(self.gender).map(|g| match g.to_ascii_uppercase().as_str() {
                "FEMALE" => Gender::Female,
                "MALE" => Gender::Male,
                _ => Gender::Unknown,
            }),
            birth_date: self.birthdate.as_deref().and_then(iso_date::parse),
            ..Default::default()
        }
    }
}

/// A count as the wire may write it (`8823`, `8823.0`): whole, not negative, finite.
fn count(value: Option<f64>) -> Option<u64> {
    value
        .filter(|v| v.is_finite() && *v >= 0.0 && *v < 1e15)
        .map(|v| v.round() as u64)
}

/// Schema `activity-summary` (`GET /v3/users/activities/{date}`), only what we import.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ActivitySummary {
    /// ISO 8601, `PT3H11M`.
    active_duration: Option<String>,
    /// Total kcal of the day.
    calories: Option<f64>,
    steps: Option<f64>,
    /// Metres.
    distance_from_steps: Option<f64>,
}

impl ActivitySummary {
    /// The day, with the end minutes of its exercises (`workout_ends`).
    pub fn into_summary(self, workout_ends: Vec<u16>) -> DaySummary {
        DaySummary {
            steps: count(self.steps),
            distance_km: self
                .distance_from_steps
                .filter(|m| m.is_finite() && *m >= 0.0)
                .map(|m| m / 1000.0),
            calories_out: count(self.calories),
            active_minutes: self
                .active_duration
                .as_deref()
                .and_then(iso_duration_secs)
                .map(|secs| (secs / 60.0).floor() as u64),
            workout_ends,
            ..Default::default()
        }
    }
}

/// Schema `sleep` (`GET /v3/users/sleep/{date}`): the night that ended on the date, its
/// stages in seconds.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct Sleep {
    light_sleep: Option<f64>,
    deep_sleep: Option<f64>,
    rem_sleep: Option<f64>,
    unrecognized_sleep_stage: Option<f64>,
}

impl Sleep {
    /// Minutes asleep: every stage between falling asleep and waking up (light, deep, REM
    /// and the time Polar could not tell the stage of), not the interruptions. A night
    /// without any is no interaction.
    pub fn into_summary(self) -> DaySummary {
        let stages = [
            self.light_sleep,
            self.deep_sleep,
            self.rem_sleep,
            self.unrecognized_sleep_stage,
        ];
        let seconds: f64 = stages
            .into_iter()
            .flatten()
            .filter(|s| s.is_finite() && *s > 0.0)
            .sum();
        DaySummary {
            minutes_asleep: (seconds >= 60.0).then(|| (seconds / 60.0).floor() as u64),
            ..Default::default()
        }
    }
}

/// Schema `exerciseHashId` (`GET /v3/exercises`), only when it started and how long.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct Exercise {
    /// Local time without offset: `2008-10-13T10:40:02`.
    start_time: Option<String>,
    /// ISO 8601: `PT2H44M`.
    duration: Option<String>,
}

/// The local time of day in seconds of `yyyy-MM-ddTHH:mm[:ss[.fff]]`, with its date.
fn local_start(text: &str) -> Option<(time::Date, u32)> {
    let (date, time) = text.trim().split_once('T')?;
    let date = iso_date::parse(date)?;
    let mut parts = time.split(':');
    let number = |p: Option<&str>| -> Option<u32> {
        let p = p?;
        (p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse().ok())
            .flatten()
    };
    let hours = number(parts.next())?;
    let minutes = number(parts.next())?;
    let seconds = match parts.next() {
        // Fractions of a second, or an offset Polar does not write, are cut off.
        Some(s) => number(s.get(..2))?,
        None => 0,
    };
    (hours < 24 && minutes < 60 && seconds < 60)
        .then_some((date, hours * 3600 + minutes * 60 + seconds))
}

impl Exercise {
    /// The minute after the person's local midnight at which the exercise ended, if it
    /// started on `date`; one running past midnight ends at 23:59 of its day.
    pub fn end_minute_on(&self, date: time::Date) -> Option<u16> {
        let (day, start) = local_start(self.start_time.as_deref()?)?;
        if day != date {
            return None;
        }
        let duration = self
            .duration
            .as_deref()
            .and_then(iso_duration_secs)
            .unwrap_or(0.0);
        let end = (f64::from(start) + duration) / 60.0;
        Some(end.floor().min(1_439.0) as u16)
    }
}

/// The seconds of an ISO 8601 duration as AccessLink writes them: `PT3H11M`,
/// `PT18H23M30S`, `PT210.026S`, `P1DT2H`. Years and months (of no fixed length) and
/// negative durations are refused, as is anything else.
pub(super) fn iso_duration_secs(text: &str) -> Option<f64> {
    let rest = text.trim().strip_prefix('P')?;
    let (date_part, time_part) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut total = 0.0;
    let mut components = 0;
    let mut add = |part: &str, units: &[(char, f64)]| -> Option<()> {
        let mut number = String::new();
        let mut allowed = units.iter();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' || c == ',' {
                number.push(if c == ',' { '.' } else { c });
                continue;
            }
            // Units come in order, each at most once.
            let (_, seconds) = allowed.by_ref().find(|(unit, _)| *unit == c)?;
            if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
                return None;
            }
            let value: f64 = number.parse().ok()?;
            total += value * seconds;
            components += 1;
            number.clear();
        }
        number.is_empty().then_some(())
    };
    add(date_part, &[('W', 604_800.0), ('D', 86_400.0)])?;
    if let Some(time_part) = time_part {
        if time_part.is_empty() {
            return None;
        }
        add(time_part, &[('H', 3_600.0), ('M', 60.0), ('S', 1.0)])?;
    }
    (components > 0 && total.is_finite()).then_some(total)
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    #[test]
    fn iso_8601_durations_as_accesslink_writes_them() {
        for (text, secs) in [
            ("PT2H44M", 9_840.0),
            ("PT45M30S", 2_730.0),
            ("PT3H11M", 11_460.0),
            ("PT18H23M30S", 66_210.0),
            ("PT0S", 0.0),
            ("PT45S", 45.0),
            ("PT4S", 4.0),
            ("PT210.026S", 210.026),
            ("PT1,5S", 1.5),
            ("P1DT2H", 93_600.0),
            ("P1D", 86_400.0),
            ("P1W", 604_800.0),
            (" PT1H ", 3_600.0),
        ] {
            assert_eq!(iso_duration_secs(text), Some(secs), "{text}");
        }
        for bad in [
            "", "P", "PT", "T1H", "PT1H1H", "PT1M1H", "P1Y", "P1M", "-PT1H", "PT.5S", "PT5.S",
            "PT1X", "PTH", "pt1h", "PT1H30", "3H", "P1DT",
        ] {
            assert_eq!(iso_duration_secs(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_pages_activity_example_maps_to_a_day() {
        // The example answer of `GET /v3/users/activities/{date}` (samples left out).
        let body = r#"{"start_time":"2025-08-13T08:15:30","end_time":"2025-08-13T23:59:59",
            "active_duration":"PT3H11M","inactive_duration":"PT18H23M30S","daily_activity":89.1,
            "calories":2500,"active_calories":1500,"steps":8823,"inactivity_alert_count":1,
            "distance_from_steps":4590.53,
            "samples":{"date":"2022-02-10","steps":{"interval_ms":0,"total_steps":0,
              "samples":[{"steps":0,"timestamp":"2025-08-14T00:02"}]}}}"#;
        let day = serde_json::from_str::<ActivitySummary>(body)
            .unwrap()
            .into_summary(vec![1_100]);
        assert_eq!(day.steps, Some(8_823));
        assert_eq!(day.calories_out, Some(2_500));
        assert_eq!(day.active_minutes, Some(191));
        assert!((day.distance_km.unwrap() - 4.590_53).abs() < 1e-9);
        assert_eq!(day.workout_ends, [1_100]);
        assert_eq!(day.minutes_asleep, None);
        // Floats where the page says integers, a fraction of a minute cut off, nothing
        // else: only what is there.
        let sparse = r#"{"steps":8823.0,"active_duration":"PT45M30S","calories":-1}"#;
        let day = serde_json::from_str::<ActivitySummary>(sparse)
            .unwrap()
            .into_summary(vec![]);
        assert_eq!(
            (day.steps, day.active_minutes, day.calories_out),
            (Some(8_823), Some(45), None)
        );
        assert_eq!(day.distance_km, None);
        let nothing = serde_json::from_str::<ActivitySummary>("{}").unwrap();
        assert!(nothing.into_summary(vec![]).metrics().is_empty());
    }

    #[test]
    fn the_pages_sleep_example_counts_every_stage_asleep() {
        let body = r#"{"polar_user":"https://www.polaraccesslink/v3/users/1","date":"2020-01-01",
            "sleep_start_time":"2020-01-01T00:39:07+03:00","sleep_end_time":"2020-01-01T09:19:37+03:00",
            "device_id":"1111AAAA","continuity":2.1,"continuity_class":2,"light_sleep":1000,
            "deep_sleep":1000,"rem_sleep":1000,"unrecognized_sleep_stage":1000,"sleep_score":80,
            "total_interruption_duration":1000,"sleep_charge":3,"sleep_goal":28800,
            "sleep_rating":3,"short_interruption_duration":500,"long_interruption_duration":300,
            "sleep_cycles":6,"group_duration_score":100,"group_solidity_score":75,
            "group_regeneration_score":54.2,"hypnogram":{"00:39":2,"00:50":3,"01:23":6},
            "heart_rate_samples":{"00:41":76,"00:46":77,"00:51":76}}"#;
        let night = serde_json::from_str::<Sleep>(body).unwrap().into_summary();
        assert_eq!(night.minutes_asleep, Some(66), "4000 s asleep");
        let empty = serde_json::from_str::<Sleep>(r#"{"light_sleep":0}"#).unwrap();
        assert_eq!(empty.into_summary().minutes_asleep, None);
    }

    #[test]
    fn exercises_end_on_their_local_day() {
        // The page's example exercise: local start 10:40:02, two hours 44 minutes.
        let body = r#"[{"id":"2AC312F","upload_time":"2008-10-13T10:40:02.000Z",
            "polar_user":"https://www.polaraccesslink/v3/users/1","device":"Polar M400",
            "device_id":"1111AAAA","start_time":"2008-10-13T10:40:02","start_time_utc_offset":180,
            "duration":"PT2H44M","calories":530,"distance":1600,
            "heart_rate":{"average":129,"maximum":147},"training_load":143.22,"sport":"OTHER",
            "has_route":true,"club_id":999,"club_name":"Polar Club",
            "detailed_sport_info":"WATERSPORTS_WATERSKI","fat_percentage":60,
            "carbohydrate_percentage":38,"protein_percentage":2,"running-index":51},
            {"start_time":"2008-10-13T23:30:00","duration":"PT1H"},
            {"start_time":"2008-10-12T18:00:00.000","duration":"PT30M"},
            {"start_time":"2008-10-13T07:05","duration":"nonsense"},
            {"start_time":"2008-10-13T25:00:00","duration":"PT1M"},
            {"duration":"PT1M"}]"#;
        let exercises: Vec<Exercise> = serde_json::from_str(body).unwrap();
        let day = date!(2008 - 10 - 13);
        let ends: Vec<u16> = exercises
            .iter()
            .filter_map(|e| e.end_minute_on(day))
            .collect();
        assert_eq!(ends, [804, 1_439, 425]);
        let before: Vec<u16> = exercises
            .iter()
            .filter_map(|e| e.end_minute_on(date!(2008 - 10 - 12)))
            .collect();
        assert_eq!(before, [1_110]);
    }

    #[test]
    fn the_pages_user_example_maps_to_a_profile() {
        let body = r#"{"polar-user-id":2278512,"member-id":"i09u9ujj",
            "registration-date":"2011-10-14T12:50:37.000Z","first-name":"Eka","last-name":"Toka",
            "birthdate":"1985-09-06","gender":"MALE","weight":66,"height":170,
            "extra-info":[{"value":"2","index":0,"name":"number-of-children"}]}"#;
        let p = serde_json::from_str::<User>(body).unwrap().into_profile();
        assert_eq!(p.full_name.as_deref(), Some("Eka Toka"));
        assert_eq!(p.first_name.as_deref(), Some("Eka"));
        assert_eq!(p.gender, Some(Gender::Male));
        assert_eq!(p.birth_date, Some(date!(1985 - 09 - 06)));
        assert_eq!((p.country, p.language, p.timezone), (None, None, None));
        let sparse = serde_json::from_str::<User>(
            r#"{"last-name":" Toka ","birthdate":"","gender":"OTHER"}"#,
        )
        .unwrap()
        .into_profile();
        assert_eq!(sparse.full_name.as_deref(), Some("Toka"));
        assert_eq!(sparse.birth_date, None);
        assert_eq!(sparse.gender, Some(Gender::Unknown));
    }

    #[test]
    fn the_pages_token_answer_names_the_person() {
        let body = r#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"bearer",
            "expires_in":31535999,"x_user_id":10579}"#;
        let t: TokenResponse = serde_json::from_str(body).unwrap();
        assert_eq!(t.expires_in, Some(31_535_999));
        assert_eq!(id_text(&t.x_user_id).as_deref(), Some("10579"));
        assert_eq!(
            id_text(&serde_json::json!("10579")).as_deref(),
            Some("10579")
        );
        for bad in [
            serde_json::json!(-1),
            serde_json::json!(1.5),
            serde_json::json!("1 2"),
            serde_json::json!(null),
            serde_json::json!(""),
        ] {
            assert_eq!(id_text(&bad), None, "{bad}");
        }
    }
}
