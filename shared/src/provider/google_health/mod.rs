//! The Google Health API v4, successor of the legacy wearable API (contract:
//! `tests/contracts/google-health/health.v4.discovery.json`; facts:
//! `tests/contracts/FACTS.md` §0, §2).
//!
//! Everything Google-shaped lives here:
//! - OAuth with PKCE, `access_type=offline` and `prompt=consent` (so every consent, a
//!   reconnect included, returns a refresh token); reusable refresh tokens (a refresh
//!   keeps the stored one unless Google sends a new one); `invalid_grant` means consent
//!   again; revocation at `oauth2.googleapis.com/revoke`.
//! - Identity from `users/me/identity` (`healthUserId`, and `legacyUserId`, the person's
//!   id at the predecessor provider); age from the profile, time zone and language from
//!   the settings; name and email only through the OpenID scopes, if the company asks.
//! - A day's data: `dailyRollUp` over the civil day for steps, distance, total calories
//!   and active minutes; the lists of sleep sessions (counted on the day they end) and
//!   weigh-ins, paged; int64 strings, mm → km, g → kg. Each point is booked on the civil
//!   date it states; points of other days are refused and counted ([`window`]).
//! - At most 300 requests per person per minute; a 429 waits, never fails.
//! - One project-level subscriber (managed by the admin CLI), so nothing per person.
//! - The webhook ([`webhook`]): POST verification probes, ECDSA-signed notifications.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use time::{Date, OffsetDateTime};
use url::Url;

use crate::domain::mapping::InteractionMapping;
use crate::domain::work::iso_date;
use crate::domain::ProviderKind;
use crate::domain::Secret;
use crate::domain::{Collection, DaySummary, Metric, ProviderUserId, Scopes, TokenSet};
use crate::ports::clock::SharedClock;
use crate::ports::provider::{AuthorizeRequest, Person, Provider, ProviderError, TokenGrant};
use crate::provider::oauth2;
use crate::secret_store::SecretCache;
use crate::secret_store::PREPARED_FOR;
use crate::telemetry::metric;

mod api;
pub mod keyset;
mod model;
pub mod scopes;
mod settings;
pub mod signature;
pub mod webhook;
mod window;

pub use api::REQUESTS_PER_PERSON_PER_MINUTE;
pub use settings::{GoogleHealthCredentials, GoogleHealthSettings};

use api::{classify_api_error, classify_oauth_error, transport_error, RequestBudget};

/// The data types a day of activities is rolled up from.
const ACTIVITY_TYPES: [&str; 4] = ["steps", "distance", "total-calories", "active-minutes"];
/// Sessions and samples per page (Google's maximum for sleep).
const PAGE_SIZE: &str = "25";
/// Pages followed per list before giving up on a day (a day has a handful).
const MAX_PAGES: usize = 8;
/// Longest token lifetime we believe (Google says one hour); a larger `expires_in` is
/// capped rather than trusted.
const MAX_TOKEN_LIFETIME: time::Duration = time::Duration::hours(2);
/// The shared request budget's default: Google allows a Cloud project 120,000 requests a
/// minute; a sixth is left as headroom for token refreshes, subscriptions and connects,
/// which do not ask the budget.
pub const PROJECT_REQUESTS_PER_MINUTE: u32 = 100_000;

/// How Google Health people and days look in SAP unless `INTERACTION_MAPPING` says
/// otherwise. Every value goes into `InteractionContent`, which every tenant has; map
/// them to your extension fields to segment on numbers. A person who migrated keeps the
/// contact (and origin) of their predecessor connection.
pub fn default_mapping() -> InteractionMapping {
    InteractionMapping::conventional("GOOGLE_HEALTH", "GH")
}

/// Google Health API client. Built once per container; cheap to share. It holds the
/// per-person request budget, so one instance serves every use case of a container.
pub struct GoogleHealthClient {
    http: reqwest::Client,
    settings: GoogleHealthSettings,
    secrets: Arc<SecretCache>,
    budget: RequestBudget,
    /// Token expiries are the time of issue plus `expires_in`.
    clock: SharedClock,
}

