//! The admin API under `/_admin/polar/` (JSON in and out), on the shared admin kernel
//! ([`crate::admin_api`]), mirroring the methods of [`PolarSandbox`].

use std::sync::Arc;

use axum::extract::{Path, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use time::macros::format_description;
use time::Date;

use super::{
    ActivityPattern, Consent, NotifyError, NotifyRequest, PolarSandbox, PolarStats, PolarUser,
    RateLimits, RecordedActivity, TokenGrant,
};
use crate::admin_api::{self, set_if_given};

const PREFIX: &str = "/_admin/polar";

pub(super) fn router() -> Router<Arc<PolarSandbox>> {
    let path = |rest: &str| format!("{PREFIX}{rest}");
    Router::new()
        .route(&path("/users"), post(add_user))
        .route(&path("/users/{id}/tokens"), get(tokens))
        .route(
            &path("/users/{id}/mandatory-consents"),
            post(set_mandatory_consents),
        )
        .route(
            &path("/users/{id}/registration"),
            post(register).delete(deregister),
        )
        .route(&path("/users/{id}/connect"), post(connect))
        .route(&path("/users/{id}/days"), post(record_day))
        .route(&path("/users/{id}/days/{date}"), delete(delete_day))
        .route(&path("/throttle"), post(throttle).delete(unthrottle))
        .route(&path("/rate-limits"), post(set_rate_limits))
        .route(&path("/webhook"), get(webhook))
        .route(&path("/notify"), post(notify))
        .route(&path("/deliveries"), get(deliveries))
        .merge(admin_api::shared_routes::<PolarSandbox>(PREFIX))
}

admin_api::admin_target!(PolarSandbox {
    user_id_field: "polar_user_id",
    live_token: "live",
    user: PolarUser,
    consent: Consent,
    grant: TokenGrant,
    stats: PolarStats,
});

type Sandbox = AxumState<Arc<PolarSandbox>>;

fn parse_date(text: &str) -> Result<Date, String> {
    Date::parse(text, format_description!("[year]-[month]-[day]"))
        .map_err(|e| format!("date {text}: {e}"))
}

/// A person as the admin API takes them: only `polar_user_id` is required.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserInput {
    polar_user_id: String,
    first_name: Option<String>,
    last_name: Option<String>,
    birthdate: Option<String>,
    gender: Option<String>,
    weight_kg: Option<f64>,
    height_cm: Option<f64>,
    timezone: Option<String>,
    member_since: Option<String>,
    mandatory_consents_accepted: Option<bool>,
    /// `weekday_runner`, `lapse` or `default`; absent: derived from the id.
    pattern: Option<ActivityPattern>,
    /// Registers the person to the partner with this member id.
    member_id: Option<String>,
}

async fn add_user(AxumState(sandbox): Sandbox, Json(input): Json<UserInput>) -> Response {
    let id = &input.polar_user_id;
    if id.is_empty() || id.len() > 19 || !id.chars().all(|c| c.is_ascii_digit()) {
        return admin_api::error(
            StatusCode::BAD_REQUEST,
            "polar_user_id must be a number, like 2278517",
        );
    }
    let mut user = PolarUser::new(
        id,
        input.first_name.as_deref().unwrap_or("Test"),
        input.last_name.as_deref().unwrap_or("User"),
    );
    set_if_given(&mut user.birthdate, input.birthdate);
    set_if_given(&mut user.gender, input.gender);
    set_if_given(&mut user.timezone, input.timezone);
    if let Some(since) = input.member_since {
        if let Err(problem) = parse_date(&since) {
            return admin_api::error(StatusCode::BAD_REQUEST, problem);
        }
        user.member_since = since;
    }
    user.weight_kg = input.weight_kg.unwrap_or(user.weight_kg);
    user.height_cm = input.height_cm.unwrap_or(user.height_cm);
    user.mandatory_consents_accepted = input.mandatory_consents_accepted.unwrap_or(true);
    user.pattern = input.pattern;
    sandbox.add_user(user);
    if let Some(member_id) = input.member_id {
        sandbox.register(id, &member_id);
    }
    let user = sandbox.user(id).expect("just added");
    admin_api::user_json::<PolarSandbox>(&user).into_response()
}

async fn tokens(AxumState(sandbox): Sandbox, Path(id): Path<String>) -> Response {
    Json(json!({ "issued": sandbox.tokens_issued(&id) })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentsInput {
    accepted: bool,
}

async fn set_mandatory_consents(
    AxumState(sandbox): Sandbox,
    Path(id): Path<String>,
    Json(input): Json<ConsentsInput>,
) -> Response {
    sandbox.set_mandatory_consents(&id, input.accepted);
    Json(json!({ "polar_user_id": id, "accepted": input.accepted })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberInput {
    member_id: String,
}

async fn register(
    AxumState(sandbox): Sandbox,
    Path(id): Path<String>,
    Json(input): Json<MemberInput>,
) -> Response {
    sandbox.register(&id, &input.member_id);
    Json(json!({ "polar_user_id": id, "registration": sandbox.user(&id).and_then(|u| u.registration) }))
        .into_response()
}

async fn deregister(AxumState(sandbox): Sandbox, Path(id): Path<String>) -> Response {
    Json(json!({ "deregistered": sandbox.deregister(&id) })).into_response()
}

async fn connect(
    AxumState(sandbox): Sandbox,
    Path(id): Path<String>,
    Json(input): Json<MemberInput>,
) -> Response {
    Json(sandbox.connect(&id, &input.member_id)).into_response()
}

async fn record_day(
    AxumState(sandbox): Sandbox,
    Path(id): Path<String>,
    Json(day): Json<RecordedActivity>,
) -> Response {
    sandbox.record_activity(&id, day.clone());
    Json(day).into_response()
}

async fn delete_day(
    AxumState(sandbox): Sandbox,
    Path((id, date)): Path<(String, String)>,
) -> Response {
    match parse_date(&date) {
        Ok(date) => {
            sandbox.delete_day(&id, date);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(problem) => admin_api::error(StatusCode::BAD_REQUEST, problem),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThrottleInput {
    secs: u64,
}

async fn throttle(AxumState(sandbox): Sandbox, Json(input): Json<ThrottleInput>) -> Response {
    sandbox.throttle(input.secs);
    Json(json!({ "secs": input.secs })).into_response()
}

async fn unthrottle(AxumState(sandbox): Sandbox) -> Response {
    sandbox.unthrottle();
    StatusCode::NO_CONTENT.into_response()
}

async fn set_rate_limits(AxumState(sandbox): Sandbox, Json(limits): Json<RateLimits>) -> Response {
    sandbox.set_rate_limits(limits);
    Json(limits).into_response()
}

async fn webhook(AxumState(sandbox): Sandbox) -> Response {
    Json(json!({ "webhook": sandbox.webhook() })).into_response()
}

async fn notify(AxumState(sandbox): Sandbox, Json(request): Json<NotifyRequest>) -> Response {
    match sandbox.notify(request).await {
        Ok(deliveries) => Json(json!({ "deliveries": deliveries })).into_response(),
        Err(error) => {
            let status = match error {
                NotifyError::MissingEvent
                | NotifyError::InvalidUrl(_)
                | NotifyError::NoSigningKey => StatusCode::BAD_REQUEST,
                _ => StatusCode::CONFLICT,
            };
            admin_api::error(status, error)
        }
    }
}

async fn deliveries(AxumState(sandbox): Sandbox) -> Response {
    Json(json!({ "deliveries": sandbox.deliveries() })).into_response()
}
