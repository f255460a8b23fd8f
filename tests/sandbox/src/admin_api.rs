//! What the provider sandboxes' admin APIs (`/_admin/fitbit/...`,
//! `/_admin/google-health/...`, `/_admin/polar/...`) share: their conventions, and the
//! operations all offer (users, consent, tokens, faults, the clock, stats, reset), served by
//! [`shared_routes`] for any [`AdminTarget`]; and ending a user's forced throttle, served by
//! [`user_throttle_routes`] for the providers whose quotas are per user ([`UserThrottles`]:
//! Fitbit, Google; Polar's quota is the partner's).
//!
//! Invariants:
//! - A refused admin request answers a 4xx or 5xx status with `{"error": "<message>"}`.
//! - Dates in admin JSON are `yyyy-MM-dd`.
//! - A user in admin JSON carries the activity pattern in force (`pattern`), whether set on
//!   the account or derived from its ids.
//! - A shared operation has the same path under the provider's prefix and answers the same
//!   JSON at both providers, except for the key that names the user
//!   ([`AdminTarget::USER_ID_FIELD`]).

use std::fmt;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::faults::{self, FaultTarget};
use crate::synthetic::ActivityPattern;

/// A refused admin request.
pub(crate) fn error(status: StatusCode, message: impl fmt::Display) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

/// Replaces `field` with the admin request's value, if it gave one.
pub(crate) fn set_if_given(field: &mut String, value: Option<String>) {
    if let Some(value) = value {
        *field = value;
    }
}

/// A provider sandbox as the shared admin handlers drive it. The methods are the sandbox's
/// public ones of the same names ([`admin_target`] forwards them).
pub(crate) trait AdminTarget: Send + Sync + 'static {
    /// The key that names a user in admin JSON (`user_id`, `health_user_id`).
    const USER_ID_FIELD: &'static str;
    /// What the provider's access tokens are while they count, in the 404 of
    /// `expire-token` ("active", "live").
    const LIVE_TOKEN: &'static str;

    type User: Serialize;
    type Consent: Serialize + DeserializeOwned + Clone + Send + 'static;
    type Grant: Serialize;
    type Stats: Serialize;

    fn user(&self, user_id: &str) -> Option<Self::User>;
    fn activity_pattern(user: &Self::User) -> ActivityPattern;
    fn set_consent(&self, consent: Self::Consent);
    fn expire_access_token(&self, user_id: &str) -> bool;
    fn revoke_user(&self, user_id: &str) -> bool;
    fn grant_tokens(&self, user_id: &str, scopes: &[&str]) -> Self::Grant;
    fn data_calls(&self, user_id: &str) -> u64;
    fn advance_clock(&self, secs: i64);
    fn stats(&self) -> Self::Stats;
    fn reset(&self);
}

/// Implements [`AdminTarget`] for a sandbox type by forwarding every operation to the
/// sandbox's public method of the same name, so the admin API does exactly what the methods
/// do. Forwarding rather than moving the methods into the trait keeps them callable without
/// importing a trait, as tests in other crates call them.
macro_rules! admin_target {
    ($sandbox:ty {
        user_id_field: $user_id_field:literal,
        live_token: $live_token:literal,
        user: $user:ty,
        consent: $consent:ty,
        grant: $grant:ty,
        stats: $stats:ty $(,)?
    }) => {
        impl $crate::admin_api::AdminTarget for $sandbox {
            const USER_ID_FIELD: &'static str = $user_id_field;
            const LIVE_TOKEN: &'static str = $live_token;

            type User = $user;
            type Consent = $consent;
            type Grant = $grant;
            type Stats = $stats;

            fn user(&self, user_id: &str) -> Option<$user> {
                <$sandbox>::user(self, user_id)
            }

            fn activity_pattern(user: &$user) -> $crate::synthetic::ActivityPattern {
                user.activity_pattern()
            }

            fn set_consent(&self, consent: $consent) {
                <$sandbox>::set_consent(self, consent)
            }

            fn expire_access_token(&self, user_id: &str) -> bool {
                <$sandbox>::expire_access_token(self, user_id)
            }

            fn revoke_user(&self, user_id: &str) -> bool {
                <$sandbox>::revoke_user(self, user_id)
            }

            fn grant_tokens(&self, user_id: &str, scopes: &[&str]) -> $grant {
                <$sandbox>::grant_tokens(self, user_id, scopes)
            }

            fn data_calls(&self, user_id: &str) -> u64 {
                <$sandbox>::data_calls(self, user_id)
            }

            fn advance_clock(&self, secs: i64) {
                <$sandbox>::advance_clock(self, secs)
            }

            fn stats(&self) -> $stats {
                <$sandbox>::stats(self)
            }

            fn reset(&self) {
                <$sandbox>::reset(self)
            }
        }
    };
}
pub(crate) use admin_target;

