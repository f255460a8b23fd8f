//! Weigh-ins: the synthetic morning weigh-ins, recorded ones, the `weight` data point and
//! its roll-up.

use serde_json::{json, Value};
use time::macros::time;
use time::{Date, Duration, OffsetDateTime};

use super::{civil_json, data_source, offset_json, primitive, timestamp};
use crate::civil_time::from_local;
use crate::google_health::{GoogleUser, RecordedWeight};
use crate::synthetic::Seed;

#[derive(Clone, Debug)]
pub(crate) struct WeightSample {
    pub(crate) id: String,
    /// In the local offset.
    pub(crate) at: OffsetDateTime,
    pub(crate) grams: f64,
    pub(crate) notes: Option<String>,
    pub(crate) recorded: bool,
}

/// Weighed on about 60 % of days, in the morning, around the user's weight with a slow
/// four-week drift, to 100 g.
pub(crate) fn synthetic_weight(user: &GoogleUser, day: Date) -> Option<WeightSample> {
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

pub(crate) fn recorded_weight(user: &GoogleUser, weight: &RecordedWeight) -> WeightSample {
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

pub(crate) fn weight_point(health_user_id: &str, w: &WeightSample) -> Value {
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

pub(crate) fn weight_rollup(samples: &[WeightSample]) -> Option<(&'static str, Value)> {
    if samples.is_empty() {
        return None;
    }
    let avg = samples.iter().map(|s| s.grams).sum::<f64>() / samples.len() as f64;
    Some((
        "weight",
        json!({ "weightGramsAvg": (avg * 10.0).round() / 10.0 }),
    ))
}
