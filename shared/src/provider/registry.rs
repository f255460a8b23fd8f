//! The provider registry: the one list of the providers fitbridge knows, and the one place
//! outside a provider's own folder that names them.
//!
//! Adding a provider: its folder under `provider/`, a variant here with its arm in each
//! `match` below, a block in the SAM template, sample events and docs. Nothing else
//! changes: use cases see providers only through the ports in [`super`].

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use super::google_health::signature::{HttpKeysetSource, KeysetCache};
use super::{fitbit, google_health, Provider, Providers, Webhook, Webhooks};
use crate::clock::SharedClock;
use crate::config::ConfigError;
use crate::domain::{Collection, Scopes};
use crate::marketing::mapping::InteractionMapping;
use crate::secret_store::SecretCache;

/// A data provider people connect. Its name is its wire form: routes (`/connect/{name}`),
/// table keys and work items carry it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum ProviderKind {
    #[serde(rename = "fitbit")]
    Fitbit,
    #[serde(rename = "google-health")]
    GoogleHealth,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 2] = [ProviderKind::Fitbit, ProviderKind::GoogleHealth];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Fitbit => "fitbit",
            ProviderKind::GoogleHealth => "google-health",
        }
    }

    /// The collections a set of granted scopes gives access to, in the provider's own
    /// scope vocabulary.
    pub fn granted_collections(self, scopes: &Scopes) -> Vec<Collection> {
        match self {
            ProviderKind::Fitbit => fitbit::scopes::granted_collections(scopes),
            ProviderKind::GoogleHealth => google_health::scopes::granted_collections(scopes),
        }
    }

    /// The provider this one succeeds, whose people migrate to it keeping their contact.
    pub fn predecessor(self) -> Option<ProviderKind> {
        match self {
            ProviderKind::Fitbit => None,
            ProviderKind::GoogleHealth => Some(ProviderKind::Fitbit),
        }
    }

    /// How this provider's people and days look in SAP when the configuration says
    /// nothing else.
    pub fn default_mapping(self) -> InteractionMapping {
        match self {
            ProviderKind::Fitbit => fitbit::default_mapping(),
            ProviderKind::GoogleHealth => google_health::default_mapping(),
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProviderKind {
    type Err = UnknownProvider;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProviderKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(UnknownProvider)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown provider")]
pub struct UnknownProvider;

/// The settings of every provider this deployment serves. A provider is served when its
/// credentials secret is configured (`<PROVIDER>_SECRET_ID`), so a stack can run one
/// provider, the other, or both.
#[derive(Clone, Debug, Default)]
pub struct ProviderSettings {
    pub fitbit: Option<fitbit::FitbitSettings>,
    pub google_health: Option<google_health::GoogleHealthSettings>,
}

impl ProviderSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(ProviderSettings {
            fitbit: fitbit::FitbitSettings::from_env()?,
            google_health: google_health::GoogleHealthSettings::from_env()?,
        })
    }

    /// The Secrets Manager ids of the served providers' credentials.
    pub fn secret_ids(&self) -> Vec<String> {
        let fitbit = self.fitbit.as_ref().map(|s| s.secret_id.clone());
        let google = self.google_health.as_ref().map(|s| s.secret_id.clone());
        fitbit.into_iter().chain(google).collect()
    }

    /// The providers this deployment serves.
    pub fn served(&self) -> Vec<ProviderKind> {
        let mut kinds = Vec::new();
        if self.fitbit.is_some() {
            kinds.push(ProviderKind::Fitbit);
        }
        if self.google_health.is_some() {
            kinds.push(ProviderKind::GoogleHealth);
        }
        kinds
    }
}

/// The API clients of every served provider. Built once per container.
pub fn providers(
    settings: &ProviderSettings,
    http: reqwest::Client,
    secrets: Arc<SecretCache>,
    clock: SharedClock,
) -> Providers {
    let mut map: BTreeMap<ProviderKind, Arc<dyn Provider>> = BTreeMap::new();
    if let Some(s) = &settings.fitbit {
        map.insert(
            ProviderKind::Fitbit,
            Arc::new(fitbit::FitbitClient::new(
                http.clone(),
                s.clone(),
                secrets.clone(),
                clock.clone(),
            )),
        );
    }
    if let Some(s) = &settings.google_health {
        map.insert(
            ProviderKind::GoogleHealth,
            Arc::new(google_health::GoogleHealthClient::new(
                http,
                s.clone(),
                secrets,
                clock,
            )),
        );
    }
    Providers::new(map)
}

/// The webhook receivers of every served provider. Built once per container.
pub fn webhooks(
    settings: &ProviderSettings,
    http: reqwest::Client,
    secrets: Arc<SecretCache>,
) -> Webhooks {
    let mut map: BTreeMap<ProviderKind, Arc<dyn Webhook>> = BTreeMap::new();
    if let Some(s) = &settings.fitbit {
        map.insert(
            ProviderKind::Fitbit,
            Arc::new(fitbit::webhook::FitbitWebhook::new(
                s.secret_id.clone(),
                secrets.clone(),
            )),
        );
    }
    if let Some(s) = &settings.google_health {
        let keys = KeysetCache::new(Arc::new(HttpKeysetSource::new(http, s.keyset_url.clone())));
        map.insert(
            ProviderKind::GoogleHealth,
            Arc::new(google_health::webhook::GoogleHealthWebhook::new(
                s.secret_id.clone(),
                secrets,
                keys,
            )),
        );
    }
    Webhooks::new(map)
}
