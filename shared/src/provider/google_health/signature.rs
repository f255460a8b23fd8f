//! Google Health API webhook signatures: ECDSA P-256 / SHA-256 over the raw body, Tink
//! framing, checked against Google's public keyset (facts: `tests/contracts/FACTS.md` §2).
//!
//! Invariants:
//! - Only a signature that aws-lc verifies over the exact body bytes, with a key of the
//!   current keyset registered under the key id the header names, is `Ok`. Every other
//!   outcome is an error that says why; none of them means "valid".
//! - Header value = standard base64 of `0x01 ‖ key id (4 bytes, big-endian) ‖ DER
//!   ECDSA-Sig-Value` (Tink's `TINK` output prefix; the signed data is the body alone).
//!   Nothing here panics on any header or body.
//! - The header is checked before the keyset is touched, so garbage never causes a fetch.
//! - An unknown key id re-fetches the keyset (keys rotate about monthly), but the cache
//!   starts at most one fetch per [`MIN_FETCH_INTERVAL`], whatever the outcome, so forged
//!   key ids cannot make us hammer Google. A keyset older than [`MAX_KEYSET_AGE`] is
//!   refreshed on the next verification, so a key Google withdraws stops counting; if that
//!   refresh fails the old keyset keeps serving the keys it has.
//! - A fetch that fails when we need it is [`SignatureError::KeysetUnavailable`] (answer
//!   503 so Google retries), never a verdict on the signature.
//!
//! The keyset's URL is configuration, not a constant here: integrators use
//! `https://www.gstatic.com/googlehealthapi/webhooks/webhooks_public_keyset.json`, but no
//! Google page we could read confirms it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use tokio::sync::Mutex;

use super::keyset::{Keyset, KeysetError, BASE64};

/// The header Google sends the signature in (header names are case-insensitive).
pub const SIGNATURE_HEADER: &str = "google-health-api-signature";
/// The same header under the name earlier API revisions used.
pub const LEGACY_SIGNATURE_HEADER: &str = "x-healthapi-signature";

/// At most one keyset fetch is started per this interval.
pub const MIN_FETCH_INTERVAL: Duration = Duration::from_secs(60);
/// A keyset this old is refreshed on the next verification.
pub const MAX_KEYSET_AGE: Duration = Duration::from_secs(24 * 60 * 60);
/// [`HttpKeysetSource`]'s budget: the webhook has to answer Google promptly.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// Tink's first byte for keys with the `TINK` output prefix.
const TINK_START_BYTE: u8 = 0x01;
/// Start byte and key id.
const TINK_PREFIX_LEN: usize = 5;
/// Shortest and longest DER ECDSA-Sig-Value for P-256: SEQUENCE of two INTEGERs of
/// 1 to 33 bytes each (33 when the high bit needs a 0x00 in front).
const MIN_DER_LEN: usize = 8;
const MAX_DER_LEN: usize = 72;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no signature header")]
    Missing,
    #[error("signature header is malformed: {0}")]
    Malformed(MalformedHeader),
    /// The keyset, fetched again for this key id, does not hold it: not Google's.
    #[error("signed with key id {key_id}, which the keyset does not hold")]
    UnknownKey { key_id: u32 },
    /// The keyset does not hold this key id and may not be fetched again yet
    /// ([`MIN_FETCH_INTERVAL`]): answer 503, so a key Google just introduced is accepted
    /// when Google retries, while forged key ids still cost no fetch.
    #[error("signed with key id {key_id}, unknown; the keyset may not be re-fetched yet")]
    UnknownKeyNotRechecked { key_id: u32 },
    #[error("signature by key id {key_id} does not match the body")]
    Invalid { key_id: u32 },
    /// We could not get a keyset to check with: answer 503, Google retries.
    #[error("webhook keyset unavailable: {0}")]
    KeysetUnavailable(KeysetError),
}

/// Why a header value is not a Tink-framed P-256 DER signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MalformedHeader {
    #[error("not standard base64")]
    NotBase64,
    #[error("decodes to {len} bytes; a framed P-256 DER signature has 13 to 77")]
    WrongLength { len: usize },
    #[error("first byte is {first_byte:#04x}, not Tink's 0x01")]
    NotTinkPrefixed { first_byte: u8 },
}

