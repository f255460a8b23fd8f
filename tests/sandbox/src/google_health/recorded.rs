//! What tests record for a user's days (activity, sleep, weigh-ins, workouts) and delete,
//! in place of the synthetic data.
//!
//! Invariants: recorded activity merges field by field with earlier recordings; recorded
//! sleep, weigh-ins and workouts replace the synthetic ones of their civil day; a deleted
//! day has no data of a kind until data of that kind is recorded for it again.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use super::{GoogleHealthSandbox, State};

/// A day's activity a test records for a user; the given fields replace the synthetic ones
/// (distance follows recorded steps unless also given).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedDay {
    #[serde(with = "crate::admin_api::iso_date")]
    pub date: Date,
    #[serde(default)]
    pub steps: Option<u64>,
    #[serde(default)]
    pub distance_mm: Option<u64>,
    /// Total calories (BMR included) of the day.
    #[serde(default)]
    pub calories_kcal: Option<f64>,
    /// Active zone minutes of the day (fat burn counts 1 per minute, cardio and peak 2).
    #[serde(default)]
    pub azm_minutes: Option<u64>,
    /// Of `azm_minutes`, earned in the cardio and peak zones (the rest is fat burn).
    #[serde(default)]
    pub azm_cardio: Option<u64>,
    #[serde(default)]
    pub azm_peak: Option<u64>,
    /// Minutes at moderate and vigorous activity level (the `active-minutes` data type);
    /// unset: derived from the active zone minutes.
    #[serde(default)]
    pub moderate_minutes: Option<u64>,
    #[serde(default)]
    pub vigorous_minutes: Option<u64>,
}

impl RecordedDay {
    /// Nothing recorded yet for `date`; set the fields you need.
    pub fn on(date: Date) -> RecordedDay {
        RecordedDay {
            date,
            steps: None,
            distance_mm: None,
            calories_kcal: None,
            azm_minutes: None,
            azm_cardio: None,
            azm_peak: None,
            moderate_minutes: None,
            vigorous_minutes: None,
        }
    }

    pub fn steps(mut self, steps: u64) -> RecordedDay {
        self.steps = Some(steps);
        self
    }

    /// Minutes at moderate and at vigorous activity level.
    pub fn active_minutes(mut self, moderate: u64, vigorous: u64) -> RecordedDay {
        self.moderate_minutes = Some(moderate);
        self.vigorous_minutes = Some(vigorous);
        self
    }

    pub fn distance_mm(mut self, mm: u64) -> RecordedDay {
        self.distance_mm = Some(mm);
        self
    }

    pub fn calories_kcal(mut self, kcal: f64) -> RecordedDay {
        self.calories_kcal = Some(kcal);
        self
    }

    pub fn azm_minutes(mut self, minutes: u64) -> RecordedDay {
        self.azm_minutes = Some(minutes);
        self
    }

    /// Later recordings win field by field, like a device syncing more data.
    fn merge(&mut self, newer: RecordedDay) {
        self.steps = newer.steps.or(self.steps);
        self.distance_mm = newer.distance_mm.or(self.distance_mm);
        self.calories_kcal = newer.calories_kcal.or(self.calories_kcal);
        self.azm_minutes = newer.azm_minutes.or(self.azm_minutes);
        self.azm_cardio = newer.azm_cardio.or(self.azm_cardio);
        self.azm_peak = newer.azm_peak.or(self.azm_peak);
    }
}

/// One sleep stage of a recorded session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedStage {
    /// `AWAKE`, `LIGHT`, `DEEP`, `REM`, `ASLEEP`, `RESTLESS`.
    pub stage: String,
    pub minutes: u32,
}

/// A sleep session a test records. Times carry the user's local UTC offset at that moment
/// (start and end may differ across a DST change). It belongs to the civil day it ends on
/// and replaces that day's synthetic sessions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedSleep {
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
    /// Stages in order; `None` synthesizes stages over the session.
    #[serde(default)]
    pub stages: Option<Vec<RecordedStage>>,
    #[serde(default)]
    pub nap: bool,
}

impl RecordedSleep {
    pub fn new(start: OffsetDateTime, end: OffsetDateTime) -> RecordedSleep {
        RecordedSleep {
            start,
            end,
            stages: None,
            nap: false,
        }
    }
}

