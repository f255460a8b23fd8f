//! The subscriber and its operations as Google's API shapes them, and what can go wrong.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use fitbridge::domain::Secret;

/// How long and how often to wait for an unfinished operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperationPolling {
    /// Delay before the first poll; it doubles after each one.
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// Give up (with [`SubscriberError::OperationTimeout`]) once this has passed since
    /// the method answered.
    pub timeout: Duration,
}

impl Default for OperationPolling {
    fn default() -> Self {
        OperationPolling {
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
            timeout: Duration::from_secs(120),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SubscriberError {
    /// Refused before any call: the arguments cannot be what Google accepts.
    #[error("{0}")]
    InvalidArgument(String),
    /// Google answered the method itself with an error.
    #[error("Google refused {method}: HTTP {status} {status_word}: {message}")]
    Refused {
        method: &'static str,
        status: u16,
        /// Google's status word (`ALREADY_EXISTS`, `NOT_FOUND`, ...), empty if none.
        status_word: String,
        message: String,
    },
    /// The long-running operation finished with an error (e.g. a failed endpoint
    /// verification: `FAILED_PRECONDITION`).
    #[error(
        "{method} failed: operation {operation} ended with code {code} ({code_name}): {message}"
    )]
    OperationFailed {
        method: &'static str,
        operation: String,
        code: i32,
        code_name: &'static str,
        message: String,
    },
    #[error("{method}: operation {operation} was not done after {waited:?}")]
    OperationTimeout {
        method: &'static str,
        operation: String,
        waited: Duration,
    },
    #[error("Google could not be reached: {0}")]
    Unavailable(String),
    #[error("unexpected answer from Google: {0}")]
    Malformed(String),
}

impl SubscriberError {
    /// Whether the caller's input is at fault (nothing was sent to Google).
    pub fn is_invalid_argument(&self) -> bool {
        matches!(self, SubscriberError::InvalidArgument(_))
    }
}

/// A subscriber as Google answers it. The secret is input only: `endpointAuthorization`
/// comes back as `{secretSet: true}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscriber {
    /// `projects/{project}/subscribers/{subscriber}`
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub endpoint_uri: String,
    /// `UNVERIFIED`, `ACTIVE`, `INACTIVE`, ...
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub subscriber_configs: Vec<SubscriberConfig>,
    #[serde(default)]
    pub endpoint_authorization: Option<EndpointAuthorizationState>,
    #[serde(default)]
    pub create_time: Option<String>,
    #[serde(default)]
    pub update_time: Option<String>,
}

impl Subscriber {
    /// The last segment of the name (the subscriber id).
    pub fn id(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or_default()
    }

    pub fn secret_set(&self) -> bool {
        self.endpoint_authorization
            .as_ref()
            .is_some_and(|a| a.secret_set)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriberConfig {
    #[serde(default)]
    pub data_types: Vec<String>,
    #[serde(default)]
    pub subscription_create_policy: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointAuthorizationState {
    #[serde(default)]
    pub secret_set: bool,
}

/// What a patch changes; `None` leaves a field as it is. Changing the endpoint or the
/// authorization makes Google verify the endpoint again.
#[derive(Clone, Debug, Default)]
pub struct SubscriberChanges {
    pub endpoint_uri: Option<String>,
    pub authorization: Option<Secret>,
    /// Replaces the subscriber's configs with one `AUTOMATIC` config of these types.
    pub data_types: Option<Vec<String>>,
}

impl SubscriberChanges {
    /// The `updateMask`: the changed fields, as the discovery document names them.
    pub fn update_mask(&self) -> String {
        let mut fields = Vec::new();
        if self.endpoint_uri.is_some() {
            fields.push("endpoint_uri");
        }
        if self.data_types.is_some() {
            fields.push("subscriber_configs");
        }
        if self.authorization.is_some() {
            fields.push("endpoint_authorization");
        }
        fields.join(",")
    }

    pub fn is_empty(&self) -> bool {
        self.endpoint_uri.is_none() && self.authorization.is_none() && self.data_types.is_none()
    }
}

/// `google.longrunning.Operation`
#[derive(Debug, Default, Deserialize)]
pub(super) struct Operation {
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) done: bool,
    #[serde(default)]
    pub(super) error: Option<Status>,
    #[serde(default)]
    pub(super) response: Option<Value>,
}

/// `google.rpc.Status`
#[derive(Debug, Default, Deserialize)]
pub(super) struct Status {
    #[serde(default)]
    pub(super) code: i32,
    #[serde(default)]
    pub(super) message: String,
}

/// `{"error": {"code", "message", "status"}}`
#[derive(Debug, Default, Deserialize)]
pub(super) struct ErrorBody {
    #[serde(default)]
    pub(super) error: ErrorDetail,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ErrorDetail {
    #[serde(default)]
    pub(super) message: String,
    #[serde(default)]
    pub(super) status: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListSubscribersResponse {
    #[serde(default)]
    pub(super) subscribers: Vec<Subscriber>,
    #[serde(default)]
    pub(super) next_page_token: Option<String>,
}
