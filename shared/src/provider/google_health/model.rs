//! Google Health wire types (contract: `tests/contracts/google-health/health.v4.discovery.json`)
//! and their mapping to the domain. Parsing is lenient where Google is (unknown fields
//! ignored, everything optional), and strict where numbers are concerned: int64 values
//! arrive as JSON strings and are parsed without ever panicking. Each point keeps the civil
//! date it states, so that the day it is booked on is checked ([`super::window`]).

use serde::{Deserialize, Deserializer, Serialize};
use time::Date;

use crate::domain::{DaySummary, Profile};

/// An int64 as Google encodes it (a string), or a plain number; negative or unreadable
/// values count as absent.
fn int64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Wire {
        Text(String),
        Number(serde_json::Number),
    }
    Ok(match Option::<Wire>::deserialize(d)? {
        Some(Wire::Text(s)) => s.trim().parse().ok(),
        Some(Wire::Number(n)) => n.as_u64(),
        None => None,
    })
}

#[derive(Deserialize)]
pub(super) struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: i64,
    /// Only on the first consent (or with `prompt=consent`); refreshes keep the old one.
    pub refresh_token: Option<String>,
    /// Space-separated: the scopes actually granted.
    pub scope: Option<String>,
}

/// `{"error": {"code", "message", "status", "details": [{"reason", …}]}}`.
#[derive(Deserialize, Default)]
pub(super) struct ApiError {
    #[serde(default)]
    pub error: ApiStatus,
}

#[derive(Deserialize, Default)]
pub(super) struct ApiStatus {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub details: Vec<ErrorDetail>,
}

/// A `google.rpc.ErrorInfo` (other detail types have no `reason`).
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ErrorDetail {
    pub reason: String,
    /// For a quota: `quota_limit` names the limit (per user or for the whole project).
    pub metadata: std::collections::HashMap<String, String>,
}

/// `GET v4/users/me/identity`
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Identity {
    pub health_user_id: String,
    #[serde(default)]
    pub legacy_user_id: Option<String>,
}

/// `GET v4/users/me/profile`
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct HealthProfile {
    pub age: Option<i64>,
}

/// `GET v4/users/me/settings`
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct Settings {
    pub time_zone: Option<String>,
    pub language_locale: Option<String>,
}

/// OpenID Connect userinfo.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct UserInfo {
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// Builds the domain profile from what the granted scopes returned.
pub(super) fn profile(
    health: Option<HealthProfile>,
    settings: Option<Settings>,
    userinfo: Option<UserInfo>,
) -> Profile {
    let settings = settings.unwrap_or_default();
    let userinfo = userinfo.unwrap_or_default();
    // "de-DE" → "DE": SAP's language key is ISO 639-1. The region says nothing reliable
    // about where the person lives, so it is not taken as their country.
    let language = settings
        .language_locale
        .as_deref()
        .and_then(|l| l.split(['-', '_']).next())
        .filter(|l| l.len() == 2 && l.chars().all(|c| c.is_ascii_alphabetic()))
        .map(str::to_ascii_uppercase);
    Profile {
        full_name: non_empty(userinfo.name),
        first_name: non_empty(userinfo.given_name),
        last_name: non_empty(userinfo.family_name),
        // Only an address Google verified: SAP may use it to send mail.
        email: non_empty(userinfo.email).filter(|_| userinfo.email_verified == Some(true)),
        age: health
            .and_then(|h| h.age)
            .and_then(|a| u8::try_from(a).ok()),
        language,
        timezone: non_empty(settings.time_zone),
        ..Default::default()
    }
}

/// `google.type.Date`
#[derive(Serialize, Deserialize, Clone, Copy, Default)]
pub(super) struct WireDate {
    #[serde(default)]
    pub year: i32,
    #[serde(default)]
    pub month: u8,
    #[serde(default)]
    pub day: u8,
}

impl WireDate {
    pub fn from_date(d: Date) -> WireDate {
        WireDate {
            year: d.year(),
            month: d.month() as u8,
            day: d.day(),
        }
    }