impl GoogleHealthClient {
    pub fn new(
        http: reqwest::Client,
        settings: GoogleHealthSettings,
        secrets: Arc<SecretCache>,
        clock: SharedClock,
    ) -> Self {
        GoogleHealthClient {
            http,
            settings,
            secrets,
            budget: RequestBudget::default(),
            clock,
        }
    }

    async fn credentials(&self) -> Result<GoogleHealthCredentials, ProviderError> {
        Ok(self.secrets.get(&self.settings.secret_id).await?)
    }

    /// `{api_base_url}/v4/{path}`
    fn endpoint(&self, path: &str) -> String {
        format!(
            "{}/v4/{path}",
            self.settings.api_base_url.as_str().trim_end_matches('/')
        )
    }

    async fn token_request(&self, form: &[(&str, &str)]) -> Result<TokenSet, ProviderError> {
        let response = self
            .http
            .post(self.settings.token_url.clone())
            .form(form)
            .send()
            .await
            .map_err(transport_error)?;
        if !response.status().is_success() {
            return Err(classify_oauth_error(response).await);
        }
        let body: model::TokenResponse =
            response
                .json()
                .await
                .map_err(|e| ProviderError::Malformed {
                    reason: format!("token response: {}", e.without_url()),
                })?;
        Ok(token_set(body, self.clock.now()))
    }

    /// One request of the person's budget, then the call.
    async fn call<T: DeserializeOwned>(
        &self,
        user: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ProviderError> {
        self.budget.take(user, 1, Instant::now())?;
        self.send(request).await
    }

    /// A call whose budget the caller took.
    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ProviderError> {
        let response = request.send().await.map_err(transport_error)?;
        if !response.status().is_success() {
            return Err(classify_api_error(response).await);
        }
        response.json().await.map_err(|e| ProviderError::Malformed {
            reason: e.without_url().to_string(),
        })
    }

    async fn get<T: DeserializeOwned>(
        &self,
        user: &str,
        access_token: &Secret,
        url: &str,
        query: &[(&str, &str)],
    ) -> Result<T, ProviderError> {
        let request = self
            .http
            .get(url)
            .query(query)
            .bearer_auth(access_token.expose());
        self.call(user, request).await
    }

    /// A GET that only a granted scope allows: `None` without asking when it is not.
    async fn get_if_granted<T: DeserializeOwned>(
        &self,
        granted: bool,
        access_token: &Secret,
        url: &str,
    ) -> Result<Option<T>, ProviderError> {
        if !granted {
            return Ok(None);
        }
        self.get("me", access_token, url, &[]).await.map(Some)
    }

    /// `POST users/me/dataTypes/{type}/dataPoints:dailyRollUp` over one civil day; the
    /// caller took its budget.
    async fn roll_up(
        &self,
        access_token: &Secret,
        data_type: &str,
        date: Date,
    ) -> Result<model::DailyRollUpResponse, ProviderError> {
        let body =
            model::DailyRollUpRequest::one_day(date).ok_or_else(|| ProviderError::Rejected {
                status: 400,
                error_type: "date out of range".into(),
            })?;
        let request = self
            .http
            .post(self.endpoint(&format!(
                "users/me/dataTypes/{data_type}/dataPoints:dailyRollUp"
            )))
            .bearer_auth(access_token.expose())
            .json(&body);
        self.send(request).await
    }

    /// `GET users/me/dataTypes/{type}/dataPoints?filter=…`, every page (newest first).
    async fn list(
        &self,
        user: &str,
        access_token: &Secret,
        data_type: &str,
        filter: &str,
    ) -> Result<Vec<model::DataPoint>, ProviderError> {
        let url = self.endpoint(&format!("users/me/dataTypes/{data_type}/dataPoints"));
        let mut points = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = vec![("filter", filter), ("pageSize", PAGE_SIZE)];
            if let Some(t) = token.as_deref() {
                query.push(("pageToken", t));
            }
            let page: model::ListResponse = self.get(user, access_token, &url, &query).await?;
            points.extend(page.data_points);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(points),
            }
        }
        Err(ProviderError::Malformed {
            reason: format!("{data_type}: more than {MAX_PAGES} pages for one day"),
        })
    }
}

