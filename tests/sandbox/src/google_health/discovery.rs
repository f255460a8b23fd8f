//! The Google Health API v4 discovery document (`tests/contracts/google-health/`), compiled
//! in, as the contract both sides are checked against:
//!
//! - the sandbox matches every `/v4/...` request to a discovery method (HTTP method and
//!   `flatPath` template) and validates its query parameters and JSON body the way Google's
//!   front end does, answering `400 INVALID_ARGUMENT` with Google's messages
//!   (`Invalid JSON payload received. Unknown name "x": Cannot find field.`);
//! - [`validate_response`] checks a JSON answer against a response schema (field names,
//!   JSON types, int64 as strings, RFC 3339 timestamps, `"…s"` durations, enum values). The
//!   sandbox's own tests run it over everything the sandbox answers, and fitbridge's client
//!   contract test can run it over the sandbox's (or recorded real) answers too.
//!
//! What the document cannot say (which fields are required in an answer, value ranges) is
//! not checked; descriptions starting "Required." are not enforced. The checks themselves
//! live in the `validate` submodule; this module holds the document, its methods and the
//! matching of requests to them.

mod validate;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::Value;

/// The vendored discovery document, byte for byte.
pub const DISCOVERY_JSON: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../contracts/google-health/health.v4.discovery.json"
));

/// The parsed document and its methods, built on first use.
pub struct Discovery {
    doc: Value,
    methods: Vec<MethodSpec>,
}

/// One REST method of the document (`health.users.dataTypes.dataPoints.list`, ...).
#[derive(Clone, Debug)]
pub struct MethodSpec {
    pub id: String,
    /// `GET`, `POST`, `PATCH`, `DELETE`.
    pub http_method: String,
    /// The `flatPath` template, e.g. `v4/users/{usersId}/dataTypes/{dataTypesId}/dataPoints`.
    pub flat_path: String,
    /// Request body schema name, if the method takes a body.
    pub request: Option<String>,
    /// Response schema name.
    pub response: Option<String>,
    /// OAuth scopes, any one of which authorizes the method.
    pub scopes: Vec<String>,
    segments: Vec<Segment>,
    /// Parameters by name (the document's parameter objects).
    params: BTreeMap<String, Value>,
}

#[derive(Clone, Debug)]
enum Segment {
    Literal(String),
    /// `{name}` followed by an optional custom verb suffix such as `:exportExerciseTcx`.
    Param {
        name: String,
        suffix: String,
    },
}

/// A request matched to a method, with the `flatPath` parameters (`usersId`, ...) decoded.
#[derive(Clone, Debug)]
pub struct MatchedMethod<'a> {
    pub method: &'a MethodSpec,
    pub path_params: BTreeMap<String, String>,
}

/// Why a request breaks the contract; `message` is what Google would say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestViolation {
    pub message: String,
    /// The offending field (snake_case path), for `google.rpc.BadRequest` details.
    pub field: Option<String>,
}

static DISCOVERY: LazyLock<Discovery> = LazyLock::new(|| {
    let doc: Value = serde_json::from_str(DISCOVERY_JSON).expect("discovery document parses");
    let mut methods = Vec::new();
    collect_methods(&doc["resources"], &mut methods);
    Discovery { doc, methods }
});

/// The compiled-in discovery document.
pub fn discovery() -> &'static Discovery {
    &DISCOVERY
}

/// Checks `value` against the response schema `schema_name` of the discovery document: every
/// field name must exist in the schema, JSON types must match (`int64`/`uint64` as strings,
/// `int32` as numbers, `google-datetime` as Z-normalized RFC 3339, `google-duration` as
/// `"<seconds>s"`, enums as one of their values). All violations are reported, one per line.
pub fn validate_response(schema_name: &str, value: &Value) -> Result<(), String> {
    discovery().validate_response(schema_name, value)
}

