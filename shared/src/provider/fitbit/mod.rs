//! The legacy Fitbit Web API (switched off in November 2026; kept for the sandbox and for
//! migrating existing users). Wire facts: `tests/contracts/FACTS.md` §1.
//!
//! Everything Fitbit-shaped lives here: OAuth with Basic client authentication and
//! single-use refresh tokens, the profile, the day endpoints, per-person and per-collection
//! subscriptions, the signed notification webhook, its scopes and its SAP defaults.

use std::sync::Arc;

use async_trait::async_trait;
use time::Date;
use url::Url;

use crate::domain::mapping::InteractionMapping;
use crate::domain::work::iso_date;
use crate::domain::ProviderKind;
use crate::domain::Secret;
use crate::domain::{Collection, DaySummary, Profile, ProviderUserId, TokenSet};
use crate::ports::clock::SharedClock;
use crate::ports::provider::{AuthorizeRequest, Person, Provider, ProviderError, TokenGrant};
use crate::provider::oauth2;
use crate::secret_store::SecretCache;
use crate::secret_store::PREPARED_FOR;

mod api;
mod model;
mod oauth;
pub mod scopes;
mod settings;
pub mod webhook;

pub use api::classify_error;
pub use settings::{FitbitCredentials, FitbitSettings};

/// How Fitbit people and days look in SAP unless `INTERACTION_MAPPING` says otherwise:
/// the contact origin, medium and interaction types the original tenant configured, with
/// steps and calories in its decimal extension fields.
pub fn default_mapping() -> InteractionMapping {
    use crate::domain::Metric;
    let mut mapping = InteractionMapping::conventional("FITBIT", "FITBIT");
    let extension_fields = [
        (Metric::Steps, "YY1_FitbitNumberofStep_MIA"),
        (Metric::Calories, "YY1_FitbitAmountofCalo_MIA"),
    ];
    for (metric, field) in extension_fields {
        if let Some(m) = mapping.metrics.get_mut(&metric) {
            m.value_field = field.to_owned();
        }
    }
    mapping
}

/// Outcome of creating one subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SubscriptionOutcome {
    Created,
    AlreadyExists,
    /// Another subscription holds this collection or id; logged, not fatal.
    Conflict,
}

/// Fitbit Web API client. Built once per container; cheap to share.
pub struct FitbitClient {
    http: reqwest::Client,
    settings: FitbitSettings,
    secrets: Arc<SecretCache>,
    /// Token expiries are the time of issue plus `expires_in`.
    clock: SharedClock,
}

impl FitbitClient {
    pub fn new(
        http: reqwest::Client,
        settings: FitbitSettings,
        secrets: Arc<SecretCache>,
        clock: SharedClock,
    ) -> Self {
        FitbitClient {
            http,
            settings,
            secrets,
            clock,
        }
    }

    async fn credentials(&self) -> Result<FitbitCredentials, ProviderError> {
        Ok(self.secrets.get(&self.settings.secret_id).await?)
    }

    /// One id per (person, collection): unique, stable across reconnects (so a reconnect
    /// answers 200, not a second subscription), and well under Fitbit's 50 characters.
    fn subscription_url(&self, user_id: &ProviderUserId, collection: Collection) -> String {
        let id = format!("{user_id}-{collection}");
        self.endpoint(&format!("1/user/-/{collection}/apiSubscriptions/{id}.json"))
    }

    /// `{api_base_url}/{path}`; `path` has no leading slash.
    fn endpoint(&self, path: &str) -> String {
        format!(
            "{}/{path}",
            self.settings.api_base_url.as_str().trim_end_matches('/')
        )
    }
}

