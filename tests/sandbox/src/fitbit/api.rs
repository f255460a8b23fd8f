//! The data API under `/1/user/...` and `/1.2/user/...`: bearer authentication, the
//! per-user hourly rate limit, data endpoints and subscriptions.
//!
//! One handler parses the path itself, so that every answer, 404s included, goes through
//! the same authentication and carries the rate-limit headers, as on api.fitbit.com.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::State as AxumState;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::{Date, OffsetDateTime};

use super::data::{self, Units};
use super::error::{ApiError, OAUTH_DOCS};
use super::{FitbitSandbox, RateWindow, State, TestUser};
use crate::{civil_time, counters, faults, oauth2};

const MAX_SUBSCRIPTION_ID_LEN: usize = 50;

/// Collections a subscription can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Collection {
    Activities,
    Body,
    Foods,
    Sleep,
}

impl Collection {
    fn parse(name: &str) -> Option<Collection> {
        match name {
            "activities" => Some(Collection::Activities),
            "body" => Some(Collection::Body),
            "foods" => Some(Collection::Foods),
            "sleep" => Some(Collection::Sleep),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Collection::Activities => "activities",
            Collection::Body => "body",
            Collection::Foods => "foods",
            Collection::Sleep => "sleep",
        }
    }

    fn scope(self) -> &'static str {
        match self {
            Collection::Activities => "activity",
            Collection::Body => "weight",
            Collection::Foods => "nutrition",
            Collection::Sleep => "sleep",
        }
    }
}

pub(super) struct Subscription {
    pub(super) subscription_id: String,
    pub(super) owner_id: String,
    /// `None`: all collections.
    pub(super) collection: Option<Collection>,
    pub(super) subscriber_id: String,
}

impl Subscription {
    /// Fitbit reports an all-collections subscription with collection type `user`.
    pub(super) fn collection_type(&self) -> &'static str {
        self.collection.map_or("user", Collection::as_str)
    }

    pub(super) fn info(&self) -> SubscriptionInfo {
        SubscriptionInfo {
            collection_type: self.collection_type().to_owned(),
            owner_id: self.owner_id.clone(),
            owner_type: "user".to_owned(),
            subscriber_id: self.subscriber_id.clone(),
            subscription_id: self.subscription_id.clone(),
        }
    }
}

/// A subscription as the API lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionInfo {
    /// `activities`, `body`, `foods`, `sleep`, or `user` for all collections.
    pub collection_type: String,
    pub owner_id: String,
    pub owner_type: String,
    pub subscriber_id: String,
    pub subscription_id: String,
}

/// What the path asks for.
enum Endpoint<'a> {
    Profile,
    Activities(&'a str),
    Sleep(&'a str),
    Weight(&'a str),
    SubscriptionList(Option<Collection>),
    Subscription(Option<Collection>, &'a str),
}

/// `tail` is the path after `/{version}/user/{id}/`.
fn parse_endpoint<'a>(version: &str, tail: &[&'a str]) -> Option<Endpoint<'a>> {
    let json_name = |segment: &'a str| segment.strip_suffix(".json").filter(|s| !s.is_empty());
    match (version, tail) {
        ("1", ["profile.json"]) => Some(Endpoint::Profile),
        ("1", ["activities", "date", day]) => json_name(day).map(Endpoint::Activities),
        ("1.2", ["sleep", "date", day]) => json_name(day).map(Endpoint::Sleep),
        ("1", ["body", "log", "weight", "date", day]) => json_name(day).map(Endpoint::Weight),
        ("1", ["apiSubscriptions.json"]) => Some(Endpoint::SubscriptionList(None)),
        ("1", [collection, "apiSubscriptions.json"]) => {
            Collection::parse(collection).map(|c| Endpoint::SubscriptionList(Some(c)))
        }
        ("1", ["apiSubscriptions", id]) => json_name(id).map(|id| Endpoint::Subscription(None, id)),
        ("1", [collection, "apiSubscriptions", id]) => {
            let collection = Collection::parse(collection)?;
            json_name(id).map(|id| Endpoint::Subscription(Some(collection), id))
        }
        _ => None,
    }
}

