//! The application behind the services: executes one OData operation (a direct request or
//! one part of a `$batch`) against the store, after validating it against the schema.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;

use super::edmx::{EntitySet, EntityType, Schema, ServiceKind};
use super::error::{
    random_hex, ODataError, CODE_INJECTED, CODE_NOT_ALLOWED, CODE_NOT_IMPLEMENTED, CODE_SYNTAX,
};
use super::multipart::{header, Headers, InnerResponse};
use super::query::{parse_query, QueryOptions};
use super::uri::{format_key, parse_resource, resolve_key, Resource, ServiceRoot, ODATA_BASE};
use super::validate::{deep_update_refused, is_guid, validate_entity, WriteMode};
use super::{AdditionalId, MarketingAttribute, StoredContact, StoredInteraction};

/// Everything the tenant stores. Cloned to stage a changeset, which is applied only if all of
/// its operations succeed.
#[derive(Clone, Debug, Default)]
pub(crate) struct Store {
    /// (origin, id) -> contact.
    pub contacts: BTreeMap<(String, String), StoredContact>,
    pub interactions: Vec<StoredInteraction>,
}

/// Resolved key properties and their values, in the entity type's key order.
type KeyValues = Vec<(String, String)>;

/// Where an operation runs.
pub(crate) struct Context<'a> {
    pub root: &'a ServiceRoot,
    pub schema: &'a Schema,
    /// Absolute URL of the service root with a trailing slash, for `__metadata` and `Location`.
    pub base_url: String,
    /// Headers of the enclosing HTTP request, the fallback for per-operation headers.
    pub outer_headers: &'a [(String, String)],
    /// Injected per-operation fault: (substring, status).
    pub part_fault: Option<(String, StatusCode)>,
}

/// One operation, relative to the service root.
pub(crate) struct Operation<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub request_line: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a str,
}

/// What a successful operation changed, for the counters (which count only what was
/// applied, so a rolled-back changeset counts nothing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Effect {
    #[default]
    None,
    /// `POST ImportHeaders` (CUAN_IMPORT_SRV).
    Import,
    /// `POST Interactions` (API_MKT_INTERACTION_SRV).
    InteractionCreated,
    /// `PUT`/`PATCH`/`MERGE Interactions(...)`.
    InteractionUpdated,
}

/// A successful operation's response.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub status: StatusCode,
    pub headers: Headers,
    pub body: Option<Value>,
    pub effect: Effect,
}

impl Outcome {
    fn no_content() -> Self {
        Outcome {
            status: StatusCode::NO_CONTENT,
            headers: Vec::new(),
            body: None,
            effect: Effect::None,
        }
    }

    fn json(status: StatusCode, body: Value) -> Self {
        Outcome {
            status,
            headers: Vec::new(),
            body: Some(body),
            effect: Effect::None,
        }
    }

    fn with_effect(mut self, effect: Effect) -> Self {
        self.effect = effect;
        self
    }

    pub(crate) fn into_inner(self, content_id: Option<String>) -> InnerResponse {
        let mut headers = self.headers;
        if self.body.is_some() {
            headers.push((
                "Content-Type".into(),
                "application/json;charset=utf-8".into(),
            ));
        }
        headers.push(("dataserviceversion".into(), "2.0".into()));
        InnerResponse {
            status: self.status,
            headers,
            body: self.body.map(|b| b.to_string()).unwrap_or_default(),
            content_id,
        }
    }
}

/// The response part for a failed operation.
pub(crate) fn error_inner(
    ctx: &Context,
    error: &ODataError,
    content_id: Option<String>,
) -> InnerResponse {
    InnerResponse {
        status: error.status,
        headers: vec![(
            "Content-Type".into(),
            "application/json;charset=utf-8".into(),
        )],
        body: error.body(ctx.root.kind.name(), &ctx.root.version),
        content_id,
    }
}

