//! Building blocks of the provider sandboxes' synthetic data: the deterministic generator
//! ([`Seed`]), the shape of a synthetic night ([`sleep_cycles`]) and the activity patterns
//! people follow ([`ActivityPattern`], [`pattern_day`]).
//!
//! Invariants:
//! - A seed's sequence depends only on the parts it is made from (e.g. user, day, kind), so
//!   a day answers the same across runs and sandbox instances.
//! - Parts are joined with U+001F, which no id or date contains: `["ab", "c"]` and
//!   `["a", "bc"]` seed differently.
//! - The algorithm (SHA-256 of the parts, then SplitMix64) is fixed here rather than taken
//!   from the `rand` crate, so values do not change when a dependency does.
//! - The stages of a night add up to exactly the minutes they were given.
//! - A person's pattern is the one set on their account, else derived from their id alone
//!   (the same id has the same pattern in every sandbox and run).
//! - A pattern day depends only on (person, day, today): the lapse is the one pattern whose
//!   past days change as the sandbox clock moves (its last ten days are always the lapse).
//!
//! Patterns, so that the default campaign rules fire for some people:
//! - `weekday_runner` (about 1 in 3 ids): Monday to Friday a run that ends between 18:00
//!   and 18:59 local time, with 10,000 steps or more on the day; on Saturday a long morning
//!   run (well over 10,000 steps). About 2 in 3 runners also walk 10,000 steps or more on
//!   Sundays, so they keep a 7-day streak; the others stay below on Sundays. Thirty days
//!   cover well over 100 km.
//! - `lapse` (about 1 in 10 ids): 6,000 to 14,000 steps a day until ten days before the
//!   sandbox's today, then fewer than 2,000 steps and no workouts every day from then on.
//! - `default` (everyone else): the providers' usual synthetic days.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Date, Duration, Weekday};

pub(crate) struct Seed(u64);

impl Seed {
    pub(crate) fn new(parts: &[&str]) -> Seed {
        let digest = Sha256::digest(parts.join("\u{1f}").as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        Seed(u64::from_be_bytes(first))
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (the modulo bias is irrelevant for test data).
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// An id of 16 lowercase hex digits (valid as a Google Health data point id).
    pub(crate) fn id(&mut self) -> String {
        format!("{:016x}", self.next())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SleepStage {
    Awake,
    Light,
    Deep,
    Rem,
}

/// `total` split into `n` parts that differ by at most one.
fn split(total: u64, n: u64) -> Vec<u64> {
    (0..n)
        .map(|i| total / n + u64::from(i < total % n))
        .collect()
}

/// A night's stages in order: a first awakening, then four sleep cycles (light, deep, light,
/// REM, a short awakening), each kind's minutes spread evenly over its occurrences. Stages
/// of 0 minutes are kept; the providers leave them out of their answers.
pub(crate) fn sleep_cycles(awake: u64, light: u64, deep: u64, rem: u64) -> Vec<(SleepStage, u64)> {
    let light = split(light, 8);
    let deep = split(deep, 4);
    let rem = split(rem, 4);
    let awake = split(awake, 5);
    let mut stages = vec![(SleepStage::Awake, awake[0])];
    for cycle in 0..4 {
        stages.extend([
            (SleepStage::Light, light[2 * cycle]),
            (SleepStage::Deep, deep[cycle]),
            (SleepStage::Light, light[2 * cycle + 1]),
            (SleepStage::Rem, rem[cycle]),
            (SleepStage::Awake, awake[cycle + 1]),
        ]);
    }
    stages
}

/// How a synthetic person moves, day by day. On the admin APIs and in JSON:
/// `"weekday_runner"`, `"lapse"` or `"default"`.
///
/// The sandboxes' default person (Fitbit `GGNJL9`, Google Health `4417291730955318562`
/// migrated from it, Polar `2278517`) is a weekday runner who walks on Sundays. Ids whose
/// derived pattern tests and demos may rely on (pinned by a test):
///
/// | pattern | Fitbit-style id | health id | Polar user id |
/// |---|---|---|---|
/// | weekday runner, 7-day streak | `SBX091` | `4400000000000000001` | `4400001` |
/// | weekday runner, no Sunday walk | `SBX011` | `4400000000000000000` | `4400000` |
/// | lapse | `SBX021` | `4400000000000000017` | `4400006` |
/// | default | `SBX001` | `4400000000000000002` | `4400002` |
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityPattern {
    /// The providers' usual synthetic days.
    #[default]
    Default,
    /// Runs on weekday evenings (ending 18:xx local) and long on Saturdays.
    WeekdayRunner,
    /// Active, then almost still for the last ten days before today.
    Lapse,
}

impl ActivityPattern {
    /// The pattern of a person whose account does not set one: about 1 in 3 ids are weekday
    /// runners, 1 in 10 lapse, the rest default.
    pub fn derived_from(person_id: &str) -> ActivityPattern {
        match Seed::new(&[person_id, "activity-pattern"]).range(0, 29) {
            0..=9 => ActivityPattern::WeekdayRunner,
            10..=12 => ActivityPattern::Lapse,
            _ => ActivityPattern::Default,
        }
    }
}

/// What kind of workout a pattern plans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WorkoutKind {
    Run,
}

/// A workout a pattern plans, in the person's local time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct PlannedWorkout {
    pub(crate) kind: WorkoutKind,
    /// Local start, minutes after midnight.
    pub(crate) start_minute: u32,
    pub(crate) minutes: u32,
    pub(crate) km: f64,
    pub(crate) steps: u64,
}

impl PlannedWorkout {
    /// Local end, minutes after midnight.
    pub(crate) fn end_minute(&self) -> u32 {
        self.start_minute + self.minutes
    }
}

/// One day of a pattern other than the default.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PatternDay {
    /// The day's steps, workouts included.
    pub(crate) steps: u64,
    /// `None`: the provider's usual workouts; otherwise exactly these.
    pub(crate) workouts: Option<Vec<PlannedWorkout>>,
    /// A lapse day: hardly any active minutes.
    pub(crate) still: bool,
}

impl PatternDay {
    /// Steps outside the planned workouts (walked at the walking stride).
    pub(crate) fn walking_steps(&self) -> u64 {
        let in_workouts: u64 = self.workouts.iter().flatten().map(|w| w.steps).sum();
        self.steps.saturating_sub(in_workouts)
    }