/// A weigh-in a test records; it replaces the synthetic one of its civil day.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedWeight {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub grams: f64,
    #[serde(default)]
    pub notes: Option<String>,
}

/// A workout a test records; it replaces the synthetic ones of the civil day it starts on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedExercise {
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
    /// An `Exercise.exerciseType` value, e.g. `RUNNING`.
    pub exercise_type: String,
    #[serde(default)]
    pub calories_kcal: Option<f64>,
    #[serde(default)]
    pub distance_mm: Option<f64>,
    #[serde(default)]
    pub steps: Option<u64>,
    #[serde(default)]
    pub average_heart_rate: Option<u64>,
    #[serde(default)]
    pub active_zone_minutes: Option<u64>,
}

impl RecordedExercise {
    pub fn new(start: OffsetDateTime, end: OffsetDateTime, exercise_type: &str) -> Self {
        RecordedExercise {
            start,
            end,
            exercise_type: exercise_type.to_owned(),
            calories_kcal: None,
            distance_mm: None,
            steps: None,
            average_heart_rate: None,
            active_zone_minutes: None,
        }
    }
}

/// What a deletion removes for a day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum DataKind {
    /// Steps, distance, calories and active zone minutes.
    Activity,
    Sleep,
    Weight,
    Exercise,
}

const ALL_KINDS: [DataKind; 4] = [
    DataKind::Activity,
    DataKind::Sleep,
    DataKind::Weight,
    DataKind::Exercise,
];

impl State {
    fn undelete(&mut self, user: &str, date: Date, kind: DataKind) {
        self.deleted.remove(&(user.to_owned(), date, kind));
    }
}

impl GoogleHealthSandbox {
    /// Records a day's activity (merged field by field with earlier recordings).
    pub fn record_day(&self, health_user_id: &str, day: RecordedDay) {
        let mut st = self.lock();
        st.ensure_user(health_user_id);
        st.undelete(health_user_id, day.date, DataKind::Activity);
        let key = (health_user_id.to_owned(), day.date);
        match st.days.get_mut(&key) {
            Some(existing) => existing.merge(day),
            None => {
                st.days.insert(key, day);
            }
        }
    }

    /// Records a sleep session (replacing the synthetic sessions of the day it ends on).
    pub fn record_sleep(&self, health_user_id: &str, session: RecordedSleep) {
        let mut st = self.lock();
        st.ensure_user(health_user_id);
        let date = session.end.date();
        st.undelete(health_user_id, date, DataKind::Sleep);
        st.sleep
            .entry((health_user_id.to_owned(), date))
            .or_default()
            .push(session);
    }

    /// Records a weigh-in (replacing the synthetic one of its day).
    pub fn record_weight(&self, health_user_id: &str, weight: RecordedWeight) {
        let mut st = self.lock();
        st.ensure_user(health_user_id);
        let date = weight.at.date();
        st.undelete(health_user_id, date, DataKind::Weight);
        st.weights
            .entry((health_user_id.to_owned(), date))
            .or_default()
            .push(weight);
    }

    /// Records a workout (replacing the synthetic ones of the day it starts on).
    pub fn record_exercise(&self, health_user_id: &str, exercise: RecordedExercise) {
        let mut st = self.lock();
        st.ensure_user(health_user_id);
        let date = exercise.start.date();
        st.undelete(health_user_id, date, DataKind::Exercise);
        st.exercises
            .entry((health_user_id.to_owned(), date))
            .or_default()
            .push(exercise);
    }

    /// Deletes every data point of the user's civil day (activity, the sleep ending that
    /// day, weigh-ins, workouts), recorded or synthetic, as a user deleting data would;
    /// send a `DELETE` notification to tell subscribers. Recording data for the day later
    /// brings that kind back.
    pub fn delete_day(&self, health_user_id: &str, date: Date) {
        let mut st = self.lock();
        let key = (health_user_id.to_owned(), date);
        st.days.remove(&key);
        st.sleep.remove(&key);
        st.weights.remove(&key);
        st.exercises.remove(&key);
        for kind in ALL_KINDS {
            st.deleted.insert((health_user_id.to_owned(), date, kind));
        }
    }
}
