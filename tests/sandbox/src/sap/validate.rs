//! Validation of written entities against the schema, the way SAP Gateway's JSON
//! deserializer and the Marketing application reject them. Nothing here knows individual
//! fields: every rule comes from the EDMX (types, MaxLength, Nullable, keys, navigations).

use base64::Engine as _;
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use super::edmx::{EdmType, EntityType, Property, Schema};
use super::error::ODataError;

/// How an entity is written, which decides which properties must be present.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteMode {
    /// `POST`: a new entity; navigation properties are a deep insert.
    Create,
    /// `PUT`: the whole entity; keys come from the URI and may be repeated in the body.
    /// Navigation properties are a deep upsert of inline entities, which inherit the parent's
    /// key; whether the application takes them is up to the application.
    Replace,
    /// `PATCH`/`MERGE`: only the properties sent change.
    Merge,
}

/// Property names OData V2 clients may send besides the entity's properties.
const ANNOTATIONS: &[&str] = &["__metadata"];

/// Checks `body` as an entity of `ty` written with `mode`. `uri_key` are the key values from
/// the URI (empty for a create); a key repeated in the body must agree with it.
pub(crate) fn validate_entity(
    schema: &Schema,
    ty: &EntityType,
    body: &Value,
    mode: WriteMode,
    uri_key: &[(String, String)],
) -> Result<(), ODataError> {
    let Value::Object(fields) = body else {
        return Err(ODataError::syntax(format!(
            "The payload for an entity of type '{}' must be a JSON object",
            ty.name
        )));
    };

    for (name, value) in fields {
        if ANNOTATIONS.contains(&name.as_str()) {
            continue;
        }
        if let Some(property) = ty.property(name) {
            check_property(property, value)?;
        } else if let Some(nav) = ty.navigation(name) {
            if mode == WriteMode::Merge {
                return Err(deep_update_refused(name));
            }
            let target = schema.entity_type(&nav.target).ok_or_else(|| {
                ODataError::syntax(format!("Entity type '{}' is unknown", nav.target))
            })?;
            // An inline entity belongs to the parent: the parent's key properties that are
            // keys of the target too (`ContactOrigin`, `ContactID`) may be left out, and if
            // sent must agree with the parent's key, exactly as a body key with the URI's.
            let inherited: Vec<(String, String)> = uri_key
                .iter()
                .filter(|(k, _)| target.is_key(k))
                .cloned()
                .collect();
            for item in navigation_items(name, nav.many, value)? {
                validate_entity(schema, target, item, WriteMode::Create, &inherited)?;
            }
        } else {
            return Err(
                ODataError::syntax(format!("Property '{name}' is invalid")).with_target(name)
            );
        }
    }

    check_keys(ty, fields, mode, uri_key)?;

    if mode != WriteMode::Merge {
        // Read-only properties are filled by the server, and keys were checked above.
        let missing = ty.properties.iter().find(|p| {
            !p.nullable && p.creatable && !ty.is_key(&p.name) && !fields.contains_key(&p.name)
        });
        if let Some(p) = missing {
            return Err(ODataError::app(format!(
                "Property '{}' of entity type '{}' is mandatory",
                p.name, ty.name
            ))
            .with_target(&p.name));
        }
    }
    Ok(())
}

/// A navigation property in a `PATCH`/`MERGE` (or in a `PUT` the application does not
/// take inline entities with).
pub(crate) fn deep_update_refused(name: &str) -> ODataError {
    ODataError::syntax(format!(
        "Navigation property '{name}' cannot be written in an update (deep update is not supported)"
    ))
    .with_target(name)
}

fn check_keys(
    ty: &EntityType,
    fields: &Map<String, Value>,
    mode: WriteMode,
    uri_key: &[(String, String)],
) -> Result<(), ODataError> {
    for key in &ty.keys {
        let in_uri = uri_key.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        match (fields.get(key), in_uri) {
            (Some(sent), Some(uri)) => {
                let is_guid = ty
                    .property(key)
                    .is_some_and(|p| p.edm_type == EdmType::Guid);
                let agrees = key_text(sent).is_some_and(|sent| {
                    if is_guid {
                        sent.eq_ignore_ascii_case(uri)
                    } else {
                        sent == *uri
                    }
                });
                if !agrees {
                    return Err(ODataError::syntax(format!(
                        "Key property '{key}' in the payload ({sent}) differs from the key in the URI ('{uri}')"
                    ))
                    .with_target(key));
                }
            }
            (Some(_), None) | (None, Some(_)) => {}
            // The server assigns a single technical key (InteractionUUID, import Ids) on create.
            (None, None) if mode == WriteMode::Create && ty.keys.len() == 1 => {}
            (None, None) => {
                return Err(ODataError::syntax(format!(
                    "Key property '{key}' of entity type '{}' is missing",
                    ty.name
                ))
                .with_target(key))
            }
        }
    }
    Ok(())
}

