//! The best send time: the hour of the day at which the person usually finishes a
//! workout, in their own time zone, from the workouts of the last 30 recorded days.
//!
//! The estimate is the hour in which most workouts ended (`18` for 18:00–18:59); a tie
//! goes to the later hour, since a message sent after the workout is the point. At least
//! [`MIN_WORKOUTS`] workouts are needed: one run says nothing about a habit.

use time::Date;

use super::history::History;

pub const WINDOW_DAYS: u32 = 30;
pub const MIN_WORKOUTS: usize = 3;

/// The hour (0–23) as of `day`, or `None` without enough workouts.
pub fn best_send_hour(history: &History, day: Date) -> Option<u8> {
    let mut per_hour = [0usize; 24];
    let mut workouts = 0;
    for d in history.window(day, WINDOW_DAYS).into_iter().flatten() {
        for end in &d.workout_ends {
            per_hour[usize::from(end / 60).min(23)] += 1;
            workouts += 1;
        }
    }
    if workouts < MIN_WORKOUTS {
        return None;
    }
    // `max_by_key` keeps the last of equal counts: the later hour.
    (0..24u8).max_by_key(|h| per_hour[usize::from(*h)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::signals::history::DayRecord;
    use time::macros::date;

    fn with_workouts(ends: &[(i64, &[u16])]) -> History {
        let mut h = History::default();
        for (day, e) in ends {
            h.set(
                date!(2026 - 11 - 01) + time::Duration::days(*day),
                DayRecord {
                    workout_ends: e.to_vec(),
                    ..Default::default()
                },
            );
        }
        h
    }

    #[test]
    fn worked_example_weekday_runner() {
        // Runs ending 18:40, 18:05, 18:55 on weekdays and one at 09:30 on Saturday: 18.
        let h = with_workouts(&[(0, &[1_120]), (1, &[1_085]), (2, &[1_135]), (5, &[570])]);
        assert_eq!(best_send_hour(&h, date!(2026 - 11 - 10)), Some(18));
    }

    #[test]
    fn ties_go_later_and_old_or_few_workouts_do_not_count() {
        let h = with_workouts(&[(0, &[420, 1_200]), (1, &[430, 1_210])]);
        assert_eq!(
            best_send_hour(&h, date!(2026 - 11 - 05)),
            Some(20),
            "2 at 7, 2 at 20"
        );
        let few = with_workouts(&[(0, &[1_200]), (1, &[1_200])]);
        assert_eq!(best_send_hour(&few, date!(2026 - 11 - 05)), None);
        // Thirty days ending on 2026-12-10 start on 2026-11-11: these are older.
        let old = with_workouts(&[(0, &[1_200]), (1, &[1_200]), (2, &[1_200])]);
        assert_eq!(best_send_hour(&old, date!(2026 - 12 - 10)), None);
        // A workout ending at 23:59 is in hour 23.
        let late = with_workouts(&[(0, &[1_439, 1_439, 1_439])]);
        assert_eq!(best_send_hour(&late, date!(2026 - 11 - 01)), Some(23));
    }
}
