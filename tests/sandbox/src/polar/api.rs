//! The `/v3` API: one handler that matches the path to a served endpoint, authenticates
//! (bearer token for `/v3/users...` and `/v3/exercises...`, client credentials for
//! `/v3/webhooks...`), charges the partner's rate limit, takes injected faults, checks the
//! person's consents and registration, and runs the endpoint.
//!
//! Invariant: every `/v3` answer carries the `RateLimit-*` headers, 404s and 401s included,
//! except a raw injected answer, which is sent as it is.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::contract;
use super::error::ApiError;
use super::rate_limit::RateInfo;
use super::webhooks::WebhookChange;
use super::{reads, users, webhooks, PolarSandbox, State};
use crate::{counters, faults, oauth2};

/// Every `/v3` endpoint the sandbox serves (method, the page's path template), in matching
/// order: a literal segment wins over a `{placeholder}` in the same place.
pub const SERVED_ENDPOINTS: [(&str, &str); 16] = [
    ("POST", "/v3/users"),
    ("GET", "/v3/users/activities"),
    ("GET", "/v3/users/activities/{date}"),
    ("GET", "/v3/users/sleep"),
    ("GET", "/v3/users/sleep/available"),
    ("GET", "/v3/users/sleep/{date}"),
    ("GET", "/v3/users/{user-id}"),
    ("DELETE", "/v3/users/{user-id}"),
    ("GET", "/v3/exercises"),
    ("GET", "/v3/exercises/{exerciseId}"),
    ("POST", "/v3/webhooks"),
    ("GET", "/v3/webhooks"),
    ("POST", "/v3/webhooks/activate"),
    ("POST", "/v3/webhooks/deactivate"),
    ("PATCH", "/v3/webhooks/{webhook-id}"),
    ("DELETE", "/v3/webhooks/{webhook-id}"),
];

/// `path` split into segments, a trailing slash ignored (the page writes
/// `/v3/users/activities/?from=...`).
fn segments(path: &str) -> Vec<&str> {
    path.trim_end_matches('/').split('/').skip(1).collect()
}

/// The `{placeholder}` values if `path` fits `template`.
pub(super) fn fit<'a>(template: &str, path: &'a str) -> Option<Vec<&'a str>> {
    let wanted = segments(template);
    let given = segments(path);
    if wanted.len() != given.len() {
        return None;
    }
    let mut params = Vec::new();
    for (w, g) in wanted.iter().zip(&given) {
        if w.starts_with('{') && w.ends_with('}') {
            if g.is_empty() {
                return None;
            }
            params.push(*g);
        } else if w != g {
            return None;
        }
    }
    Some(params)
}

/// The served endpoint (its index) and placeholder values for a request; `Err(true)` if
/// the path is served for other methods, `Err(false)` if not at all.
fn match_endpoint<'a>(method: &Method, path: &'a str) -> Result<(usize, Vec<&'a str>), bool> {
    let mut path_known = false;
    for (index, (m, template)) in SERVED_ENDPOINTS.iter().enumerate() {
        if let Some(params) = fit(template, path) {
            if method.as_str() == *m {
                return Ok((index, params));
            }
            path_known = true;
        }
    }
    Err(path_known)
}

/// An endpoint's name in the stats: `GET /v3/users/activities/{date}`.
pub(super) fn endpoint_name(index: usize) -> String {
    let (method, template) = SERVED_ENDPOINTS[index];
    format!("{method} {template}")
}

/// Whether an endpoint name (as counted in the stats) fetches activity, sleep or exercises.
pub(super) fn is_data_fetch(name: &str) -> bool {
    [
        "GET /v3/users/activities",
        "GET /v3/users/sleep",
        "GET /v3/exercises",
    ]
    .iter()
    .any(|prefix| name.starts_with(prefix))
}

fn uses_client_credentials(template: &str) -> bool {
    template.starts_with("/v3/webhooks")
}

/// What the locked part of a request leaves to do.
enum Step {
    Done(Response),
    /// A webhook change that needs a `PING` answered first; then the headers.
    Webhook(WebhookChange, RateInfo),
}

