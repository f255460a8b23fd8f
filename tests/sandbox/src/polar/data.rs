//! Deterministic synthetic data in AccessLink's shapes: every value derives from a hash of
//! (person, day, kind) and the person's activity pattern ([`crate::synthetic`]), so a day
//! answers the same across runs and sandbox instances (a lapsing person's days also depend
//! on the sandbox's today). The daily activity is here; exercises and nights are in the
//! submodules.
//!
//! Invariants:
//! - A day's exercises are part of its totals: their steps are in the day's `steps` and
//!   `distance_from_steps`, their minutes in `active_duration`, their calories in
//!   `active_calories`.
//! - Recorded values replace the synthetic ones field by field; a recorded step count also
//!   replaces the distance derived from it, unless the distance was recorded too.

mod exercise;
mod sleep;

use time::macros::{format_description, time};
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime};

use super::wire::{
    ActivitySamples, ActivitySummary, InactivityStamp, StepSample, StepSamples, ZoneSample,
    ZoneSamples,
};
use super::{PolarUser, RecordedActivity};
use crate::synthetic::{pattern_day, Seed, WorkoutKind};

pub(super) use exercise::{exercise, Workout};
use exercise::{usual_workouts, workout, RUNNING};
use sleep::sleep_plan;
pub(super) use sleep::{sleep, sleep_times};

/// ISO 8601 duration of whole seconds: `PT3H11M`, `PT18H23M30S`, `PT0S`.
pub(super) fn iso_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut text = "PT".to_owned();
    if h > 0 {
        text += &format!("{h}H");
    }
    if m > 0 {
        text += &format!("{m}M");
    }
    if s > 0 || secs == 0 {
        text += &format!("{s}S");
    }
    text
}

pub(super) fn round_to(value: f64, decimals: i32) -> f64 {
    let factor = 10f64.powi(decimals);
    (value * factor).round() / factor
}

pub(super) fn local_time(at: PrimitiveDateTime) -> String {
    at.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]"
    ))
    .expect("formattable date-time")
}

pub(super) fn local_minute(at: PrimitiveDateTime) -> String {
    at.format(format_description!("[year]-[month]-[day]T[hour]:[minute]"))
        .expect("formattable date-time")
}

pub(super) fn clock_minute(at: PrimitiveDateTime) -> String {
    at.format(format_description!("[hour]:[minute]"))
        .expect("formattable time")
}

pub(super) fn utc_millis(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
        .expect("formattable timestamp")
}

fn age_on(birthdate: &str, day: Date) -> i32 {
    let Ok(born) = Date::parse(birthdate, format_description!("[year]-[month]-[day]")) else {
        return 35;
    };
    let had_birthday = (day.month() as u8, day.day()) >= (born.month() as u8, born.day());
    day.year() - born.year() - i32::from(!had_birthday)
}

/// Basal metabolic rate (Mifflin-St Jeor), kcal per day.
fn bmr(user: &PolarUser, day: Date) -> u64 {
    let sex_term = if user.gender == "FEMALE" { -161.0 } else { 5.0 };
    let age = f64::from(age_on(&user.birthdate, day));
    let kcal = 10.0 * user.weight_kg + 6.25 * user.height_cm - 5.0 * age + sex_term;
    kcal.max(800.0).round() as u64
}

/// Walking and running strides in metres.
pub(super) fn strides(user: &PolarUser) -> (f64, f64) {
    (
        user.height_cm * 0.415 / 100.0,
        user.height_cm * 0.65 / 100.0,
    )
}

/// What a day holds for a person before recorded values.
struct DayPlan {
    steps: u64,
    workouts: Vec<Workout>,
    /// Active minutes outside the workouts.
    light_minutes: u64,
    still: bool,
}

fn day_plan(user: &PolarUser, day: Date, today: Date) -> DayPlan {
    let id = &user.polar_user_id;
    let mut r = Seed::new(&[id, &day.to_string(), "polar-activity"]);
    let base_steps = r.range(3_000, 12_000);
    let light = r.range(90, 200);
    match pattern_day(user.activity_pattern(), id, day, today) {
        Some(planned) => {
            let workouts: Vec<Workout> = match &planned.workouts {
                Some(planned_workouts) => planned_workouts
                    .iter()
                    .map(|w| {
                        let sport = match w.kind {
                            WorkoutKind::Run => RUNNING,
                        };
                        let mut run = workout(user, day, sport, w.start_minute, w.minutes);
                        run.steps = w.steps;
                        run.metres = round_to(w.km * 1000.0, 1);
                        run
                    })
                    .collect(),
                None => usual_workouts(user, day),
            };
            let in_workouts: u64 = workouts.iter().map(|w| w.steps).sum();
            DayPlan {
                steps: planned.steps.max(in_workouts),
                workouts,
                light_minutes: if planned.still { light / 4 } else { light },
                still: planned.still,
            }
        }
        None => {
            let workouts = usual_workouts(user, day);
            let in_workouts: u64 = workouts.iter().map(|w| w.steps).sum();
            DayPlan {
                steps: base_steps + in_workouts,
                workouts,
                light_minutes: light,
                still: false,
            }
        }
    }
}

