//! A civil day's activity (steps, distance, calories, active zone and activity level
//! minutes) and its daily roll-ups.
//!
//! Invariants: a day's values scale with the part of it that has passed; a pattern's
//! planned workout is part of the day's totals; recorded fields replace the synthetic ones,
//! and distance follows recorded steps unless recorded too.

use serde_json::{json, Map, Value};
use time::Date;

use super::{planned_day, walking_stride_mm};
use crate::google_health::{GoogleUser, RecordedDay};
use crate::synthetic::Seed;

fn age_factor(user: &GoogleUser) -> f64 {
    f64::from(user.age)
}

/// Basal metabolic rate (Mifflin-St Jeor), kcal per day.
fn bmr(user: &GoogleUser) -> f64 {
    let sex_term = match user.sex.as_str() {
        "MALE" => 5.0,
        "FEMALE" => -161.0,
        _ => -78.0,
    };
    (10.0 * user.weight_kg + 6.25 * user.height_cm - 5.0 * age_factor(user) + sex_term).max(800.0)
}

/// One civil day's activity totals.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct DayActivity {
    pub(crate) steps: u64,
    pub(crate) distance_mm: u64,
    pub(crate) calories_kcal: f64,
    pub(crate) azm_fat_burn: u64,
    pub(crate) azm_cardio: u64,
    pub(crate) azm_peak: u64,
    /// Active minutes by activity level (the `active-minutes` data type).
    pub(crate) light_minutes: u64,
    pub(crate) moderate_minutes: u64,
    pub(crate) vigorous_minutes: u64,
}

/// The day's totals; `elapsed` is the fraction of the day that has passed (1 for past days),
/// `today` the person's local date by the sandbox clock.
pub(crate) fn day_activity(
    user: &GoogleUser,
    day: Date,
    recorded: Option<&RecordedDay>,
    elapsed: f64,
    today: Date,
) -> DayActivity {
    let date = day.to_string();
    let mut r = Seed::new(&[&user.health_user_id, &date, "activity"]);
    let scale = |v: u64| (v as f64 * elapsed).round() as u64;
    let mut steps = scale(r.range(2_500, 15_500));
    let mut fat_burn = scale(r.range(0, 40));
    let mut cardio = scale(r.range(0, 10)) * 2;
    let mut peak = scale(r.range(0, 4)) * 2;
    let mut light = scale(r.range(120, 300));
    let mut distance_mm = steps * walking_stride_mm(user);
    if let Some(planned) = planned_day(user, day, today) {
        let mut m = Seed::new(&[&user.health_user_id, &date, "pattern-minutes"]);
        steps = scale(planned.steps);
        distance_mm = scale(
            planned.walking_steps() * walking_stride_mm(user)
                + (planned.workout_km() * 1_000_000.0).round() as u64,
        );
        let workout = planned.workout_minutes();
        if planned.still {
            (fat_burn, cardio, peak) = (scale(m.range(0, 5)), 0, 0);
            light = scale(m.range(60, 140));
        } else if workout > 0 {
            // A run: about 30 % in the fat-burn zone, 60 % cardio, 10 % peak (the latter
            // two count double).
            fat_burn = scale(workout * 3 / 10 + m.range(0, 10));
            cardio = scale(workout * 6 / 10) * 2;
            peak = scale(workout / 10) * 2;
        }
    }
    let mut activity = DayActivity {
        steps,
        distance_mm,
        calories_kcal: 0.0,
        azm_fat_burn: fat_burn,
        azm_cardio: cardio,
        azm_peak: peak,
        light_minutes: light,
        // Active-zone minutes count double in the cardio and peak zones.
        moderate_minutes: fat_burn,
        vigorous_minutes: (cardio + peak) / 2,
    };
    let mut calories = None;
    if let Some(recorded) = recorded {
        if let Some(recorded_steps) = recorded.steps {
            steps = recorded_steps;
            activity.steps = steps;
            activity.distance_mm = steps * walking_stride_mm(user);
        }
        activity.distance_mm = recorded.distance_mm.unwrap_or(activity.distance_mm);
        if recorded.azm_minutes.is_some()
            || recorded.azm_cardio.is_some()
            || recorded.azm_peak.is_some()
        {
            let cardio = recorded.azm_cardio.unwrap_or(0);
            let peak = recorded.azm_peak.unwrap_or(0);
            let total = recorded.azm_minutes.unwrap_or(cardio + peak);
            activity.azm_cardio = cardio;
            activity.azm_peak = peak;
            activity.azm_fat_burn = total.saturating_sub(cardio + peak);
            activity.moderate_minutes = activity.azm_fat_burn;
            activity.vigorous_minutes = (cardio + peak) / 2;
        }
        if let Some(m) = recorded.moderate_minutes {
            activity.moderate_minutes = m;
        }
        if let Some(v) = recorded.vigorous_minutes {
            activity.vigorous_minutes = v;
        }
        calories = recorded.calories_kcal;
    }
    activity.calories_kcal = calories.unwrap_or_else(|| {
        let active = steps as f64 * 0.04
            + activity.azm_fat_burn as f64 * 4.0
            + (activity.azm_cardio + activity.azm_peak) as f64 * 5.0;
        let total = bmr(user) * elapsed + active;
        (total * 10.0).round() / 10.0
    });
    activity
}

