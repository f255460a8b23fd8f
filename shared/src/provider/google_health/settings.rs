//! Where the Google Health API and Google's OAuth live, and which credentials to use.

use serde::Deserialize;
use url::Url;

use super::scopes;
use crate::domain::Secret;
use crate::settings::{SettingsError, Vars};

/// Read from `GOOGLE_*`; the provider is served when `GOOGLE_HEALTH_SECRET_ID` is set.
/// Every URL defaults to the real endpoint.
#[derive(Clone, Debug)]
pub struct GoogleHealthSettings {
    /// `https://accounts.google.com/o/oauth2/v2/auth`
    pub authorize_url: Url,
    /// `https://oauth2.googleapis.com/token`
    pub token_url: Url,
    /// `https://oauth2.googleapis.com/revoke`
    pub revoke_url: Url,
    /// `https://openidconnect.googleapis.com/v1/userinfo` (name and email, only with the
    /// OpenID scopes)
    pub userinfo_url: Url,
    /// `https://health.googleapis.com` (the `v4/...` paths hang below it)
    pub api_base_url: Url,
    /// Google's public keyset for webhook signatures (Tink JSON).
    pub keyset_url: Url,
    /// Secrets Manager id of [`GoogleHealthCredentials`].
    pub secret_id: String,
    /// Scopes we ask for; people may grant fewer (partial consent is normal).
    pub scopes: Vec<String>,
}

impl GoogleHealthSettings {
    pub fn from_vars(vars: &Vars) -> Result<Option<Self>, SettingsError> {
        let Some(secret_id) = vars.optional("GOOGLE_HEALTH_SECRET_ID") else {
            return Ok(None);
        };
        let mut scopes = vars.list("GOOGLE_HEALTH_SCOPES", &scopes::DEFAULT.join(" "));
        // The company decides whether fitbridge may ask for name and email at all.
        if vars.optional("GOOGLE_HEALTH_OPENID").as_deref() == Some("true") {
            scopes.extend(scopes::OPENID.iter().map(|s| s.to_string()));
        }
        Ok(Some(GoogleHealthSettings {
            authorize_url: vars.url(
                "GOOGLE_OAUTH_AUTHORIZE_URL",
                "https://accounts.google.com/o/oauth2/v2/auth",
            )?,
            token_url: vars.url(
                "GOOGLE_OAUTH_TOKEN_URL",
                "https://oauth2.googleapis.com/token",
            )?,
            revoke_url: vars.url(
                "GOOGLE_OAUTH_REVOKE_URL",
                "https://oauth2.googleapis.com/revoke",
            )?,
            userinfo_url: vars.url(
                "GOOGLE_OPENID_USERINFO_URL",
                "https://openidconnect.googleapis.com/v1/userinfo",
            )?,
            api_base_url: vars.url(
                "GOOGLE_HEALTH_API_BASE_URL",
                "https://health.googleapis.com",
            )?,
            // What integrators use; Google's pages we could read do not name it
            // (see `signature`), so it is configurable like every endpoint.
            keyset_url: vars.url(
                "GOOGLE_HEALTH_KEYSET_URL",
                "https://www.gstatic.com/googlehealthapi/webhooks/webhooks_public_keyset.json",
            )?,
            secret_id,
            scopes,
        }))
    }
}

/// The Google OAuth client and the webhook's registered authorization:
/// `{client_id, client_secret, webhook_authorization}`.
#[derive(Clone, Debug, Deserialize)]
pub struct GoogleHealthCredentials {
    pub client_id: String,
    pub client_secret: Secret,
    /// The exact `Authorization` value registered with the subscriber (scheme included,
    /// e.g. `Bearer …`): Google sends it with the verification probes and notifications.
    pub webhook_authorization: Secret,
}