impl Endpoint<'_> {
    fn required_scope(&self) -> Option<&'static str> {
        match self {
            Endpoint::Profile => Some("profile"),
            Endpoint::Activities(_) => Some("activity"),
            Endpoint::Sleep(_) => Some("sleep"),
            Endpoint::Weight(_) => Some("weight"),
            Endpoint::SubscriptionList(collection) | Endpoint::Subscription(collection, _) => {
                collection.map(Collection::scope)
            }
        }
    }

    fn methods(&self) -> &'static [Method] {
        match self {
            Endpoint::Subscription(..) => &[Method::POST, Method::DELETE],
            _ => &[Method::GET],
        }
    }
}

/// Whether an API path (as counted in `api_calls`) fetches activities, sleep or weight.
pub(super) fn is_data_fetch(path: &str) -> bool {
    let (version, rest) = match (
        path.strip_prefix("/1/user/"),
        path.strip_prefix("/1.2/user/"),
    ) {
        (Some(rest), _) => ("1", rest),
        (None, Some(rest)) => ("1.2", rest),
        (None, None) => return false,
    };
    let segments: Vec<&str> = rest.split('/').collect();
    segments.split_first().is_some_and(|(_, tail)| {
        matches!(
            parse_endpoint(version, tail),
            Some(Endpoint::Activities(_) | Endpoint::Sleep(_) | Endpoint::Weight(_))
        )
    })
}

/// The Fitbit error type that goes with an injected failure's status.
fn injected_error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "invalid_token",
        403 => "insufficient_permissions",
        404 => "not_found",
        429 => "request_throttled",
        500..=599 => "system",
        _ => "request",
    }
}

/// The rate-limit figures every API response carries.
struct RateInfo {
    limit: u32,
    remaining: u32,
    /// Seconds until the top of the hour.
    reset_secs: i64,
}

fn clock_hour(now: OffsetDateTime) -> i64 {
    now.unix_timestamp().div_euclid(3600)
}

fn seconds_to_next_hour(now: OffsetDateTime) -> i64 {
    3600 - now.unix_timestamp().rem_euclid(3600)
}

impl State {
    fn used_this_hour(&self, user_id: &str, now: OffsetDateTime) -> u32 {
        self.rate_windows
            .get(user_id)
            .filter(|w| w.hour == clock_hour(now))
            .map_or(0, |w| w.used)
    }

    /// Seconds (rounded up) until a forced rate limit of the user ends, if one is in force.
    fn forced_reset_secs(&self, user_id: &str) -> Option<i64> {
        let left = self.throttles.left(user_id)?;
        Some(i64::try_from(left.as_millis().div_ceil(1000)).unwrap_or(i64::MAX))
    }

    /// Ends the user's forced rate limit once its time is up, with a fresh quota.
    fn end_forced_limit(&mut self, user_id: &str) {
        if self.throttles.end_if_over(user_id) {
            self.rate_windows.remove(user_id);
        }
    }

    /// The figures without counting a request (for requests not charged to a user).
    fn rate_peek(&self, user_id: Option<&str>, now: OffsetDateTime) -> RateInfo {
        if let Some(reset_secs) = user_id.and_then(|u| self.forced_reset_secs(u)) {
            return RateInfo {
                limit: self.rate_limit_per_hour,
                remaining: 0,
                reset_secs,
            };
        }
        let used = user_id.map_or(0, |u| self.used_this_hour(u, now));
        RateInfo {
            limit: self.rate_limit_per_hour,
            remaining: self.rate_limit_per_hour.saturating_sub(used),
            reset_secs: seconds_to_next_hour(now),
        }
    }

    /// Charges one request to the user; `Err` if the hour's quota is used up (the
    /// rejected request is not charged).
    fn rate_take(&mut self, user_id: &str, now: OffsetDateTime) -> Result<RateInfo, RateInfo> {
        self.end_forced_limit(user_id);
        let used = self.used_this_hour(user_id, now);
        if used >= self.rate_limit_per_hour || self.forced_reset_secs(user_id).is_some() {
            return Err(self.rate_peek(Some(user_id), now));
        }
        self.rate_windows.insert(
            user_id.to_owned(),
            RateWindow {
                hour: clock_hour(now),
                used: used + 1,
            },
        );
        Ok(self.rate_peek(Some(user_id), now))
    }
}

