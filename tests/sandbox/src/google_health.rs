//! Sandbox of the Google Health API v4 (`health.googleapis.com`) and of the Google OAuth 2.0
//! endpoints fitbridge uses (`accounts.google.com`, `oauth2.googleapis.com`,
//! `openidconnect.googleapis.com`).
//!
//! Paths (one server for every sandbox, so none collides with Fitbit's `/oauth2`, `/1`,
//! `/1.2` or SAP's `/sap`):
//!
//! | path | real endpoint |
//! |---|---|
//! | `GET /o/oauth2/v2/auth` | `https://accounts.google.com/o/oauth2/v2/auth` |
//! | `POST /token`, `POST /revoke` | `https://oauth2.googleapis.com/token`, `/revoke` |
//! | `GET /v1/userinfo` | `https://openidconnect.googleapis.com/v1/userinfo` |
//! | `/v4/...` (every method of the discovery document) | `https://health.googleapis.com/v4/...` |
//! | `GET /google-health/webhook-keyset.json` | the webhook public keyset (Tink JSON) |
//! | `/_admin/google-health/...` | the sandbox's admin API |
//!
//! It reproduces the behaviours integrations get wrong (FACTS.md §0 and §2): PKCE-only
//! authorization codes, `access_type=offline` and `prompt=consent` deciding whether a refresh
//! token comes back, partial (granular) consent, reusable refresh tokens that die after
//! 7 days in the "Testing" publishing status, `invalid_grant` after revocation, 1-hour access
//! tokens, Google's error shapes, int64 values as JSON strings, civil dates and `"-25200s"`
//! offsets, newest-first paging, the 14/90-day roll-up limits, the 300 requests per user
//! per minute quota (429 without `Retry-After`), subscribers managed by a service account
//! (JWT bearer grant) with Google's two-probe endpoint verification, and webhook
//! notifications signed with ECDSA P-256 in Tink's format against a served, rotating keyset.
//!
//! Every `/v4` request is matched against the vendored discovery document
//! ([`mod@discovery`]): unknown paths, query parameters and body fields are refused as Google
//! refuses them, and [`validate_response`] checks answers against the response schemas.
//!
//! Data answers are deterministic synthetic values per (user, day), seeded from the ids, so
//! runs can be compared, unless a test recorded or deleted data for that day. Every synthetic
//! night spans midnight (around 23:10 to 07:05 local time); some days have a nap, a workout
//! or a weigh-in. There is no data before the user's membership start or after "now".
//! Each person follows an activity pattern (`weekday_runner`, `lapse` or `default`; see
//! [`ActivityPattern`]), set with the person (`"pattern"` in
//! `POST /_admin/google-health/users`, [`GoogleUser::with_pattern`]) or derived from their
//! legacy Fitbit id, else their health id: a weekday runner's weekday exercise is a run
//! ending 18:xx local time, counted in the day's steps, distance and active zone minutes;
//! a lapsing person has neither steps to speak of nor exercise in the last ten days.
//!
//! For the import pipeline's failure modes the `/v4` API (not OAuth) takes injected faults
//! ([`GoogleHealthSandbox::inject_faults`]: latency, the next n requests failing in Google's
//! error shape or with a raw answer such as a proxy's HTML page) and a per-user
//! forced 429 ([`GoogleHealthSandbox::throttle_user`]).
//!
//! The sandbox never logs token, code, assertion or secret values: tests assert that none of
//! them reach the logs, and in-process the sandbox shares the tests' tracing subscriber.
//!
//! # Documented versus assumed
//!
//! Documented, with sources:
//! - Discovery document (revision 20261030, `tests/contracts/google-health/`): every path,
//!   parameter and schema; no `operations.get`; roll-up limits (14 days for total-calories,
//!   heart-rate, active-minutes, calories-in-heart-rate-zone, else 90) and page sizes
//!   (daily roll-up 14/90; list 25 for sleep and exercise, else 1440 up to 10000); filter
//!   fields per data type (sleep only by end time, with `OR`; other sessions by civil start
//!   time; samples by physical or civil sample time); list order newest first (by start);
//!   the two verification probes (201 with the `Authorization` secret, 401/403 without) on
//!   create and on a patch of `endpointUri`/`endpointAuthorization`; `secretSet` instead of
//!   the secret; `force` for deleting a subscriber with subscriptions.
//! - developers.google.com/health/webhooks (copy of 2026-05) and FACTS.md §2: the
//!   notification body (`data.version`, `clientProvidedSubscriptionName` — a random UUID
//!   for AUTOMATIC subscriptions, the subscription id for MANUAL ones — `healthUserId`,
//!   `operation` UPSERT/DELETE, `dataType`, `intervals[]` with `physicalTimeInterval`,
//!   `civilDateTimeInterval{startDateTime,endDateTime}`, `civilIso8601TimeInterval`); the
//!   `Authorization` secret on every notification; notifications only for consented
//!   scopes; the verifier's user agent `Google-Health-API-Webhooks-Verifier`; a
//!   `subscriberConfigs` patch replaces the list; `GOOGLE-HEALTH-API-SIGNATURE` (older
//!   `X-HEALTHAPI-SIGNATURE`) carrying base64(0x01 ‖ key id ‖ DER ECDSA P-256) over the raw
//!   body, keys in a Tink JSON keyset; 300 requests per user and 120,000 per project per
//!   minute, no documented `Retry-After`.
//! - Google OAuth (FACTS.md §2; developers.google.com/identity/protocols/oauth2): one-hour
//!   access tokens, refresh tokens only with `access_type=offline` (again with
//!   `prompt=consent`), reusable refresh tokens, 7-day refresh tokens in "Testing" status,
//!   `invalid_grant` for dead ones, RFC 6749 errors; service accounts
//!   (developers.google.com/identity/protocols/oauth2/service-account): RS256 assertion
//!   with `iss`, `scope`, `aud` = the token URI, `exp` at most one hour after `iat`.
//! - Tink (`proto/ecdsa.proto`, `proto/common.proto`, `proto/tink.proto`): the keyset and
//!   `EcdsaPublicKey` encoding (see `keys.rs`).
//!
//! Assumed (not stated by those sources; change here if Google behaves otherwise):
//! - Operations are answered finished (`done: true`) with the resource (or
//!   `google.protobuf.Empty`) inline in `response`, or with `error` (code 9,
//!   FAILED_PRECONDITION) when verification fails. The webhooks guide says the call itself
//!   fails with FAILED_PRECONDITION; [`GoogleHealthConfig::verification_failure_as_http_error`]
//!   switches to that.
//! - The guide accepts 200 or 201 for the authorized probe, the discovery document only 201;
//!   the sandbox requires 201 unless [`GoogleHealthConfig::lenient_verification`].
//! - Proto3 JSON conventions: zero values and empty lists are left out (an empty list answer
//!   is `{}`), midnight is `"time": {}`, timestamps are Z-normalized.
//! - Roll-up windows come oldest first; a window without data carries only its civil times.
//! - Rate limits use a sliding 60-second window (per-second buckets on the sandbox clock),
//!   charged before contract validation.
//! - A refresh token also comes back when the consent screen shows for new scopes; sign-in
//!   scopes (`openid`, `email`, `profile`) cannot be unticked in granular consent; the
//!   `scope` answer uses the long forms of `email` and `profile`
//!   (`https://www.googleapis.com/auth/userinfo.email`), as Google's token endpoint does.
//! - Google's wording of errors: "Token has been expired or revoked.", "Bad Request" (used
//!   code), "Malformed auth code.", "Invalid code verifier.", "Invalid JWT Signature.",
//!   "Request had insufficient authentication scopes." (403 with `ErrorInfo` reason
//!   `ACCESS_TOKEN_SCOPE_INSUFFICIENT`), quota 429s with reason `RATE_LIMIT_EXCEEDED`;
//!   unknown URLs answer Google's HTML 404 page; `/revoke` answers 400 `invalid_token` for
//!   dead tokens and `{}` on success.
//! - The id_token is a well-formed JWT whose RS256 signature is zero bytes: clients that
//!   receive it straight from the token endpoint over TLS may skip verification (OpenID
//!   Connect Core §3.1.3.7); the sandbox does not serve Google's JWKS.
//! - Tokens look like Google's (`ya29.…`, `1//0…`, `4/0…`) and are opaque.
//! - Subscribers' project: `projects/{project_id}` and `projects/{project_number}` both
//!   name the configured project; only its service accounts may manage subscribers.
//! - Methods of the document the sandbox does not simulate (writes, `rollUp`, `reconcile`,
//!   `get`, paired devices, SMART Health Links, ...) answer `501 UNIMPLEMENTED`; data types
//!   it does not simulate answer empty lists and roll-ups (with only write scopes, so do
//!   the simulated ones: the caller reads only what it wrote).

