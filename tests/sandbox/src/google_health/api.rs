//! The REST API under `/v4/...`: discovery matching and validation, bearer authentication,
//! quotas, fault injection, scopes, and the simulated methods (identity, profile, settings,
//! data points, subscribers and subscriptions).
//!
//! One handler serves every path so that every answer, 404s included, goes through the same
//! pipeline: match → authenticate (401) → quota (429) → contract validation (400) →
//! injected failure → method scopes (403) → the method.

use std::collections::BTreeSet;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime};

use super::data::{self, DayActivity, ExerciseSession, SleepSession, WeightSample};
use super::discovery::{discovery, kebab_case, snake_case, MatchedMethod};
use super::error::ApiError;
use super::filter::{FieldKind, Filter, Typed};
use super::oauth::{bearer_token, AuthFailure, Principal};
use super::subscribers::{
    self, check_endpoint_uri, is_valid_resource_id, operation_done, operation_failed, Subscriber,
    SubscriberConfig, Subscription,
};
use super::{DataKind, GoogleHealthSandbox, GoogleUser, State};
use crate::{civil_time, counters, faults};

const SCOPE_PREFIX: &str = "https://www.googleapis.com/auth/googlehealth.";

/// Data types whose roll-ups are limited to 14 days (and 14 windows per page).
const FOURTEEN_DAY_TYPES: [&str; 4] = [
    "calories-in-heart-rate-zone",
    "heart-rate",
    "active-minutes",
    "total-calories",
];

/// The property names of a discovery schema, except `skip`.
fn schema_properties(schema: &str, skip: &[&str]) -> Vec<String> {
    discovery()
        .schema(schema)
        .and_then(|s| s["properties"].as_object())
        .map_or_else(Vec::new, |props| {
            props
                .keys()
                .filter(|k| !skip.contains(&k.as_str()))
                .cloned()
                .collect()
        })
}

/// Data types `dataPoints.list` knows: the `DataPoint` union fields, kebab-cased.
static LIST_TYPES: LazyLock<BTreeSet<String>> = LazyLock::new(|| {
    schema_properties("DataPoint", &["name", "dataSource"])
        .iter()
        .map(|k| kebab_case(k))
        .collect()
});

/// Data types `dailyRollUp` knows: the `DailyRollupDataPoint` value fields.
static ROLLUP_TYPES: LazyLock<BTreeSet<String>> = LazyLock::new(|| {
    schema_properties("DailyRollupDataPoint", &["civilStartTime", "civilEndTime"])
        .iter()
        .map(|k| match k.as_str() {
            "heartRateVariabilityPersonalRange" => "daily-heart-rate-variability".to_owned(),
            "restingHeartRatePersonalRange" => "daily-resting-heart-rate".to_owned(),
            other => kebab_case(other),
        })
        .collect()
});

/// Every data type id the contract knows (webhook configs may name any of them).
pub(super) fn is_known_data_type(data_type: &str) -> bool {
    LIST_TYPES.contains(data_type) || ROLLUP_TYPES.contains(data_type)
}

/// The scope area (`googlehealth.<area>.readonly`) that covers a data type.
pub(super) fn scope_area(data_type: &str) -> &'static str {
    match data_type {
        "sleep" => "sleep",
        "weight"
        | "height"
        | "body-fat"
        | "heart-rate"
        | "heart-rate-variability"
        | "blood-glucose"
        | "core-body-temperature"
        | "oxygen-saturation"
        | "daily-heart-rate-variability"
        | "daily-oxygen-saturation"
        | "daily-respiratory-rate"
        | "daily-resting-heart-rate"
        | "daily-sleep-temperature-derivations"
        | "respiratory-rate-sleep-summary"
        | "vo2-max"
        | "daily-vo2-max"
        | "daily-heart-rate-zones" => "health_metrics_and_measurements",
        "hydration-log" | "nutrition-log" | "food" | "food-measurement-unit" => "nutrition",
        "electrocardiogram" => "ecg",
        "irregular-rhythm-notification" => "irn",
        "menstrual-period" | "ovulation-test" => "reproductive_health",
        "symptoms" => "logged_symptoms",
        "moods" => "mindfulness",
        _ => "activity_and_fitness",
    }
}

/// How a token may read a data type.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ReadAccess {
    All,
    /// Only write scopes: the caller may read only what it wrote itself (nothing, here).
    OwnWritesOnly,
}

fn read_access(scopes: &BTreeSet<String>, data_type: &str) -> Option<ReadAccess> {
    let area = scope_area(data_type);
    if scopes.contains(&format!("{SCOPE_PREFIX}{area}.readonly")) {
        Some(ReadAccess::All)
    } else if scopes.contains(&format!("{SCOPE_PREFIX}{area}.writeonly")) {
        Some(ReadAccess::OwnWritesOnly)
    } else {
        None
    }
}

/// Whether the consented scopes let notifications of `data_type` through.
pub(super) fn consent_covers(scopes: &BTreeSet<String>, data_type: &str) -> bool {
    read_access(scopes, data_type).is_some()
}

/// The record shape of a data type, from its `DataPoint` schema.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Interval,
    Session,
    Sample,
    Daily,
    Other,
}

fn shape(data_type: &str) -> Shape {
    let field = {
        let mut out = String::new();
        let mut upper = false;
        for c in data_type.chars() {
            if c == '-' {
                upper = true;
            } else if upper {
                out.push(c.to_ascii_uppercase());
                upper = false;
            } else {
                out.push(c);
            }
        }
        out
    };
    let d = discovery();
    let Some(schema) = d
        .schema("DataPoint")
        .and_then(|s| s["properties"][field.as_str()]["$ref"].as_str())
        .and_then(|name| d.schema(name))
    else {
        return Shape::Other;
    };
    let props = &schema["properties"];
    match props["interval"]["$ref"].as_str() {
        Some("ObservationTimeInterval") => Shape::Interval,
        Some("SessionTimeInterval") => Shape::Session,
        _ if props.get("sampleTime").is_some() => Shape::Sample,
        _ if props.get("date").is_some() => Shape::Daily,
        _ => Shape::Other,
    }
}

