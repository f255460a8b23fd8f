//! Fitbit's subscriber endpoint: the verification GET, the `X-Fitbit-Signature` check and
//! the lenient parsing of notification arrays. Fitbit's rules: answer 204 within 5 seconds,
//! 404 to a wrong verification code or a bad signature.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha1::Sha1;
use subtle::ConstantTimeEq;

use super::FitbitCredentials;
use crate::domain::work::iso_date;
use crate::domain::ProviderKind;
use crate::domain::Secret;
use crate::domain::{Collection, ProviderUserId, WorkItem};
use crate::ports::provider::{Notifications, Received, Webhook, WebhookRefusal, WebhookRequest};
use crate::provider::notification_body;
use crate::secret_store::SecretCache;

/// Fitbit's answer to a bad signature or verification code.
const NOT_FOUND: u16 = 404;

/// The webhook of the Fitbit provider. Built once per container.
pub struct FitbitWebhook {
    secret_id: String,
    secrets: Arc<SecretCache>,
}

impl FitbitWebhook {
    pub fn new(secret_id: String, secrets: Arc<SecretCache>) -> Self {
        FitbitWebhook { secret_id, secrets }
    }

    async fn credentials(&self) -> Result<FitbitCredentials, WebhookRefusal> {
        self.secrets
            .get(&self.secret_id)
            .await
            .map_err(|e| WebhookRefusal::Unavailable(e.to_string()))
    }
}

#[async_trait]
impl Webhook for FitbitWebhook {
    async fn receive(&self, request: &WebhookRequest<'_>) -> Result<Received, WebhookRefusal> {
        match request.method {
            // `GET ?verify=<code>`: 204 for the configured code, 404 for anything else.
            "GET" => {
                let Some(code) = request.query("verify") else {
                    return Err(WebhookRefusal::Unauthenticated {
                        status: NOT_FOUND,
                        reason: "verification without a code".into(),
                    });
                };
                let credentials = self.credentials().await?;
                let matches = credentials
                    .subscriber_verification_code
                    .is_some_and(|expected| {
                        expected.expose().as_bytes().ct_eq(code.as_bytes()).into()
                    });
                if matches {
                    Ok(Received::Handshake { status: 204 })
                } else {
                    Err(WebhookRefusal::Unauthenticated {
                        status: NOT_FOUND,
                        reason: "verification with a wrong code".into(),
                    })
                }
            }
            "POST" => {
                let credentials = self.credentials().await?;
                let valid = request.header("x-fitbit-signature").is_some_and(|s| {
                    signature_is_valid(&credentials.client_secret, request.body, s)
                });
                if !valid {
                    return Err(WebhookRefusal::Unauthenticated {
                        status: NOT_FOUND,
                        reason: "signature missing or wrong".into(),
                    });
                }
                let notifications = parse(request.body).map_err(|_| WebhookRefusal::Malformed)?;
                Ok(Received::Notifications {
                    notifications,
                    ack_status: 204,
                })
            }
            _ => Err(WebhookRefusal::MethodNotAllowed),
        }
    }
}

