//! How a provider's people and daily metrics look in SAP: the contact origin of its ids,
//! the communication medium, the interaction types and which SAP field carries each value.
//!
//! Per provider, because every interaction must say where it came from, and configuration
//! (`INTERACTION_MAPPING`, JSON keyed by provider), because the origins, custom interaction
//! types and `YY1_…_MIA` extension fields are the tenant's own. Each provider brings its
//! defaults (through the provider catalog); the JSON overrides any part of them:
//!
//! ```json
//! {"<provider>": {"communication_medium": "WEB",
//!             "metrics": {"sleep": {"interaction_type": "YY1_SLEEP", "value_field": "YY1_SleepMinutes_MIA"}}}}
//! ```
//! Metrics not named keep their defaults; `"value_field": "InteractionContent"` puts a small
//! JSON document (`{"metric","value","unit","date"}`) into the interaction's content.
//! Every value is checked against the EDMX lengths when the configuration is read, so a bad
//! mapping fails at start-up rather than in every `$batch`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::domain::{Metric, ProviderKind};

/// Where a value goes when no extension field is configured.
pub const CONTENT_FIELD: &str = "InteractionContent";

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct MetricMapping {
    pub interaction_type: String,
    pub value_field: String,
}

/// One provider's mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InteractionMapping {
    /// Contact origin of the provider's person ids (must exist in the tenant).
    pub contact_origin: String,
    pub communication_medium: String,
    pub source_object_type: String,
    /// Interaction type that flags a contact who disconnected the data source.
    pub disconnect_interaction_type: String,
    /// Interaction type of a fired campaign rule (a rule may name its own).
    pub signal_interaction_type: String,
    pub metrics: BTreeMap<Metric, MetricMapping>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Overrides {
    contact_origin: Option<String>,
    communication_medium: Option<String>,
    source_object_type: Option<String>,
    disconnect_interaction_type: Option<String>,
    signal_interaction_type: Option<String>,
    #[serde(default)]
    metrics: BTreeMap<Metric, MetricMapping>,
}

#[derive(Debug, thiserror::Error)]
#[error("INTERACTION_MAPPING is invalid: {0}")]
pub struct MappingError(String);

impl InteractionMapping {
    /// The shape every provider's defaults share: `origin` is the contact origin, the
    /// communication medium and the `<origin>_DAY` source object; each interaction type is
    /// `<prefix>_<WHAT>`; every value goes into `InteractionContent`, which every tenant has.
    pub fn conventional(origin: &str, prefix: &str) -> Self {
        let metrics = Metric::ALL
            .into_iter()
            .map(|metric| {
                let what = match metric {
                    Metric::Steps => "STEPS",
                    Metric::Calories => "CALORIES",
                    Metric::Distance => "DISTANCE",
                    Metric::ActiveMinutes => "ACTIVE_MIN",
                    Metric::Sleep => "SLEEP",
                    Metric::Weight => "WEIGHT",
                };
                let mapping = MetricMapping {
                    interaction_type: format!("{prefix}_{what}"),
                    value_field: CONTENT_FIELD.to_owned(),
                };
                (metric, mapping)
            })
            .collect();
        InteractionMapping {
            contact_origin: origin.to_owned(),
            communication_medium: origin.to_owned(),
            source_object_type: format!("{origin}_DAY"),
            disconnect_interaction_type: format!("{prefix}_DISCONNECTED"),
            signal_interaction_type: format!("{prefix}_SIGNAL"),
            metrics,
        }
    }

    fn apply(&mut self, o: Overrides) {
        let fields = [
            (&mut self.contact_origin, o.contact_origin),
            (&mut self.communication_medium, o.communication_medium),
            (&mut self.source_object_type, o.source_object_type),
            (
                &mut self.disconnect_interaction_type,
                o.disconnect_interaction_type,
            ),
            (&mut self.signal_interaction_type, o.signal_interaction_type),
        ];
        for (field, value) in fields {
            if let Some(v) = value {
                *field = v;
            }
        }
        self.metrics.extend(o.metrics);
    }

