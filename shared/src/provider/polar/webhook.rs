//! Polar's webhook: one per client application (created through the API, see the admin
//! CLI), POSTing small JSON pointers to new data.
//!
//! Invariants:
//! - A `PING` (the body's `event`) is answered 200 whatever its signature says and queues
//!   nothing: Polar sends it when the webhook is created, before anyone holds the key that
//!   signs it, and it carries no data.
//! - Every other delivery is accepted only with `Polar-Webhook-Signature` = hex
//!   HMAC-SHA256 of the raw body under the webhook's `signature_secret_key`, compared in
//!   constant time. No signature: 401; a wrong one (forged, or a body changed after
//!   signing): 403 — the two answers Google's webhook gives too; Polar treats any answer
//!   but 200 as a failed delivery either way. Nothing is queued for either.
//! - Without a signing key in the secret nothing can be verified: 503, and an error
//!   (somebody must store the key).
//! - The secret is cached per container (five minutes). A delivery that does not verify
//!   against the cached key, or finds none, has the secret read again first — unless this
//!   container read it less than [`RECHECK_EVERY`] (one second) ago. A delivery carries
//!   nothing that tells a forgery from one signed with a key newer than the cached copy
//!   (the operator re-created the webhook), so only a read can tell; the floor bounds what
//!   forgeries cost (a Lambda container serves one request at a time, so at most one read
//!   a second per warm container, and the route's throttle caps it below that), and leaves
//!   a genuine delivery refused only if a forgery made the same container read the secret
//!   within the second before the new key was stored.
//! - What the body says counts, not the `Polar-Webhook-Event` header (it is not signed).
//! - Accepted deliveries are answered 200 (Polar expects exactly that). `ACTIVITY_SUMMARY`
//!   and `SLEEP` name the person's civil date: one sync of that collection and day each.
//!   `EXERCISE` names the exercise but no date, only when Polar sent the notification
//!   (right after the upload): the activities of that (UTC) day are synced, whose fetch
//!   lists the day's exercises — the webhook itself never calls Polar. Other events
//!   (continuous heart rate, SleepWise) are data we do not import: 200, nothing queued.
//! - Parsing is lenient: a single object (what Polar sends) or an array of them, unknown
//!   fields ignored, an unusable entry skipped without losing the others; duplicates
//!   collapse to one work item per (person, collection, day).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use super::model::id_text;
use super::PolarCredentials;
use crate::domain::work::iso_date;
use crate::domain::{Collection, ProviderKind, ProviderUserId, Secret, WorkItem};
use crate::ports::provider::{Notifications, Received, Webhook, WebhookRefusal, WebhookRequest};
use crate::provider::notification_body;
use crate::secret_store::{SecretCache, CACHE_TTL};

/// The header of the signature.
pub const SIGNATURE_HEADER: &str = "polar-webhook-signature";
/// What Polar expects for a delivery it may consider done.
pub const ACK_STATUS: u16 = 200;
/// The answer to a delivery without a signature.
pub const NO_SIGNATURE: u16 = 401;
/// The answer to a delivery whose signature is not the body's.
pub const WRONG_SIGNATURE: u16 = 403;
/// The least time between two reads of the secret a container makes for deliveries its
/// cached key does not verify (see the module's description).
pub const RECHECK_EVERY: Duration = Duration::from_secs(1);

/// The webhook of the Polar provider. Built once per container.
pub struct PolarWebhook {
    secret_id: String,
    secrets: Arc<SecretCache>,
    /// When the secret was last read again for a delivery the cached key did not verify.
    rechecked: Mutex<Option<Instant>>,
}

impl PolarWebhook {
    pub fn new(secret_id: String, secrets: Arc<SecretCache>) -> Self {
        PolarWebhook {
            secret_id,
            secrets,
            rechecked: Mutex::new(None),
        }
    }