/// Checks `X-Fitbit-Signature` = base64(HMAC-SHA1(client_secret + "&", raw body)).
/// The comparison is constant-time and over the raw bytes; the header is taken as sent
/// (never URL-decoded).
pub fn signature_is_valid(client_secret: &Secret, body: &[u8], header: &str) -> bool {
    let Ok(expected) = STANDARD.decode(header.trim()) else {
        return false;
    };
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{}&", client_secret.expose()).as_bytes())
        .expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

pub use crate::provider::notification_body::MalformedBody;

fn text(entry: &Value, key: &str) -> Option<String> {
    match &entry[key] {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        // Ids are documented as strings but are unsigned 64-bit numbers in places.
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Parses a notification body leniently: an array of entries (or, seen in the wild, a
/// single object), unknown fields ignored, each unusable entry skipped without losing the
/// others. Duplicates within the body collapse.
pub fn parse(body: &[u8]) -> Result<Notifications, MalformedBody> {
    let entries = notification_body::entries(body)?;
    let mut out = Notifications {
        received: entries.len(),
        ..Default::default()
    };
    let mut syncs = BTreeSet::new();
    // Owner → whether the account itself was deleted.
    let mut revokes = BTreeMap::new();
    for entry in &entries {
        let (Some(owner), Some(collection_type)) =
            (text(entry, "ownerId"), text(entry, "collectionType"))
        else {
            out.skipped += 1;
            continue;
        };
        let collection = match collection_type.as_str() {
            "activities" => Collection::Activities,
            "body" => Collection::Body,
            "sleep" => Collection::Sleep,
            "userRevokedAccess" | "deleteUser" => {
                *revokes.entry(owner).or_default() |= collection_type == "deleteUser";
                continue;
            }
            _ => {
                out.ignored += 1;
                continue;
            }
        };
        match text(entry, "date").as_deref().and_then(iso_date::parse) {
            Some(date) => {
                syncs.insert((owner, date, collection));
            }
            None => out.skipped += 1,
        }
    }
    // A revoke makes that owner's data notifications moot.
    syncs.retain(|(owner, _, _)| !revokes.contains_key(owner));
    out.work = syncs
        .into_iter()
        .map(|(owner, date, collection)| {
            WorkItem::sync(
                ProviderKind::Fitbit,
                ProviderUserId(owner),
                date,
                vec![collection],
            )
        })
        .chain(revokes.into_iter().map(|(owner, account_deleted)| {
            WorkItem::revoke(
                ProviderKind::Fitbit,
                ProviderUserId(owner),
                account_deleted,
                None,
            )
        }))
        .collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Task;

    #[test]
    fn signature_matches_fitbit_definition() {
        let secret = Secret::new("abc123");
        let body = br#"[{"collectionType":"activities","date":"2026-11-20","ownerId":"GGNJL9"}]"#;
        let mut mac = Hmac::<Sha1>::new_from_slice(b"abc123&").unwrap();
        mac.update(body);
        let good = STANDARD.encode(mac.finalize().into_bytes());
        assert!(signature_is_valid(&secret, body, &good));
        assert!(!signature_is_valid(&secret, &body[1..], &good));
        assert!(!signature_is_valid(&Secret::new("other"), body, &good));
        assert!(!signature_is_valid(&secret, body, "not base64!"));
        // A URL-encoded header is not the signature.
    }

    #[test]
    fn parses_leniently_and_collapses_duplicates() {
        let body = br#"[
          {"collectionType":"activities","date":"2026-11-20","ownerId":"A","ownerType":"user","subscriptionId":"A-activities","extra":1},
          {"collectionType":"activities","date":"2026-11-20","ownerId":"A","ownerType":"user","subscriptionId":"A-activities"},
          {"collectionType":"sleep","date":"2026-11-20","ownerId":"A"},
          {"collectionType":"foods","date":"2026-11-20","ownerId":"A"},
          {"collectionType":"body","date":"not-a-date","ownerId":"A"},
          {"collectionType":"body","date":"2026-11-19"},
          "garbage",
          {"collectionType":"activities","date":"2026-11-20","ownerId":"B"},
          {"collectionType":"userRevokedAccess","date":"2026-11-20","ownerId":"B"},
          {"collectionType":"deleteUser","date":"2026-11-20","ownerId":"C"},
          {"collectionType":"userRevokedAccess","date":"2026-11-20","ownerId":"C"}
        ]"#;
        let n = parse(body).unwrap();
        assert_eq!(n.received, 11);
        assert_eq!(n.skipped, 3);
        assert_eq!(n.ignored, 1);
        let kinds: Vec<_> = n
            .work
            .iter()
            .map(|w| (w.user_id.0.as_str(), &w.task))
            .collect();
        assert_eq!(kinds.len(), 4, "{kinds:?}");
        assert!(matches!(
            kinds[2],
            (
                "B",
                Task::Revoke {
                    account_deleted: false,
                    issued_at: None,
                }
            )
        ));
        // Whichever comes first, a deleted account is a deleted account.
        assert!(matches!(
            kinds[3],
            (
                "C",
                Task::Revoke {
                    account_deleted: true,
                    issued_at: None,
                }
            )
        ));
    }

    #[test]
    fn single_object_and_malformed_bodies() {
        let one = br#"{"collectionType":"body","date":"2026-11-20","ownerId":"A"}"#;
        assert_eq!(parse(one).unwrap().work.len(), 1);
        assert_eq!(parse(b"{not json"), Err(MalformedBody));
        assert_eq!(parse(b"42"), Err(MalformedBody));
        assert_eq!(parse(b"[]").unwrap().work.len(), 0);
    }
}
