//! The REST API under `/v4/...`: discovery matching and validation, bearer authentication,
//! and the dispatch to the simulated methods, whose concerns live in the submodules: the
//! request budget ([`quota`]), identity, profile and settings ([`identity`]), data points
//! ([`data_points`]), subscribers and subscriptions ([`subscriber_methods`]), and the paging
//! they share ([`paging`]).
//!
//! One handler serves every path so that every answer, 404s included, goes through the same
//! pipeline: match → authenticate (401) → quota (429) → contract validation (400) →
//! injected failure → method scopes (403) → the method.

mod data_points;
mod identity;
mod paging;
mod quota;
mod subscriber_methods;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::discovery::{discovery, MatchedMethod};
use super::error::ApiError;
use super::oauth::{bearer_token, AuthFailure, Principal};
use super::{GoogleHealthSandbox, GoogleUser, State};
use crate::{counters, faults};

pub(super) use quota::SlidingWindow;
use subscriber_methods::PendingChange;

/// What an API request turned into.
enum Outcome {
    Done(Response),
    /// A subscriber change that needs endpoint verification (outbound HTTP, no lock held).
    Verify(PendingChange),
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

/// The query parameters of a request (first occurrence wins).
struct QueryParams<'a>(&'a [(String, String)]);

impl<'a> QueryParams<'a> {
    fn get(&self, name: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
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

        if let Some(injected) = st.faults.take_failure(path) {
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
            "health.users.getIdentity" => Ok(identity::identity(users_id, user)),
            "health.users.getProfile" => Ok(identity::profile(users_id, user, scopes)),
            "health.users.getSettings" => Ok(identity::settings(users_id, user, now)),
            "health.users.dataTypes.dataPoints.list" => {
                self.list_data_points(st, user, users_id, data_type, scopes, query, now)
            }
            "health.users.dataTypes.dataPoints.dailyRollUp" => {
                self.daily_roll_up(st, user, users_id, data_type, scopes, body, now)
            }
            other => Err(ApiError::unimplemented(other)),
        }
    }
}
