//! Activity tests record for a user's days, in place of the synthetic values.
//!
//! Invariant: recordings of a day merge field by field, later ones winning, like a device
//! syncing more data.

use serde::{Deserialize, Serialize};
use time::Date;

use super::FitbitSandbox;

/// Activity a test records for one user and day; the given fields replace the synthetic
/// ones (and the fields derived from them, e.g. distance from steps, unless also given).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedActivity {
    #[serde(with = "crate::admin_api::iso_date")]
    pub date: Date,
    #[serde(default)]
    pub steps: Option<u64>,
    #[serde(default)]
    pub distance_km: Option<f64>,
    #[serde(default)]
    pub calories_out: Option<u64>,
    #[serde(default)]
    pub very_active_minutes: Option<u64>,
    #[serde(default)]
    pub fairly_active_minutes: Option<u64>,
    #[serde(default)]
    pub lightly_active_minutes: Option<u64>,
    #[serde(default)]
    pub sedentary_minutes: Option<u64>,
}

impl RecordedActivity {
    /// Nothing recorded yet for `date`; set the fields you need.
    pub fn on(date: Date) -> RecordedActivity {
        RecordedActivity {
            date,
            steps: None,
            distance_km: None,
            calories_out: None,
            very_active_minutes: None,
            fairly_active_minutes: None,
            lightly_active_minutes: None,
            sedentary_minutes: None,
        }
    }

    pub fn steps(mut self, steps: u64) -> RecordedActivity {
        self.steps = Some(steps);
        self
    }

    /// Later recordings win field by field, like a device syncing more data.
    fn merge(&mut self, newer: RecordedActivity) {
        self.steps = newer.steps.or(self.steps);
        self.distance_km = newer.distance_km.or(self.distance_km);
        self.calories_out = newer.calories_out.or(self.calories_out);
        self.very_active_minutes = newer.very_active_minutes.or(self.very_active_minutes);
        self.fairly_active_minutes = newer.fairly_active_minutes.or(self.fairly_active_minutes);
        self.lightly_active_minutes = newer.lightly_active_minutes.or(self.lightly_active_minutes);
        self.sedentary_minutes = newer.sedentary_minutes.or(self.sedentary_minutes);
    }
}

impl FitbitSandbox {
    /// Records activity for the user and day (merged with earlier recordings).
    pub fn record_activity(&self, user_id: &str, activity: RecordedActivity) {
        let mut st = self.lock();
        st.ensure_user(user_id);
        let key = (user_id.to_owned(), activity.date);
        match st.activity.get_mut(&key) {
            Some(existing) => existing.merge(activity),
            None => {
                st.activity.insert(key, activity);
            }
        }
    }
}
