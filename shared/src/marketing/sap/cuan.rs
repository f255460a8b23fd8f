//! Contacts through `CUAN_IMPORT_SRV/ImportHeaders` (the original design's "Master Data
//! Import OData service"): one deep insert, contacts keyed by (IdOrigin, Id), upserted.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{fit, odata_date, ContactFields, SapClient, CUAN_SERVICE};
use crate::domain::{ContactRecord, Gender};
use crate::ports::marketing::{MarketingError, MarketingSink};

pub struct CuanImportSink {
    client: std::sync::Arc<SapClient>,
}

impl CuanImportSink {
    pub fn new(client: std::sync::Arc<SapClient>) -> Self {
        CuanImportSink { client }
    }
}

fn cuan_contact(c: &ContactRecord, customer_id_origin: &str) -> Value {
    let p = &c.profile;
    let mut m = ContactFields::default();
    m.set("Id", json!(c.key.id));
    m.set("IdOrigin", json!(c.key.origin));
    m.set("Timestamp", json!(odata_date(c.changed_at)));
    m.consumer_names(p);
    m.text("EMailAddress", &p.email, 241);
    // CUAN has no code fields for these: the import resolves a description field against
    // the tenant's code list, by code or by text, so the ISO codes the contact API sends
    // as `Country`/`Language` go here unchanged.
    m.text("CountryDescription", &p.country, 40);
    m.text("LanguageDescription", &p.language, 40);
    // CUAN takes descriptions, which the tenant maps to its codes.
    if let Some(g) = p.gender.filter(|g| *g != Gender::Unknown) {
        let description = if g == Gender::Female {
            "Female"
        } else {
            "Male"
        };
        m.set("GenderDescription", json!(description));
    }
    m.date("DateOfBirth", p.birth_date);
    // CUAN's equivalent of additional ids: facets keyed by (IdOrigin, Id).
    if let Some(customer_ref) = &c.customer_ref {
        m.set(
            "Facets",
            json!([{ "Id": customer_ref, "IdOrigin": customer_id_origin,
                     "Timestamp": odata_date(c.changed_at) }]),
        );
    }
    m.into_value()
}

#[async_trait]
impl MarketingSink for CuanImportSink {
    async fn upsert_contact(&self, c: &ContactRecord) -> Result<(), MarketingError> {
        let settings = self.client.settings();
        let body = json!({
            "Id": "",
            "Timestamp": odata_date(self.client.now()),
            "SourceSystemType": settings.source_system_type,
            "SourceSystemId": fit(&settings.source_system_id, 20),
            "Contacts": [cuan_contact(c, &settings.customer_id_origin)],
        });
        self.client
            .post_json(CUAN_SERVICE, "ImportHeaders", &body)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ContactKey, Profile};
    use crate::marketing::sap::contact::contact_origin_data;
    use time::macros::{date, datetime};

    fn full_contact() -> ContactRecord {
        ContactRecord {
            key: ContactKey {
                origin: "ORIGIN".into(),
                id: "ID1".into(),
            },
            customer_ref: Some("C-1".into()),
            profile: Profile {
                full_name: Some("Ann Example".into()),
                first_name: Some("Ann".into()),
                last_name: Some("Example".into()),
                country: Some("DE".into()),
                language: Some("DE".into()),
                email: Some("ann@example.com".into()),
                gender: Some(Gender::Female),
                birth_date: Some(date!(1990 - 05 - 17)),
                ..Default::default()
            },
            changed_at: datetime!(2026-11-20 08:00 UTC),
        }
    }

    /// The contact API's name → CUAN's name for the same datum.
    const SAME_DATUM: &[(&str, &str)] = &[
        ("ContactOrigin", "IdOrigin"),
        ("ContactID", "Id"),
        ("OriginDataLastChgUTCDateTime", "Timestamp"),
        ("IsConsumer", "IsConsumer"),
        ("FullName", "FullName"),
        ("FirstName", "FirstName"),
        ("LastName", "LastName"),
        ("Country", "CountryDescription"),
        ("EmailAddress", "EMailAddress"),
        ("Language", "LanguageDescription"),
        ("GenderCode", "GenderDescription"),
        ("BirthDate", "DateOfBirth"),
    ];

    #[test]
    fn cuan_sends_every_datum_the_contact_api_sends() {
        let record = full_contact();
        let api = contact_origin_data(&record);
        let cuan = cuan_contact(&record, "CUSTOMER");
        for field in api.as_object().unwrap().keys() {
            let (_, cuan_name) = SAME_DATUM
                .iter()
                .find(|(api_name, _)| api_name == field)
                .unwrap_or_else(|| panic!("{field}: no CUAN counterpart listed"));
            assert!(cuan.get(*cuan_name).is_some(), "CUAN drops {field}");
        }
        assert_eq!(cuan["CountryDescription"], "DE");
        assert_eq!(cuan["LanguageDescription"], "DE");
        assert_eq!(cuan["GenderDescription"], "Female");
        assert_eq!(cuan["Facets"][0]["Id"], "C-1");
    }

    #[test]
    fn unknown_profile_fields_are_not_sent() {
        let mut record = full_contact();
        record.profile = Profile::default();
        let cuan = cuan_contact(&record, "CUSTOMER");
        for absent in ["CountryDescription", "LanguageDescription", "EMailAddress"] {
            assert!(cuan.get(absent).is_none(), "{absent} sent without a value");
        }
    }
}
