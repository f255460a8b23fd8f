//! Contacts through `CUAN_IMPORT_SRV/ImportHeaders` (the original design's "Master Data
//! Import OData service"): one deep insert, contacts keyed by (IdOrigin, Id), upserted.

use async_trait::async_trait;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::{fit, odata_date, SapClient, CUAN_SERVICE};
use crate::domain::{ContactRecord, Gender};
use crate::marketing::{MarketingError, MarketingSink};

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
    let mut m = Map::new();
    m.insert("Id".into(), json!(c.key.id));
    m.insert("IdOrigin".into(), json!(c.key.origin));
    m.insert("Timestamp".into(), json!(odata_date(c.changed_at)));
    m.insert("IsConsumer".into(), json!(true));
    let mut text = |name: &str, value: &Option<String>, max: usize| {
        if let Some(v) = value {
            m.insert(name.into(), json!(fit(v, max)));
        }
    };
    text("FullName", &p.full_name, 80);
    text("FirstName", &p.first_name, 40);
    text("LastName", &p.last_name, 40);
    text("EMailAddress", &p.email, 241);
    // CUAN takes descriptions, which the tenant maps to its codes.
    if let Some(g) = p.gender.filter(|g| *g != Gender::Unknown) {
        let description = if g == Gender::Female {
            "Female"
        } else {
            "Male"
        };
        m.insert("GenderDescription".into(), json!(description));
    }
    if let Some(d) = p.birth_date {
        m.insert(
            "DateOfBirth".into(),
            json!(odata_date(d.midnight().assume_utc())),
        );
    }
    // CUAN's equivalent of additional ids: facets keyed by (IdOrigin, Id).
    if let Some(customer_ref) = &c.customer_ref {
        m.insert(
            "Facets".into(),
            json!([{ "Id": customer_ref, "IdOrigin": customer_id_origin,
                     "Timestamp": odata_date(c.changed_at) }]),
        );
    }
    Value::Object(m)
}

#[async_trait]
impl MarketingSink for CuanImportSink {
    async fn upsert_contact(&self, c: &ContactRecord) -> Result<(), MarketingError> {
        let settings = self.client.settings();
        let body = json!({
            "Id": "",
            "Timestamp": odata_date(OffsetDateTime::now_utc()),
            "SourceSystemType": settings.source_system_type,
            "SourceSystemId": fit(&settings.source_system_id, 20),
            "Contacts": [cuan_contact(c, &settings.customer_id_origin)],
        });
        self.client
            .post_json(CUAN_SERVICE, "ImportHeaders", &body)
            .await
    }
}
