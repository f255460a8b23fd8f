//! Fitbit OAuth 2.0: the authorize URL and the token endpoint.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use time::{Duration, OffsetDateTime};
use url::Url;

use super::model::TokenResponse;
use super::{FitbitClient, FitbitCredentials, FitbitSettings};
use crate::domain::Secret;
use crate::domain::{ProviderUserId, Scopes, TokenSet};
use crate::ports::provider::{AuthorizeRequest, ProviderError, TokenGrant};

/// Longest token lifetime we believe (Fitbit says 8 hours); a larger `expires_in` is
/// capped rather than trusted, so no arithmetic on it can overflow.
const MAX_TOKEN_LIFETIME: Duration = Duration::days(1);

/// When a token issued `now` with this `expires_in` expires.
pub(super) fn expiry(now: OffsetDateTime, expires_in: i64) -> OffsetDateTime {
    now + Duration::seconds(expires_in).clamp(Duration::ZERO, MAX_TOKEN_LIFETIME)
}

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
    fn basic_auth(credentials: &FitbitCredentials) -> String {
        let basic = STANDARD.encode(format!(
            "{}:{}",
            credentials.client_id,
            credentials.client_secret.expose()
        ));
        format!("Basic {basic}")
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
                expires_at: expiry(self.clock.now(), body.expires_in),
                scopes: Scopes::parse(&body.scope),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_expires_in_never_overflows() {
        let now = time::macros::datetime!(2026-11-30 23:00 UTC);
        assert_eq!(expiry(now, 28_800), now + Duration::hours(8));
        assert_eq!(expiry(now, i64::MAX), now + MAX_TOKEN_LIFETIME);
        assert_eq!(expiry(now, i64::MIN), now);
        assert_eq!(expiry(now, -5), now);
    }
}
