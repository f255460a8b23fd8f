//! Polar AccessLink API v3 (contract: `tests/contracts/polar-accesslink/accesslink-api-v3.md`;
//! facts: `tests/contracts/FACTS.md` §6).
//!
//! Everything Polar-shaped lives here:
//! - OAuth 2.0 code flow without PKCE and without refresh tokens: the authorize URL carries
//!   no challenge, the code exchange no verifier (HTTP Basic client authentication, a form
//!   body). Access tokens live until revoked, so a 401 means the person must consent
//!   again: [`Provider::refresh`] says `InvalidGrant` at once, without calling Polar, and
//!   the token use case parks the person `needs_reconsent`. A code redeemed twice makes
//!   Polar delete every token issued for it; the connect use case takes the OAuth state
//!   before the one exchange, so a replayed callback never reaches this client.
//! - The partner's registration of every person ([`users`]): `POST /v3/users` with our
//!   own opaque member id before any data call (409 "already registered" is fine),
//!   identity and profile from the registered user, `DELETE /v3/users/{user-id}` when they
//!   leave. Registration is what makes Polar notify us about a person, so it is this
//!   provider's subscription: [`Provider::subscribe`] reports the imported collections
//!   (the connect registered the person already) and [`Provider::unsubscribe`], which the
//!   disconnect calls with the person's id before [`Provider::revoke`], de-registers them
//!   — that also revokes the token, so `revoke` (which is given the tokens only, and Polar
//!   can name nobody from a token) has nothing left to do.
//! - A day: `GET /v3/users/activities/{date}` (steps, `distance_from_steps` in metres,
//!   total calories, active minutes from the ISO 8601 `active_duration`), the exercise
//!   list for when the day's workouts ended (the send hour), `GET /v3/users/sleep/{date}`.
//!   204 (and, for sleep, 404) is a day without data; 400 for a date over 365 days old is
//!   `Rejected` (the policy parks it); 403 is `ConsentsMissing` (the person has not
//!   accepted Polar's mandatory consents). The deprecated transactional endpoints are not
//!   used.
//! - Rate limits per partner in two windows ([`rate_limit`]): every answer's
//!   `RateLimit-*` headers are learnt from, a 429 waits for the reset of the window that
//!   is used up, and while the last answer said a window is used up this container sends
//!   nothing. The windows are the partner's, counted over all of our containers: each
//!   answer's are reported to the shared request budget
//!   ([`crate::ports::budget::RequestBudget::reported`]), which holds the daily pull and
//!   backfills to their shares of them, so they never use up the day notifications need.
//! - One webhook per client application ([`webhook`]): `PING` answered 200 unverified,
//!   everything else verified (hex HMAC-SHA256) and answered 200.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use time::Date;
use url::Url;

use crate::domain::mapping::InteractionMapping;
use crate::domain::work::iso_date;
use crate::domain::{Collection, DaySummary, ProviderKind, ProviderUserId, Secret, TokenSet};
use crate::ports::budget::RequestBudget;
use crate::ports::clock::SharedClock;
use crate::ports::provider::{AuthorizeRequest, Person, Provider, ProviderError, TokenGrant};
use crate::provider::oauth2;
use crate::secret_store::SecretCache;
use crate::secret_store::PREPARED_FOR;

mod api;
mod model;
pub mod rate_limit;
pub mod scopes;
mod settings;
pub mod users;
pub mod webhook;

pub use settings::{PolarCredentials, PolarSettings};

use api::{read_json, transport_error, NOT_REGISTERED};

/// Longest token lifetime we believe. Polar's tokens live "until revoked" and its answer
/// says about a year (`31535999`); a larger `expires_in` is capped, a missing one taken
/// as that year.
const MAX_TOKEN_LIFETIME: time::Duration = time::Duration::days(366);
const USUAL_TOKEN_LIFETIME_SECS: i64 = 31_535_999;
/// How far back a day's exercises are listed: AccessLink lists exercises uploaded in the
/// last 30 days and after the person's registration, so a backfill's older days have none
/// to show, and a day's exercises were listed when it was recent (its notification, the
/// daily job). Older days skip the request and keep the partner's budget.
const EXERCISE_DAYS: i64 = 7;

/// How Polar people and days look in SAP unless `INTERACTION_MAPPING` says otherwise.
/// Every value goes into `InteractionContent`, which every tenant has; map them to your
/// extension fields to segment on numbers. Polar serves no weight here, but every metric
/// has a type, as the mapping's check wants.
pub fn default_mapping() -> InteractionMapping {
    InteractionMapping::conventional("POLAR", "POLAR")
}

/// Polar AccessLink client. Built once per container; cheap to share. It holds this
/// container's view of the partner's rate limits, so one instance serves every use case
/// of a container.
pub struct PolarClient {
    http: reqwest::Client,
    settings: PolarSettings,
    secrets: Arc<SecretCache>,
    budget: rate_limit::PartnerBudget,
    /// Where every answer's partner-wide windows are reported, so the shared request
    /// budget holds each priority to its share of them.
    quota: Arc<dyn RequestBudget>,
    /// Token expiries, and when the partner's windows reset.
    clock: SharedClock,
}

