//! The admin API under `/_admin/google-health/` (JSON in and out), mirroring the methods of
//! [`GoogleHealthSandbox`].

use std::sync::Arc;

use axum::extract::{Path, State as AxumState};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use time::macros::format_description;
use time::Date;

use super::notify::NotifyError;
use super::{
    ActivityPattern, Consent, GoogleHealthSandbox, GoogleHealthStats, GoogleUser, NotifyRequest,
    RecordedDay, RecordedExercise, RecordedSleep, RecordedWeight, TokenGrant,
};
use crate::admin_api::{self, set_if_given};

pub(super) fn router() -> Router<Arc<GoogleHealthSandbox>> {
    Router::new()
        .route("/_admin/google-health/users", post(add_user))
        .route("/_admin/google-health/users/{id}/tokens", get(tokens))
        .route("/_admin/google-health/users/{id}/days", post(record_day))
        .route(
            "/_admin/google-health/users/{id}/days/{date}",
            axum::routing::delete(delete_day),
        )
        .route("/_admin/google-health/users/{id}/sleep", post(record_sleep))
        .route(
            "/_admin/google-health/users/{id}/weight",
            post(record_weight),
        )
        .route(
            "/_admin/google-health/users/{id}/exercise",
            post(record_exercise),
        )
        .route(
            "/_admin/google-health/users/{id}/throttle",
            post(throttle_user),
        )
        .route("/_admin/google-health/rate-limits", post(set_rate_limits))
        .route("/_admin/google-health/notify", post(notify))
        .route(
            "/_admin/google-health/verify-endpoint",
            post(verify_endpoint),
        )
        .route("/_admin/google-health/subscribers", get(subscribers))
        .route(
            "/_admin/google-health/service-accounts",
            post(create_service_account),
        )
        .route("/_admin/google-health/keys", get(keys))
        .route("/_admin/google-health/keys/rotate", post(rotate_key))
        .route("/_admin/google-health/keys/retire", post(retire_keys))
        .merge(admin_api::shared_routes::<GoogleHealthSandbox>(
            "/_admin/google-health",
        ))
        .merge(admin_api::user_throttle_routes::<GoogleHealthSandbox>(
            "/_admin/google-health",
        ))
}

admin_api::admin_target!(GoogleHealthSandbox {
    user_id_field: "health_user_id",
    live_token: "live",
    user: GoogleUser,
    consent: Consent,
    grant: TokenGrant,
    stats: GoogleHealthStats,
});
admin_api::user_throttles!(GoogleHealthSandbox);

type Sandbox = AxumState<Arc<GoogleHealthSandbox>>;

/// A user as the admin API takes it: only `health_user_id` is required.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserInput {
    health_user_id: String,
    legacy_user_id: Option<String>,
    sub: Option<String>,
    email: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    age: Option<u32>,
    time_zone: Option<String>,
    language_locale: Option<String>,
    membership_start_date: Option<String>,
    sex: Option<String>,
    height_cm: Option<f64>,
    weight_kg: Option<f64>,
    metric: Option<bool>,
    /// `weekday_runner`, `lapse` or `default`; absent: derived from the ids.
    pattern: Option<ActivityPattern>,
}

async fn add_user(AxumState(sandbox): Sandbox, Json(input): Json<UserInput>) -> Response {
    let id = &input.health_user_id;
    if id.is_empty() || id.len() > 63 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return admin_api::error(
            StatusCode::BAD_REQUEST,
            "health_user_id must be 1-63 letters, digits or hyphens",
        );
    }
    let mut user = GoogleUser::new(
        id,
        input.given_name.as_deref().unwrap_or("Test"),
        input.family_name.as_deref().unwrap_or("User"),
    );
    if let Some(date) = &input.membership_start_date {
        match Date::parse(date, format_description!("[year]-[month]-[day]")) {
            Ok(date) => user.membership_start_date = date,
            Err(e) => {
                return admin_api::error(
                    StatusCode::BAD_REQUEST,
                    format!("membership_start_date: {e}"),
                )
            }
        }
    }
    user.legacy_user_id = input.legacy_user_id;
    set_if_given(&mut user.sub, input.sub);
    set_if_given(&mut user.email, input.email);
    set_if_given(&mut user.time_zone, input.time_zone);
    set_if_given(&mut user.language_locale, input.language_locale);
    set_if_given(&mut user.sex, input.sex);
    user.age = input.age.unwrap_or(user.age);
    user.height_cm = input.height_cm.unwrap_or(user.height_cm);
    user.weight_kg = input.weight_kg.unwrap_or(user.weight_kg);
    user.metric = input.metric.unwrap_or(user.metric);
    user.pattern = input.pattern;
    sandbox.add_user(user.clone());
    admin_api::user_json::<GoogleHealthSandbox>(&user).into_response()
}

