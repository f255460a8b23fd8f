//! OData V2 resource paths: service root segments (`API_MKT_CONTACT_SRV;v=0004`), entity
//! sets and key predicates (`ContactOriginData(ContactOrigin='FITBIT',ContactID='A%2F1')`).

use axum::http::StatusCode;
use serde_json::Value;

use super::edmx::{EdmType, EntityType, ServiceKind};
use super::error::{ODataError, CODE_NOT_IMPLEMENTED, CODE_NO_SERVICE};
use super::validate::check_property;

/// The base path of all OData services on the tenant.
pub(crate) const ODATA_BASE: &str = "/sap/opu/odata/sap/";

/// A service root: which service, in which version, and the URL segment that named it.
#[derive(Clone, Debug)]
pub(crate) struct ServiceRoot {
    pub kind: ServiceKind,
    pub version: String,
    /// The segment as the client wrote it, e.g. `API_MKT_CONTACT_SRV;v=0004`.
    pub segment: String,
}

/// Parses the first segment after [`ODATA_BASE`]; matrix parameters other than `v` (such as
/// `o=` for the system alias) are ignored as the gateway does for a single backend.
pub(crate) fn parse_service(segment: &str) -> Result<ServiceRoot, ODataError> {
    let decoded = percent_decode(segment)?;
    let mut params = decoded.split(';');
    let name = params.next().unwrap_or_default();
    let version = params
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.eq_ignore_ascii_case("v"))
        .map_or("0001".to_string(), |(_, v)| format!("{:0>4}", v));
    let not_found = || {
        ODataError::new(
            StatusCode::NOT_FOUND,
            CODE_NO_SERVICE,
            format!("No service found for namespace '/SAP/', name '{name}', version '{version}'"),
        )
    };
    let kind = ServiceKind::from_name(name).ok_or_else(not_found)?;
    if !kind.versions().contains(&version.as_str()) {
        return Err(not_found());
    }
    Ok(ServiceRoot {
        kind,
        version,
        segment: segment.to_string(),
    })
}

/// A key predicate as written: `(Name, value)` pairs; the name is absent in the short form
/// `Interactions(guid'...')` of a single-property key.
pub(crate) type KeyPredicate = Vec<(Option<String>, String)>;

/// What a path below the service root addresses.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Resource {
    ServiceDocument,
    Metadata,
    Batch,
    EntitySet {
        name: String,
        key: Option<KeyPredicate>,
    },
    /// One navigation step from an entity: `ContactOriginData(...)/MarketingAttributes`.
    Navigation {
        name: String,
        key: KeyPredicate,
        property: String,
    },
}

/// Parses a (still percent-encoded) path relative to the service root, without query.
pub(crate) fn parse_resource(path: &str) -> Result<Resource, ODataError> {
    let path = path.trim_start_matches('/');
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    let Some(first) = segments.next() else {
        return Ok(Resource::ServiceDocument);
    };
    let second = segments.next();
    if let (Some(second), Some(third)) = (second, segments.next()) {
        return Err(ODataError::new(
            StatusCode::NOT_IMPLEMENTED,
            CODE_NOT_IMPLEMENTED,
            format!("The sandbox implements one navigation step in paths, not '{first}/{second}/{third}'"),
        ));
    }
    let first = percent_decode(first)?;
    let resource = match first.as_str() {
        "$metadata" => Resource::Metadata,
        "$batch" => Resource::Batch,
        _ => parse_entity_segment(&first)?,
    };
    let Some(property) = second else {
        return Ok(resource);
    };
    let property = percent_decode(property)?;
    match resource {
        Resource::EntitySet {
            name,
            key: Some(key),
        } if !property.starts_with('$') && !property.contains('(') => Ok(Resource::Navigation {
            name,
            key,
            property,
        }),
        _ => Err(ODataError::new(
            StatusCode::NOT_IMPLEMENTED,
            CODE_NOT_IMPLEMENTED,
            format!("The sandbox implements navigation from one entity to a collection only, not '{first}/{property}'"),
        )),
    }
}

/// An entity set with an optional key predicate, already percent-decoded.
fn parse_entity_segment(segment: &str) -> Result<Resource, ODataError> {
    let Some((name, rest)) = segment.split_once('(') else {
        return Ok(Resource::EntitySet {
            name: segment.to_string(),
            key: None,
        });
    };
    let invalid = || ODataError::syntax(format!("Invalid key predicate in '{segment}'"));
    let inner = rest.strip_suffix(')').ok_or_else(invalid)?;
    let key = parse_key_predicate(inner).ok_or_else(invalid)?;
    Ok(Resource::EntitySet {
        name: name.to_string(),
        key: Some(key),
    })
}