fn collect_methods(resources: &Value, into: &mut Vec<MethodSpec>) {
    let Some(resources) = resources.as_object() else {
        return;
    };
    for resource in resources.values() {
        if let Some(methods) = resource["methods"].as_object() {
            for method in methods.values() {
                let flat_path = method["flatPath"].as_str().unwrap_or_default().to_owned();
                into.push(MethodSpec {
                    id: method["id"].as_str().unwrap_or_default().to_owned(),
                    http_method: method["httpMethod"].as_str().unwrap_or_default().to_owned(),
                    segments: parse_template(&flat_path),
                    flat_path,
                    request: method["request"]["$ref"].as_str().map(str::to_owned),
                    response: method["response"]["$ref"].as_str().map(str::to_owned),
                    scopes: method["scopes"]
                        .as_array()
                        .map(|s| {
                            s.iter()
                                .filter_map(|v| v.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                    params: method["parameters"]
                        .as_object()
                        .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                        .unwrap_or_default(),
                });
            }
        }
        collect_methods(&resource["resources"], into);
    }
}

fn parse_template(template: &str) -> Vec<Segment> {
    template
        .split('/')
        .map(|segment| match (segment.find('{'), segment.find('}')) {
            (Some(0), Some(close)) => Segment::Param {
                name: segment[1..close].to_owned(),
                suffix: segment[close + 1..].to_owned(),
            },
            _ => Segment::Literal(segment.to_owned()),
        })
        .collect()
}

/// Percent-decodes one path segment or query component (no `+` handling).
fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `pageSize` → `page_size`, as Google names fields in its messages.
pub(crate) fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `window_size_days` → `windowSizeDays` (proto3 JSON accepts both spellings).
pub(crate) fn camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `dailyRestingHeartRate` → `daily-resting-heart-rate`, the data type ids of the API.
pub(crate) fn kebab_case(name: &str) -> String {
    snake_case(name).replace('_', "-")
}

impl Discovery {
    pub fn document(&self) -> &Value {
        &self.doc
    }

    /// The document's `revision`, e.g. `20261030`.
    pub fn revision(&self) -> &str {
        self.doc["revision"].as_str().unwrap_or_default()
    }

    pub fn schema(&self, name: &str) -> Option<&Value> {
        self.doc["schemas"].get(name)
    }

    pub fn methods(&self) -> &[MethodSpec] {
        &self.methods
    }

    pub fn method(&self, id: &str) -> Option<&MethodSpec> {
        self.methods.iter().find(|m| m.id == id)
    }

    /// Every OAuth scope the document names.
    pub fn scopes(&self) -> Vec<&str> {
        self.doc["auth"]["oauth2"]["scopes"]
            .as_object()
            .map(|s| s.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// The method answering `http_method path` (path as sent, e.g. `/v4/users/me/identity`).
    /// Of several matching templates the one with the most literal segments wins.
    pub fn match_request(&self, http_method: &str, path: &str) -> Option<MatchedMethod<'_>> {
        let path = path.strip_prefix('/').unwrap_or(path);
        let segments: Vec<&str> = path.split('/').collect();
        let mut best: Option<(usize, MatchedMethod<'_>)> = None;
        for method in self
            .methods
            .iter()
            .filter(|m| m.http_method.eq_ignore_ascii_case(http_method))
        {
            if method.segments.len() != segments.len() {
                continue;
            }
            let mut params = BTreeMap::new();
            let mut literals = 0;
            let matched = method
                .segments
                .iter()
                .zip(&segments)
                .all(|(template, actual)| {
                    match template {
                        Segment::Literal(literal) => {
                            literals += 1;
                            literal == actual
                        }
                        Segment::Param { name, suffix } => {
                            let Some(value) = actual.strip_suffix(suffix.as_str()) else {
                                return false;
                            };
                            // Without a verb suffix, a colon would be a different (verb) method.
                            if value.is_empty() || (suffix.is_empty() && value.contains(':')) {
                                return false;
                            }
                            params.insert(name.clone(), percent_decode(value));
                            true
                        }
                    }
                });
            if matched && best.as_ref().is_none_or(|(n, _)| literals > *n) {
                best = Some((
                    literals,
                    MatchedMethod {
                        method,
                        path_params: params,
                    },
                ));
            }
        }
        best.map(|(_, m)| m)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::validate::is_duration;
    use super::*;

    #[test]
    fn matches_methods_by_template_and_verb() {
        let d = discovery();
        assert_eq!(d.revision(), "20261030");
        let m = d
            .match_request(
                "POST",
                "/v4/users/me/dataTypes/steps/dataPoints:dailyRollUp",
            )
            .unwrap();
        assert_eq!(m.method.id, "health.users.dataTypes.dataPoints.dailyRollUp");
        assert_eq!(m.path_params["usersId"], "me");
        assert_eq!(m.path_params["dataTypesId"], "steps");
        let m = d
            .match_request("GET", "/v4/users/me/dataTypes/sleep/dataPoints")
            .unwrap();
        assert_eq!(m.method.id, "health.users.dataTypes.dataPoints.list");
        let m = d
            .match_request("GET", "/v4/users/me/dataTypes/sleep/dataPoints:reconcile")
            .unwrap();
        assert_eq!(m.method.id, "health.users.dataTypes.dataPoints.reconcile");
        let m = d
            .match_request("GET", "/v4/users/me/dataTypes/sleep/dataPoints/abc-1")
            .unwrap();
        assert_eq!(m.method.id, "health.users.dataTypes.dataPoints.get");
        let m = d
            .match_request(
                "GET",
                "/v4/users/me/dataTypes/exercise/dataPoints/ab12:exportExerciseTcx",
            )
            .unwrap();
        assert_eq!(
            m.method.id,
            "health.users.dataTypes.dataPoints.exportExerciseTcx"
        );
        assert_eq!(m.path_params["dataPointsId"], "ab12");
        assert!(d
            .match_request("GET", "/v4/users/me/dataTypes/steps/dataPoints:dailyRollUp")
            .is_none());
        assert!(d.match_request("GET", "/v4/users/me/nothing").is_none());
        let m = d
            .match_request("PATCH", "/v4/projects/123/subscribers/sub-1")
            .unwrap();
        assert_eq!(m.method.id, "health.projects.subscribers.patch");
    }

    #[test]
    fn query_parameters_are_checked_like_google() {
        let d = discovery();
        let list = d.method("health.users.dataTypes.dataPoints.list").unwrap();
        let q = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect()
        };
        assert!(d
            .validate_query(
                list,
                &q(&[
                    ("pageSize", "25"),
                    ("filter", "x"),
                    ("alt", "json"),
                    ("$.xgafv", "2")
                ])
            )
            .is_ok());
        let error = d
            .validate_query(list, &q(&[("page_size", "2")]))
            .unwrap_err();
        assert_eq!(
            error.message,
            "Invalid JSON payload received. Unknown name \"page_size\": Cannot bind query parameter. \
             Field 'page_size' could not be found in request message."
        );
        let error = d
            .validate_query(list, &q(&[("pageSize", "many")]))
            .unwrap_err();
        assert_eq!(
            error.message,
            "Invalid value at 'page_size' (TYPE_INT32), \"many\""
        );
    }

    #[test]
    fn request_bodies_are_parsed_like_proto3_json() {
        let d = discovery();
        let rollup = d
            .method("health.users.dataTypes.dataPoints.dailyRollUp")
            .unwrap();
        let good = json!({"range": {"start": {"date": {"year": 2026, "month": 10, "day": 1}},
                                    "end": {"date": {"year": "2026", "month": 10, "day": 8}}},
                          "window_size_days": 1, "pageSize": null});
        assert!(d.validate_request_body(rollup, &good).is_ok());
        let unknown = json!({"range": {"start": {"date": {"year": 2026}, "hour": 3}}});
        assert_eq!(
            d.validate_request_body(rollup, &unknown).unwrap_err().message,
            "Invalid JSON payload received. Unknown name \"hour\" at 'range.start': Cannot find field."
        );
        let top = json!({"rangeX": {}});
        assert_eq!(
            d.validate_request_body(rollup, &top).unwrap_err().message,
            "Invalid JSON payload received. Unknown name \"rangeX\": Cannot find field."
        );
        let bad = json!({"windowSizeDays": "seven"});
        assert_eq!(
            d.validate_request_body(rollup, &bad).unwrap_err().message,
            "Invalid value at 'window_size_days' (TYPE_INT32), \"seven\""
        );
    }

    #[test]
    fn responses_are_checked_strictly() {
        let ok = json!({"rollupDataPoints": [{"steps": {"countSum": "123"},
            "civilStartTime": {"date": {"year": 2026, "month": 1, "day": 2}, "time": {}}}]});
        assert_eq!(
            validate_response("DailyRollUpDataPointsResponse", &ok),
            Ok(())
        );
        let number = json!({"rollupDataPoints": [{"steps": {"countSum": 123}}]});
        let error = validate_response("DailyRollUpDataPointsResponse", &number).unwrap_err();
        assert!(
            error.contains("rollupDataPoints[0].steps.countSum"),
            "{error}"
        );
        let unknown = json!({"rollupDataPoints": [{"stepz": {}}]});
        assert!(validate_response("DailyRollUpDataPointsResponse", &unknown)
            .unwrap_err()
            .contains("stepz"));
        let offset = json!({"weight": {"sampleTime": {"physicalTime": "2026-01-01T00:00:00+01:00",
            "utcOffset": "3600s"}, "weightGrams": 1.5}});
        assert!(validate_response("DataPoint", &offset).is_err());
        let duration = json!({"sleep": {"interval": {"startUtcOffset": "-25200"}}});
        assert!(validate_response("DataPoint", &duration).is_err());
        let operation = json!({"name": "operations/1", "done": true,
            "response": {"@type": "type.googleapis.com/x", "name": "n"}});
        assert_eq!(validate_response("Operation", &operation), Ok(()));
        assert!(validate_response("NoSuchSchema", &json!({})).is_err());
    }

    #[test]
    fn names_convert_between_cases() {
        assert_eq!(
            kebab_case("dailyRestingHeartRate"),
            "daily-resting-heart-rate"
        );
        assert_eq!(kebab_case("runVo2Max"), "run-vo2-max");
        assert_eq!(snake_case("pageSize"), "page_size");
        assert_eq!(camel_case("window_size_days"), "windowSizeDays");
        assert!(
            is_duration("-25200s")
                && is_duration("3.5s")
                && !is_duration("5")
                && !is_duration("1.s")
        );
        assert_eq!(percent_decode("a%3Ab"), "a:b");
    }
}