/// The filter fields a data type supports (list method description) and whether `OR` is.
fn filter_fields(data_type: &str) -> (Vec<(String, FieldKind)>, bool) {
    let p = data_type.replace('-', "_");
    match (data_type, shape(data_type)) {
        ("sleep", _) => (
            vec![
                ("sleep.interval.end_time".to_owned(), FieldKind::Physical),
                ("sleep.interval.civil_end_time".to_owned(), FieldKind::Civil),
            ],
            true,
        ),
        ("electrocardiogram", _) => (
            vec![(
                "electrocardiogram.interval.start_time".to_owned(),
                FieldKind::Physical,
            )],
            false,
        ),
        (_, Shape::Interval) => (
            vec![
                (format!("{p}.interval.start_time"), FieldKind::Physical),
                (format!("{p}.interval.civil_start_time"), FieldKind::Civil),
            ],
            false,
        ),
        (_, Shape::Session) => (
            vec![(format!("{p}.interval.civil_start_time"), FieldKind::Civil)],
            false,
        ),
        (_, Shape::Sample) => (
            vec![
                (
                    format!("{p}.sample_time.physical_time"),
                    FieldKind::Physical,
                ),
                (format!("{p}.sample_time.civil_time"), FieldKind::Civil),
            ],
            false,
        ),
        (_, Shape::Daily) => (vec![(format!("{p}.date"), FieldKind::Date)], false),
        (_, Shape::Other) => (Vec::new(), false),
    }
}

/// What an API request turned into.
pub(super) enum Outcome {
    Done(Response),
    /// A subscriber change that needs endpoint verification (outbound HTTP, no lock held).
    Verify(PendingChange),
}

pub(super) struct PendingChange {
    project: String,
    id: String,
    endpoint_uri: String,
    secret: String,
    configs: Option<Vec<SubscriberConfig>>,
    create: bool,
    method_id: &'static str,
}

impl From<ApiError> for Outcome {
    fn from(error: ApiError) -> Self {
        Outcome::Done(error.into_response())
    }
}

fn ok(body: Value) -> Outcome {
    Outcome::Done(Json(body).into_response())
}

/// Google's front end answers unknown URLs with an HTML page.
fn not_found_page(path: &str) -> Response {
    let escaped = path
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let page = format!(
        "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 404 (Not Found)!!1</title>\n  \
         <p><b>404.</b> <ins>That\u{2019}s an error.</ins>\n  <p>The requested URL <code>{escaped}</code> was not \
         found on this server.  <ins>That\u{2019}s all we know.</ins>\n"
    );
    (StatusCode::NOT_FOUND, Html(page)).into_response()
}

/// The `google.rpc.Code` name for an injected status.
fn injected_error(status: StatusCode) -> ApiError {
    ApiError::new(
        status,
        format!(
            "{} (injected by the fitbridge sandbox)",
            status.canonical_reason().unwrap_or("Error")
        ),
    )
}

pub(super) async fn handle(
    AxumState(sandbox): AxumState<Arc<GoogleHealthSandbox>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    faults::delay_response(sandbox.as_ref()).await;
    match sandbox.serve_api(&method, &uri, &headers, &body) {
        Outcome::Done(response) => response,
        Outcome::Verify(change) => sandbox.finish_subscriber_change(change).await,
    }
}

/// A civil date of a `Date` JSON message.
fn civil_date(value: &Value, field: &str) -> Result<Date, ApiError> {
    let part = |name: &str| {
        value["date"][name]
            .as_i64()
            .or_else(|| value["date"][name].as_str().and_then(|s| s.parse().ok()))
    };
    let (Some(year), Some(month), Some(day)) = (part("year"), part("month"), part("day")) else {
        return Err(ApiError::bad_request(
            format!("{field}.date must be a full date."),
            Some(field),
        ));
    };
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| Month::try_from(m).ok());
    let date = month.and_then(|m| {
        Date::from_calendar_date(i32::try_from(year).ok()?, m, u8::try_from(day).ok()?).ok()
    });
    let Some(date) = date else {
        return Err(ApiError::bad_request(
            format!("{field}.date is not a valid date."),
            Some(field),
        ));
    };
    let time = &value["time"];
    let nonzero = ["hours", "minutes", "seconds", "nanos"]
        .iter()
        .any(|n| time[*n].as_i64().unwrap_or(0) != 0);
    if nonzero {
        return Err(ApiError::bad_request(
            "The start and end times must be aligned with the aggregation window.",
            Some(field),
        ));
    }
    Ok(date)
}

fn fingerprint(parts: &[&str]) -> String {
    let digest = Sha256::digest(parts.join("\u{1f}").as_bytes());
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

fn page_token(offset: usize, fingerprint: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{offset}|{fingerprint}"))
}

fn page_offset(token: Option<&str>, fingerprint: &str) -> Result<usize, ApiError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(0);
    };
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|text| {
            let (offset, fp) = text.split_once('|')?;
            (fp == fingerprint).then(|| offset.parse().ok())?
        })
        .ok_or_else(|| {
            ApiError::bad_request(
                "Invalid page token: it does not belong to this request.",
                Some("page_token"),
            )
        })
}

/// The query parameters of a request (first occurrence wins).
pub(super) struct QueryParams<'a>(&'a [(String, String)]);

impl<'a> QueryParams<'a> {
    fn get(&self, name: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The data point reads the sandbox simulates.
#[derive(Clone, Copy)]
enum DataRead {
    List,
    DailyRollUp,
}

impl DataRead {
    fn method_id(self) -> &'static str {
        match self {
            DataRead::List => "health.users.dataTypes.dataPoints.list",
            DataRead::DailyRollUp => "health.users.dataTypes.dataPoints.dailyRollUp",
        }
    }
}

/// A data point read's `pageSize`: 0 or absent means `default`, more than `max` means `max`,
/// negative is refused.
fn data_page_size(requested: Option<i64>, default: i64, max: i64) -> Result<usize, ApiError> {
    match requested {
        Some(n) if n < 0 => Err(ApiError::bad_request(
            "page_size must not be negative.",
            Some("page_size"),
        )),
        Some(0) | None => Ok(default as usize),
        Some(n) => Ok(n.min(max) as usize),
    }
}

/// One page of a list answer: the items under `field`, left out when there are none (as
/// proto3 JSON leaves out empty lists), and a `nextPageToken` while items follow.
fn page_response(
    field: &str,
    page: Vec<Value>,
    next_offset: usize,
    total: usize,
    print: &str,
) -> serde_json::Map<String, Value> {
    let mut response = serde_json::Map::new();
    if !page.is_empty() {
        response.insert(field.to_owned(), json!(page));
    }
    if next_offset < total {
        response.insert(
            "nextPageToken".to_owned(),
            json!(page_token(next_offset, print)),
        );
    }
    response
}

/// A page of a subscriber or subscription list: `pageSize` 50 unless positive, at most 1000
/// (unlike data reads, a negative size is not refused).
fn resource_page(
    field: &str,
    all: &[Value],
    query: &QueryParams<'_>,
    print: &str,
) -> Result<serde_json::Map<String, Value>, ApiError> {
    let page_size = match query.get("pageSize").and_then(|s| s.parse::<i64>().ok()) {
        Some(n) if n > 0 => n.min(1000) as usize,
        _ => 50,
    };
    let offset = page_offset(query.get("pageToken"), print)?;
    let page: Vec<Value> = all.iter().skip(offset).take(page_size).cloned().collect();
    Ok(page_response(
        field,
        page,
        offset + page_size,
        all.len(),
        print,
    ))
}

/// The id a create request asks for (`field` names it in errors), or a new UUID if none.
fn requested_id(requested: Option<&str>, field: &str) -> Result<String, ApiError> {
    match requested.filter(|s| !s.is_empty()) {
        Some(id) if !is_valid_resource_id(id) => Err(ApiError::bad_request(
            format!("{field} must be 4-36 characters matching [a-z]([a-z0-9-]{{2,34}}[a-z0-9])."),
            Some(field),
        )),
        Some(id) => Ok(id.to_owned()),
        None => Ok(subscribers::uuid()),
    }
}

/// `endpointAuthorization.secret` of a subscriber create or patch, which must not be empty.
fn endpoint_secret(body: &Value) -> Result<String, ApiError> {
    let secret = body["endpointAuthorization"]["secret"]
        .as_str()
        .unwrap_or_default();
    if secret.is_empty() {
        return Err(ApiError::bad_request(
            "endpoint_authorization.secret is required.",
            Some("endpoint_authorization.secret"),
        ));
    }
    Ok(secret.to_owned())
}

/// A list item of the simulated data types, with what filters compare.
enum Item {
    Sleep(SleepSession),
    Weight(WeightSample),
    Exercise(ExerciseSession),
}

impl Item {
    fn start(&self) -> OffsetDateTime {
        match self {
            Item::Sleep(s) => s.start,
            Item::Weight(w) => w.at,
            Item::Exercise(e) => e.start,
        }
    }