/// A provider sandbox whose quotas are per user, so that a test forces one user over theirs.
/// The method is the sandbox's public one of the same name ([`user_throttles`] forwards it).
pub(crate) trait UserThrottles: Send + Sync + 'static {
    fn unthrottle_user(&self, user_id: &str);
}

/// Implements [`UserThrottles`] for a sandbox type by forwarding to its public method, as
/// [`admin_target`] does.
macro_rules! user_throttles {
    ($sandbox:ty) => {
        impl $crate::admin_api::UserThrottles for $sandbox {
            fn unthrottle_user(&self, user_id: &str) {
                <$sandbox>::unthrottle_user(self, user_id)
            }
        }
    };
}
pub(crate) use user_throttles;

/// The shared operations' routes under `prefix` (e.g. `/_admin/fitbit`). A provider's own
/// router adds its other methods on the same paths (`GET users/{id}/tokens`,
/// `POST users/{id}/throttle`), whose answers differ between providers.
pub(crate) fn shared_routes<S: AdminTarget + FaultTarget>(prefix: &str) -> Router<Arc<S>> {
    let user = |rest: &str| format!("{prefix}/users/{{id}}{rest}");
    Router::new()
        .route(&user(""), get(get_user::<S>))
        .route(&format!("{prefix}/consent"), post(set_consent::<S>))
        .route(&user("/expire-token"), post(expire_token::<S>))
        .route(&user("/revoke"), post(revoke_user::<S>))
        .route(&user("/tokens"), post(grant_tokens::<S>))
        .route(&user("/data-calls"), get(data_calls::<S>))
        .route(&format!("{prefix}/faults"), faults::admin_route())
        .route(&format!("{prefix}/clock"), post(advance_clock::<S>))
        .route(&format!("{prefix}/stats"), get(stats::<S>))
        .route(&format!("{prefix}/reset"), post(reset::<S>))
}

/// `DELETE users/{id}/throttle` under `prefix`, for providers with per-user quotas. Their
/// own router adds `POST` on the same path.
pub(crate) fn user_throttle_routes<S: UserThrottles>(prefix: &str) -> Router<Arc<S>> {
    Router::new().route(
        &format!("{prefix}/users/{{id}}/throttle"),
        delete(unthrottle_user::<S>),
    )
}

type Sandbox<S> = State<Arc<S>>;

/// The user as stored, with the pattern in force (`pattern`) whether set or derived.
pub(crate) fn user_json<S: AdminTarget>(user: &S::User) -> Json<Value> {
    let mut value = serde_json::to_value(user).expect("users serialize");
    value["pattern"] = json!(S::activity_pattern(user));
    Json(value)
}

/// `GET users/{id}`.
async fn get_user<S: AdminTarget>(State(sandbox): Sandbox<S>, Path(id): Path<String>) -> Response {
    match sandbox.user(&id) {
        Some(user) => user_json::<S>(&user).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no user {id}")),
    }
}