/// A part of the person that a connect can do without: its value, or `None` with a log
/// line naming what is missing and why (the error's class, never a token).
fn optional<T>(part: &'static str, result: Result<Option<T>, ProviderError>) -> Option<T> {
    match result {
        Ok(value) => value,
        Err(e) => {
            tracing::warn!(part, status = e.status_class(), error = %e,
                "connected without the person's {part}: Google did not answer it");
            None
        }
    }
}

/// A day of activities from what each of its data types' requests answered.
///
/// - An error about the person, the token or the project (401, 410, 429, credentials)
///   fails the whole day: the same error would meet every request, and the policy for it
///   applies (refresh, wait for the reset, ...).
/// - Otherwise each data type Google answered is imported. One it refused for good (a 4xx:
///   the tenant's or person's settings) is left out; one that failed in a way that may
///   pass (5xx, transport, an unreadable answer) is [`DaySummary::unanswered`], so the day
///   is fetched again. Both are logged and counted by data type.
/// - The exercise list only feeds the send hour: whatever becomes of it, the day stands.
/// - Nothing answered at all: the first error, as for any failed fetch.
fn partial_day(
    roll_ups: [(Metric, Result<model::DailyRollUpResponse, ProviderError>); 4],
    exercises: Result<Vec<model::DataPoint>, ProviderError>,
    date: Date,
) -> Result<DaySummary, ProviderError> {
    let whole_day = |e: &ProviderError| {
        matches!(
            e,
            ProviderError::AccessTokenExpired
                | ProviderError::InvalidToken
                | ProviderError::InvalidGrant
                | ProviderError::Gone
                | ProviderError::RateLimited { .. }
                | ProviderError::QuotaExhausted { .. }
                | ProviderError::Credentials(_)
        )
    };
    let mut roll_ups = roll_ups.map(|(metric, result)| (metric, Some(result)));
    let fails_the_day = |r: &Option<Result<_, ProviderError>>| match r {
        Some(Err(e)) => whole_day(e),
        _ => false,
    };
    if let Some(i) = roll_ups.iter().position(|(_, r)| fails_the_day(r)) {
        return Err(roll_ups[i]
            .1
            .take()
            .and_then(Result::err)
            .expect("an error"));
    }
    if roll_ups.iter().all(|(_, r)| matches!(r, Some(Err(_)))) {
        return Err(roll_ups[0]
            .1
            .take()
            .and_then(Result::err)
            .expect("an error"));
    }
    let mut answered = [None, None, None, None];
    let mut unanswered = Vec::new();
    for (slot, (metric, result)) in answered.iter_mut().zip(roll_ups) {
        match result.expect("each taken once") {
            Ok(response) => {
                *slot = Some(window::roll_up_on_day(response, date, metric.as_str()));
            }
            Err(e) => {
                unanswered_data_type(metric.as_str(), &e);
                if !matches!(e, ProviderError::Rejected { status, .. } if status < 500) {
                    unanswered.push(metric);
                }
            }
        }
    }
    let [steps, distance, calories, active] = answered;
    let mut summary = model::activity_summary(steps, distance, calories, active);
    summary.unanswered = unanswered;
    match exercises {
        Ok(points) => {
            let points = window::on_day(points, date, "exercise");
            summary.workout_ends = model::exercise_ends(&points, date);
        }
        Err(e) => {
            unanswered_data_type("exercise", &e);
            summary.workouts_unanswered = true;
        }
    }
    Ok(summary)
}

/// Logs and counts a data type of a day Google did not answer while others came.
fn unanswered_data_type(data_type: &'static str, e: &ProviderError) {
    tracing::warn!(data_type, status = e.status_class(), error = %e,
        "Google did not answer one data type of a day; the others are imported");
    metrics::counter!(metric::DATA_TYPES_UNANSWERED, "Provider" => "google-health",
        "DataType" => data_type, "Status" => e.status_class())
    .increment(1);
}

