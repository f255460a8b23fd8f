//! `/v3/webhooks`: the client application's one webhook, managed with client credentials.
//!
//! Invariants:
//! - There is at most one webhook; creating a second answers 409.
//! - A webhook is created, its URL changed, or it is activated only after a `PING` to the
//!   (new) URL was answered 200; the `PING` goes out before the answer carrying the signing
//!   key, signed with that key.
//! - `signature_secret_key` appears only in the create answer (the admin API also shows it).
//! - An active webhook that has had no successful delivery for seven days of the sandbox
//!   clock since its first failure after the last success is deactivated the next time
//!   anyone looks at it (an API call, a delivery, the admin API).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use url::Url;

use super::api::{empty, ok_json};
use super::error::ApiError;
use super::wire::{CreatedWebhook, Data, WebhookEvent, WebhookInfo, WebhookPayload};
use super::{PolarSandbox, State};
use crate::random;

/// Deactivated after this long without a successful delivery.
pub(super) const DEACTIVATE_AFTER: Duration = Duration::days(7);

pub(super) struct Webhook {
    pub(super) id: String,
    pub(super) events: Vec<WebhookEvent>,
    pub(super) url: String,
    pub(super) key: String,
    pub(super) active: bool,
    pub(super) last_success: Option<OffsetDateTime>,
    /// The first failed delivery after the last success.
    pub(super) failing_since: Option<OffsetDateTime>,
    pub(super) consecutive_failures: u32,
}

impl Webhook {
    fn info(&self) -> WebhookInfo {
        WebhookInfo {
            id: self.id.clone(),
            events: self.events.clone(),
            url: self.url.clone(),
            active: self.active,
        }
    }

    fn state(&self) -> WebhookState {
        WebhookState {
            id: self.id.clone(),
            events: self.events.clone(),
            url: self.url.clone(),
            active: self.active,
            signature_secret_key: self.key.clone(),
            consecutive_failures: self.consecutive_failures,
            failing_since: self.failing_since,
            last_success: self.last_success,
        }
    }

    /// Books a tracked delivery's outcome.
    pub(super) fn record_delivery(&mut self, ok: bool, now: OffsetDateTime) {
        if ok {
            self.last_success = Some(now);
            self.failing_since = None;
            self.consecutive_failures = 0;
        } else {
            self.consecutive_failures += 1;
            self.failing_since.get_or_insert(now);
        }
    }
}

/// The webhook as the admin API shows it: the API's view plus the signing key and the
/// delivery record that decides deactivation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookState {
    pub id: String,
    pub events: Vec<WebhookEvent>,
    pub url: String,
    pub active: bool,
    pub signature_secret_key: String,
    pub consecutive_failures: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub failing_since: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_success: Option<OffsetDateTime>,
}

impl State {
    /// Deactivates the webhook if it has failed for seven days.
    pub(super) fn check_webhook(&mut self, now: OffsetDateTime) {
        if let Some(webhook) = &mut self.webhook {
            let expired = webhook
                .failing_since
                .is_some_and(|since| now - since >= DEACTIVATE_AFTER);
            if webhook.active && expired {
                webhook.active = false;
                self.stats.automatic_deactivations += 1;
                tracing::debug!("polar sandbox: webhook deactivated after seven days of failures");
            }
        }
    }
}

/// A change that waits for a `PING` answered 200.
pub(super) enum WebhookChange {
    Create {
        id: String,
        events: Vec<WebhookEvent>,
        url: String,
        key: String,
    },
    ChangeUrl {
        id: String,
        events: Option<Vec<WebhookEvent>>,
        url: String,
        key: String,
    },
    Activate {
        url: String,
        key: String,
    },
}

pub(super) enum Served {
    Done(Response),
    NeedsPing(WebhookChange),
}

/// `webhookRequest` and `webhookPatch`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookBody {
    #[serde(default)]
    events: Option<Vec<WebhookEvent>>,
    #[serde(default)]
    url: Option<String>,
}

fn parse_body(body: &[u8]) -> Result<WebhookBody, ApiError> {
    let parsed: WebhookBody = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Malformed webhook: {e}")))?;
    if let Some(events) = &parsed.events {
        if events.is_empty() || events.contains(&WebhookEvent::Ping) {
            return Err(ApiError::bad_request(
                "events must name one or more of EXERCISE, SLEEP, CONTINUOUS_HEART_RATE, \
                 SLEEP_WISE_CIRCADIAN_BEDTIME, SLEEP_WISE_ALERTNESS, ACTIVITY_SUMMARY",
            ));
        }
    }
    if let Some(url) = &parsed.url {
        let valid = Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !valid {
            return Err(ApiError::bad_request(format!("Invalid url: {url}")));
        }
    }
    Ok(parsed)
}

