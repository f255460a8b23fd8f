//! The admin API under `/_admin/fitbit/` (JSON in and out; never affected by gone mode),
//! and the outbound side of subscriptions: notifications and subscriber verification.

use std::fmt;
use std::sync::Arc;

use axum::extract::{Path, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha1::Sha1;
use url::Url;

use super::{
    ActivityPattern, Consent, FitbitSandbox, FitbitStats, RecordedActivity, State, TestUser,
    TokenGrant,
};
use crate::admin_api::{self, set_if_given, AdminTarget};
use crate::faults;

/// `X-Fitbit-Signature`: base64(HMAC-SHA1(key = client secret + "&", raw body)).
pub fn sign_notification(client_secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{client_secret}&").as_bytes())
        .expect("HMAC accepts any key length");
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// One element of a notification body, in Fitbit's field order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// `activities`, `body`, `foods`, `sleep`, `userRevokedAccess`, `deleteUser`, ...
    pub collection_type: String,
    /// Sent as given, so tests can send odd dates.
    pub date: String,
    pub owner_id: String,
    #[serde(default = "default_owner_type")]
    pub owner_type: String,
    /// If absent, the owner's matching subscription's id is filled in (the collection's,
    /// else the all-collections one, else any of the owner's); left out if there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
}

fn default_owner_type() -> String {
    "user".to_owned()
}

impl Notification {
    pub fn new(collection_type: &str, date: &str, owner_id: &str) -> Notification {
        Notification {
            collection_type: collection_type.to_owned(),
            date: date.to_owned(),
            owner_id: owner_id.to_owned(),
            owner_type: default_owner_type(),
            subscription_id: None,
        }
    }
}

/// How notifications are packed into POSTs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyMode {
    /// One POST with all notifications.
    #[default]
    Array,
    /// One POST per notification, each a one-element array.
    Single,
    /// One POST listing every notification twice (an all-collections subscription beside
    /// a collection one).
    Duplicated,
    /// The same POST twice (a redelivery).
    Repeated,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotifyRequest {
    /// Defaults to the configured subscriber.
    pub subscriber_url: Option<String>,
    pub notifications: Vec<Notification>,
    pub mode: NotifyMode,
    /// Sign with a wrong key.
    pub bad_signature: bool,
    /// Send no `X-Fitbit-Signature` at all.
    pub omit_signature: bool,
    /// Send this body instead of the notifications (still signed), e.g. malformed JSON.
    pub raw_body: Option<String>,
    /// Send exactly this `X-Fitbit-Signature` value (overrides `bad_signature` and
    /// `omit_signature`), e.g. a URL-encoded or truncated form of the right one.
    pub signature: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyOutcome {
    /// Status for `?verify=<the right code>`; Fitbit expects 204.
    pub correct_code_status: u16,
    /// Status for `?verify=<a wrong code>`; Fitbit expects 404.
    pub wrong_code_status: u16,
    pub verified: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotifyError {
    /// Neither the request nor the configuration names a subscriber URL.
    NoSubscriber,
    NoVerificationCode,
    InvalidUrl(String),
    /// Connection failure or no answer within Fitbit's 5 seconds.
    Transport(String),
}

impl fmt::Display for NotifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotifyError::NoSubscriber => f.write_str("no subscriber URL configured or given"),
            NotifyError::NoVerificationCode => {
                f.write_str("no subscriber verification code configured or given")
            }
            NotifyError::InvalidUrl(e) => write!(f, "invalid subscriber URL: {e}"),
            NotifyError::Transport(e) => write!(f, "subscriber call failed: {e}"),
        }
    }
}

impl std::error::Error for NotifyError {}

impl State {
    /// The id Fitbit would put into a notification for this owner and collection.
    fn subscription_id_for(&self, owner_id: &str, collection_type: &str) -> Option<String> {
        let owned = || self.subscriptions.iter().filter(|s| s.owner_id == owner_id);
        owned()
            .find(|s| s.collection_type() == collection_type)
            .or_else(|| owned().find(|s| s.collection.is_none()))
            .or_else(|| owned().next())
            .map(|s| s.subscription_id.clone())
    }
}