/// The tokens Google issued at `now`: an `expires_in` beyond [`MAX_TOKEN_LIFETIME`] (or
/// below zero) is capped, not believed.
fn token_set(body: model::TokenResponse, now: OffsetDateTime) -> TokenSet {
    TokenSet {
        access_token: Secret::new(body.access_token),
        refresh_token: Secret::new(body.refresh_token.unwrap_or_default()),
        expires_at: oauth2::expiry(now, body.expires_in, MAX_TOKEN_LIFETIME),
        scopes: Scopes::parse(&body.scope.unwrap_or_default()),
    }
}

/// `"<date>"` and `"<next day>"`: a civil day as AIP-160 date literals.
fn civil_day(date: Date) -> Option<(String, String)> {
    Some((iso_date::format(date), iso_date::format(date.next_day()?)))
}

#[async_trait]
impl Provider for GoogleHealthClient {
    fn kind(&self) -> ProviderKind {
        ProviderKind::GoogleHealth
    }

    async fn prepare(&self) -> Result<(), ProviderError> {
        Ok(self
            .secrets
            .warm(&self.settings.secret_id, PREPARED_FOR)
            .await?)
    }

    async fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<Url, ProviderError> {
        let credentials = self.credentials().await?;
        let mut url = oauth2::authorize_url(
            &self.settings.authorize_url,
            &credentials.client_id,
            &self.settings.scopes,
            request,
        );
        url.query_pairs_mut()
            // A refresh token, every time: Google returns one only on a consent it shows,
            // and we cannot know before the callback whether this is a reconnect.
            .append_pair("access_type", "offline")
            .append_pair("prompt", "consent");
        Ok(url)
    }