pub(super) async fn handle(
    AxumState(sandbox): AxumState<Arc<PolarSandbox>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    faults::delay_response(sandbox.as_ref()).await;
    let step = sandbox.begin(&method, &uri, &headers, &body);
    match step {
        Step::Done(response) => response,
        Step::Webhook(change, info) => info.apply(sandbox.finish_webhook_change(change).await),
    }
}

/// Who a request speaks for.
enum Caller {
    /// A person, by a bearer token.
    Person(String),
    /// The partner, by client credentials.
    Partner,
}

impl PolarSandbox {
    fn begin(&self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Step {
        let mut st = self.lock();
        let now = st.now();
        let people = st.registered_people();
        let limit = st.rate_limits.limits(people);
        let peek = st.quota.peek(limit, now);
        let path = uri.path();
        let (index, params) = match match_endpoint(method, path) {
            Ok(matched) => matched,
            Err(path_known) => {
                st.stats.unmatched_requests += 1;
                let error = if path_known {
                    ApiError::new(
                        StatusCode::METHOD_NOT_ALLOWED,
                        "MethodNotAllowed",
                        format!("{method} is not allowed on {path}"),
                    )
                } else if contract::contract().documents_request(method.as_str(), path) {
                    ApiError::new(
                        StatusCode::NOT_IMPLEMENTED,
                        "NotImplemented",
                        format!("{method} {path} is documented but not simulated by the sandbox"),
                    )
                } else {
                    ApiError::not_found(format!("No endpoint {method} {path}"))
                };
                return Step::Done(peek.apply(error.render(now)));
            }
        };
        let template = SERVED_ENDPOINTS[index].1;
        let caller = match self.authenticate(&st, headers, template) {
            Some(caller) => caller,
            None => {
                st.stats.unauthorized += 1;
                let error = ApiError::unauthorized("Missing or invalid credentials");
                return Step::Done(peek.apply(error.render(now)));
            }
        };
        let name = endpoint_name(index);
        counters::bump(&mut st.stats.requests_by_endpoint, &name);
        if let Caller::Person(user_id) = &caller {
            counters::bump(
                st.stats.api_calls.entry(user_id.clone()).or_default(),
                &name,
            );
        }
        let info = match self.charge(&mut st, limit) {
            Ok(info) => info,
            Err(info) => {
                st.stats.throttled += 1;
                tracing::debug!("polar sandbox: partner rate limit exceeded");
                let error = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TooManyRequests",
                    "Rate limit exceeded",
                );
                return Step::Done(info.apply(error.render(now)));
            }
        };
        if let Some(injected) = st.faults.take_failure(path) {
            st.stats.injected_failures += 1;
            return Step::Done(match injected {
                faults::Injected::Raw(answer) => answer.response(),
                faults::Injected::Status(status) => {
                    let error = ApiError::new(
                        status,
                        "Injected",
                        format!(
                            "{} (injected by the sandbox)",
                            status.canonical_reason().unwrap_or("Error")
                        ),
                    );
                    info.apply(error.render(now))
                }
            });
        }
        let query = uri.query().unwrap_or_default();
        let result = match caller {
            Caller::Partner => {
                match webhooks::serve(&mut st, template, method.as_str(), &params, body, now) {
                    Ok(webhooks::Served::Done(response)) => Ok(response),
                    Ok(webhooks::Served::NeedsPing(change)) => {
                        return Step::Webhook(change, info);
                    }
                    Err(error) => Err(error),
                }
            }
            Caller::Person(user_id) => {
                self.serve_person(&mut st, index, &params, &user_id, query, body)
            }
        };
        let response = result.unwrap_or_else(|error| error.render(now));
        Step::Done(info.apply(response))
    }

    fn authenticate(&self, st: &State, headers: &HeaderMap, template: &str) -> Option<Caller> {
        if uses_client_credentials(template) {
            let credentials = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(oauth2::basic_credentials)?;
            return self
                .client_credentials_match(&credentials)
                .then_some(Caller::Partner);
        }
        let token = oauth2::bearer_header(headers)?;
        st.tokens.authenticate(token, st.now()).map(Caller::Person)
    }