impl PolarClient {
    pub fn new(
        http: reqwest::Client,
        settings: PolarSettings,
        secrets: Arc<SecretCache>,
        quota: Arc<dyn RequestBudget>,
        clock: SharedClock,
    ) -> Self {
        PolarClient {
            http,
            settings,
            secrets,
            budget: rate_limit::PartnerBudget::default(),
            quota,
            clock,
        }
    }

    async fn credentials(&self) -> Result<PolarCredentials, ProviderError> {
        Ok(self.secrets.get(&self.settings.secret_id).await?)
    }

    /// `{api_base_url}/v3/{path}`
    fn endpoint(&self, path: &str) -> String {
        format!(
            "{}/v3/{path}",
            self.settings.api_base_url.as_str().trim_end_matches('/')
        )
    }

    /// A person's GET: the body, or `None` for the statuses that mean "no data" (`empty`,
    /// and 204). A person Polar says is not registered is registered, and asked once more.
    async fn get_data<T: DeserializeOwned>(
        &self,
        access_token: &Secret,
        user_id: &ProviderUserId,
        path: &str,
        empty: &[StatusCode],
    ) -> Result<Option<T>, ProviderError> {
        let get = || {
            self.http
                .get(self.endpoint(path))
                .bearer_auth(access_token.expose())
                .header("Accept", "application/json")
        };
        let response = match self.call(get(), empty).await {
            Err(ProviderError::Rejected {
                status: 403,
                error_type,
            }) if error_type == NOT_REGISTERED => {
                tracing::warn!(user_id = %user_id,
                    "Polar says the person is not registered: registering them again");
                self.ensure_registered(access_token, user_id).await?;
                self.call(get(), empty).await?
            }
            other => other?,
        };
        data_of(response, empty, path).await
    }

    /// When the day's exercises ended, in local minutes; nothing for days further back
    /// than [`EXERCISE_DAYS`].
    async fn workout_ends(
        &self,
        access_token: &Secret,
        user_id: &ProviderUserId,
        date: Date,
    ) -> Result<Vec<u16>, ProviderError> {
        let today = self.clock.now().date();
        if date < today - time::Duration::days(EXERCISE_DAYS) {
            return Ok(Vec::new());
        }
        let exercises: Vec<model::Exercise> = self
            .get_data(access_token, user_id, "exercises", &[])
            .await?
            .unwrap_or_default();
        Ok(exercises
            .iter()
            .filter_map(|e| e.end_minute_on(date))
            .collect())
    }
}

/// A data answer's body, or `None` for a day without data: 204, or a status of `empty`.
async fn data_of<T: DeserializeOwned>(
    response: reqwest::Response,
    empty: &[StatusCode],
    what: &str,
) -> Result<Option<T>, ProviderError> {
    let status = response.status();
    if status == StatusCode::NO_CONTENT || empty.contains(&status) {
        return Ok(None);
    }
    Ok(Some(read_json(response, what).await?))
}

