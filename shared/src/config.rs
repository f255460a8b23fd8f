//! Typed configuration: plain settings from the environment, credentials from
//! Secrets Manager (see [`crate::secret_store`]). Every endpoint URL is configuration, so the
//! same binaries talk to the real services and to the sandboxes.

use std::env;

use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

fn required(name: &'static str) -> Result<String, ConfigError> {
    env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing(name))
}

fn optional(name: &'static str, default: &str) -> String {
    env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn url(name: &'static str, value: String) -> Result<Url, ConfigError> {
    Url::parse(value.trim_end_matches('/')).map_err(|e| ConfigError::Invalid {
        name,
        reason: e.to_string(),
    })
}

/// Where the Fitbit Web API lives, and which of its credentials secret to read.
#[derive(Clone, Debug)]
pub struct FitbitSettings {
    /// `https://www.fitbit.com/oauth2/authorize`
    pub authorize_url: Url,
    /// `https://api.fitbit.com` (token, revoke and data endpoints hang below it)
    pub api_base_url: Url,
    /// Secrets Manager id of `{client_id, client_secret, subscriber_verification_code}`.
    pub secret_id: String,
    /// Scopes we ask for; people may grant fewer.
    pub scopes: Vec<String>,
}

impl FitbitSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(FitbitSettings {
            authorize_url: url(
                "FITBIT_AUTHORIZE_URL",
                optional(
                    "FITBIT_AUTHORIZE_URL",
                    "https://www.fitbit.com/oauth2/authorize",
                ),
            )?,
            api_base_url: url(
                "FITBIT_API_BASE_URL",
                optional("FITBIT_API_BASE_URL", "https://api.fitbit.com"),
            )?,
            secret_id: required("FITBIT_SECRET_ID")?,
            scopes: optional("FITBIT_SCOPES", "profile activity sleep weight")
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        })
    }
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
    /// Contact origin configured in the tenant for provider ids, e.g. `FITBIT`.
    pub contact_origin: String,
    /// Origin of the company's own customer ids, attached as additional ids.
    pub customer_id_origin: String,
    /// `Sap-Cuan-SourceSystemType` / `Sap-Cuan-SourceSystemId` on every write.
    pub source_system_type: String,
    pub source_system_id: String,
}

impl SapSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let contact_api = match optional("SAP_CONTACT_API", "contact").as_str() {
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
            base_url: url("SAP_BASE_URL", required("SAP_BASE_URL")?)?,
            secret_id: required("SAP_SECRET_ID")?,
            contact_api,
            contact_origin: optional("SAP_CONTACT_ORIGIN", "FITBIT"),
            customer_id_origin: optional("SAP_CUSTOMER_ID_ORIGIN", "CUSTOMER_ID"),
            source_system_type: optional("SAP_SOURCE_SYSTEM_TYPE", "EXT"),
            source_system_id: optional("SAP_SOURCE_SYSTEM_ID", "FITBRIDGE"),
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
}

impl ConnectSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(ConnectSettings {
            public_base_url: match optional("PUBLIC_BASE_URL", "") {
                v if v.is_empty() => None,
                v => Some(url("PUBLIC_BASE_URL", v)?),
            },
            link_secret_id: required("CONNECT_LINK_SECRET_ID")?,
        })
    }
}

pub fn table_name() -> Result<String, ConfigError> {
    required("TABLE_NAME")
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
        let max_receive_count = optional("WORK_QUEUE_MAX_RECEIVE_COUNT", "5")
            .parse()
            .map_err(|_| ConfigError::Invalid {
                name: "WORK_QUEUE_MAX_RECEIVE_COUNT",
                reason: "not a whole number".into(),
            })?;
        Ok(QueueSettings {
            work_queue_url: required("WORK_QUEUE_URL")?,
            retry_queue_url: env::var("RETRY_QUEUE_URL").ok().filter(|v| !v.is_empty()),
            max_receive_count,
        })
    }

    pub fn retry_queue_url(&self) -> Result<&str, ConfigError> {
        self.retry_queue_url
            .as_deref()
            .ok_or(ConfigError::Missing("RETRY_QUEUE_URL"))
    }
}

/// `INTERACTION_MAPPING` (JSON, empty for the defaults).
pub fn interaction_mapping() -> Result<crate::marketing::mapping::InteractionMapping, ConfigError> {
    crate::marketing::mapping::InteractionMapping::from_json(&optional("INTERACTION_MAPPING", ""))
        .map_err(|e| ConfigError::Invalid {
            name: "INTERACTION_MAPPING",
            reason: e.to_string(),
        })
}

/// Parallel scan segments of the daily job.
pub fn scan_segments() -> Result<u32, ConfigError> {
    optional("SCAN_SEGMENTS", "8")
        .parse()
        .ok()
        .filter(|n| (1..=64).contains(n))
        .ok_or(ConfigError::Invalid {
            name: "SCAN_SEGMENTS",
            reason: "must be 1 to 64".into(),
        })
}
