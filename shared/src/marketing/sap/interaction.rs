//! Interactions through `API_MKT_INTERACTION_SRV`: `POST Interactions` to create,
//! `MERGE Interactions(guid'…')` to reflect a changed day, `GET Interactions?$filter=…` to
//! find one whose create was never confirmed. Each write is its own changeset, so one
//! rejected interaction fails alone.

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use super::batch::{applied, Changeset, ChangesetResult, Operation};
use super::{odata_date, SapClient, INTERACTION_SERVICE};
use crate::domain::mapping::{Mappings, CONTENT_FIELD};
use crate::domain::work::iso_date;
use crate::domain::{ContactKey, DailyInteraction, ProviderKind};
use crate::ports::marketing::{InteractionSink, InteractionWrite, MarketingError};

pub struct InteractionServiceSink {
    client: std::sync::Arc<SapClient>,
    mappings: Mappings,
}

impl InteractionServiceSink {
    pub fn new(client: std::sync::Arc<SapClient>, mappings: Mappings) -> Self {
        InteractionServiceSink { client, mappings }
    }

    /// The fields that carry the value; the same for a create and an update.
    fn value_fields(&self, i: &DailyInteraction) -> Map<String, Value> {
        let mapping = self.mappings.of(i.provider).for_metric(i.metric);
        let mut m = Map::new();
        let date = iso_date::format(i.date);
        m.insert(
            "InteractionContentSubject".into(),
            json!(format!("{} {date}", i.metric.as_str())),
        );
        if mapping.value_field == CONTENT_FIELD {
            m.insert(
                CONTENT_FIELD.into(),
                // The value as Edm.Decimal writes it (42, 4.901), not as f64 prints it.
                json!(json!({"metric": i.metric.as_str(),
                             "value": serde_json::from_str::<Value>(&format_decimal(i.value))
                                 .unwrap_or(Value::Null),
                             "unit": i.metric.unit(), "date": date})
                .to_string()),
            );
        } else {
            // Edm.Decimal travels as a string in OData V2 JSON.
            m.insert(mapping.value_field.clone(), json!(format_decimal(i.value)));
        }
        m
    }

    fn create_body(&self, i: &DailyInteraction) -> Value {
        let settings = self.client.settings();
        let provider = self.mappings.of(i.provider);
        let mapping = provider.for_metric(i.metric);
        let mut m = self.value_fields(i);
        m.insert("InteractionContactOrigin".into(), json!(i.contact.origin));
        m.insert("InteractionContactId".into(), json!(i.contact.id));
        m.insert(
            "CommunicationMedium".into(),
            json!(provider.communication_medium),
        );
        m.insert("InteractionType".into(), json!(mapping.interaction_type));
        // Noon UTC of the person's local day: the day reads the same in every time zone.
        let noon = i.date.midnight().assume_utc() + time::Duration::hours(12);
        m.insert("InteractionTimeStampUTC".into(), json!(odata_date(noon)));
        m.insert(
            "InteractionSourceObjectType".into(),
            json!(provider.source_object_type),
        );
        m.insert("InteractionSourceObject".into(), json!(i.source_object()));
        m.insert(
            "SourceSystemType".into(),
            json!(settings.source_system_type),
        );
        m.insert("SourceSystem".into(), json!(settings.source_system_id));
        Value::Object(m)
    }

    pub(super) fn headers(&self) -> Vec<(String, String)> {
        let settings = self.client.settings();
        vec![
            (
                "Sap-Cuan-SourceSystemType".to_owned(),
                settings.source_system_type.clone(),
            ),
            (
                "Sap-Cuan-SourceSystemId".to_owned(),
                settings.source_system_id.clone(),
            ),
        ]
    }
}

/// Up to three decimals, no exponent, no trailing zeros: what Edm.Decimal accepts.
fn format_decimal(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_owned()
    }
}

fn guid_key(id: &str) -> String {
    // Only hex digits and dashes reach the path.
    let id: String = id
        .chars()
        .filter(|c| c.is_ascii_hexdigit() || *c == '-')
        .collect();
    format!("Interactions(guid'{id}')")
}

fn created_uuid(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    v["d"]["InteractionUUID"].as_str().map(str::to_owned)
}

