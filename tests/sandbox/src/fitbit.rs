//! Sandbox of the legacy Fitbit Web API (`www.fitbit.com/oauth2/...` and `api.fitbit.com`).
//!
//! It reproduces the behaviours integrations get wrong rather than the whole API (see
//! FACTS.md §0–1): PKCE authorization codes, single-use refresh tokens with Fitbit's grace
//! window for identical refresh requests, `expired_token` versus `invalid_token`, per-user
//! hourly rate limits and their headers, subscription conflicts, signed webhook
//! notifications, and the `410 Gone` every endpoint answers since the API was switched off.
//!
//! Data endpoints answer deterministic synthetic values per (user, day), so runs can be
//! compared, unless a test recorded activity for that day. Each user follows an activity
//! pattern (`weekday_runner`, `lapse` or `default`; see [`ActivityPattern`]), set with the
//! user (`"pattern"` in `POST /_admin/fitbit/users`, [`TestUser::with_pattern`]) or derived
//! from the id. A day's workouts are listed in `activities` of the daily summary (runs
//! ending 18:xx local on a weekday runner's weekdays, a workout on about 45 % of default
//! days, none while lapsed), counted in the tracker's totals (`loggedActivities` stays 0:
//! they were recorded on the device, not logged by hand), and listed only once they ended
//! by the sandbox clock.
//!
//! For the import pipeline's failure modes, the data API (not `/oauth2`) takes injected
//! faults ([`FitbitSandbox::inject_faults`]: latency, the next n requests failing in Fitbit's
//! error shape or with a raw answer such as a proxy's HTML page) and a
//! per-user forced rate limit that ends after real seconds ([`FitbitSandbox::throttle_user`]);
//! [`FitbitSandbox::data_calls`] counts the fetches a worker made.
//!
//! The sandbox never logs token or code values: tests assert that none of them reach the
//! logs, and in-process the sandbox shares the tests' tracing subscriber.

mod account;
mod admin;
mod api;
mod data;
mod error;
mod notify;
mod oauth;
mod recorded;
mod stats;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::routing::{any, get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::clock::SandboxClock;
use crate::counters;
use crate::faults::{self, FaultInjection, FaultTarget, Faults};
use crate::forced_throttles::ForcedThrottles;
pub use crate::synthetic::ActivityPattern;

pub use account::{Consent, TestUser};
pub use api::SubscriptionInfo;
pub use notify::{
    sign_notification, Notification, NotifyError, NotifyMode, NotifyRequest, VerifyOutcome,
};
pub use oauth::TokenGrant;
pub use recorded::RecordedActivity;
pub use stats::FitbitStats;

pub use crate::oauth2::pkce_s256;

/// Every OAuth 2.0 scope the Fitbit Web API knew; anything else is refused at authorization.
pub const KNOWN_SCOPES: [&str; 15] = [
    "activity",
    "cardio_fitness",
    "electrocardiogram",
    "heartrate",
    "irregular_rhythm_notifications",
    "location",
    "nutrition",
    "oxygen_saturation",
    "profile",
    "respiratory_rate",
    "settings",
    "sleep",
    "social",
    "temperature",
    "weight",
];

/// The user that exists in a fresh sandbox and consents by default. A weekday runner
/// (set explicitly, see [`ActivityPattern`]) who also walks 10,000 steps on Sundays, so the
/// window, streak and send-hour signals fire for them.
pub const DEFAULT_USER_ID: &str = "GGNJL9";

#[derive(Clone, Debug)]
pub struct FitbitConfig {
    pub client_id: String,
    pub client_secret: String,
    /// Registered redirect URIs (exact match). Empty accepts any absolute http(s) URI.
    pub redirect_uris: Vec<String>,
    pub rate_limit_per_hour: u32,
    /// Lifetime of access tokens; `expires_in` in token responses.
    pub access_token_lifetime_secs: i64,
    /// How long an identical refresh request is answered with the same response.
    pub refresh_grace_secs: i64,
    /// Where notifications and verification requests go unless an admin call names a URL.
    pub subscriber_url: Option<String>,
    pub subscriber_verification_code: Option<String>,
}

impl Default for FitbitConfig {
    fn default() -> Self {
        FitbitConfig {
            client_id: "23SBOX".to_owned(),
            client_secret: "sandbox-client-secret".to_owned(),
            redirect_uris: Vec::new(),
            rate_limit_per_hour: 150,
            access_token_lifetime_secs: 28_800,
            refresh_grace_secs: 120,
            subscriber_url: None,
            subscriber_verification_code: None,
        }
    }
}

/// The current access and refresh token of a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveTokens {
    pub access_token: String,
    pub refresh_token: String,
}

/// Active fault injection on the data API (`/1/user/...`, `/1.2/user/...`; not `/oauth2`).
/// A request with a valid token takes an injected failure after the rate limit (which it
/// counts against) and before the endpoint runs, and answers in Fitbit's error shape, or with
/// the configured raw answer as it is (without Fitbit's rate-limit headers).
pub type FitbitFaults = Faults;

