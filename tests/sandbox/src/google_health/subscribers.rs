//! Subscribers (`projects/{project}/subscribers`) and their manual subscriptions, Google's
//! endpoint verification, and the long-running `Operation`s the subscriber methods answer.
//!
//! The discovery document has no `operations.get`, so operations are answered finished
//! (`done: true`) with the resource (or `google.protobuf.Empty`) inline in `response`, or
//! with `error` when the endpoint verification failed.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;
use url::Url;

use super::data::timestamp;
use super::error::ApiError;
use super::GoogleHealthSandbox;
use crate::random;

const TYPE_PREFIX: &str = "type.googleapis.com/google.devicesandservices.health.v4.";

/// What the two verification probes got back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationOutcome {
    /// Status of the probe with the registered `Authorization` value (Google expects 201).
    pub authorized_status: Option<u16>,
    /// Status of the probe without `Authorization` (Google expects 401 or 403).
    pub unauthorized_status: Option<u16>,
    pub verified: bool,
    /// Why verification failed, as the operation error says.
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct SubscriberConfig {
    pub(super) data_types: Vec<String>,
    /// `AUTOMATIC` or `MANUAL`.
    pub(super) policy: String,
}

#[derive(Clone, Debug)]
pub(super) struct Subscriber {
    /// The project segment as given at creation (id or number).
    pub(super) project: String,
    pub(super) id: String,
    pub(super) endpoint_uri: String,
    pub(super) secret: String,
    pub(super) configs: Vec<SubscriberConfig>,
    pub(super) create_time: OffsetDateTime,
    pub(super) update_time: OffsetDateTime,
}

impl Subscriber {
    pub(super) fn name(&self) -> String {
        format!("projects/{}/subscribers/{}", self.project, self.id)
    }

    /// As the API answers it: the secret is input only, `secretSet` says it is there.
    pub(super) fn json(&self) -> Value {
        let mut subscriber = json!({
            "name": self.name(),
            "endpointUri": self.endpoint_uri,
            "endpointAuthorization": { "secretSet": true },
            "state": "ACTIVE",
            "createTime": timestamp(self.create_time),
            "updateTime": timestamp(self.update_time),
        });
        if !self.configs.is_empty() {
            subscriber["subscriberConfigs"] = json!(self
                .configs
                .iter()
                .map(|c| json!({ "dataTypes": c.data_types, "subscriptionCreatePolicy": c.policy }))
                .collect::<Vec<_>>());
        }
        subscriber
    }

    /// The policy under which the subscriber wants notifications of `data_type`.
    pub(super) fn policy_for(&self, data_type: &str) -> Option<&str> {
        self.configs
            .iter()
            .find(|c| c.data_types.iter().any(|t| t == data_type))
            .map(|c| c.policy.as_str())
    }
}

#[derive(Clone, Debug)]
pub(super) struct Subscription {
    pub(super) subscriber_id: String,
    pub(super) project: String,
    pub(super) id: String,
    pub(super) user: String,
    /// Plain data type ids (`steps`).
    pub(super) data_types: Vec<String>,
}

impl Subscription {
    pub(super) fn json(&self) -> Value {
        json!({
            "name": format!("projects/{}/subscribers/{}/subscriptions/{}", self.project, self.subscriber_id, self.id),
            "user": format!("users/{}", self.user),
            "dataTypes": self
                .data_types
                .iter()
                .map(|t| format!("users/{}/dataTypes/{t}", self.user))
                .collect::<Vec<_>>(),
        })
    }
}

#[derive(Default)]
pub(super) struct Registry {
    pub(super) subscribers: Vec<Subscriber>,
    pub(super) subscriptions: Vec<Subscription>,
}

impl Registry {
    pub(super) fn find(&self, id: &str) -> Option<&Subscriber> {
        self.subscribers.iter().find(|s| s.id == id)
    }

    pub(super) fn find_mut(&mut self, id: &str) -> Option<&mut Subscriber> {
        self.subscribers.iter_mut().find(|s| s.id == id)
    }

    pub(super) fn list_json(&self) -> Vec<Value> {
        self.subscribers.iter().map(Subscriber::json).collect()
    }
}

/// `[a-z]([a-z0-9-]{2,34}[a-z0-9])`: ids of subscribers and subscriptions.
pub(super) fn is_valid_resource_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    (4..=36).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes[1..]
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[bytes.len() - 1] != b'-'
}

