//! Deterministic synthetic data: every value derives from a hash of (user, day, kind), so
//! a day always answers the same, across runs and sandbox instances (a lapsing user's days
//! also depend on the sandbox's today, see [`crate::synthetic`]). Shapes follow the
//! contract (`GetProfileResponse`, `GetDailyActivitySummaryResponse` with its `ActivityLog`
//! items, `GetSleepLogByDateResponse` v1.2, `GetWeightLogResponse`).
//!
//! A day's workouts are part of its totals: their steps and distance are in the summary's
//! `steps` and `tracker`/`total` distances, their minutes in the active minutes.

use axum::http::{header, HeaderMap};
use serde_json::{json, Value};
use time::macros::{format_description, time};
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time};

use super::{RecordedActivity, TestUser};
use crate::civil_time::{from_local, local_date, utc_offset_secs};
use crate::synthetic::{pattern_day, sleep_cycles, PlannedWorkout, Seed, SleepStage, WorkoutKind};

/// Fitbit answers in the unit system of the `Accept-Language` header: `en_US` gets US
/// units, anything else (or no header) metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Units {
    Metric,
    Us,
}

impl Units {
    pub(super) fn from_headers(headers: &HeaderMap) -> Units {
        let language = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let first = language.split(',').next().unwrap_or_default().trim();
        if first.eq_ignore_ascii_case("en_US") || first.eq_ignore_ascii_case("en-US") {
            Units::Us
        } else {
            Units::Metric
        }
    }

    /// The unit system's name in profile fields such as `distanceUnit`.
    fn name(self) -> &'static str {
        match self {
            Units::Metric => "METRIC",
            Units::Us => "en_US",
        }
    }

    /// km → km or miles.
    fn distance(self, km: f64) -> f64 {
        match self {
            Units::Metric => km,
            Units::Us => km * 0.621_371,
        }
    }

    /// Metres → metres or feet.
    fn elevation(self, metres: f64) -> f64 {
        match self {
            Units::Metric => metres,
            Units::Us => metres * 3.280_84,
        }
    }

    /// kg → kg or pounds.
    fn weight(self, kg: f64) -> f64 {
        match self {
            Units::Metric => kg,
            Units::Us => kg * 2.204_62,
        }
    }

    /// cm → cm or inches.
    fn length(self, cm: f64) -> f64 {
        match self {
            Units::Metric => cm,
            Units::Us => cm / 2.54,
        }
    }
}

fn round_to(value: f64, decimals: i32) -> f64 {
    let factor = 10f64.powi(decimals);
    (value * factor).round() / factor
}

fn parse_date(value: &str) -> Option<Date> {
    Date::parse(value, format_description!("[year]-[month]-[day]")).ok()
}

fn age_on(date_of_birth: &str, day: Date) -> i32 {
    let Some(born) = parse_date(date_of_birth) else {
        return 0;
    };
    let had_birthday = (day.month() as u8, day.day()) >= (born.month() as u8, born.day());
    day.year() - born.year() - i32::from(!had_birthday)
}

/// Basal metabolic rate (Mifflin-St Jeor), kcal per day.
fn bmr(user: &TestUser, day: Date) -> u64 {
    let sex_term = match user.gender.as_str() {
        "MALE" => 5.0,
        "FEMALE" => -161.0,
        _ => -78.0,
    };
    let age = f64::from(age_on(&user.date_of_birth, day));
    let kcal = 10.0 * user.weight_kg + 6.25 * user.height_cm - 5.0 * age + sex_term;
    kcal.max(800.0).round() as u64
}

/// Walking stride, the usual 41.5 % of height.
fn stride_km(user: &TestUser) -> f64 {
    user.height_cm * 0.415 / 100_000.0
}

