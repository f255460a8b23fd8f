//! Fitbit wire types (contract: `tests/contracts/fitbit-web-api/`) and their mapping to
//! the domain. Parsing is lenient: device-dependent fields are optional.

use serde::Deserialize;
use time::macros::format_description;
use time::Date;

use crate::domain::{DaySummary, Gender, Profile};

#[derive(Deserialize)]
pub(super) struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    #[serde(default)]
    pub scope: String,
    pub user_id: String,
}

#[derive(Deserialize, Default)]
pub(super) struct ErrorResponse {
    #[serde(default)]
    pub errors: Vec<ErrorItem>,
}

#[derive(Deserialize)]
pub(super) struct ErrorItem {
    #[serde(rename = "errorType", default)]
    pub error_type: String,
}

#[derive(Deserialize)]
pub(super) struct ProfileResponse {
    pub user: User,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct User {
    pub full_name: Option<String>,
    pub display_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub gender: Option<String>,
    pub date_of_birth: Option<String>,
    pub timezone: Option<String>,
    pub locale: Option<String>,
    pub country: Option<String>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

impl User {
    pub fn into_profile(self) -> Profile {
        let gender = self.gender.as_deref().map(|g| match g {
            "FEMALE" => Gender::Female,
            "MALE" => Gender::Male,
            _ => Gender::Unknown,
        });
        let birth_date = self
            .date_of_birth
            .as_deref()
            .and_then(|d| Date::parse(d, format_description!("[year]-[month]-[day]")).ok());
        // "de_DE" → language "DE"; SAP's language key is ISO 639-1.
        let language = self
            .locale
            .as_deref()
            .and_then(|l| l.split(['_', '-']).next())
            .filter(|l| l.len() == 2)
            .map(str::to_ascii_uppercase);
        Profile {
            full_name: non_empty(self.full_name).or(non_empty(self.display_name)),
            first_name: non_empty(self.first_name),
            last_name: non_empty(self.last_name),
            gender,
            birth_date,
            country: non_empty(self.country)
                .filter(|c| c.len() == 2)
                .map(|c| c.to_ascii_uppercase()),
            language,
            timezone: non_empty(self.timezone),
            ..Default::default()
        }
    }
}

/// `GET /1/user/{id}/activities/date/{date}.json` (only what we import).
#[derive(Deserialize)]
pub(super) struct ActivitiesResponse {
    #[serde(default)]
    summary: ActivitySummary,
    /// The day's logged and auto-recognised exercises.
    #[serde(default)]
    activities: Vec<ActivityLog>,
}

/// One exercise of the day: when it started (local `HH:mm`) and how long it lasted (ms).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ActivityLog {
    start_time: Option<String>,
    duration: Option<u64>,
}

impl ActivityLog {
    /// Minutes after local midnight at which it ended; one running past midnight ends
    /// at 23:59 of its day. `None` without a parseable start.
    fn end_minute(&self) -> Option<u16> {
        let (h, m) = self.start_time.as_deref()?.split_once(':')?;
        let (h, m): (u64, u64) = (h.parse().ok()?, m.get(..2)?.parse().ok()?);
        if h > 23 || m > 59 {
            return None;
        }
        let end = h * 60 + m + self.duration.unwrap_or(0) / 60_000;
        Some(end.min(1_439) as u16)
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ActivitySummary {
    steps: Option<u64>,
    calories_out: Option<u64>,
    distances: Vec<Distance>,
    fairly_active_minutes: Option<u64>,
    very_active_minutes: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Distance {
    activity: String,
    distance: f64,
}

impl ActivitiesResponse {
    pub fn into_summary(self) -> DaySummary {
        let s = self.summary;
        let active = match (s.fairly_active_minutes, s.very_active_minutes) {
            (None, None) => None,
            (f, v) => Some(f.unwrap_or(0) + v.unwrap_or(0)),
        };
        DaySummary {
            steps: s.steps,
            // Metric (km): we send no Accept-Language (see `get_json`).
            distance_km: s
                .distances
                .iter()
                .find(|d| d.activity == "total")
                .map(|d| d.distance),
            calories_out: s.calories_out,
            active_minutes: active,
            workout_ends: self
                .activities
                .iter()
                .filter_map(ActivityLog::end_minute)
                .collect(),
            ..Default::default()
        }
    }
}

/// `GET /1.2/user/{id}/sleep/date/{date}.json`
#[derive(Deserialize)]
pub(super) struct SleepResponse {
    #[serde(default)]
    summary: Option<SleepSummary>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SleepSummary {
    total_minutes_asleep: Option<u64>,
    total_sleep_records: Option<u64>,
}

impl SleepResponse {
    pub fn into_summary(self) -> DaySummary {
        let minutes = self
            .summary
            .filter(|s| s.total_sleep_records.unwrap_or(1) > 0)
            .and_then(|s| s.total_minutes_asleep);
        DaySummary {
            minutes_asleep: minutes,
            ..Default::default()
        }
    }
}

/// `GET /1/user/{id}/body/log/weight/date/{date}.json`
#[derive(Deserialize)]
pub(super) struct WeightResponse {
    #[serde(default)]
    weight: Vec<WeightLog>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WeightLog {
    weight: Option<f64>,
    time: String,
}

impl WeightResponse {
    /// The day's last weigh-in.
    pub fn into_summary(self) -> DaySummary {
        DaySummary {
            weight_kg: self
                .weight
                .into_iter()
                .filter(|w| w.weight.is_some())
                .max_by(|a, b| a.time.cmp(&b.time))
                .and_then(|w| w.weight),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_data_maps_leniently() {
        let a: ActivitiesResponse = serde_json::from_str(
            r#"{"activities":[],"summary":{"steps":8012,"caloriesOut":2301,
            "distances":[{"activity":"tracker","distance":5.0},{"activity":"total","distance":5.83}],
            "fairlyActiveMinutes":12,"veryActiveMinutes":30,"floors":3},"goals":{}}"#,
        )
        .unwrap();
        let s = a.into_summary();
        assert_eq!(
            (s.steps, s.calories_out, s.active_minutes),
            (Some(8012), Some(2301), Some(42))
        );
        assert_eq!(s.distance_km, Some(5.83));
        assert!(s.workout_ends.is_empty());
        let no_device: ActivitiesResponse = serde_json::from_str(r#"{"summary":{}}"#).unwrap();
        assert!(no_device.into_summary().metrics().is_empty());

        let sleep: SleepResponse = serde_json::from_str(
            r#"{"sleep":[],"summary":{"totalMinutesAsleep":0,"totalSleepRecords":0,"totalTimeInBed":0}}"#,
        )
        .unwrap();
        assert_eq!(
            sleep.into_summary().minutes_asleep,
            None,
            "no record, no interaction"
        );

        let w: WeightResponse = serde_json::from_str(
            r#"{"weight":[{"weight":70.2,"time":"07:00:00"},{"weight":70.9,"time":"21:00:00"}]}"#,
        )
        .unwrap();
        assert_eq!(w.into_summary().weight_kg, Some(70.9));
    }

    #[test]
    fn workouts_end_at_start_plus_duration_in_local_minutes() {
        // As the Web API logs them: local start "HH:mm", duration in milliseconds.
        let a: ActivitiesResponse = serde_json::from_str(
            r#"{"activities":[
                {"activityParentName":"Run","startTime":"17:50","duration":1800000,"hasStartTime":true},
                {"activityParentName":"Walk","startTime":"23:40","duration":3600000},
                {"activityParentName":"Yoga","duration":600000},
                {"startTime":"25:00","duration":1}],
              "summary":{"steps":1}}"#,
        )
        .unwrap();
        assert_eq!(a.into_summary().workout_ends, [1_100, 1_439]);
    }

    #[test]
    fn profile_maps_leniently() {
        let body = r#"{"user":{"encodedId":"GGNJL9","fullName":"Alex Sandbox","firstName":"Alex",
            "gender":"FEMALE","dateOfBirth":"1990-05-17","timezone":"Europe/Berlin",
            "locale":"de_DE","country":"DE","avatar":"x","unknownField":1}}"#;
        let p = serde_json::from_str::<ProfileResponse>(body)
            .unwrap()
            .user
            .into_profile();
        assert_eq!(p.full_name.as_deref(), Some("Alex Sandbox"));
        assert_eq!(p.last_name, None);
        assert_eq!(p.gender, Some(Gender::Female));
        assert_eq!(p.birth_date.unwrap().to_string(), "1990-05-17");
        assert_eq!(p.language.as_deref(), Some("DE"));
        assert_eq!(p.country.as_deref(), Some("DE"));

        let sparse = r#"{"user":{"dateOfBirth":"","gender":"NA"}}"#;
        let p = serde_json::from_str::<ProfileResponse>(sparse)
            .unwrap()
            .user
            .into_profile();
        assert_eq!(p.birth_date, None);
        assert_eq!(p.gender, Some(Gender::Unknown));
    }
}