    async fn exchange_code(
        &self,
        code: &str,
        code_verifier: &Secret,
        redirect_uri: &str,
    ) -> Result<TokenGrant, ProviderError> {
        let credentials = self.credentials().await?;
        let tokens = self
            .token_request(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", code_verifier.expose()),
                ("client_id", &credentials.client_id),
                ("client_secret", credentials.client_secret.expose()),
            ])
            .await?;
        if tokens.refresh_token.expose().is_empty() {
            // Without it the connection would die within the hour.
            return Err(ProviderError::Malformed {
                reason: "no refresh token in the code exchange (offline access not granted)".into(),
            });
        }
        Ok(TokenGrant {
            tokens,
            user_id: None,
        })
    }

    async fn refresh(&self, tokens: &TokenSet) -> Result<TokenSet, ProviderError> {
        let credentials = self.credentials().await?;
        let mut fresh = self
            .token_request(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens.refresh_token.expose()),
                ("client_id", &credentials.client_id),
                ("client_secret", credentials.client_secret.expose()),
            ])
            .await?;
        // Reusable: keep the stored refresh token unless Google issued a new one, and the
        // stored scopes if the answer does not say.
        if fresh.refresh_token.expose().is_empty() {
            fresh.refresh_token = tokens.refresh_token.clone();
        }
        if fresh.scopes.0.is_empty() {
            fresh.scopes = tokens.scopes.clone();
        }
        Ok(fresh)
    }

    async fn revoke(&self, tokens: &TokenSet) -> Result<(), ProviderError> {
        // Revoking the refresh token ends the whole grant.
        let response = self
            .http
            .post(self.settings.revoke_url.clone())
            .form(&[("token", tokens.refresh_token.expose())])
            .send()
            .await
            .map_err(transport_error)?;
        match response.status() {
            s if s.is_success() => Ok(()),
            // Already revoked or expired: what we wanted.
            reqwest::StatusCode::BAD_REQUEST => Ok(()),
            _ => Err(classify_oauth_error(response).await),
        }
    }

    async fn identify(&self, grant: &TokenGrant) -> Result<Person, ProviderError> {
        let token = &grant.tokens.access_token;
        let granted = &grant.tokens.scopes;
        // One round trip instead of four: the connect callback runs under API Gateway's
        // 30 s, after the code exchange and before SAP.
        let (identity_url, profile_url, settings_url) = (
            self.endpoint("users/me/identity"),
            self.endpoint("users/me/profile"),
            self.endpoint("users/me/settings"),
        );
        let (identity, health, settings, userinfo) = futures_util::join!(
            self.get::<model::Identity>("me", token, &identity_url, &[]),
            self.get_if_granted::<model::HealthProfile>(
                granted.contains(scopes::PROFILE),
                token,
                &profile_url,
            ),
            self.get_if_granted::<model::Settings>(
                granted.contains(scopes::SETTINGS),
                token,
                &settings_url,
            ),
            self.get_if_granted::<model::UserInfo>(
                scopes::has_openid(granted),
                token,
                self.settings.userinfo_url.as_str(),
            ),
        );
        // The identity is the connection; the rest only fills the contact in. A refused
        // profile, settings or userinfo connects the person without it, and says so.
        let identity = identity?;
        let health = optional("profile", health);
        let settings = optional("settings", settings);
        let userinfo = optional("userinfo", userinfo);
        Ok(Person {
            user_id: ProviderUserId(identity.health_user_id),
            legacy_user_id: identity
                .legacy_user_id
                .filter(|id| !id.trim().is_empty())
                .map(ProviderUserId),
            profile: model::profile(health, settings, userinfo),
        })
    }

    async fn fetch_day(
        &self,
        access_token: &Secret,
        user_id: &ProviderUserId,
        collection: Collection,
        date: Date,
    ) -> Result<DaySummary, ProviderError> {
        let user = user_id.0.as_str();
        let (day, next) = civil_day(date).ok_or_else(|| ProviderError::Rejected {
            status: 400,
            error_type: "date out of range".into(),
        })?;
        match collection {
            Collection::Activities => {
                // Four roll-ups, their budget taken at once, and the exercise list (when
                // the day's workouts ended: the best send time), which takes its own per
                // page. Each data type Google answers is imported; see `partial_day`.
                self.budget
                    .take(user, ACTIVITY_TYPES.len(), Instant::now())?;
                let [steps, distance, calories, active] = ACTIVITY_TYPES;
                let filter = format!(
                    "exercise.interval.civil_start_time >= \"{day}\" AND exercise.interval.civil_start_time < \"{next}\""
                );
                let (steps, distance, calories, active, exercises) = futures_util::join!(
                    self.roll_up(access_token, steps, date),
                    self.roll_up(access_token, distance, date),
                    self.roll_up(access_token, calories, date),
                    self.roll_up(access_token, active, date),
                    self.list(user, access_token, "exercise", &filter),
                );
                partial_day(
                    [
                        (Metric::Steps, steps),
                        (Metric::Distance, distance),
                        (Metric::Calories, calories),
                        (Metric::ActiveMinutes, active),
                    ],
                    exercises,
                    date,
                )
            }
            Collection::Sleep => {
                // Sleep counts on the day it ends, as the legacy API's dateOfSleep did.
                let filter = format!(
                    "sleep.interval.civil_end_time >= \"{day}\" AND sleep.interval.civil_end_time < \"{next}\""
                );
                let points = self.list(user, access_token, "sleep", &filter).await?;
                Ok(model::sleep_summary(&window::on_day(points, date, "sleep")))
            }
            Collection::Body => {
                let filter = format!(
                    "weight.sample_time.civil_time >= \"{day}\" AND weight.sample_time.civil_time < \"{next}\""
                );
                let points = self.list(user, access_token, "weight", &filter).await?;
                Ok(model::weight_summary(&window::on_day(
                    points, date, "weight",
                )))
            }
        }
    }

    /// One project-level subscriber with `AUTOMATIC` subscriptions covers everyone who
    /// consents (the admin CLI manages it): nothing per person, nothing to remember.
    async fn subscribe(
        &self,
        _access_token: &Secret,
        _user_id: &ProviderUserId,
        _collections: &[Collection],
    ) -> Vec<Collection> {
        Vec::new()
    }

    async fn unsubscribe(
        &self,
        _access_token: &Secret,
        _user_id: &ProviderUserId,
        _collections: &[Collection],
    ) {
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(expires_in: i64) -> model::TokenResponse {
        model::TokenResponse {
            access_token: "a".into(),
            expires_in,
            refresh_token: None,
            scope: None,
        }
    }

    fn steps_answered() -> Result<model::DailyRollUpResponse, ProviderError> {
        Ok(serde_json::from_str(
            r#"{"rollupDataPoints":[{"steps":{"countSum":"9000"},
                    "civilStartTime":{"date":{"year":2026,"month":11,"day":20}}}]}"#,
        )
        .unwrap())
    }

    fn refused(status: u16) -> Result<model::DailyRollUpResponse, ProviderError> {
        Err(ProviderError::Rejected {
            status,
            error_type: "PERMISSION_DENIED".into(),
        })
    }

    fn day(
        active: Result<model::DailyRollUpResponse, ProviderError>,
        exercises: Result<Vec<model::DataPoint>, ProviderError>,
    ) -> Result<DaySummary, ProviderError> {
        partial_day(
            [
                (Metric::Steps, steps_answered()),
                (Metric::Distance, steps_answered()),
                (Metric::Calories, steps_answered()),
                (Metric::ActiveMinutes, active),
            ],
            exercises,
            time::macros::date!(2026 - 11 - 20),
        )
    }

    #[test]
    fn a_refused_data_type_leaves_the_rest_of_the_day() {
        // Refused for good (the tenant's or person's settings): left out, not retried.
        let s = day(refused(403), Ok(vec![])).unwrap();
        assert_eq!(s.steps, Some(9000));
        assert_eq!(s.active_minutes, None);
        assert!(s.unanswered.is_empty());
        // Failed in a way that may pass: the rest now, the day again later.
        let s = day(refused(503), Ok(vec![])).unwrap();
        assert_eq!(s.steps, Some(9000));
        assert_eq!(s.unanswered, [Metric::ActiveMinutes]);
        // The send hour's input never blocks a day.
        let s = day(
            steps_answered(),
            Err(ProviderError::Unavailable { reason: "x".into() }),
        )
        .unwrap();
        assert_eq!(s.steps, Some(9000));
        assert!(s.workouts_unanswered && s.unanswered.is_empty());
    }

    #[test]
    fn an_error_about_the_person_or_the_quota_fails_the_whole_day() {
        let limited = Err(ProviderError::RateLimited {
            retry_after: std::time::Duration::from_secs(30),
        });
        assert!(matches!(
            day(limited, Ok(vec![])),
            Err(ProviderError::RateLimited { .. })
        ));
        assert!(matches!(
            day(Err(ProviderError::InvalidToken), Ok(vec![])),
            Err(ProviderError::InvalidToken)
        ));
        // Nothing answered at all: a failed fetch.
        let none = partial_day(
            [
                (Metric::Steps, refused(503)),
                (Metric::Distance, refused(503)),
                (Metric::Calories, refused(500)),
                (Metric::ActiveMinutes, refused(403)),
            ],
            Ok(vec![]),
            time::macros::date!(2026 - 11 - 20),
        );
        assert!(matches!(
            none,
            Err(ProviderError::Rejected { status: 503, .. })
        ));
    }

    #[test]
    fn googles_expires_in_is_capped_at_two_hours_and_never_below_now() {
        let now = time::macros::datetime!(2026-11-30 23:00 UTC);
        let at = |expires_in| token_set(answered(expires_in), now).expires_at;
        assert_eq!(at(3_599), now + time::Duration::seconds(3_599));
        assert_eq!(at(7_200), now + MAX_TOKEN_LIFETIME);
        assert_eq!(at(86_400 * 365), now + MAX_TOKEN_LIFETIME);
        assert_eq!(at(i64::MAX), now + MAX_TOKEN_LIFETIME);
        assert_eq!(at(-60), now);
        assert_eq!(at(i64::MIN), now);
        // No `expires_in` at all: expired at once, refreshed before use.
        let none: model::TokenResponse = serde_json::from_str(r#"{"access_token":"a"}"#).unwrap();
        assert_eq!(token_set(none, now).expires_at, now);
    }
}
