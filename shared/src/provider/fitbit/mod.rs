//! The legacy Fitbit Web API (switched off in November 2026; kept for the sandbox and for
//! migrating existing users). Wire facts: `../shared/reference/FACTS.md` §1.

use std::sync::Arc;

use async_trait::async_trait;
use url::Url;

use crate::config::FitbitSettings;
use crate::domain::{Collection, Profile, ProviderKind, ProviderUserId};
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

    async fn profile(&self, access_token: &Secret) -> Result<Profile, ProviderError> {
        let body: model::ProfileResponse = self
            .get_json(access_token, &self.endpoint("1/user/-/profile.json"))
            .await?;
        Ok(body.user.into_profile())
    }

    fn scope_for(&self, collection: Collection) -> &'static str {
        match collection {
            Collection::Activities => "activity",
            Collection::Body => "weight",
            Collection::Sleep => "sleep",
        }
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