    pub(crate) fn workout_km(&self) -> f64 {
        self.workouts.iter().flatten().map(|w| w.km).sum()
    }

    pub(crate) fn workout_minutes(&self) -> u64 {
        self.workouts
            .iter()
            .flatten()
            .map(|w| u64::from(w.minutes))
            .sum()
    }
}

/// The first day of a lapse that is still going on `today`.
pub(crate) fn lapse_start(today: Date) -> Date {
    today - Duration::days(10)
}

/// Whether a weekday runner also walks 10,000 steps on Sundays (about 2 in 3 do).
pub(crate) fn walks_on_sundays(person_id: &str) -> bool {
    Seed::new(&[person_id, "sunday-walk"]).range(0, 2) < 2
}

fn run(r: &mut Seed, start_minute: u32, minutes: u32) -> PlannedWorkout {
    let seconds_per_km = r.range(300, 390);
    let cadence = r.range(155, 170);
    PlannedWorkout {
        kind: WorkoutKind::Run,
        start_minute,
        minutes,
        km: (f64::from(minutes) * 60.0 / seconds_per_km as f64 * 100.0).round() / 100.0,
        steps: u64::from(minutes) * cadence,
    }
}

/// The day of `person_id` under `pattern`, or `None` for the default pattern (the provider
/// generates the day as it always did). `today` is the person's local date by the
/// sandbox clock.
pub(crate) fn pattern_day(
    pattern: ActivityPattern,
    person_id: &str,
    day: Date,
    today: Date,
) -> Option<PatternDay> {
    let mut r = Seed::new(&[person_id, &day.to_string(), "pattern-day"]);
    match pattern {
        ActivityPattern::Default => None,
        ActivityPattern::WeekdayRunner => Some(match day.weekday() {
            Weekday::Saturday => {
                let start = 9 * 60 + r.range(0, 60) as u32;
                let minutes = r.range(80, 115) as u32;
                let long = run(&mut r, start, minutes);
                PatternDay {
                    steps: r.range(3_000, 6_000) + long.steps,
                    workouts: Some(vec![long]),
                    still: false,
                }
            }
            Weekday::Sunday => PatternDay {
                steps: if walks_on_sundays(person_id) {
                    r.range(10_200, 14_000)
                } else {
                    r.range(3_000, 9_500)
                },
                workouts: Some(Vec::new()),
                still: false,
            },
            _ => {
                // Ends 18:03 to 18:57, so every run ends in the 18:00 hour.
                let end = 18 * 60 + r.range(3, 57) as u32;
                let minutes = r.range(35, 55) as u32;
                let evening = run(&mut r, end - minutes, minutes);
                PatternDay {
                    steps: r.range(5_000, 8_500) + evening.steps,
                    workouts: Some(vec![evening]),
                    still: false,
                }
            }
        }),
        ActivityPattern::Lapse if day >= lapse_start(today) => Some(PatternDay {
            steps: r.range(300, 1_900),
            workouts: Some(Vec::new()),
            still: true,
        }),
        ActivityPattern::Lapse => Some(PatternDay {
            steps: r.range(6_000, 14_000),
            workouts: None,
            still: false,
        }),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    #[test]
    fn documented_ids_have_their_patterns() {
        use ActivityPattern::{Default, Lapse, WeekdayRunner};
        for (id, pattern, sundays) in [
            ("GGNJL9", WeekdayRunner, true),
            ("SBX091", WeekdayRunner, true),
            ("4400000000000000001", WeekdayRunner, true),
            ("SBX011", WeekdayRunner, false),
            ("4400000000000000000", WeekdayRunner, false),
            ("SBX021", Lapse, true),
            ("4400000000000000017", Lapse, true),
            ("SBX001", Default, true),
            ("4400000000000000002", Default, true),
            ("2278517", WeekdayRunner, true),
            ("4400001", WeekdayRunner, true),
            ("4400000", WeekdayRunner, false),
            ("4400006", Lapse, true),
            ("4400002", Default, true),
        ] {
            assert_eq!(ActivityPattern::derived_from(id), pattern, "{id}");
            if pattern == WeekdayRunner {
                assert_eq!(walks_on_sundays(id), sundays, "{id}");
            }
        }
    }

    #[test]
    fn patterns_are_spread_over_ids() {
        let ids: Vec<String> = (0..3_000).map(|i| format!("U{i:05}")).collect();
        let share = |pattern| {
            ids.iter()
                .filter(|id| ActivityPattern::derived_from(id) == pattern)
                .count() as f64
                / ids.len() as f64
        };
        assert!((0.28..0.39).contains(&share(ActivityPattern::WeekdayRunner)));
        assert!((0.07..0.13).contains(&share(ActivityPattern::Lapse)));
    }

    #[test]
    fn weekday_runners_run_into_the_evening_and_keep_their_streak() {
        let today = date!(2026 - 11 - 21);
        for person in ["R1", "R2", "R3", "R4", "R5", "R6"] {
            let mut km = 0.0;
            let mut streak = 0;
            let mut longest = 0;
            for back in 0..30 {
                let day = today - Duration::days(back);
                let planned =
                    pattern_day(ActivityPattern::WeekdayRunner, person, day, today).unwrap();
                let workouts = planned.workouts.clone().unwrap();
                if day.weekday().number_from_monday() <= 5 {
                    assert_eq!(workouts.len(), 1);
                    assert_eq!(workouts[0].end_minute() / 60, 18, "{day}");
                    assert!(planned.steps >= 10_000, "{day}: {}", planned.steps);
                }
                km += planned.workout_km();
                streak = if planned.steps >= 10_000 {
                    streak + 1
                } else {
                    0
                };
                longest = longest.max(streak);
            }
            assert!(km >= 100.0, "{person}: {km} km");
            assert_eq!(longest >= 7, walks_on_sundays(person), "{person}");
        }
    }

    #[test]
    fn a_lapse_is_the_last_ten_days() {
        let today = date!(2026 - 11 - 21);
        let steps = |back: i64| {
            pattern_day(
                ActivityPattern::Lapse,
                "L1",
                today - Duration::days(back),
                today,
            )
            .unwrap()
            .steps
        };
        assert!((0..=10).all(|back| steps(back) < 2_000));
        let before: Vec<u64> = (11..41).map(steps).collect();
        assert!(before.iter().all(|s| *s >= 6_000));
        // The lapse rule: the 30 days before the last 7 averaged 5,000 or more.
        let window: u64 = (7..37).map(steps).sum();
        assert!(window / 30 >= 5_000);
        assert_eq!(
            pattern_day(ActivityPattern::Default, "D1", today, today),
            None
        );
    }
}
