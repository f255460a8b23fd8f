//! Webhook notifications: the body Google sends (webhooks guide, FACTS.md §2), who gets it
//! (subscribers with an AUTOMATIC config for the data type and the user's consent to its
//! scope, or a MANUAL subscription for the user), the `Authorization` secret, and the
//! Tink-framed ECDSA signature in `Google-Health-API-Signature`.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::{Date, OffsetDateTime, PrimitiveDateTime};

use super::data::{self, civil_iso, civil_json, timestamp};
use super::data_types::{consent_covers, is_known_data_type};
use super::GoogleHealthSandbox;
use crate::random;

pub const SIGNATURE_HEADER: &str = "Google-Health-API-Signature";
pub const LEGACY_SIGNATURE_HEADER: &str = "X-HealthAPI-Signature";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NotificationOperation {
    /// Data added or changed.
    #[default]
    Upsert,
    /// Data deleted (by the user or a system event).
    Delete,
}

/// A changed interval. Both instants carry the user's local UTC offset; the civil
/// intervals of the notification are their wall-clock times.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationInterval {
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
}

impl NotificationInterval {
    pub fn new(start: OffsetDateTime, end: OffsetDateTime) -> NotificationInterval {
        NotificationInterval { start, end }
    }

    fn json(&self) -> Value {
        let civil = |at: OffsetDateTime| PrimitiveDateTime::new(at.date(), at.time());
        json!({
            "physicalTimeInterval": { "startTime": timestamp(self.start), "endTime": timestamp(self.end) },
            "civilDateTimeInterval": {
                "startDateTime": civil_json(civil(self.start)),
                "endDateTime": civil_json(civil(self.end)),
            },
            "civilIso8601TimeInterval": {
                "startTime": civil_iso(civil(self.start)),
                "endTime": civil_iso(civil(self.end)),
            },
        })
    }
}

/// How notifications are packed into POSTs and signed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyMode {
    /// One POST, one notification object with every interval.
    #[default]
    Normal,
    /// The same POST twice (a redelivery after a lost 204).
    Duplicate,
    /// One POST whose body is a JSON array with one notification per interval (some
    /// integrators see arrays).
    Array,
    /// The signature of the right key with a flipped byte.
    CorruptSignature,
    /// Signed with a key that is not in the served keyset.
    UnknownKey,
    /// No signature header.
    Unsigned,
}

/// A notification to send (the body of `POST /_admin/google-health/notify`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotifyRequest {
    pub health_user_id: String,
    /// A kebab-case data type id, e.g. `steps`.
    pub data_type: String,
    pub operation: NotificationOperation,
    /// The user's civil day (the whole local day) when `intervals` is empty.
    #[serde(with = "crate::admin_api::iso_date_opt")]
    pub date: Option<Date>,
    pub intervals: Vec<NotificationInterval>,
    pub mode: NotifyMode,
    /// Send the signature in the older `X-HealthAPI-Signature` header.
    pub legacy_signature_header: bool,
    /// Leave the `Authorization` secret out (a community report says notifications lack
    /// it; the guide says they carry it).
    pub omit_authorization: bool,
    /// Only this subscriber (its id or full name).
    pub subscriber: Option<String>,
    /// Send this body instead (still signed per `mode`), e.g. malformed JSON.
    pub raw_body: Option<String>,
}

impl Default for NotifyRequest {
    fn default() -> Self {
        NotifyRequest {
            health_user_id: String::new(),
            data_type: String::new(),
            operation: NotificationOperation::Upsert,
            date: None,
            intervals: Vec::new(),
            mode: NotifyMode::Normal,
            legacy_signature_header: false,
            omit_authorization: false,
            subscriber: None,
            raw_body: None,
        }
    }
}