    fn id(&self) -> &str {
        match self {
            Item::Sleep(s) => &s.id,
            Item::Weight(w) => &w.id,
            Item::Exercise(e) => &e.id,
        }
    }

    fn field(&self, name: &str) -> Option<Typed> {
        let civil = |at: OffsetDateTime| Typed::Civil(PrimitiveDateTime::new(at.date(), at.time()));
        let suffix = name.rsplit_once('.').map_or(name, |(_, s)| s);
        match (self, suffix) {
            (Item::Sleep(s), "end_time") => Some(Typed::Instant(s.end)),
            (Item::Sleep(s), "civil_end_time") => Some(civil(s.end)),
            (Item::Exercise(e), "civil_start_time") => Some(civil(e.start)),
            (Item::Weight(w), "physical_time") => Some(Typed::Instant(w.at)),
            (Item::Weight(w), "civil_time") => Some(civil(w.at)),
            _ => None,
        }
    }

    fn json(&self, health_user_id: &str) -> Value {
        match self {
            Item::Sleep(s) => data::sleep_point(health_user_id, s),
            Item::Weight(w) => data::weight_point(health_user_id, w),
            Item::Exercise(e) => data::exercise_point(health_user_id, e),
        }
    }
}

impl State {
    /// Whether the user has data of `kind` on `day`: their membership had started, the day
    /// is not in the future, and they did not delete it.
    fn has_data(&self, user: &GoogleUser, day: Date, kind: DataKind, now: OffsetDateTime) -> bool {
        day >= user.membership_start_date
            && day <= civil_time::local_date(&user.time_zone, now)
            && !self
                .deleted
                .contains(&(user.health_user_id.clone(), day, kind))
    }

    pub(super) fn day_activity(
        &self,
        user: &GoogleUser,
        day: Date,
        now: OffsetDateTime,
    ) -> Option<DayActivity> {
        if !self.has_data(user, day, DataKind::Activity, now) {
            return None;
        }
        let recorded = self.days.get(&(user.health_user_id.clone(), day));
        Some(data::day_activity(
            user,
            day,
            recorded,
            data::elapsed_fraction(user, day, now),
            civil_time::local_date(&user.time_zone, now),
        ))
    }

    fn sleep_of(&self, user: &GoogleUser, day: Date, now: OffsetDateTime) -> Vec<SleepSession> {
        if !self.has_data(user, day, DataKind::Sleep, now) {
            return Vec::new();
        }
        match self.sleep.get(&(user.health_user_id.clone(), day)) {
            Some(recorded) => data::recorded_sleep(user, recorded),
            None => data::synthetic_sleep(user, day),
        }
        .into_iter()
        .filter(|s| s.end <= now)
        .collect()
    }

    fn weights_of(&self, user: &GoogleUser, day: Date, now: OffsetDateTime) -> Vec<WeightSample> {
        if !self.has_data(user, day, DataKind::Weight, now) {
            return Vec::new();
        }
        match self.weights.get(&(user.health_user_id.clone(), day)) {
            Some(recorded) => recorded
                .iter()
                .map(|w| data::recorded_weight(user, w))
                .collect::<Vec<_>>(),
            None => data::synthetic_weight(user, day).into_iter().collect(),
        }
        .into_iter()
        .filter(|w| w.at <= now)
        .collect()
    }

    fn exercises_of(
        &self,
        user: &GoogleUser,
        day: Date,
        now: OffsetDateTime,
    ) -> Vec<ExerciseSession> {
        if !self.has_data(user, day, DataKind::Exercise, now) {
            return Vec::new();
        }
        match self.exercises.get(&(user.health_user_id.clone(), day)) {
            Some(recorded) => recorded
                .iter()
                .map(|e| data::recorded_exercise(user, e))
                .collect::<Vec<_>>(),
            None => {
                data::synthetic_exercise(user, day, civil_time::local_date(&user.time_zone, now))
            }
        }
        .into_iter()
        .filter(|e| e.end <= now)
        .collect()
    }