    /// The signing key as the cached secret holds it.
    async fn signing_key(&self) -> Result<Option<Secret>, WebhookRefusal> {
        let credentials: PolarCredentials = self
            .secrets
            .get(&self.secret_id)
            .await
            .map_err(|e| WebhookRefusal::Unavailable(e.to_string()))?;
        Ok(credentials.webhook_signature_key)
    }

    /// Reads the secret again, unless this container did so less than [`RECHECK_EVERY`]
    /// ago; whether it did.
    async fn reread(&self) -> Result<bool, WebhookRefusal> {
        {
            let mut last = self.rechecked.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|at| at.elapsed() < RECHECK_EVERY) {
                return Ok(false);
            }
            *last = Some(Instant::now());
        }
        // Asked to stay cached for its whole lifetime, the secret is read now.
        self.secrets
            .warm(&self.secret_id, CACHE_TTL)
            .await
            .map_err(|e| WebhookRefusal::Unavailable(e.to_string()))?;
        Ok(true)
    }

    /// Whether `signature` is the body's under the current key: the cached one, else the
    /// secret read again (see the module's description).
    async fn verify(&self, body: &[u8], signature: &str) -> Result<bool, WebhookRefusal> {
        let cached = self.signing_key().await?;
        if cached
            .as_ref()
            .is_some_and(|key| signature_is_valid(key, body, signature))
        {
            return Ok(true);
        }
        let key = if self.reread().await? {
            self.signing_key().await?
        } else {
            cached
        };
        match key {
            Some(key) => Ok(signature_is_valid(&key, body, signature)),
            None => Err(WebhookRefusal::Unavailable(
                "the secret holds no webhook_signature_key: create the webhook with the admin \
                 CLI, which stores it"
                    .into(),
            )),
        }
    }
}

fn unauthenticated(status: u16, reason: &str) -> WebhookRefusal {
    WebhookRefusal::Unauthenticated {
        status,
        reason: reason.to_owned(),
    }
}

#[async_trait]
impl Webhook for PolarWebhook {
    async fn receive(&self, request: &WebhookRequest<'_>) -> Result<Received, WebhookRefusal> {
        if request.method != "POST" {
            return Err(WebhookRefusal::MethodNotAllowed);
        }
        if is_ping(request.body) {
            return Ok(Received::Handshake { status: ACK_STATUS });
        }
        let Some(signature) = request.header(SIGNATURE_HEADER) else {
            return Err(unauthenticated(NO_SIGNATURE, "no signature"));
        };
        if !self.verify(request.body, signature).await? {
            return Err(unauthenticated(
                WRONG_SIGNATURE,
                "signature is not the body's",
            ));
        }
        let notifications = parse(request.body).map_err(|_| WebhookRefusal::Malformed)?;
        Ok(Received::Notifications {
            notifications,
            ack_status: ACK_STATUS,
        })
    }
}

/// Whether the body is Polar's `PING`: a JSON object whose `event` is `PING`.
pub fn is_ping(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .is_ok_and(|v| v.get("event").and_then(Value::as_str) == Some("PING"))
}

/// The bytes of a hex string (either case); `None` for anything else.
fn from_hex(text: &str) -> Option<Vec<u8>> {
    let text = text.as_bytes();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks(2)
        .map(|pair| {
            let digit = |b: u8| (b as char).to_digit(16);
            Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
        })
        .collect()
}