fn with_rate_headers(mut response: Response, info: &RateInfo) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        ("fitbit-rate-limit-limit", i64::from(info.limit)),
        ("fitbit-rate-limit-remaining", i64::from(info.remaining)),
        ("fitbit-rate-limit-reset", info.reset_secs),
    ] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
    response
}

fn parse_day(day: &str, user: &TestUser, now: OffsetDateTime) -> Result<Date, ApiError> {
    if day == "today" {
        return Ok(civil_time::local_date(&user.timezone, now));
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(day, format)
        .map_err(|_| ApiError::validation("date", format!("Invalid date:{day}")))
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

pub(super) async fn handle(
    AxumState(sandbox): AxumState<Arc<FitbitSandbox>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    faults::delay_response(sandbox.as_ref()).await;
    sandbox.serve_api(&method, uri.path(), &headers)
}

impl FitbitSandbox {
    fn serve_api(&self, method: &Method, path: &str, headers: &HeaderMap) -> Response {
        let mut st = self.lock();
        let now = st.now();
        let Some(token) = oauth2::bearer_header(headers) else {
            let error = ApiError::invalid_client(format!(
                "Invalid authorization header format. The header was not recognized to be a valid header \
                 for any of known implementations. {OAUTH_DOCS}"
            ));
            return with_rate_headers(error.into_response(), &st.rate_peek(None, now));
        };
        let (user_id, scopes) = match st.tokens.authenticate(token, now) {
            Ok(authenticated) => authenticated,
            Err((user_id, error)) => {
                let info = st.rate_peek(user_id.as_deref(), now);
                return with_rate_headers(error.into_response(), &info);
            }
        };
        counters::bump(st.stats.api_calls.entry(user_id.clone()).or_default(), path);
        st.stats
            .first_api_call_at
            .entry(user_id.clone())
            .or_default()
            .entry(path.to_owned())
            .or_insert_with(|| {
                OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            });
        let info = match st.rate_take(&user_id, now) {
            Ok(info) => info,
            Err(info) => {
                counters::bump(&mut st.stats.throttled, &user_id);
                tracing::debug!(%user_id, "fitbit sandbox: rate limit exceeded");
                let mut response = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "request_throttled",
                    "Too Many Requests",
                )
                .into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(info.reset_secs));
                return with_rate_headers(response, &info);
            }
        };
        if let Some(injected) = st.faults.take_failure(path) {
            st.stats.injected_failures += 1;
            let status = match injected {
                // As it is: no error shape, no rate-limit headers.
                faults::Injected::Raw(answer) => {
                    tracing::debug!(%user_id, status = answer.status, "fitbit sandbox: injected raw answer");
                    return answer.response();
                }
                faults::Injected::Status(status) => status,
            };
            tracing::debug!(%user_id, %status, "fitbit sandbox: injected failure");
            let error = ApiError::new(
                status,
                injected_error_type(status),
                format!(
                    "{} (injected by the sandbox)",
                    status.canonical_reason().unwrap_or("Error")
                ),
            );
            return with_rate_headers(error.into_response(), &info);
        }
        let response = self
            .dispatch(&mut st, method, path, headers, &user_id, &scopes, now)
            .unwrap_or_else(IntoResponse::into_response);
        with_rate_headers(response, &info)
    }

    #[allow(clippy::too_many_arguments)]
    fn dispatch(
        &self,
        st: &mut State,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        user_id: &str,
        scopes: &BTreeSet<String>,
        now: OffsetDateTime,
    ) -> Result<Response, ApiError> {
        let not_found = || ApiError::not_found("The API you are requesting could not be found.");
        let (version, rest) = match (
            path.strip_prefix("/1/user/"),
            path.strip_prefix("/1.2/user/"),
        ) {
            (Some(rest), _) => ("1", rest),
            (None, Some(rest)) => ("1.2", rest),
            (None, None) => return Err(not_found()),
        };
        let segments: Vec<&str> = rest.split('/').collect();
        let (owner, tail) = segments.split_first().ok_or_else(not_found)?;
        let endpoint = parse_endpoint(version, tail).ok_or_else(not_found)?;
        if !endpoint.methods().contains(method) {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("The {method} method is not allowed for this resource."),
            ));
        }
        if let Some(scope) = endpoint.required_scope() {
            if !scopes.contains(scope) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "insufficient_scope",
                    format!("This application does not have permission to access {scope} data. {OAUTH_DOCS}"),
                ));
            }
        }
        if *owner != "-" && *owner != user_id {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "insufficient_permissions",
                format!("Access denied to resources owned by user {owner}."),
            ));
        }
        let user = st
            .users
            .get(user_id)
            .cloned()
            .unwrap_or_else(|| TestUser::new(user_id, "Test", user_id));
        let units = Units::from_headers(headers);
        let body = match endpoint {
            Endpoint::Profile => data::profile(&user, units, now),
            Endpoint::Activities(day) => {
                let date = parse_day(day, &user, now)?;
                let recorded = st.activity.get(&(user_id.to_owned(), date));
                data::activities(&user, date, units, recorded, now)
            }
            Endpoint::Sleep(day) => data::sleep(&user, parse_day(day, &user, now)?),
            Endpoint::Weight(day) => data::weight(&user, parse_day(day, &user, now)?, units),
            Endpoint::SubscriptionList(collection) => {
                let list: Vec<SubscriptionInfo> = st
                    .subscriptions
                    .iter()
                    .filter(|s| {
                        s.owner_id == user_id
                            && (collection.is_none() || s.collection == collection)
                    })
                    .map(Subscription::info)
                    .collect();
                json!({ "apiSubscriptions": list })
            }
            Endpoint::Subscription(collection, id) if *method == Method::POST => {
                return subscribe(st, user_id, collection, id, headers);
            }
            Endpoint::Subscription(collection, id) => {
                return unsubscribe(st, user_id, collection, id)
            }
        };
        Ok(json_response(StatusCode::OK, body))
    }
}