    /// Charges a request to the quotas; `Err` with the 429 if one is used up (the refused
    /// request is not charged).
    fn rate_take(
        &mut self,
        principal: &Principal,
        project_number: &str,
        now: OffsetDateTime,
    ) -> Result<(), ApiError> {
        let second = now.unix_timestamp();
        let consumer = format!("project_number:{project_number}");
        if let Principal::User(user) = principal {
            if let Some(until) = self.throttled_until.get(user) {
                if Instant::now() < *until {
                    counters::bump(&mut self.stats.throttled, user);
                    return Err(ApiError::quota_exceeded(
                        "Requests per minute per user",
                        &consumer,
                    ));
                }
                self.throttled_until.remove(user);
                self.user_windows.remove(user);
            }
            let limit = self.per_user_limit;
            let used = self
                .user_windows
                .entry(user.clone())
                .or_default()
                .used(second);
            if used >= limit {
                counters::bump(&mut self.stats.throttled, user);
                tracing::debug!(%user, "google health sandbox: per-user quota exceeded");
                return Err(ApiError::quota_exceeded(
                    "Requests per minute per user",
                    &consumer,
                ));
            }
        }
        if self.project_window.used(second) >= self.per_project_limit {
            self.stats.project_throttled += 1;
            return Err(ApiError::quota_exceeded("Requests per minute", &consumer));
        }
        if let Principal::User(user) = principal {
            self.user_windows
                .entry(user.clone())
                .or_default()
                .add(second);
        }
        self.project_window.add(second);
        Ok(())
    }
}

impl GoogleHealthSandbox {
    fn serve_api(&self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Outcome {
        let path = uri.path();
        let query: Vec<(String, String)> =
            url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let mut st = self.lock();
        let now = st.now();
        let Some(matched) = discovery().match_request(method.as_str(), path) else {
            st.stats.unmatched_requests += 1;
            return Outcome::Done(not_found_page(path));
        };
        let method_id = matched.method.id.as_str();
        counters::bump(&mut st.stats.requests_by_method, method_id);

        let Some(token) = bearer_token(headers, &query) else {
            let mut error = ApiError::unauthenticated("CREDENTIALS_MISSING");
            error.message = "Request is missing required authentication credential. Expected OAuth 2 access \
                             token, login cookie or other valid authentication credential. See \
                             https://developers.google.com/identity/sign-in/web/devconsole-project."
                .to_owned();
            return error.into();
        };
        let (principal, scopes) = match st.tokens.authenticate(token, now) {
            Ok(ok) => ok,
            Err(AuthFailure::Expired) => {
                return ApiError::unauthenticated("ACCESS_TOKEN_EXPIRED").into()
            }
            Err(AuthFailure::Revoked | AuthFailure::Unknown) => {
                return ApiError::unauthenticated("ACCESS_TOKEN_INVALID").into()
            }
        };
        if let Principal::User(user) = &principal {
            counters::bump(
                st.stats.api_calls.entry(user.clone()).or_default(),
                method_id,
            );
        }
        if let Err(error) = st.rate_take(&principal, &self.config.project_number, now) {
            return error.into();
        }

        let d = discovery();
        if let Err(violation) = d.validate_query(matched.method, &query) {
            counters::bump(&mut st.stats.contract_violations, method_id);
            return ApiError::bad_request(violation.message, violation.field.as_deref()).into();
        }
        let body_json = if matched.method.request.is_some() {
            let parsed = if body.iter().all(u8::is_ascii_whitespace) {
                Ok(json!({}))
            } else {
                serde_json::from_slice::<Value>(body)
            };
            let parsed = match parsed {
                Ok(value) => value,
                Err(error) => {
                    counters::bump(&mut st.stats.contract_violations, method_id);
                    return ApiError::bad_request(
                        format!("Invalid JSON payload received. {error}"),
                        None,
                    )
                    .into();
                }
            };
            if let Err(violation) = d.validate_request_body(matched.method, &parsed) {
                counters::bump(&mut st.stats.contract_violations, method_id);
                return ApiError::bad_request(violation.message, violation.field.as_deref()).into();
            }
            parsed
        } else {
            Value::Null
        };

        if let Some(injected) = st.faults.take_failure() {
            st.stats.injected_failures += 1;
            return match injected {
                faults::Injected::Status(status) => {
                    tracing::debug!(%status, method = method_id, "google health sandbox: injected failure");
                    injected_error(status).into()
                }
                // As it is: no error shape.
                faults::Injected::Raw(answer) => {
                    tracing::debug!(
                        status = answer.status,
                        method = method_id,
                        "google health sandbox: injected raw answer"
                    );
                    Outcome::Done(answer.response())
                }
            };
        }
        if !matched.method.scopes.iter().any(|s| scopes.contains(s)) {
            return ApiError::insufficient_scopes(method_id).into();
        }
        let query_param = QueryParams(&query);
        let result = match method_id {
            "health.projects.subscribers.create"
            | "health.projects.subscribers.list"
            | "health.projects.subscribers.patch"
            | "health.projects.subscribers.delete"
            | "health.projects.subscribers.subscriptions.create"
            | "health.projects.subscribers.subscriptions.list"
            | "health.projects.subscribers.subscriptions.patch"
            | "health.projects.subscribers.subscriptions.delete" => {
                self.project_method(&mut st, &matched, &principal, &query_param, &body_json, now)
            }
            "health.users.getIdentity"
            | "health.users.getProfile"
            | "health.users.getSettings"
            | "health.users.dataTypes.dataPoints.list"
            | "health.users.dataTypes.dataPoints.dailyRollUp" => {
                let user = match self.resolve_user(&mut st, &matched, &principal) {
                    Ok(user) => user,
                    Err(error) => return error.into(),
                };
                self.user_method(&st, &matched, &user, &scopes, &query_param, &body_json, now)
                    .map(ok)
            }
            other => Err(ApiError::unimplemented(other)),
        };
        result.unwrap_or_else(Outcome::from)
    }

    /// The user named by `usersId`: `me` or the caller's own health user id.
    fn resolve_user(
        &self,
        st: &mut State,
        matched: &MatchedMethod<'_>,
        principal: &Principal,
    ) -> Result<GoogleUser, ApiError> {
        let Principal::User(user_id) = principal else {
            return Err(ApiError::permission_denied(
                "Service account credentials cannot access user data; use the user's OAuth token.",
            ));
        };
        let requested = matched
            .path_params
            .get("usersId")
            .map(String::as_str)
            .unwrap_or("me");
        if requested != "me" && requested != user_id {
            return Err(ApiError::permission_denied(
                "The caller does not have permission",
            ));
        }
        st.ensure_user(user_id);
        Ok(st.users[user_id].clone())
    }

    #[allow(clippy::too_many_arguments)]
    fn user_method(
        &self,
        st: &State,
        matched: &MatchedMethod<'_>,
        user: &GoogleUser,
        scopes: &BTreeSet<String>,
        query: &QueryParams<'_>,
        body: &Value,
        now: OffsetDateTime,
    ) -> Result<Value, ApiError> {
        let users_id = matched
            .path_params
            .get("usersId")
            .map(String::as_str)
            .unwrap_or("me");
        let data_type = matched
            .path_params
            .get("dataTypesId")
            .map(String::as_str)
            .unwrap_or_default();
        match matched.method.id.as_str() {
            "health.users.getIdentity" => {
                let mut identity = json!({
                    "name": format!("users/{users_id}/identity"),
                    "healthUserId": user.health_user_id,
                });
                if let Some(legacy) = &user.legacy_user_id {
                    identity["legacyUserId"] = json!(legacy);
                }
                Ok(identity)
            }
            "health.users.getProfile" => {
                let mut profile = json!({
                    "name": format!("users/{users_id}/profile"),
                    "age": user.age,
                    "membershipStartDate": data::date_json(user.membership_start_date),
                });
                // Stride lengths need the activity scope too.
                if scopes.contains(super::scopes::ACTIVITY_AND_FITNESS) {
                    profile["autoWalkingStrideLengthMm"] = json!(data::walking_stride_mm(user));
                    profile["autoRunningStrideLengthMm"] = json!(data::running_stride_mm(user));
                }
                Ok(profile)
            }
            "health.users.getSettings" => {
                let metric = user.metric;
                let offset = civil_time::utc_offset_secs(&user.time_zone, now);
                Ok(json!({
                    "name": format!("users/{users_id}/settings"),
                    "autoStrideEnabled": true,
                    "distanceUnit": if metric { "DISTANCE_UNIT_KILOMETERS" } else { "DISTANCE_UNIT_MILES" },
                    "heightUnit": if metric { "HEIGHT_UNIT_CENTIMETERS" } else { "HEIGHT_UNIT_INCHES" },
                    "weightUnit": if metric { "WEIGHT_UNIT_KILOGRAMS" } else { "WEIGHT_UNIT_POUNDS" },
                    "swimUnit": if metric { "SWIM_UNIT_METERS" } else { "SWIM_UNIT_YARDS" },
                    "waterUnit": if metric { "WATER_UNIT_ML" } else { "WATER_UNIT_FL_OZ" },
                    "temperatureUnit": if metric { "TEMPERATURE_UNIT_CELSIUS" } else { "TEMPERATURE_UNIT_FAHRENHEIT" },
                    "glucoseUnit": if metric { "GLUCOSE_UNIT_MMOL_L" } else { "GLUCOSE_UNIT_MG_DL" },
                    "strideLengthWalkingType": "STRIDE_LENGTH_TYPE_AUTO",
                    "strideLengthRunningType": "STRIDE_LENGTH_TYPE_AUTO",
                    "languageLocale": user.language_locale,
                    "foodLanguageCode": user.language_locale,
                    "timeZone": user.time_zone,
                    "utcOffset": data::duration_json(offset),
                }))
            }
            "health.users.dataTypes.dataPoints.list" => {
                self.list_data_points(st, user, users_id, data_type, scopes, query, now)
            }
            "health.users.dataTypes.dataPoints.dailyRollUp" => {
                self.daily_roll_up(st, user, users_id, data_type, scopes, body, now)
            }
            other => Err(ApiError::unimplemented(other)),
        }
    }

    /// The checks both data point reads start with, in this order: the method supports the
    /// data type, the scopes allow reading it, the data source family is valid. Returns the
    /// read access and whether only the app's own writes were asked for (`self-sources`).
    fn check_data_read(
        &self,
        read: DataRead,
        data_type: &str,
        users_id: &str,
        scopes: &BTreeSet<String>,
        family: Option<&str>,
    ) -> Result<(ReadAccess, bool), ApiError> {
        let (supported, other) = match read {
            DataRead::List => (&*LIST_TYPES, &*ROLLUP_TYPES),
            DataRead::DailyRollUp => (&*ROLLUP_TYPES, &*LIST_TYPES),
        };
        if !supported.contains(data_type) {
            let message = match read {
                _ if !other.contains(data_type) => format!("Unsupported data type: {data_type}"),
                DataRead::List => {
                    format!("Data type {data_type} cannot be listed; use rollUp or dailyRollUp.")
                }
                DataRead::DailyRollUp => {
                    format!("Data type {data_type} does not support daily roll-ups.")
                }
            };
            return Err(ApiError::bad_request(message, Some("parent")));
        }
        let access = read_access(scopes, data_type)
            .ok_or_else(|| ApiError::insufficient_scopes(read.method_id()))?;
        let Some(family) = family.filter(|f| !f.is_empty()) else {
            return Ok((access, false));
        };
        let parts: Vec<&str> = family.split('/').collect();
        let valid = matches!(parts[..], ["users", user, "dataSourceFamilies", name]
            if (user == "me" || user == users_id)
                && matches!(name, "all-sources" | "google-wearables" | "google-sources" | "self-sources"));
        if !valid {
            return Err(ApiError::bad_request(
                format!("Invalid data source family: {family}"),
                Some("data_source_family"),
            ));
        }
        if data_type == "sleep" {
            return Err(ApiError::bad_request(
                "Filtering by data source family is not supported for the sleep data type; use ReconcileDataPoints.",
                Some("data_source_family"),
            ));
        }
        Ok((access, family.ends_with("/self-sources")))
    }

    #[allow(clippy::too_many_arguments)]
    fn list_data_points(
        &self,
        st: &State,
        user: &GoogleUser,
        users_id: &str,
        data_type: &str,
        scopes: &BTreeSet<String>,
        query: &QueryParams<'_>,
        now: OffsetDateTime,
    ) -> Result<Value, ApiError> {
        let (access, self_sources) = self.check_data_read(
            DataRead::List,
            data_type,
            users_id,
            scopes,
            query.get("dataSourceFamily"),
        )?;
        let session_like = matches!(data_type, "sleep" | "exercise");
        let (default_size, max_size) = if session_like {
            (25, 25)
        } else {
            (1440, 10_000)
        };
        let page_size = data_page_size(
            query.get("pageSize").and_then(|s| s.parse().ok()),
            default_size,
            max_size,
        )?;
        let filter_text = query.get("filter").unwrap_or_default();
        let (fields, allow_or) = filter_fields(data_type);
        let filter = if filter_text.trim().is_empty() {
            None
        } else {
            let kind = |name: &str| fields.iter().find(|(f, _)| f == name).map(|(_, k)| *k);
            Some(Filter::parse(filter_text, &kind, allow_or).map_err(|e| {
                ApiError::bad_request(format!("Invalid filter: {e}"), Some("filter"))
            })?)
        };
        let print = fingerprint(&[
            &user.health_user_id,
            data_type,
            filter_text,
            query.get("dataSourceFamily").unwrap_or_default(),
        ]);
        let offset = page_offset(query.get("pageToken"), &print)?;
        let simulated = matches!(data_type, "sleep" | "weight" | "exercise");
        if !simulated || access == ReadAccess::OwnWritesOnly || self_sources {
            return Ok(json!({}));
        }

        let today = civil_time::local_date(&user.time_zone, now);
        let (lo, hi) = filter.as_ref().map_or((None, None), Filter::date_bounds);
        let lo = lo
            .unwrap_or(user.membership_start_date)
            .max(user.membership_start_date);
        let hi = hi.unwrap_or(today).min(today.next_day().unwrap_or(today));
        let mut items = Vec::new();
        let mut day = lo;
        while day <= hi {
            match data_type {
                "sleep" => items.extend(st.sleep_of(user, day, now).into_iter().map(Item::Sleep)),
                "weight" => {
                    items.extend(st.weights_of(user, day, now).into_iter().map(Item::Weight))
                }
                _ => items.extend(
                    st.exercises_of(user, day, now)
                        .into_iter()
                        .map(Item::Exercise),
                ),
            }
            let Some(next) = day.next_day() else { break };
            day = next;
        }
        if let Some(filter) = &filter {
            items.retain(|item| filter.matches(&|name| item.field(name)));
        }
        // Newest first by start time (the list method's documented order).
        items.sort_by(|a, b| b.start().cmp(&a.start()).then_with(|| a.id().cmp(b.id())));
        let page: Vec<Value> = items
            .iter()
            .skip(offset)
            .take(page_size)
            .map(|item| item.json(&user.health_user_id))
            .collect();
        Ok(Value::Object(page_response(
            "dataPoints",
            page,
            offset + page_size,
            items.len(),
            &print,
        )))
    }

    #[allow(clippy::too_many_arguments)]
    fn daily_roll_up(
        &self,
        st: &State,
        user: &GoogleUser,
        users_id: &str,
        data_type: &str,
        scopes: &BTreeSet<String>,
        body: &Value,
        now: OffsetDateTime,
    ) -> Result<Value, ApiError> {
        let (access, self_sources) = self.check_data_read(
            DataRead::DailyRollUp,
            data_type,
            users_id,
            scopes,
            body["dataSourceFamily"].as_str(),
        )?;
        let range = &body["range"];
        if range.is_null() || range["start"].is_null() || range["end"].is_null() {
            return Err(ApiError::bad_request(
                "range with start and end is required.",
                Some("range"),
            ));
        }
        let start = civil_date(&range["start"], "range.start")?;
        let end = civil_date(&range["end"], "range.end")?;
        if end <= start {
            return Err(ApiError::bad_request(
                "range.end must be after range.start.",
                Some("range"),
            ));
        }
        let days = (end - start).whole_days();
        let fourteen = FOURTEEN_DAY_TYPES.contains(&data_type);
        let max_days = if fourteen { 14 } else { 90 };
        if days > max_days {
            return Err(ApiError::bad_request(
                format!("The maximum range for {data_type} is {max_days} days; the request spans {days} days."),
                Some("range"),
            ));
        }
        let window = match &body["windowSizeDays"] {
            Value::Null => 1,
            value => value
                .as_i64()
                .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
                .unwrap_or(0),
        };
        if window < 1 {
            return Err(ApiError::bad_request(
                "window_size_days must be positive.",
                Some("window_size_days"),
            ));
        }
        let max_page = if fourteen { 14 } else { 90 };
        let page_size = data_page_size(body["pageSize"].as_i64(), max_page, max_page)?;
        let print = fingerprint(&[
            &user.health_user_id,
            data_type,
            &range.to_string(),
            &window.to_string(),
            body["dataSourceFamily"].as_str().unwrap_or_default(),
        ]);
        let offset = page_offset(body["pageToken"].as_str(), &print)?;

        let mut windows = Vec::new();
        let mut window_start = start;
        while window_start < end {
            let window_end = (window_start + time::Duration::days(window)).min(end);
            windows.push((window_start, window_end));
            window_start = window_end;
        }
        let readable = access == ReadAccess::All && !self_sources;
        let points: Vec<Value> = windows
            .iter()
            .skip(offset)
            .take(page_size)
            .map(|&(from, to)| {
                let mut point = json!({
                    "civilStartTime": data::civil_json(from.midnight()),
                    "civilEndTime": data::civil_json(to.midnight()),
                });
                let mut day_list = Vec::new();
                let mut d = from;
                while d < to {
                    day_list.push(d);
                    d = d.next_day().unwrap_or(to);
                }
                let value = if !readable {
                    None
                } else if data_type == "weight" {
                    let samples: Vec<WeightSample> = day_list
                        .iter()
                        .flat_map(|d| st.weights_of(user, *d, now))
                        .collect();
                    data::weight_rollup(&samples)
                } else {
                    let activity: Vec<DayActivity> = day_list
                        .iter()
                        .filter_map(|d| st.day_activity(user, *d, now))
                        .collect();
                    data::activity_rollup(data_type, &activity)
                };
                if let Some((field, value)) = value {
                    point[field] = value;
                }
                point
            })
            .collect();
        Ok(Value::Object(page_response(
            "rollupDataPoints",
            points,
            offset + page_size,
            windows.len(),
            &print,
        )))
    }

    /// Subscriber and subscription methods: service accounts of the app's project only.
    fn project_method(
        &self,
        st: &mut State,
        matched: &MatchedMethod<'_>,
        principal: &Principal,
        query: &QueryParams<'_>,
        body: &Value,
        now: OffsetDateTime,
    ) -> Result<Outcome, ApiError> {
        let project = matched
            .path_params
            .get("projectsId")
            .cloned()
            .unwrap_or_default();
        let method_id = matched.method.id.as_str();
        let permission = method_id
            .strip_prefix("health.projects.")
            .unwrap_or(method_id)
            .to_owned();
        let own_project =
            project == self.config.project_id || project == self.config.project_number;
        let allowed = match principal {
            Principal::ServiceAccount { project_id, .. } => {
                own_project && *project_id == self.config.project_id
            }
            Principal::User(_) => own_project,
        };
        if !allowed {
            return Err(ApiError::permission_denied(format!(
                "Permission 'health.{permission}' denied on resource 'projects/{project}' (or it may not exist)."
            )));
        }
        let subscriber_id = matched.path_params.get("subscribersId").cloned();
        let not_found = |id: &str| {
            ApiError::not_found(format!(
                "Subscriber projects/{project}/subscribers/{id} not found."
            ))
        };
        match method_id {
            "health.projects.subscribers.create" => {
                let id = requested_id(query.get("subscriberId"), "subscriber_id")?;
                if st.subscribers.find(&id).is_some() {
                    return Err(ApiError::already_exists(format!(
                        "Subscriber projects/{project}/subscribers/{id} already exists."
                    )));
                }
                let endpoint_uri = body["endpointUri"].as_str().unwrap_or_default().to_owned();
                if endpoint_uri.is_empty() {
                    return Err(ApiError::bad_request(
                        "endpoint_uri is required.",
                        Some("endpoint_uri"),
                    ));
                }
                check_endpoint_uri(&endpoint_uri, self.config.require_https_endpoints)?;
                let secret = endpoint_secret(body)?;
                let configs = parse_configs(&body["subscriberConfigs"])?;
                Ok(Outcome::Verify(PendingChange {
                    project,
                    id,
                    endpoint_uri,
                    secret,
                    configs: Some(configs),
                    create: true,
                    method_id: "health.projects.subscribers.create",
                }))
            }
            "health.projects.subscribers.list" => {
                let print = fingerprint(&[&project, "subscribers"]);
                let all = st.subscribers.list_json();
                let mut response = resource_page("subscribers", &all, query, &print)?;
                if response.contains_key("subscribers") {
                    response.insert("totalSize".to_owned(), json!(all.len()));
                }
                Ok(ok(Value::Object(response)))
            }
            "health.projects.subscribers.patch" => {
                let id = subscriber_id.unwrap_or_default();
                let existing = st
                    .subscribers
                    .find(&id)
                    .cloned()
                    .ok_or_else(|| not_found(&id))?;
                let mask: Vec<String> =
                    match query.get("updateMask").filter(|m| !m.trim().is_empty()) {
                        Some(mask) => mask.split(',').map(|p| snake_case(p.trim())).collect(),
                        None => ["endpointUri", "subscriberConfigs", "endpointAuthorization"]
                            .iter()
                            .filter(|f| !body[**f].is_null())
                            .map(|f| snake_case(f))
                            .collect(),
                    };
                if let Some(bad) = mask.iter().find(|p| {
                    !matches!(
                        p.as_str(),
                        "endpoint_uri" | "subscriber_configs" | "endpoint_authorization"
                    )
                }) {
                    return Err(ApiError::bad_request(
                        format!("Invalid update mask path: {bad}"),
                        Some("update_mask"),
                    ));
                }
                let has = |field: &str| mask.iter().any(|m| m == field);
                let mut endpoint_uri = existing.endpoint_uri.clone();
                let mut secret = existing.secret.clone();
                if has("endpoint_uri") {
                    endpoint_uri = body["endpointUri"].as_str().unwrap_or_default().to_owned();
                    check_endpoint_uri(&endpoint_uri, self.config.require_https_endpoints)?;
                }
                if has("endpoint_authorization") {
                    secret = endpoint_secret(body)?;
                }
                let configs = if has("subscriber_configs") {
                    Some(parse_configs(&body["subscriberConfigs"])?)
                } else {
                    None
                };
                let change = PendingChange {
                    project,
                    id,
                    endpoint_uri,
                    secret,
                    configs,
                    create: false,
                    method_id: "health.projects.subscribers.patch",
                };
                if has("endpoint_uri") || has("endpoint_authorization") {
                    Ok(Outcome::Verify(change))
                } else {
                    Ok(self.apply_change(st, change, now))
                }
            }
            "health.projects.subscribers.delete" => {
                let id = subscriber_id.unwrap_or_default();
                st.subscribers.find(&id).ok_or_else(|| not_found(&id))?;
                let force = matches!(query.get("force"), Some("true" | "1"));
                let has_children = st
                    .subscribers
                    .subscriptions
                    .iter()
                    .any(|s| s.subscriber_id == id);
                if has_children && !force {
                    return Err(ApiError::failed_precondition(format!(
                        "Subscriber projects/{project}/subscribers/{id} has subscriptions; set force=true to delete them too."
                    )));
                }
                st.subscribers
                    .subscriptions
                    .retain(|s| s.subscriber_id != id);
                st.subscribers.subscribers.retain(|s| s.id != id);
                tracing::debug!(subscriber = %id, "google health sandbox: subscriber deleted");
                Ok(ok(operation_done(
                    &project,
                    "DeleteSubscriberMetadata",
                    subscribers::EMPTY_TYPE,
                    json!({}),
                )))
            }
            _ => self.subscription_method(
                st,
                matched,
                &project,
                subscriber_id.unwrap_or_default(),
                query,
                body,
            ),
        }
    }

    fn subscription_method(
        &self,
        st: &mut State,
        matched: &MatchedMethod<'_>,
        project: &str,
        subscriber_id: String,
        query: &QueryParams<'_>,
        body: &Value,
    ) -> Result<Outcome, ApiError> {
        let subscriber = st
            .subscribers
            .find(&subscriber_id)
            .cloned()
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "Subscriber projects/{project}/subscribers/{subscriber_id} not found."
                ))
            })?;
        let subscription_id = matched.path_params.get("subscriptionsId").cloned();
        let parse_types = |user: &str, value: &Value| -> Result<Vec<String>, ApiError> {
            let mut types = Vec::new();
            for item in value.as_array().into_iter().flatten() {
                let text = item.as_str().unwrap_or_default();
                let data_type = text
                    .strip_prefix(&format!("users/{user}/dataTypes/"))
                    .filter(|t| subscriber.policy_for(t).is_some())
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            format!("Invalid data type {text}: it must be users/{user}/dataTypes/<one of the subscriber's data types>."),
                            Some("data_types"),
                        )
                    })?;
                types.push(data_type.to_owned());
            }
            Ok(types)
        };
        let find = |st: &State, id: &str| {
            st.subscribers
                .subscriptions
                .iter()
                .position(|s| s.subscriber_id == subscriber_id && s.id == id)
                .ok_or_else(|| {
                    ApiError::not_found(format!(
                        "Subscription projects/{project}/subscribers/{subscriber_id}/subscriptions/{id} not found."
                    ))
                })
        };
        match matched.method.id.as_str() {
            "health.projects.subscribers.subscriptions.create" => {
                let id = requested_id(query.get("subscriptionId"), "subscription_id")?;
                let user = body["user"]
                    .as_str()
                    .and_then(|u| u.strip_prefix("users/"))
                    .filter(|u| st.users.contains_key(*u))
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "user must name a known user as users/{healthUserId}.",
                            Some("user"),
                        )
                    })?
                    .to_owned();
                let data_types = parse_types(&user, &body["dataTypes"])?;
                if find(st, &id).is_ok() {
                    return Err(ApiError::already_exists(format!(
                        "Subscription projects/{project}/subscribers/{subscriber_id}/subscriptions/{id} already exists."
                    )));
                }
                let subscription = Subscription {
                    subscriber_id: subscriber_id.clone(),
                    project: subscriber.project.clone(),
                    id,
                    user,
                    data_types,
                };
                let body = subscription.json();
                st.subscribers.subscriptions.push(subscription);
                Ok(ok(body))
            }
            "health.projects.subscribers.subscriptions.list" => {
                let user_filter = match query.get("filter").map(str::trim).filter(|f| !f.is_empty())
                {
                    None => None,
                    Some(filter) => {
                        let value = filter
                            .strip_prefix("user")
                            .map(str::trim_start)
                            .and_then(|f| f.strip_prefix('='))
                            .map(|f| f.trim().trim_matches('"'))
                            .and_then(|f| f.strip_prefix("users/"))
                            .ok_or_else(|| {
                                ApiError::bad_request(
                                    format!("Invalid filter: {filter}"),
                                    Some("filter"),
                                )
                            })?;
                        Some(value.to_owned())
                    }
                };
                let all: Vec<Value> = st
                    .subscribers
                    .subscriptions
                    .iter()
                    .filter(|s| s.subscriber_id == subscriber_id)
                    .filter(|s| user_filter.as_ref().is_none_or(|u| *u == s.user))
                    .map(Subscription::json)
                    .collect();
                let print = fingerprint(&[
                    project,
                    &subscriber_id,
                    query.get("filter").unwrap_or_default(),
                ]);
                let response = resource_page("subscriptions", &all, query, &print)?;
                Ok(ok(Value::Object(response)))
            }
            "health.projects.subscribers.subscriptions.patch" => {
                let id = subscription_id.unwrap_or_default();
                let index = find(st, &id)?;
                let user = st.subscribers.subscriptions[index].user.clone();
                let mask = query.get("updateMask").unwrap_or("dataTypes");
                for path in mask.split(',').map(|p| snake_case(p.trim())) {
                    if path != "data_types" {
                        return Err(ApiError::bad_request(
                            format!("Invalid update mask path: {path}"),
                            Some("update_mask"),
                        ));
                    }
                }
                let data_types = parse_types(&user, &body["dataTypes"])?;
                st.subscribers.subscriptions[index].data_types = data_types;
                Ok(ok(st.subscribers.subscriptions[index].json()))
            }
            "health.projects.subscribers.subscriptions.delete" => {
                let id = subscription_id.unwrap_or_default();
                let index = find(st, &id)?;
                st.subscribers.subscriptions.remove(index);
                Ok(ok(json!({})))
            }
            other => Err(ApiError::unimplemented(other)),
        }
    }

    /// Applies a (verified, or verification-free) subscriber change.
    fn apply_change(&self, st: &mut State, change: PendingChange, now: OffsetDateTime) -> Outcome {
        if change.create {
            if st.subscribers.find(&change.id).is_some() {
                return ApiError::already_exists(format!(
                    "Subscriber projects/{}/subscribers/{} already exists.",
                    change.project, change.id
                ))
                .into();
            }
            let subscriber = Subscriber {
                project: change.project.clone(),
                id: change.id,
                endpoint_uri: change.endpoint_uri,
                secret: change.secret,
                configs: change.configs.unwrap_or_default(),
                create_time: now,
                update_time: now,
            };
            let body = subscriber.json();
            tracing::debug!(subscriber = %subscriber.id, "google health sandbox: subscriber created");
            st.subscribers.subscribers.push(subscriber);
            st.stats.subscribers_created += 1;
            return ok(operation_done(
                &change.project,
                "CreateSubscriberMetadata",
                &subscribers::subscriber_type(),
                body,
            ));
        }
        let Some(subscriber) = st.subscribers.find_mut(&change.id) else {
            return ApiError::not_found(format!(
                "Subscriber projects/{}/subscribers/{} not found.",
                change.project, change.id
            ))
            .into();
        };
        subscriber.endpoint_uri = change.endpoint_uri;
        subscriber.secret = change.secret;
        if let Some(configs) = change.configs {
            // A full replacement, not a merge (webhooks guide).
            subscriber.configs = configs;
        }
        subscriber.update_time = now;
        let body = subscriber.json();
        ok(operation_done(
            &change.project,
            "UpdateSubscriberMetadata",
            &subscribers::subscriber_type(),
            body,
        ))
    }

    async fn finish_subscriber_change(&self, change: PendingChange) -> Response {
        let outcome = self
            .verify_endpoint(&change.endpoint_uri, &change.secret)
            .await;
        let mut st = self.lock();
        let now = st.now();
        if !outcome.verified {
            st.stats.verification_failures += 1;
            tracing::debug!(
                method = change.method_id,
                "google health sandbox: endpoint verification failed"
            );
            let error = ApiError::failed_precondition(
                outcome
                    .error
                    .unwrap_or_else(|| "Endpoint verification failed.".to_owned()),
            );
            if self.config.verification_failure_as_http_error {
                return error.into_response();
            }
            let metadata = if change.create {
                "CreateSubscriberMetadata"
            } else {
                "UpdateSubscriberMetadata"
            };
            return Json(operation_failed(&change.project, metadata, &error)).into_response();
        }
        match self.apply_change(&mut st, change, now) {
            Outcome::Done(response) => response,
            Outcome::Verify(_) => unreachable!("apply_change never asks for verification"),
        }
    }
}

