//! Campaign signals in SAP Marketing Cloud.
//!
//! - A fired rule is an interaction (`API_MKT_INTERACTION_SRV`) of the rule's type, its
//!   figures as the content, its source object naming (person, rule, period); one already
//!   there under that source object is not created again (creates are not idempotent).
//! - A score, band or send hour is a marketing attribute of the contact's
//!   `ContactOriginData` (`API_MKT_CONTACT_SRV`): one changeset deletes the value it
//!   replaces (`DELETE MarketingAttributes(...)`) and upserts the contact with the new
//!   value inline (`MarketingAttributes` cannot be created on their own: the EDMX marks
//!   the set not creatable). If the replaced value is gone already (an operator removed
//!   it in the tenant), the changeset fails with 404 and is sent again without deletes.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::batch::{applied, Changeset, ChangesetResult, Operation};
use super::{odata_date, odata_key, InteractionServiceSink, SapClient, CONTACT_SERVICE};
use crate::domain::mapping::Mappings;
use crate::domain::signals::{AttributeChange, SignalInteraction};
use crate::domain::ContactKey;
use crate::ports::marketing::{MarketingError, SignalSink};

pub struct SapSignalSink {
    client: std::sync::Arc<SapClient>,
    interactions: InteractionServiceSink,
    mappings: Mappings,
}

impl SapSignalSink {
    pub fn new(client: std::sync::Arc<SapClient>, mappings: Mappings) -> Self {
        SapSignalSink {
            interactions: InteractionServiceSink::new(client.clone(), mappings.clone()),
            client,
            mappings,
        }
    }

    fn signal_body(&self, signal: &SignalInteraction) -> Value {
        let settings = self.client.settings();
        let mapping = self.mappings.of(signal.provider);
        let interaction_type = signal
            .interaction_type
            .clone()
            .unwrap_or_else(|| mapping.signal_interaction_type.clone());
        // Noon UTC of the person's local day, as for the daily values.
        let noon = signal.day.midnight().assume_utc() + time::Duration::hours(12);
        json!({
            "InteractionContactOrigin": signal.contact.origin,
            "InteractionContactId": signal.contact.id,
            "CommunicationMedium": mapping.communication_medium,
            "InteractionType": interaction_type,
            "InteractionTimeStampUTC": odata_date(noon),
            "InteractionSourceObjectType": mapping.source_object_type,
            "InteractionSourceObject": signal.source_object(),
            "InteractionContentSubject": format!("{} {}", signal.rule_id, signal.period),
            "InteractionContent": signal.content,
            "SourceSystemType": settings.source_system_type,
            "SourceSystem": settings.source_system_id,
        })
    }

    fn attribute_changeset(
        &self,
        contact: &ContactKey,
        changes: &[AttributeChange],
        with_deletes: bool,
    ) -> Changeset {
        let headers = self.interactions.headers();
        let (origin, id) = (odata_key(&contact.origin), odata_key(&contact.id));
        let mut operations: Vec<Operation> = if with_deletes {
            changes
                .iter()
                .filter_map(|c| c.replaces.as_ref().map(|old| (c, old)))
                .map(|(c, old)| Operation {
                    method: "DELETE",
                    path: format!(
                        "MarketingAttributes(ContactOrigin={origin},ContactID={id},\
                         MarketingAttributeCategory={},MarketingAttributeValue={})",
                        odata_key(&c.category),
                        odata_key(old)
                    ),
                    headers: headers.clone(),
                    body: Value::Null,
                })
                .collect()
        } else {
            Vec::new()
        };
        let attributes: Vec<Value> = changes
            .iter()
            .map(|c| {
                json!({
                    "ContactOrigin": contact.origin,
                    "ContactID": contact.id,
                    "MarketingAttributeCategory": c.category,
                    "MarketingAttributeValue": c.value,
                })
            })
            .collect();
        operations.push(Operation {
            method: "PUT",
            path: format!("ContactOriginData(ContactOrigin={origin},ContactID={id})"),
            headers,
            body: json!({
                "ContactOrigin": contact.origin,
                "ContactID": contact.id,
                "OriginDataLastChgUTCDateTime": odata_date(self.client.now()),
                "MarketingAttributes": attributes,
            }),
        });
        Changeset(operations)
    }
}

#[async_trait]
impl SignalSink for SapSignalSink {
    async fn record_signal(&self, signal: &SignalInteraction) -> Result<(), MarketingError> {
        self.interactions
            .create_once(
                &self.mappings.of(signal.provider).source_object_type,
                &signal.source_object(),
                self.signal_body(signal),
                "signal interaction",
            )
            .await
    }

    async fn set_attributes(
        &self,
        contact: &ContactKey,
        changes: &[AttributeChange],
    ) -> Result<(), MarketingError> {
        if changes.is_empty() {
            return Ok(());
        }
        let replaces = changes.iter().any(|c| c.replaces.is_some());
        let results = self
            .client
            .batch(
                CONTACT_SERVICE,
                &[self.attribute_changeset(contact, changes, replaces)],
            )
            .await?;
        match results.into_iter().next() {
            Some(ChangesetResult::Failed { status: 404, .. }) if replaces => {
                tracing::info!(
                    "a replaced marketing attribute was already gone; setting the new values alone"
                );
                let results = self
                    .client
                    .batch(
                        CONTACT_SERVICE,
                        &[self.attribute_changeset(contact, changes, false)],
                    )
                    .await?;
                applied(results.into_iter().next(), "marketing attributes")
            }
            other => applied(other, "marketing attributes"),
        }
    }
}