mod account;
mod admin;
mod api;
mod data;
mod data_types;
pub mod discovery;
mod error;
mod filter;
mod keys;
mod notify;
mod oauth;
mod recorded;
mod stats;
mod subscribers;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::routing::{any, get, post};
use axum::Router;
use time::{Date, OffsetDateTime};

use crate::clock::SandboxClock;
use crate::counters;
use crate::faults::{self, FaultInjection, FaultTarget, Faults};
use crate::forced_throttles::ForcedThrottles;
pub use crate::synthetic::ActivityPattern;

pub use account::{Consent, GoogleUser};
pub use discovery::{discovery, validate_response, Discovery};
pub use keys::{parse_signature_header, TINK_ECDSA_PUBLIC_KEY_TYPE_URL};
pub use notify::{
    Delivery, NotificationInterval, NotificationOperation, NotifyError, NotifyMode, NotifyRequest,
};
pub use oauth::{ServiceAccountKey, TokenGrant, GOOGLE_TOKEN_URI};
use recorded::DataKind;
pub use recorded::{RecordedDay, RecordedExercise, RecordedSleep, RecordedStage, RecordedWeight};
pub use stats::GoogleHealthStats;
pub use subscribers::VerificationOutcome;

pub use crate::oauth2::pkce_s256;

