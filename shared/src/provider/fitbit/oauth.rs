//! Fitbit OAuth 2.0: the authorize URL and the token endpoint.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use time::{Duration, OffsetDateTime};
use url::Url;

use super::model::TokenResponse;
use super::FitbitClient;
use crate::config::FitbitSettings;
use crate::domain::{ProviderUserId, Scopes, TokenSet};
use crate::provider::{AuthorizeRequest, ProviderError, TokenGrant};
use crate::secret::Secret;
use crate::secret_store::ProviderCredentials;

pub(super) fn authorize_url(
    settings: &FitbitSettings,
    client_id: &str,
    request: &AuthorizeRequest<'_>,
) -> Url {
    let mut url = settings.authorize_url.clone();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("scope", &settings.scopes.join(" "))
        .append_pair("redirect_uri", request.redirect_uri)
        .append_pair("state", request.state)
        .append_pair("code_challenge", request.code_challenge)
        .append_pair("code_challenge_method", "S256");
    url
}

impl FitbitClient {
    /// POSTs a grant to the token endpoint. Server apps authenticate with Basic auth even
    /// when they also send a PKCE verifier.
    pub(super) async fn token_request(
        &self,
        credentials: &ProviderCredentials,
        form: &[(&str, &str)],
    ) -> Result<TokenGrant, ProviderError> {
        let basic = STANDARD.encode(format!(
            "{}:{}",
            credentials.client_id,
            credentials.client_secret.expose()
        ));
        let response = self
            .http
            .post(self.endpoint("oauth2/token"))
            .header("Authorization", format!("Basic {basic}"))
            .form(form)
            .send()
            .await
            .map_err(super::api::transport_error)?;
        let status = response.status();
        if !status.is_success() {
            return Err(super::api::classify_error(response).await);
        }
        let body: TokenResponse = response
            .json()
            .await
            .map_err(|e| ProviderError::Malformed {
                reason: format!("token response: {}", e.without_url()),
            })?;
        let now = OffsetDateTime::now_utc();
        Ok(TokenGrant {
            user_id: ProviderUserId(body.user_id),
            tokens: TokenSet {
                access_token: Secret::new(body.access_token),
                refresh_token: Secret::new(body.refresh_token),
                expires_at: now + Duration::seconds(body.expires_in),
                scopes: Scopes::parse(&body.scope),
            },
        })
    }
}
