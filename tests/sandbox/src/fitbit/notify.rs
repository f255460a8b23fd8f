//! The outbound side of subscriptions: notifications POSTed to a subscriber, signed as
//! Fitbit signs them, and Fitbit's subscriber verification.
//!
//! Invariants: a notification body is signed with HMAC-SHA1 under the client secret and
//! `&`, unless a test asks for a wrong, missing or given signature; a subscription id left
//! out of a notification is the owner's matching subscription's; no call to a subscriber is
//! made while the state lock is held.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use url::Url;

use super::{FitbitSandbox, State};

/// `X-Fitbit-Signature`: base64(HMAC-SHA1(key = client secret + "&", raw body)).
pub fn sign_notification(client_secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{client_secret}&").as_bytes())
        .expect("HMAC accepts any key length");
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// One element of a notification body, in Fitbit's field order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// `activities`, `body`, `foods`, `sleep`, `userRevokedAccess`, `deleteUser`, ...
    pub collection_type: String,
    /// Sent as given, so tests can send odd dates.
    pub date: String,
    pub owner_id: String,
    #[serde(default = "default_owner_type")]
    pub owner_type: String,
    /// If absent, the owner's matching subscription's id is filled in (the collection's,
    /// else the all-collections one, else any of the owner's); left out if there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
}

fn default_owner_type() -> String {
    "user".to_owned()
}

impl Notification {
    pub fn new(collection_type: &str, date: &str, owner_id: &str) -> Notification {
        Notification {
            collection_type: collection_type.to_owned(),
            date: date.to_owned(),
            owner_id: owner_id.to_owned(),
            owner_type: default_owner_type(),
            subscription_id: None,
        }
    }
}

/// How notifications are packed into POSTs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyMode {
    /// One POST with all notifications.
    #[default]
    Array,
    /// One POST per notification, each a one-element array.
    Single,
    /// One POST listing every notification twice (an all-collections subscription beside
    /// a collection one).
    Duplicated,
    /// The same POST twice (a redelivery).
    Repeated,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotifyRequest {
    /// Defaults to the configured subscriber.
    pub subscriber_url: Option<String>,
    pub notifications: Vec<Notification>,
    pub mode: NotifyMode,
    /// Sign with a wrong key.
    pub bad_signature: bool,
    /// Send no `X-Fitbit-Signature` at all.
    pub omit_signature: bool,
    /// Send this body instead of the notifications (still signed), e.g. malformed JSON.
    pub raw_body: Option<String>,
    /// Send exactly this `X-Fitbit-Signature` value (overrides `bad_signature` and
    /// `omit_signature`), e.g. a URL-encoded or truncated form of the right one.
    pub signature: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyOutcome {
    /// Status for `?verify=<the right code>`; Fitbit expects 204.
    pub correct_code_status: u16,
    /// Status for `?verify=<a wrong code>`; Fitbit expects 404.
    pub wrong_code_status: u16,
    pub verified: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotifyError {
    /// Neither the request nor the configuration names a subscriber URL.
    NoSubscriber,
    NoVerificationCode,
    InvalidUrl(String),
    /// Connection failure or no answer within Fitbit's 5 seconds.
    Transport(String),
}

impl fmt::Display for NotifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotifyError::NoSubscriber => f.write_str("no subscriber URL configured or given"),
            NotifyError::NoVerificationCode => {
                f.write_str("no subscriber verification code configured or given")
            }
            NotifyError::InvalidUrl(e) => write!(f, "invalid subscriber URL: {e}"),
            NotifyError::Transport(e) => write!(f, "subscriber call failed: {e}"),
        }
    }
}

impl std::error::Error for NotifyError {}

impl State {
    /// The id Fitbit would put into a notification for this owner and collection.
    fn subscription_id_for(&self, owner_id: &str, collection_type: &str) -> Option<String> {
        let owned = || self.subscriptions.iter().filter(|s| s.owner_id == owner_id);
        owned()
            .find(|s| s.collection_type() == collection_type)
            .or_else(|| owned().find(|s| s.collection.is_none()))
            .or_else(|| owned().next())
            .map(|s| s.subscription_id.clone())
    }
}

