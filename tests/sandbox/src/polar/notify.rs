//! Webhook deliveries: the payloads Polar POSTs (`webhookPayload*`), signed with
//! `Polar-Webhook-Signature` = hex HMAC-SHA256 of the raw body under the webhook's
//! `signature_secret_key`, named by `Polar-Webhook-Event`, and the record of every POST.
//!
//! Invariants:
//! - Only an answer 200 is a successful delivery ("Webhook delivery expects response 200").
//! - Events go to the webhook only while it is active and subscribed to them, and only for
//!   people registered to the partner, unless the request forces it or sends a raw body.
//! - A delivery to the webhook's own URL counts for its deactivation; one to a URL the
//!   request names does not. Pings never count.
//! - No call to a receiver is made while the state lock is held.

use std::fmt;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime};
use url::Url;

use super::reads::Reads;
use super::wire::{WebhookEvent, WebhookPayload};
use super::PolarSandbox;
use crate::civil_time::local_date;

/// `Polar-Webhook-Signature`: lowercase hex HMAC-SHA256 of the raw body under the key.
pub fn sign_payload(key: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC accepts any key length");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A payload's `timestamp`: UTC to the second, `2018-05-15T14:22:24Z`.
pub(super) fn payload_timestamp(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .expect("formattable timestamp")
}

/// One POST to a webhook URL and how it went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// The `Polar-Webhook-Event` header (`PING`, `ACTIVITY_SUMMARY`, ...).
    pub event: String,
    pub url: String,
    pub body: String,
    /// The receiver's status; `None` if the call failed.
    pub status: Option<u16>,
    /// Answered 200.
    pub ok: bool,
    /// Why the call failed, if it did.
    pub error: Option<String>,
    /// When it was sent, by the sandbox clock.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// What to deliver (the body of `POST /_admin/polar/notify`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyRequest {
    pub polar_user_id: String,
    /// Required unless `raw_body` is given.
    pub event: Option<WebhookEvent>,
    /// The civil date (`ACTIVITY_SUMMARY`, `SLEEP`, `CONTINUOUS_HEART_RATE`; the end of the
    /// period for `SLEEP_WISE_*`); default: the person's today.
    #[serde(with = "crate::admin_api::iso_date_opt")]
    pub date: Option<Date>,
    /// `EXERCISE`: the exercise's id; default: the person's latest listed exercise (on
    /// `date` if given).
    pub entity_id: Option<String>,
    /// Send this body instead of the payload (still signed unless told otherwise), e.g.
    /// malformed JSON or a forged event; the event header is `event`'s, else `EXERCISE`.
    pub raw_body: Option<String>,
    /// Send exactly this `Polar-Webhook-Signature` value.
    pub signature: Option<String>,
    /// Sign with a wrong key.
    pub bad_signature: bool,
    /// Send no signature header.
    pub omit_signature: bool,
    /// Send the same POST this many times (default once): a redelivery.
    pub times: Option<u32>,
    /// Deliver to this URL instead of the webhook's (not counted for deactivation).
    pub url: Option<String>,
    /// The signing key when there is no webhook to take it from.
    pub signing_key: Option<String>,
    /// Deliver even to an inactive webhook, an unsubscribed event or an unregistered person.
    pub force: bool,
}

impl NotifyRequest {
    /// `event` for the person's civil `date`.
    pub fn event(polar_user_id: &str, event: WebhookEvent, date: Date) -> NotifyRequest {
        NotifyRequest {
            polar_user_id: polar_user_id.to_owned(),
            event: Some(event),
            date: Some(date),
            ..NotifyRequest::default()
        }
    }

    /// `EXERCISE` for the exercise `entity_id`.
    pub fn exercise(polar_user_id: &str, entity_id: &str) -> NotifyRequest {
        NotifyRequest {
            polar_user_id: polar_user_id.to_owned(),
            event: Some(WebhookEvent::Exercise),
            entity_id: Some(entity_id.to_owned()),
            ..NotifyRequest::default()
        }
    }