    pub fn to_date(self) -> Option<Date> {
        Date::from_calendar_date(self.year, time::Month::try_from(self.month).ok()?, self.day).ok()
    }
}

/// `TimeOfDay`
#[derive(Serialize, Deserialize, Clone, Copy, Default)]
pub(super) struct TimeOfDay {
    #[serde(default)]
    pub hours: u8,
    #[serde(default)]
    pub minutes: u8,
    #[serde(default)]
    pub seconds: u8,
    #[serde(default)]
    pub nanos: u32,
}

/// `CivilDateTime`: a date and an optional time of day (midnight when absent).
#[derive(Serialize, Deserialize, Clone, Copy, Default)]
pub(super) struct CivilDateTime {
    /// Required by Google; one missing reads as no date, so the point is refused rather
    /// than the whole answer.
    #[serde(default)]
    pub date: WireDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeOfDay>,
}

/// `DailyRollUpDataPointsRequest`: one-day windows over `[start, end)`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DailyRollUpRequest {
    pub range: CivilRange,
    pub window_size_days: u32,
}

/// `CivilTimeInterval`
#[derive(Serialize, Deserialize, Clone, Copy)]
pub(super) struct CivilRange {
    pub start: CivilDateTime,
    pub end: CivilDateTime,
}

impl DailyRollUpRequest {
    pub fn one_day(date: Date) -> Option<DailyRollUpRequest> {
        let next = date.next_day()?;
        let at = |d: Date| CivilDateTime {
            date: WireDate::from_date(d),
            time: None,
        };
        Some(DailyRollUpRequest {
            range: CivilRange {
                start: at(date),
                end: at(next),
            },
            window_size_days: 1,
        })
    }
}