fn to_body(notifications: &[&Notification]) -> String {
    serde_json::to_string(notifications).expect("notifications serialize")
}

impl FitbitSandbox {
    /// POSTs notifications to the subscriber, signed like Fitbit's, and returns the
    /// subscriber's status code for each POST.
    pub async fn deliver_notifications(
        &self,
        request: NotifyRequest,
    ) -> Result<Vec<u16>, NotifyError> {
        let (url, bodies) = {
            let st = self.lock();
            let url = request
                .subscriber_url
                .clone()
                .or_else(|| st.subscriber_url.clone())
                .ok_or(NotifyError::NoSubscriber)?;
            let notifications: Vec<Notification> = request
                .notifications
                .iter()
                .cloned()
                .map(|mut n| {
                    if n.subscription_id.is_none() {
                        n.subscription_id = st.subscription_id_for(&n.owner_id, &n.collection_type);
                    }
                    n
                })
                .collect();
            let all: Vec<&Notification> = notifications.iter().collect();
            let bodies = match (&request.raw_body, request.mode) {
                (Some(raw), NotifyMode::Repeated) => vec![raw.clone(), raw.clone()],
                (Some(raw), _) => vec![raw.clone()],
                (None, NotifyMode::Array) => vec![to_body(&all)],
                (None, NotifyMode::Single) => all.iter().map(|n| to_body(&[n])).collect(),
                (None, NotifyMode::Duplicated) => vec![to_body(
                    &all.iter().flat_map(|n| [*n, *n]).collect::<Vec<_>>(),
                )],
                (None, NotifyMode::Repeated) => vec![to_body(&all), to_body(&all)],
            };
            (url, bodies)
        };
        Url::parse(&url).map_err(|e| NotifyError::InvalidUrl(e.to_string()))?;
        let key = if request.bad_signature {
            format!("{}-not-the-secret", self.config.client_secret)
        } else {
            self.config.client_secret.clone()
        };
        let mut statuses = Vec::with_capacity(bodies.len());
        for body in bodies {
            let mut post = self
                .http
                .post(&url)
                .header("content-type", "application/json");
            if let Some(signature) = &request.signature {
                post = post.header("X-Fitbit-Signature", signature);
            } else if !request.omit_signature {
                post = post.header(
                    "X-Fitbit-Signature",
                    sign_notification(&key, body.as_bytes()),
                );
            }
            let response = post
                .body(body)
                .send()
                .await
                .map_err(|e| NotifyError::Transport(e.to_string()))?;
            self.lock().stats.notifications_sent += 1;
            statuses.push(response.status().as_u16());
        }
        tracing::debug!(?statuses, "fitbit sandbox: notifications delivered");
        Ok(statuses)
    }

    /// Fitbit's subscriber verification: `GET <url>?verify=<right code>`, then with a wrong
    /// code. The subscriber passes with 204 and 404.
    pub async fn verify_subscriber(
        &self,
        subscriber_url: Option<String>,
        verification_code: Option<String>,
    ) -> Result<VerifyOutcome, NotifyError> {
        let (url, code) = {
            let st = self.lock();
            let url = subscriber_url
                .or_else(|| st.subscriber_url.clone())
                .ok_or(NotifyError::NoSubscriber)?;
            let code = verification_code
                .or_else(|| st.verification_code.clone())
                .ok_or(NotifyError::NoVerificationCode)?;
            (url, code)
        };
        let correct_code_status = self.verify_request(&url, &code).await?;
        let wrong_code_status = self.verify_request(&url, &crate::random::hex(32)).await?;
        Ok(VerifyOutcome {
            correct_code_status,
            wrong_code_status,
            verified: correct_code_status == 204 && wrong_code_status == 404,
        })
    }