    /// Charges the partner; a forced throttle refuses without charging.
    fn charge(&self, st: &mut State, limit: (u32, u32)) -> Result<RateInfo, RateInfo> {
        let now = st.now();
        let client_id = &self.config.client_id;
        if st.throttles.end_if_over(client_id) {
            st.quota.clear();
        }
        if let Some(left) = st.throttles.left(client_id) {
            let left_secs = i64::try_from(left.as_millis().div_ceil(1000)).unwrap_or(i64::MAX);
            return Err(st.quota.peek(limit, now).forced(left_secs));
        }
        st.quota.charge(limit, now)
    }

    /// A person's endpoint: consents, registration (for data), then the endpoint.
    fn serve_person(
        &self,
        st: &mut State,
        index: usize,
        params: &[&str],
        user_id: &str,
        query: &str,
        body: &[u8],
    ) -> Result<Response, ApiError> {
        st.ensure_user(user_id);
        let user = st.users[user_id].clone();
        if !user.mandatory_consents_accepted {
            counters::bump(&mut st.stats.consent_refusals, user_id);
            return Err(ApiError::forbidden(
                "MandatoryConsentsMissing",
                "User has not accepted all mandatory consents.",
            ));
        }
        let template = SERVED_ENDPOINTS[index].1;
        let now = st.now();
        match template {
            "/v3/users" => return users::register(st, &user, body, now),
            "/v3/users/{user-id}" if SERVED_ENDPOINTS[index].0 == "GET" => {
                return users::get(&user, params[0])
            }
            "/v3/users/{user-id}" => return users::delete(st, &user, params[0]),
            _ => {}
        }
        let Some(registration) = user.registration.clone() else {
            counters::bump(&mut st.stats.unregistered_refusals, user_id);
            return Err(ApiError::forbidden(
                "UserNotRegistered",
                "User is not registered to the partner: register with POST /v3/users first.",
            ));
        };
        let reads = reads::Reads {
            st: &*st,
            user: &user,
            registration: &registration,
            now,
        };
        match template {
            "/v3/users/activities" => reads.activities(query),
            "/v3/users/activities/{date}" => reads.activity(params[0], query),
            "/v3/users/sleep" => reads.nights(),
            "/v3/users/sleep/available" => reads.available_sleep(),
            "/v3/users/sleep/{date}" => reads.sleep(params[0]),
            "/v3/exercises" => reads.exercises(),
            "/v3/exercises/{exerciseId}" => reads.exercise(params[0]),
            other => unreachable!("served endpoint {other} is dispatched"),
        }
    }
}

/// A 200 JSON answer.
pub(super) fn ok_json(body: impl serde::Serialize) -> Response {
    Json(body).into_response()
}

/// An empty answer with `status` (204, or 200 without body).
pub(super) fn empty(status: StatusCode) -> Response {
    status.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_win_over_placeholders() {
        let (index, params) = match_endpoint(&Method::GET, "/v3/users/activities").unwrap();
        assert_eq!(SERVED_ENDPOINTS[index].1, "/v3/users/activities");
        assert!(params.is_empty());
        let (index, params) = match_endpoint(&Method::GET, "/v3/users/activities/").unwrap();
        assert_eq!(SERVED_ENDPOINTS[index].1, "/v3/users/activities");
        assert!(params.is_empty());
        let (index, params) = match_endpoint(&Method::GET, "/v3/users/2278517").unwrap();
        assert_eq!(SERVED_ENDPOINTS[index].1, "/v3/users/{user-id}");
        assert_eq!(params, ["2278517"]);
        let (index, _) = match_endpoint(&Method::GET, "/v3/users/sleep/available").unwrap();
        assert_eq!(SERVED_ENDPOINTS[index].1, "/v3/users/sleep/available");
        assert!(
            match_endpoint(&Method::PUT, "/v3/users").unwrap_err(),
            "served for POST"
        );
        assert!(!match_endpoint(&Method::GET, "/v3/notifications").unwrap_err());
    }

    #[test]
    fn data_fetches_are_activity_sleep_and_exercises() {
        assert!(is_data_fetch("GET /v3/users/activities/{date}"));
        assert!(is_data_fetch("GET /v3/users/sleep/{date}"));
        assert!(is_data_fetch("GET /v3/exercises"));
        assert!(!is_data_fetch("POST /v3/users"));
        assert!(!is_data_fetch("GET /v3/users/{user-id}"));
    }
}