pub(super) fn profile(user: &TestUser, units: Units, now: OffsetDateTime) -> Value {
    let offset_millis = utc_offset_secs(&user.timezone, now) * 1000;
    let average_daily_steps =
        Seed::new(&[&user.user_id, "average-daily-steps"]).range(5_000, 11_000);
    let unit = units.name();
    // Two halves: one `json!` with every field exceeds the macro recursion limit.
    let mut fields = json!({
        "age": age_on(&user.date_of_birth, local_date(&user.timezone, now)),
        "ambassador": false,
        "autoStrideEnabled": true,
        "avatar": "https://static0.fitbit.com/images/profile/defaultProfile_100.png",
        "avatar150": "https://static0.fitbit.com/images/profile/defaultProfile_150.png",
        "avatar640": "https://static0.fitbit.com/images/profile/defaultProfile_640.png",
        "averageDailySteps": average_daily_steps,
        "challengesBeta": true,
        "clockTimeDisplayFormat": if units == Units::Us { "12hour" } else { "24hour" },
        "corporate": false,
        "corporateAdmin": false,
        "country": user.country,
        "dateOfBirth": user.date_of_birth,
        "displayName": user.display_name,
        "displayNameSetting": "name",
        "distanceUnit": unit,
        "encodedId": user.user_id,
        "features": { "exerciseGoal": true },
        "firstName": user.first_name,
        "foodsLocale": user.locale,
        "fullName": user.full_name,
        "gender": user.gender,
        "glucoseUnit": unit,
        "height": round_to(units.length(user.height_cm), 1),
    });
    let rest = json!({
        "heightUnit": unit,
        "isBugReportEnabled": false,
        "isChild": false,
        "isCoach": false,
        "languageLocale": user.locale,
        "lastName": user.last_name,
        "legalTermsAcceptRequired": false,
        "locale": user.locale,
        "memberSince": user.member_since,
        "mfaEnabled": false,
        "offsetFromUTCMillis": offset_millis,
        "sdkDeveloper": false,
        "sleepTracking": "Normal",
        "startDayOfWeek": if units == Units::Us { "SUNDAY" } else { "MONDAY" },
        "strideLengthRunning": round_to(units.length(user.height_cm * 0.65), 1),
        "strideLengthRunningType": "default",
        "strideLengthWalking": round_to(units.length(user.height_cm * 0.415), 1),
        "strideLengthWalkingType": "default",
        "swimUnit": unit,
        "timezone": user.timezone,
        "topBadges": [],
        "waterUnit": unit,
        "waterUnitName": if units == Units::Us { "fl oz" } else { "ml" },
        "weight": round_to(units.weight(user.weight_kg), 1),
        "weightUnit": unit,
    });
    if let (Some(fields), Value::Object(rest)) = (fields.as_object_mut(), rest) {
        fields.extend(rest);
    }
    json!({ "user": fields })
}

/// An activity type of Fitbit's catalogue: id (its own parent), name, description of the
/// auto-recognized log, kcal per minute, steps per minute (0: it does not move).
struct ActivityType {
    id: u64,
    name: &'static str,
    description: &'static str,
    kcal_per_minute: f64,
    cadence: u64,
}

const WALK: ActivityType = ActivityType {
    id: 90013,
    name: "Walk",
    description: "Walking less than 2 mph, strolling very slowly",
    kcal_per_minute: 4.5,
    cadence: 105,
};
const RUN: ActivityType = ActivityType {
    id: 90009,
    name: "Run",
    description: "Running - 5 mph (12 min/mile)",
    kcal_per_minute: 11.0,
    cadence: 160,
};
/// The usual workouts of a default day.
const USUAL_WORKOUTS: [ActivityType; 6] = [
    WALK,
    RUN,
    ActivityType {
        id: 90001,
        name: "Bike",
        description: "",
        kcal_per_minute: 8.0,
        cadence: 0,
    },
    ActivityType {
        id: 90024,
        name: "Swim",
        description: "",
        kcal_per_minute: 9.0,
        cadence: 0,
    },
    ActivityType {
        id: 2131,
        name: "Weights",
        description: "",
        kcal_per_minute: 6.0,
        cadence: 0,
    },
    ActivityType {
        id: 52001,
        name: "Yoga",
        description: "",
        kcal_per_minute: 3.0,
        cadence: 0,
    },
];

/// One workout of a day, in local time.
struct Workout {
    kind: &'static ActivityType,
    /// Minutes after local midnight.
    start_minute: u32,
    minutes: u32,
    steps: u64,
    km: f64,
    log_id: u64,
}