/// OAuth scopes, as Google names them.
pub mod scopes {
    pub const ACTIVITY_AND_FITNESS: &str =
        "https://www.googleapis.com/auth/googlehealth.activity_and_fitness.readonly";
    pub const SLEEP: &str = "https://www.googleapis.com/auth/googlehealth.sleep.readonly";
    pub const HEALTH_METRICS: &str =
        "https://www.googleapis.com/auth/googlehealth.health_metrics_and_measurements.readonly";
    pub const PROFILE: &str = "https://www.googleapis.com/auth/googlehealth.profile.readonly";
    pub const SETTINGS: &str = "https://www.googleapis.com/auth/googlehealth.settings.readonly";
    pub const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
    pub const OPENID: &str = "openid";
    /// `email` in requests; Google answers with this long form.
    pub const USERINFO_EMAIL: &str = "https://www.googleapis.com/auth/userinfo.email";
    /// `profile` in requests; Google answers with this long form.
    pub const USERINFO_PROFILE: &str = "https://www.googleapis.com/auth/userinfo.profile";
}

/// The person that exists in a fresh sandbox and consents by default: a migrated Fitbit
/// user (legacy id `GGNJL9`, the Fitbit sandbox's default user), a weekday runner as there
/// (set explicitly) who also walks 10,000 steps on Sundays.
pub const DEFAULT_HEALTH_USER_ID: &str = "4417291730955318562";
pub const DEFAULT_LEGACY_USER_ID: &str = "GGNJL9";

#[derive(Clone, Debug)]
pub struct GoogleHealthConfig {
    pub client_id: String,
    pub client_secret: String,
    /// Registered redirect URIs (exact match). Empty accepts any absolute http(s) URI.
    pub redirect_uris: Vec<String>,
    /// `expires_in` of access tokens (Google sends 3599).
    pub access_token_lifetime_secs: i64,
    /// The app is in the "Testing" publishing status: refresh tokens die
    /// `testing_refresh_token_lifetime_secs` after they were issued.
    pub testing_mode: bool,
    pub testing_refresh_token_lifetime_secs: i64,
    pub rate_limit_per_user_per_minute: u32,
    pub rate_limit_per_project_per_minute: u32,
    /// The Google Cloud project of the app (subscribers live under
    /// `projects/{project_id or project_number}`).
    pub project_id: String,
    pub project_number: String,
    /// Refuse `http://` subscriber endpoints, as Google does (tests use http).
    pub require_https_endpoints: bool,
    /// Answer a failed endpoint verification with HTTP 400 FAILED_PRECONDITION instead of a
    /// finished `Operation` carrying the error.
    pub verification_failure_as_http_error: bool,
    /// Accept 200 as well as 201 for the authorized verification probe.
    pub lenient_verification: bool,
}

