//! The activity score: 0–100 per person from the 28 days ending on a given day (the
//! caller gives the person's last complete day), with a band.
//!
//! Inputs (all from the person's history, nothing else):
//! - **steps** (50 points): the mean daily steps over the days with a step count, against
//!   [`STEP_GOAL`] (8,000 — the provider's own goal is not imported), capped at 1;
//! - **active minutes** (30 points): the weekly active minutes (fairly plus very active;
//!   the mean over the days with a step count × 7) against the 150 a week the WHO
//!   recommends, capped at 1;
//! - **sleep regularity** (20 points): the share of nights with sleep data that lasted
//!   7–9 hours. With fewer than [`MIN_DAYS`] such nights the other two parts are scaled
//!   to 100, so a person without a sleep tracker is not marked down.
//!
//! No score with fewer than [`MIN_DAYS`] days of steps in the window: a new person's
//! score would say more about when they connected than how they move.

use time::Date;

use super::history::History;

pub const WINDOW_DAYS: u32 = 28;
pub const STEP_GOAL: f64 = 8_000.0;
pub const ACTIVE_MINUTES_A_WEEK: f64 = 150.0;
pub const MIN_DAYS: usize = 7;
const GOOD_SLEEP_MINUTES: std::ops::RangeInclusive<u64> = 420..=540;

/// A score and its band.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActivityScore {
    pub value: u8,
}

impl ActivityScore {
    /// `inactive` (0–19), `low` (20–39), `moderate` (40–59), `active` (60–79),
    /// `very_active` (80–100).
    pub fn band(self) -> &'static str {
        match self.value {
            0..=19 => "inactive",
            20..=39 => "low",
            40..=59 => "moderate",
            60..=79 => "active",
            _ => "very_active",
        }
    }
}

/// The score as of `day` (the 28 days ending on it).
pub fn activity_score(history: &History, day: Date) -> Option<ActivityScore> {
    let window = history.window(day, WINDOW_DAYS);
    let stepped: Vec<_> = window
        .iter()
        .flatten()
        .filter(|d| d.steps.is_some())
        .collect();
    if stepped.len() < MIN_DAYS {
        return None;
    }
    let n = stepped.len() as f64;
    let mean_steps = stepped.iter().filter_map(|d| d.steps).sum::<u64>() as f64 / n;
    let weekly_active =
        stepped.iter().filter_map(|d| d.active_minutes).sum::<u64>() as f64 / n * 7.0;
    let steps_part = (mean_steps / STEP_GOAL).min(1.0) * 50.0;
    let active_part = (weekly_active / ACTIVE_MINUTES_A_WEEK).min(1.0) * 30.0;
    let nights: Vec<u64> = window
        .iter()
        .flatten()
        .filter_map(|d| d.sleep_minutes)
        .collect();
    let score = if nights.len() >= MIN_DAYS {
        let good = nights
            .iter()
            .filter(|m| GOOD_SLEEP_MINUTES.contains(m))
            .count() as f64;
        steps_part + active_part + good / nights.len() as f64 * 20.0
    } else {
        (steps_part + active_part) * 100.0 / 80.0
    };
    Some(ActivityScore {
        value: score.round().clamp(0.0, 100.0) as u8,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::signals::history::DayRecord;
    use time::macros::date;

    fn history(days: &[(u64, u64, Option<u64>)]) -> History {
        let mut h = History::default();
        for (i, (steps, active, sleep)) in days.iter().enumerate() {
            h.set(
                date!(2026 - 11 - 01) + time::Duration::days(i as i64),
                DayRecord {
                    steps: Some(*steps),
                    active_minutes: Some(*active),
                    sleep_minutes: *sleep,
                    ..Default::default()
                },
            );
        }
        h
    }

    #[test]
    fn worked_example_with_sleep() {
        // 28 days: 6,000 steps (6,000 / 8,000 × 50 = 37.5), 15 active minutes a day
        // (105 a week: 105 / 150 × 30 = 21), and 21 of 28 nights of 7–9 h
        // (21 / 28 × 20 = 15). 37.5 + 21 + 15 = 73.5 → 74, "active".
        let days: Vec<_> = (0..28)
            .map(|i| (6_000, 15, Some(if i % 4 == 0 { 360 } else { 450 })))
            .collect();
        let score = activity_score(&history(&days), date!(2026 - 11 - 28)).unwrap();
        assert_eq!(score.value, 74);
        assert_eq!(score.band(), "active");
    }

    #[test]
    fn worked_example_without_sleep() {
        // 10 days of 12,000 steps (capped: 50) and 10 active minutes (70 a week:
        // 70 / 150 × 30 = 14); no sleep data: (50 + 14) × 100 / 80 = 80, "very_active".
        let days: Vec<_> = (0..10).map(|_| (12_000, 10, None)).collect();
        let score = activity_score(&history(&days), date!(2026 - 11 - 10)).unwrap();
        assert_eq!(score.value, 80);
        assert_eq!(score.band(), "very_active");
    }

    #[test]
    fn too_few_days_give_no_score_and_bands_have_edges() {
        let days: Vec<_> = (0..6).map(|_| (12_000, 60, Some(480))).collect();
        assert_eq!(activity_score(&history(&days), date!(2026 - 11 - 06)), None);
        // Only the 28 days ending on the day count: six old days are outside.
        let mut days: Vec<_> = (0..40).map(|_| (0, 0, None)).collect();
        days.extend((0..7).map(|_| (8_000, 30, Some(480))));
        let score = activity_score(&history(&days), date!(2026 - 12 - 17)).unwrap();
        // 21 days of 0 and 7 of 8,000: mean 2,000 → 12.5; active 7.5 a day × 7 = 52.5
        // → 10.5; sleep 7 of 7 nights → 20. 43 → "moderate".
        assert_eq!(score.value, 43);
        for (v, band) in [
            (0, "inactive"),
            (19, "inactive"),
            (20, "low"),
            (59, "moderate"),
            (60, "active"),
            (80, "very_active"),
            (100, "very_active"),
        ] {
            assert_eq!(ActivityScore { value: v }.band(), band);
        }
    }
}
