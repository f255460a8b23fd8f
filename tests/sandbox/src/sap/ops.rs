//! The application behind the services: executes one OData operation (a direct request or
//! one part of a `$batch`) against the store, after validating it against the schema. The
//! operations themselves are in [`read`], [`write`](mod@write) and [`import`]; this module
//! resolves the resource, checks what the set allows and hands the operation on.

mod import;
mod read;
mod write;

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;

use super::edmx::Schema;
use super::error::{
    ODataError, CODE_INJECTED, CODE_NOT_ALLOWED, CODE_NOT_IMPLEMENTED, CODE_SYNTAX,
};
use super::multipart::{header, Headers, InnerResponse};
use super::query::parse_query;
use super::uri::{parse_resource, resolve_key, Resource, ServiceRoot, ODATA_BASE};
use super::validate::{validate_entity, WriteMode};
use super::{StoredContact, StoredInteraction};

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
        return read::navigation(ctx, store, set, ty, key, property, query);
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
            read::get(ctx, store, set, ty, key.as_deref(), &options)
        }
        ("POST", None) => {
            if !set.creatable {
                return not_allowed("creatable");
            }
            let body = parse_body(op)?;
            validate_entity(ctx.schema, ty, &body, WriteMode::Create, &[])?;
            write::create(ctx, store, set, ty, body, op)
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
            write::update(ctx, store, set, ty, &key, body, mode, op)
        }
        ("DELETE", Some(_)) if !set.deletable => not_allowed("deletable"),
        ("DELETE", Some(key)) => write::delete(ctx, store, set, ty, &key),
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

/// The properties of a validated entity payload, without OData annotations.
fn into_fields(body: Value) -> Map<String, Value> {
    let Value::Object(mut fields) = body else {
        return Map::new();
    };
    fields.remove("__metadata");
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

/// A random (version 4) GUID in SAP's lowercase form.
fn new_guid() -> String {
    crate::random::uuid_v4()
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}
