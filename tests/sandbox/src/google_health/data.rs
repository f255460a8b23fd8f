//! Deterministic synthetic data and the JSON shapes of the discovery schemas.
//!
//! Every value derives from a hash of (user, day, kind), so a day always answers the same
//! across runs and sandbox instances (a lapsing person's days also depend on the sandbox's
//! today, see [`crate::synthetic`]). A pattern's planned workouts are the day's exercise,
//! and their steps, distance and minutes are part of the day's totals. Times are built in the user's time zone (a small
//! built-in table with DST rules), so sessions carry the local UTC offset of their start and
//! end, and civil times are the local wall-clock times.

use serde_json::{json, Map, Value};
use time::macros::{format_description, time};
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, UtcOffset};

use super::{GoogleUser, RecordedDay, RecordedExercise, RecordedSleep, RecordedWeight};
use crate::civil_time::{from_local, local_date, to_local};
use crate::synthetic::{pattern_day, sleep_cycles, PatternDay, Seed, SleepStage, WorkoutKind};

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

/// Walking stride (41.5 % of height) in millimetres.
pub(super) fn walking_stride_mm(user: &GoogleUser) -> u64 {
    (user.height_cm * 4.15).round() as u64
}

pub(super) fn running_stride_mm(user: &GoogleUser) -> u64 {
    (user.height_cm * 6.5).round() as u64
}

/// One civil day's activity totals.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct DayActivity {
    pub(super) steps: u64,
    pub(super) distance_mm: u64,
    pub(super) calories_kcal: f64,
    pub(super) azm_fat_burn: u64,
    pub(super) azm_cardio: u64,
    pub(super) azm_peak: u64,
    /// Active minutes by activity level (the `active-minutes` data type).
    pub(super) light_minutes: u64,
    pub(super) moderate_minutes: u64,
    pub(super) vigorous_minutes: u64,
}

/// The person's day under their activity pattern (`None` for the default pattern).
fn planned_day(user: &GoogleUser, day: Date, today: Date) -> Option<PatternDay> {
    let person = user
        .legacy_user_id
        .as_deref()
        .unwrap_or(&user.health_user_id);
    pattern_day(user.activity_pattern(), person, day, today)
}

/// The day's totals; `elapsed` is the fraction of the day that has passed (1 for past days),
/// `today` the person's local date by the sandbox clock.
pub(super) fn day_activity(
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

/// One sleep stage: type and local start/end.
#[derive(Clone, Debug)]
pub(super) struct Stage {
    pub(super) kind: &'static str,
    pub(super) start: OffsetDateTime,
    pub(super) end: OffsetDateTime,
}

#[derive(Clone, Debug)]
pub(super) struct SleepSession {
    pub(super) id: String,
    /// In the local offset at the start / end.
    pub(super) start: OffsetDateTime,
    pub(super) end: OffsetDateTime,
    pub(super) stages: Vec<Stage>,
    pub(super) nap: bool,
    pub(super) main: bool,
    pub(super) recorded: bool,
}

impl SleepSession {
    fn minutes(&self) -> i64 {
        (self.end - self.start).whole_minutes()
    }
}

fn stage_kind(name: &str) -> &'static str {
    match name {
        "AWAKE" => "AWAKE",
        "LIGHT" => "LIGHT",
        "DEEP" => "DEEP",
        "REM" => "REM",
        "ASLEEP" => "ASLEEP",
        "RESTLESS" => "RESTLESS",
        _ => "SLEEP_STAGE_TYPE_UNSPECIFIED",
    }
}

