//! Fitbit OAuth 2.0: the token and revocation endpoints, with Basic client authentication.

use time::Duration;

use super::model::TokenResponse;
use super::{FitbitClient, FitbitCredentials};
use crate::domain::Secret;
use crate::domain::{ProviderUserId, Scopes, TokenSet};
use crate::ports::provider::{ProviderError, TokenGrant};
use crate::provider::oauth2;

/// Longest token lifetime we believe (Fitbit says 8 hours); a larger `expires_in` is
/// capped rather than trusted.
const MAX_TOKEN_LIFETIME: Duration = Duration::days(1);

impl FitbitClient {
    fn basic_auth(credentials: &FitbitCredentials) -> String {
        oauth2::basic_auth(&credentials.client_id, &credentials.client_secret)
    }

    /// `POST /oauth2/revoke`: revokes the token and, with it, the person's grant.
    pub(super) async fn revoke_token(
        &self,
        credentials: &FitbitCredentials,
        token: &Secret,
    ) -> Result<(), ProviderError> {
        let response = self
            .http
            .post(self.endpoint("oauth2/revoke"))
            .header("Authorization", Self::basic_auth(credentials))
            .form(&[("token", token.expose())])
            .send()
            .await
            .map_err(super::api::transport_error)?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(super::api::classify_error(response).await)
        }
    }

    /// POSTs a grant to the token endpoint. Server apps authenticate with Basic auth even
    /// when they also send a PKCE verifier.
    pub(super) async fn token_request(
        &self,
        credentials: &FitbitCredentials,
        form: &[(&str, &str)],
    ) -> Result<TokenGrant, ProviderError> {
        let response = self
            .http
            .post(self.endpoint("oauth2/token"))
            .header("Authorization", Self::basic_auth(credentials))
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
        Ok(TokenGrant {
            user_id: Some(ProviderUserId(body.user_id)),
            tokens: TokenSet {
                access_token: Secret::new(body.access_token),
                refresh_token: Secret::new(body.refresh_token),
                expires_at: oauth2::expiry(self.clock.now(), body.expires_in, MAX_TOKEN_LIFETIME),
                scopes: Scopes::parse(&body.scope),
            },
        })
    }
}
