//! The admin API under `/_admin/fitbit/` (JSON in and out; never affected by gone mode),
//! on the shared admin kernel ([`crate::admin_api`]).

use std::sync::Arc;

use axum::extract::{Path, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::notify::{NotifyError, NotifyRequest};
use super::{
    ActivityPattern, Consent, FitbitSandbox, FitbitStats, RecordedActivity, TestUser, TokenGrant,
};
use crate::admin_api::{self, set_if_given};

pub(super) fn router() -> Router<Arc<FitbitSandbox>> {
    Router::new()
        .route("/_admin/fitbit/users", post(add_user))
        .route("/_admin/fitbit/users/{id}/activity", post(record_activity))
        .route("/_admin/fitbit/users/{id}/tokens", get(tokens))
        .route("/_admin/fitbit/users/{id}/throttle", post(throttle_user))
        .route(
            "/_admin/fitbit/users/{id}/subscriptions",
            get(subscriptions),
        )
        .route("/_admin/fitbit/notify", post(notify))
        .route("/_admin/fitbit/verify-subscriber", post(verify_subscriber))
        .route("/_admin/fitbit/subscriber", post(set_subscriber))
        .route("/_admin/fitbit/gone", post(set_gone))
        .route("/_admin/fitbit/rate-limit", post(set_rate_limit))
        .merge(admin_api::shared_routes::<FitbitSandbox>("/_admin/fitbit"))
        .merge(admin_api::user_throttle_routes::<FitbitSandbox>(
            "/_admin/fitbit",
        ))
}

admin_api::admin_target!(FitbitSandbox {
    user_id_field: "user_id",
    live_token: "active",
    user: TestUser,
    consent: Consent,
    grant: TokenGrant,
    stats: FitbitStats,
});
admin_api::user_throttles!(FitbitSandbox);

type Sandbox = AxumState<Arc<FitbitSandbox>>;

fn notify_error_status(error: &NotifyError) -> StatusCode {
    match error {
        NotifyError::Transport(_) => StatusCode::BAD_GATEWAY,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// A user as the admin API takes it: only `user_id` is required.
#[derive(Deserialize)]
struct UserInput {
    user_id: String,
    display_name: Option<String>,
    full_name: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    gender: Option<String>,
    date_of_birth: Option<String>,
    timezone: Option<String>,
    locale: Option<String>,
    country: Option<String>,
    member_since: Option<String>,
    height_cm: Option<f64>,
    weight_kg: Option<f64>,
    /// `weekday_runner`, `lapse` or `default`; absent: derived from the id.
    pattern: Option<ActivityPattern>,
}

async fn add_user(AxumState(sandbox): Sandbox, Json(input): Json<UserInput>) -> Response {
    if input.user_id.is_empty() || !input.user_id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return admin_api::error(
            StatusCode::BAD_REQUEST,
            "user_id must be non-empty and alphanumeric, like GGNJL9",
        );
    }
    let mut user = TestUser::new(
        &input.user_id,
        input.first_name.as_deref().unwrap_or("Test"),
        input.last_name.as_deref().unwrap_or("User"),
    );
    set_if_given(&mut user.display_name, input.display_name);
    set_if_given(&mut user.full_name, input.full_name);
    set_if_given(&mut user.gender, input.gender);
    set_if_given(&mut user.date_of_birth, input.date_of_birth);
    set_if_given(&mut user.timezone, input.timezone);
    set_if_given(&mut user.locale, input.locale);
    set_if_given(&mut user.country, input.country);
    set_if_given(&mut user.member_since, input.member_since);
    user.height_cm = input.height_cm.unwrap_or(user.height_cm);
    user.weight_kg = input.weight_kg.unwrap_or(user.weight_kg);
    user.pattern = input.pattern;
    sandbox.add_user(user.clone());
    admin_api::user_json::<FitbitSandbox>(&user).into_response()
}

async fn record_activity(
    AxumState(sandbox): Sandbox,
    Path(id): Path<String>,
    Json(activity): Json<RecordedActivity>,
) -> Response {
    sandbox.record_activity(&id, activity.clone());
    Json(activity).into_response()
}

async fn tokens(AxumState(sandbox): Sandbox, Path(id): Path<String>) -> Response {
    Json(json!({ "issued": sandbox.tokens_issued(&id), "active": sandbox.active_tokens(&id) }))
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThrottleInput {
    reset_secs: u64,
}

async fn throttle_user(
    AxumState(sandbox): Sandbox,
    Path(id): Path<String>,
    Json(input): Json<ThrottleInput>,
) -> Response {
    sandbox.throttle_user(&id, input.reset_secs);
    Json(json!({ "user_id": id, "reset_secs": input.reset_secs })).into_response()
}

async fn subscriptions(AxumState(sandbox): Sandbox, Path(id): Path<String>) -> Response {
    Json(json!({ "apiSubscriptions": sandbox.subscriptions(&id) })).into_response()
}

async fn notify(AxumState(sandbox): Sandbox, Json(request): Json<NotifyRequest>) -> Response {
    match sandbox.deliver_notifications(request).await {
        Ok(statuses) => Json(json!({ "statuses": statuses })).into_response(),
        Err(error) => admin_api::error(notify_error_status(&error), error),
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct VerifyInput {
    subscriber_url: Option<String>,
    verification_code: Option<String>,
}

async fn verify_subscriber(
    AxumState(sandbox): Sandbox,
    body: Option<Json<VerifyInput>>,
) -> Response {
    let Json(input) = body.unwrap_or_default();
    match sandbox
        .verify_subscriber(input.subscriber_url, input.verification_code)
        .await
    {
        Ok(outcome) => Json(outcome).into_response(),
        Err(error) => admin_api::error(notify_error_status(&error), error),
    }
}

async fn set_subscriber(AxumState(sandbox): Sandbox, Json(input): Json<VerifyInput>) -> Response {
    sandbox.set_subscriber(
        input.subscriber_url.clone(),
        input.verification_code.clone(),
    );
    Json(json!({ "subscriber_url": input.subscriber_url, "verification_code": input.verification_code }))
        .into_response()
}

#[derive(Deserialize)]
struct GoneInput {
    enabled: bool,
}

async fn set_gone(AxumState(sandbox): Sandbox, Json(input): Json<GoneInput>) -> Response {
    sandbox.set_gone(input.enabled);
    Json(json!({ "enabled": input.enabled })).into_response()
}

#[derive(Deserialize)]
struct RateLimitInput {
    per_hour: u32,
}

async fn set_rate_limit(
    AxumState(sandbox): Sandbox,
    Json(input): Json<RateLimitInput>,
) -> Response {
    sandbox.set_rate_limit(input.per_hour);
    Json(json!({ "per_hour": input.per_hour })).into_response()
}