    /// `body` as it is, to the webhook.
    pub fn raw(body: &str) -> NotifyRequest {
        NotifyRequest {
            raw_body: Some(body.to_owned()),
            ..NotifyRequest::default()
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotifyError {
    /// No webhook, and the request names no URL.
    NoWebhook,
    /// The webhook is deactivated (and the request does not force delivery).
    Inactive,
    NotSubscribed(WebhookEvent),
    /// The person is unknown or not registered to the partner.
    NotRegistered(String),
    MissingEvent,
    /// `EXERCISE` without an id, and the person has no listed exercise.
    NoExercise,
    /// A URL without a webhook, and no signing key.
    NoSigningKey,
    InvalidUrl(String),
}

impl fmt::Display for NotifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotifyError::NoWebhook => f.write_str("no webhook, and no url given"),
            NotifyError::Inactive => f.write_str("the webhook is not active"),
            NotifyError::NotSubscribed(event) => {
                write!(f, "the webhook is not subscribed to {}", event.as_str())
            }
            NotifyError::NotRegistered(id) => write!(f, "user {id} is not registered"),
            NotifyError::MissingEvent => f.write_str("event is required without raw_body"),
            NotifyError::NoExercise => f.write_str("the user has no listed exercise"),
            NotifyError::NoSigningKey => f.write_str("no webhook key, and no signing_key given"),
            NotifyError::InvalidUrl(e) => write!(f, "invalid url: {e}"),
        }
    }
}

impl std::error::Error for NotifyError {}

/// A prepared delivery: where, signed how, what.
struct Prepared {
    url: String,
    key: Option<String>,
    event: String,
    body: String,
    /// The webhook id whose record it counts for.
    tracked: Option<String>,
}

impl PolarSandbox {
    /// Delivers a payload (or raw body) as Polar does and returns the record of each POST.
    pub async fn notify(&self, request: NotifyRequest) -> Result<Vec<DeliveryRecord>, NotifyError> {
        let prepared = self.prepare(&request)?;
        let mut records = Vec::new();
        for _ in 0..request.times.unwrap_or(1).max(1) {
            let key = match (&request.signature, request.omit_signature, &prepared.key) {
                (Some(_), _, _) | (None, true, _) => None,
                (None, false, Some(key)) if request.bad_signature => Some(format!("{key}-not")),
                (None, false, key) => key.clone(),
            };
            let record = self
                .post_payload(
                    &prepared.url,
                    key.as_deref(),
                    &prepared.event,
                    prepared.body.clone(),
                    request.signature.as_deref(),
                )
                .await;
            let mut st = self.lock();
            st.stats.deliveries_sent += 1;
            if !record.ok {
                st.stats.deliveries_failed += 1;
            }
            let now = st.now();
            if let Some(webhook) = st
                .webhook
                .as_mut()
                .filter(|w| prepared.tracked.as_ref() == Some(&w.id))
            {
                webhook.record_delivery(record.ok, now);
            }
            records.push(record);
        }
        Ok(records)
    }

