//! Checking JSON against the document: a request's query parameters and body as Google's
//! front end parses them, and an answer against its response schema.
//!
//! Invariants: requests are read as leniently as proto3 JSON allows (numbers for int64,
//! strings for numbers, snake_case names, `null` for anything) and refused with the first
//! violation in Google's words; answers are read strictly (int64 as strings, Z-normalized
//! timestamps) and every violation is reported.

use base64::Engine as _;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{camel_case, snake_case, Discovery, MethodSpec, RequestViolation};

/// How strictly JSON values are read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// What Google's proto3 JSON parser accepts in a request (numbers for int64, strings
    /// for numbers, snake_case names, `null` for anything).
    Request,
    /// What Google emits (int64 always as strings, Z-normalized timestamps).
    Response,
}

enum Violation {
    UnknownField {
        at: String,
        name: String,
    },
    BadValue {
        at: String,
        kind: String,
        value: String,
    },
}

fn join_path(path: &[String]) -> String {
    let mut out = String::new();
    for part in path {
        if part.starts_with('[') {
            out.push_str(part);
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    out
}

fn short_json(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 60 {
        format!(
            "{}…",
            &text[..text.char_indices().nth(57).map_or(text.len(), |(i, _)| i)]
        )
    } else {
        text
    }
}

fn is_rfc3339(text: &str) -> bool {
    OffsetDateTime::parse(text, &Rfc3339).is_ok()
}

/// `"-25200s"`, `"3.5s"`: seconds with up to nine fractional digits.
pub(crate) fn is_duration(text: &str) -> bool {
    let Some(number) = text.strip_suffix('s') else {
        return false;
    };
    let number = number.strip_prefix('-').unwrap_or(number);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.len() <= 9
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && !(number.contains('.') && fraction.is_empty())
}

fn is_integer_text(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

impl Discovery {
    /// Google's check of query parameters: the method's query parameters and the system
    /// parameters (`alt`, `fields`, `key`, `access_token`, `prettyPrint`, `$.xgafv`, ...)
    /// are allowed, with values of their declared type.
    pub fn validate_query(
        &self,
        method: &MethodSpec,
        query: &[(String, String)],
    ) -> Result<(), RequestViolation> {
        for (name, value) in query {
            let spec = method
                .params
                .get(name)
                .filter(|p| p["location"] == "query")
                .or_else(|| self.doc["parameters"].get(name.as_str()));
            let Some(spec) = spec else {
                return Err(RequestViolation {
                    message: format!(
                        "Invalid JSON payload received. Unknown name \"{name}\": Cannot bind query parameter. \
                         Field '{name}' could not be found in request message."
                    ),
                    field: None,
                });
            };
            let field = snake_case(name);
            let bad = |kind: &str| RequestViolation {
                message: format!("Invalid value at '{field}' ({kind}), \"{value}\""),
                field: Some(field.clone()),
            };
            let kind_error = match (spec["type"].as_str(), spec["format"].as_str()) {
                (Some("integer"), _) => value.parse::<i32>().is_err().then_some("TYPE_INT32"),
                (Some("boolean"), _) => {
                    (!matches!(value.as_str(), "true" | "false" | "1" | "0")).then_some("TYPE_BOOL")
                }
                (Some("string"), Some("int64")) => {
                    (!is_integer_text(value)).then_some("TYPE_INT64")
                }
                _ => None,
            };
            if let Some(kind) = kind_error {
                return Err(bad(kind));
            }
            if let Some(allowed) = spec["enum"].as_array() {
                if !allowed.iter().any(|a| a == value.as_str()) {
                    return Err(bad("TYPE_ENUM"));
                }
            }
        }
        Ok(())
    }

    /// Google's proto3 JSON parsing of a request body against the method's request schema.
    pub fn validate_request_body(
        &self,
        method: &MethodSpec,
        body: &Value,
    ) -> Result<(), RequestViolation> {
        let Some(schema) = &method.request else {
            return Ok(());
        };
        let mut violations = Vec::new();
        let spec = serde_json::json!({ "$ref": schema });
        self.check(&spec, body, &mut Vec::new(), Mode::Request, &mut violations);
        match violations.into_iter().next() {
            None => Ok(()),
            Some(Violation::UnknownField { at, name }) => {
                let location = if at.is_empty() {
                    String::new()
                } else {
                    format!(" at '{at}'")
                };
                Err(RequestViolation {
                    message: format!(
                        "Invalid JSON payload received. Unknown name \"{name}\"{location}: Cannot find field."
                    ),
                    field: Some(at),
                })
            }
            Some(Violation::BadValue { at, kind, value }) => Err(RequestViolation {
                message: format!("Invalid value at '{at}' ({kind}), {value}"),
                field: Some(at),
            }),
        }
    }

    /// See [`validate_response`](super::validate_response).
    pub fn validate_response(&self, schema_name: &str, value: &Value) -> Result<(), String> {
        if self.schema(schema_name).is_none() {
            return Err(format!("no schema {schema_name} in the discovery document"));
        }
        let mut violations = Vec::new();
        let spec = serde_json::json!({ "$ref": schema_name });
        self.check(
            &spec,
            value,
            &mut Vec::new(),
            Mode::Response,
            &mut violations,
        );
        if violations.is_empty() {
            return Ok(());
        }
        let lines: Vec<String> = violations
            .into_iter()
            .map(|v| match v {
                Violation::UnknownField { at, name } => {
                    let at = if at.is_empty() {
                        String::new()
                    } else {
                        format!("{at}.")
                    };
                    format!("{schema_name}.{at}{name}: no such field in the schema")
                }
                Violation::BadValue { at, kind, value } => {
                    format!("{schema_name}.{at}: expected {kind}, got {value}")
                }
            })
            .collect();
        Err(lines.join("\n"))
    }

    /// Checks `value` against a property spec (or `{"$ref": ...}`), recording violations.
    fn check(
        &self,
        spec: &Value,
        value: &Value,
        path: &mut Vec<String>,
        mode: Mode,
        out: &mut Vec<Violation>,
    ) {
        if out.len() >= 20 {
            return;
        }
        // proto3 JSON: null means "default" for any field in a request.
        if value.is_null() && mode == Mode::Request {
            return;
        }
        let mut bad = |kind: &str| {
            out.push(Violation::BadValue {
                at: join_path(path),
                kind: kind.to_owned(),
                value: short_json(value),
            });
        };
        if let Some(reference) = spec["$ref"].as_str() {
            let Some(schema) = self.schema(reference) else {
                bad(&format!("object {reference} (missing from the document)"));
                return;
            };
            self.check_object(reference, schema, value, path, mode, out);
            return;
        }
        let format = spec["format"].as_str();
        match spec["type"].as_str() {
            Some("any") | None => {}
            Some("string") => {
                let kind = match format {
                    Some("int64") => "TYPE_INT64 (a string)",
                    Some("uint64") => "TYPE_UINT64 (a string)",
                    Some("google-datetime") => "an RFC 3339 timestamp",
                    Some("google-duration") => "a duration like \"-25200s\"",
                    Some("byte") => "base64 bytes",
                    _ if spec.get("enum").is_some() => "TYPE_ENUM",
                    _ => "TYPE_STRING",
                };
                match (value, format) {
                    (Value::String(text), Some("int64" | "uint64")) => {
                        if !is_integer_text(text) {
                            bad(kind);
                        }
                    }
                    // proto3 JSON parsers accept numbers for 64-bit integers; Google never
                    // sends them.
                    (Value::Number(n), Some("int64" | "uint64"))
                        if mode == Mode::Request && (n.is_i64() || n.is_u64()) => {}
                    (Value::String(text), Some("google-datetime")) => {
                        let z_normalized = text.ends_with('Z');
                        if !is_rfc3339(text) || (mode == Mode::Response && !z_normalized) {
                            bad(kind);
                        }
                    }
                    (Value::String(text), Some("google-duration")) => {
                        if !is_duration(text) {
                            bad(kind);
                        }
                    }
                    (Value::String(text), Some("byte")) => {
                        let standard = base64::engine::general_purpose::STANDARD.decode(text);
                        let url_safe = base64::engine::general_purpose::URL_SAFE.decode(text);
                        if standard.is_err() && url_safe.is_err() {
                            bad(kind);
                        }
                    }
                    (Value::String(text), _) => {
                        if let Some(allowed) = spec["enum"].as_array() {
                            if !allowed.iter().any(|a| a == text.as_str()) {
                                bad(kind);
                            }
                        }
                    }
                    // Enum values by number are fine in requests.
                    (Value::Number(n), _)
                        if mode == Mode::Request && spec.get("enum").is_some() && n.is_u64() => {}
                    _ => bad(kind),
                }
            }
            Some("integer") => {
                let in_range = |n: i64| match format {
                    Some("uint32") => (0..=i64::from(u32::MAX)).contains(&n),
                    _ => (i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&n),
                };
                let ok = match value {
                    Value::Number(n) => n.as_i64().is_some_and(in_range),
                    Value::String(text) if mode == Mode::Request => {
                        text.parse::<i64>().is_ok_and(in_range)
                    }
                    _ => false,
                };
                if !ok {
                    bad(if format == Some("uint32") {
                        "TYPE_UINT32"
                    } else {
                        "TYPE_INT32"
                    });
                }
            }
            Some("number") => {
                let ok = match value {
                    Value::Number(_) => true,
                    Value::String(text) => {
                        matches!(text.as_str(), "NaN" | "Infinity" | "-Infinity")
                            || (mode == Mode::Request && text.parse::<f64>().is_ok())
                    }
                    _ => false,
                };
                if !ok {
                    bad(if format == Some("float") {
                        "TYPE_FLOAT"
                    } else {
                        "TYPE_DOUBLE"
                    });
                }
            }
            Some("boolean") => {
                if !value.is_boolean() {
                    bad("TYPE_BOOL");
                }
            }
            Some("array") => {
                let Some(items) = value.as_array() else {
                    bad("a JSON array");
                    return;
                };
                for (i, item) in items.iter().enumerate() {
                    path.push(format!("[{i}]"));
                    self.check(&spec["items"], item, path, mode, out);
                    path.pop();
                }
            }
            Some("object") => {
                let Some(object) = value.as_object() else {
                    bad("a JSON object");
                    return;
                };
                if let Some(additional) = spec.get("additionalProperties") {
                    for (key, item) in object {
                        path.push(key.clone());
                        self.check(additional, item, path, mode, out);
                        path.pop();
                    }
                } else if spec.get("properties").is_some() {
                    self.check_object("(inline)", spec, value, path, mode, out);
                }
            }
            Some(other) => bad(&format!("(unknown discovery type {other})")),
        }
    }

    fn check_object(
        &self,
        name: &str,
        schema: &Value,
        value: &Value,
        path: &mut Vec<String>,
        mode: Mode,
        out: &mut Vec<Violation>,
    ) {
        let Some(object) = value.as_object() else {
            out.push(Violation::BadValue {
                at: join_path(path),
                kind: format!("a JSON object ({name})"),
                value: short_json(value),
            });
            return;
        };
        let properties = &schema["properties"];
        for (key, item) in object {
            let spec = properties.get(key.as_str()).or_else(|| {
                if mode == Mode::Request {
                    properties.get(camel_case(key).as_str())
                } else {
                    None
                }
            });
            let Some(spec) = spec else {
                // `@type` names the message inside `Any` values (operation responses).
                if key == "@type" && mode == Mode::Response {
                    continue;
                }
                out.push(Violation::UnknownField {
                    at: join_path(path),
                    name: key.clone(),
                });
                continue;
            };
            path.push(match mode {
                Mode::Request => snake_case(key),
                Mode::Response => key.clone(),
            });
            self.check(spec, item, path, mode, out);
            path.pop();
        }
    }
}
