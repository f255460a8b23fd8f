//! The reads: an entity, an entity set (with `$filter`, `$top`, `$skip`, `$select` and
//! `$inlinecount`) and a contact's navigation to its marketing attributes, in OData V2 JSON.
//!
//! Invariants: sets the contract marks `sap:requires-filter="true"` refuse a collection
//! read without `$filter`; key values compare exactly, GUIDs in any case.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::{not_implemented, Context, KeyValues, Outcome, Store};
use crate::sap::edmx::{EntitySet, EntityType, ServiceKind};
use crate::sap::error::ODataError;
use crate::sap::query::{parse_query, QueryOptions};
use crate::sap::uri::format_key;
use crate::sap::validate::is_guid;
use crate::sap::StoredContact;

/// `GET` of an entity or an entity set, the latter with `$filter`, `$top`, `$skip`,
/// `$select` and `$inlinecount`. Sets the contract marks `sap:requires-filter="true"`
/// (all of the interaction API's) refuse a collection read without `$filter`, as SAP does.
pub(super) fn get(
    ctx: &Context,
    store: &Store,
    set: &EntitySet,
    ty: &EntityType,
    key: Option<&[(String, String)]>,
    options: &QueryOptions,
) -> Result<Outcome, ODataError> {
    if key.is_none() && set.requires_filter && options.filter.is_none() {
        return Err(ODataError::app(format!(
            "Entity set '{}' requires a filter: query it with $filter",
            set.name
        )));
    }
    let entities = stored_entities(ctx.root.kind, store, &set.name);
    match key {
        Some(key) => {
            let (key, fields) = entities
                .into_iter()
                .find(|(k, _)| same_key(k, key))
                .ok_or_else(|| entity_not_found(set, ty, key))?;
            Ok(Outcome::json(
                StatusCode::OK,
                json!({ "d": select(entity_json(ctx, ty, &key, &fields), &options.select) }),
            ))
        }
        None => Ok(collection(ctx, ty, entities, options)),
    }
}

/// `GET Set(key)/Navigation` of a collection: the target set's entities that carry the
/// parent's key (`ContactOrigin`, `ContactID`), with the query options of a set read. An
/// unknown parent is 404, as SAP answers it.
pub(super) fn navigation(
    ctx: &Context,
    store: &Store,
    set: &EntitySet,
    ty: &EntityType,
    key: &[(String, String)],
    property: &str,
    query: &str,
) -> Result<Outcome, ODataError> {
    let segment_not_found =
        || ODataError::not_found(format!("Resource not found for segment '{property}'"));
    let nav = ty.navigation(property).ok_or_else(segment_not_found)?;
    if !nav.many {
        return Err(not_implemented(
            "GET",
            &format!("{}/{property} (a single entity)", set.name),
        ));
    }
    let target_set = ctx
        .schema
        .entity_sets
        .iter()
        .find(|s| s.entity_type == nav.target)
        .ok_or_else(segment_not_found)?;
    let target = ctx
        .schema
        .entity_type(&nav.target)
        .ok_or_else(segment_not_found)?;
    if !stored_entities(ctx.root.kind, store, &set.name)
        .iter()
        .any(|(k, _)| same_key(k, key))
    {
        return Err(entity_not_found(set, ty, key));
    }
    let options = parse_query(target, query)?;
    let children = stored_entities(ctx.root.kind, store, &target_set.name)
        .into_iter()
        .filter(|(_, fields)| {
            key.iter()
                .all(|(k, v)| fields.get(k).and_then(Value::as_str) == Some(v.as_str()))
        })
        .collect();
    Ok(collection(ctx, target, children, &options))
}

fn entity_not_found(set: &EntitySet, ty: &EntityType, key: &[(String, String)]) -> ODataError {
    ODataError::not_found(format!(
        "Resource not found for segment '{}{}'",
        set.name,
        format_key(ty, key)
    ))
}

/// Key values are equal as the tenant compares them: exactly, GUIDs in any case.
fn same_key(a: &[(String, String)], b: &[(String, String)]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((_, x), (_, y))| x == y || (is_guid(x) && x.eq_ignore_ascii_case(y)))
}