/// Runs a webhook endpoint (`SERVED_ENDPOINTS[index]`) as far as it goes without a `PING`.
pub(super) fn serve(
    st: &mut State,
    template: &str,
    method: &str,
    params: &[&str],
    body: &[u8],
    now: OffsetDateTime,
) -> Result<Served, ApiError> {
    st.check_webhook(now);
    let done = |response| Ok(Served::Done(response));
    match (method, template) {
        ("POST", "/v3/webhooks") => {
            let parsed = parse_body(body)?;
            let (Some(events), Some(url)) = (parsed.events, parsed.url) else {
                return Err(ApiError::bad_request("events and url are required"));
            };
            if st.webhook.is_some() {
                return Err(ApiError::conflict("Webhook already exists"));
            }
            Ok(Served::NeedsPing(WebhookChange::Create {
                id: random::hex(3),
                events,
                url,
                key: random::uuid_v4(),
            }))
        }
        ("GET", "/v3/webhooks") => {
            let data: Vec<WebhookInfo> = st.webhook.iter().map(Webhook::info).collect();
            done(ok_json(Data { data }))
        }
        ("POST", "/v3/webhooks/activate") => match &st.webhook {
            None => done(empty(StatusCode::NO_CONTENT)),
            Some(webhook) => Ok(Served::NeedsPing(WebhookChange::Activate {
                url: webhook.url.clone(),
                key: webhook.key.clone(),
            })),
        },
        ("POST", "/v3/webhooks/deactivate") => match &mut st.webhook {
            None => done(empty(StatusCode::NO_CONTENT)),
            Some(webhook) => {
                webhook.active = false;
                done(empty(StatusCode::OK))
            }
        },
        ("PATCH", "/v3/webhooks/{webhook-id}") => {
            let parsed = parse_body(body)?;
            let webhook = st
                .webhook
                .as_mut()
                .filter(|w| w.id == params[0])
                .ok_or_else(|| ApiError::not_found("Webhook not found"))?;
            match parsed.url.filter(|url| *url != webhook.url) {
                Some(url) => Ok(Served::NeedsPing(WebhookChange::ChangeUrl {
                    id: webhook.id.clone(),
                    events: parsed.events,
                    url,
                    key: webhook.key.clone(),
                })),
                None => {
                    if let Some(events) = parsed.events {
                        webhook.events = events;
                    }
                    done(ok_json(Data {
                        data: vec![webhook.info()],
                    }))
                }
            }
        }
        ("DELETE", "/v3/webhooks/{webhook-id}") => {
            if st.webhook.as_ref().is_some_and(|w| w.id == params[0]) {
                st.webhook = None;
                done(empty(StatusCode::NO_CONTENT))
            } else {
                Err(ApiError::not_found("Webhook not found"))
            }
        }
        (method, template) => unreachable!("{method} {template} is no webhook endpoint"),
    }
}

/// A `PING` payload at `now`.
pub(super) fn ping(now: OffsetDateTime) -> WebhookPayload {
    WebhookPayload {
        event: WebhookEvent::Ping,
        user_id: None,
        entity_id: None,
        date: None,
        from: None,
        to: None,
        timestamp: super::notify::payload_timestamp(now),
        url: None,
    }
}

impl PolarSandbox {
    /// Sends the change's `PING` (no lock held) and applies the change if it was answered
    /// 200.
    pub(super) async fn finish_webhook_change(&self, change: WebhookChange) -> Response {
        let (url, key) = match &change {
            WebhookChange::Create { url, key, .. }
            | WebhookChange::ChangeUrl { url, key, .. }
            | WebhookChange::Activate { url, key } => (url.clone(), key.clone()),
        };
        let now = self.now();
        let body = serde_json::to_string(&ping(now)).expect("payload serializes");
        let record = self
            .post_payload(&url, Some(&key), WebhookEvent::Ping.as_str(), body, None)
            .await;
        let mut st = self.lock();
        st.stats.pings_sent += 1;
        let now = st.now();
        if !record.ok {
            let what = match change {
                WebhookChange::Create { .. } => "created",
                WebhookChange::ChangeUrl { .. } => "updated",
                WebhookChange::Activate { .. } => "activated",
            };
            let answer = record
                .status
                .map_or_else(|| record.error.unwrap_or_default(), |s| s.to_string());
            return ApiError::bad_request(format!(
                "Webhook cannot be {what}: the ping to its url was answered {answer}, not 200"
            ))
            .render(now);
        }
        match change {
            WebhookChange::Create {
                id,
                events,
                url,
                key,
            } => {
                if st.webhook.is_some() {
                    return ApiError::conflict("Webhook already exists").render(now);
                }
                let created = CreatedWebhook {
                    id: id.clone(),
                    events: events.clone(),
                    url: url.clone(),
                    signature_secret_key: key.clone(),
                };
                st.webhook = Some(Webhook {
                    id,
                    events,
                    url,
                    key,
                    active: true,
                    last_success: None,
                    failing_since: None,
                    consecutive_failures: 0,
                });
                st.stats.webhooks_created += 1;
                (StatusCode::CREATED, axum::Json(Data { data: created })).into_response()
            }
            WebhookChange::ChangeUrl {
                id, events, url, ..
            } => match st.webhook.as_mut().filter(|w| w.id == id) {
                Some(webhook) => {
                    webhook.url = url;
                    if let Some(events) = events {
                        webhook.events = events;
                    }
                    ok_json(Data {
                        data: vec![webhook.info()],
                    })
                }
                None => ApiError::not_found("Webhook not found").render(now),
            },
            WebhookChange::Activate { .. } => match st.webhook.as_mut() {
                Some(webhook) => {
                    webhook.active = true;
                    webhook.failing_since = None;
                    webhook.consecutive_failures = 0;
                    empty(StatusCode::OK)
                }
                None => empty(StatusCode::NO_CONTENT),
            },
        }
    }

    /// The webhook with its signing key and delivery record, if one exists.
    pub fn webhook(&self) -> Option<WebhookState> {
        let mut st = self.lock();
        let now = st.now();
        st.check_webhook(now);
        st.webhook.as_ref().map(Webhook::state)
    }
}
