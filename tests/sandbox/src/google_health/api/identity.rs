//! `users.getIdentity`, `users.getProfile` and `users.getSettings`: who the user is, as the
//! API names them, and the profile and settings their account says.
//!
//! Invariants: `users_id` is echoed as the request named the user (`me` or the id) in
//! `name`; stride lengths come with the profile only with the activity scope too.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::civil_time;
use crate::google_health::{data, scopes, GoogleUser};

pub(super) fn identity(users_id: &str, user: &GoogleUser) -> Value {
    let mut identity = json!({
        "name": format!("users/{users_id}/identity"),
        "healthUserId": user.health_user_id,
    });
    if let Some(legacy) = &user.legacy_user_id {
        identity["legacyUserId"] = json!(legacy);
    }
    identity
}

pub(super) fn profile(users_id: &str, user: &GoogleUser, scopes: &BTreeSet<String>) -> Value {
    let mut profile = json!({
        "name": format!("users/{users_id}/profile"),
        "age": user.age,
        "membershipStartDate": data::date_json(user.membership_start_date),
    });
    // Stride lengths need the activity scope too.
    if scopes.contains(scopes::ACTIVITY_AND_FITNESS) {
        profile["autoWalkingStrideLengthMm"] = json!(data::walking_stride_mm(user));
        profile["autoRunningStrideLengthMm"] = json!(data::running_stride_mm(user));
    }
    profile
}

/// Metric or US units by the user's `metric`, and their zone's UTC offset by the sandbox
/// clock.
pub(super) fn settings(users_id: &str, user: &GoogleUser, now: OffsetDateTime) -> Value {
    let metric = user.metric;
    let offset = civil_time::utc_offset_secs(&user.time_zone, now);
    json!({
        "name": format!("users/{users_id}/settings"),
        "autoStrideEnabled": true,
        "distanceUnit": if metric { "DISTANCE_UNIT_KILOMETERS" } else { "DISTANCE_UNIT_MILES" },
        "heightUnit": if metric { "HEIGHT_UNIT_CENTIMETERS" } else { "HEIGHT_UNIT_INCHES" },
        "weightUnit": if metric { "WEIGHT_UNIT_KILOGRAMS" } else { "WEIGHT_UNIT_POUNDS" },
        "swimUnit": if metric { "SWIM_UNIT_METERS" } else { "SWIM_UNIT_YARDS" },
        "waterUnit": if metric { "WATER_UNIT_ML" } else { "WATER_UNIT_FL_OZ" },
        "temperatureUnit": if metric { "TEMPERATURE_UNIT_CELSIUS" } else { "TEMPERATURE_UNIT_FAHRENHEIT" },
        "glucoseUnit": if metric { "GLUCOSE_UNIT_MMOL_L" } else { "GLUCOSE_UNIT_MG_DL" },
        "strideLengthWalkingType": "STRIDE_LENGTH_TYPE_AUTO",
        "strideLengthRunningType": "STRIDE_LENGTH_TYPE_AUTO",
        "languageLocale": user.language_locale,
        "foodLanguageCode": user.language_locale,
        "timeZone": user.time_zone,
        "utcOffset": data::duration_json(offset),
    })
}