impl Default for GoogleHealthConfig {
    fn default() -> Self {
        GoogleHealthConfig {
            client_id: "123456789012-fitbridge.apps.googleusercontent.com".to_owned(),
            client_secret: "GOCSPX-sandbox-client-secret".to_owned(),
            redirect_uris: Vec::new(),
            access_token_lifetime_secs: 3599,
            testing_mode: false,
            testing_refresh_token_lifetime_secs: 7 * 24 * 3600,
            rate_limit_per_user_per_minute: 300,
            rate_limit_per_project_per_minute: 120_000,
            project_id: "fitbridge-sandbox".to_owned(),
            project_number: "123456789012".to_owned(),
            require_https_endpoints: false,
            verification_failure_as_http_error: false,
            lenient_verification: false,
        }
    }
}

/// Active fault injection on the `/v4` API (not OAuth, userinfo or the keyset). An
/// authenticated request takes an injected failure after the rate limit and contract
/// validation, before the scope check and the endpoint, and answers in Google's error shape,
/// or with the configured raw answer as it is.
pub type GoogleHealthFaults = Faults;

/// A change to the fault injection (the body of `POST /_admin/google-health/faults`);
/// absent fields keep their value.
pub type GoogleHealthFaultInjection = FaultInjection;

/// Everything mutable, behind one lock; no handler awaits while holding it.
struct State {
    users: BTreeMap<String, GoogleUser>,
    /// The user signed in to the simulated browser.
    signed_in: String,
    consents: HashMap<String, Consent>,
    tokens: oauth::Tokens,
    service_accounts: oauth::ServiceAccounts,
    days: HashMap<(String, Date), RecordedDay>,
    sleep: HashMap<(String, Date), Vec<RecordedSleep>>,
    weights: HashMap<(String, Date), Vec<RecordedWeight>>,
    exercises: HashMap<(String, Date), Vec<RecordedExercise>>,
    deleted: HashSet<(String, Date, DataKind)>,
    subscribers: subscribers::Registry,
    user_windows: HashMap<String, api::SlidingWindow>,
    project_window: api::SlidingWindow,
    per_user_limit: u32,
    per_project_limit: u32,
    /// Users forced over their quota until the instant (real time).
    throttles: ForcedThrottles,
    faults: GoogleHealthFaults,
    keys: keys::Keyring,
    clock: SandboxClock,
    stats: GoogleHealthStats,
}

impl State {
    fn new(config: &GoogleHealthConfig) -> State {
        let mut user = GoogleUser::new(DEFAULT_HEALTH_USER_ID, "Alex", "Sandbox");
        user.legacy_user_id = Some(DEFAULT_LEGACY_USER_ID.to_owned());
        user.sex = "FEMALE".to_owned();
        user.height_cm = 168.0;
        user.weight_kg = 64.5;
        user.age = 35;
        user.pattern = Some(ActivityPattern::WeekdayRunner);
        State {
            users: BTreeMap::from([(DEFAULT_HEALTH_USER_ID.to_owned(), user)]),
            signed_in: DEFAULT_HEALTH_USER_ID.to_owned(),
            consents: HashMap::new(),
            tokens: oauth::Tokens::default(),
            service_accounts: oauth::ServiceAccounts::default(),
            days: HashMap::new(),
            sleep: HashMap::new(),
            weights: HashMap::new(),
            exercises: HashMap::new(),
            deleted: HashSet::new(),
            subscribers: subscribers::Registry::default(),
            user_windows: HashMap::new(),
            project_window: api::SlidingWindow::default(),
            per_user_limit: config.rate_limit_per_user_per_minute,
            per_project_limit: config.rate_limit_per_project_per_minute,
            throttles: ForcedThrottles::default(),
            faults: GoogleHealthFaults::default(),
            keys: keys::Keyring::new(),
            clock: SandboxClock::default(),
            stats: GoogleHealthStats::default(),
        }
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Users that only appear in a consent or grant get a generated account.
    fn ensure_user(&mut self, user: &str) {
        if !self.users.contains_key(user) {
            self.users
                .insert(user.to_owned(), GoogleUser::new(user, "Test", user));
        }
    }

    fn revoke_user(&mut self, user: &str) -> bool {
        let revoked = self.tokens.revoke_user(user);
        if revoked {
            counters::bump(&mut self.stats.revocations, user);
        }
        revoked
    }
}

/// The Google Health sandbox: state plus the HTTP client that calls subscriber endpoints.
pub struct GoogleHealthSandbox {
    config: GoogleHealthConfig,
    state: Mutex<State>,
    http: reqwest::Client,
}

impl GoogleHealthSandbox {
    pub fn new(config: GoogleHealthConfig) -> Self {
        let state = Mutex::new(State::new(&config));
        let http = crate::subscriber_client(Duration::from_secs(10));
        GoogleHealthSandbox {
            config,
            state,
            http,
        }
    }

