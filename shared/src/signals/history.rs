//! A person's daily history, kept compactly: one record per local day, grouped into one
//! stored item per calendar month, so windows, streaks and lifetime totals are evaluated
//! without calling the provider again.
//!
//! Invariants:
//! - A collection's fetch replaces exactly the fields that collection carries
//!   ([`DayRecord::apply`]): a sleep fetch never erases the day's steps.
//! - Applying the same fetch twice changes nothing (redeliveries and re-fetches are free).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Date, Month};

use crate::domain::{Collection, DaySummary};

/// One local day of one person: what the rules, the score and the send time read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DayRecord {
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u64>,
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub calories: Option<u64>,
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub active_minutes: Option<u64>,
    #[serde(rename = "z", default, skip_serializing_if = "Option::is_none")]
    pub sleep_minutes: Option<u64>,
    /// When the day's workouts ended, in minutes after the person's local midnight.
    #[serde(rename = "w", default, skip_serializing_if = "Vec::is_empty")]
    pub workout_ends: Vec<u16>,
}

impl DayRecord {
    /// The day with one collection's fetch applied: that collection's fields replaced by
    /// what the fetch says (absent stays absent), the others kept.
    pub fn apply(&self, collection: Collection, summary: &DaySummary) -> DayRecord {
        let mut next = self.clone();
        match collection {
            Collection::Activities => {
                next.steps = summary.steps;
                next.distance_km = summary.distance_km;
                next.calories = summary.calories_out;
                next.active_minutes = summary.active_minutes;
                next.workout_ends = summary.workout_ends.clone();
                next.workout_ends.sort_unstable();
            }
            Collection::Sleep => next.sleep_minutes = summary.minutes_asleep,
            // Weight feeds no signal.
            Collection::Body => {}
        }
        next
    }

    pub fn is_empty(&self) -> bool {
        *self == DayRecord::default()
    }
}

/// A calendar month, as items are keyed: `2026-11`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MonthKey {
    pub year: i32,
    pub month: Month,
}

impl MonthKey {
    pub fn of(day: Date) -> MonthKey {
        MonthKey {
            year: day.year(),
            month: day.month(),
        }
    }

    pub fn parse(s: &str) -> Option<MonthKey> {
        let (y, m) = s.split_once('-')?;
        Some(MonthKey {
            year: y.parse().ok()?,
            month: Month::try_from(m.parse::<u8>().ok()?).ok()?,
        })
    }
}

impl std::fmt::Display for MonthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month as u8)
    }
}

/// One stored month: its days (by day of month) and the version it was read at.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MonthHistory {
    pub days: BTreeMap<u8, DayRecord>,
    /// The stored version; 0 for a month never written.
    pub version: u64,
}

impl MonthHistory {
    /// The stored form: a small JSON object keyed by day of month.
    pub fn encode(&self) -> String {
        serde_json::to_string(&self.days).expect("plain data serialises")
    }

    pub fn decode(days: &str, version: u64) -> Result<MonthHistory, serde_json::Error> {
        Ok(MonthHistory {
            days: serde_json::from_str(days)?,
            version,
        })
    }
}

/// A person's whole history: every month stored for them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    pub months: BTreeMap<MonthKey, MonthHistory>,
}

impl History {
    pub fn day(&self, date: Date) -> Option<&DayRecord> {
        self.months
            .get(&MonthKey::of(date))
            .and_then(|m| m.days.get(&date.day()))
    }

    /// Records `record` for `date`; says whether anything changed.
    pub fn set(&mut self, date: Date, record: DayRecord) -> bool {
        let month = self.months.entry(MonthKey::of(date)).or_default();
        if month.days.get(&date.day()) == Some(&record) {
            return false;
        }
        month.days.insert(date.day(), record);
        true
    }

    /// Every recorded day, oldest first.
    pub fn days(&self) -> impl Iterator<Item = (Date, &DayRecord)> {
        self.months.iter().flat_map(|(key, month)| {
            month.days.iter().filter_map(move |(d, r)| {
                Date::from_calendar_date(key.year, key.month, *d)
                    .ok()
                    .map(|date| (date, r))
            })
        })
    }

    /// The newest recorded day.
    pub fn latest(&self) -> Option<Date> {
        self.days().map(|(d, _)| d).last()
    }

    /// The `n` days ending on `end` (inclusive), oldest first; a day without a record
    /// is `None`.
    pub fn window(&self, end: Date, n: u32) -> Vec<Option<&DayRecord>> {
        (0..n)
            .rev()
            .map(|back| {
                end.checked_sub(time::Duration::days(back.into()))
                    .and_then(|d| self.day(d))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn a_collection_replaces_only_its_own_fields() {
        let day = DayRecord {
            steps: Some(9000),
            sleep_minutes: Some(400),
            ..Default::default()
        };
        let sleep = DaySummary {
            minutes_asleep: Some(430),
            ..Default::default()
        };
        let after = day.apply(Collection::Sleep, &sleep);
        assert_eq!(after.steps, Some(9000));
        assert_eq!(after.sleep_minutes, Some(430));
        assert_eq!(after.apply(Collection::Sleep, &sleep), after, "idempotent");
        let activities = DaySummary {
            steps: Some(100),
            ..Default::default()
        };
        let after = after.apply(Collection::Activities, &activities);
        assert_eq!((after.steps, after.sleep_minutes), (Some(100), Some(430)));
    }

    #[test]
    fn a_month_is_stored_small_and_read_back_unchanged() {
        let mut h = History::default();
        for d in 1..=31u8 {
            let date = Date::from_calendar_date(2026, Month::October, d).unwrap();
            h.set(
                date,
                DayRecord {
                    steps: Some(12_345),
                    distance_km: Some(9.876),
                    calories: Some(2_345),
                    active_minutes: Some(67),
                    sleep_minutes: Some(456),
                    workout_ends: vec![1_110],
                },
            );
        }
        let month = &h.months[&MonthKey::of(date!(2026 - 10 - 01))];
        let encoded = month.encode();
        assert!(
            encoded.len() < 2_600,
            "{} bytes for a full month",
            encoded.len()
        );
        assert_eq!(&MonthHistory::decode(&encoded, 0).unwrap(), month);
        assert_eq!(MonthKey::parse("2026-10").unwrap().to_string(), "2026-10");
    }

    #[test]
    fn windows_count_missing_days_as_none() {
        let mut h = History::default();
        h.set(date!(2026 - 11 - 28), DayRecord::default());
        h.set(
            date!(2026 - 11 - 30),
            DayRecord {
                steps: Some(1),
                ..Default::default()
            },
        );
        assert!(
            !h.set(date!(2026 - 11 - 28), DayRecord::default()),
            "unchanged"
        );
        let w = h.window(date!(2026 - 11 - 30), 4);
        assert_eq!(w.len(), 4);
        assert!(w[0].is_none() && w[1].is_some() && w[2].is_none());
        assert_eq!(w[3].unwrap().steps, Some(1));
        assert_eq!(h.latest(), Some(date!(2026 - 11 - 30)));
    }
}