/// The entities of a navigation property in a deep insert: `[..]` or `{"results":[..]}` for
/// a collection, an object for a single entity.
fn navigation_items<'v>(
    name: &str,
    many: bool,
    value: &'v Value,
) -> Result<Vec<&'v Value>, ODataError> {
    let items = match (many, value) {
        (_, Value::Null) => Vec::new(),
        (true, Value::Array(items)) => items.iter().collect(),
        (true, Value::Object(o))
            if o.len() == 1 && o.get("results").is_some_and(Value::is_array) =>
        {
            o["results"].as_array().into_iter().flatten().collect()
        }
        (false, Value::Object(_)) => vec![value],
        _ => {
            let expected = if many {
                "an array of entities"
            } else {
                "an entity object"
            };
            return Err(ODataError::syntax(format!(
                "Navigation property '{name}' must be {expected}"
            ))
            .with_target(name));
        }
    };
    Ok(items)
}

/// The text of a key value as it appears in a URI key predicate.
pub(crate) fn key_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Checks one property value: null only where nullable, the JSON type the Edm type needs in
/// OData V2 JSON, and MaxLength.
pub(crate) fn check_property(property: &Property, value: &Value) -> Result<(), ODataError> {
    let name = &property.name;
    if value.is_null() {
        if property.nullable {
            return Ok(());
        }
        return Err(
            ODataError::syntax(format!("Property '{name}' must not be null")).with_target(name),
        );
    }
    if let Err(expected) = check_value(property, value) {
        return Err(ODataError::syntax(format!(
            "Invalid value {} for property '{name}' of type {}: expected {expected}",
            abbreviated(value),
            property.type_name
        ))
        .with_target(name));
    }
    if let (Some(max), Value::String(text)) = (property.max_length, value) {
        let length = text.chars().count();
        if property.edm_type == EdmType::String && length > max {
            return Err(ODataError::syntax(format!(
                "Value of property '{name}' is too long: {length} characters, maximum length is {max}"
            ))
            .with_target(name));
        }
    }
    Ok(())
}

/// `Err` describes what was expected.
fn check_value(property: &Property, value: &Value) -> Result<(), &'static str> {
    let ok = match &property.edm_type {
        EdmType::String => value.is_string(),
        EdmType::Boolean => value.is_boolean(),
        EdmType::Byte => integer_in(value, 0, u8::MAX.into()),
        EdmType::SByte => integer_in(value, i8::MIN.into(), i8::MAX.into()),
        EdmType::Int16 => integer_in(value, i16::MIN.into(), i16::MAX.into()),
        EdmType::Int32 => integer_in(value, i32::MIN.into(), i32::MAX.into()),
        // OData V2 JSON writes 64-bit integers and decimals as strings; numbers are tolerated.
        EdmType::Int64 => match value {
            Value::Number(n) => n.is_i64(),
            Value::String(s) => s.parse::<i64>().is_ok(),
            _ => false,
        },
        EdmType::Decimal => {
            return match value {
                Value::String(s) => check_decimal(s, property),
                Value::Number(n) => check_decimal(&n.to_string(), property),
                _ => Err("a decimal as a JSON string or number"),
            }
        }
        EdmType::Double | EdmType::Single => match value {
            Value::Number(_) => true,
            Value::String(s) => s.parse::<f64>().is_ok(),
            _ => false,
        },
        EdmType::Guid => value.as_str().is_some_and(is_guid),
        EdmType::DateTime | EdmType::DateTimeOffset => value.as_str().is_some_and(is_datetime),
        EdmType::Time => value.as_str().is_some_and(|s| s.starts_with("PT")),
        EdmType::Binary => value
            .as_str()
            .is_some_and(|s| base64::engine::general_purpose::STANDARD.decode(s).is_ok()),
        EdmType::Other(_) => true,
    };
    if ok {
        Ok(())
    } else {
        Err(match property.edm_type {
            EdmType::String => "a JSON string",
            EdmType::Boolean => "true or false",
            EdmType::Byte | EdmType::SByte | EdmType::Int16 | EdmType::Int32 => {
                "a JSON integer number in range"
            }
            EdmType::Int64 => "an integer as a JSON string or number",
            EdmType::Double | EdmType::Single => "a JSON number",
            EdmType::Guid => "a GUID string like \"0a1b2c3d-0000-4000-8000-000000000000\"",
            EdmType::DateTime | EdmType::DateTimeOffset => {
                "\"/Date(<milliseconds>)/\", \"/Date(<milliseconds>+0000)/\" or an ISO 8601 date-time"
            }
            EdmType::Time => "an ISO 8601 duration like \"PT10H30M\"",
            EdmType::Binary => "a base64 string",
            EdmType::Decimal | EdmType::Other(_) => "a valid value",
        })
    }
}