    fn prepare(&self, request: &NotifyRequest) -> Result<Prepared, NotifyError> {
        let mut st = self.lock();
        let now = st.now();
        st.check_webhook(now);
        let webhook = st.webhook.as_ref();
        let (url, key, tracked) = match (&request.url, webhook) {
            (Some(url), webhook) => (
                url.clone(),
                request
                    .signing_key
                    .clone()
                    .or_else(|| webhook.map(|w| w.key.clone())),
                None,
            ),
            (None, Some(w)) => (w.url.clone(), Some(w.key.clone()), Some(w.id.clone())),
            (None, None) => return Err(NotifyError::NoWebhook),
        };
        Url::parse(&url).map_err(|e| NotifyError::InvalidUrl(e.to_string()))?;
        if key.is_none() && request.signature.is_none() && !request.omit_signature {
            return Err(NotifyError::NoSigningKey);
        }
        let forced = request.force || request.raw_body.is_some();
        if let (Some(w), None, false) = (webhook, &request.url, forced) {
            if !w.active {
                return Err(NotifyError::Inactive);
            }
            if let Some(event) = request.event.filter(|e| !w.events.contains(e)) {
                return Err(NotifyError::NotSubscribed(event));
            }
        }
        if let Some(raw) = &request.raw_body {
            let event = request.event.unwrap_or(WebhookEvent::Exercise);
            return Ok(Prepared {
                url,
                key,
                event: event.as_str().to_owned(),
                body: raw.clone(),
                tracked,
            });
        }
        let event = request.event.ok_or(NotifyError::MissingEvent)?;
        let user_id = &request.polar_user_id;
        let user = st
            .users
            .get(user_id)
            .cloned()
            .ok_or_else(|| NotifyError::NotRegistered(user_id.clone()))?;
        let registration = match (&user.registration, request.force) {
            (Some(registration), _) => registration.clone(),
            (None, true) => super::Registration::new("", OffsetDateTime::UNIX_EPOCH),
            (None, false) => return Err(NotifyError::NotRegistered(user_id.clone())),
        };
        let date = request
            .date
            .unwrap_or_else(|| local_date(&user.timezone, now));
        let base = st.base_url.clone();
        let mut payload = WebhookPayload {
            event,
            user_id: Some(user.numeric_id()),
            entity_id: None,
            date: None,
            from: None,
            to: None,
            timestamp: payload_timestamp(now),
            url: None,
        };
        let users = format!("{base}/v3/users");
        match event {
            WebhookEvent::ActivitySummary => {
                payload.url = Some(format!("{users}/activities/{date}"));
                payload.date = Some(date.to_string());
            }
            WebhookEvent::Sleep => {
                payload.url = Some(format!("{users}/sleep/{date}"));
                payload.date = Some(date.to_string());
            }
            WebhookEvent::ContinuousHeartRate => {
                payload.url = Some(format!("{users}/continuous-heart-rate/{date}"));
                payload.date = Some(date.to_string());
            }
            WebhookEvent::SleepWiseCircadianBedtime | WebhookEvent::SleepWiseAlertness => {
                let from = date - Duration::days(2);
                let kind = if event == WebhookEvent::SleepWiseAlertness {
                    "alertness"
                } else {
                    "circadian-bedtime"
                };
                payload.url = Some(format!(
                    "{users}/sleepwise/{kind}/date?from={from}&to={date}"
                ));
                payload.from = Some(from.to_string());
                payload.to = Some(date.to_string());
            }
            WebhookEvent::Exercise => {
                let id = match &request.entity_id {
                    Some(id) => id.clone(),
                    None => {
                        let reads = Reads {
                            st: &st,
                            user: &user,
                            registration: &registration,
                            now,
                        };
                        reads
                            .visible_workouts()
                            .into_iter()
                            .rfind(|w| request.date.is_none_or(|d| w.day == d))
                            .map(|w| w.id)
                            .ok_or(NotifyError::NoExercise)?
                    }
                };
                payload.url = Some(format!("{base}/v3/exercises/{id}"));
                payload.entity_id = Some(id);
            }
            WebhookEvent::Ping => payload = super::webhooks::ping(now),
        }
        Ok(Prepared {
            url,
            key,
            event: event.as_str().to_owned(),
            body: serde_json::to_string(&payload).expect("payload serializes"),
            tracked,
        })
    }

    /// POSTs `body` to `url` with the event header and a signature (`exact`, else under
    /// `key`, else none), and records the delivery.
    pub(super) async fn post_payload(
        &self,
        url: &str,
        key: Option<&str>,
        event: &str,
        body: String,
        exact: Option<&str>,
    ) -> DeliveryRecord {
        let mut post = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("Polar-Webhook-Event", event);
        if let Some(signature) = exact {
            post = post.header("Polar-Webhook-Signature", signature);
        } else if let Some(key) = key {
            post = post.header(
                "Polar-Webhook-Signature",
                sign_payload(key, body.as_bytes()),
            );
        }
        let result = post.body(body.clone()).send().await;
        let (status, error) = match result {
            Ok(response) => (Some(response.status().as_u16()), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let mut st = self.lock();
        let record = DeliveryRecord {
            event: event.to_owned(),
            url: url.to_owned(),
            body,
            status,
            ok: status == Some(200),
            error,
            at: st.now(),
        };
        tracing::debug!(event, status = ?record.status, "polar sandbox: webhook POST");
        st.deliveries.push(record.clone());
        record
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hex_hmac_sha256_of_the_raw_body() {
        // Expected value computed independently (Python hmac/hashlib).
        let body = br#"{"event":"EXERCISE","user_id":475,"entity_id":"aQlC83","timestamp":"2018-05-15T14:22:24Z","url":"https://www.polaraccesslink.com/v3/exercises/aQlC83"}"#;
        assert_eq!(
            sign_payload("abe1f3ae-fd33-11e8-8eb2-f2801f1b9fd1", body),
            "443ec69698c1de6d326902d7d942be1e83f0395f685b8c040cee609660d006d6"
        );
    }
}