/// `Name='text',Other=guid'...'` or a single value; `''` inside quotes is a quote.
fn parse_key_predicate(text: &str) -> Option<KeyPredicate> {
    let take_while = |chars: &mut std::iter::Peekable<std::str::Chars>,
                      allowed: fn(char) -> bool| {
        let mut word = String::new();
        while let Some(&c) = chars.peek().filter(|&&c| allowed(c)) {
            word.push(c);
            chars.next();
        }
        word
    };
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let before_name = chars.clone();
        let ident = take_while(&mut chars, |c| c.is_ascii_alphanumeric() || c == '_');
        let name = if !ident.is_empty() && chars.peek() == Some(&'=') {
            chars.next();
            Some(ident)
        } else {
            chars = before_name;
            None
        };
        // A type prefix of a quoted literal (guid'..', datetime'..') or an unquoted literal.
        let word = take_while(&mut chars, |c| {
            c.is_ascii_alphanumeric() || "_.-+:".contains(c)
        });
        let value = if chars.peek() == Some(&'\'') {
            chars.next();
            let mut value = String::new();
            loop {
                match chars.next()? {
                    '\'' if chars.peek() == Some(&'\'') => {
                        chars.next();
                        value.push('\'');
                    }
                    '\'' => break,
                    c => value.push(c),
                }
            }
            value
        } else if word.is_empty() {
            return None;
        } else {
            word
        };
        pairs.push((name, value));
        match chars.next() {
            None => break,
            Some(',') => continue,
            Some(_) => return None,
        }
    }
    if pairs.len() > 1 && pairs.iter().any(|(n, _)| n.is_none()) {
        return None;
    }
    Some(pairs)
}

/// Matches a key predicate against the entity type's keys and checks each value like a
/// property value, returning `(key property, value)` in the order of the type's keys.
pub(crate) fn resolve_key(
    ty: &EntityType,
    predicate: &KeyPredicate,
) -> Result<Vec<(String, String)>, ODataError> {
    let invalid = |why: String| {
        ODataError::syntax(format!(
            "Invalid key predicate for entity type '{}': {why} (keys are {})",
            ty.name,
            ty.keys.join(", ")
        ))
    };
    if let [(None, value)] = predicate.as_slice() {
        return match ty.keys.as_slice() {
            [key] => finish(ty, vec![(key.clone(), value.clone())]),
            _ => Err(invalid("all key properties must be named".to_string())),
        };
    }
    let mut resolved = Vec::new();
    for key in &ty.keys {
        let mut matching = predicate.iter().filter(|(n, _)| n.as_deref() == Some(key));
        match (matching.next(), matching.next()) {
            (Some((_, value)), None) => resolved.push((key.clone(), value.clone())),
            (None, _) => return Err(invalid(format!("'{key}' is missing"))),
            (Some(_), Some(_)) => return Err(invalid(format!("'{key}' is repeated"))),
        }
    }
    if let Some((Some(name), _)) = predicate
        .iter()
        .find(|(n, _)| !n.as_ref().is_some_and(|n| ty.is_key(n)))
    {
        return Err(invalid(format!("'{name}' is not a key property")));
    }
    finish(ty, resolved)
}

fn finish(
    ty: &EntityType,
    resolved: Vec<(String, String)>,
) -> Result<Vec<(String, String)>, ODataError> {
    for (key, value) in &resolved {
        if let Some(property) = ty.property(key) {
            if matches!(property.edm_type, EdmType::String | EdmType::Guid) {
                check_property(property, &Value::String(value.clone()))?;
            }
        }
    }
    Ok(resolved)
}

/// Formats a key predicate for URIs in responses (`__metadata.uri`, `Location`).
pub(crate) fn format_key(ty: &EntityType, values: &[(String, String)]) -> String {
    let literal = |key: &str, value: &str| match ty.property(key).map(|p| &p.edm_type) {
        Some(EdmType::Guid) => format!("guid'{value}'"),
        _ => format!("'{}'", percent_encode(&value.replace('\'', "''"))),
    };
    let inner = match values {
        [(key, value)] => literal(key, value),
        _ => values
            .iter()
            .map(|(k, v)| format!("{k}={}", literal(k, v)))
            .collect::<Vec<_>>()
            .join(","),
    };
    format!("({inner})")
}

pub(crate) fn percent_decode(text: &str) -> Result<String, ODataError> {
    let invalid = || ODataError::syntax(format!("Invalid percent-encoding in '{text}'"));
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3).ok_or_else(invalid)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| invalid())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| invalid())
}