/// 201 new, 200 identical one exists, 409 the id or the (user, collection) is taken.
fn subscribe(
    st: &mut State,
    user_id: &str,
    collection: Option<Collection>,
    id: &str,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    if id.len() > MAX_SUBSCRIPTION_ID_LEN {
        return Err(ApiError::validation(
            "subscriptionId",
            format!(
                "Subscription id must not be longer than {MAX_SUBSCRIPTION_ID_LEN} characters."
            ),
        ));
    }
    let subscriber_id = headers
        .get("x-fitbit-subscriber-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .unwrap_or("1");
    let conflict = |message: &str| ApiError::new(StatusCode::CONFLICT, "conflict", message);
    if let Some(existing) = st.subscriptions.iter().find(|s| s.subscription_id == id) {
        let identical = existing.owner_id == user_id
            && existing.collection == collection
            && existing.subscriber_id == subscriber_id;
        return if identical {
            Ok(json_response(StatusCode::OK, json!(existing.info())))
        } else {
            Err(conflict(
                "The subscription id is already used for a different stream.",
            ))
        };
    }
    let taken = st.subscriptions.iter().any(|s| {
        s.owner_id == user_id && s.collection == collection && s.subscriber_id == subscriber_id
    });
    if taken {
        return Err(conflict(
            "The user is already subscribed to this stream with a different subscription id.",
        ));
    }
    let subscription = Subscription {
        subscription_id: id.to_owned(),
        owner_id: user_id.to_owned(),
        collection,
        subscriber_id: subscriber_id.to_owned(),
    };
    let body = json!(subscription.info());
    st.subscriptions.push(subscription);
    counters::bump(&mut st.stats.subscriptions_created, user_id);
    tracing::debug!(%user_id, collection = collection.map_or("user", Collection::as_str), "fitbit sandbox: subscribed");
    Ok(json_response(StatusCode::CREATED, body))
}

fn unsubscribe(
    st: &mut State,
    user_id: &str,
    collection: Option<Collection>,
    id: &str,
) -> Result<Response, ApiError> {
    let position = st
        .subscriptions
        .iter()
        .position(|s| {
            s.subscription_id == id && s.owner_id == user_id && s.collection == collection
        })
        .ok_or_else(|| ApiError::not_found(format!("Subscription {id} not found.")))?;
    st.subscriptions.remove(position);
    Ok(StatusCode::NO_CONTENT.into_response())
}