/// Lays stages of the given minutes end to end from `start`, in the zone's offsets; the
/// last one ends exactly at `end`.
fn lay_stages(
    time_zone: &str,
    start: OffsetDateTime,
    end: OffsetDateTime,
    plan: &[(&'static str, i64)],
) -> Vec<Stage> {
    let mut at = start;
    let mut stages = Vec::new();
    let planned: Vec<&(&str, i64)> = plan.iter().filter(|(_, m)| *m > 0).collect();
    for (i, (kind, minutes)) in planned.iter().enumerate() {
        let stage_end = if i + 1 == planned.len() {
            end
        } else {
            to_local(time_zone, at + Duration::minutes(*minutes))
        };
        stages.push(Stage {
            kind,
            start: at,
            end: stage_end,
        });
        at = stage_end;
    }
    stages
}

/// Four sleep cycles (light, deep, light, REM, a short awakening) over the session.
fn staged_plan(total: i64, r: &mut Seed) -> Vec<(&'static str, i64)> {
    let awake = total * r.range(6, 12) as i64 / 100;
    let asleep = total - awake;
    let deep = asleep * r.range(13, 20) as i64 / 100;
    let rem = asleep * r.range(18, 25) as i64 / 100;
    let light = asleep - deep - rem;
    // Stages of no (or negative) length are left out either way.
    let minutes = |m: i64| u64::try_from(m).unwrap_or(0);
    sleep_cycles(minutes(awake), minutes(light), minutes(deep), minutes(rem))
        .into_iter()
        .map(|(stage, m)| {
            let kind = match stage {
                SleepStage::Awake => "AWAKE",
                SleepStage::Light => "LIGHT",
                SleepStage::Deep => "DEEP",
                SleepStage::Rem => "REM",
            };
            (kind, m as i64)
        })
        .collect()
}

/// The synthetic sessions ending on the user's civil `day`: the night before (around 23:10
/// to 07:05 local, always across midnight) and, on some days, an afternoon nap.
pub(super) fn synthetic_sleep(user: &GoogleUser, day: Date) -> Vec<SleepSession> {
    let tz = &user.time_zone;
    let mut r = Seed::new(&[&user.health_user_id, &day.to_string(), "sleep"]);
    let evening = day.previous_day().unwrap_or(day).with_time(time!(23:10));
    let start_local = evening + Duration::minutes(r.range(0, 16) as i64 * 5 - 40);
    let end_local = day.with_time(time!(07:05)) + Duration::minutes(r.range(0, 18) as i64 * 5 - 45);
    let start = from_local(tz, start_local);
    let end = from_local(tz, end_local);
    let plan = staged_plan((end - start).whole_minutes(), &mut r);
    let mut sessions = vec![SleepSession {
        id: r.id(),
        start,
        end,
        stages: lay_stages(tz, start, end, &plan),
        nap: false,
        main: true,
        recorded: false,
    }];
    if r.range(0, 99) < 15 {
        let nap_start = from_local(
            tz,
            day.with_time(time!(14:00)) + Duration::minutes(r.range(0, 18) as i64 * 5),
        );
        let minutes = r.range(20, 45) as i64;
        let nap_end = to_local(tz, nap_start + Duration::minutes(minutes));
        let restless = minutes / 5;
        sessions.push(SleepSession {
            id: r.id(),
            start: nap_start,
            end: nap_end,
            stages: lay_stages(
                tz,
                nap_start,
                nap_end,
                &[
                    ("ASLEEP", minutes - restless - 2),
                    ("RESTLESS", restless),
                    ("AWAKE", 2),
                ],
            ),
            nap: true,
            main: false,
            recorded: false,
        });
    }
    sessions
}

/// A recorded session as the API reports it; the longest non-nap session of a day is main.
pub(super) fn recorded_sleep(user: &GoogleUser, sessions: &[RecordedSleep]) -> Vec<SleepSession> {
    let mut out: Vec<SleepSession> = sessions
        .iter()
        .map(|s| {
            let mut r = Seed::new(&[&user.health_user_id, &timestamp(s.start), "recorded-sleep"]);
            let stages = match &s.stages {
                Some(stages) => {
                    let plan: Vec<(&'static str, i64)> = stages
                        .iter()
                        .map(|st| (stage_kind(&st.stage), i64::from(st.minutes)))
                        .collect();
                    lay_stages(&user.time_zone, s.start, s.end, &plan)
                }
                None => {
                    let plan = staged_plan((s.end - s.start).whole_minutes().max(1), &mut r);
                    lay_stages(&user.time_zone, s.start, s.end, &plan)
                }
            };
            SleepSession {
                id: r.id(),
                start: s.start,
                end: s.end,
                stages,
                nap: s.nap,
                main: false,
                recorded: true,
            }
        })
        .collect();
    if let Some(main) = out
        .iter_mut()
        .filter(|s| !s.nap)
        .max_by_key(|s| s.minutes())
    {
        main.main = true;
    }
    out
}

pub(super) fn sleep_point(health_user_id: &str, s: &SleepSession) -> Value {
    let mut by_type: Vec<(&str, i64, i64)> = Vec::new();
    for stage in &s.stages {
        let minutes = (stage.end - stage.start).whole_minutes();
        match by_type.iter_mut().find(|(k, _, _)| *k == stage.kind) {
            Some(entry) => {
                entry.1 += minutes;
                entry.2 += 1;
            }
            None => by_type.push((stage.kind, minutes, 1)),
        }
    }
    let minutes_of = |kinds: &[&str]| -> i64 {
        by_type
            .iter()
            .filter(|(k, _, _)| kinds.contains(k))
            .map(|(_, m, _)| m)
            .sum()
    };
    let asleep = minutes_of(&["LIGHT", "DEEP", "REM", "ASLEEP"]);
    let awake = minutes_of(&["AWAKE"]);
    let mut summary = json!({
        "minutesInSleepPeriod": s.minutes().to_string(),
        "stagesSummary": by_type
            .iter()
            .map(|(kind, minutes, count)| {
                json!({ "type": kind, "minutes": minutes.to_string(), "count": count.to_string() })
            })
            .collect::<Vec<_>>(),
    });
    // proto3 JSON leaves zero values out.
    for (name, value) in [("minutesAsleep", asleep), ("minutesAwake", awake)] {
        if value != 0 {
            summary[name] = json!(value.to_string());
        }
    }
    let stages: Vec<Value> = s
        .stages
        .iter()
        .map(|stage| {
            json!({
                "type": stage.kind,
                "startTime": timestamp(stage.start),
                "startUtcOffset": offset_json(stage.start),
                "endTime": timestamp(stage.end),
                "endUtcOffset": offset_json(stage.end),
                "createTime": timestamp(s.end + Duration::minutes(12)),
                "updateTime": timestamp(s.end + Duration::minutes(12)),
            })
        })
        .collect();
    let mut metadata = json!({ "processed": true, "stagesStatus": if s.nap { "REJECTED_NAP" } else { "SUCCEEDED" } });
    if s.main {
        metadata["mainSleep"] = json!(true);
    }
    if s.nap {
        metadata["nap"] = json!(true);
    }
    json!({
        "name": format!("users/{health_user_id}/dataTypes/sleep/dataPoints/{}", s.id),
        "dataSource": data_source(s.recorded, "WATCH"),
        "sleep": {
            "interval": interval_json(s.start, s.end),
            "type": if s.nap { "CLASSIC" } else { "STAGES" },
            "stages": stages,
            "metadata": metadata,
            "summary": summary,
            "createTime": timestamp(s.end + Duration::minutes(12)),
            "updateTime": timestamp(s.end + Duration::minutes(12)),
        },
    })
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

#[derive(Clone, Debug)]
pub(super) struct WeightSample {
    pub(super) id: String,
    /// In the local offset.
    pub(super) at: OffsetDateTime,
    pub(super) grams: f64,
    pub(super) notes: Option<String>,
    pub(super) recorded: bool,
}

/// Weighed on about 60 % of days, in the morning, around the user's weight with a slow
/// four-week drift, to 100 g.
pub(super) fn synthetic_weight(user: &GoogleUser, day: Date) -> Option<WeightSample> {
    let mut r = Seed::new(&[&user.health_user_id, &day.to_string(), "weight"]);
    if r.range(0, 9) < 4 {
        return None;
    }
    let drift = (day.to_julian_day().rem_euclid(28) as f64 - 14.0) * 0.04;
    let noise = r.range(0, 10) as f64 * 0.06 - 0.3;
    let grams = ((user.weight_kg + drift + noise) * 10.0).round() * 100.0;
    let local = day.with_time(time!(06:30)) + Duration::minutes(r.range(0, 120) as i64);
    Some(WeightSample {
        id: r.id(),
        at: from_local(&user.time_zone, local),
        grams,
        notes: None,
        recorded: false,
    })
}

pub(super) fn recorded_weight(user: &GoogleUser, weight: &RecordedWeight) -> WeightSample {
    let mut r = Seed::new(&[
        &user.health_user_id,
        &timestamp(weight.at),
        "recorded-weight",
    ]);
    WeightSample {
        id: r.id(),
        at: weight.at,
        grams: weight.grams,
        notes: weight.notes.clone(),
        recorded: true,
    }
}

pub(super) fn weight_point(health_user_id: &str, w: &WeightSample) -> Value {
    let mut weight = json!({
        "sampleTime": {
            "physicalTime": timestamp(w.at),
            "utcOffset": offset_json(w.at),
            "civilTime": civil_json(primitive(w.at)),
        },
        "weightGrams": w.grams,
    });
    if let Some(notes) = &w.notes {
        weight["notes"] = json!(notes);
    }
    json!({
        "name": format!("users/{health_user_id}/dataTypes/weight/dataPoints/{}", w.id),
        "dataSource": data_source(w.recorded, "SCALE"),
        "weight": weight,
    })
}

#[derive(Clone, Debug)]
pub(super) struct ExerciseSession {
    pub(super) id: String,
    pub(super) start: OffsetDateTime,
    pub(super) end: OffsetDateTime,
    pub(super) exercise_type: String,
    pub(super) calories_kcal: f64,
    pub(super) distance_mm: Option<f64>,
    pub(super) steps: Option<u64>,
    pub(super) average_heart_rate: u64,
    pub(super) active_zone_minutes: u64,
    pub(super) recorded: bool,
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
pub(super) fn synthetic_exercise(
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

pub(super) fn recorded_exercise(user: &GoogleUser, e: &RecordedExercise) -> ExerciseSession {
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

pub(super) fn exercise_point(health_user_id: &str, e: &ExerciseSession) -> Value {
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

/// Proto3 JSON of an int64: a string, left out when zero.
fn int64_field(out: &mut Map<String, Value>, name: &str, value: u64) {
    if value != 0 {
        out.insert(name.to_owned(), json!(value.to_string()));
    }
}

/// The `DailyRollupDataPoint` value field and its JSON for a roll-up of `days` of activity.
pub(super) fn activity_rollup(
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

pub(super) fn weight_rollup(samples: &[WeightSample]) -> Option<(&'static str, Value)> {
    if samples.is_empty() {
        return None;
    }
    let avg = samples.iter().map(|s| s.grams).sum::<f64>() / samples.len() as f64;
    Some((
        "weight",
        json!({ "weightGramsAvg": (avg * 10.0).round() / 10.0 }),
    ))
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