/// Executes `op` against `store`. On error the store may be partly modified, so callers run
/// writes against a staged copy.
pub(crate) fn execute(
    ctx: &Context,
    store: &mut Store,
    op: &Operation,
) -> Result<Outcome, ODataError> {
    if let Some((needle, status)) = &ctx.part_fault {
        if op.request_line.contains(needle.as_str()) || op.body.contains(needle.as_str()) {
            return Err(ODataError::new(
                *status,
                CODE_INJECTED,
                format!("Injected failure for '{}'", op.request_line),
            ));
        }
    }
    let url = op.url.split('#').next().unwrap_or_default();
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let (set, key, navigation) = match parse_resource(relative_to_root(ctx, path))? {
        Resource::EntitySet { name, key } => (name, key, None),
        Resource::Navigation {
            name,
            key,
            property,
        } => (name, Some(key), Some(property)),
        other => {
            return Err(ODataError::syntax(format!(
                "{other:?} cannot be requested as a batch operation"
            )))
        }
    };
    let set = ctx
        .schema
        .entity_set(&set)
        .ok_or_else(|| ODataError::not_found(format!("Resource not found for segment '{set}'")))?;
    let ty = ctx.schema.entity_type(&set.entity_type).ok_or_else(|| {
        ODataError::not_found(format!("Entity type '{}' not found", set.entity_type))
    })?;
    let key = key.map(|k| resolve_key(ty, &k)).transpose()?;

    let method = op.method.to_ascii_uppercase();
    if let (Some(property), Some(key)) = (&navigation, &key) {
        if method != "GET" {
            return Err(not_implemented(
                &method,
                &format!("{}/{property}", set.name),
            ));
        }
        return read_navigation(ctx, store, set, ty, key, property, query);
    }
    let not_allowed = |what: &str| {
        Err(ODataError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            CODE_NOT_ALLOWED,
            format!("Entity set '{}' is not {what}", set.name),
        ))
    };
    match (method.as_str(), key) {
        ("GET", key) => {
            let options = parse_query(ty, query)?;
            read(ctx, store, set, ty, key.as_deref(), &options)
        }
        ("POST", None) => {
            if !set.creatable {
                return not_allowed("creatable");
            }
            let body = parse_body(op)?;
            validate_entity(ctx.schema, ty, &body, WriteMode::Create, &[])?;
            create(ctx, store, set, ty, body, op)
        }
        ("PUT" | "PATCH" | "MERGE", Some(key)) => {
            if !set.updatable {
                return not_allowed("updatable");
            }
            let mode = if method == "PUT" {
                WriteMode::Replace
            } else {
                WriteMode::Merge
            };
            let body = parse_body(op)?;
            validate_entity(ctx.schema, ty, &body, mode, &key)?;
            update(ctx, store, set, ty, &key, body, mode, op)
        }
        ("DELETE", Some(_)) if !set.deletable => not_allowed("deletable"),
        ("DELETE", Some(key)) => delete(ctx, store, set, ty, &key),
        ("POST", Some(_)) | ("PUT" | "PATCH" | "MERGE" | "DELETE", None) => {
            Err(ODataError::syntax(format!(
                "{method} is not allowed on '{}' {}",
                set.name,
                if method == "POST" {
                    "with a key"
                } else {
                    "without a key"
                }
            )))
        }
        _ => Err(not_implemented(&method, &set.name)),
    }
}

/// Batch operation URLs are relative to the service root, but absolute paths are legal too.
fn relative_to_root<'p>(ctx: &Context, path: &'p str) -> &'p str {
    let path = path
        .strip_prefix("http://")
        .or_else(|| path.strip_prefix("https://"))
        .and_then(|p| p.find('/').map(|i| &p[i..]))
        .unwrap_or(path);
    path.strip_prefix(ODATA_BASE)
        .and_then(|p| p.strip_prefix(ctx.root.segment.as_str()))
        .unwrap_or(path)
}

fn not_implemented(method: &str, set: &str) -> ODataError {
    ODataError::new(
        StatusCode::NOT_IMPLEMENTED,
        CODE_NOT_IMPLEMENTED,
        format!("Method '{method}' on entity set '{set}' is not implemented by the sandbox"),
    )
}

fn parse_body(op: &Operation) -> Result<Value, ODataError> {
    let content_type = header(op.headers, "Content-Type").unwrap_or_default();
    if !content_type.to_ascii_lowercase().contains("json") {
        return Err(ODataError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            CODE_SYNTAX,
            format!("Content-Type '{content_type}' is not supported; the sandbox accepts application/json"),
        ));
    }
    serde_json::from_str(op.body.trim())
        .map_err(|e| ODataError::syntax(format!("Malformed JSON in the request body: {e}")))
}

/// A request header of the operation, else of the enclosing request.
fn op_header(ctx: &Context, op: &Operation, name: &str) -> Option<String> {
    header(op.headers, name)
        .or_else(|| header(ctx.outer_headers, name))
        .map(str::to_string)
}

fn create(
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
            import(ctx, store, ty, into_fields(body)).map(|o| o.with_effect(Effect::Import))
        }
        _ => Err(not_implemented("POST", &set.name)),
    }
}

#[allow(clippy::too_many_arguments)]
fn update(
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
fn delete(
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

/// The properties of a validated entity payload, without OData annotations.
fn into_fields(body: Value) -> Map<String, Value> {
    let Value::Object(mut fields) = body else {
        return Map::new();
    };
    fields.remove("__metadata");
    fields
}

/// Creates the contact or merges `fields` into it: writing a contact again never duplicates.
fn upsert_contact(
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

/// The entities of a validated deep-insert navigation property (`[..]` or `{"results":[..]}`).
fn nav_entities(fields: &Map<String, Value>, name: &str) -> Vec<Map<String, Value>> {
    let items = match fields.get(name) {
        Some(Value::Array(items)) => items.clone(),
        Some(Value::Object(o)) => o
            .get("results")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    items.into_iter().map(into_fields).collect()
}

/// `POST ImportHeaders`: one deep insert of contacts (upserted) and interactions (appended).
fn import(
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
    let header_id = text(&header_fields, "Id").unwrap_or_else(|| random_hex(16).to_uppercase());
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

/// `GET` of an entity or an entity set, the latter with `$filter`, `$top`, `$skip`,
/// `$select` and `$inlinecount`. Sets the contract marks `sap:requires-filter="true"`
/// (all of the interaction API's) refuse a collection read without `$filter`, as SAP does.
fn read(
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
fn read_navigation(
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
fn entity_json(
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

/// A random (version 4) GUID in SAP's lowercase form.
pub(crate) fn new_guid() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}