/// Proto3 JSON of an int64: a string, left out when zero.
fn int64_field(out: &mut Map<String, Value>, name: &str, value: u64) {
    if value != 0 {
        out.insert(name.to_owned(), json!(value.to_string()));
    }
}

/// The `DailyRollupDataPoint` value field and its JSON for a roll-up of `days` of activity.
pub(crate) fn activity_rollup(
    data_type: &str,
    days: &[DayActivity],
) -> Option<(&'static str, Value)> {
    if days.is_empty() {
        return None;
    }
    let mut value = Map::new();
    let field = match data_type {
        "steps" => {
            int64_field(&mut value, "countSum", days.iter().map(|d| d.steps).sum());
            "steps"
        }
        "distance" => {
            int64_field(
                &mut value,
                "millimetersSum",
                days.iter().map(|d| d.distance_mm).sum(),
            );
            "distance"
        }
        "total-calories" => {
            let kcal: f64 = days.iter().map(|d| d.calories_kcal).sum();
            value.insert("kcalSum".to_owned(), json!((kcal * 10.0).round() / 10.0));
            "totalCalories"
        }
        "active-zone-minutes" => {
            int64_field(
                &mut value,
                "sumInFatBurnHeartZone",
                days.iter().map(|d| d.azm_fat_burn).sum(),
            );
            int64_field(
                &mut value,
                "sumInCardioHeartZone",
                days.iter().map(|d| d.azm_cardio).sum(),
            );
            int64_field(
                &mut value,
                "sumInPeakHeartZone",
                days.iter().map(|d| d.azm_peak).sum(),
            );
            "activeZoneMinutes"
        }
        "active-minutes" => {
            let levels: Vec<Value> = [
                ("LIGHT", days.iter().map(|d| d.light_minutes).sum::<u64>()),
                ("MODERATE", days.iter().map(|d| d.moderate_minutes).sum()),
                ("VIGOROUS", days.iter().map(|d| d.vigorous_minutes).sum()),
            ]
            .into_iter()
            .filter(|(_, minutes)| *minutes > 0)
            .map(|(level, minutes)| {
                json!({"activityLevel": level, "activeMinutesSum": minutes.to_string()})
            })
            .collect();
            if !levels.is_empty() {
                value.insert(
                    "activeMinutesRollupByActivityLevel".to_owned(),
                    Value::Array(levels),
                );
            }
            "activeMinutes"
        }
        _ => return None,
    };
    Some((field, Value::Object(value)))
}