/// A change to the fault injection (the body of `POST /_admin/fitbit/faults`); absent fields
/// keep their current value.
pub type FitbitFaultInjection = FaultInjection;

/// Per-user request count in the current clock hour.
#[derive(Clone, Copy, Debug)]
struct RateWindow {
    /// Hours since the Unix epoch.
    hour: i64,
    used: u32,
}

/// Everything mutable, behind one lock: token rotation, rate limiting and stats must
/// change together, and no handler awaits while holding it.
struct State {
    users: BTreeMap<String, TestUser>,
    consent: Consent,
    tokens: oauth::Tokens,
    activity: HashMap<(String, Date), RecordedActivity>,
    subscriptions: Vec<api::Subscription>,
    rate_windows: HashMap<String, RateWindow>,
    rate_limit_per_hour: u32,
    /// Users forced over their rate limit (real time, not the sandbox clock).
    throttles: ForcedThrottles,
    faults: FitbitFaults,
    subscriber_url: Option<String>,
    verification_code: Option<String>,
    gone: bool,
    clock: SandboxClock,
    stats: FitbitStats,
}

impl State {
    fn new(config: &FitbitConfig) -> State {
        let mut default_user = TestUser::new(DEFAULT_USER_ID, "Alex", "Sandbox");
        default_user.gender = "FEMALE".to_owned();
        default_user.height_cm = 168.0;
        default_user.weight_kg = 64.5;
        default_user.pattern = Some(ActivityPattern::WeekdayRunner);
        State {
            users: BTreeMap::from([(DEFAULT_USER_ID.to_owned(), default_user)]),
            consent: Consent::allow_all(DEFAULT_USER_ID),
            tokens: oauth::Tokens::default(),
            activity: HashMap::new(),
            subscriptions: Vec::new(),
            rate_windows: HashMap::new(),
            rate_limit_per_hour: config.rate_limit_per_hour,
            throttles: ForcedThrottles::default(),
            faults: FitbitFaults::default(),
            subscriber_url: config.subscriber_url.clone(),
            verification_code: config.subscriber_verification_code.clone(),
            gone: false,
            clock: SandboxClock::default(),
            stats: FitbitStats::default(),
        }
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Revokes every token of the user and removes their subscriptions, as Fitbit does when
    /// a user removes the app. False if the user never had a token.
    fn revoke_user(&mut self, user_id: &str) -> bool {
        let revoked = self.tokens.revoke_user(user_id);
        if revoked {
            counters::bump(&mut self.stats.revocations, user_id);
        }
        self.subscriptions.retain(|s| s.owner_id != user_id);
        revoked
    }

    /// Users that only appear in a consent or grant get a generated profile.
    fn ensure_user(&mut self, user_id: &str) {
        if !self.users.contains_key(user_id) {
            self.users
                .insert(user_id.to_owned(), TestUser::new(user_id, "Test", user_id));
        }
    }
}

/// The Fitbit sandbox: state plus the HTTP client that calls subscribers.
pub struct FitbitSandbox {
    config: FitbitConfig,
    state: Mutex<State>,
    http: reqwest::Client,
}

impl FitbitSandbox {
    pub fn new(config: FitbitConfig) -> Self {
        let state = Mutex::new(State::new(&config));
        // Fitbit gives subscribers 5 seconds; a slower answer counts as a failed delivery.
        let http = crate::subscriber_client(Duration::from_secs(5));
        FitbitSandbox {
            config,
            state,
            http,
        }
    }

    pub fn config(&self) -> &FitbitConfig {
        &self.config
    }

    /// A panicking test must not take the other tests' sandboxes (or later requests
    /// of its own) down with a poisoned lock.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Back to the state of a fresh sandbox (the configuration stays).
    pub fn reset(&self) {
        *self.lock() = State::new(&self.config);
    }

    /// Creates or replaces a user.
    pub fn add_user(&self, user: TestUser) {
        self.lock().users.insert(user.user_id.clone(), user);
    }

    pub fn user(&self, user_id: &str) -> Option<TestUser> {
        self.lock().users.get(user_id).cloned()
    }

    /// Sets how the next authorizations are answered. An unknown user is created with
    /// [`TestUser::new`] defaults.
    pub fn set_consent(&self, consent: Consent) {
        let mut st = self.lock();
        st.ensure_user(&consent.user_id);
        st.consent = consent;
    }

    /// Makes the user's current access token answer `401 expired_token` from now on,
    /// as if its 8 hours had passed. Returns false if the user has no active token.
    pub fn expire_access_token(&self, user_id: &str) -> bool {
        self.lock().tokens.expire_active(user_id)
    }

    /// Switches every Fitbit endpoint (OAuth included, the admin API excluded) to
    /// `410 Gone`, as the real API answers since 2026-11-02.
    pub fn set_gone(&self, gone: bool) {
        self.lock().gone = gone;
    }

    fn is_gone(&self) -> bool {
        self.lock().gone
    }

