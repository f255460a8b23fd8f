//! The provider registry: the one list of the providers fitbridge knows, and the one place
//! outside a provider's own folder that names them.
//!
//! Adding a provider: its folder under `provider/`, a variant here with its arm in each
//! `match` below, a block in the SAM template, sample events and docs. Nothing else
//! changes: use cases see providers only through the ports in [`super`].

use std::collections::BTreeMap;
use std::sync::Arc;

use super::google_health::signature::{HttpKeysetSource, KeysetCache};
use super::{fitbit, google_health, polar};
use crate::domain::mapping::{InteractionMapping, Mappings};
use crate::domain::{Collection, ProviderKind, Scopes};
use crate::ports::budget::RequestBudget;
use crate::ports::catalog::{Catalog, ProviderCatalog};
use crate::ports::clock::SharedClock;
use crate::ports::provider::{Provider, Providers, Webhook, Webhooks};
use crate::secret_store::SecretCache;
use crate::settings::{SettingsError, Vars};

/// The catalog of every provider fitbridge knows: what each kind's own folder says.
#[derive(Clone, Copy, Debug, Default)]
pub struct Registry;

impl ProviderCatalog for Registry {
    fn granted_collections(&self, kind: ProviderKind, scopes: &Scopes) -> Vec<Collection> {
        match kind {
            ProviderKind::Fitbit => fitbit::scopes::granted_collections(scopes),
            ProviderKind::GoogleHealth => google_health::scopes::granted_collections(scopes),
            ProviderKind::Polar => polar::scopes::granted_collections(scopes),
        }
    }

    fn predecessor(&self, kind: ProviderKind) -> Option<ProviderKind> {
        match kind {
            ProviderKind::Fitbit => None,
            ProviderKind::GoogleHealth => Some(ProviderKind::Fitbit),
            ProviderKind::Polar => None,
        }
    }

    fn default_mapping(&self, kind: ProviderKind) -> InteractionMapping {
        match kind {
            ProviderKind::Fitbit => fitbit::default_mapping(),
            ProviderKind::GoogleHealth => google_health::default_mapping(),
            ProviderKind::Polar => polar::default_mapping(),
        }
    }
}

/// Requests a minute the shared request budget allows each provider's project unless
/// configured: the provider's documented quota less headroom, or 0 (not counted) where
/// the quota is per person only (Fitbit's 150 an hour) or grows with the number of
/// people (Polar's partner limits: set it for your people, see the configuration docs).
pub fn default_budget(kind: ProviderKind) -> u32 {
    match kind {
        ProviderKind::Fitbit => 0,
        ProviderKind::GoogleHealth => google_health::PROJECT_REQUESTS_PER_MINUTE,
        ProviderKind::Polar => 0,
    }
}

/// Every provider's own SAP mapping, as no configuration changes it.
pub fn default_mappings() -> Mappings {
    Mappings::defaults(|kind| Registry.default_mapping(kind))
}

/// The catalog as services hold it.
pub fn catalog() -> Catalog {
    std::sync::Arc::new(Registry)
}

/// The settings of every provider this deployment serves. A provider is served when its
/// credentials secret is configured (`<PROVIDER>_SECRET_ID`), so a stack can run any of
/// them.
#[derive(Clone, Debug, Default)]
pub struct ProviderSettings {
    pub fitbit: Option<fitbit::FitbitSettings>,
    pub google_health: Option<google_health::GoogleHealthSettings>,
    pub polar: Option<polar::PolarSettings>,
}

impl ProviderSettings {
    pub fn from_vars(vars: &Vars) -> Result<Self, SettingsError> {
        Ok(ProviderSettings {
            fitbit: fitbit::FitbitSettings::from_vars(vars)?,
            google_health: google_health::GoogleHealthSettings::from_vars(vars)?,
            polar: polar::PolarSettings::from_vars(vars)?,
        })
    }

    /// The Secrets Manager ids of the served providers' credentials.
    pub fn secret_ids(&self) -> Vec<String> {
        let fitbit = self.fitbit.as_ref().map(|s| s.secret_id.clone());
        let google = self.google_health.as_ref().map(|s| s.secret_id.clone());
        let polar = self.polar.as_ref().map(|s| s.secret_id.clone());
        fitbit.into_iter().chain(google).chain(polar).collect()
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
        if self.polar.is_some() {
            kinds.push(ProviderKind::Polar);
        }
        kinds
    }
}

/// The API clients of every served provider, reporting what they learn of their quotas to
/// `budget` (the container's shared request budget). Built once per container.
pub fn providers(
    settings: &ProviderSettings,
    http: reqwest::Client,
    secrets: Arc<SecretCache>,
    clock: SharedClock,
    budget: Arc<dyn RequestBudget>,
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
                http.clone(),
                s.clone(),
                secrets.clone(),
                clock.clone(),
            )),
        );
    }
    if let Some(s) = &settings.polar {
        map.insert(
            ProviderKind::Polar,
            Arc::new(polar::PolarClient::new(
                http,
                s.clone(),
                secrets,
                budget,
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
                secrets.clone(),
                keys,
            )),
        );
    }
    if let Some(s) = &settings.polar {
        map.insert(
            ProviderKind::Polar,
            Arc::new(polar::webhook::PolarWebhook::new(
                s.secret_id.clone(),
                secrets,
            )),
        );
    }
    Webhooks::new(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ProviderUserId, WorkItem};

    #[test]
    fn every_providers_defaults_fit_sap() {
        default_mappings().validate().unwrap();
    }

    #[test]
    fn a_provider_is_served_when_its_secret_is_configured() {
        let none = ProviderSettings::from_vars(&Vars::default()).unwrap();
        assert!(none.served().is_empty());
        let polar =
            ProviderSettings::from_vars(&Vars::from_pairs([("POLAR_SECRET_ID", "polar")])).unwrap();
        assert_eq!(polar.served(), [ProviderKind::Polar]);
        assert_eq!(polar.secret_ids(), ["polar"]);
        assert_eq!(Registry.predecessor(ProviderKind::Polar), None);
        assert_eq!(
            Registry
                .granted_collections(ProviderKind::Polar, &Scopes::parse(polar::scopes::READ_ALL)),
            [Collection::Activities, Collection::Sleep]
        );
    }

    #[test]
    fn a_sync_covers_what_was_granted() {
        let user = ProviderUserId("GGNJL9".into());
        let day = time::macros::date!(2026 - 11 - 21);
        for kind in ProviderKind::ALL {
            assert_eq!(
                Registry.sync_work(kind, &user, &Scopes::default(), day),
                None
            );
            let scopes = Scopes::parse("activity sleep weight");
            let granted = Registry.granted_collections(kind, &scopes);
            assert_eq!(
                Registry.sync_work(kind, &user, &scopes, day),
                (!granted.is_empty()).then(|| WorkItem::sync(kind, user.clone(), day, granted))
            );
        }
    }
}