/// `POST consent`: answers the consent as set.
async fn set_consent<S: AdminTarget>(
    State(sandbox): Sandbox<S>,
    Json(consent): Json<S::Consent>,
) -> Response {
    sandbox.set_consent(consent.clone());
    Json(consent).into_response()
}

/// `POST users/{id}/expire-token`.
async fn expire_token<S: AdminTarget>(
    State(sandbox): Sandbox<S>,
    Path(id): Path<String>,
) -> Response {
    if sandbox.expire_access_token(&id) {
        Json(json!({ "expired": true })).into_response()
    } else {
        error(
            StatusCode::NOT_FOUND,
            format!("user {id} has no {} access token", S::LIVE_TOKEN),
        )
    }
}

/// `POST users/{id}/revoke`: whether the user had a token to revoke.
async fn revoke_user<S: AdminTarget>(
    State(sandbox): Sandbox<S>,
    Path(id): Path<String>,
) -> Response {
    Json(json!({ "revoked": sandbox.revoke_user(&id) })).into_response()
}

#[derive(Deserialize)]
struct GrantInput {
    scopes: Vec<String>,
}

/// `POST users/{id}/tokens`: a grant as if the user had authorized the app for `scopes`.
async fn grant_tokens<S: AdminTarget>(
    State(sandbox): Sandbox<S>,
    Path(id): Path<String>,
    Json(input): Json<GrantInput>,
) -> Response {
    let scopes: Vec<&str> = input.scopes.iter().map(String::as_str).collect();
    Json(sandbox.grant_tokens(&id, &scopes)).into_response()
}

/// `DELETE users/{id}/throttle`.
async fn unthrottle_user<S: UserThrottles>(
    State(sandbox): Sandbox<S>,
    Path(id): Path<String>,
) -> Response {
    sandbox.unthrottle_user(&id);
    StatusCode::NO_CONTENT.into_response()
}

/// `GET users/{id}/data-calls`.
async fn data_calls<S: AdminTarget>(
    State(sandbox): Sandbox<S>,
    Path(id): Path<String>,
) -> Response {
    Json(json!({ S::USER_ID_FIELD: id, "data_calls": sandbox.data_calls(&id) })).into_response()
}

#[derive(Deserialize)]
struct ClockInput {
    advance_secs: i64,
}

/// `POST clock`: moves the sandbox clock forward.
async fn advance_clock<S: AdminTarget>(
    State(sandbox): Sandbox<S>,
    Json(input): Json<ClockInput>,
) -> Response {
    sandbox.advance_clock(input.advance_secs);
    Json(json!({ "advanced_secs": input.advance_secs })).into_response()
}

/// `GET stats`.
async fn stats<S: AdminTarget>(State(sandbox): Sandbox<S>) -> Response {
    Json(sandbox.stats()).into_response()
}

/// `POST reset`: back to a fresh sandbox.
async fn reset<S: AdminTarget>(State(sandbox): Sandbox<S>) -> Response {
    sandbox.reset();
    Json(json!({})).into_response()
}

/// `yyyy-MM-dd` (de)serialization of [`time::Date`].
pub(crate) mod iso_date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::macros::format_description;
    use time::Date;

    pub fn serialize<S: Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(date)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
        let text = String::deserialize(deserializer)?;
        Date::parse(&text, format_description!("[year]-[month]-[day]"))
            .map_err(serde::de::Error::custom)
    }
}

/// `yyyy-MM-dd` or `null` for `Option<Date>`.
pub(crate) mod iso_date_opt {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::macros::format_description;
    use time::Date;

    pub fn serialize<S: Serializer>(date: &Option<Date>, serializer: S) -> Result<S::Ok, S::Error> {
        match date {
            Some(date) => serializer.collect_str(date),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Date>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| {
                Date::parse(&text, format_description!("[year]-[month]-[day]"))
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}