impl NotifyRequest {
    /// An `UPSERT` of the user's whole civil day.
    pub fn upsert(health_user_id: &str, data_type: &str, date: Date) -> NotifyRequest {
        NotifyRequest {
            health_user_id: health_user_id.to_owned(),
            data_type: data_type.to_owned(),
            date: Some(date),
            ..NotifyRequest::default()
        }
    }

    /// A `DELETE` of the user's whole civil day.
    pub fn delete(health_user_id: &str, data_type: &str, date: Date) -> NotifyRequest {
        NotifyRequest {
            operation: NotificationOperation::Delete,
            ..NotifyRequest::upsert(health_user_id, data_type, date)
        }
    }

    pub fn mode(mut self, mode: NotifyMode) -> NotifyRequest {
        self.mode = mode;
        self
    }
}

/// One POST to a subscriber endpoint and what it answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// `projects/{project}/subscribers/{id}`.
    pub subscriber: String,
    pub endpoint_uri: String,
    pub status: u16,
    /// The endpoint's answer body.
    pub response_body: String,
    /// The exact bytes sent.
    pub request_body: String,
    /// The signature header's name and value, if one was sent.
    pub signature_header: Option<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotifyError {
    UnknownUser(String),
    UnknownDataType(String),
    /// Neither `intervals` nor `date` given.
    NoInterval,
    /// A subscriber's endpoint could not be reached (connection, 10 s timeout).
    Transport {
        subscriber: String,
        error: String,
    },
}

impl fmt::Display for NotifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotifyError::UnknownUser(user) => write!(f, "no user {user}"),
            NotifyError::UnknownDataType(t) => write!(f, "unknown data type {t}"),
            NotifyError::NoInterval => f.write_str("give intervals or a date"),
            NotifyError::Transport { subscriber, error } => {
                write!(f, "delivery to {subscriber} failed: {error}")
            }
        }
    }
}

impl std::error::Error for NotifyError {}

/// The notification object, fields in the guide's order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NotificationData<'a> {
    version: &'static str,
    client_provided_subscription_name: String,
    health_user_id: &'a str,
    operation: NotificationOperation,
    data_type: &'a str,
    intervals: Vec<Value>,
}

#[derive(Serialize)]
struct Notification<'a> {
    data: NotificationData<'a>,
}

struct Target {
    name: String,
    endpoint_uri: String,
    secret: String,
    /// `Some(subscription id)` for a MANUAL subscription; AUTOMATIC ones get a random UUID
    /// per notification.
    subscription: Option<String>,
}