/// The signature header's value, under its current name or else its older one; `None`
/// if neither is present or the value is not visible ASCII (base64 always is).
pub fn signature_header(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get(SIGNATURE_HEADER)
        .or_else(|| headers.get(LEGACY_SIGNATURE_HEADER))
        .and_then(|value| value.to_str().ok())
}

/// Checks a signature header value against the raw body with a given keyset.
///
/// Returns `Malformed`, `UnknownKey` (the caller may re-fetch the keyset) or `Invalid`;
/// never `Missing` or `KeysetUnavailable`.
pub fn verify_header(keyset: &Keyset, body: &[u8], header: &str) -> Result<(), SignatureError> {
    TinkSignature::parse(header)
        .map_err(SignatureError::Malformed)?
        .verify(keyset, body)
}

/// A decoded header: which key signed, and the DER signature.
struct TinkSignature {
    key_id: u32,
    der: Vec<u8>,
}

impl TinkSignature {
    fn parse(header: &str) -> Result<Self, MalformedHeader> {
        let framed = BASE64
            .decode(header.trim_ascii())
            .map_err(|_| MalformedHeader::NotBase64)?;
        let len = framed.len();
        match framed.first() {
            None => return Err(MalformedHeader::WrongLength { len }),
            Some(&first_byte) if first_byte != TINK_START_BYTE => {
                return Err(MalformedHeader::NotTinkPrefixed { first_byte })
            }
            Some(_) => {}
        }
        if !(TINK_PREFIX_LEN + MIN_DER_LEN..=TINK_PREFIX_LEN + MAX_DER_LEN).contains(&len) {
            return Err(MalformedHeader::WrongLength { len });
        }
        let key_id = u32::from_be_bytes([framed[1], framed[2], framed[3], framed[4]]);
        Ok(TinkSignature {
            key_id,
            der: framed[TINK_PREFIX_LEN..].to_vec(),
        })
    }

    fn verify(&self, keyset: &Keyset, body: &[u8]) -> Result<(), SignatureError> {
        let keys = keyset.keys_for(self.key_id);
        if keys.is_empty() {
            return Err(SignatureError::UnknownKey {
                key_id: self.key_id,
            });
        }
        if keys
            .iter()
            .any(|key| key.verify_sig(body, &self.der).is_ok())
        {
            Ok(())
        } else {
            Err(SignatureError::Invalid {
                key_id: self.key_id,
            })
        }
    }
}

/// Port: delivers the keyset's JSON text.
#[async_trait]
pub trait KeysetSource: Send + Sync {
    async fn fetch(&self) -> Result<String, KeysetError>;
}

/// Adapter: GETs the keyset over HTTPS from a configured URL.
pub struct HttpKeysetSource {
    http: reqwest::Client,
    url: url::Url,
}

impl HttpKeysetSource {
    pub fn new(http: reqwest::Client, url: url::Url) -> Self {
        HttpKeysetSource { http, url }
    }
}

#[async_trait]
impl KeysetSource for HttpKeysetSource {
    async fn fetch(&self) -> Result<String, KeysetError> {
        let response = self
            .http
            .get(self.url.clone())
            .timeout(FETCH_TIMEOUT)
            .send()
            .await
            .map_err(|e| KeysetError::Fetch(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(KeysetError::Fetch(format!("HTTP {status}")));
        }
        response
            .text()
            .await
            .map_err(|e| KeysetError::Fetch(e.to_string()))
    }
}

/// The keyset of this container, fetched on first use and re-fetched as the module docs
/// say. Cheap to share (`Send + Sync`); verifications wait for each other only while a
/// fetch is running.
pub struct KeysetCache {
    source: Arc<dyn KeysetSource>,
    state: Mutex<CacheState>,
}

#[derive(Default)]
struct CacheState {
    keyset: Option<Arc<Keyset>>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
    /// Why the most recent fetch failed; cleared by a successful one.
    last_error: Option<KeysetError>,
}

impl CacheState {
    fn may_fetch(&self, now: Instant) -> bool {
        self.last_attempt
            .is_none_or(|at| now.saturating_duration_since(at) >= MIN_FETCH_INTERVAL)
    }

    fn is_stale(&self, now: Instant) -> bool {
        self.fetched_at
            .is_none_or(|at| now.saturating_duration_since(at) >= MAX_KEYSET_AGE)
    }
}

impl KeysetCache {
    pub fn new(source: Arc<dyn KeysetSource>) -> Self {
        KeysetCache {
            source,
            state: Mutex::new(CacheState::default()),
        }
    }

