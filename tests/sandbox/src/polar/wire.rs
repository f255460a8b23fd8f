//! The JSON the sandbox sends, as the page's schemas name it: every answer and payload is
//! built from these types, which refuse unknown fields, so the contract tests can parse the
//! page's own examples with them and compare the round trip.
//!
//! Invariant: a field the page's schema marks optional and the sandbox does not produce is
//! an `Option` left out of the JSON (never `null`, except `extra-info`, which the page says
//! is null without partner questions).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The token endpoint's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenGrant {
    pub access_token: String,
    /// `bearer`.
    pub token_type: String,
    pub expires_in: i64,
    /// The Polar user id.
    pub x_user_id: u64,
}

/// Schema `error`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    pub timestamp: String,
    pub status: u16,
    #[serde(rename = "errorType")]
    pub error_type: String,
    pub message: String,
    #[serde(rename = "corrId")]
    pub corr_id: String,
}

/// Schema `user`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct UserInfo {
    pub polar_user_id: u64,
    pub member_id: String,
    /// `2011-10-14T12:50:37.000Z`.
    pub registration_date: String,
    pub first_name: String,
    pub last_name: String,
    pub birthdate: String,
    pub gender: String,
    pub weight: f64,
    pub height: f64,
    /// Null when the partner asks no extra questions.
    pub extra_info: Option<Vec<ExtraInfo>>,
}

/// Schema `UserExtraInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraInfo {
    pub value: String,
    pub index: i32,
    pub name: String,
}

/// Schema `activity-summary-with-all-samples` (`activity-summary` when `samples` is left
/// out).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivitySummary {
    /// Local, without offset: `2025-08-13T00:00:00`.
    pub start_time: String,
    pub end_time: String,
    /// ISO 8601, e.g. `PT3H11M`.
    pub active_duration: String,
    pub inactive_duration: String,
    pub daily_activity: f64,
    pub calories: u32,
    pub active_calories: u32,
    pub steps: u32,
    pub inactivity_alert_count: u32,
    /// Metres.
    pub distance_from_steps: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<ActivitySamples>,
}

/// Schema `activity-day-with-samples`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivitySamples {
    pub date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<StepSamples>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_zones: Option<ZoneSamples>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactivity_stamps: Option<Vec<InactivityStamp>>,
}

/// Schema `activity-steps2`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSamples {
    pub interval_ms: u32,
    pub total_steps: u32,
    pub samples: Vec<StepSample>,
}

/// Schema `activity-step-sample2`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSample {
    pub steps: u32,
    /// Local, minutes: `2025-08-14T00:02`.
    pub timestamp: String,
}

/// Schema `activity-zone-samples2`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneSamples {
    pub samples: Vec<ZoneSample>,
}

/// Schema `activity-zone-sample2`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneSample {
    /// `SEDENTARY`, `LIGHT`, `SLEEP`, `MODERATE`, `VIGOROUS`.
    pub zone: String,
    pub timestamp: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InactivityStamp {
    pub stamp: String,
}

/// Schema `sleep`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sleep {
    pub polar_user: String,
    /// The night's result date (the morning's).
    pub date: String,
    /// With the local offset: `2020-01-01T00:39:07+03:00`.
    pub sleep_start_time: String,
    pub sleep_end_time: String,
    pub device_id: String,
    pub continuity: f64,
    pub continuity_class: u8,
    /// Seconds, as are the other durations.
    pub light_sleep: u32,
    pub deep_sleep: u32,
    pub rem_sleep: u32,
    pub unrecognized_sleep_stage: u32,
    pub sleep_score: u32,
    pub total_interruption_duration: u32,
    pub sleep_charge: u8,
    pub sleep_goal: u32,
    pub sleep_rating: u8,
    pub short_interruption_duration: u32,
    pub long_interruption_duration: u32,
    pub sleep_cycles: u32,
    pub group_duration_score: f64,
    pub group_solidity_score: f64,
    pub group_regeneration_score: f64,
    /// `HH:MM` → stage (0 wake, 1 REM, 2 lighter non-REM, 3 light non-REM, 4 deep, 5 unknown).
    pub hypnogram: BTreeMap<String, u8>,
    /// `HH:MM` → bpm, 5-minute averages.
    pub heart_rate_samples: BTreeMap<String, u32>,
}

/// Schema `nights`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nights {
    pub nights: Vec<Sleep>,
}

/// Schema `available-sleep`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvailableSleep {
    pub date: String,
    pub start_time: String,
    pub end_time: String,
}

/// Schema `available-sleeps`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvailableSleeps {
    pub available: Vec<AvailableSleep>,
}

/// Schema `exerciseHashId`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exercise {
    /// The hashed id.
    pub id: String,
    /// UTC: `2008-10-13T10:40:02.000Z`.
    pub upload_time: String,
    pub polar_user: String,
    pub device: String,
    pub device_id: String,
    /// Local, without offset.
    pub start_time: String,
    /// Minutes east of UTC at the start.
    pub start_time_utc_offset: i32,
    /// ISO 8601, e.g. `PT45M12S`.
    pub duration: String,
    pub calories: u32,
    /// Metres.
    pub distance: f64,
    pub heart_rate: HeartRate,
    pub training_load: f64,
    pub sport: String,
    pub has_route: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub club_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub club_name: Option<String>,
    pub detailed_sport_info: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fat_percentage: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carbohydrate_percentage: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protein_percentage: Option<u32>,
    #[serde(
        rename = "running-index",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub running_index: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heart_rate_zones: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_load_pro: Option<Value>,
}

/// Schema `HeartRate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartRate {
    pub average: u32,
    pub maximum: u32,
}

/// Schema `webhookType`, and `PING`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WebhookEvent {
    Exercise,
    Sleep,
    ContinuousHeartRate,
    SleepWiseCircadianBedtime,
    SleepWiseAlertness,
    ActivitySummary,
    /// Only in pings; no webhook subscribes to it.
    Ping,
}

impl WebhookEvent {
    /// The `Polar-Webhook-Event` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::Exercise => "EXERCISE",
            WebhookEvent::Sleep => "SLEEP",
            WebhookEvent::ContinuousHeartRate => "CONTINUOUS_HEART_RATE",
            WebhookEvent::SleepWiseCircadianBedtime => "SLEEP_WISE_CIRCADIAN_BEDTIME",
            WebhookEvent::SleepWiseAlertness => "SLEEP_WISE_ALERTNESS",
            WebhookEvent::ActivitySummary => "ACTIVITY_SUMMARY",
            WebhookEvent::Ping => "PING",
        }
    }
}

/// A webhook payload (`webhookPayload*` and `webhookPing`, in the page's field order): which
/// fields are present depends on the event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookPayload {
    pub event: WebhookEvent,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<u64>,
    /// `EXERCISE`: the exercise's hashed id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    /// `SLEEP`, `ACTIVITY_SUMMARY`, `CONTINUOUS_HEART_RATE`: the civil date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// `SLEEP_WISE_*`: the period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub timestamp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The webhook as `POST /v3/webhooks` answers it (`createdWebhook.data`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatedWebhook {
    pub id: String,
    pub events: Vec<WebhookEvent>,
    pub url: String,
    pub signature_secret_key: String,
}

/// The webhook as `GET` and `PATCH` answer it (an item of `webhookInfo.data`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookInfo {
    pub id: String,
    pub events: Vec<WebhookEvent>,
    pub url: String,
    pub active: bool,
}

/// `{"data": ...}`, the envelope of the webhook answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Data<T> {
    pub data: T,
}