    pub fn config(&self) -> &GoogleHealthConfig {
        &self.config
    }

    /// A panicking test must not take other requests down with a poisoned lock.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Back to the state of a fresh sandbox (the configuration stays; the signing key is new).
    pub fn reset(&self) {
        *self.lock() = State::new(&self.config);
    }

    /// Creates or replaces a user.
    pub fn add_user(&self, user: GoogleUser) {
        self.lock().users.insert(user.health_user_id.clone(), user);
    }

    pub fn user(&self, health_user_id: &str) -> Option<GoogleUser> {
        self.lock().users.get(health_user_id).cloned()
    }

    /// Stores the user's answer to the consent screen and signs them in to the simulated
    /// browser. An unknown user is created with [`GoogleUser::new`] defaults.
    pub fn set_consent(&self, consent: Consent) {
        let mut st = self.lock();
        st.ensure_user(&consent.health_user_id);
        st.signed_in = consent.health_user_id.clone();
        st.consents.insert(consent.health_user_id.clone(), consent);
    }

    /// Scopes the user has granted the app (what notifications are filtered by); empty
    /// after revocation.
    pub fn consented_scopes(&self, health_user_id: &str) -> BTreeSet<String> {
        self.lock().tokens.consented(health_user_id)
    }

    /// Sets the sandbox clock to `at`, from where it runs on (in-process tests on a set
    /// date: the synthetic people's "today" follows it).
    pub fn set_clock(&self, at: OffsetDateTime) {
        self.lock().clock.set(at);
    }

    /// Moves the sandbox clock forward (token, code and refresh-token expiry, "today",
    /// the rate-limit window).
    pub fn advance_clock(&self, secs: i64) {
        self.lock().clock.advance(secs);
    }

    /// The sandbox clock.
    pub fn now(&self) -> OffsetDateTime {
        self.lock().now()
    }

    /// Issues tokens as if the user had just completed an offline authorization with
    /// `scopes` (`openid`, `email`, `profile` or full scope URLs), without counting a token
    /// request. The grant includes a refresh token.
    pub fn grant_tokens(&self, health_user_id: &str, scopes: &[&str]) -> TokenGrant {
        let mut st = self.lock();
        st.ensure_user(health_user_id);
        let now = st.now();
        let scopes: BTreeSet<String> = scopes
            .iter()
            .map(|s| oauth::normalize_scope(s).unwrap_or_else(|| (*s).to_owned()))
            .collect();
        let user = st.users[health_user_id].clone();
        st.tokens.consent(health_user_id, &scopes);
        st.tokens
            .issue_user_grant(&self.config, &user, scopes, true, None, now)
    }

    /// Makes every access token of the user answer 401 from now on, as if its hour had
    /// passed. False if the user has no live access token.
    pub fn expire_access_token(&self, health_user_id: &str) -> bool {
        let mut st = self.lock();
        let now = st.now();
        st.tokens.expire_user_access(health_user_id, now)
    }

    /// Revokes the user's grant (access and refresh tokens), as if they removed the app in
    /// their Google account: refreshing answers `invalid_grant`, API calls 401, and no
    /// notifications are sent for them any more. False if the user never had a token.
    pub fn revoke_user(&self, health_user_id: &str) -> bool {
        self.lock().revoke_user(health_user_id)
    }

    /// Every access and refresh token ever issued to the user, oldest first.
    pub fn tokens_issued(&self, health_user_id: &str) -> Vec<String> {
        self.lock().tokens.issued_to(health_user_id)
    }

    /// Sets the quotas (requests per rolling minute).
    pub fn set_rate_limits(&self, per_user_per_minute: u32, per_project_per_minute: u32) {
        let mut st = self.lock();
        st.per_user_limit = per_user_per_minute;
        st.per_project_limit = per_project_per_minute;
    }

    /// Forces the user over the quota: every `/v4` call with their tokens answers
    /// `429 RESOURCE_EXHAUSTED` (no `Retry-After`, as Google) until `secs` of real time have
    /// passed (not the sandbox clock: tests wait for it).
    pub fn throttle_user(&self, health_user_id: &str, secs: u64) {
        self.lock()
            .throttles
            .force(health_user_id, Duration::from_secs(secs));
    }

