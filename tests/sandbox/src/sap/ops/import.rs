//! `POST ImportHeaders` of CUAN_IMPORT_SRV: one deep insert of contacts and interactions,
//! mapped onto the contact and interaction APIs' names.
//!
//! Invariants: imported contacts are upserted as through the contact API, interactions are
//! appended as through the interaction API; a mapped field never overwrites one sent under
//! the other service's name.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::read::entity_json;
use super::write::upsert_contact;
use super::{nav_entities, new_guid, now, Context, Outcome, Store};
use crate::random;
use crate::sap::edmx::{EntityType, ServiceKind};
use crate::sap::error::ODataError;
use crate::sap::uri::format_key;
use crate::sap::{AdditionalId, StoredInteraction};

/// CUAN_IMPORT_SRV field names and the contact API's names for the same data.
const CUAN_CONTACT_FIELDS: &[(&str, &str)] = &[
    ("IdOrigin", "ContactOrigin"),
    ("Id", "ContactID"),
    ("Timestamp", "OriginDataLastChgUTCDateTime"),
    ("EMailAddress", "EmailAddress"),
    ("DateOfBirth", "BirthDate"),
    // The tenant resolves these descriptions against its code lists; the sandbox's code
    // list is the ISO codes themselves, which is what fitbridge sends.
    ("CountryDescription", "Country"),
    ("LanguageDescription", "Language"),
    ("City", "CityName"),
    ("Street", "StreetName"),
    ("HouseNumber", "AddressHouseNumber"),
    ("PostalCode", "ContactPostalCode"),
    ("MobilePhoneNumber", "MobileNumber"),
    ("ImageURI", "InteractionContactImageURL"),
    ("IsContact", "IsContactPerson"),
    ("Obsolete", "IsObsolete"),
    ("EndOfPurpose", "IsEndOfPurposeBlocked"),
    ("SAPTrackingId", "TrackingID"),
    ("SpatialReferenceId", "SpatialReferenceSystem"),
];

/// CUAN_IMPORT_SRV interaction field names and the interaction API's names.
const CUAN_INTERACTION_FIELDS: &[(&str, &str)] = &[
    ("ContactIdOrigin", "InteractionContactOrigin"),
    ("ContactId", "InteractionContactId"),
    ("Timestamp", "InteractionTimeStampUTC"),
    ("SourceObjectType", "InteractionSourceObjectType"),
    ("SourceObjectId", "InteractionSourceObject"),
    ("SourceObjectAdditionalId", "InteractionSourceObjectAddlID"),
    ("ContentData", "InteractionContent"),
    ("ContentTitle", "InteractionContentSubject"),
    ("Amount", "InteractionAmount"),
    ("Currency", "InteractionCurrency"),
    ("CampaignId", "CampaignID"),
    ("MarketingAreaId", "MarketingArea"),
    ("Device", "InteractionDeviceName"),
    ("Reason", "InteractionReason"),
    ("IsAnonymous", "InteractionIsAnonymous"),
    ("SourceSystemId", "SourceSystem"),
    ("SourceDataUrl", "InteractionSourceDataURL"),
    ("Latitude", "InteractionLatitude"),
    ("Longitude", "InteractionLongitude"),
];

/// Adds the other service's names for mapped fields, without overwriting anything sent.
fn with_aliases(mut fields: Map<String, Value>, aliases: &[(&str, &str)]) -> Map<String, Value> {
    for (from, to) in aliases {
        if let Some(value) = fields.get(*from).cloned() {
            fields.entry(*to).or_insert(value);
        }
    }
    fields
}

/// `POST ImportHeaders`: one deep insert of contacts (upserted) and interactions (appended).
pub(super) fn import_headers(
    ctx: &Context,
    store: &mut Store,
    ty: &EntityType,
    mut header_fields: Map<String, Value>,
) -> Result<Outcome, ODataError> {
    let text = |fields: &Map<String, Value>, name: &str| {
        fields
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let header_id = text(&header_fields, "Id").unwrap_or_else(|| random::hex(16).to_uppercase());
    header_fields.insert("Id".into(), Value::String(header_id.clone()));
    let source = (
        text(&header_fields, "SourceSystemType"),
        text(&header_fields, "SourceSystemId"),
    );

    for contact in nav_entities(&header_fields, "Contacts") {
        let origin = text(&contact, "IdOrigin").unwrap_or_default();
        let id = text(&contact, "Id").unwrap_or_default();
        let facets: Vec<AdditionalId> = nav_entities(&contact, "Facets")
            .iter()
            .map(|facet| AdditionalId {
                origin: text(facet, "IdOrigin").unwrap_or_default(),
                id: text(facet, "Id").unwrap_or_default(),
            })
            .collect();
        let stored = upsert_contact(
            store,
            origin,
            id,
            with_aliases(contact, CUAN_CONTACT_FIELDS),
            source.clone(),
            ServiceKind::Import,
        );
        for facet in facets {
            if !stored.additional_ids.contains(&facet) {
                stored.additional_ids.push(facet);
            }
        }
    }
    for interaction in nav_entities(&header_fields, "Interactions") {
        store.interactions.push(StoredInteraction {
            uuid: new_guid(),
            received_at: now(),
            fields: with_aliases(interaction, CUAN_INTERACTION_FIELDS),
            source_system_type: source.0.clone(),
            source_system_id: source.1.clone(),
            via: ServiceKind::Import.name().to_string(),
            import_header_id: Some(header_id.clone()),
            update_count: 0,
        });
    }

    let key = [("Id".to_string(), header_id)];
    let mut entity = entity_json(ctx, ty, &key, &header_fields);
    // The deep-inserted collections come back inline, as the gateway echoes a deep insert.
    for nav in &ty.navigations {
        if let Some(value) = header_fields.get(&nav.name) {
            let results = match value {
                Value::Array(items) => Value::Array(items.clone()),
                other => other
                    .get("results")
                    .cloned()
                    .unwrap_or(Value::Array(Vec::new())),
            };
            entity[nav.name.as_str()] = json!({ "results": results });
        }
    }
    let mut outcome = Outcome::json(StatusCode::CREATED, json!({ "d": entity }));
    outcome.headers.push((
        "Location".into(),
        format!("{}ImportHeaders{}", ctx.base_url, format_key(ty, &key)),
    ));
    Ok(outcome)
}
