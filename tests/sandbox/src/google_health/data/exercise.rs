//! Workouts: the ones a person's pattern plans, the synthetic ones of default days, recorded
//! ones, and the `exercise` data point.

use serde_json::{json, Value};
use time::macros::time;
use time::{Date, Duration, OffsetDateTime};

use super::{
    data_source, duration_json, interval_json, planned_day, running_stride_mm, timestamp,
    walking_stride_mm,
};
use crate::civil_time::{from_local, to_local};
use crate::google_health::{GoogleUser, RecordedExercise};
use crate::synthetic::{Seed, WorkoutKind};

#[derive(Clone, Debug)]
pub(crate) struct ExerciseSession {
    pub(crate) id: String,
    pub(crate) start: OffsetDateTime,
    pub(crate) end: OffsetDateTime,
    pub(crate) exercise_type: String,
    pub(crate) calories_kcal: f64,
    pub(crate) distance_mm: Option<f64>,
    pub(crate) steps: Option<u64>,
    pub(crate) average_heart_rate: u64,
    pub(crate) active_zone_minutes: u64,
    pub(crate) recorded: bool,
}

const WORKOUTS: [(&str, &str, f64, bool); 6] = [
    // type, display name, kcal per minute, moves (distance and steps)
    ("WALKING", "Walking", 4.5, true),
    ("RUNNING", "Running", 11.0, true),
    ("BIKING", "Biking", 8.0, false),
    ("SWIMMING", "Swimming", 9.0, false),
    ("STRENGTH_TRAINING", "Strength training", 6.0, false),
    ("YOGA", "Yoga", 3.0, false),
];

fn display_name(exercise_type: &str) -> String {
    WORKOUTS.iter().find(|w| w.0 == exercise_type).map_or_else(
        || {
            let lower = exercise_type.replace('_', " ").to_lowercase();
            let mut chars = lower.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        },
        |w| w.1.to_owned(),
    )
}

/// The day's exercise: the workouts the person's pattern plans, else a workout on about
/// 45 % of days, in the morning or the evening.
pub(crate) fn synthetic_exercise(
    user: &GoogleUser,
    day: Date,
    today: Date,
) -> Vec<ExerciseSession> {
    if let Some(planned) = planned_day(user, day, today).and_then(|p| p.workouts) {
        return planned
            .iter()
            .map(|w| {
                let mut r = Seed::new(&[
                    &user.health_user_id,
                    &day.to_string(),
                    &w.start_minute.to_string(),
                    "planned-exercise",
                ]);
                let local = |minute: u32| day.midnight() + Duration::minutes(i64::from(minute));
                let start = from_local(&user.time_zone, local(w.start_minute));
                let end = from_local(&user.time_zone, local(w.end_minute()));
                let (exercise_type, kcal_per_minute) = match w.kind {
                    WorkoutKind::Run => ("RUNNING", 11.0),
                };
                ExerciseSession {
                    id: r.id(),
                    start,
                    end,
                    exercise_type: exercise_type.to_owned(),
                    calories_kcal: (f64::from(w.minutes) * kcal_per_minute * 10.0).round() / 10.0,
                    distance_mm: Some((w.km * 1_000_000.0).round()),
                    steps: Some(w.steps),
                    average_heart_rate: r.range(140, 165),
                    active_zone_minutes: u64::from(w.minutes) * 17 / 10,
                    recorded: false,
                }
            })
            .collect();
    }
    let mut r = Seed::new(&[&user.health_user_id, &day.to_string(), "exercise"]);
    if r.range(0, 99) >= 45 {
        return Vec::new();
    }
    let (exercise_type, _, kcal_per_minute, moves) = WORKOUTS[r.range(0, 5) as usize];
    let local_start = if r.range(0, 1) == 0 {
        day.with_time(time!(07:00)) + Duration::minutes(r.range(0, 9) as i64 * 5)
    } else {
        day.with_time(time!(17:30)) + Duration::minutes(r.range(0, 12) as i64 * 5)
    };
    let minutes = r.range(25, 75) as i64;
    let start = from_local(&user.time_zone, local_start);
    let end = to_local(&user.time_zone, start + Duration::minutes(minutes));
    let steps = moves.then(|| minutes as u64 * if exercise_type == "RUNNING" { 160 } else { 105 });
    let stride = if exercise_type == "RUNNING" {
        running_stride_mm(user)
    } else {
        walking_stride_mm(user)
    };
    vec![ExerciseSession {
        id: r.id(),
        start,
        end,
        exercise_type: exercise_type.to_owned(),
        calories_kcal: (minutes as f64 * kcal_per_minute * 10.0).round() / 10.0,
        distance_mm: steps.map(|s| (s * stride) as f64),
        steps,
        average_heart_rate: r.range(95, 150),
        active_zone_minutes: minutes as u64 * r.range(2, 14) / 10,
        recorded: false,
    }]
}

pub(crate) fn recorded_exercise(user: &GoogleUser, e: &RecordedExercise) -> ExerciseSession {
    let mut r = Seed::new(&[
        &user.health_user_id,
        &timestamp(e.start),
        "recorded-exercise",
    ]);
    let minutes = (e.end - e.start).whole_minutes().max(1);
    ExerciseSession {
        id: r.id(),
        start: e.start,
        end: e.end,
        exercise_type: e.exercise_type.clone(),
        calories_kcal: e.calories_kcal.unwrap_or(minutes as f64 * 6.0),
        distance_mm: e.distance_mm,
        steps: e.steps,
        average_heart_rate: e.average_heart_rate.unwrap_or(120),
        active_zone_minutes: e.active_zone_minutes.unwrap_or(0),
        recorded: true,
    }
}

pub(crate) fn exercise_point(health_user_id: &str, e: &ExerciseSession) -> Value {
    let seconds = (e.end - e.start).whole_seconds();
    let mut metrics = json!({
        "caloriesKcal": e.calories_kcal,
        "averageHeartRateBeatsPerMinute": e.average_heart_rate.to_string(),
    });
    if e.active_zone_minutes > 0 {
        metrics["activeZoneMinutes"] = json!(e.active_zone_minutes.to_string());
    }
    if let Some(steps) = e.steps.filter(|s| *s > 0) {
        metrics["steps"] = json!(steps.to_string());
    }
    if let Some(mm) = e.distance_mm.filter(|d| *d > 0.0) {
        metrics["distanceMillimeters"] = json!(mm);
        if seconds > 0 {
            let speed = mm / seconds as f64;
            metrics["averageSpeedMillimetersPerSecond"] = json!((speed * 100.0).round() / 100.0);
            metrics["averagePaceSecondsPerMeter"] =
                json!(((1000.0 / speed) * 1000.0).round() / 1000.0);
        }
    }
    json!({
        "name": format!("users/{health_user_id}/dataTypes/exercise/dataPoints/{}", e.id),
        "dataSource": data_source(e.recorded, "WATCH"),
        "exercise": {
            "interval": interval_json(e.start, e.end),
            "exerciseType": e.exercise_type,
            "displayName": display_name(&e.exercise_type),
            "activeDuration": duration_json(seconds),
            "metricsSummary": metrics,
            "exerciseMetadata": { "hasGps": e.distance_mm.is_some() },
            "createTime": timestamp(e.end + Duration::minutes(3)),
            "updateTime": timestamp(e.end + Duration::minutes(3)),
        },
    })
}