/// The day's exercises (whether uploaded yet or not).
pub(super) fn workouts(user: &PolarUser, day: Date, today: Date) -> Vec<Workout> {
    day_plan(user, day, today).workouts
}

/// Which samples an activity request asked for.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct SampleOptions {
    pub(super) steps: bool,
    pub(super) activity_zones: bool,
    pub(super) inactivity_stamps: bool,
}

impl SampleOptions {
    fn any(self) -> bool {
        self.steps || self.activity_zones || self.inactivity_stamps
    }
}

/// The daily activity of `day`.
pub(super) fn activity(
    user: &PolarUser,
    day: Date,
    today: Date,
    recorded: Option<&RecordedActivity>,
    options: SampleOptions,
) -> ActivitySummary {
    let plan = day_plan(user, day, today);
    let mut r = Seed::new(&[&user.polar_user_id, &day.to_string(), "polar-activity-2"]);
    let (walk_stride, run_stride) = strides(user);
    let workout_steps: u64 = plan.workouts.iter().map(|w| w.steps).sum();
    let run_steps: u64 = plan
        .workouts
        .iter()
        .filter(|w| w.sport == RUNNING)
        .map(|w| w.steps)
        .sum();
    let mut steps = plan.steps;
    let mut distance =
        plan.steps.saturating_sub(run_steps) as f64 * walk_stride + run_steps as f64 * run_stride;
    let workout_minutes: u64 = plan.workouts.iter().map(|w| u64::from(w.minutes)).sum();
    let walking_minutes = steps.saturating_sub(workout_steps) / 110;
    let mut active_minutes = plan.light_minutes + walking_minutes + workout_minutes;
    let workout_kcal: u64 = plan.workouts.iter().map(Workout::calories).sum();
    let mut active_calories =
        plan.light_minutes * 2 + steps.saturating_sub(workout_steps) / 22 + workout_kcal;
    let mut alerts = if plan.still {
        r.range(3, 8)
    } else {
        r.range(0, 2)
    };
    let bmr = bmr(user, day);
    let mut calories = bmr + active_calories;
    if let Some(recorded) = recorded {
        if let Some(recorded_steps) = recorded.steps {
            steps = recorded_steps;
            distance = steps as f64 * walk_stride;
        }
        distance = recorded.distance_from_steps.unwrap_or(distance);
        active_minutes = recorded.active_minutes.unwrap_or(active_minutes);
        alerts = recorded.inactivity_alert_count.unwrap_or(alerts);
        match (recorded.calories, recorded.active_calories) {
            (Some(total), Some(active)) => (calories, active_calories) = (total, active),
            (Some(total), None) => (calories, active_calories) = (total, total.saturating_sub(bmr)),
            (None, Some(active)) => (calories, active_calories) = (bmr + active, active),
            (None, None) => {}
        }
    }
    let active_secs = (active_minutes * 60).min(86_400);
    let asleep_secs = sleep_plan(user, day).asleep_minutes() * 60;
    let inactive_secs = 86_400u64.saturating_sub(active_secs + asleep_secs);
    let samples = options.any().then(|| ActivitySamples {
        date: day.to_string(),
        steps: options
            .steps
            .then(|| step_samples(day, steps, &plan.workouts)),
        activity_zones: options
            .activity_zones
            .then(|| zone_samples(user, day, &plan.workouts)),
        inactivity_stamps: options.inactivity_stamps.then(|| {
            (0..alerts)
                .map(|i| InactivityStamp {
                    stamp: local_minute(
                        day.with_time(time!(10:00)) + Duration::minutes(97 * i as i64),
                    ),
                })
                .collect()
        }),
    });
    let to_u32 = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    ActivitySummary {
        start_time: local_time(day.midnight()),
        end_time: local_time(day.with_time(time!(23:59:59))),
        active_duration: iso_duration(active_secs),
        inactive_duration: iso_duration(inactive_secs),
        daily_activity: round_to(active_calories as f64 / 8.0, 1),
        calories: to_u32(calories),
        active_calories: to_u32(active_calories),
        steps: to_u32(steps),
        inactivity_alert_count: to_u32(alerts),
        distance_from_steps: round_to(distance, 2),
        samples,
    }
}

