//! Contacts through `API_MKT_CONTACT_SRV;v=0004`: `PUT ContactOriginData(...)` in a
//! `$batch` is an upsert, so reconnecting updates the contact instead of duplicating it.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::batch::{applied, Changeset, Operation};
use super::{odata_date, odata_key, ContactFields, SapClient, CONTACT_SERVICE};
use crate::domain::{ContactRecord, Gender};
use crate::ports::marketing::{MarketingError, MarketingSink};

pub struct ContactServiceSink {
    client: std::sync::Arc<SapClient>,
}

impl ContactServiceSink {
    pub fn new(client: std::sync::Arc<SapClient>) -> Self {
        ContactServiceSink { client }
    }
}

/// SAP gender codes: 0 unknown, 1 female, 2 male.
fn gender_code(g: Gender) -> &'static str {
    match g {
        Gender::Unknown => "0",
        Gender::Female => "1",
        Gender::Male => "2",
    }
}

/// The `ContactOriginData` entity; only fields we know are sent, so an unset field never
/// overwrites what the tenant already holds.
pub(super) fn contact_origin_data(c: &ContactRecord) -> Value {
    let p = &c.profile;
    let mut m = ContactFields::default();
    m.set("ContactOrigin", json!(c.key.origin));
    m.set("ContactID", json!(c.key.id));
    m.set(
        "OriginDataLastChgUTCDateTime",
        json!(odata_date(c.changed_at)),
    );
    m.consumer_names(p);
    m.text("Country", &p.country, 3);
    m.text("EmailAddress", &p.email, 241);
    m.text("Language", &p.language, 2);
    if let Some(g) = p.gender {
        m.set("GenderCode", json!(gender_code(g)));
    }
    m.date("BirthDate", p.birth_date);
    m.into_value()
}

#[async_trait]
impl MarketingSink for ContactServiceSink {
    async fn upsert_contact(&self, c: &ContactRecord) -> Result<(), MarketingError> {
        let settings = self.client.settings();
        let headers = vec![
            (
                "Sap-Cuan-SourceSystemType".to_owned(),
                settings.source_system_type.clone(),
            ),
            (
                "Sap-Cuan-SourceSystemId".to_owned(),
                settings.source_system_id.clone(),
            ),
        ];
        let origin = odata_key(&c.key.origin);
        let id = odata_key(&c.key.id);
        let mut operations = vec![Operation {
            method: "PUT",
            path: format!("ContactOriginData(ContactOrigin={origin},ContactID={id})"),
            headers: headers.clone(),
            body: contact_origin_data(c),
        }];
        // The company's customer id as an additional id: the tenant's key mapping then
        // merges this contact with the company's own record of the person. Same changeset,
        // so the contact never exists without the link the person signed up with.
        if let Some(customer_ref) = &c.customer_ref {
            let add_origin = &settings.customer_id_origin;
            operations.push(Operation {
                method: "PUT",
                path: format!(
                    "AdditionalIDs(ContactOrigin={origin},ContactID={id},\
                     InteractionContactAdditionalOrigin={},InteractionContactAdditionalExternalID={})",
                    odata_key(add_origin),
                    odata_key(customer_ref)
                ),
                headers,
                body: json!({
                    "ContactOrigin": c.key.origin,
                    "ContactID": c.key.id,
                    "InteractionContactAdditionalOrigin": add_origin,
                    "InteractionContactAdditionalExternalID": customer_ref,
                }),
            });
        }
        let results = self
            .client
            .batch(CONTACT_SERVICE, &[Changeset(operations)])
            .await?;
        applied(results.into_iter().next(), "contact upsert")
    }
}