/// A workout on about 45 % of days, in the morning or the evening, within the day's steps
/// and distance.
fn usual_workouts(user: &TestUser, day: Date, steps: u64, distance_km: f64) -> Vec<Workout> {
    let mut r = Seed::new(&[&user.user_id, &day.to_string(), "workouts"]);
    if r.range(0, 99) >= 45 {
        return Vec::new();
    }
    let kind = &USUAL_WORKOUTS[r.range(0, 5) as usize];
    let start_minute = if r.range(0, 1) == 0 {
        7 * 60 + r.range(0, 9) as u32 * 5
    } else {
        17 * 60 + 30 + r.range(0, 12) as u32 * 5
    };
    let minutes = r.range(25, 75) as u32;
    let workout_steps = (u64::from(minutes) * kind.cadence).min(steps);
    let stride = if kind.id == RUN.id {
        user.height_cm * 0.65 / 100_000.0
    } else {
        stride_km(user)
    };
    vec![Workout {
        kind,
        start_minute,
        minutes,
        steps: workout_steps,
        km: (workout_steps as f64 * stride).min(distance_km),
        log_id: 30_000_000_000 + r.next() % 10_000_000_000,
    }]
}

fn planned_workout(user: &TestUser, day: Date, planned: &PlannedWorkout) -> Workout {
    let mut r = Seed::new(&[
        &user.user_id,
        &day.to_string(),
        &planned.start_minute.to_string(),
        "planned-workout",
    ]);
    Workout {
        kind: match planned.kind {
            WorkoutKind::Run => &RUN,
        },
        start_minute: planned.start_minute,
        minutes: planned.minutes,
        steps: planned.steps,
        km: planned.km,
        log_id: 30_000_000_000 + r.next() % 10_000_000_000,
    }
}

/// An `ActivityLog` item of the daily summary.
fn workout_json(user: &TestUser, day: Date, workout: &Workout, units: Units) -> Value {
    let local = |minute: u32| day.midnight() + Duration::minutes(i64::from(minute));
    let start = local(workout.start_minute);
    let end = from_local(
        &user.timezone,
        local(workout.start_minute + workout.minutes),
    );
    let last_modified = (end + Duration::minutes(3))
        .to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].000Z"
        ))
        .expect("formattable timestamp");
    let calories = (f64::from(workout.minutes) * workout.kind.kcal_per_minute).round() as u64;
    let mut log = json!({
        "activityId": workout.kind.id,
        "activityParentId": workout.kind.id,
        "activityParentName": workout.kind.name,
        "calories": calories,
        "description": workout.kind.description,
        "duration": u64::from(workout.minutes) * 60_000,
        "hasActiveZoneMinutes": true,
        "hasStartTime": true,
        "isFavorite": false,
        "lastModified": last_modified,
        "logId": workout.log_id,
        "name": workout.kind.name,
        "startDate": day.to_string(),
        "startTime": start
            .format(format_description!("[hour]:[minute]"))
            .expect("formattable time"),
        "steps": workout.steps,
    });
    if workout.kind.cadence > 0 {
        log["distance"] = json!(round_to(units.distance(workout.km), 2));
    }
    log
}