/// Hourly step samples (08:00 to 21:59 for walking, the workouts' hours for their steps),
/// consecutive equal counts left out as Polar does.
fn step_samples(day: Date, steps: u64, workouts: &[Workout]) -> StepSamples {
    let workout_steps: u64 = workouts.iter().map(|w| w.steps).sum::<u64>().min(steps);
    let walking = steps - workout_steps;
    let mut hours = [0u64; 24];
    for (i, hour) in (8..22).enumerate() {
        hours[hour] = walking / 14 + u64::from((i as u64) < walking % 14);
    }
    let mut left = workout_steps;
    for w in workouts {
        let take = w.steps.min(left);
        hours[(w.start_minute / 60) as usize % 24] += take;
        left -= take;
    }
    let mut samples: Vec<StepSample> = Vec::new();
    for (hour, count) in hours.iter().enumerate() {
        let count = u32::try_from(*count).unwrap_or(u32::MAX);
        if samples.last().is_some_and(|s| s.steps == count) {
            continue;
        }
        samples.push(StepSample {
            steps: count,
            timestamp: local_minute(day.midnight() + Duration::hours(hour as i64)),
        });
    }
    StepSamples {
        interval_ms: 3_600_000,
        total_steps: u32::try_from(steps).unwrap_or(u32::MAX),
        samples,
    }
}

/// The day's zone changes: asleep until waking, sedentary, vigorous during workouts.
fn zone_samples(user: &PolarUser, day: Date, workouts: &[Workout]) -> ZoneSamples {
    let wake = sleep_plan(user, day).end();
    let mut samples = vec![ZoneSample {
        zone: "SLEEP".to_owned(),
        timestamp: local_time(day.midnight()),
    }];
    let mut at = |minute: PrimitiveDateTime, zone: &str| {
        samples.push(ZoneSample {
            zone: zone.to_owned(),
            timestamp: local_time(minute),
        });
    };
    if wake.date() == day {
        at(wake, "LIGHT");
    }
    for w in workouts {
        at(w.local(w.start_minute), "VIGOROUS");
        at(w.local(w.start_minute + w.minutes), "SEDENTARY");
    }
    ZoneSamples { samples }
}

/// The person's device id (8 hex digits).
pub(super) fn device_id(user: &PolarUser) -> String {
    format!(
        "{:08X}",
        Seed::new(&[&user.polar_user_id, "device"]).next() & 0xFFFF_FFFF
    )
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::synthetic::ActivityPattern;

    #[test]
    fn durations_are_iso_8601() {
        assert_eq!(iso_duration(0), "PT0S");
        assert_eq!(iso_duration(11_460), "PT3H11M");
        assert_eq!(iso_duration(66_210), "PT18H23M30S");
        assert_eq!(iso_duration(45), "PT45S");
    }

    #[test]
    fn a_runners_weekday_has_an_evening_run_within_its_totals() {
        let user = PolarUser::new("1", "R", "Unner").with_pattern(ActivityPattern::WeekdayRunner);
        let day = date!(2026 - 11 - 18); // a Wednesday
        let runs = workouts(&user, day, date!(2026 - 11 - 20));
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].sport.name, "RUNNING");
        assert_eq!((runs[0].start_minute + runs[0].minutes) / 60, 18);
        let summary = activity(
            &user,
            day,
            date!(2026 - 11 - 20),
            None,
            SampleOptions::default(),
        );
        assert!(summary.steps >= 10_000, "{}", summary.steps);
        assert!(u64::from(summary.steps) >= runs[0].steps);
        assert!(summary.samples.is_none());
    }

    #[test]
    fn step_samples_add_up_to_the_day() {
        let user = PolarUser::new("2", "S", "Teps");
        let day = date!(2026 - 11 - 18);
        let options = SampleOptions {
            steps: true,
            activity_zones: true,
            inactivity_stamps: true,
        };
        let summary = activity(&user, day, date!(2026 - 11 - 20), None, options);
        let samples = summary.samples.unwrap();
        let steps = samples.steps.unwrap();
        assert_eq!(steps.total_steps, summary.steps);
        // Consecutive equal hours are left out, so re-expand them to check the sum.
        let mut hours = [None; 24];
        for s in &steps.samples {
            let hour: usize = s.timestamp[11..13].parse().unwrap();
            hours[hour] = Some(s.steps);
        }
        let mut last = 0;
        let total: u32 = hours
            .iter()
            .map(|h| {
                last = h.unwrap_or(last);
                last
            })
            .sum();
        assert_eq!(total, summary.steps);
        assert_eq!(
            samples.inactivity_stamps.unwrap().len() as u32,
            summary.inactivity_alert_count
        );
    }

    #[test]
    fn a_night_adds_up() {
        let user = PolarUser::new("3", "S", "Leeper");
        let night = sleep(&user, date!(2026 - 11 - 18), "x");
        assert!(night.sleep_start_time.starts_with("2026-11-1"));
        assert!(night.sleep_end_time.starts_with("2026-11-18T0"));
        assert_eq!(
            night.total_interruption_duration,
            night.short_interruption_duration + night.long_interruption_duration
        );
        assert!(night.hypnogram.values().all(|code| *code <= 4));
        assert!(night.heart_rate_samples.len() > 50);
    }
}
