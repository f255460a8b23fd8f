//! Sandbox of the Polar AccessLink API v3 (`www.polaraccesslink.com`) and of Polar's OAuth 2.0
//! endpoints (`flow.polar.com`, `polarremote.com`), against the vendored documentation page
//! (`tests/contracts/polar-accesslink/`, FACTS.md §6).
//!
//! Paths (one server for every sandbox; none collides with Fitbit's `/oauth2/authorize`,
//! `/oauth2/token`, `/1`, `/1.2`, Google's `/o/oauth2`, `/token`, `/v4` or SAP's `/sap`, so
//! Polar's own paths are served as they are):
//!
//! | path | real endpoint |
//! |---|---|
//! | `GET /oauth2/authorization` | `https://flow.polar.com/oauth2/authorization` |
//! | `POST /v2/oauth2/token` | `https://polarremote.com/v2/oauth2/token` |
//! | `/v3/...` (the methods in [`SERVED_ENDPOINTS`]) | `https://www.polaraccesslink.com/v3/...` |
//! | `/_admin/polar/...` | the sandbox's admin API |
//!
//! It reproduces what sets Polar apart from Fitbit and Google, and so tests the provider seam:
//! the code flow without PKCE or refresh tokens (access tokens live about a year and die only
//! when revoked; a code redeemed twice deletes the token it issued), the partner's
//! registration of each person (`POST /v3/users` with a `member-id`, 409 when repeated;
//! `DELETE` de-registers and revokes), Polar's mandatory consents (403), rate limits per
//! partner in a 15-minute and a 24-hour window that grow with the registered people, with
//! `RateLimit-Usage`/`-Limit`/`-Reset` on every answer, and one webhook per client
//! application, created with a `PING` before anyone holds its signing key, signed with
//! hex HMAC-SHA256, and deactivated after seven days without a successful delivery.
//!
//! Data answers are deterministic synthetic values per (person, day), unless a test recorded
//! or deleted a day. Each person follows an activity pattern ([`ActivityPattern`]: set with
//! the person, else derived from the Polar user id): a weekday runner's weekday exercise is
//! a run ending 18:xx local time, counted in the day's steps; a lapsing person hardly moves in
//! the last ten days. Exercises are listed once uploaded (a few minutes after they end by the
//! sandbox clock), only after the person's registration and for 30 days.
//!
//! The `/v3` API takes injected faults ([`PolarSandbox::inject_faults`]) and a forced
//! partner-wide 429 ([`PolarSandbox::throttle`]). The sandbox never logs token, code or key
//! values.
//!
//! # Documented versus assumed
//!
//! Documented by the page: the endpoints and parameters, the schemas (field names and
//! types, checked by [`contract::validate`]), 204 for a day without activity, 400 for a date
//! older than 365 days, 403 for missing mandatory consents, 404 for a night without sleep,
//! 409 for a repeated registration, the token answer (`expires_in` 31535999, `x_user_id`),
//! `Basic` client credentials for `/v3/webhooks` and bearer tokens for the rest, the rate
//! limit formulas and headers, the webhook `PING` that must answer 200 on create, URL change
//! and activation (not on a change of events only), the `Polar-Webhook-Event` and
//! `Polar-Webhook-Signature` headers, and "a code used more than once ... ALL issued tokens
//! will be deleted".
//!
//! Assumed (the page does not say; change here if Polar behaves otherwise):
//! - "ALL issued tokens" of a replayed code are the tokens issued for that code; the
//!   person's other grants stay valid. A new grant does not revoke an older token.
//! - Token endpoint errors are all `400 {"error": "..."}` (the page lists only 200 and 400),
//!   `invalid_client` included.
//! - A data call for a person not registered to the partner answers 403 (errorType
//!   `UserNotRegistered`; missing mandatory consents are `MandatoryConsentsMissing` and are
//!   checked first); a user id other than the token's answers 403.
//! - Registration bodies may be JSON or XML whatever their `Content-Type`; answers are always
//!   JSON (the page also offers XML answers, which the sandbox does not).
//! - Documented endpoints the sandbox does not simulate (pull notifications, the deprecated
//!   transactions, continuous heart rate, cardio load, SleepWise, Elixir, nightly recharge,
//!   physical info, FIT/TCX/GPX) answer 501; other unknown `/v3` paths 404.
//! - The `RateLimit-*` values are written `short, long`; both windows start with the first
//!   request after the last reset; every authenticated `/v3` request counts in both windows,
//!   refused ones included; the limits follow the registered people at once (Polar updates
//!   them daily); no `Retry-After`.
//! - A failed delivery is not retried. Seven days (of the sandbox clock) after the first
//!   failure following the last success, the webhook is deactivated the next time anyone
//!   looks at it (an API call, a delivery, the admin API). A failed activation `PING`
//!   answers 400; Polar calls the webhook with no timeout the page names (the sandbox gives
//!   it 10 seconds).
//! - Activity `start_time`/`end_time` are the local day's bounds without offset, as in the
//!   page's examples (its property table says UTC).

