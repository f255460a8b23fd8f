//! The asked window: a day's answer is booked only with the points that state that day.
//!
//! Invariants:
//! - A point is booked on the civil date it states — a roll-up window's first day, a sleep
//!   session's end, a weigh-in's sample time, an exercise's start — never on the asked day
//!   merely because it came in that day's answer.
//! - A point that states another date, or none it can be booked on, is refused: counted as
//!   `DataPointsOutsideWindow` (labels `Provider`, `DataType`, `Reason`: `other_date` or
//!   `undated`) and logged with the data type and how many, never with the person, the
//!   dates or the values.
//!
//! Why: every request asks for one civil day, so a point of another day is an answer to a
//! question not asked (a window Google widened, a time zone change, a filter it did not
//! apply). Booked on the asked day it would overwrite that day in SAP with another day's
//! values; the other day is fetched, and booked, when it is asked for.

use time::Date;

use super::model::{DailyRollUpResponse, DataPoint, RollupPoint};
use crate::telemetry::metric;

/// The civil date a point states, if it states one that is a date.
pub(super) trait Dated {
    fn civil_date(&self) -> Option<Date>;
}

impl Dated for RollupPoint {
    fn civil_date(&self) -> Option<Date> {
        self.civil_start_time?.date.to_date()
    }
}

impl Dated for DataPoint {
    /// Whichever of the three list types the point is: a list holds only one.
    fn civil_date(&self) -> Option<Date> {
        let stated = if let Some(sleep) = &self.sleep {
            sleep.interval.as_ref()?.civil_end_time
        } else if let Some(weight) = &self.weight {
            weight.sample_time.as_ref()?.civil_time
        } else {
            self.exercise.as_ref()?.interval.as_ref()?.civil_start_time
        };
        stated?.date.to_date()
    }
}

/// The points that state `day`; the others are refused (logged and counted).
pub(super) fn on_day<T: Dated>(points: Vec<T>, day: Date, data_type: &'static str) -> Vec<T> {
    let (kept, refused): (Vec<T>, Vec<T>) = points
        .into_iter()
        .partition(|p| p.civil_date() == Some(day));
    let undated = refused.iter().filter(|p| p.civil_date().is_none()).count();
    refuse(data_type, "other_date", refused.len() - undated);
    refuse(data_type, "undated", undated);
    kept
}

/// A roll-up answer with only the window of `day`.
pub(super) fn roll_up_on_day(
    mut response: DailyRollUpResponse,
    day: Date,
    data_type: &'static str,
) -> DailyRollUpResponse {
    response.rollup_data_points = on_day(response.rollup_data_points, day, data_type);
    response
}

fn refuse(data_type: &'static str, reason: &'static str, points: usize) {
    if points == 0 {
        return;
    }
    tracing::warn!(
        data_type,
        reason,
        points,
        "Google answered points outside the asked day; they are not booked on it"
    );
    metrics::counter!(metric::DATA_POINTS_OUTSIDE_WINDOW, "Provider" => "google-health",
        "DataType" => data_type, "Reason" => reason)
    .increment(points as u64);
}

#[cfg(test)]
mod tests {
    use super::super::{model, partial_day};
    use super::*;
    use crate::domain::Metric;
    use crate::ports::provider::ProviderError;

    const DAY: Date = time::macros::date!(2026 - 11 - 20);

    /// A roll-up answer with the given windows, each `(day of November 2026, steps)`.
    fn windows(days: &[(u8, u64)]) -> Result<model::DailyRollUpResponse, ProviderError> {
        let points: Vec<String> = days
            .iter()
            .map(|(d, n)| {
                format!(
                    r#"{{"civilStartTime":{{"date":{{"year":2026,"month":11,"day":{d}}}}},
                        "civilEndTime":{{"date":{{"year":2026,"month":11,"day":{}}}}},
                        "steps":{{"countSum":"{n}"}}}}"#,
                    d + 1
                )
            })
            .collect();
        Ok(
            serde_json::from_str(&format!(r#"{{"rollupDataPoints":[{}]}}"#, points.join(",")))
                .unwrap(),
        )
    }

    #[test]
    fn a_roll_up_window_is_booked_on_the_date_it_states_and_others_are_refused() {
        let on = |steps| {
            partial_day(
                [
                    (Metric::Steps, steps),
                    (Metric::Distance, windows(&[])),
                    (Metric::Calories, windows(&[])),
                    (Metric::ActiveMinutes, windows(&[])),
                ],
                Ok(vec![]),
                DAY,
            )
            .unwrap()
            .steps
        };
        assert_eq!(on(windows(&[(20, 9000)])), Some(9000));
        // The asked day is the second window: its own steps, not the first window's.
        assert_eq!(on(windows(&[(19, 5000), (20, 9000)])), Some(9000));
        // Only other days: nothing is booked on the asked one.
        assert_eq!(on(windows(&[(21, 7000)])), None);
        assert_eq!(on(windows(&[(19, 5000)])), None);
        // A window that states no date cannot be booked on any.
        let undated = Ok(serde_json::from_str(
            r#"{"rollupDataPoints":[{"steps":{"countSum":"4000"}}]}"#,
        )
        .unwrap());
        assert_eq!(on(undated), None);
    }

    fn list(json: &str) -> Vec<DataPoint> {
        serde_json::from_str::<model::ListResponse>(json)
            .unwrap()
            .data_points
    }

    #[test]
    fn sleep_weigh_ins_and_exercises_of_other_days_are_refused() {
        let sleep = list(
            r#"{"dataPoints":[
              {"sleep":{"interval":{"civilEndTime":{"date":{"year":2026,"month":11,"day":20},"time":{"hours":7}}},
                        "summary":{"minutesAsleep":"400"}}},
              {"sleep":{"interval":{"civilEndTime":{"date":{"year":2026,"month":11,"day":21},"time":{"hours":6}}},
                        "summary":{"minutesAsleep":"380"}}},
              {"sleep":{"summary":{"minutesAsleep":"90"}}}]}"#,
        );
        let kept = on_day(sleep, DAY, "sleep");
        assert_eq!(model::sleep_summary(&kept).minutes_asleep, Some(400));

        // Newest first: the newest weigh-in is of the next day, so it is not this day's.
        let weight = list(
            r#"{"dataPoints":[
              {"weight":{"sampleTime":{"civilTime":{"date":{"year":2026,"month":11,"day":21}}},"weightGrams":71000}},
              {"weight":{"sampleTime":{"civilTime":{"date":{"year":2026,"month":11,"day":20},"time":{"hours":8}}},"weightGrams":70400}}]}"#,
        );
        let kept = on_day(weight, DAY, "weight");
        assert_eq!(model::weight_summary(&kept).weight_kg, Some(70.4));

        // An exercise is the day's by its start; one that started the day before is not.
        let exercise = list(
            r#"{"dataPoints":[
              {"exercise":{"interval":{"civilStartTime":{"date":{"year":2026,"month":11,"day":19},"time":{"hours":23}},
                                       "civilEndTime":{"date":{"year":2026,"month":11,"day":20},"time":{"hours":1}}}}},
              {"exercise":{"interval":{"civilStartTime":{"date":{"year":2026,"month":11,"day":20},"time":{"hours":17}},
                                       "civilEndTime":{"date":{"year":2026,"month":11,"day":20},"time":{"hours":18}}}}}]}"#,
        );
        let kept = on_day(exercise, DAY, "exercise");
        assert_eq!(model::exercise_ends(&kept, DAY), [1_080]);
    }
}