/// Checks `Polar-Webhook-Signature` = hex(HMAC-SHA256(key, raw body)), in constant time
/// over the raw bytes; surrounding whitespace is ignored, nothing else.
pub fn signature_is_valid(key: &Secret, body: &[u8], header: &str) -> bool {
    let Some(expected) = from_hex(header.trim()) else {
        return false;
    };
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.expose().as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

pub use crate::provider::notification_body::MalformedBody;

/// The civil day of an RFC 3339 time, in UTC.
fn utc_day(text: &str) -> Option<Date> {
    OffsetDateTime::parse(text.trim(), &Rfc3339)
        .ok()
        .map(|t| t.to_offset(time::UtcOffset::UTC).date())
}

/// What one payload asks for: `Ok(Some(..))` work, `Ok(None)` data we do not import,
/// `Err(())` unusable.
fn entry_work(entry: &Value) -> Result<Option<(String, Collection, Date)>, ()> {
    let text = |key: &str| {
        entry
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let event = text("event").ok_or(())?;
    let collection = match event {
        "ACTIVITY_SUMMARY" | "EXERCISE" => Collection::Activities,
        "SLEEP" => Collection::Sleep,
        _ => return Ok(None),
    };
    let user = entry.get("user_id").and_then(id_text).ok_or(())?;
    let date = match (event, text("date")) {
        (_, Some(date)) => iso_date::parse(date),
        // An exercise carries no date: the day Polar notified us, right after the upload.
        ("EXERCISE", None) => text("timestamp").and_then(utc_day),
        (_, None) => None,
    }
    .ok_or(())?;
    Ok(Some((user, collection, date)))
}

/// A delivery's work: one sync per distinct (person, collection, day).
pub fn parse(body: &[u8]) -> Result<Notifications, MalformedBody> {
    let entries = notification_body::entries(body)?;
    let mut out = Notifications {
        received: entries.len(),
        ..Default::default()
    };
    let mut work = BTreeSet::new();
    for entry in &entries {
        match entry_work(entry) {
            Ok(Some(item)) => {
                work.insert(item);
            }
            Ok(None) => out.ignored += 1,
            Err(()) => out.skipped += 1,
        }
    }
    out.work = work
        .into_iter()
        .map(|(user, collection, date)| {
            WorkItem::sync(
                ProviderKind::Polar,
                ProviderUserId(user),
                date,
                vec![collection],
            )
        })
        .collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use time::macros::date;

    use super::*;
    use crate::domain::Task;
    use crate::secret_store::MemorySecrets;

    const KEY: &str = "abe1f3ae-fd33-11e8-8eb2-f2801f1b9fd1";
    /// The page's `EXERCISE` payload example, compact.
    const EXERCISE: &str = r#"{"event":"EXERCISE","user_id":475,"entity_id":"aQlC83","timestamp":"2018-05-15T14:22:24Z","url":"https://www.polaraccesslink.com/v3/exercises/aQlC83"}"#;
    const ACTIVITY: &str = r#"{"event":"ACTIVITY_SUMMARY","user_id":475,"date":"2022-09-30","timestamp":"2022-10-02T14:22:24Z","url":"https://www.polaraccesslink.com/v3/users/activities/2022-09-30"}"#;

    fn sign(key: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(body);
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn webhook(key: Option<&str>) -> PolarWebhook {
        let mut secret = serde_json::json!({"client_id": "id", "client_secret": "s"});
        if let Some(key) = key {
            secret["webhook_signature_key"] = key.into();
        }
        let source = Arc::new(MemorySecrets::new([("polar", secret)]));
        PolarWebhook::new("polar".into(), Arc::new(SecretCache::new(source)))
    }

    async fn deliver(
        webhook: &PolarWebhook,
        method: &str,
        signature: Option<&str>,
        body: &str,
    ) -> Result<Received, WebhookRefusal> {
        let mut headers = vec![("polar-webhook-event".to_owned(), "EXERCISE".to_owned())];
        if let Some(s) = signature {
            headers.push((SIGNATURE_HEADER.to_owned(), s.to_owned()));
        }
        webhook
            .receive(&WebhookRequest {
                method,
                query: &[],
                headers: &headers,
                body: body.as_bytes(),
            })
            .await
    }

    fn status(result: Result<Received, WebhookRefusal>) -> u16 {
        match result {
            Ok(Received::Handshake { status }) => status,
            Ok(Received::Notifications { ack_status, .. }) => ack_status,
            Err(WebhookRefusal::Unauthenticated { status, .. }) => status,
            Err(WebhookRefusal::Malformed) => 400,
            Err(WebhookRefusal::MethodNotAllowed) => 405,
            Err(_) => 503,
        }
    }

    #[test]
    fn the_signature_is_hex_hmac_sha256_of_the_raw_body() {
        // The sandbox's value for the page's example, computed independently (Python).
        let body = br#"{"event":"EXERCISE","user_id":475,"entity_id":"aQlC83","timestamp":"2018-05-15T14:22:24Z","url":"https://www.polaraccesslink.com/v3/exercises/aQlC83"}"#;
        let good = "443ec69698c1de6d326902d7d942be1e83f0395f685b8c040cee609660d006d6";
        assert_eq!(sign(KEY, body), good);
        let key = Secret::new(KEY);
        assert!(signature_is_valid(&key, body, good));
        assert!(signature_is_valid(&key, body, &good.to_uppercase()));
        assert!(signature_is_valid(&key, body, &format!(" {good}\n")));
        assert!(!signature_is_valid(&key, &body[1..], good), "altered body");
        assert!(
            !signature_is_valid(&Secret::new("other"), body, good),
            "forged"
        );
        assert!(!signature_is_valid(&key, body, &good[..62]), "truncated");
        assert!(!signature_is_valid(&key, body, &format!("{good}00")));
        assert!(!signature_is_valid(&key, body, "sha256=443e"), "not hex");
        assert!(!signature_is_valid(&key, body, ""));
        assert!(!signature_is_valid(&key, body, "zz"));
    }

    #[tokio::test]
    async fn deliveries_are_accepted_only_signed_and_answered_200() {
        let w = webhook(Some(KEY));
        let good = sign(KEY, ACTIVITY.as_bytes());
        let accepted = deliver(&w, "POST", Some(&good), ACTIVITY).await.unwrap();
        let Received::Notifications {
            notifications,
            ack_status: 200,
        } = accepted
        else {
            panic!("{accepted:?}");
        };
        assert_eq!(
            notifications.work,
            [WorkItem::sync(
                ProviderKind::Polar,
                ProviderUserId("475".into()),
                date!(2022 - 09 - 30),
                vec![Collection::Activities]
            )]
        );
        // Missing, forged, of another body, not hex: refused, nothing queued.
        assert_eq!(status(deliver(&w, "POST", None, ACTIVITY).await), 401);
        let forged = sign("guessed", ACTIVITY.as_bytes());
        assert_eq!(
            status(deliver(&w, "POST", Some(&forged), ACTIVITY).await),
            403
        );
        let altered = ACTIVITY.replace("2022-09-30", "2022-09-29");
        assert_eq!(
            status(deliver(&w, "POST", Some(&good), &altered).await),
            403
        );
        assert_eq!(status(deliver(&w, "POST", Some("%%"), ACTIVITY).await), 403);
        // Signed garbage is malformed; unsigned garbage is not even read.
        assert_eq!(
            status(deliver(&w, "POST", Some(&sign(KEY, b"{not json")), "{not json").await),
            400
        );
        assert_eq!(status(deliver(&w, "POST", None, "{not json").await), 401);
        assert_eq!(status(deliver(&w, "GET", Some(&good), ACTIVITY).await), 405);
    }

    #[tokio::test]
    async fn a_ping_is_answered_200_whatever_its_signature() {
        let ping = r#"{"timestamp":"2018-05-15T14:22:24Z","event":"PING"}"#;
        for w in [webhook(Some(KEY)), webhook(None)] {
            for signature in [
                None,
                Some("f7bc83f4".to_owned()),
                Some(sign("unknown", ping.as_bytes())),
            ] {
                let answered = deliver(&w, "POST", signature.as_deref(), ping).await;
                assert_eq!(answered.unwrap(), Received::Handshake { status: 200 });
            }
        }
        // Without the key nothing else can be verified: Polar must deliver again.
        let unverifiable = deliver(&webhook(None), "POST", Some("00"), ACTIVITY).await;
        assert!(matches!(unverifiable, Err(WebhookRefusal::Unavailable(_))));
    }

    #[tokio::test]
    async fn the_sample_event_is_a_signed_activity_summary() {
        // `events/webhook-polar-activity.json`, for `cargo lambda invoke`: signed with
        // `sandbox-polar-webhook-signature-key`, which a local secret's
        // `webhook_signature_key` must hold for it to verify.
        let event: serde_json::Value = serde_json::from_str(include_str!(
            "../../../../events/webhook-polar-activity.json"
        ))
        .unwrap();
        let headers: Vec<(String, String)> = event["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.to_owned(), v.as_str().unwrap().to_owned()))
            .collect();
        let body = event["body"].as_str().unwrap();
        let received = webhook(Some("sandbox-polar-webhook-signature-key"))
            .receive(&WebhookRequest {
                method: event["requestContext"]["http"]["method"].as_str().unwrap(),
                query: &[],
                headers: &headers,
                body: body.as_bytes(),
            })
            .await
            .unwrap();
        let Received::Notifications { notifications, .. } = received else {
            panic!("{received:?}");
        };
        assert_eq!(
            notifications.work,
            [WorkItem::sync(
                ProviderKind::Polar,
                ProviderUserId("2278517".into()),
                date!(2026 - 11 - 20),
                vec![Collection::Activities]
            )]
        );
        assert_eq!(event["pathParameters"]["provider"], "polar");
    }

    /// A secret source whose value a test changes, counting reads.
    struct Changing(std::sync::Mutex<(String, usize)>);

    #[async_trait]
    impl crate::ports::secrets::SecretSource for Changing {
        async fn secret_string(
            &self,
            _id: &str,
        ) -> Result<Secret, crate::ports::secrets::SecretError> {
            let mut value = self.0.lock().unwrap();
            value.1 += 1;
            Ok(Secret::new(value.0.clone()))
        }
    }

    #[tokio::test]
    async fn a_key_stored_after_the_secret_was_cached_is_read_again_but_not_for_every_forgery() {
        let secret = |key: Option<&str>| {
            let mut s = serde_json::json!({"client_id": "id", "client_secret": "s"});
            if let Some(key) = key {
                s["webhook_signature_key"] = key.into();
            }
            s.to_string()
        };
        let source = Arc::new(Changing(std::sync::Mutex::new((secret(None), 0))));
        let w = PolarWebhook::new("polar".into(), Arc::new(SecretCache::new(source.clone())));
        // Before the webhook exists: the secret has no key, and the answer says so (503).
        let unverifiable = deliver(&w, "POST", Some("00"), ACTIVITY).await;
        assert!(matches!(unverifiable, Err(WebhookRefusal::Unavailable(_))));
        let reads = source.0.lock().unwrap().1;
        // The admin CLI stores the key; a delivery signed with it is verified at once,
        // although the container cached the secret without it.
        source.0.lock().unwrap().0 = secret(Some(KEY));
        *w.rechecked.lock().unwrap() = None;
        let good = sign(KEY, ACTIVITY.as_bytes());
        assert_eq!(
            status(deliver(&w, "POST", Some(&good), ACTIVITY).await),
            200
        );
        assert_eq!(source.0.lock().unwrap().1, reads + 1, "read once more");
        // Forgeries do not make it read the secret again within RECHECK_EVERY.
        let forged = sign("guessed", ACTIVITY.as_bytes());
        for _ in 0..5 {
            assert_eq!(
                status(deliver(&w, "POST", Some(&forged), ACTIVITY).await),
                403
            );
        }
        assert_eq!(source.0.lock().unwrap().1, reads + 1);
        assert_eq!(
            status(deliver(&w, "POST", Some(&good), ACTIVITY).await),
            200
        );
    }

    #[tokio::test]
    async fn a_webhook_created_anew_just_after_a_forgery_is_verified_a_second_later() {
        let secret = |key: &str| {
            serde_json::json!({"client_id": "id", "client_secret": "s",
                "webhook_signature_key": key})
            .to_string()
        };
        let source = Arc::new(Changing(std::sync::Mutex::new((secret(KEY), 0))));
        let w = PolarWebhook::new("polar".into(), Arc::new(SecretCache::new(source.clone())));
        assert_eq!(
            status(deliver(&w, "POST", Some(&sign(KEY, ACTIVITY.as_bytes())), ACTIVITY).await),
            200
        );
        // A forgery makes the container read the secret again; right after it, the operator
        // re-creates the webhook and stores its new key.
        let forged = sign("guessed", ACTIVITY.as_bytes());
        assert_eq!(
            status(deliver(&w, "POST", Some(&forged), ACTIVITY).await),
            403
        );
        const NEW_KEY: &str = "a-key-polar-showed-once-for-the-new-webhook";
        source.0.lock().unwrap().0 = secret(NEW_KEY);
        let reads = source.0.lock().unwrap().1;
        // A delivery under the new key a second later is verified: the secret is read again.
        tokio::time::sleep(RECHECK_EVERY + Duration::from_millis(100)).await;
        let genuine = sign(NEW_KEY, ACTIVITY.as_bytes());
        assert_eq!(
            status(deliver(&w, "POST", Some(&genuine), ACTIVITY).await),
            200
        );
        assert_eq!(source.0.lock().unwrap().1, reads + 1, "read once more");
        // The old key no longer verifies anything.
        assert_eq!(
            status(deliver(&w, "POST", Some(&sign(KEY, ACTIVITY.as_bytes())), ACTIVITY).await),
            403
        );
    }

    #[test]
    fn payloads_become_one_sync_per_person_collection_and_day() {
        let body = format!(
            r#"[{ACTIVITY}, {ACTIVITY}, {EXERCISE},
              {{"event":"SLEEP","user_id":475,"date":"2019-12-31","timestamp":"2018-05-15T14:22:24Z"}},
              {{"event":"EXERCISE","user_id":"475","entity_id":"x","timestamp":"2022-09-30T23:59:59+02:00"}},
              {{"event":"CONTINUOUS_HEART_RATE","user_id":475,"date":"2022-09-30"}},
              {{"event":"SLEEP_WISE_ALERTNESS","user_id":475,"from":"2022-09-28","to":"2022-09-30"}},
              {{"event":"PING","timestamp":"2018-05-15T14:22:24Z"}},
              {{"event":"SLEEP","user_id":475,"date":"2019-02-30"}},
              {{"event":"SLEEP","date":"2019-12-31"}},
              {{"event":"EXERCISE","user_id":475,"entity_id":"x"}},
              {{"user_id":475,"date":"2019-12-31"}},
              "SLEEP", null]"#
        );
        let n = parse(body.as_bytes()).unwrap();
        assert_eq!(n.received, 14);
        assert_eq!(n.ignored, 3, "heart rate, SleepWise, a ping");
        assert_eq!(n.skipped, 6);
        let work: HashMap<(Collection, Date), usize> =
            n.work.iter().fold(HashMap::new(), |mut m, w| {
                let Task::Sync { date, collections } = &w.task else {
                    panic!("{w:?}");
                };
                assert_eq!(w.user_id.0, "475");
                *m.entry((collections[0], *date)).or_default() += 1;
                m
            });
        assert_eq!(
            work,
            HashMap::from([
                ((Collection::Activities, date!(2022 - 09 - 30)), 1),
                ((Collection::Activities, date!(2018 - 05 - 15)), 1),
                ((Collection::Sleep, date!(2019 - 12 - 31)), 1),
            ]),
            "the exercise notified at 23:59:59+02:00 is the activity day already queued"
        );
        assert_eq!(parse(b"42"), Err(MalformedBody));
        assert_eq!(parse(b"").unwrap_err(), MalformedBody);
        assert_eq!(parse(b"[]").unwrap().work.len(), 0);
        assert!(is_ping(br#"{"event":"PING"}"#));
        assert!(!is_ping(br#"[{"event":"PING"}]"#));
        assert!(!is_ping(br#"{"event":"ping"}"#));
    }
}
