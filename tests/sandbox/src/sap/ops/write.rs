//! The writes of the contact and interaction APIs: creating interactions, upserting
//! contacts (with their marketing attributes inline), updating interactions in place and
//! deleting marketing attributes.
//!
//! Invariants: writing a contact again never duplicates it; inline marketing attributes are
//! only added, never removed (an attribute goes only with its own `DELETE`); an update keeps
//! the key and ignores properties the contract marks `sap:updatable="false"`.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::import::import_headers;
use super::read::entity_json;
use super::{
    into_fields, nav_entities, new_guid, not_implemented, now, op_header, Context, Effect,
    Operation, Outcome, Store,
};
use crate::sap::edmx::{EntitySet, EntityType, ServiceKind};
use crate::sap::error::ODataError;
use crate::sap::uri::format_key;
use crate::sap::validate::{deep_update_refused, WriteMode};
use crate::sap::{AdditionalId, MarketingAttribute, StoredContact, StoredInteraction};

pub(super) fn create(
    ctx: &Context,
    store: &mut Store,
    set: &EntitySet,
    ty: &EntityType,
    body: Value,
    op: &Operation,
) -> Result<Outcome, ODataError> {
    match (ctx.root.kind, set.name.as_str()) {
        (ServiceKind::Interaction, "Interactions") => {
            let source = (
                op_header(ctx, op, "Sap-Cuan-SourceSystemType"),
                op_header(ctx, op, "Sap-Cuan-SourceSystemId"),
            );
            create_interaction(ctx, store, ty, into_fields(body), source)
        }
        (ServiceKind::Import, "ImportHeaders") => {
            import_headers(ctx, store, ty, into_fields(body)).map(|o| o.with_effect(Effect::Import))
        }
        _ => Err(not_implemented("POST", &set.name)),
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn update(
    ctx: &Context,
    store: &mut Store,
    set: &EntitySet,
    ty: &EntityType,
    key: &[(String, String)],
    body: Value,
    mode: WriteMode,
    op: &Operation,
) -> Result<Outcome, ODataError> {
    let source = (
        op_header(ctx, op, "Sap-Cuan-SourceSystemType"),
        op_header(ctx, op, "Sap-Cuan-SourceSystemId"),
    );
    let mut fields = into_fields(body);
    // The one deep upsert the application takes; validation already refused inline
    // entities in a PATCH/MERGE.
    let deep_upsert: &[&str] = match (ctx.root.kind, set.name.as_str()) {
        (ServiceKind::Contact, "ContactOriginData") => &["MarketingAttributes"],
        _ => &[],
    };
    let mut inline = take_inline(ty, &mut fields, deep_upsert)?;
    match (ctx.root.kind, set.name.as_str(), mode) {
        (ServiceKind::Contact, "ContactOriginData", _) => {
            let (origin, id) = (key_value(key, "ContactOrigin"), key_value(key, "ContactID"));
            // The stored record always carries its key, whether or not the body repeated it.
            for (k, v) in key {
                fields
                    .entry(k.clone())
                    .or_insert_with(|| Value::String(v.clone()));
            }
            if mode == WriteMode::Merge
                && !store.contacts.contains_key(&(origin.clone(), id.clone()))
            {
                return Err(contact_not_found(&origin, &id));
            }
            let contact = upsert_contact(store, origin, id, fields, source, ServiceKind::Contact);
            for attribute in inline.remove("MarketingAttributes").unwrap_or_default() {
                let text = |name: &str| {
                    attribute
                        .get(name)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                };
                let attribute = MarketingAttribute::new(
                    text("MarketingAttributeCategory"),
                    text("MarketingAttributeValue"),
                );
                if !contact.marketing_attributes.contains(&attribute) {
                    contact.marketing_attributes.push(attribute);
                }
            }
            Ok(Outcome::no_content())
        }
        (ServiceKind::Contact, "AdditionalIDs", WriteMode::Replace) => {
            let contact_key = (key_value(key, "ContactOrigin"), key_value(key, "ContactID"));
            let contact = store
                .contacts
                .get_mut(&contact_key)
                .ok_or_else(|| contact_not_found(&contact_key.0, &contact_key.1))?;
            let additional = AdditionalId {
                origin: key_value(key, "InteractionContactAdditionalOrigin"),
                id: key_value(key, "InteractionContactAdditionalExternalID"),
            };
            if !contact.additional_ids.contains(&additional) {
                contact.additional_ids.push(additional);
            }
            Ok(Outcome::no_content())
        }
        (ServiceKind::Interaction, "Interactions", _) => {
            update_interaction(store, ty, key, fields, mode, source)
        }
        _ => Err(not_implemented(
            if mode == WriteMode::Replace {
                "PUT"
            } else {
                "MERGE"
            },
            &set.name,
        )),
    }
}

/// Removes the navigation properties from a validated payload and returns the inline
/// entities of those in `supported`; any other navigation property is refused, since the
/// application would drop it silently.
fn take_inline(
    ty: &EntityType,
    fields: &mut Map<String, Value>,
    supported: &[&str],
) -> Result<BTreeMap<String, Vec<Map<String, Value>>>, ODataError> {
    let mut inline = BTreeMap::new();
    for nav in &ty.navigations {
        if !fields.contains_key(&nav.name) {
            continue;
        }
        if !supported.contains(&nav.name.as_str()) {
            return Err(deep_update_refused(&nav.name));
        }
        let entities = nav_entities(fields, &nav.name);
        fields.remove(&nav.name);
        inline.insert(nav.name.clone(), entities);
    }
    Ok(inline)
}

/// `DELETE` of an entity the application lets clients remove: a contact's marketing
/// attribute. An entity that does not exist is 404, failing its changeset.
pub(super) fn delete(
    ctx: &Context,
    store: &mut Store,
    set: &EntitySet,
    ty: &EntityType,
    key: &[(String, String)],
) -> Result<Outcome, ODataError> {
    match (ctx.root.kind, set.name.as_str()) {
        (ServiceKind::Contact, "MarketingAttributes") => {
            let not_found = || {
                ODataError::not_found(format!(
                    "Resource not found for segment 'MarketingAttributes{}'",
                    format_key(ty, key)
                ))
            };
            let contact_key = (key_value(key, "ContactOrigin"), key_value(key, "ContactID"));
            let contact = store.contacts.get_mut(&contact_key).ok_or_else(not_found)?;
            let attribute = MarketingAttribute {
                category: key_value(key, "MarketingAttributeCategory"),
                value: key_value(key, "MarketingAttributeValue"),
            };
            let before = contact.marketing_attributes.len();
            contact.marketing_attributes.retain(|a| *a != attribute);
            if contact.marketing_attributes.len() == before {
                return Err(not_found());
            }
            Ok(Outcome::no_content())
        }
        _ => Err(not_implemented("DELETE", &set.name)),
    }
}

/// `PATCH`/`MERGE` merges the sent properties into the stored ones, `PUT` replaces them.
/// The key stays (the body may repeat it, validated to agree with the URI), and properties
/// the contract marks `sap:updatable="false"` are ignored as the gateway ignores them.
fn update_interaction(
    store: &mut Store,
    ty: &EntityType,
    key: &[(String, String)],
    mut fields: Map<String, Value>,
    mode: WriteMode,
    (source_system_type, source_system_id): (Option<String>, Option<String>),
) -> Result<Outcome, ODataError> {
    let uuid = key_value(key, "InteractionUUID");
    let interaction = store
        .interactions
        .iter_mut()
        .find(|i| i.uuid.eq_ignore_ascii_case(&uuid))
        .ok_or_else(|| {
            ODataError::not_found(format!(
                "Resource not found for segment 'Interactions{}'",
                format_key(ty, key)
            ))
        })?;
    fields.retain(|name, _| ty.property(name).is_some_and(|p| p.updatable));
    match mode {
        WriteMode::Replace => {
            // Keep the sent UUID if the create had one, so `fields` stays "as sent".
            let kept = interaction.fields.remove("InteractionUUID");
            interaction.fields = fields;
            if let Some(kept) = kept {
                interaction.fields.insert("InteractionUUID".into(), kept);
            }
        }
        _ => interaction.fields.extend(fields),
    }
    interaction.source_system_type = source_system_type.or(interaction.source_system_type.take());
    interaction.source_system_id = source_system_id.or(interaction.source_system_id.take());
    interaction.update_count += 1;
    Ok(Outcome::no_content().with_effect(Effect::InteractionUpdated))
}

fn contact_not_found(origin: &str, id: &str) -> ODataError {
    ODataError::app(format!(
        "Contact with origin '{origin}' and ID '{id}' does not exist"
    ))
    .with_target("ContactID")
}

fn key_value(key: &[(String, String)], name: &str) -> String {
    key.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// Creates the contact or merges `fields` into it: writing a contact again never duplicates.
pub(super) fn upsert_contact(
    store: &mut Store,
    origin: String,
    id: String,
    fields: Map<String, Value>,
    (source_system_type, source_system_id): (Option<String>, Option<String>),
    via: ServiceKind,
) -> &mut StoredContact {
    let contact = store
        .contacts
        .entry((origin.clone(), id.clone()))
        .or_insert_with(|| StoredContact {
            origin,
            id,
            fields: Map::new(),
            additional_ids: Vec::new(),
            marketing_attributes: Vec::new(),
            source_system_type: None,
            source_system_id: None,
            via: String::new(),
            write_count: 0,
        });
    contact.fields.extend(fields);
    contact.source_system_type = source_system_type.or(contact.source_system_type.take());
    contact.source_system_id = source_system_id.or(contact.source_system_id.take());
    contact.via = via.name().to_string();
    contact.write_count += 1;
    contact
}

fn create_interaction(
    ctx: &Context,
    store: &mut Store,
    ty: &EntityType,
    fields: Map<String, Value>,
    (source_system_type, source_system_id): (Option<String>, Option<String>),
) -> Result<Outcome, ODataError> {
    let uuid = match fields.get("InteractionUUID").and_then(Value::as_str) {
        Some(sent)
            if store
                .interactions
                .iter()
                .any(|i| i.uuid.eq_ignore_ascii_case(sent)) =>
        {
            return Err(ODataError::app(format!(
                "Interaction with InteractionUUID '{sent}' already exists"
            ))
            .with_target("InteractionUUID"));
        }
        Some(sent) => sent.to_ascii_lowercase(),
        None => new_guid(),
    };
    let mut entity = fields.clone();
    entity.insert("InteractionUUID".into(), Value::String(uuid.clone()));
    store.interactions.push(StoredInteraction {
        uuid: uuid.clone(),
        received_at: now(),
        fields,
        source_system_type,
        source_system_id,
        via: ServiceKind::Interaction.name().to_string(),
        import_header_id: None,
        update_count: 0,
    });
    let key = [("InteractionUUID".to_string(), uuid)];
    let mut outcome = Outcome::json(
        StatusCode::CREATED,
        json!({ "d": entity_json(ctx, ty, &key, &entity) }),
    )
    .with_effect(Effect::InteractionCreated);
    outcome.headers.push((
        "Location".into(),
        format!("{}Interactions{}", ctx.base_url, format_key(ty, &key)),
    ));
    Ok(outcome)
}