pub mod contract;

mod account;
mod admin;
mod api;
mod data;
mod error;
mod notify;
mod oauth;
mod rate_limit;
mod reads;
mod recorded;
mod stats;
#[cfg(test)]
mod tests;
mod users;
mod webhooks;
mod wire;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::routing::{any, get, post};
use axum::Router;
use time::{Date, OffsetDateTime};

use crate::clock::SandboxClock;
use crate::faults::{self, FaultInjection, FaultTarget, Faults};
use crate::forced_throttles::ForcedThrottles;
pub use crate::synthetic::ActivityPattern;

pub use account::{Consent, PolarUser, Registration};
pub use api::SERVED_ENDPOINTS;
pub use notify::{sign_payload, DeliveryRecord, NotifyError, NotifyRequest};
pub use rate_limit::RateLimits;
pub use recorded::RecordedActivity;
pub use stats::PolarStats;
pub use webhooks::WebhookState;
pub use wire::{
    ActivitySummary, ErrorBody, Exercise, Sleep, TokenGrant, UserInfo, WebhookEvent, WebhookPayload,
};

/// The one scope AccessLink knows.
pub const SCOPE: &str = "accesslink.read_all";

/// The person that exists in a fresh sandbox and consents by default: a weekday runner (set
/// explicitly) who walks 10,000 steps on Sundays, as the other sandboxes' default people.
/// The id is a neighbour of the page's example user's (`2278512`, who would not walk on
/// Sundays).
pub const DEFAULT_USER_ID: &str = "2278517";

/// `expires_in` of Polar's access tokens: "about one year" (the page's example value).
pub const ACCESS_TOKEN_LIFETIME_SECS: i64 = 31_535_999;

#[derive(Clone, Debug)]
pub struct PolarConfig {
    pub client_id: String,
    pub client_secret: String,
    /// The client's redirect URLs; the first is the default used when an authorize request
    /// names none. Empty accepts any absolute http(s) URL the request names.
    pub redirect_uris: Vec<String>,
    pub access_token_lifetime_secs: i64,
    pub rate_limits: RateLimits,
    /// Where the `url`s of webhook payloads and the `polar_user` links point (no trailing
    /// slash); `None`: this sandbox's own base URL, set when the server starts.
    pub public_base_url: Option<String>,
}

impl Default for PolarConfig {
    fn default() -> Self {
        PolarConfig {
            client_id: "d52d533a-3c71-4141-aea6-3402519678aa".to_owned(),
            client_secret: "polar-sandbox-client-secret".to_owned(),
            redirect_uris: Vec::new(),
            access_token_lifetime_secs: ACCESS_TOKEN_LIFETIME_SECS,
            rate_limits: RateLimits::default(),
            public_base_url: None,
        }
    }
}

/// Active fault injection on the `/v3` API (not OAuth). An authenticated request takes an
/// injected failure after the rate limit, before consents, registration and the endpoint,
/// and answers in Polar's error shape (with the rate-limit headers), or with the configured
/// raw answer as it is.
pub type PolarFaults = Faults;

/// A change to the fault injection (the body of `POST /_admin/polar/faults`).
pub type PolarFaultInjection = FaultInjection;

/// Everything mutable, behind one lock; no handler awaits while holding it.
struct State {
    users: BTreeMap<String, PolarUser>,
    consent: Consent,
    tokens: oauth::Tokens,
    activity: BTreeMap<(String, Date), RecordedActivity>,
    /// Days a test emptied: no activity, sleep or exercise.
    deleted: HashSet<(String, Date)>,
    quota: rate_limit::PartnerQuota,
    rate_limits: RateLimits,
    /// The partner forced over its limits (keyed by client id; real time).
    throttles: ForcedThrottles,
    faults: PolarFaults,
    webhook: Option<webhooks::Webhook>,
    deliveries: Vec<DeliveryRecord>,
    base_url: String,
    clock: SandboxClock,
    stats: PolarStats,
}