    async fn verify_request(&self, url: &str, code: &str) -> Result<u16, NotifyError> {
        let mut url = Url::parse(url).map_err(|e| NotifyError::InvalidUrl(e.to_string()))?;
        url.query_pairs_mut().append_pair("verify", code);
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| NotifyError::Transport(e.to_string()))?;
        Ok(response.status().as_u16())
    }
}

pub(super) fn router() -> Router<Arc<FitbitSandbox>> {
    Router::new()
        .route("/_admin/fitbit/users", post(add_user))
        .route(
            "/_admin/fitbit/users/{id}",
            get(admin_api::get_user::<FitbitSandbox>),
        )
        .route(
            "/_admin/fitbit/users/{id}/expire-token",
            post(admin_api::expire_token::<FitbitSandbox>),
        )
        .route("/_admin/fitbit/users/{id}/activity", post(record_activity))
        .route(
            "/_admin/fitbit/users/{id}/tokens",
            get(tokens).post(admin_api::grant_tokens::<FitbitSandbox>),
        )
        .route(
            "/_admin/fitbit/users/{id}/revoke",
            post(admin_api::revoke_user::<FitbitSandbox>),
        )
        .route(
            "/_admin/fitbit/users/{id}/throttle",
            post(throttle_user).delete(admin_api::unthrottle_user::<FitbitSandbox>),
        )
        .route(
            "/_admin/fitbit/users/{id}/data-calls",
            get(admin_api::data_calls::<FitbitSandbox>),
        )
        .route("/_admin/fitbit/faults", faults::admin_route())
        .route(
            "/_admin/fitbit/users/{id}/subscriptions",
            get(subscriptions),
        )
        .route(
            "/_admin/fitbit/consent",
            post(admin_api::set_consent::<FitbitSandbox>),
        )
        .route("/_admin/fitbit/notify", post(notify))
        .route("/_admin/fitbit/verify-subscriber", post(verify_subscriber))
        .route("/_admin/fitbit/subscriber", post(set_subscriber))
        .route("/_admin/fitbit/gone", post(set_gone))
        .route("/_admin/fitbit/rate-limit", post(set_rate_limit))
        .route(
            "/_admin/fitbit/clock",
            post(admin_api::advance_clock::<FitbitSandbox>),
        )
        .route(
            "/_admin/fitbit/stats",
            get(admin_api::stats::<FitbitSandbox>),
        )
        .route(
            "/_admin/fitbit/reset",
            post(admin_api::reset::<FitbitSandbox>),
        )
}

impl AdminTarget for FitbitSandbox {
    const USER_ID_FIELD: &'static str = "user_id";
    const LIVE_TOKEN: &'static str = "active";

    type User = TestUser;
    type Consent = Consent;
    type Grant = TokenGrant;
    type Stats = FitbitStats;

    fn user(&self, user_id: &str) -> Option<TestUser> {
        FitbitSandbox::user(self, user_id)
    }

    fn activity_pattern(user: &TestUser) -> ActivityPattern {
        user.activity_pattern()
    }

    fn set_consent(&self, consent: &Consent) {
        FitbitSandbox::set_consent(self, consent.clone());
    }

    fn expire_access_token(&self, user_id: &str) -> bool {
        FitbitSandbox::expire_access_token(self, user_id)
    }

    fn revoke_user(&self, user_id: &str) -> bool {
        FitbitSandbox::revoke_user(self, user_id)
    }

    fn grant_tokens(&self, user_id: &str, scopes: &[&str]) -> TokenGrant {
        FitbitSandbox::grant_tokens(self, user_id, scopes)
    }

    fn unthrottle_user(&self, user_id: &str) {
        FitbitSandbox::unthrottle_user(self, user_id);
    }

    fn data_calls(&self, user_id: &str) -> u64 {
        FitbitSandbox::data_calls(self, user_id)
    }

    fn advance_clock(&self, secs: i64) {
        FitbitSandbox::advance_clock(self, secs);
    }

    fn stats(&self) -> FitbitStats {
        FitbitSandbox::stats(self)
    }

    fn reset(&self) {
        FitbitSandbox::reset(self);
    }
}

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