fn to_body(notifications: &[&Notification]) -> String {
    serde_json::to_string(notifications).expect("notifications serialize")
}

impl FitbitSandbox {
    /// POSTs notifications to the subscriber, signed like Fitbit's, and returns the
    /// subscriber's status code for each POST.
    pub async fn deliver_notifications(
        &self,
        request: NotifyRequest,
    ) -> Result<Vec<u16>, NotifyError> {
        let (url, bodies) = {
            let st = self.lock();
            let url = request
                .subscriber_url
                .clone()
                .or_else(|| st.subscriber_url.clone())
                .ok_or(NotifyError::NoSubscriber)?;
            let notifications: Vec<Notification> = request
                .notifications
                .iter()
                .cloned()
                .map(|mut n| {
                    if n.subscription_id.is_none() {
                        n.subscription_id = st.subscription_id_for(&n.owner_id, &n.collection_type);
                    }
                    n
                })
                .collect();
            let all: Vec<&Notification> = notifications.iter().collect();
            let bodies = match (&request.raw_body, request.mode) {
                (Some(raw), NotifyMode::Repeated) => vec![raw.clone(), raw.clone()],
                (Some(raw), _) => vec![raw.clone()],
                (None, NotifyMode::Array) => vec![to_body(&all)],
                (None, NotifyMode::Single) => all.iter().map(|n| to_body(&[n])).collect(),
                (None, NotifyMode::Duplicated) => vec![to_body(
                    &all.iter().flat_map(|n| [*n, *n]).collect::<Vec<_>>(),
                )],
                (None, NotifyMode::Repeated) => vec![to_body(&all), to_body(&all)],
            };
            (url, bodies)
        };
        Url::parse(&url).map_err(|e| NotifyError::InvalidUrl(e.to_string()))?;
        let key = if request.bad_signature {
            format!("{}-not-the-secret", self.config.client_secret)
        } else {
            self.config.client_secret.clone()
        };
        let mut statuses = Vec::with_capacity(bodies.len());
        for body in bodies {
            let mut post = self
                .http
                .post(&url)
                .header("content-type", "application/json");
            if let Some(signature) = &request.signature {
                post = post.header("X-Fitbit-Signature", signature);
            } else if !request.omit_signature {
                post = post.header(
                    "X-Fitbit-Signature",
                    sign_notification(&key, body.as_bytes()),
                );
            }
            let response = post
                .body(body)
                .send()
                .await
                .map_err(|e| NotifyError::Transport(e.to_string()))?;
            self.lock().stats.notifications_sent += 1;
            statuses.push(response.status().as_u16());
        }
        tracing::debug!(?statuses, "fitbit sandbox: notifications delivered");
        Ok(statuses)
    }

    /// Fitbit's subscriber verification: `GET <url>?verify=<right code>`, then with a wrong
    /// code. The subscriber passes with 204 and 404.
    pub async fn verify_subscriber(
        &self,
        subscriber_url: Option<String>,
        verification_code: Option<String>,
    ) -> Result<VerifyOutcome, NotifyError> {
        let (url, code) = {
            let st = self.lock();
            let url = subscriber_url
                .or_else(|| st.subscriber_url.clone())
                .ok_or(NotifyError::NoSubscriber)?;
            let code = verification_code
                .or_else(|| st.verification_code.clone())
                .ok_or(NotifyError::NoVerificationCode)?;
            (url, code)
        };
        let correct_code_status = self.verify_request(&url, &code).await?;
        let wrong_code_status = self.verify_request(&url, &crate::random::hex(32)).await?;
        Ok(VerifyOutcome {
            correct_code_status,
            wrong_code_status,
            verified: correct_code_status == 204 && wrong_code_status == 404,
        })
    }

    async fn verify_request(&self, url: &str, code: &str) -> Result<u16, NotifyError> {
        let mut url = Url::parse(url).map_err(|e| NotifyError::InvalidUrl(e.to_string()))?;
        url.query_pairs_mut().append_pair("verify", code);
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| NotifyError::Transport(e.to_string()))?;
        Ok(response.status().as_u16())
    }
}