fn parse_configs(value: &Value) -> Result<Vec<SubscriberConfig>, ApiError> {
    let mut configs = Vec::new();
    for (i, config) in value.as_array().into_iter().flatten().enumerate() {
        let field = format!("subscriber_configs[{i}]");
        let data_types: Vec<String> = config["dataTypes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect();
        if data_types.is_empty() {
            return Err(ApiError::bad_request(
                format!("{field}.data_types is required."),
                Some(&field),
            ));
        }
        if let Some(bad) = data_types.iter().find(|t| !is_known_data_type(t)) {
            return Err(ApiError::bad_request(
                format!("{field}.data_types: unsupported data type \"{bad}\" (use kebab-case ids such as steps)."),
                Some(&field),
            ));
        }
        let policy = config["subscriptionCreatePolicy"]
            .as_str()
            .unwrap_or_default();
        if !matches!(policy, "AUTOMATIC" | "MANUAL") {
            return Err(ApiError::bad_request(
                format!("{field}.subscription_create_policy must be AUTOMATIC or MANUAL."),
                Some(&field),
            ));
        }
        configs.push(SubscriberConfig {
            data_types,
            policy: policy.to_owned(),
        });
    }
    Ok(configs)
}

/// Contract facts the sandbox's tests check.
#[cfg(test)]
pub(super) fn simulated_types_are_known() -> std::collections::BTreeMap<&'static str, (bool, bool)>
{
    [
        "steps",
        "distance",
        "total-calories",
        "active-zone-minutes",
        "sleep",
        "weight",
        "exercise",
    ]
    .into_iter()
    .map(|t| (t, (LIST_TYPES.contains(t), ROLLUP_TYPES.contains(t))))
    .collect()
}