    pub fn unthrottle_user(&self, health_user_id: &str) {
        self.lock().throttles.lift(health_user_id);
    }

    faults::fault_injection_methods!();

    /// The user's data fetches so far (see [`GoogleHealthStats::data_calls_of`]).
    pub fn data_calls(&self, health_user_id: &str) -> u64 {
        self.lock().stats.data_calls_of(health_user_id)
    }

    pub fn stats(&self) -> GoogleHealthStats {
        self.lock().stats.clone()
    }

    /// Requests per discovery method id (see [`GoogleHealthStats::requests_by_method`]).
    pub fn requests_by_method(&self) -> BTreeMap<String, u64> {
        self.lock().stats.requests_by_method.clone()
    }

    /// The public keyset as served at `/google-health/webhook-keyset.json` (not counted as
    /// a fetch).
    pub fn keyset_json(&self) -> serde_json::Value {
        self.lock().keys.keyset_json()
    }

    /// GETs of the served keyset so far.
    pub fn keyset_fetches(&self) -> u64 {
        self.lock().stats.keyset_fetches
    }

    pub fn primary_key_id(&self) -> u32 {
        self.lock().keys.primary_key_id()
    }

    /// Generates a new signing key and makes it primary; the old keys stay in the keyset
    /// (verifiers with a cached keyset meet an unknown key id) until [`Self::retire_old_keys`].
    /// Returns the new key id.
    pub fn rotate_key(&self) -> u32 {
        self.lock().keys.rotate()
    }

    /// Removes every key but the primary one from the keyset; returns how many went.
    pub fn retire_old_keys(&self) -> usize {
        self.lock().keys.retire_old()
    }

    /// The `Google-Health-API-Signature` value for `body` with the primary key: standard
    /// base64 of `0x01 ‖ key id (4 bytes, big-endian) ‖ DER ECDSA P-256 SHA-256 signature`.
    pub fn sign(&self, body: &[u8]) -> String {
        self.lock().keys.sign(body)
    }

    /// Creates a service account of the configured project with a fresh RSA key, registers
    /// its public key for the JWT bearer grant, and returns the key file as Google issues
    /// it (with `token_uri` as given, e.g. `{base_url}/token`).
    pub fn create_service_account(&self, token_uri: &str) -> ServiceAccountKey {
        let key = ServiceAccountKey::generate(&self.config, token_uri);
        self.lock()
            .service_accounts
            .register_key(&key, &self.config)
            .expect("generated key registers");
        key
    }

    /// Registers an existing service-account key (PEM or DER public key, RSA) under its
    /// `private_key_id`, for assertions signed outside the sandbox.
    pub fn register_service_account_key(
        &self,
        client_email: &str,
        private_key_id: &str,
        public_key: &[u8],
    ) -> Result<(), String> {
        self.lock().service_accounts.register_public_key(
            client_email,
            private_key_id,
            public_key,
            &self.config,
        )
    }

    /// The current subscribers (as the API lists them) of the configured project.
    pub fn subscribers(&self) -> Vec<serde_json::Value> {
        let st = self.lock();
        st.subscribers.list_json()
    }
}

impl FaultTarget for GoogleHealthSandbox {
    fn with_faults<R>(&self, f: impl FnOnce(&mut Faults) -> R) -> R {
        f(&mut self.lock().faults)
    }
}

/// The Google routes (accounts.google.com, oauth2/openidconnect/health.googleapis.com
/// paths), the keyset and the admin API under `/_admin/google-health/`. Sets no fallback,
/// so it merges with the other sandboxes.
pub fn router(state: Arc<GoogleHealthSandbox>) -> Router {
    Router::new()
        .route("/o/oauth2/v2/auth", get(oauth::authorize))
        .route(
            "/token",
            post(crate::oauth2::token_endpoint::<GoogleHealthSandbox>),
        )
        .route("/revoke", post(oauth::revoke))
        .route("/v1/userinfo", get(oauth::userinfo).post(oauth::userinfo))
        .route("/v4/{*rest}", any(api::handle))
        .route(
            "/google-health/webhook-keyset.json",
            get(keys::serve_keyset),
        )
        .merge(admin::router())
        .with_state(state)
}
