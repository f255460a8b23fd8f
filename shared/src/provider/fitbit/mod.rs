//! The legacy Fitbit Web API (switched off in November 2026; kept for the sandbox and for
//! migrating existing users). Wire facts: `tests/contracts/FACTS.md` §1.

use std::sync::Arc;

use async_trait::async_trait;
use time::Date;
use url::Url;

use crate::config::FitbitSettings;
use crate::domain::work::iso_date;
use crate::domain::{Collection, DaySummary, Profile, ProviderKind, ProviderUserId};
use crate::provider::{AuthorizeRequest, Provider, ProviderError, SubscriptionOutcome, TokenGrant};
use crate::secret::Secret;
use crate::secret_store::{ProviderCredentials, SecretCache};

mod api;
mod model;
mod oauth;
pub mod webhook;

pub use api::classify_error;

/// Fitbit Web API client. Built once per container; cheap to share.
pub struct FitbitClient {
    http: reqwest::Client,
    settings: FitbitSettings,
    secrets: Arc<SecretCache>,
}

impl FitbitClient {
    pub fn new(http: reqwest::Client, settings: FitbitSettings, secrets: Arc<SecretCache>) -> Self {
        FitbitClient {
            http,
            settings,
            secrets,
        }
    }

    async fn credentials(&self) -> Result<ProviderCredentials, ProviderError> {
        Ok(self.secrets.get(&self.settings.secret_id).await?)
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

    async fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<Url, ProviderError> {
        let credentials = self.credentials().await?;
        Ok(oauth::authorize_url(
            &self.settings,
            &credentials.client_id,
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

    async fn refresh(&self, refresh_token: &Secret) -> Result<TokenGrant, ProviderError> {
        let credentials = self.credentials().await?;
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ];
        self.token_request(&credentials, &form).await
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

    async fn unsubscribe(
        &self,
        access_token: &Secret,
        user_id: &ProviderUserId,
        collection: Collection,
    ) -> Result<(), ProviderError> {
        let id = format!("{user_id}-{collection}");
        let url = self.endpoint(&format!("1/user/-/{collection}/apiSubscriptions/{id}.json"));
        self.delete_subscription(access_token, &url).await
    }

    async fn profile(&self, access_token: &Secret) -> Result<Profile, ProviderError> {
        let body: model::ProfileResponse = self
            .get_json(access_token, &self.endpoint("1/user/-/profile.json"))
            .await?;
        Ok(body.user.into_profile())
    }

    async fn subscribe(
        &self,
        access_token: &Secret,
        user_id: &ProviderUserId,
        collection: Collection,
    ) -> Result<SubscriptionOutcome, ProviderError> {
        // One id per (user, collection): unique, stable across reconnects (so a reconnect
        // answers 200, not a second subscription), and well under Fitbit's 50 characters.
        let id = format!("{user_id}-{collection}");
        let url = self.endpoint(&format!("1/user/-/{collection}/apiSubscriptions/{id}.json"));
        self.create_subscription(access_token, &url).await
    }
}