    pub fn set_rate_limit(&self, per_hour: u32) {
        self.lock().rate_limit_per_hour = per_hour;
    }

    /// Replaces the subscriber endpoint and verification code from the configuration;
    /// tests usually only know the subscriber URL after the sandbox started.
    pub fn set_subscriber(&self, url: Option<String>, verification_code: Option<String>) {
        let mut st = self.lock();
        st.subscriber_url = url;
        st.verification_code = verification_code;
    }

    /// Sets the sandbox clock to `at`, from where it runs on (in-process tests on a set
    /// date: the synthetic people's "today" follows it).
    pub fn set_clock(&self, at: OffsetDateTime) {
        self.lock().clock.set(at);
    }

    /// Moves the sandbox clock forward (token and code expiry, grace windows, the
    /// rate-limit hour).
    pub fn advance_clock(&self, secs: i64) {
        self.lock().clock.advance(secs);
    }

    /// Issues a token pair as if the user had just completed the authorization flow with
    /// `scopes` (replacing the user's active pair), without counting a token request.
    pub fn grant_tokens(&self, user_id: &str, scopes: &[&str]) -> TokenGrant {
        let mut st = self.lock();
        st.ensure_user(user_id);
        let now = st.now();
        let scopes: BTreeSet<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        let lifetime = self.config.access_token_lifetime_secs;
        st.tokens
            .issue_pair(&self.config, user_id, scopes, lifetime, now)
    }

    /// Revokes every token of the user, as if they removed the app in their Fitbit account.
    /// Returns false if the user never had a token.
    ///
    /// From then on every API call with the user's tokens answers `401 invalid_token`
    /// (subscription deletes included), refreshing answers `400 invalid_grant` (grace-window
    /// replays included), and the user's subscriptions are gone, as Fitbit removes them.
    pub fn revoke_user(&self, user_id: &str) -> bool {
        self.lock().revoke_user(user_id)
    }

    /// Every access and refresh token ever issued to the user, oldest first.
    pub fn tokens_issued(&self, user_id: &str) -> Vec<String> {
        self.lock().tokens.issued_to(user_id)
    }

    /// The user's one valid token pair, if any.
    pub fn active_tokens(&self, user_id: &str) -> Option<ActiveTokens> {
        self.lock().tokens.active_pair(user_id)
    }

    /// The user's current subscriptions, in creation order.
    pub fn subscriptions(&self, user_id: &str) -> Vec<SubscriptionInfo> {
        let st = self.lock();
        st.subscriptions
            .iter()
            .filter(|s| s.owner_id == user_id)
            .map(api::Subscription::info)
            .collect()
    }

    /// The user's data fetches so far (activities, sleep, weight; see
    /// [`FitbitStats::data_calls_of`]).
    pub fn data_calls(&self, user_id: &str) -> u64 {
        self.lock().stats.data_calls_of(user_id)
    }

    faults::fault_injection_methods!();

    /// Forces the user over the rate limit right now: every API call with their tokens
    /// answers `429 request_throttled` with `Fitbit-Rate-Limit-Remaining: 0` and
    /// `Fitbit-Rate-Limit-Reset`/`Retry-After` counting down the seconds left (rounded up),
    /// until `reset_secs` of real time have passed (not the sandbox clock: tests wait for it).
    /// Then the user starts with a fresh hourly quota.
    pub fn throttle_user(&self, user_id: &str, reset_secs: u64) {
        self.lock()
            .throttles
            .force(user_id, Duration::from_secs(reset_secs));
    }

    /// Ends a forced rate limit early (the hourly quota is left as it is).
    pub fn unthrottle_user(&self, user_id: &str) {
        self.lock().throttles.lift(user_id);
    }

    pub fn stats(&self) -> FitbitStats {
        let st = self.lock();
        let mut stats = st.stats.clone();
        for sub in &st.subscriptions {
            stats
                .subscriptions
                .entry(sub.owner_id.clone())
                .or_default()
                .push(sub.collection_type().to_owned());
        }
        for types in stats.subscriptions.values_mut() {
            types.sort();
        }
        stats
    }
}

impl FaultTarget for FitbitSandbox {
    fn with_faults<R>(&self, f: impl FnOnce(&mut Faults) -> R) -> R {
        f(&mut self.lock().faults)
    }
}

/// The Fitbit routes (www.fitbit.com and api.fitbit.com paths) and the admin API under
/// `/_admin/fitbit/`. Sets no fallback, so it merges with the other sandboxes.
pub fn router(state: Arc<FitbitSandbox>) -> Router {
    let fitbit = Router::new()
        .route("/oauth2/authorize", get(oauth::authorize))
        .route(
            "/oauth2/token",
            post(crate::oauth2::token_endpoint::<FitbitSandbox>),
        )
        .route("/oauth2/revoke", post(oauth::revoke))
        .route("/1/user/{*rest}", any(api::handle))
        .route("/1.2/user/{*rest}", any(api::handle))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            error::gone_guard,
        ));
    fitbit.merge(admin::router()).with_state(state)
}