    /// Checks every value against the MaxLength of its SAP property
    /// (`ContactOrigin` 20; `API_MKT_INTERACTION_SRV`: medium 20, source object type 30,
    /// interaction type 20, property names 30), and that every metric is mapped.
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
        check("contact_origin", &self.contact_origin, 20)?;
        check("communication_medium", &self.communication_medium, 20)?;
        check("source_object_type", &self.source_object_type, 30)?;
        check(
            "disconnect_interaction_type",
            &self.disconnect_interaction_type,
            20,
        )?;
        check("signal_interaction_type", &self.signal_interaction_type, 20)?;
        for metric in Metric::ALL {
            let m = self
                .metrics
                .get(&metric)
                .ok_or_else(|| MappingError(format!("{} is not mapped", metric.as_str())))?;
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

/// Every provider's mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mappings(BTreeMap<ProviderKind, InteractionMapping>);

impl Mappings {
    /// Each provider's defaults, as `default_of` (the provider catalog) gives them.
    pub fn defaults(default_of: impl Fn(ProviderKind) -> InteractionMapping) -> Self {
        Mappings(
            ProviderKind::ALL
                .into_iter()
                .map(|k| (k, default_of(k)))
                .collect(),
        )
    }

    /// The defaults with `json`'s overrides applied (empty: the defaults).
    pub fn from_json(
        json: &str,
        default_of: impl Fn(ProviderKind) -> InteractionMapping,
    ) -> Result<Self, MappingError> {
        let mut mappings = Mappings::defaults(default_of);
        if !json.trim().is_empty() {
            let overrides: BTreeMap<ProviderKind, Overrides> =
                serde_json::from_str(json).map_err(|e| MappingError(e.to_string()))?;
            for (kind, o) in overrides {
                mappings.0.get_mut(&kind).expect("every kind").apply(o);
            }
        }
        mappings.validate()?;
        Ok(mappings)
    }

    pub fn validate(&self) -> Result<(), MappingError> {
        for (kind, m) in &self.0 {
            m.validate()
                .map_err(|MappingError(e)| MappingError(format!("{kind}: {e}")))?;
        }
        Ok(())
    }

    pub fn of(&self, provider: ProviderKind) -> &InteractionMapping {
        &self.0[&provider]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A provider's defaults as a catalog would give them.
    fn fixture(kind: ProviderKind) -> InteractionMapping {
        let m = |t: &str| MetricMapping {
            interaction_type: format!("{t}_{}", kind.as_str().len()),
            value_field: CONTENT_FIELD.to_owned(),
        };
        InteractionMapping {
            contact_origin: "ORIGIN".into(),
            communication_medium: "MEDIUM".into(),
            source_object_type: "DAY".into(),
            disconnect_interaction_type: "GONE".into(),
            signal_interaction_type: "SIGNAL".into(),
            metrics: Metric::ALL
                .into_iter()
                .map(|metric| (metric, m(metric.as_str())))
                .collect(),
        }
    }

    #[test]
    fn overrides_apply_over_each_providers_defaults() {
        let kind = ProviderKind::ALL[0];
        let json = format!(
            r#"{{"{kind}":{{"communication_medium":"WEB","contact_origin":"MY_ORIGIN",
                "metrics":{{"sleep":{{"interaction_type":"YY1_SLEEP","value_field":"YY1_SleepMinutes_MIA"}}}}}}}}"#
        );
        let all = Mappings::from_json(&json, fixture).unwrap();
        let m = all.of(kind);
        let defaults = fixture(kind);
        assert_eq!(m.communication_medium, "WEB");
        assert_eq!(m.contact_origin, "MY_ORIGIN");
        assert_eq!(
            m.for_metric(Metric::Sleep).value_field,
            "YY1_SleepMinutes_MIA"
        );
        assert_eq!(
            m.for_metric(Metric::Steps),
            defaults.for_metric(Metric::Steps)
        );
        assert!(
            Mappings::from_json(&format!(r#"{{"{kind}":{{"colour":"red"}}}}"#), fixture).is_err()
        );
        assert!(Mappings::from_json(r#"{"nobody":{}}"#, fixture).is_err());
        assert_eq!(
            Mappings::from_json("", fixture).unwrap(),
            Mappings::defaults(fixture)
        );
    }

    #[test]
    fn too_long_values_fail_at_start_up() {
        let kind = ProviderKind::ALL[0];
        let json = format!(r#"{{"{kind}":{{"contact_origin":"AN_ORIGIN_LONGER_THAN_20"}}}}"#);
        let err = Mappings::from_json(&json, fixture).unwrap_err();
        assert!(err.to_string().contains("contact_origin"), "{err}");
    }
}
