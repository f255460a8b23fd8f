//! What the contract says about data types: which ones `dataPoints.list` and `dailyRollUp`
//! know, the scope area that covers each, how a token's scopes may read it, and the fields a
//! list filter may compare.
//!
//! Invariants: every answer derives from the discovery document's schemas (plus the list
//! method descriptions' filter rules); the data types the sandbox simulates are among the
//! ones it knows (a test checks).

use std::collections::BTreeSet;
use std::sync::LazyLock;

use super::discovery::{camel_case, discovery, kebab_case};
use super::filter::FieldKind;

const SCOPE_PREFIX: &str = "https://www.googleapis.com/auth/googlehealth.";

/// The property names of a discovery schema, except `skip`.
fn schema_properties(schema: &str, skip: &[&str]) -> Vec<String> {
    discovery()
        .schema(schema)
        .and_then(|s| s["properties"].as_object())
        .map_or_else(Vec::new, |props| {
            props
                .keys()
                .filter(|k| !skip.contains(&k.as_str()))
                .cloned()
                .collect()
        })
}

/// Data types `dataPoints.list` knows: the `DataPoint` union fields, kebab-cased.
pub(super) static LIST_TYPES: LazyLock<BTreeSet<String>> = LazyLock::new(|| {
    schema_properties("DataPoint", &["name", "dataSource"])
        .iter()
        .map(|k| kebab_case(k))
        .collect()
});

/// Data types `dailyRollUp` knows: the `DailyRollupDataPoint` value fields.
pub(super) static ROLLUP_TYPES: LazyLock<BTreeSet<String>> = LazyLock::new(|| {
    schema_properties("DailyRollupDataPoint", &["civilStartTime", "civilEndTime"])
        .iter()
        .map(|k| match k.as_str() {
            "heartRateVariabilityPersonalRange" => "daily-heart-rate-variability".to_owned(),
            "restingHeartRatePersonalRange" => "daily-resting-heart-rate".to_owned(),
            other => kebab_case(other),
        })
        .collect()
});

/// Every data type id the contract knows (webhook configs may name any of them).
pub(super) fn is_known_data_type(data_type: &str) -> bool {
    LIST_TYPES.contains(data_type) || ROLLUP_TYPES.contains(data_type)
}

/// The scope area (`googlehealth.<area>.readonly`) that covers a data type.
pub(super) fn scope_area(data_type: &str) -> &'static str {
    match data_type {
        "sleep" => "sleep",
        "weight"
        | "height"
        | "body-fat"
        | "heart-rate"
        | "heart-rate-variability"
        | "blood-glucose"
        | "core-body-temperature"
        | "oxygen-saturation"
        | "daily-heart-rate-variability"
        | "daily-oxygen-saturation"
        | "daily-respiratory-rate"
        | "daily-resting-heart-rate"
        | "daily-sleep-temperature-derivations"
        | "respiratory-rate-sleep-summary"
        | "vo2-max"
        | "daily-vo2-max"
        | "daily-heart-rate-zones" => "health_metrics_and_measurements",
        "hydration-log" | "nutrition-log" | "food" | "food-measurement-unit" => "nutrition",
        "electrocardiogram" => "ecg",
        "irregular-rhythm-notification" => "irn",
        "menstrual-period" | "ovulation-test" => "reproductive_health",
        "symptoms" => "logged_symptoms",
        "moods" => "mindfulness",
        _ => "activity_and_fitness",
    }
}

/// How a token may read a data type.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadAccess {
    All,
    /// Only write scopes: the caller may read only what it wrote itself (nothing, here).
    OwnWritesOnly,
}

pub(super) fn read_access(scopes: &BTreeSet<String>, data_type: &str) -> Option<ReadAccess> {
    let area = scope_area(data_type);
    if scopes.contains(&format!("{SCOPE_PREFIX}{area}.readonly")) {
        Some(ReadAccess::All)
    } else if scopes.contains(&format!("{SCOPE_PREFIX}{area}.writeonly")) {
        Some(ReadAccess::OwnWritesOnly)
    } else {
        None
    }
}

/// Whether the consented scopes let notifications of `data_type` through.
pub(super) fn consent_covers(scopes: &BTreeSet<String>, data_type: &str) -> bool {
    read_access(scopes, data_type).is_some()
}

/// The record shape of a data type, from its `DataPoint` schema.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Interval,
    Session,
    Sample,
    Daily,
    Other,
}

fn shape(data_type: &str) -> Shape {
    // `sleep-stages` → `sleepStages`, the data type's field of `DataPoint`.
    let field = camel_case(&data_type.replace('-', "_"));
    let d = discovery();
    let Some(schema) = d
        .schema("DataPoint")
        .and_then(|s| s["properties"][field.as_str()]["$ref"].as_str())
        .and_then(|name| d.schema(name))
    else {
        return Shape::Other;
    };
    let props = &schema["properties"];
    match props["interval"]["$ref"].as_str() {
        Some("ObservationTimeInterval") => Shape::Interval,
        Some("SessionTimeInterval") => Shape::Session,
        _ if props.get("sampleTime").is_some() => Shape::Sample,
        _ if props.get("date").is_some() => Shape::Daily,
        _ => Shape::Other,
    }
}

/// The filter fields a data type supports (list method description) and whether `OR` is.
pub(super) fn filter_fields(data_type: &str) -> (Vec<(String, FieldKind)>, bool) {
    let p = data_type.replace('-', "_");
    match (data_type, shape(data_type)) {
        ("sleep", _) => (
            vec![
                ("sleep.interval.end_time".to_owned(), FieldKind::Physical),
                ("sleep.interval.civil_end_time".to_owned(), FieldKind::Civil),
            ],
            true,
        ),
        ("electrocardiogram", _) => (
            vec![(
                "electrocardiogram.interval.start_time".to_owned(),
                FieldKind::Physical,
            )],
            false,
        ),
        (_, Shape::Interval) => (
            vec![
                (format!("{p}.interval.start_time"), FieldKind::Physical),
                (format!("{p}.interval.civil_start_time"), FieldKind::Civil),
            ],
            false,
        ),
        (_, Shape::Session) => (
            vec![(format!("{p}.interval.civil_start_time"), FieldKind::Civil)],
            false,
        ),
        (_, Shape::Sample) => (
            vec![
                (
                    format!("{p}.sample_time.physical_time"),
                    FieldKind::Physical,
                ),
                (format!("{p}.sample_time.civil_time"), FieldKind::Civil),
            ],
            false,
        ),
        (_, Shape::Daily) => (vec![(format!("{p}.date"), FieldKind::Date)], false),
        (_, Shape::Other) => (Vec::new(), false),
    }
}

/// Contract facts the sandbox's tests check.
#[cfg(test)]
pub(super) fn simulated_types_are_known() -> std::collections::BTreeMap<&'static str, (bool, bool)>
{
    [
        "steps",
        "distance",
        "total-calories",
        "active-zone-minutes",
        "sleep",
        "weight",
        "exercise",
    ]
    .into_iter()
    .map(|t| (t, (LIST_TYPES.contains(t), ROLLUP_TYPES.contains(t))))
    .collect()
}