/// The daily summary of `day`, with the workouts that ended by `now`.
pub(super) fn activities(
    user: &TestUser,
    day: Date,
    units: Units,
    recorded: Option<&RecordedActivity>,
    now: OffsetDateTime,
) -> Value {
    let date = day.to_string();
    let mut r = Seed::new(&[&user.user_id, &date, "activity"]);
    let mut steps = r.range(2_500, 15_500);
    let mut very = r.range(0, 55);
    let mut fairly = r.range(0, 40);
    let mut lightly = r.range(140, 320);
    let floors = r.range(0, 22);
    let resting_heart_rate =
        52 + Seed::new(&[&user.user_id, "resting-heart-rate"]).range(0, 12) + r.range(0, 3);
    let mut distance_km = steps as f64 * stride_km(user);
    let today = local_date(&user.timezone, now);
    let planned = pattern_day(user.activity_pattern(), &user.user_id, day, today);
    if let Some(planned) = &planned {
        let mut m = Seed::new(&[&user.user_id, &date, "pattern-minutes"]);
        steps = planned.steps;
        distance_km = planned.walking_steps() as f64 * stride_km(user) + planned.workout_km();
        if planned.still {
            very = 0;
            fairly = m.range(0, 5);
            lightly = m.range(60, 140);
        } else {
            very = planned.workout_minutes() * 4 / 5 + m.range(0, 10);
            fairly = m.range(10, 35);
        }
    }
    // Fitbit's sedentary minutes exclude the time asleep.
    let mut sedentary =
        1440u64.saturating_sub(very + fairly + lightly + sleep_plan(user, day).time_in_bed);
    let mut calories_out = None;
    if let Some(recorded) = recorded {
        if let Some(recorded_steps) = recorded.steps {
            steps = recorded_steps;
            distance_km = steps as f64 * stride_km(user);
        }
        distance_km = recorded.distance_km.unwrap_or(distance_km);
        very = recorded.very_active_minutes.unwrap_or(very);
        fairly = recorded.fairly_active_minutes.unwrap_or(fairly);
        lightly = recorded.lightly_active_minutes.unwrap_or(lightly);
        sedentary = recorded.sedentary_minutes.unwrap_or(sedentary);
        calories_out = recorded.calories_out;
    }
    let calories_bmr = bmr(user, day);
    let (calories_out, activity_calories) = match calories_out {
        Some(total) => (total, total.saturating_sub(calories_bmr)),
        None => {
            let active = lightly * 2 + fairly * 5 + very * 9 + steps / 60;
            (calories_bmr + active, active)
        }
    };
    let workouts = match planned.as_ref().and_then(|p| p.workouts.as_ref()) {
        Some(planned) => planned
            .iter()
            .map(|w| planned_workout(user, day, w))
            .collect(),
        None => usual_workouts(user, day, steps, distance_km),
    };
    let logs: Vec<Value> = workouts
        .iter()
        .filter(|w| {
            let end = day.midnight() + Duration::minutes(i64::from(w.start_minute + w.minutes));
            from_local(&user.timezone, end) <= now
        })
        .map(|w| workout_json(user, day, w, units))
        .collect();

    // Split the day's distance over intensity levels by typical speeds.
    let weights = [
        very as f64 * 0.13,
        fairly as f64 * 0.10,
        lightly as f64 * 0.03,
    ];
    let weight_sum: f64 = weights.iter().sum();
    let share = |w: f64| {
        if weight_sum > 0.0 {
            distance_km * w / weight_sum
        } else {
            0.0
        }
    };
    let distance = |km: f64| round_to(units.distance(km), 2);
    json!({
        "activities": logs,
        "goals": {
            "activeMinutes": 30,
            "caloriesOut": (calories_bmr + 800) / 10 * 10,
            "distance": distance(8.05),
            "floors": 10,
            "steps": 10_000,
        },
        "summary": {
            "activeScore": -1,
            "activityCalories": activity_calories,
            "caloriesBMR": calories_bmr,
            "caloriesOut": calories_out,
            "distances": [
                { "activity": "total", "distance": distance(distance_km) },
                { "activity": "tracker", "distance": distance(distance_km) },
                // Workouts were recorded by the tracker, none logged by hand.
                { "activity": "loggedActivities", "distance": 0 },
                { "activity": "veryActive", "distance": distance(share(weights[0])) },
                { "activity": "moderatelyActive", "distance": distance(share(weights[1])) },
                { "activity": "lightlyActive", "distance": distance(share(weights[2])) },
                { "activity": "sedentaryActive", "distance": 0 },
            ],
            "elevation": round_to(units.elevation(floors as f64 * 3.048), 2),
            "fairlyActiveMinutes": fairly,
            "floors": floors,
            "lightlyActiveMinutes": lightly,
            "marginalCalories": activity_calories * 55 / 100,
            "restingHeartRate": resting_heart_rate,
            "sedentaryMinutes": sedentary,
            "steps": steps,
            "veryActiveMinutes": very,
        },
    })
}

/// The main sleep that ends on a given day.
struct SleepPlan {
    /// Local time, as Fitbit reports it (without offset).
    start: PrimitiveDateTime,
    time_in_bed: u64,
    deep: u64,
    light: u64,
    rem: u64,
    wake: u64,
    log_id: u64,
}

fn sleep_plan(user: &TestUser, day: Date) -> SleepPlan {
    let mut r = Seed::new(&[&user.user_id, &day.to_string(), "sleep"]);
    let evening = day.previous_day().unwrap_or(day).with_time(time!(22:00));
    // Stage data comes in 30-second epochs.
    let start = evening + Duration::seconds((r.range(0, 150 * 2) * 30) as i64);
    let time_in_bed = r.range(370, 530);
    let wake = r.range(25, 70);
    let asleep = time_in_bed - wake;
    let deep = asleep * r.range(13, 20) / 100;
    let rem = asleep * r.range(18, 25) / 100;
    SleepPlan {
        start,
        time_in_bed,
        deep,
        light: asleep - deep - rem,
        rem,
        wake,
        log_id: 20_000_000_000 + r.next() % 10_000_000_000,
    }
}