/// `DailyRollUpDataPointsResponse`
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct DailyRollUpResponse {
    pub rollup_data_points: Vec<RollupPoint>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct RollupPoint {
    /// The window's first civil day: the day its values are booked on.
    pub civil_start_time: Option<CivilDateTime>,
    pub steps: Option<StepsRollup>,
    pub distance: Option<DistanceRollup>,
    pub total_calories: Option<CaloriesRollup>,
    pub active_minutes: Option<ActiveMinutesRollup>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct StepsRollup {
    #[serde(deserialize_with = "int64")]
    pub count_sum: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct DistanceRollup {
    #[serde(deserialize_with = "int64")]
    pub millimeters_sum: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct CaloriesRollup {
    pub kcal_sum: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct ActiveMinutesRollup {
    pub active_minutes_rollup_by_activity_level: Vec<ActiveMinutesByLevel>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct ActiveMinutesByLevel {
    pub activity_level: String,
    #[serde(deserialize_with = "int64")]
    pub active_minutes_sum: Option<u64>,
}

/// The one window of a roll-up answer, once the windows of other days are refused
/// ([`super::window`]); nothing for a data type that was not answered.
fn only_window(response: Option<DailyRollUpResponse>) -> RollupPoint {
    response
        .and_then(|r| r.rollup_data_points.into_iter().next())
        .unwrap_or_default()
}

/// Steps, distance, calories and active minutes of a day from their four roll-ups (each
/// `None` when Google did not answer it: that metric is absent).
pub(super) fn activity_summary(
    steps: Option<DailyRollUpResponse>,
    distance: Option<DailyRollUpResponse>,
    calories: Option<DailyRollUpResponse>,
    active: Option<DailyRollUpResponse>,
) -> DaySummary {
    // Moderate plus vigorous: what the legacy API called fairly and very active.
    let active_minutes = only_window(active).active_minutes.and_then(|a| {
        let minutes: Vec<u64> = a
            .active_minutes_rollup_by_activity_level
            .iter()
            .filter(|l| l.activity_level == "MODERATE" || l.activity_level == "VIGOROUS")
            .filter_map(|l| l.active_minutes_sum)
            .collect();
        (!minutes.is_empty()).then(|| minutes.iter().fold(0u64, |a, m| a.saturating_add(*m)))
    });
    DaySummary {
        steps: only_window(steps).steps.and_then(|s| s.count_sum),
        // mm → km
        distance_km: only_window(distance)
            .distance
            .and_then(|d| d.millimeters_sum)
            .map(|mm| mm as f64 / 1_000_000.0),
        calories_out: only_window(calories)
            .total_calories
            .and_then(|c| c.kcal_sum)
            .filter(|k| k.is_finite() && *k >= 0.0)
            .map(|k| k.round() as u64),
        active_minutes,
        ..Default::default()
    }
}

/// `ListDataPointsResponse`
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct ListResponse {
    pub data_points: Vec<DataPoint>,
    pub next_page_token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct DataPoint {
    pub sleep: Option<Sleep>,
    pub weight: Option<Weight>,
    pub exercise: Option<Exercise>,
}

/// `Exercise`: only when it happened (`SessionTimeInterval`).
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct Exercise {
    pub interval: Option<SessionInterval>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct SessionInterval {
    pub civil_start_time: Option<CivilDateTime>,
    pub civil_end_time: Option<CivilDateTime>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct Sleep {
    pub interval: Option<SessionInterval>,
    pub summary: Option<SleepSummary>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct SleepSummary {
    #[serde(deserialize_with = "int64")]
    pub minutes_asleep: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct Weight {
    pub sample_time: Option<SampleTime>,
    pub weight_grams: Option<f64>,
}

/// `ObservationSampleTime`: only the civil time, the date a weigh-in is booked on.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct SampleTime {
    pub civil_time: Option<CivilDateTime>,
}

/// Minutes asleep over the sleep sessions that ended on the day (the list was filtered
/// by civil end time, and the sessions ending on other days refused): none, no interaction.
pub(super) fn sleep_summary(points: &[DataPoint]) -> DaySummary {
    let minutes: Vec<u64> = points
        .iter()
        .filter_map(|p| p.sleep.as_ref()?.summary.as_ref()?.minutes_asleep)
        .collect();
    DaySummary {
        minutes_asleep: (!minutes.is_empty())
            .then(|| minutes.iter().fold(0u64, |a, m| a.saturating_add(*m))),
        ..Default::default()
    }
}

/// When the day's exercises ended, in local minutes after midnight of `day` (the list was
/// filtered by civil start time; one ending after midnight ends at 23:59 of its day).
pub(super) fn exercise_ends(points: &[DataPoint], day: Date) -> Vec<u16> {
    let mut ends: Vec<u16> = points
        .iter()
        .filter_map(|p| p.exercise.as_ref()?.interval.as_ref()?.civil_end_time)
        .filter_map(|end| {
            let date = end.date.to_date()?;
            let t = end.time.unwrap_or_default();
            match date.cmp(&day) {
                std::cmp::Ordering::Equal => Some(
                    (u16::from(t.hours.min(23)) * 60 + u16::from(t.minutes.min(59))).min(1_439),
                ),
                std::cmp::Ordering::Greater => Some(1_439),
                std::cmp::Ordering::Less => None,
            }
        })
        .collect();
    ends.sort_unstable();
    ends
}

/// The day's last weigh-in (lists come newest first), g → kg.
pub(super) fn weight_summary(points: &[DataPoint]) -> DaySummary {
    DaySummary {
        weight_kg: points
            .iter()
            .find_map(|p| p.weight.as_ref()?.weight_grams)
            .filter(|g| g.is_finite() && *g > 0.0)
            .map(|g| g / 1000.0),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exercises_end_in_local_minutes_of_their_day() {
        let list: ListResponse = serde_json::from_str(
            r#"{"dataPoints":[
              {"exercise":{"interval":{"civilEndTime":{"date":{"year":2026,"month":11,"day":2},"time":{"hours":18,"minutes":20}}},"exerciseType":"RUNNING"}},
              {"exercise":{"interval":{"civilEndTime":{"date":{"year":2026,"month":11,"day":3},"time":{"hours":0,"minutes":30}}}}},
              {"exercise":{"interval":{"civilEndTime":{"date":{"year":2026,"month":11,"day":2},"time":{"hours":7}}}}},
              {"exercise":{}},
              {"sleep":{}}]}"#,
        )
        .unwrap();
        let day = Date::from_calendar_date(2026, time::Month::November, 2).unwrap();
        assert_eq!(exercise_ends(&list.data_points, day), [420, 1_100, 1_439]);
    }

    fn rollup(json: &str) -> Option<DailyRollUpResponse> {
        Some(serde_json::from_str(json).unwrap())
    }

    #[test]
    fn roll_ups_map_with_int64_strings_and_units() {
        let s = activity_summary(
            rollup(r#"{"rollupDataPoints":[{"steps":{"countSum":"10432"}}]}"#),
            rollup(r#"{"rollupDataPoints":[{"distance":{"millimetersSum":"7312000"}}]}"#),
            rollup(r#"{"rollupDataPoints":[{"totalCalories":{"kcalSum":2311.6}}]}"#),
            rollup(
                r#"{"rollupDataPoints":[{"activeMinutes":{"activeMinutesRollupByActivityLevel":[
                {"activityLevel":"LIGHT","activeMinutesSum":"200"},
                {"activityLevel":"MODERATE","activeMinutesSum":"25"},
                {"activityLevel":"VIGOROUS","activeMinutesSum":"17"}]}}]}"#,
            ),
        );
        assert_eq!(s.steps, Some(10432));
        assert_eq!(s.distance_km, Some(7.312));
        assert_eq!(s.calories_out, Some(2312));
        assert_eq!(s.active_minutes, Some(42));
    }

    #[test]
    fn empty_and_hostile_numbers_are_absent_not_panics() {
        let s = activity_summary(
            rollup(r#"{"rollupDataPoints":[{"steps":{"countSum":"-5"}}]}"#),
            rollup(
                r#"{"rollupDataPoints":[{"distance":{"millimetersSum":"99999999999999999999999"}}]}"#,
            ),
            rollup(r#"{"rollupDataPoints":[{"totalCalories":{"kcalSum":-1}}]}"#),
            rollup(r#"{}"#),
        );
        assert!(s.metrics().is_empty(), "{s:?}");
    }

    #[test]
    fn sleep_sums_the_sessions_and_weight_takes_the_newest() {
        let list: ListResponse = serde_json::from_str(
            r#"{"dataPoints":[{"sleep":{"summary":{"minutesAsleep":"412"}}},
                               {"sleep":{"summary":{"minutesAsleep":"35"}}}]}"#,
        )
        .unwrap();
        assert_eq!(sleep_summary(&list.data_points).minutes_asleep, Some(447));
        let list: ListResponse = serde_json::from_str(
            r#"{"dataPoints":[{"weight":{"weightGrams":70900}},{"weight":{"weightGrams":70200}}],
                "nextPageToken":"x"}"#,
        )
        .unwrap();
        assert_eq!(weight_summary(&list.data_points).weight_kg, Some(70.9));
        assert_eq!(sleep_summary(&[]).minutes_asleep, None);
    }

    #[test]
    fn profile_takes_what_the_scopes_gave() {
        let p = profile(
            Some(
                serde_json::from_str(
                    r#"{"age":37,"membershipStartDate":{"year":2019,"month":3,"day":1}}"#,
                )
                .unwrap(),
            ),
            Some(
                serde_json::from_str(
                    r#"{"timeZone":"Europe/Berlin","languageLocale":"de-DE","utcOffset":"3600s"}"#,
                )
                .unwrap(),
            ),
            None,
        );
        assert_eq!(p.age, Some(37));
        assert_eq!(p.language.as_deref(), Some("DE"));
        assert_eq!(p.timezone.as_deref(), Some("Europe/Berlin"));
        assert_eq!((p.full_name, p.email, p.country), (None, None, None));
        let with_openid = profile(
            None,
            None,
            Some(serde_json::from_str(r#"{"sub":"1","email":"a@example.com","email_verified":true,"given_name":"Ann"}"#).unwrap()),
        );
        assert_eq!(with_openid.email.as_deref(), Some("a@example.com"));
        assert_eq!(with_openid.first_name.as_deref(), Some("Ann"));
    }
}