    /// The webhook's one call: `Ok` only for a good signature over `body` (see
    /// [`SignatureError`] for the rest). `now` is the caller's clock, so tests need not
    /// sleep; pass `Instant::now()`.
    pub async fn verify(
        &self,
        body: &[u8],
        header: Option<&str>,
        now: Instant,
    ) -> Result<(), SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let signature = TinkSignature::parse(header).map_err(SignatureError::Malformed)?;
        let keyset = self.keyset_for(signature.key_id, now).await?;
        signature.verify(&keyset, body)
    }

    /// A keyset to check `key_id` with, fetching one if we have none, it lacks the key,
    /// or it is stale, as far as [`MIN_FETCH_INTERVAL`] allows.
    async fn keyset_for(&self, key_id: u32, now: Instant) -> Result<Arc<Keyset>, SignatureError> {
        let mut state = self.state.lock().await;
        let wanted = match &state.keyset {
            None => true,
            Some(keyset) => !keyset.contains(key_id) || state.is_stale(now),
        };
        let fetching = wanted && state.may_fetch(now);
        if fetching {
            state.last_attempt = Some(now);
            match self.fetch().await {
                Ok(keyset) => {
                    tracing::info!(
                        keys = keyset.key_ids().count(),
                        skipped = keyset.skipped(),
                        "webhook keyset fetched"
                    );
                    state.keyset = Some(Arc::new(keyset));
                    state.fetched_at = Some(now);
                    state.last_error = None;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "webhook keyset fetch failed");
                    state.last_error = Some(e);
                }
            }
        }
        match (&state.keyset, &state.last_error) {
            (Some(keyset), _) if keyset.contains(key_id) => Ok(Arc::clone(keyset)),
            // The key may be a new one we failed to get: let Google retry.
            (_, Some(e)) => Err(SignatureError::KeysetUnavailable(e.clone())),
            (Some(_), None) if !fetching => Err(SignatureError::UnknownKeyNotRechecked { key_id }),
            (Some(_), None) => Err(SignatureError::UnknownKey { key_id }),
            // Unreachable: without a keyset, every attempt leaves an error behind.
            (None, None) => Err(SignatureError::KeysetUnavailable(KeysetError::Fetch(
                "no keyset fetched yet".to_owned(),
            ))),
        }
    }

    async fn fetch(&self) -> Result<Keyset, KeysetError> {
        let text = self.source.fetch().await?;
        Keyset::from_json(&text)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex as StdMutex;

    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::EcdsaKeyPair;
    use base64::engine::general_purpose::STANDARD;

    use super::*;
    use crate::provider::google_health::keyset::tests::{
        coordinates, ecdsa_public_key, entry, entry_with, generate, keyset_json, p256_entry,
    };

    const BODY: &[u8] =
        br#"{"data":{"version":"1","healthUserId":"u1","operation":"UPSERT","dataType":"steps"}}"#;

    fn sign(pair: &EcdsaKeyPair, key_id: u32, body: &[u8]) -> String {
        let der = pair.sign(&SystemRandom::new(), body).expect("signing");
        let mut framed = vec![TINK_START_BYTE];
        framed.extend(key_id.to_be_bytes());
        framed.extend(der.as_ref());
        STANDARD.encode(framed)
    }

    /// An in-memory keyset source: hands out the current text (or a failure) and counts
    /// how often it was asked.
    #[derive(Default)]
    struct FakeSource {
        response: StdMutex<Option<Result<String, KeysetError>>>,
        fetches: AtomicUsize,
    }

    impl FakeSource {
        fn serving(text: String) -> Arc<Self> {
            let source = Arc::new(FakeSource::default());
            source.serve(text);
            source
        }

        fn serve(&self, text: String) {
            *self.response.lock().unwrap() = Some(Ok(text));
        }

        fn fail(&self) {
            *self.response.lock().unwrap() = Some(Err(KeysetError::Fetch("HTTP 500".into())));
        }

        fn fetches(&self) -> usize {
            self.fetches.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl KeysetSource for FakeSource {
        async fn fetch(&self) -> Result<String, KeysetError> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            self.response
                .lock()
                .unwrap()
                .clone()
                .unwrap_or_else(|| Err(KeysetError::Fetch("nothing to serve".into())))
        }
    }

    fn keyset_of(entries: Vec<serde_json::Value>) -> Keyset {
        Keyset::from_json(&keyset_json(entries)).unwrap()
    }

    /// What the keyset says of [`BODY`] signed by `pair` under `key_id`.
    fn verdict(keyset: &Keyset, pair: &EcdsaKeyPair, key_id: u32) -> Result<(), SignatureError> {
        verify_header(keyset, BODY, &sign(pair, key_id, BODY))
    }

    /// A fresh key pair and a keyset holding its public key as key 42.
    fn key_42() -> (EcdsaKeyPair, Keyset) {
        let pair = generate();
        let keyset = keyset_of(vec![p256_entry(42, &pair)]);
        (pair, keyset)
    }

    #[test]
    fn a_valid_signature_verifies() {
        let (pair, keyset) = key_42();
        assert_eq!(verdict(&keyset, &pair, 42), Ok(()));
    }

    #[test]
    fn old_and_new_key_both_verify_during_rotation() {
        let (old, new) = (generate(), generate());
        let keyset = keyset_of(vec![p256_entry(1, &old), p256_entry(2, &new)]);
        assert_eq!(verdict(&keyset, &old, 1), Ok(()));
        assert_eq!(verdict(&keyset, &new, 2), Ok(()));
        // The header's key id decides which key is asked.
        assert_eq!(
            verdict(&keyset, &old, 2),
            Err(SignatureError::Invalid { key_id: 2 })
        );
    }

    #[test]
    fn a_signature_by_another_key_is_invalid() {
        let (ours, theirs) = (generate(), generate());
        let keyset = keyset_of(vec![p256_entry(42, &ours)]);
        assert_eq!(
            verdict(&keyset, &theirs, 42),
            Err(SignatureError::Invalid { key_id: 42 })
        );
    }

    #[test]
    fn a_body_changed_by_one_byte_is_invalid() {
        let (pair, keyset) = key_42();
        let header = sign(&pair, 42, BODY);
        let mut body = BODY.to_vec();
        for i in [0, body.len() / 2, body.len() - 1] {
            body[i] ^= 0x01;
            assert_eq!(
                verify_header(&keyset, &body, &header),
                Err(SignatureError::Invalid { key_id: 42 }),
                "byte {i}"
            );
            body[i] ^= 0x01;
        }
        assert_eq!(
            verify_header(&keyset, &[BODY, b" "].concat(), &header),
            Err(SignatureError::Invalid { key_id: 42 })
        );
        assert_eq!(verify_header(&keyset, &body, &header), Ok(()));
    }

    #[test]
    fn an_unknown_key_id_is_reported_with_the_id() {
        let (pair, keyset) = key_42();
        assert_eq!(
            verdict(&keyset, &pair, 43),
            Err(SignatureError::UnknownKey { key_id: 43 })
        );
    }

    #[test]
    fn a_truncated_header_has_the_wrong_length() {
        let (pair, keyset) = key_42();
        let header = sign(&pair, 42, BODY);
        let malformed = |h: &str| match verify_header(&keyset, BODY, h) {
            Err(SignatureError::Malformed(why)) => why,
            other => panic!("{h:?}: {other:?}"),
        };
        assert_eq!(malformed(""), MalformedHeader::WrongLength { len: 0 });
        assert_eq!(malformed("AQ=="), MalformedHeader::WrongLength { len: 1 });
        assert_eq!(
            malformed(&header[..8]),
            MalformedHeader::WrongLength { len: 6 }
        );
        // Prefix and a DER too short to be a signature.
        assert_eq!(
            malformed(&header[..16]),
            MalformedHeader::WrongLength { len: 12 }
        );
        // Long enough, but the DER is cut: aws-lc rejects it.
        let cut = &header[..header.len() - 8];
        assert_eq!(
            verify_header(&keyset, BODY, cut),
            Err(SignatureError::Invalid { key_id: 42 })
        );
        let padded = STANDARD.encode([&[TINK_START_BYTE][..], &[0; 4], &[0x30; 73]].concat());
        assert_eq!(malformed(&padded), MalformedHeader::WrongLength { len: 78 });
    }

    #[test]
    fn a_header_that_is_not_base64_is_malformed() {
        let keyset = keyset_of(vec![p256_entry(42, &generate())]);
        for header in [
            "not base64!",
            "AQAAACow*",
            "A",
            "AQAAACowRAIg====",
            "AQAA ACow",
        ] {
            assert_eq!(
                verify_header(&keyset, BODY, header),
                Err(SignatureError::Malformed(MalformedHeader::NotBase64)),
                "{header:?}"
            );
        }
    }

    #[test]
    fn a_wrong_framing_byte_is_malformed() {
        let (pair, keyset) = key_42();
        let mut framed = STANDARD.decode(sign(&pair, 42, BODY)).unwrap();
        for first_byte in [0x00, 0x02, 0x30] {
            // 0x00 is Tink's LEGACY/CRUNCHY prefix; 0x30 a bare DER signature.
            framed[0] = first_byte;
            assert_eq!(
                verify_header(&keyset, BODY, &STANDARD.encode(&framed)),
                Err(SignatureError::Malformed(
                    MalformedHeader::NotTinkPrefixed { first_byte }
                ))
            );
        }
    }

    #[test]
    fn surrounding_whitespace_and_missing_padding_are_tolerated() {
        let (pair, keyset) = key_42();
        let header = sign(&pair, 42, BODY);
        assert_eq!(
            verify_header(&keyset, BODY, &format!(" {header}\t")),
            Ok(())
        );
        assert_eq!(
            verify_header(&keyset, BODY, header.trim_end_matches('=')),
            Ok(())
        );
    }

    #[test]
    fn a_key_of_another_type_in_the_keyset_is_skipped_and_the_rest_works() {
        let pair = generate();
        let (x, y) = coordinates(&pair);
        let p256 = ecdsa_public_key(3, 2, 2, &x, &y);
        let keyset = keyset_of(vec![
            entry_with(
                7,
                "type.googleapis.com/google.crypto.tink.Ed25519PublicKey",
                &[0x12, 0x20, 0],
                "ENABLED",
                "TINK",
            ),
            entry(42, &p256),
        ]);
        assert_eq!(keyset.skipped(), 1);
        assert_eq!(verdict(&keyset, &pair, 42), Ok(()));
        assert_eq!(
            verdict(&keyset, &pair, 7),
            Err(SignatureError::UnknownKey { key_id: 7 })
        );
    }

    #[test]
    fn key_ids_above_2_pow_31_work_as_tink_writes_them() {
        let pair = generate();
        let keyset = keyset_of(vec![p256_entry(-2, &pair)]);
        assert_eq!(
            verify_header(&keyset, BODY, &sign(&pair, u32::MAX - 1, BODY)),
            Ok(())
        );
    }

    #[test]
    fn no_header_or_body_makes_it_panic() {
        let (pair, keyset) = key_42();
        let good = STANDARD.decode(sign(&pair, 42, BODY)).unwrap();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..5_000 {
            // Mutate a real framed signature, and also try pure noise.
            let mut framed = good.clone();
            let flips = next() % 4;
            for _ in 0..flips {
                let i = (next() as usize) % framed.len();
                framed[i] ^= next() as u8;
            }
            framed.truncate((next() as usize) % (framed.len() + 1));
            assert!(
                verify_header(&keyset, BODY, &STANDARD.encode(&framed)).is_err() || framed == good
            );
            let noise: String = (0..(next() % 120))
                .map(|_| char::from(32 + (next() % 95) as u8))
                .collect();
            let _ = verify_header(&keyset, &framed, &noise);
        }
    }

    #[test]
    fn the_header_is_found_under_either_name_in_any_case() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(signature_header(&headers), None);
        headers.insert(
            http::HeaderName::from_bytes(b"X-HealthAPI-Signature").unwrap(),
            http::HeaderValue::from_static("legacy"),
        );
        assert_eq!(signature_header(&headers), Some("legacy"));
        headers.insert(
            http::HeaderName::from_bytes(b"GOOGLE-HEALTH-API-SIGNATURE").unwrap(),
            http::HeaderValue::from_static("current"),
        );
        assert_eq!(signature_header(&headers), Some("current"));
        assert_eq!(
            headers.get("Google-Health-API-Signature").unwrap(),
            "current"
        );
    }

    #[tokio::test]
    async fn the_first_verification_fetches_and_later_ones_use_the_cache() {
        let pair = generate();
        let source = FakeSource::serving(keyset_json(vec![p256_entry(42, &pair)]));
        let cache = KeysetCache::new(source.clone());
        let t0 = Instant::now();
        let header = sign(&pair, 42, BODY);
        assert_eq!(source.fetches(), 0);
        assert_eq!(cache.verify(BODY, Some(&header), t0).await, Ok(()));
        assert_eq!(
            cache
                .verify(BODY, Some(&header), t0 + Duration::from_secs(3600))
                .await,
            Ok(())
        );
        assert_eq!(
            cache
                .verify(b"forged", Some(&header), t0 + Duration::from_secs(3601))
                .await,
            Err(SignatureError::Invalid { key_id: 42 })
        );
        assert_eq!(source.fetches(), 1);
    }

    #[tokio::test]
    async fn missing_and_malformed_headers_never_fetch() {
        let source = FakeSource::serving(keyset_json(vec![p256_entry(42, &generate())]));
        let cache = KeysetCache::new(source.clone());
        let now = Instant::now();
        assert_eq!(
            cache.verify(BODY, None, now).await,
            Err(SignatureError::Missing)
        );
        assert_eq!(
            cache.verify(BODY, Some("%%%"), now).await,
            Err(SignatureError::Malformed(MalformedHeader::NotBase64))
        );
        assert_eq!(source.fetches(), 0);
    }

    #[tokio::test]
    async fn unknown_key_ids_refetch_at_most_once_a_minute() {
        let (old, new, newer) = (generate(), generate(), generate());
        let source = FakeSource::serving(keyset_json(vec![p256_entry(1, &old)]));
        let cache = KeysetCache::new(source.clone());
        let t0 = Instant::now();
        assert_eq!(
            cache.verify(BODY, Some(&sign(&old, 1, BODY)), t0).await,
            Ok(())
        );
        assert_eq!(source.fetches(), 1);

        // Google rotates: key 2 appears. A signature by it makes us re-fetch...
        source.serve(keyset_json(vec![p256_entry(1, &old), p256_entry(2, &new)]));
        let t1 = t0 + MIN_FETCH_INTERVAL;
        assert_eq!(
            cache.verify(BODY, Some(&sign(&new, 2, BODY)), t1).await,
            Ok(())
        );
        assert_eq!(source.fetches(), 2);

        // ...but a second unknown id within the minute does not.
        source.serve(keyset_json(vec![
            p256_entry(2, &new),
            p256_entry(3, &newer),
        ]));
        let header3 = sign(&newer, 3, BODY);
        let t2 = t1 + Duration::from_secs(59);
        assert_eq!(
            cache.verify(BODY, Some(&header3), t2).await,
            Err(SignatureError::UnknownKeyNotRechecked { key_id: 3 })
        );
        assert_eq!(source.fetches(), 2);
        // Known keys are not held up meanwhile.
        assert_eq!(
            cache.verify(BODY, Some(&sign(&old, 1, BODY)), t2).await,
            Ok(())
        );

        // A minute after the last fetch, it does.
        let t3 = t1 + MIN_FETCH_INTERVAL;
        assert_eq!(cache.verify(BODY, Some(&header3), t3).await, Ok(()));
        assert_eq!(source.fetches(), 3);
        // Key 1 has left the keyset (and the keyset was just fetched).
        assert_eq!(
            cache.verify(BODY, Some(&sign(&old, 1, BODY)), t3).await,
            Err(SignatureError::UnknownKeyNotRechecked { key_id: 1 })
        );
        assert_eq!(source.fetches(), 3);
    }

    #[tokio::test]
    async fn forged_key_ids_cost_one_fetch_a_minute() {
        let pair = generate();
        let source = FakeSource::serving(keyset_json(vec![p256_entry(1, &pair)]));
        let cache = KeysetCache::new(source.clone());
        let t0 = Instant::now();
        for second in 0..180u32 {
            let header = sign(&pair, 1000 + second, BODY);
            let now = t0 + Duration::from_secs(u64::from(second));
            let key_id = 1000 + second;
            let expected = if second % 60 == 0 {
                SignatureError::UnknownKey { key_id }
            } else {
                SignatureError::UnknownKeyNotRechecked { key_id }
            };
            assert_eq!(cache.verify(BODY, Some(&header), now).await, Err(expected));
        }
        // The first call at 0 s, then 60 s and 120 s.
        assert_eq!(source.fetches(), 3);
    }

    #[tokio::test]
    async fn a_failed_fetch_is_keyset_unavailable_never_valid() {
        let pair = generate();
        let source = Arc::new(FakeSource::default());
        source.fail();
        let cache = KeysetCache::new(source.clone());
        let header = sign(&pair, 42, BODY);
        let t0 = Instant::now();
        let unavailable = Err(SignatureError::KeysetUnavailable(KeysetError::Fetch(
            "HTTP 500".into(),
        )));
        assert_eq!(cache.verify(BODY, Some(&header), t0).await, unavailable);
        // Within the minute we do not ask again, and still do not say "valid".
        source.serve(keyset_json(vec![p256_entry(42, &pair)]));
        assert_eq!(
            cache
                .verify(BODY, Some(&header), t0 + Duration::from_secs(30))
                .await,
            unavailable
        );
        assert_eq!(source.fetches(), 1);
        assert_eq!(
            cache
                .verify(BODY, Some(&header), t0 + MIN_FETCH_INTERVAL)
                .await,
            Ok(())
        );
        assert_eq!(source.fetches(), 2);
    }

    #[tokio::test]
    async fn an_unusable_keyset_is_unavailable_and_the_old_one_is_kept() {
        let (old, new) = (generate(), generate());
        let source = FakeSource::serving(keyset_json(vec![p256_entry(1, &old)]));
        let cache = KeysetCache::new(source.clone());
        let t0 = Instant::now();
        assert_eq!(
            cache.verify(BODY, Some(&sign(&old, 1, BODY)), t0).await,
            Ok(())
        );
        source.serve("<html>maintenance</html>".into());
        let t1 = t0 + MIN_FETCH_INTERVAL;
        assert_eq!(
            cache.verify(BODY, Some(&sign(&new, 2, BODY)), t1).await,
            Err(SignatureError::KeysetUnavailable(KeysetError::Malformed(
                "not JSON"
            )))
        );
        assert_eq!(
            cache.verify(BODY, Some(&sign(&old, 1, BODY)), t1).await,
            Ok(())
        );
    }

    #[tokio::test]
    async fn a_day_old_keyset_is_refreshed_and_a_failed_refresh_keeps_it() {
        let (old, new) = (generate(), generate());
        let source = FakeSource::serving(keyset_json(vec![p256_entry(1, &old)]));
        let cache = KeysetCache::new(source.clone());
        let t0 = Instant::now();
        let header1 = sign(&old, 1, BODY);
        assert_eq!(cache.verify(BODY, Some(&header1), t0).await, Ok(()));

        // A day later Google is down: the refresh fails, the keys we have still count.
        source.fail();
        let t1 = t0 + MAX_KEYSET_AGE;
        assert_eq!(cache.verify(BODY, Some(&header1), t1).await, Ok(()));
        assert_eq!(source.fetches(), 2);

        // Google is back and has withdrawn key 1: the next refresh drops it.
        source.serve(keyset_json(vec![p256_entry(2, &new)]));
        let t2 = t1 + MIN_FETCH_INTERVAL;
        assert_eq!(
            cache.verify(BODY, Some(&header1), t2).await,
            Err(SignatureError::UnknownKey { key_id: 1 })
        );
        assert_eq!(source.fetches(), 3);
        assert_eq!(
            cache.verify(BODY, Some(&sign(&new, 2, BODY)), t2).await,
            Ok(())
        );
    }

    #[test]
    fn the_cache_and_its_verify_future_can_cross_threads() {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: T) {}
        let cache = KeysetCache::new(Arc::new(FakeSource::default()));
        send_sync(&cache);
        send(cache.verify(BODY, None, Instant::now()));
    }

    #[tokio::test]
    async fn the_http_source_returns_the_body_or_the_status() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        async fn serve_once(status_line: &'static str, body: &'static str) -> url::Url {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/keyset.json", listener.local_addr().unwrap());
            tokio::spawn(async move {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = socket.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buf[..n]);
                }
                let response = format!(
                    "HTTP/1.1 {status_line}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(response.as_bytes()).await.unwrap();
            });
            url.parse().unwrap()
        }

        let ok = HttpKeysetSource::new(
            reqwest::Client::new(),
            serve_once("200 OK", r#"{"key":[]}"#).await,
        );
        assert_eq!(ok.fetch().await, Ok(r#"{"key":[]}"#.to_owned()));
        let gone = HttpKeysetSource::new(
            reqwest::Client::new(),
            serve_once("404 Not Found", "").await,
        );
        assert_eq!(
            gone.fetch().await,
            Err(KeysetError::Fetch("HTTP 404 Not Found".into()))
        );
    }
}
