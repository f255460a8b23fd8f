//! Typed configuration: plain settings from the environment, credentials from
//! Secrets Manager (see [`crate::secret_store`]). Every endpoint URL is configuration, so the
//! same binaries talk to the real services and to the sandboxes.
//!
//! This module only reads the environment. Adapters take the settings values it builds;
//! each provider declares its own settings (in its folder) with the readers here.

use std::env;

use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// A required variable: set and not empty.
pub fn required_var(name: &'static str) -> Result<String, ConfigError> {
    optional_var(name).ok_or(ConfigError::Missing(name))
}

/// An optional variable: `None` when unset or empty.
pub fn optional_var(name: &'static str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.is_empty())
}

fn with_default(name: &'static str, default: &str) -> String {
    optional_var(name).unwrap_or_else(|| default.to_owned())
}

/// A URL variable (a trailing slash is dropped), `default` when unset.
pub fn url_var(name: &'static str, default: &str) -> Result<Url, ConfigError> {
    parse_url(name, &with_default(name, default))
}

/// A whitespace-separated list, `default` when unset.
pub fn list_var(name: &'static str, default: &str) -> Vec<String> {
    with_default(name, default)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn parse_url(name: &'static str, value: &str) -> Result<Url, ConfigError> {
    Url::parse(value.trim_end_matches('/')).map_err(|e| ConfigError::Invalid {
        name,
        reason: e.to_string(),
    })
}

/// Which SAP API carries contacts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContactApi {
    /// `API_MKT_CONTACT_SRV;v=0004`, SAP's recommendation since release 1711.
    Contact,
    /// `CUAN_IMPORT_SRV/ImportHeaders`, the original design's import service.
    Cuan,
}

#[derive(Clone, Debug)]
pub struct SapSettings {
    /// The tenant's API host, e.g. `https://my000000-api.s4hana.ondemand.com`.
    pub base_url: Url,
    /// Secrets Manager id of `{username, password}` (the communication user).
    pub secret_id: String,
    pub contact_api: ContactApi,
    /// Origin of the company's own customer ids, attached as additional ids.
    pub customer_id_origin: String,
    /// `Sap-Cuan-SourceSystemType` / `Sap-Cuan-SourceSystemId` on every write.
    pub source_system_type: String,
    pub source_system_id: String,
}

impl SapSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let contact_api = match with_default("SAP_CONTACT_API", "contact").as_str() {
            "contact" => ContactApi::Contact,
            "cuan" => ContactApi::Cuan,
            other => {
                return Err(ConfigError::Invalid {
                    name: "SAP_CONTACT_API",
                    reason: format!("{other:?} is neither \"contact\" nor \"cuan\""),
                })
            }
        };
        Ok(SapSettings {
            base_url: parse_url("SAP_BASE_URL", &required_var("SAP_BASE_URL")?)?,
            secret_id: required_var("SAP_SECRET_ID")?,
            contact_api,
            customer_id_origin: with_default("SAP_CUSTOMER_ID_ORIGIN", "CUSTOMER_ID"),
            source_system_type: with_default("SAP_SOURCE_SYSTEM_TYPE", "EXT"),
            source_system_id: with_default("SAP_SOURCE_SYSTEM_ID", "FITBRIDGE"),
        })
    }
}

/// Settings of the OAuth (connect) function.
#[derive(Clone, Debug)]
pub struct ConnectSettings {
    /// The API's public base URL; redirect URIs hang below it. `None`: the API's own
    /// domain as API Gateway reports it per request (the template cannot pass the API's
    /// URL to its own function without a dependency cycle).
    pub public_base_url: Option<Url>,
    /// Secrets Manager id of `{key}`, the HMAC key the company's app signs connect links with.
    pub link_secret_id: String,
    /// Days before today imported when a person connects (`BACKFILL_DAYS`, default 30,
    /// at most 90; 0: none), so windows and scores mean something from day one.
    pub backfill_days: u32,
}

/// The longest backfill: the providers' range limits and a person's hourly rate limit
/// (30 days of three collections are 90 of the legacy API's 150 requests an hour).
pub const MAX_BACKFILL_DAYS: u32 = 90;

impl ConnectSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(ConnectSettings {
            public_base_url: optional_var("PUBLIC_BASE_URL")
                .map(|v| parse_url("PUBLIC_BASE_URL", &v))
                .transpose()?,
            link_secret_id: required_var("CONNECT_LINK_SECRET_ID")?,
            backfill_days: match optional_var("BACKFILL_DAYS") {
                None => 30,
                Some(v) => v.parse().ok().filter(|d| *d <= MAX_BACKFILL_DAYS).ok_or(
                    ConfigError::Invalid {
                        name: "BACKFILL_DAYS",
                        reason: format!("a number of days, 0 to {MAX_BACKFILL_DAYS}"),
                    },
                )?,
            },
        })
    }
}

pub fn table_name() -> Result<String, ConfigError> {
    required_var("TABLE_NAME")
}

/// The queue URLs and redrive setting the pipeline functions use.
#[derive(Clone, Debug)]
pub struct QueueSettings {
    pub work_queue_url: String,
    /// Only the worker sends there.
    pub retry_queue_url: Option<String>,
    /// The work queue's redrive `maxReceiveCount`.
    pub max_receive_count: u32,
}

impl QueueSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let max_receive_count = with_default("WORK_QUEUE_MAX_RECEIVE_COUNT", "5")
            .parse()
            .map_err(|_| ConfigError::Invalid {
                name: "WORK_QUEUE_MAX_RECEIVE_COUNT",
                reason: "not a whole number".into(),
            })?;
        Ok(QueueSettings {
            work_queue_url: required_var("WORK_QUEUE_URL")?,
            retry_queue_url: optional_var("RETRY_QUEUE_URL"),
            max_receive_count,
        })
    }

    pub fn retry_queue_url(&self) -> Result<&str, ConfigError> {
        self.retry_queue_url
            .as_deref()
            .ok_or(ConfigError::Missing("RETRY_QUEUE_URL"))
    }
}

/// `INTERACTION_MAPPING`: per provider, how its people and days look in SAP (JSON keyed by
/// provider; empty for the providers' defaults).
pub fn mappings() -> Result<crate::marketing::mapping::Mappings, ConfigError> {
    crate::marketing::mapping::Mappings::from_json(&with_default("INTERACTION_MAPPING", ""))
        .map_err(|e| ConfigError::Invalid {
            name: "INTERACTION_MAPPING",
            reason: e.to_string(),
        })
}

/// Parallel scan segments of the daily job.
pub fn scan_segments() -> Result<u32, ConfigError> {
    with_default("SCAN_SEGMENTS", "8")
        .parse()
        .ok()
        .filter(|n| (1..=64).contains(n))
        .ok_or(ConfigError::Invalid {
            name: "SCAN_SEGMENTS",
            reason: "must be 1 to 64".into(),
        })
}