/// What the store holds of an entity set, as (key, properties) pairs.
fn stored_entities(
    kind: ServiceKind,
    store: &Store,
    set: &str,
) -> Vec<(KeyValues, Map<String, Value>)> {
    let contact_key = |c: &StoredContact| {
        vec![
            ("ContactOrigin".to_string(), c.origin.clone()),
            ("ContactID".to_string(), c.id.clone()),
        ]
    };
    // Entities made only of their key: their properties are the key values.
    let keyed = |key: KeyValues| {
        let fields = key
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        (key, fields)
    };
    match (kind, set) {
        (ServiceKind::Contact, "ContactOriginData") => store
            .contacts
            .values()
            .map(|c| (contact_key(c), c.fields.clone()))
            .collect(),
        (ServiceKind::Contact, "AdditionalIDs") => store
            .contacts
            .values()
            .flat_map(|c| {
                c.additional_ids.iter().map(move |a| {
                    let mut key = contact_key(c);
                    key.push((
                        "InteractionContactAdditionalOrigin".to_string(),
                        a.origin.clone(),
                    ));
                    key.push((
                        "InteractionContactAdditionalExternalID".to_string(),
                        a.id.clone(),
                    ));
                    keyed(key)
                })
            })
            .collect(),
        (ServiceKind::Contact, "MarketingAttributes") => store
            .contacts
            .values()
            .flat_map(|c| {
                c.marketing_attributes.iter().map(move |a| {
                    let mut key = contact_key(c);
                    key.push(("MarketingAttributeCategory".to_string(), a.category.clone()));
                    key.push(("MarketingAttributeValue".to_string(), a.value.clone()));
                    keyed(key)
                })
            })
            .collect(),
        // Interactions imported through CUAN_IMPORT_SRV live in the same tenant table, so the
        // interaction API sees them too (under its own property names).
        (ServiceKind::Interaction, "Interactions") => store
            .interactions
            .iter()
            .map(|i| {
                let mut fields = i.fields.clone();
                fields.insert("InteractionUUID".into(), Value::String(i.uuid.clone()));
                (
                    vec![("InteractionUUID".to_string(), i.uuid.clone())],
                    fields,
                )
            })
            .collect(),
        // Other entity sets exist in the contract but the sandbox stores nothing in them.
        _ => Vec::new(),
    }
}

/// A collection answer: `$filter`, `$skip`, `$top`, `$select` and `$inlinecount` applied.
fn collection(
    ctx: &Context,
    ty: &EntityType,
    entities: Vec<(KeyValues, Map<String, Value>)>,
    options: &QueryOptions,
) -> Outcome {
    let matching: Vec<&(KeyValues, Map<String, Value>)> = entities
        .iter()
        .filter(|(_, fields)| options.filter.as_ref().is_none_or(|f| f.matches(fields)))
        .collect();
    let count = matching.len();
    let results: Vec<Value> = matching
        .into_iter()
        .skip(options.skip)
        .take(options.top.unwrap_or(usize::MAX))
        .map(|(key, fields)| select(entity_json(ctx, ty, key, fields), &options.select))
        .collect();
    let mut d = json!({ "results": results });
    if options.inline_count {
        // OData V2 JSON writes the count as a string.
        d["__count"] = Value::String(count.to_string());
    }
    Outcome::json(StatusCode::OK, json!({ "d": d }))
}

/// `$select`: only the named properties (and `__metadata`).
fn select(mut entity: Value, names: &[String]) -> Value {
    if let (Value::Object(map), false) = (&mut entity, names.is_empty()) {
        map.retain(|name, _| name == "__metadata" || names.iter().any(|n| n == name));
    }
    entity
}

/// An entity in OData V2 JSON: `__metadata` and the fields that are properties of the type.
pub(super) fn entity_json(
    ctx: &Context,
    ty: &EntityType,
    key: &[(String, String)],
    fields: &Map<String, Value>,
) -> Value {
    let set = ctx
        .schema
        .entity_sets
        .iter()
        .find(|s| s.entity_type == ty.name)
        .map_or(ty.name.as_str(), |s| s.name.as_str());
    let uri = format!("{}{set}{}", ctx.base_url, format_key(ty, key));
    let mut entity = Map::new();
    entity.insert(
        "__metadata".into(),
        json!({ "id": uri, "uri": uri, "type": format!("{}.{}", ctx.schema.namespace, ty.name) }),
    );
    for (name, value) in fields {
        if ty.property(name).is_some() {
            entity.insert(name.clone(), value.clone());
        }
    }
    Value::Object(entity)
}