#[async_trait]
impl Provider for FitbitClient {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Fitbit
    }

    async fn prepare(&self) -> Result<(), ProviderError> {
        Ok(self
            .secrets
            .warm(&self.settings.secret_id, PREPARED_FOR)
            .await?)
    }

    async fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<Url, ProviderError> {
        let credentials = self.credentials().await?;
        Ok(oauth2::authorize_url(
            &self.settings.authorize_url,
            &credentials.client_id,
            &self.settings.scopes,
            request,
        ))
    }

    async fn exchange_code(
        &self,
        code: &str,
        code_verifier: &Secret,
        redirect_uri: &str,
    ) -> Result<TokenGrant, ProviderError> {
        let credentials = self.credentials().await?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier.expose()),
            ("client_id", credentials.client_id.as_str()),
        ];
        self.token_request(&credentials, &form).await
    }

    async fn refresh(&self, tokens: &TokenSet) -> Result<TokenSet, ProviderError> {
        let credentials = self.credentials().await?;
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens.refresh_token.expose()),
        ];
        // Single-use: the answer always carries the new refresh token.
        Ok(self.token_request(&credentials, &form).await?.tokens)
    }

    async fn revoke(&self, tokens: &TokenSet) -> Result<(), ProviderError> {
        let credentials = self.credentials().await?;
        // Revoking the refresh token revokes every token of the person's grant.
        self.revoke_token(&credentials, &tokens.refresh_token).await
    }

    async fn identify(&self, grant: &TokenGrant) -> Result<Person, ProviderError> {
        let user_id = grant
            .user_id
            .clone()
            .ok_or_else(|| ProviderError::Malformed {
                reason: "token response without user_id".into(),
            })?;
        let profile = if grant.tokens.scopes.contains(scopes::PROFILE) {
            let body: model::ProfileResponse = self
                .get_json(
                    &grant.tokens.access_token,
                    &self.endpoint("1/user/-/profile.json"),
                )
                .await?;
            body.user.into_profile()
        } else {
            Profile::default()
        };
        Ok(Person {
            user_id,
            legacy_user_id: None,
            profile,
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
        let user = &user_id.0;
        Ok(match collection {
            Collection::Activities => self
                .get_json::<model::ActivitiesResponse>(
                    access_token,
                    &self.endpoint(&format!("1/user/{user}/activities/date/{day}.json")),
                )
                .await?
                .into_summary(),
            Collection::Sleep => self
                .get_json::<model::SleepResponse>(
                    access_token,
                    &self.endpoint(&format!("1.2/user/{user}/sleep/date/{day}.json")),
                )
                .await?
                .into_summary(),
            Collection::Body => self
                .get_json::<model::WeightResponse>(
                    access_token,
                    &self.endpoint(&format!("1/user/{user}/body/log/weight/date/{day}.json")),
                )
                .await?
                .into_summary(),
        })
    }

    /// One subscription per granted collection — never also to "all", which would
    /// duplicate every notification.
    async fn subscribe(
        &self,
        access_token: &Secret,
        user_id: &ProviderUserId,
        collections: &[Collection],
    ) -> Vec<Collection> {
        let mut subscribed = Vec::new();
        for &collection in collections {
            let url = self.subscription_url(user_id, collection);
            match self.create_subscription(access_token, &url).await {
                Ok(SubscriptionOutcome::Created | SubscriptionOutcome::AlreadyExists) => {
                    subscribed.push(collection)
                }
                Ok(SubscriptionOutcome::Conflict) => {
                    tracing::warn!(user_id = %user_id, %collection,
                        "subscription conflict: another subscription holds this collection");
                    subscribed.push(collection);
                }
                Err(e) => {
                    tracing::warn!(user_id = %user_id, %collection, error = %e,
                        "subscription failed");
                }
            }
        }
        subscribed
    }

    async fn unsubscribe(
        &self,
        access_token: &Secret,
        user_id: &ProviderUserId,
        collections: &[Collection],
    ) {
        for &collection in collections {
            let url = self.subscription_url(user_id, collection);
            // Fitbit removes them itself on revocation; this is for deleteUser races.
            if let Err(e) = self.delete_subscription(access_token, &url).await {
                tracing::info!(user_id = %user_id, %collection, error = %e,
                    "unsubscribe failed; nothing more to do");
            }
        }
    }
}