impl State {
    fn new(config: &PolarConfig, base_url: String) -> State {
        let mut user = PolarUser::new(DEFAULT_USER_ID, "Alex", "Sandbox");
        user.gender = "FEMALE".to_owned();
        user.height_cm = 168.0;
        user.weight_kg = 64.5;
        user.pattern = Some(ActivityPattern::WeekdayRunner);
        State {
            users: BTreeMap::from([(DEFAULT_USER_ID.to_owned(), user)]),
            consent: Consent::allow(DEFAULT_USER_ID),
            tokens: oauth::Tokens::default(),
            activity: BTreeMap::new(),
            deleted: HashSet::new(),
            quota: rate_limit::PartnerQuota::default(),
            rate_limits: config.rate_limits,
            throttles: ForcedThrottles::default(),
            faults: PolarFaults::default(),
            webhook: None,
            deliveries: Vec::new(),
            base_url,
            clock: SandboxClock::default(),
            stats: PolarStats::default(),
        }
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// People that only appear in a consent or grant get a generated profile.
    fn ensure_user(&mut self, user_id: &str) {
        if !self.users.contains_key(user_id) {
            self.users
                .insert(user_id.to_owned(), PolarUser::new(user_id, "Test", user_id));
        }
    }

    fn registered_people(&self) -> u32 {
        let n = self
            .users
            .values()
            .filter(|u| u.registration.is_some())
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Revokes every token of the person; false if they never had one.
    fn revoke_user(&mut self, user_id: &str) -> bool {
        let revoked = self.tokens.revoke_user(user_id);
        if revoked {
            crate::counters::bump(&mut self.stats.revocations, user_id);
        }
        revoked
    }

    /// The link Polar puts in `polar_user` fields.
    fn user_link(&self, user_id: &str) -> String {
        format!("{}/v3/users/{user_id}", self.base_url)
    }
}

/// The Polar sandbox: state plus the HTTP client that calls the webhook.
pub struct PolarSandbox {
    config: PolarConfig,
    state: Mutex<State>,
    http: reqwest::Client,
}

impl PolarSandbox {
    pub fn new(config: PolarConfig) -> Self {
        let base_url = config
            .public_base_url
            .clone()
            .unwrap_or_else(|| "https://www.polaraccesslink.com".to_owned());
        let state = Mutex::new(State::new(&config, base_url));
        // Polar names no timeout for webhook deliveries; a slower answer counts as failed.
        let http = crate::subscriber_client(Duration::from_secs(10));
        PolarSandbox {
            config,
            state,
            http,
        }
    }

    pub fn config(&self) -> &PolarConfig {
        &self.config
    }

    /// A panicking test must not take other requests down with a poisoned lock.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Points payload URLs and `polar_user` links at `base_url` unless the configuration
    /// names a public base URL (the server calls this with its own address).
    pub(crate) fn serve_at(&self, base_url: &str) {
        if self.config.public_base_url.is_none() {
            self.lock().base_url = base_url.trim_end_matches('/').to_owned();
        }
    }

    /// The base URL of payload URLs and `polar_user` links (no trailing slash).
    pub fn public_base_url(&self) -> String {
        self.lock().base_url.clone()
    }

    /// Back to the state of a fresh sandbox (the configuration and base URL stay).
    pub fn reset(&self) {
        let mut st = self.lock();
        let base_url = st.base_url.clone();
        *st = State::new(&self.config, base_url);
    }

    /// Creates or replaces a person (their registration with it).
    pub fn add_user(&self, user: PolarUser) {
        self.lock().users.insert(user.polar_user_id.clone(), user);
    }

    pub fn user(&self, polar_user_id: &str) -> Option<PolarUser> {
        self.lock().users.get(polar_user_id).cloned()
    }

    /// Sets how the next authorizations are answered. An unknown person is created with
    /// [`PolarUser::new`] defaults.
    pub fn set_consent(&self, consent: Consent) {
        let mut st = self.lock();
        st.ensure_user(&consent.polar_user_id);
        st.consent = consent;
    }

    /// Whether the person accepted Polar's mandatory consents (at account.polar.com). Without
    /// them, registration, user information and every data call answer 403.
    pub fn set_mandatory_consents(&self, polar_user_id: &str, accepted: bool) {
        let mut st = self.lock();
        st.ensure_user(polar_user_id);
        if let Some(user) = st.users.get_mut(polar_user_id) {
            user.mandatory_consents_accepted = accepted;
        }
    }

    /// Makes the person's live access tokens answer 401 from now on, as if their year had
    /// passed. False if they had none.
    pub fn expire_access_token(&self, polar_user_id: &str) -> bool {
        let mut st = self.lock();
        let now = st.now();
        st.tokens.expire_live(polar_user_id, now)
    }

    /// Revokes every token of the person, as if they removed the partner in Polar Flow;
    /// their registration stays. False if they never had a token.
    pub fn revoke_user(&self, polar_user_id: &str) -> bool {
        self.lock().revoke_user(polar_user_id)
    }

    /// Issues an access token as if the person had just authorized the partner, without
    /// counting a token request. `scopes` is ignored: AccessLink has one scope.
    pub fn grant_tokens(&self, polar_user_id: &str, _scopes: &[&str]) -> TokenGrant {
        let mut st = self.lock();
        st.ensure_user(polar_user_id);
        let now = st.now();
        st.tokens.issue(&self.config, polar_user_id, None, now)
    }

    /// Every access token ever issued to the person, oldest first.
    pub fn tokens_issued(&self, polar_user_id: &str) -> Vec<String> {
        self.lock().tokens.issued_to(polar_user_id)
    }

    /// Grants a token and registers the person with `member_id`, as a partner does after
    /// the authorization flow (`POST /v3/users`), without counting requests. Replaces an
    /// earlier registration.
    pub fn connect(&self, polar_user_id: &str, member_id: &str) -> TokenGrant {
        let grant = self.grant_tokens(polar_user_id, &[SCOPE]);
        self.register(polar_user_id, member_id);
        grant
    }

    /// Registers the person to the partner with `member_id` (replacing an earlier
    /// registration), without a request.
    pub fn register(&self, polar_user_id: &str, member_id: &str) {
        let mut st = self.lock();
        st.ensure_user(polar_user_id);
        let now = st.now();
        if let Some(user) = st.users.get_mut(polar_user_id) {
            user.registration = Some(Registration::new(member_id, now));
        }
    }

    /// Ends the person's registration and revokes their tokens, as `DELETE /v3/users/{id}`
    /// does. False if they were not registered.
    pub fn deregister(&self, polar_user_id: &str) -> bool {
        let mut st = self.lock();
        st.revoke_user(polar_user_id);
        st.users
            .get_mut(polar_user_id)
            .and_then(|u| u.registration.take())
            .is_some()
    }

    /// Sets the sandbox clock to `at`, from where it runs on.
    pub fn set_clock(&self, at: OffsetDateTime) {
        self.lock().clock.set(at);
    }

    /// Moves the sandbox clock forward (code expiry, rate windows, the webhook's seven days,
    /// the people's "today").
    pub fn advance_clock(&self, secs: i64) {
        self.lock().clock.advance(secs);
    }

    /// The sandbox clock's now.
    pub fn now(&self) -> OffsetDateTime {
        self.lock().now()
    }

    pub fn set_rate_limits(&self, limits: RateLimits) {
        self.lock().rate_limits = limits;
    }

    /// Forces the partner over its limits: every authenticated `/v3` call answers 429 with
    /// the short window's usage at its limit and its reset counting down the seconds left,
    /// until `secs` of real time have passed (not the sandbox clock: tests wait for it). Then
    /// both windows start afresh.
    pub fn throttle(&self, secs: u64) {
        let client_id = self.config.client_id.clone();
        self.lock()
            .throttles
            .force(&client_id, Duration::from_secs(secs));
    }

    /// Ends a forced throttle early (the windows' usage is left as it is).
    pub fn unthrottle(&self) {
        self.lock().throttles.lift(&self.config.client_id);
    }

    faults::fault_injection_methods!();

    /// The person's data fetches so far (see [`PolarStats::data_calls_of`]).
    pub fn data_calls(&self, polar_user_id: &str) -> u64 {
        self.lock().stats.data_calls_of(polar_user_id)
    }

    pub fn stats(&self) -> PolarStats {
        self.lock().stats.clone()
    }

    /// Every webhook POST so far (pings, events, raw bodies), oldest first.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.lock().deliveries.clone()
    }
}

impl FaultTarget for PolarSandbox {
    fn with_faults<R>(&self, f: impl FnOnce(&mut Faults) -> R) -> R {
        f(&mut self.lock().faults)
    }
}

/// The Polar routes (flow.polar.com, polarremote.com and www.polaraccesslink.com paths) and
/// the admin API under `/_admin/polar/`. Sets no fallback, so it merges with the others.
pub fn router(state: Arc<PolarSandbox>) -> Router {
    Router::new()
        .route("/oauth2/authorization", get(oauth::authorize))
        .route(
            "/v2/oauth2/token",
            post(crate::oauth2::token_endpoint::<PolarSandbox>),
        )
        .route("/v3/{*rest}", any(api::handle))
        .merge(admin::router())
        .with_state(state)
}
