//! Days tests record for a person in place of the synthetic values, and days they empty.
//!
//! Invariants: recordings of a day merge field by field, later ones winning, like a device
//! syncing more data; an emptied day has no activity (204), no sleep (404) and no exercises
//! until a recording for it brings the activity back.

use serde::{Deserialize, Serialize};
use time::Date;

use super::PolarSandbox;

/// Activity a test records for one person and day; the given fields replace the synthetic
/// ones (and the distance derived from the steps, unless also given).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedActivity {
    #[serde(with = "crate::admin_api::iso_date")]
    pub date: Date,
    #[serde(default)]
    pub steps: Option<u64>,
    /// Metres (`distance_from_steps`).
    #[serde(default)]
    pub distance_from_steps: Option<f64>,
    /// Total kcal (`calories`).
    #[serde(default)]
    pub calories: Option<u64>,
    #[serde(default)]
    pub active_calories: Option<u64>,
    /// Minutes (`active_duration`).
    #[serde(default)]
    pub active_minutes: Option<u64>,
    #[serde(default)]
    pub inactivity_alert_count: Option<u64>,
}

impl RecordedActivity {
    /// Nothing recorded yet for `date`; set the fields you need.
    pub fn on(date: Date) -> RecordedActivity {
        RecordedActivity {
            date,
            steps: None,
            distance_from_steps: None,
            calories: None,
            active_calories: None,
            active_minutes: None,
            inactivity_alert_count: None,
        }
    }

    pub fn steps(mut self, steps: u64) -> RecordedActivity {
        self.steps = Some(steps);
        self
    }

    fn merge(&mut self, newer: RecordedActivity) {
        self.steps = newer.steps.or(self.steps);
        self.distance_from_steps = newer.distance_from_steps.or(self.distance_from_steps);
        self.calories = newer.calories.or(self.calories);
        self.active_calories = newer.active_calories.or(self.active_calories);
        self.active_minutes = newer.active_minutes.or(self.active_minutes);
        self.inactivity_alert_count = newer.inactivity_alert_count.or(self.inactivity_alert_count);
    }
}

impl PolarSandbox {
    /// Records activity for the person and day (merged with earlier recordings); an emptied
    /// day has data again.
    pub fn record_activity(&self, polar_user_id: &str, activity: RecordedActivity) {
        let mut st = self.lock();
        st.ensure_user(polar_user_id);
        let key = (polar_user_id.to_owned(), activity.date);
        st.deleted.remove(&key);
        match st.activity.get_mut(&key) {
            Some(existing) => existing.merge(activity),
            None => {
                st.activity.insert(key, activity);
            }
        }
    }

    /// Empties the person's day: no activity, sleep or exercises (recordings dropped).
    pub fn delete_day(&self, polar_user_id: &str, date: Date) {
        let mut st = self.lock();
        let key = (polar_user_id.to_owned(), date);
        st.activity.remove(&key);
        st.deleted.insert(key);
    }
}