/// A finished long-running operation carrying `response` (with its `@type`).
pub(super) fn operation_done(
    project: &str,
    metadata_type: &str,
    response_type: &str,
    response: Value,
) -> Value {
    let mut response = response;
    if let Value::Object(map) = &mut response {
        map.insert("@type".to_owned(), json!(response_type));
    }
    json!({
        "name": format!("projects/{project}/operations/{}", random::uuid_v4()),
        "metadata": { "@type": format!("{TYPE_PREFIX}{metadata_type}") },
        "done": true,
        "response": response,
    })
}

pub(super) fn subscriber_type() -> String {
    format!("{TYPE_PREFIX}Subscriber")
}

pub(super) const EMPTY_TYPE: &str = "type.googleapis.com/google.protobuf.Empty";

/// A finished operation that failed.
pub(super) fn operation_failed(project: &str, metadata_type: &str, error: &ApiError) -> Value {
    json!({
        "name": format!("projects/{project}/operations/{}", random::uuid_v4()),
        "metadata": { "@type": format!("{TYPE_PREFIX}{metadata_type}") },
        "done": true,
        "error": error.status_json(),
    })
}

/// The endpoint URI rules of `CreateSubscriberPayload.endpointUri`.
pub(super) fn check_endpoint_uri(uri: &str, require_https: bool) -> Result<(), ApiError> {
    let url = Url::parse(uri).map_err(|e| {
        ApiError::bad_request(
            format!("endpoint_uri is not a valid URL: {e}"),
            Some("endpoint_uri"),
        )
    })?;
    let scheme_ok = if require_https {
        url.scheme() == "https"
    } else {
        matches!(url.scheme(), "http" | "https")
    };
    if !scheme_ok {
        return Err(ApiError::bad_request(
            "endpoint_uri must use HTTPS as the scheme.",
            Some("endpoint_uri"),
        ));
    }
    Ok(())
}

impl GoogleHealthSandbox {
    /// Google's endpoint verification: `POST {"type":"verification"}` with the registered
    /// `Authorization` value (must answer 201), then without it (must answer 401 or 403).
    pub async fn verify_endpoint(
        &self,
        endpoint_uri: &str,
        authorization: &str,
    ) -> VerificationOutcome {
        let body = r#"{"type": "verification"}"#;
        let probe = |with_authorization: bool| {
            let mut request = self
                .http
                .post(endpoint_uri)
                .header("content-type", "application/json")
                .header("user-agent", "Google-Health-API-Webhooks-Verifier")
                .body(body);
            if with_authorization {
                request = request.header("authorization", authorization);
            }
            request.send()
        };
        let authorized = probe(true).await;
        self.lock().stats.verification_probes += 1;
        let authorized_status = match authorized {
            Ok(response) => response.status().as_u16(),
            Err(error) => {
                return VerificationOutcome {
                    authorized_status: None,
                    unauthorized_status: None,
                    verified: false,
                    error: Some(format!(
                    "Endpoint verification failed: the endpoint could not be reached ({error})."
                )),
                }
            }
        };
        let unauthorized = probe(false).await;
        self.lock().stats.verification_probes += 1;
        let unauthorized_status = match unauthorized {
            Ok(response) => response.status().as_u16(),
            Err(error) => {
                return VerificationOutcome {
                    authorized_status: Some(authorized_status),
                    unauthorized_status: None,
                    verified: false,
                    error: Some(format!(
                    "Endpoint verification failed: the endpoint could not be reached ({error})."
                )),
                }
            }
        };
        let authorized_ok = authorized_status == 201
            || (self.config.lenient_verification && authorized_status == 200);
        let unauthorized_ok = matches!(unauthorized_status, 401 | 403);
        let error = if !authorized_ok {
            Some(format!(
                "Endpoint verification failed: the request with the Authorization header was answered \
                 {authorized_status}, expected 201 Created."
            ))
        } else if !unauthorized_ok {
            Some(format!(
                "Endpoint verification failed: the request without the Authorization header was answered \
                 {unauthorized_status}, expected 401 Unauthorized or 403 Forbidden."
            ))
        } else {
            None
        };
        VerificationOutcome {
            authorized_status: Some(authorized_status),
            unauthorized_status: Some(unauthorized_status),
            verified: error.is_none(),
            error,
        }
    }
}