fn integer_in(value: &Value, min: i64, max: i64) -> bool {
    value.as_i64().is_some_and(|n| (min..=max).contains(&n))
}

/// Digits with an optional sign and fraction; the integer part must fit Precision - Scale.
fn check_decimal(text: &str, property: &Property) -> Result<(), &'static str> {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (integer, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(integer) || (unsigned.contains('.') && !digits(fraction)) {
        return Err("a decimal as a JSON string or number, digits only");
    }
    if let (Some(precision), Some(scale)) = (property.precision, property.scale) {
        let significant = integer.trim_start_matches('0').len();
        if significant > precision.saturating_sub(scale) as usize {
            return Err("a decimal that fits the property's precision");
        }
    }
    Ok(())
}

pub(crate) fn is_guid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// OData V2 JSON date-times: `/Date(<ms>)/`, `/Date(<ms>+hhmm)/`, or ISO 8601 with or
/// without a zone (`2026-11-20T00:00:00`, `2026-11-20T00:00:00.000Z`, `...+01:00`).
pub(crate) fn is_datetime(text: &str) -> bool {
    if let Some(inner) = text
        .strip_prefix("/Date(")
        .and_then(|t| t.strip_suffix(")/"))
    {
        let unsigned = inner.strip_prefix('-').unwrap_or(inner);
        let (millis, offset) = match unsigned.find(['+', '-']) {
            Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
            None => (unsigned, None),
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        return all_digits(millis)
            && millis.parse::<i64>().is_ok()
            && offset.is_none_or(|o| o.len() == 4 && all_digits(o));
    }
    let local = format_description!(
        "[year]-[month]-[day]T[hour]:[minute][optional [:[second][optional [.[subsecond]]]]]"
    );
    time::OffsetDateTime::parse(text, &Rfc3339).is_ok()
        || time::PrimitiveDateTime::parse(text, local).is_ok()
}

fn abbreviated(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        format!("{}...", text.chars().take(57).collect::<String>())
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sap::edmx::ServiceKind;
    use serde_json::json;

    fn contact_schema() -> Schema {
        Schema::load(ServiceKind::Contact)
    }

    fn check(body: Value, mode: WriteMode, key: &[(&str, &str)]) -> Result<(), ODataError> {
        let schema = contact_schema();
        let ty = schema.entity_type("ContactOriginData").unwrap();
        let key: Vec<(String, String)> = key
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        validate_entity(&schema, ty, &body, mode, &key)
    }

    const KEY: &[(&str, &str)] = &[("ContactOrigin", "FITBIT"), ("ContactID", "A1")];

    #[test]
    fn date_formats() {
        for ok in [
            "/Date(1763596800000)/",
            "/Date(-1000)/",
            "/Date(1763596800000+0000)/",
            "/Date(1763596800000-0060)/",
            "2026-11-20T00:00:00",
            "2026-11-20T00:00",
            "2026-11-20T00:00:00.1234567",
            "2026-11-20T00:00:00Z",
            "2026-11-20T00:00:00.000+01:00",
        ] {
            assert!(is_datetime(ok), "{ok}");
        }
        for bad in [
            "2026-11-20",
            "/Date()/",
            "/Date(12a)/",
            "/Date(1+00)/",
            "Date(1)",
            "20.11.2026",
            "2026-13-01T00:00:00",
            "1763596800000",
        ] {
            assert!(!is_datetime(bad), "{bad}");
        }
    }

    #[test]
    fn accepts_a_valid_upsert() {
        let body = json!({
            "ContactOrigin": "FITBIT", "ContactID": "A1",
            "OriginDataLastChgUTCDateTime": "/Date(1763596800000+0000)/",
            "BirthDate": "1990-01-01T00:00:00", "IsConsumer": true, "Latitude": "48.1",
            "EmailAddress": "a@example.com", "__metadata": {"type": "API_MKT_CONTACT_SRV.ContactOriginData"},
        });
        check(body, WriteMode::Replace, KEY).unwrap();
        // Keys may come from the URI alone; a merge needs no mandatory properties.
        check(json!({"FirstName": "Ann"}), WriteMode::Merge, KEY).unwrap();
    }

    #[test]
    fn rejects_each_kind_of_error() {
        let base = || json!({"OriginDataLastChgUTCDateTime": "/Date(0)/"});
        let with = |k: &str, v: Value| {
            let mut b = base();
            b[k] = v;
            b
        };
        let cases = [
            (with("Foo", json!(1)), "Property 'Foo' is invalid"),
            (with("ContactOrigin", json!("X".repeat(21))), "too long"),
            (with("ContactID", json!("OTHER")), "differs from the key"),
            (with("FirstName", json!(42)), "expected a JSON string"),
            (with("IsConsumer", json!("true")), "true or false"),
            (with("Latitude", json!("1,5")), "digits only"),
            (with("ContactUUID", json!("not-a-guid")), "GUID"),
            (with("BirthDate", json!("1990-01-01")), "ISO 8601"),
            (
                with("OriginDataLastChgUTCDateTime", Value::Null),
                "must not be null",
            ),
            (json!({"FirstName": "Ann"}), "is mandatory"),
        ];
        for (body, expected) in cases {
            let err = check(body.clone(), WriteMode::Replace, KEY).unwrap_err();
            assert!(err.message.contains(expected), "{body}: {}", err.message);
            assert_eq!(err.status, 400);
        }
        let err = check(base(), WriteMode::Create, &[]).unwrap_err();
        assert!(
            err.message.contains("Key property 'ContactOrigin'"),
            "{}",
            err.message
        );
    }

    #[test]
    fn integer_ranges_and_deep_insert() {
        let schema = Schema::load(ServiceKind::Import);
        let header = schema.entity_type("ImportHeader").unwrap();
        let ok = json!({
            "Id": "", "Timestamp": "/Date(1763596800000)/",
            "Contacts": [{"Id": "A1", "IdOrigin": "FITBIT", "Timestamp": "/Date(1763596800000)/"}],
            "Interactions": {"results": [{"ContactId": "A1", "ContactIdOrigin": "FITBIT", "Quantifier": 3}]},
        });
        validate_entity(&schema, header, &ok, WriteMode::Create, &[]).unwrap();

        let mut too_big = ok.clone();
        too_big["Interactions"]["results"][0]["Quantifier"] = json!(40000);
        let err = validate_entity(&schema, header, &too_big, WriteMode::Create, &[]).unwrap_err();
        assert!(err.message.contains("Quantifier"), "{}", err.message);

        let mut no_timestamp = ok.clone();
        no_timestamp["Contacts"][0]
            .as_object_mut()
            .unwrap()
            .remove("Timestamp");
        let err =
            validate_entity(&schema, header, &no_timestamp, WriteMode::Create, &[]).unwrap_err();
        assert!(err.message.contains("'Timestamp'"), "{}", err.message);

        let mut not_array = ok;
        not_array["Contacts"] = json!("A1");
        assert!(validate_entity(&schema, header, &not_array, WriteMode::Create, &[]).is_err());
    }

    #[test]
    fn decimals_respect_precision() {
        let schema = Schema::load(ServiceKind::Import);
        let ty = schema.entity_type("Interaction").unwrap();
        let steps = ty.property("YY1_FitbitNumberofStep_MIA").unwrap();
        check_property(steps, &json!("12345")).unwrap();
        check_property(steps, &json!(12345)).unwrap();
        assert!(check_property(steps, &json!("12345678901")).is_err());
        assert!(check_property(steps, &json!("1e5")).is_err());
        assert!(check_property(steps, &json!(true)).is_err());
    }
}