/// Percent-encodes everything but unreserved characters and the quote (`'` is doubled instead).
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~'@".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sap::edmx::Schema;

    fn key(pairs: &[(Option<&str>, &str)]) -> KeyPredicate {
        pairs
            .iter()
            .map(|(n, v)| (n.map(str::to_string), v.to_string()))
            .collect()
    }

    #[test]
    fn services_and_versions() {
        let root = parse_service("API_MKT_CONTACT_SRV;v=0004").unwrap();
        assert_eq!(
            (root.kind, root.version.as_str()),
            (ServiceKind::Contact, "0004")
        );
        assert_eq!(
            parse_service("API_MKT_CONTACT_SRV;v=2").unwrap().version,
            "0002"
        );
        assert_eq!(
            parse_service("API_MKT_CONTACT_SRV").unwrap_err().status,
            404
        );
        assert_eq!(
            parse_service("API_MKT_CONTACT_SRV;v=0003")
                .unwrap_err()
                .status,
            404
        );
        assert_eq!(
            parse_service("CUAN_IMPORT_SRV").unwrap().kind,
            ServiceKind::Import
        );
        assert!(parse_service("API_MKT_INTERACTION_SRV;o=LOCAL").is_ok());
        assert!(parse_service("NOPE_SRV").is_err());
    }

    #[test]
    fn resources_and_key_predicates() {
        assert_eq!(parse_resource("").unwrap(), Resource::ServiceDocument);
        assert_eq!(parse_resource("/").unwrap(), Resource::ServiceDocument);
        assert_eq!(parse_resource("$metadata").unwrap(), Resource::Metadata);
        assert_eq!(parse_resource("$batch").unwrap(), Resource::Batch);
        assert_eq!(
            parse_resource("Interactions").unwrap(),
            Resource::EntitySet {
                name: "Interactions".into(),
                key: None
            }
        );
        assert_eq!(
            parse_resource(
                "ContactOriginData(ContactOrigin='FITBIT',ContactID='O''Brien%2F1%20x')"
            )
            .unwrap(),
            Resource::EntitySet {
                name: "ContactOriginData".into(),
                key: Some(key(&[
                    (Some("ContactOrigin"), "FITBIT"),
                    (Some("ContactID"), "O'Brien/1 x")
                ])),
            }
        );
        assert_eq!(
            parse_resource("Interactions(guid'0a1b2c3d-0000-4000-8000-000000000000')").unwrap(),
            Resource::EntitySet {
                name: "Interactions".into(),
                key: Some(key(&[(None, "0a1b2c3d-0000-4000-8000-000000000000")])),
            }
        );
        assert_eq!(
            parse_resource("X(a='1,2',b=guid'x')").unwrap(),
            Resource::EntitySet {
                name: "X".into(),
                key: Some(key(&[(Some("a"), "1,2"), (Some("b"), "x")]))
            }
        );
        for bad in ["X(a='1'", "X(a='1)", "X(a='1'b)", "X('a','b')", "X()"] {
            assert!(parse_resource(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_resource("A(x='1')/B").unwrap(),
            Resource::Navigation {
                name: "A".into(),
                key: key(&[(Some("x"), "1")]),
                property: "B".into()
            }
        );
        for unsupported in [
            "A/B",
            "A(x='1')/B/C",
            "A(x='1')/$count",
            "A(x='1')/B(y='2')",
        ] {
            assert_eq!(
                parse_resource(unsupported).unwrap_err().status,
                501,
                "{unsupported}"
            );
        }
    }

    #[test]
    fn keys_resolve_against_the_type() {
        let schema = Schema::load(ServiceKind::Contact);
        let ty = schema.entity_type("ContactOriginData").unwrap();
        let ok = resolve_key(
            ty,
            &key(&[(Some("ContactID"), "A1"), (Some("ContactOrigin"), "FITBIT")]),
        )
        .unwrap();
        assert_eq!(
            ok,
            [
                ("ContactOrigin".to_string(), "FITBIT".to_string()),
                ("ContactID".into(), "A1".into())
            ]
        );
        assert_eq!(
            format_key(ty, &ok),
            "(ContactOrigin='FITBIT',ContactID='A1')"
        );
        assert!(resolve_key(ty, &key(&[(Some("ContactID"), "A1")])).is_err());
        assert!(resolve_key(ty, &key(&[(None, "A1")])).is_err());
        let long = "X".repeat(21);
        assert!(resolve_key(
            ty,
            &key(&[(Some("ContactID"), "A1"), (Some("ContactOrigin"), &long)])
        )
        .is_err());
        assert!(resolve_key(
            ty,
            &key(&[
                (Some("ContactID"), "A1"),
                (Some("ContactOrigin"), "F"),
                (Some("Other"), "x")
            ])
        )
        .is_err());
    }
}
