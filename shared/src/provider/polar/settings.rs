//! Where Polar's OAuth endpoints and the AccessLink API live, and which credentials to use.

use serde::Deserialize;
use url::Url;

use crate::domain::Secret;
use crate::settings::{SettingsError, Vars};

/// Read from `POLAR_*`; the provider is served when `POLAR_SECRET_ID` is set. Every URL
/// defaults to the real endpoint.
#[derive(Clone, Debug)]
pub struct PolarSettings {
    /// `https://flow.polar.com/oauth2/authorization` (`POLAR_AUTHORIZE_URL`)
    pub authorize_url: Url,
    /// `https://polarremote.com/v2/oauth2/token` (`POLAR_TOKEN_URL`)
    pub token_url: Url,
    /// `https://www.polaraccesslink.com` (`POLAR_API_BASE_URL`; the `v3/...` paths hang
    /// below it)
    pub api_base_url: Url,
    /// Secrets Manager id of [`PolarCredentials`] (`POLAR_SECRET_ID`).
    pub secret_id: String,
}

impl PolarSettings {
    pub fn from_vars(vars: &Vars) -> Result<Option<Self>, SettingsError> {
        let Some(secret_id) = vars.optional("POLAR_SECRET_ID") else {
            return Ok(None);
        };
        Ok(Some(PolarSettings {
            authorize_url: vars.url(
                "POLAR_AUTHORIZE_URL",
                "https://flow.polar.com/oauth2/authorization",
            )?,
            token_url: vars.url("POLAR_TOKEN_URL", "https://polarremote.com/v2/oauth2/token")?,
            api_base_url: vars.url("POLAR_API_BASE_URL", "https://www.polaraccesslink.com")?,
            secret_id,
        }))
    }
}

/// The AccessLink client and its webhook's signing key:
/// `{client_id, client_secret, webhook_signature_key}`.
#[derive(Clone, Debug, Deserialize)]
pub struct PolarCredentials {
    pub client_id: String,
    pub client_secret: Secret,
    /// The webhook's `signature_secret_key`: Polar shows it once, when the webhook is
    /// created (the admin CLI writes it here in the same step). Absent until then: every
    /// delivery but `PING` is refused as unverifiable.
    #[serde(default)]
    pub webhook_signature_key: Option<Secret>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_only_with_a_secret_and_every_url_defaults_to_polars() {
        assert!(PolarSettings::from_vars(&Vars::from_pairs([("X", "1")]))
            .unwrap()
            .is_none());
        let s = PolarSettings::from_vars(&Vars::from_pairs([("POLAR_SECRET_ID", "polar")]))
            .unwrap()
            .unwrap();
        assert_eq!(s.secret_id, "polar");
        assert_eq!(
            s.authorize_url.as_str(),
            "https://flow.polar.com/oauth2/authorization"
        );
        assert_eq!(
            s.token_url.as_str(),
            "https://polarremote.com/v2/oauth2/token"
        );
        assert_eq!(s.api_base_url.as_str(), "https://www.polaraccesslink.com/");
        let sandbox = PolarSettings::from_vars(&Vars::from_pairs([
            ("POLAR_SECRET_ID", "polar"),
            ("POLAR_API_BASE_URL", "http://127.0.0.1:9000"),
            (
                "POLAR_AUTHORIZE_URL",
                "http://127.0.0.1:9000/oauth2/authorization",
            ),
            ("POLAR_TOKEN_URL", "http://127.0.0.1:9000/v2/oauth2/token"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(sandbox.api_base_url.as_str(), "http://127.0.0.1:9000/");
        assert!(PolarSettings::from_vars(&Vars::from_pairs([
            ("POLAR_SECRET_ID", "polar"),
            ("POLAR_TOKEN_URL", "not a url"),
        ]))
        .is_err());
    }

    #[test]
    fn the_signing_key_may_be_missing_until_the_webhook_exists() {
        let c: PolarCredentials =
            serde_json::from_str(r#"{"client_id":"id","client_secret":"s"}"#).unwrap();
        assert!(c.webhook_signature_key.is_none());
        let c: PolarCredentials = serde_json::from_str(
            r#"{"client_id":"id","client_secret":"s","webhook_signature_key":"k"}"#,
        )
        .unwrap();
        assert_eq!(c.webhook_signature_key.unwrap().expose(), "k");
    }
}