#[async_trait]
impl Provider for PolarClient {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Polar
    }

    async fn prepare(&self) -> Result<(), ProviderError> {
        Ok(self
            .secrets
            .warm(&self.settings.secret_id, PREPARED_FOR)
            .await?)
    }

    /// `response_type=code`, the client, our callback, AccessLink's one scope and the
    /// state; no PKCE (Polar takes none), so the request's challenge is not sent.
    async fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<Url, ProviderError> {
        let credentials = self.credentials().await?;
        let mut url = self.settings.authorize_url.clone();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &credentials.client_id)
            .append_pair("redirect_uri", request.redirect_uri)
            .append_pair("scope", scopes::READ_ALL)
            .append_pair("state", request.state);
        Ok(url)
    }

    /// One POST to the token endpoint, never repeated here (a code redeemed twice makes
    /// Polar delete every token issued for it); no verifier.
    async fn exchange_code(
        &self,
        code: &str,
        _code_verifier: &Secret,
        redirect_uri: &str,
    ) -> Result<TokenGrant, ProviderError> {
        let credentials = self.credentials().await?;
        let response = self
            .http
            .post(self.settings.token_url.clone())
            .header(
                "Authorization",
                oauth2::basic_auth(&credentials.client_id, &credentials.client_secret),
            )
            .header("Accept", "application/json;charset=UTF-8")
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
            ])
            .send()
            .await
            .map_err(transport_error)?;
        if !response.status().is_success() {
            return Err(api::oauth_error(response).await);
        }
        let body: model::TokenResponse = read_json(response, "token response").await?;
        let user_id = model::id_text(&body.x_user_id).ok_or_else(|| ProviderError::Malformed {
            reason: "token response without x_user_id".into(),
        })?;
        let expires_in = body.expires_in.unwrap_or(USUAL_TOKEN_LIFETIME_SECS);
        Ok(TokenGrant {
            tokens: TokenSet {
                access_token: Secret::new(body.access_token),
                // Polar issues none.
                refresh_token: Secret::new(""),
                expires_at: oauth2::expiry(self.clock.now(), expires_in, MAX_TOKEN_LIFETIME),
                scopes: scopes::granted(),
            },
            user_id: Some(ProviderUserId(user_id)),
        })
    }

    /// Polar has no refresh tokens: a token that died (revoked, or its year over) is dead
    /// for good, and the person must consent again. Polar is not called.
    async fn refresh(&self, _tokens: &TokenSet) -> Result<TokenSet, ProviderError> {
        Err(ProviderError::InvalidGrant)
    }

    /// Nothing left to do: [`Provider::unsubscribe`] de-registered the person, which
    /// revoked the token (see the module's description).
    async fn revoke(&self, _tokens: &TokenSet) -> Result<(), ProviderError> {
        Ok(())
    }

    /// Registers the person (409 when they were before) and reads them as registered.
    async fn identify(&self, grant: &TokenGrant) -> Result<Person, ProviderError> {
        let user_id = grant
            .user_id
            .clone()
            .ok_or_else(|| ProviderError::Malformed {
                reason: "token response without x_user_id".into(),
            })?;
        let user = self
            .ensure_registered(&grant.tokens.access_token, &user_id)
            .await?;
        Ok(Person {
            user_id,
            legacy_user_id: None,
            profile: user.into_profile(),
        })
    }

    async fn fetch_day(
        &self,
        access_token: &Secret,
        user_id: &ProviderUserId,
        collection: Collection,
        date: Date,
    ) -> Result<DaySummary, ProviderError> {
        let day = iso_date::format(date);
        match collection {
            Collection::Activities => {
                let activity: Option<model::ActivitySummary> = self
                    .get_data(
                        access_token,
                        user_id,
                        &format!("users/activities/{day}"),
                        &[],
                    )
                    .await?;
                // 204: no activity that day, and so no exercise either.
                let Some(activity) = activity else {
                    return Ok(DaySummary::default());
                };
                let ends = self.workout_ends(access_token, user_id, date).await?;
                Ok(activity.into_summary(ends))
            }
            Collection::Sleep => Ok(self
                .get_data::<model::Sleep>(
                    access_token,
                    user_id,
                    &format!("users/sleep/{day}"),
                    // "No data found for date."
                    &[StatusCode::NOT_FOUND],
                )
                .await?
                .map(model::Sleep::into_summary)
                .unwrap_or_default()),
            // Not served through AccessLink's current endpoints, and never granted
            // ([`scopes::IMPORTED`]): nothing to import.
            Collection::Body => Ok(DaySummary::default()),
        }
    }

    /// Registration (done by the connect, in [`Provider::identify`]) is what makes Polar
    /// notify us about the person: the imported collections are covered, nothing to ask.
    async fn subscribe(
        &self,
        _access_token: &Secret,
        _user_id: &ProviderUserId,
        collections: &[Collection],
    ) -> Vec<Collection> {
        collections
            .iter()
            .copied()
            .filter(|c| scopes::IMPORTED.contains(c))
            .collect()
    }

    /// The disconnect: de-registers the person (whatever collections it is told), which
    /// also revokes their token. Best effort, as the port says: failures are logged.
    async fn unsubscribe(
        &self,
        access_token: &Secret,
        user_id: &ProviderUserId,
        _collections: &[Collection],
    ) {
        match self.deregister(access_token, user_id).await {
            Ok(()) => tracing::info!(user_id = %user_id, "person de-registered at Polar"),
            Err(e) => tracing::warn!(user_id = %user_id, status = e.status_class(), error = %e,
                "de-registration at Polar failed; the tokens are forgotten anyway"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> reqwest::Response {
        let answer = http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .unwrap();
        reqwest::Response::from(answer)
    }

    #[test]
    fn the_defaults_fit_sap() {
        default_mapping().validate().unwrap();
    }

    #[tokio::test]
    async fn a_day_without_data_is_empty_not_an_error() {
        // 204 for activity, 404 for sleep: no data that day.
        let none: Option<model::ActivitySummary> =
            data_of(answer(204, ""), &[], "a").await.unwrap();
        assert!(none.is_none());
        let none: Option<model::Sleep> = data_of(answer(404, "{}"), &[StatusCode::NOT_FOUND], "s")
            .await
            .unwrap();
        assert!(none.is_none());
        let day: Option<model::ActivitySummary> = data_of(answer(200, r#"{"steps":12}"#), &[], "a")
            .await
            .unwrap();
        assert_eq!(day.unwrap().into_summary(vec![]).steps, Some(12));
        let broken: Result<Option<model::Sleep>, _> = data_of(answer(200, "{"), &[], "s").await;
        assert!(matches!(broken, Err(ProviderError::Malformed { .. })));
        // A date over 365 days old is refused as it is: parked by the policy, not retried.
        let too_old = api::classify_api(StatusCode::BAD_REQUEST, "BadRequest".into(), None);
        assert!(matches!(
            too_old,
            ProviderError::Rejected { status: 400, .. }
        ));
    }
}
