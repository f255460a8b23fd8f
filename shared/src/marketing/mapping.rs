//! How daily metrics become SAP interactions: interaction type, communication medium and
//! which SAP field carries the value. Configuration (`INTERACTION_MAPPING`, JSON), because
//! the custom interaction types and the `YY1_…_MIA` extension fields are the tenant's own.
//!
//! ```json
//! {"communication_medium": "FITBIT", "source_object_type": "FITBIT_DAY",
//!  "disconnect_interaction_type": "FITBIT_DISCONNECTED",
//!  "metrics": {"steps": {"interaction_type": "FITBIT_STEPS", "value_field": "YY1_FitbitNumberofStep_MIA"}}}
//! ```
//! Metrics not named keep their defaults; `"value_field": "InteractionContent"` puts a small
//! JSON document (`{"metric","value","unit","date"}`) into the interaction's content.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::domain::Metric;

/// Where a value goes when no extension field is configured.
pub const CONTENT_FIELD: &str = "InteractionContent";

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct MetricMapping {
    pub interaction_type: String,
    pub value_field: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InteractionMapping {
    pub communication_medium: String,
    pub source_object_type: String,
    /// Interaction type that flags a contact who disconnected the data source.
    pub disconnect_interaction_type: String,
    pub metrics: BTreeMap<Metric, MetricMapping>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingOverrides {
    communication_medium: Option<String>,
    source_object_type: Option<String>,
    disconnect_interaction_type: Option<String>,
    #[serde(default)]
    metrics: BTreeMap<Metric, MetricMapping>,
}

#[derive(Debug, thiserror::Error)]
#[error("INTERACTION_MAPPING is invalid: {0}")]
pub struct MappingError(String);

impl Default for InteractionMapping {
    fn default() -> Self {
        let m = |t: &str, f: &str| MetricMapping {
            interaction_type: t.to_owned(),
            value_field: f.to_owned(),
        };
        InteractionMapping {
            communication_medium: "FITBIT".into(),
            source_object_type: "FITBIT_DAY".into(),
            disconnect_interaction_type: "FITBIT_DISCONNECTED".into(),
            metrics: BTreeMap::from([
                (
                    Metric::Steps,
                    m("FITBIT_STEPS", "YY1_FitbitNumberofStep_MIA"),
                ),
                (
                    Metric::Calories,
                    m("FITBIT_CALORIES", "YY1_FitbitAmountofCalo_MIA"),
                ),
                (Metric::Distance, m("FITBIT_DISTANCE", CONTENT_FIELD)),
                (Metric::ActiveMinutes, m("FITBIT_ACTIVE_MIN", CONTENT_FIELD)),
                (Metric::Sleep, m("FITBIT_SLEEP", CONTENT_FIELD)),
                (Metric::Weight, m("FITBIT_WEIGHT", CONTENT_FIELD)),
            ]),
        }
    }
}

impl InteractionMapping {
    /// The defaults with `json`'s overrides applied (empty: the defaults).
    pub fn from_json(json: &str) -> Result<Self, MappingError> {
        let mut mapping = InteractionMapping::default();
        if json.trim().is_empty() {
            return Ok(mapping);
        }
        let o: MappingOverrides =
            serde_json::from_str(json).map_err(|e| MappingError(e.to_string()))?;
        if let Some(v) = o.communication_medium {
            mapping.communication_medium = v;
        }
        if let Some(v) = o.source_object_type {
            mapping.source_object_type = v;
        }
        if let Some(v) = o.disconnect_interaction_type {
            mapping.disconnect_interaction_type = v;
        }
        mapping.metrics.extend(o.metrics);
        mapping.validate()?;
        Ok(mapping)
    }

    /// Checks every value against the MaxLength of its `API_MKT_INTERACTION_SRV` property,
    /// so a bad mapping fails at start-up rather than in every `$batch`.
    pub fn validate(&self) -> Result<(), MappingError> {
        let check = |what: &str, value: &str, max: usize| {
            if value.is_empty() || value.chars().count() > max {
                Err(MappingError(format!(
                    "{what} must be 1 to {max} characters"
                )))
            } else {
                Ok(())
            }
        };
        check("communication_medium", &self.communication_medium, 20)?;
        check("source_object_type", &self.source_object_type, 30)?;
        check(
            "disconnect_interaction_type",
            &self.disconnect_interaction_type,
            20,
        )?;
        for (metric, m) in &self.metrics {
            check(
                &format!("{}.interaction_type", metric.as_str()),
                &m.interaction_type,
                20,
            )?;
            check(
                &format!("{}.value_field", metric.as_str()),
                &m.value_field,
                30,
            )?;
        }
        Ok(())
    }

    pub fn for_metric(&self, metric: Metric) -> &MetricMapping {
        &self.metrics[&metric]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_over_defaults() {
        let m = InteractionMapping::from_json(
            r#"{"communication_medium":"WEB","metrics":{"sleep":{"interaction_type":"YY1_SLEEP","value_field":"YY1_SleepMinutes_MIA"}}}"#,
        )
        .unwrap();
        assert_eq!(m.communication_medium, "WEB");
        assert_eq!(
            m.for_metric(Metric::Sleep).value_field,
            "YY1_SleepMinutes_MIA"
        );
        assert_eq!(m.for_metric(Metric::Steps).interaction_type, "FITBIT_STEPS");
        assert!(InteractionMapping::from_json(r#"{"colour":"red"}"#).is_err());
        assert_eq!(
            InteractionMapping::from_json("").unwrap(),
            InteractionMapping::default()
        );
    }

    #[test]
    fn defaults_fit_the_interaction_service() {
        InteractionMapping::default().validate().unwrap();
    }
}