#[async_trait]
impl InteractionSink for InteractionServiceSink {
    /// Over what the interaction says (metric, day, value), not how the mapping writes
    /// it: the same day from the predecessor of a person's provider is not written again.
    fn content_hash(&self, i: &DailyInteraction) -> String {
        use sha2::{Digest, Sha256};
        let body = format!(
            "{}|{}|{}",
            i.metric.as_str(),
            iso_date::format(i.date),
            format_decimal(i.value)
        );
        Sha256::digest(body.as_bytes())
            .iter()
            .take(12)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    async fn write(
        &self,
        writes: &[InteractionWrite],
    ) -> Result<Vec<Result<String, MarketingError>>, MarketingError> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let changesets: Vec<Changeset> = writes
            .iter()
            .map(|w| {
                Changeset(vec![match w {
                    InteractionWrite::Create(i) => Operation {
                        method: "POST",
                        path: "Interactions".into(),
                        headers: self.headers(),
                        body: self.create_body(i),
                    },
                    InteractionWrite::Update { id, interaction } => Operation {
                        method: "MERGE",
                        path: guid_key(id),
                        headers: self.headers(),
                        body: Value::Object(self.value_fields(interaction)),
                    },
                }])
            })
            .collect();
        let results = self.client.batch(INTERACTION_SERVICE, &changesets).await?;
        Ok(writes
            .iter()
            .zip(results)
            .map(|(write, result)| match (write, result) {
                (InteractionWrite::Create(_), ChangesetResult::Applied(responses)) => responses
                    .first()
                    .and_then(|r| created_uuid(&r.body))
                    .ok_or_else(|| {
                        MarketingError::Unavailable(
                            "create answered without InteractionUUID".into(),
                        )
                    }),
                (InteractionWrite::Update { id, .. }, ChangesetResult::Applied(_)) => {
                    Ok(id.clone())
                }
                (_, ChangesetResult::Failed { status, message }) if status >= 500 => Err(
                    MarketingError::Unavailable(format!("HTTP {status}: {message}")),
                ),
                (_, ChangesetResult::Failed { status, message }) => Err(MarketingError::Rejected(
                    format!("HTTP {status}: {message}"),
                )),
            })
            .collect())
    }

    async fn record_disconnect(
        &self,
        contact: &ContactKey,
        provider: ProviderKind,
        at: time::OffsetDateTime,
    ) -> Result<(), MarketingError> {
        let settings = self.client.settings();
        let mapping = self.mappings.of(provider);
        // One flag per revocation, whatever the retries: its source object names the
        // revocation, and one already there is not written again.
        let source_object = format!(
            "{}-disconnected-{}",
            contact.source_id(),
            at.unix_timestamp()
        );
        let body = json!({
            "InteractionContactOrigin": contact.origin,
            "InteractionContactId": contact.id,
            "CommunicationMedium": mapping.communication_medium,
            "InteractionType": mapping.disconnect_interaction_type,
            "InteractionTimeStampUTC": odata_date(at),
            "InteractionSourceObjectType": mapping.source_object_type,
            "InteractionSourceObject": source_object,
            "InteractionContentSubject": "data source disconnected",
            "SourceSystemType": settings.source_system_type,
            "SourceSystem": settings.source_system_id,
        });
        self.create_once(
            &mapping.source_object_type,
            &source_object,
            body,
            "disconnect interaction",
        )
        .await
    }

    async fn find(&self, i: &DailyInteraction) -> Result<Option<String>, MarketingError> {
        self.find_by_source(
            &self.mappings.of(i.provider).source_object_type,
            &i.source_object(),
        )
        .await
    }
}

impl InteractionServiceSink {
    /// Creates the interaction `body` unless SAP has one with its source object already:
    /// creates are not idempotent, so a flag or signal written again after a lost answer
    /// must look first. Any refusal is the tenant's (`Rejected`).
    pub(super) async fn create_once(
        &self,
        source_object_type: &str,
        source_object: &str,
        body: Value,
        what: &str,
    ) -> Result<(), MarketingError> {
        if self
            .find_by_source(source_object_type, source_object)
            .await?
            .is_some()
        {
            return Ok(());
        }
        let results = self
            .client
            .batch(
                INTERACTION_SERVICE,
                &[Changeset(vec![Operation {
                    method: "POST",
                    path: "Interactions".into(),
                    headers: self.headers(),
                    body,
                }])],
            )
            .await?;
        applied(results.into_iter().next(), what)
    }

    /// The id of the interaction with this source object, if SAP has one.
    pub(super) async fn find_by_source(
        &self,
        source_object_type: &str,
        source_object: &str,
    ) -> Result<Option<String>, MarketingError> {
        let filter = format!(
            "InteractionSourceObjectType eq {} and InteractionSourceObject eq {}",
            super::odata_key(source_object_type),
            super::odata_key(source_object),
        );
        let body = self
            .client
            .get_json(
                INTERACTION_SERVICE,
                &format!(
                    "Interactions?$filter={}&$select=InteractionUUID",
                    filter.replace(' ', "%20")
                ),
            )
            .await?;
        Ok(body["d"]["results"]
            .as_array()
            .and_then(|r| r.first())
            .and_then(|r| r["InteractionUUID"].as_str())
            .map(str::to_owned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_plain() {
        assert_eq!(format_decimal(8012.0), "8012");
        assert_eq!(format_decimal(5.8300001), "5.83");
        assert_eq!(format_decimal(0.0), "0");
        assert_eq!(guid_key("0a1b-2c;DROP"), "Interactions(guid'0a1b-2cD')");
    }
}
