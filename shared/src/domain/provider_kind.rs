//! The providers fitbridge knows, by name: a plain enum. What each can do (its scope
//! vocabulary, its predecessor, how its people look in SAP) is the provider catalog's to
//! say ([`crate::ports::catalog::ProviderCatalog`]), built by the registry.

use std::fmt;
use std::str::FromStr;

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
    #[serde(rename = "polar")]
    Polar,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 3] = [
        ProviderKind::Fitbit,
        ProviderKind::GoogleHealth,
        ProviderKind::Polar,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Fitbit => "fitbit",
            ProviderKind::GoogleHealth => "google-health",
            ProviderKind::Polar => "polar",
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