fn local_timestamp(at: PrimitiveDateTime) -> String {
    at.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].000"
    ))
    .expect("formattable date-time")
}

pub(super) fn sleep(user: &TestUser, day: Date) -> Value {
    let plan = sleep_plan(user, day);
    let asleep = plan.time_in_bed - plan.wake;

    let stages = sleep_cycles(plan.wake, plan.light, plan.deep, plan.rem);
    let mut at = plan.start;
    let mut data = Vec::new();
    for (stage, minutes) in stages.into_iter().filter(|(_, minutes)| *minutes > 0) {
        let level = match stage {
            SleepStage::Awake => "wake",
            SleepStage::Light => "light",
            SleepStage::Deep => "deep",
            SleepStage::Rem => "rem",
        };
        data.push(
            json!({ "dateTime": local_timestamp(at), "level": level, "seconds": minutes * 60 }),
        );
        at += Duration::minutes(minutes as i64);
    }
    let count = |level: &str| data.iter().filter(|d| d["level"] == level).count();
    let mut averages = Seed::new(&[&user.user_id, &day.to_string(), "sleep-averages"]);
    let mut level_summary = |level: &str, minutes: u64| {
        let thirty_day_avg = (minutes + averages.range(0, 30)).saturating_sub(15);
        json!({ "count": count(level), "minutes": minutes, "thirtyDayAvgMinutes": thirty_day_avg })
    };
    let levels_summary = json!({
        "deep": level_summary("deep", plan.deep),
        "light": level_summary("light", plan.light),
        "rem": level_summary("rem", plan.rem),
        "wake": level_summary("wake", plan.wake),
    });
    json!({
        "sleep": [{
            "dateOfSleep": day.to_string(),
            "duration": plan.time_in_bed * 60_000,
            "efficiency": asleep * 100 / plan.time_in_bed,
            "endTime": local_timestamp(plan.start + Duration::minutes(plan.time_in_bed as i64)),
            "infoCode": 0,
            "isMainSleep": true,
            "levels": { "data": data, "shortData": [], "summary": levels_summary },
            "logId": plan.log_id,
            "logType": "auto_detected",
            "minutesAfterWakeup": 0,
            "minutesAsleep": asleep,
            "minutesAwake": plan.wake,
            "minutesToFallAsleep": 0,
            "startTime": local_timestamp(plan.start),
            "timeInBed": plan.time_in_bed,
            "type": "stages",
        }],
        "summary": {
            "stages": { "deep": plan.deep, "light": plan.light, "rem": plan.rem, "wake": plan.wake },
            "totalMinutesAsleep": asleep,
            "totalSleepRecords": 1,
            "totalTimeInBed": plan.time_in_bed,
        },
    })
}

/// Weighed on about 60 % of days, in the morning, around the user's weight with a slow
/// four-week drift.
pub(super) fn weight(user: &TestUser, day: Date, units: Units) -> Value {
    let mut r = Seed::new(&[&user.user_id, &day.to_string(), "weight"]);
    if r.range(0, 9) < 4 {
        return json!({ "weight": [] });
    }
    let drift = (day.to_julian_day().rem_euclid(28) as f64 - 14.0) * 0.04;
    let noise = r.range(0, 10) as f64 * 0.06 - 0.3;
    let kg = round_to(user.weight_kg + drift + noise, 1);
    let height_m = user.height_cm / 100.0;
    let at = Time::from_hms(
        6 + r.range(0, 2) as u8,
        r.range(0, 59) as u8,
        r.range(0, 59) as u8,
    )
    .expect("valid time");
    // Weight log ids look like the measurement's epoch milliseconds.
    let log_id = day.with_time(at).assume_utc().unix_timestamp() * 1000;
    json!({
        "weight": [{
            "bmi": round_to(kg / (height_m * height_m), 2),
            "date": day.to_string(),
            "logId": log_id,
            "source": "API",
            "time": at.format(format_description!("[hour]:[minute]:[second]")).expect("formattable time"),
            "weight": round_to(units.weight(kg), 1),
        }]
    })
}