impl GoogleHealthSandbox {
    /// Sends the notification to every subscriber that should get it and returns what each
    /// endpoint answered (in subscriber order; duplicates listed twice). Nobody matching
    /// (no subscriber for the data type, or the user has not consented to its scope) is an
    /// empty list.
    pub async fn notify(&self, request: NotifyRequest) -> Result<Vec<Delivery>, NotifyError> {
        let (targets, intervals) = {
            let st = self.lock();
            let user = st
                .users
                .get(&request.health_user_id)
                .cloned()
                .ok_or_else(|| NotifyError::UnknownUser(request.health_user_id.clone()))?;
            if !is_known_data_type(&request.data_type) {
                return Err(NotifyError::UnknownDataType(request.data_type.clone()));
            }
            let intervals = if request.intervals.is_empty() {
                let date = request.date.ok_or(NotifyError::NoInterval)?;
                let start = data::local_midnight(&user, date);
                let end = data::local_midnight(&user, date.next_day().unwrap_or(date));
                vec![NotificationInterval::new(start, end)]
            } else {
                request.intervals.clone()
            };
            let consented = st.tokens.consented(&user.health_user_id);
            let targets: Vec<Target> = st
                .subscribers
                .subscribers
                .iter()
                .filter(|s| {
                    request
                        .subscriber
                        .as_ref()
                        .is_none_or(|wanted| *wanted == s.id || *wanted == s.name())
                })
                .filter_map(|s| {
                    // Either policy: only for users who consented to the data type's scope.
                    let policy = s.policy_for(&request.data_type)?;
                    if !consent_covers(&consented, &request.data_type) {
                        return None;
                    }
                    let subscription = match policy {
                        "AUTOMATIC" => None,
                        _ => Some(
                            st.subscribers
                                .subscriptions
                                .iter()
                                .find(|sub| {
                                    sub.subscriber_id == s.id
                                        && sub.user == user.health_user_id
                                        && sub.data_types.contains(&request.data_type)
                                })?
                                .id
                                .clone(),
                        ),
                    };
                    Some(Target {
                        name: s.name(),
                        endpoint_uri: s.endpoint_uri.clone(),
                        secret: s.secret.clone(),
                        subscription,
                    })
                })
                .collect();
            (targets, intervals)
        };
        let mut deliveries = Vec::new();
        for target in targets {
            let notification = |intervals: &[NotificationInterval]| Notification {
                data: NotificationData {
                    version: "1",
                    client_provided_subscription_name: target
                        .subscription
                        .clone()
                        .unwrap_or_else(random::uuid_v4),
                    health_user_id: &request.health_user_id,
                    operation: request.operation,
                    data_type: &request.data_type,
                    intervals: intervals.iter().map(NotificationInterval::json).collect(),
                },
            };
            let body = match (&request.raw_body, request.mode) {
                (Some(raw), _) => raw.clone(),
                (None, NotifyMode::Array) => serde_json::to_string(
                    &intervals
                        .iter()
                        .map(|i| notification(std::slice::from_ref(i)))
                        .collect::<Vec<_>>(),
                )
                .expect("notifications serialize"),
                (None, _) => serde_json::to_string(&notification(&intervals))
                    .expect("notification serializes"),
            };
            let signature = {
                let st = self.lock();
                match request.mode {
                    NotifyMode::Unsigned => None,
                    NotifyMode::UnknownKey => Some(st.keys.sign_with_foreign_key(body.as_bytes())),
                    NotifyMode::CorruptSignature => {
                        let good = st.keys.sign(body.as_bytes());
                        Some(corrupt(&good))
                    }
                    _ => Some(st.keys.sign(body.as_bytes())),
                }
            };
            let header_name = if request.legacy_signature_header {
                LEGACY_SIGNATURE_HEADER
            } else {
                SIGNATURE_HEADER
            };
            let times = if request.mode == NotifyMode::Duplicate {
                2
            } else {
                1
            };
            for _ in 0..times {
                let mut post = self
                    .http
                    .post(&target.endpoint_uri)
                    .header("content-type", "application/json")
                    .header("user-agent", "Google-Health-API-Webhooks");
                if !request.omit_authorization {
                    post = post.header("authorization", &target.secret);
                }
                if let Some(signature) = &signature {
                    post = post.header(header_name, signature);
                }
                let response =
                    post.body(body.clone())
                        .send()
                        .await
                        .map_err(|e| NotifyError::Transport {
                            subscriber: target.name.clone(),
                            error: e.to_string(),
                        })?;
                self.lock().stats.notifications_sent += 1;
                let status = response.status().as_u16();
                let response_body = response.text().await.unwrap_or_default();
                deliveries.push(Delivery {
                    subscriber: target.name.clone(),
                    endpoint_uri: target.endpoint_uri.clone(),
                    status,
                    response_body,
                    request_body: body.clone(),
                    signature_header: signature.clone().map(|s| (header_name.to_owned(), s)),
                });
            }
        }
        tracing::debug!(
            data_type = %request.data_type,
            deliveries = deliveries.len(),
            "google health sandbox: notifications delivered"
        );
        Ok(deliveries)
    }
}

/// The same framing and key id with one bit of the DER signature flipped.
fn corrupt(signature: &str) -> String {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    let mut raw = STANDARD.decode(signature).expect("own signature decodes");
    let last = raw.len() - 1;
    raw[last] ^= 0x01;
    STANDARD.encode(raw)
}