async fn tokens(AxumState(sandbox): Sandbox, Path(id): Path<String>) -> Response {
    Json(json!({ "issued": sandbox.tokens_issued(&id), "consented_scopes": sandbox.consented_scopes(&id) }))
        .into_response()
}

async fn record_day(
    AxumState(sandbox): Sandbox,
    Path(id): Path<String>,
    Json(day): Json<RecordedDay>,
) -> Response {
    sandbox.record_day(&id, day.clone());
    Json(day).into_response()
}

async fn delete_day(
    AxumState(sandbox): Sandbox,
    Path((id, date)): Path<(String, String)>,
) -> Response {
    match Date::parse(&date, format_description!("[year]-[month]-[day]")) {
        Ok(date) => {
            sandbox.delete_day(&id, date);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => admin_api::error(StatusCode::BAD_REQUEST, format!("date: {e}")),
    }
}

async fn record_sleep(
    AxumState(sandbox): Sandbox,
    Path(id): Path<String>,
    Json(sleep): Json<RecordedSleep>,
) -> Response {
    if sleep.end <= sleep.start {
        return admin_api::error(StatusCode::BAD_REQUEST, "end must be after start");
    }
    sandbox.record_sleep(&id, sleep.clone());
    Json(sleep).into_response()
}

async fn record_weight(
    AxumState(sandbox): Sandbox,
    Path(id): Path<String>,
    Json(weight): Json<RecordedWeight>,
) -> Response {
    sandbox.record_weight(&id, weight.clone());
    Json(weight).into_response()
}

async fn record_exercise(
    AxumState(sandbox): Sandbox,
    Path(id): Path<String>,
    Json(exercise): Json<RecordedExercise>,
) -> Response {
    if exercise.end <= exercise.start {
        return admin_api::error(StatusCode::BAD_REQUEST, "end must be after start");
    }
    sandbox.record_exercise(&id, exercise.clone());
    Json(exercise).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThrottleInput {
    secs: u64,
}

async fn throttle_user(
    AxumState(sandbox): Sandbox,
    Path(id): Path<String>,
    Json(input): Json<ThrottleInput>,
) -> Response {
    sandbox.throttle_user(&id, input.secs);
    Json(json!({ "health_user_id": id, "secs": input.secs })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitInput {
    per_user_per_minute: u32,
    per_project_per_minute: u32,
}

async fn set_rate_limits(
    AxumState(sandbox): Sandbox,
    Json(input): Json<RateLimitInput>,
) -> Response {
    sandbox.set_rate_limits(input.per_user_per_minute, input.per_project_per_minute);
    Json(json!({ "per_user_per_minute": input.per_user_per_minute, "per_project_per_minute": input.per_project_per_minute }))
        .into_response()
}

async fn notify(AxumState(sandbox): Sandbox, Json(request): Json<NotifyRequest>) -> Response {
    match sandbox.notify(request).await {
        Ok(deliveries) => Json(json!({ "deliveries": deliveries })).into_response(),
        Err(error @ NotifyError::Transport { .. }) => {
            admin_api::error(StatusCode::BAD_GATEWAY, error)
        }
        Err(error) => admin_api::error(StatusCode::BAD_REQUEST, error),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyInput {
    endpoint_uri: String,
    authorization: String,
}

async fn verify_endpoint(AxumState(sandbox): Sandbox, Json(input): Json<VerifyInput>) -> Response {
    Json(
        sandbox
            .verify_endpoint(&input.endpoint_uri, &input.authorization)
            .await,
    )
    .into_response()
}

async fn subscribers(AxumState(sandbox): Sandbox) -> Response {
    Json(json!({ "subscribers": sandbox.subscribers() })).into_response()
}

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ServiceAccountInput {
    /// Defaults to this sandbox's `/token` as the request reached it.
    token_uri: Option<String>,
}

async fn create_service_account(
    AxumState(sandbox): Sandbox,
    headers: HeaderMap,
    body: Option<Json<ServiceAccountInput>>,
) -> Response {
    let Json(input) = body.unwrap_or_default();
    let token_uri = input.token_uri.unwrap_or_else(|| {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        format!("http://{host}/token")
    });
    // RSA key generation takes a moment; keep it off the async workers.
    let key = tokio::task::spawn_blocking(move || sandbox.create_service_account(&token_uri))
        .await
        .expect("key generation task");
    Json(key).into_response()
}

async fn keys(AxumState(sandbox): Sandbox) -> Response {
    Json(json!({
        "keyset": sandbox.keyset_json(),
        "primary_key_id": sandbox.primary_key_id(),
        "keyset_fetches": sandbox.keyset_fetches(),
    }))
    .into_response()
}

async fn rotate_key(AxumState(sandbox): Sandbox) -> Response {
    Json(json!({ "primary_key_id": sandbox.rotate_key() })).into_response()
}

async fn retire_keys(AxumState(sandbox): Sandbox) -> Response {
    Json(json!({ "retired": sandbox.retire_old_keys() })).into_response()
}
