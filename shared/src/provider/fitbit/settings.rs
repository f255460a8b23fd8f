//! Where the Fitbit Web API lives and which credentials to use.

use serde::Deserialize;
use url::Url;

use crate::domain::Secret;
use crate::settings::{SettingsError, Vars};

/// Read from `FITBIT_*`; the provider is served when `FITBIT_SECRET_ID` is set.
#[derive(Clone, Debug)]
pub struct FitbitSettings {
    /// `https://www.fitbit.com/oauth2/authorize`
    pub authorize_url: Url,
    /// `https://api.fitbit.com` (token, revoke and data endpoints hang below it)
    pub api_base_url: Url,
    /// Secrets Manager id of [`FitbitCredentials`].
    pub secret_id: String,
    /// Scopes we ask for; people may grant fewer.
    pub scopes: Vec<String>,
}

impl FitbitSettings {
    pub fn from_vars(vars: &Vars) -> Result<Option<Self>, SettingsError> {
        let Some(secret_id) = vars.optional("FITBIT_SECRET_ID") else {
            return Ok(None);
        };
        Ok(Some(FitbitSettings {
            authorize_url: vars.url(
                "FITBIT_AUTHORIZE_URL",
                "https://www.fitbit.com/oauth2/authorize",
            )?,
            api_base_url: vars.url("FITBIT_API_BASE_URL", "https://api.fitbit.com")?,
            secret_id,
            scopes: vars.list("FITBIT_SCOPES", "profile activity sleep weight"),
        }))
    }
}

/// The Fitbit app's credentials secret: `{client_id, client_secret,
/// subscriber_verification_code}`.
#[derive(Clone, Debug, Deserialize)]
pub struct FitbitCredentials {
    pub client_id: String,
    /// Also the key of notification signatures (`client_secret&`).
    pub client_secret: Secret,
    /// What the subscriber verification GET must carry.
    pub subscriber_verification_code: Option<Secret>,
}
