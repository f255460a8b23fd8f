//! OAuth tokens sealed by the application before they reach the table (envelope
//! encryption), so that reading the table — with the table key's rights through IAM — does
//! not read anybody's tokens: only the roles the token key's policy names can open them.
//!
//! Invariants:
//! - With a seal, no token is written in the clear: each of the pair is AES-256-GCM under a
//!   data key, and the item keeps that data key only wrapped by KMS (`token_key`).
//! - A sealed token is bound to its item and attribute (the associated data is the item's
//!   key and the attribute's name): moved to another person's item, or the pair swapped, it
//!   does not open.
//! - A container makes a data key at its first write and uses it for at most
//!   [`DATA_KEY_LIFETIME`] and [`DATA_KEY_USES`] seals; keys it unwrapped are kept by their
//!   wrapped form, so a person's tokens cost one KMS call per data key and container.
//! - Without a seal (the operators' CLI, which never needs a token), values pass through as
//!   stored: sealed ones stay sealed and opaque, and nothing is decrypted.
//! - A token written before sealing (in the clear) is read as it is, and sealed at its next
//!   write (the next refresh or reconnect).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use tokio::sync::Mutex;

use crate::domain::Secret;
use crate::ports::store::StoreError;

/// How a sealed value starts: what tells it from a token written in the clear.
pub const SEALED_PREFIX: &str = "sealed1:";
/// The longest a container seals with one data key.
pub const DATA_KEY_LIFETIME: Duration = Duration::from_secs(3600);
/// The most seals one data key makes.
pub const DATA_KEY_USES: u32 = 10_000;

/// Where data keys come from: KMS in production ([`KmsDataKeys`]).
#[async_trait]
pub trait DataKeys: Send + Sync {
    /// A fresh 256-bit data key, in the clear and wrapped.
    async fn generate(&self) -> Result<([u8; 32], Vec<u8>), StoreError>;
    /// The data key a wrapped one holds.
    async fn unwrap(&self, wrapped: &[u8]) -> Result<[u8; 32], StoreError>;
}

/// Data keys from KMS, under the token key, with an encryption context naming their use
/// (the key's policy requires it, so the key opens nothing else).
pub struct KmsDataKeys {
    client: aws_sdk_kms::Client,
    key_id: String,
}

/// The encryption context of every token data key.
const CONTEXT: (&str, &str) = ("fitbridge", "oauth-tokens");

impl KmsDataKeys {
    pub fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        KmsDataKeys {
            client,
            key_id: key_id.into(),
        }
    }
}

fn kms_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("token key: {e}"))
}

fn key_of(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("a data key that is not 256 bits".into()))
}

#[async_trait]
impl DataKeys for KmsDataKeys {
    async fn generate(&self) -> Result<([u8; 32], Vec<u8>), StoreError> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
            .encryption_context(CONTEXT.0, CONTEXT.1)
            .send()
            .await
            .map_err(|e| kms_error(aws_sdk_kms::error::DisplayErrorContext(e)))?;
        let plain = out
            .plaintext()
            .ok_or_else(|| kms_error("no plaintext key"))?;
        let wrapped = out
            .ciphertext_blob()
            .ok_or_else(|| kms_error("no wrapped key"))?;
        Ok((key_of(plain.as_ref())?, wrapped.as_ref().to_vec()))
    }

    async fn unwrap(&self, wrapped: &[u8]) -> Result<[u8; 32], StoreError> {
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(wrapped))
            .encryption_context(CONTEXT.0, CONTEXT.1)
            .send()
            .await
            .map_err(|e| kms_error(aws_sdk_kms::error::DisplayErrorContext(e)))?;
        key_of(
            out.plaintext()
                .ok_or_else(|| kms_error("no plaintext key"))?
                .as_ref(),
        )
    }
}

struct CurrentKey {
    plain: [u8; 32],
    wrapped: String,
    made: Instant,
    uses: u32,
}

/// A token pair as it is written: both sealed, and the wrapped data key that opens them.
pub struct SealedPair {
    pub access_token: String,
    pub refresh_token: String,
    pub token_key: String,
}

/// Seals and opens tokens (module docs).
pub struct TokenSeal {
    keys: Arc<dyn DataKeys>,
    current: Mutex<Option<CurrentKey>>,
    opened: Mutex<HashMap<String, [u8; 32]>>,
}

impl TokenSeal {
    pub fn new(keys: Arc<dyn DataKeys>) -> Self {
        TokenSeal {
            keys,
            current: Mutex::new(None),
            opened: Mutex::new(HashMap::new()),
        }
    }

    /// The pair of the item keyed `pk`, sealed.
    pub async fn seal(
        &self,
        pk: &str,
        access_token: &Secret,
        refresh_token: &Secret,
    ) -> Result<SealedPair, StoreError> {
        let (key, token_key) = self.data_key().await?;
        Ok(SealedPair {
            access_token: seal_one(&key, pk, "access_token", access_token)?,
            refresh_token: seal_one(&key, pk, "refresh_token", refresh_token)?,
            token_key,
        })
    }

    /// The token stored in `attribute` of the item keyed `pk` (sealed with `token_key`,
    /// or in the clear when written before sealing).
    pub async fn open(
        &self,
        pk: &str,
        attribute: &str,
        stored: &str,
        token_key: Option<&str>,
    ) -> Result<Secret, StoreError> {
        let Some(sealed) = stored.strip_prefix(SEALED_PREFIX) else {
            return Ok(Secret::new(stored));
        };
        let wrapped = token_key
            .ok_or_else(|| StoreError::Corrupt("a sealed token without its key".into()))?;
        let key = self.unwrapped(wrapped).await?;
        open_one(&key, pk, attribute, sealed)
    }

    /// The data key to seal with now, and its wrapped form as stored.
    async fn data_key(&self) -> Result<([u8; 32], String), StoreError> {
        let mut current = self.current.lock().await;
        let fresh = current
            .as_ref()
            .is_some_and(|k| k.made.elapsed() < DATA_KEY_LIFETIME && k.uses < DATA_KEY_USES);
        if !fresh {
            let (plain, wrapped) = self.keys.generate().await?;
            *current = Some(CurrentKey {
                plain,
                wrapped: STANDARD.encode(wrapped),
                made: Instant::now(),
                uses: 0,
            });
        }
        let key = current.as_mut().expect("just made");
        key.uses += 1;
        Ok((key.plain, key.wrapped.clone()))
    }

    async fn unwrapped(&self, wrapped: &str) -> Result<[u8; 32], StoreError> {
        if let Some(key) = self.opened.lock().await.get(wrapped) {
            return Ok(*key);
        }
        let blob = STANDARD
            .decode(wrapped)
            .map_err(|_| StoreError::Corrupt("a token key that is not base64".into()))?;
        let key = self.keys.unwrap(&blob).await?;
        self.opened.lock().await.insert(wrapped.to_owned(), key);
        Ok(key)
    }
}

fn aead(key: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("a 256-bit key"))
}

fn associated(pk: &str, attribute: &str) -> Vec<u8> {
    format!("{pk}\n{attribute}").into_bytes()
}

fn seal_one(
    key: &[u8; 32],
    pk: &str,
    attribute: &str,
    token: &Secret,
) -> Result<String, StoreError> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| StoreError::Unavailable("no randomness for a nonce".into()))?;
    let mut data = token.expose().as_bytes().to_vec();
    aead(key)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(associated(pk, attribute)),
            &mut data,
        )
        .map_err(|_| StoreError::Unavailable("a token could not be sealed".into()))?;
    let mut sealed = nonce.to_vec();
    sealed.extend(data);
    Ok(format!("{SEALED_PREFIX}{}", STANDARD.encode(sealed)))
}

fn open_one(key: &[u8; 32], pk: &str, attribute: &str, sealed: &str) -> Result<Secret, StoreError> {
    // Never says what was stored: the error is the same for every way it fails.
    let corrupt = || StoreError::Corrupt(format!("a sealed {attribute} that does not open"));
    let mut data = STANDARD.decode(sealed).map_err(|_| corrupt())?;
    if data.len() < NONCE_LEN {
        return Err(corrupt());
    }
    let nonce: [u8; NONCE_LEN] = data[..NONCE_LEN].try_into().map_err(|_| corrupt())?;
    let plain = aead(key)
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(associated(pk, attribute)),
            &mut data[NONCE_LEN..],
        )
        .map_err(|_| corrupt())?;
    String::from_utf8(plain.to_vec())
        .map(Secret::new)
        .map_err(|_| corrupt())
}

/// Data keys wrapped under a key held in memory: for tests, never for a deployment.
pub struct LocalDataKeys {
    master: [u8; 32],
    /// Keys made and unwrapped, for tests that count KMS calls.
    pub calls: std::sync::atomic::AtomicU32,
}

impl LocalDataKeys {
    pub fn new(master: [u8; 32]) -> Self {
        LocalDataKeys {
            master,
            calls: Default::default(),
        }
    }
}

#[async_trait]
impl DataKeys for LocalDataKeys {
    async fn generate(&self) -> Result<([u8; 32], Vec<u8>), StoreError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut plain = [0u8; 32];
        SystemRandom::new()
            .fill(&mut plain)
            .map_err(|_| StoreError::Unavailable("no randomness".into()))?;
        let wrapped = seal_one(
            &self.master,
            "data key",
            "key",
            &Secret::new(STANDARD.encode(plain)),
        )?;
        Ok((plain, wrapped.into_bytes()))
    }

    async fn unwrap(&self, wrapped: &[u8]) -> Result<[u8; 32], StoreError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let wrapped = std::str::from_utf8(wrapped)
            .ok()
            .and_then(|w| w.strip_prefix(SEALED_PREFIX))
            .ok_or_else(|| StoreError::Corrupt("not a local data key".into()))?;
        let plain = open_one(&self.master, "data key", "key", wrapped)?;
        let bytes = STANDARD
            .decode(plain.expose())
            .map_err(|_| StoreError::Corrupt("not a local data key".into()))?;
        key_of(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal() -> (TokenSeal, Arc<LocalDataKeys>) {
        let keys = Arc::new(LocalDataKeys::new([7; 32]));
        (TokenSeal::new(keys.clone()), keys)
    }

    #[tokio::test]
    async fn a_sealed_pair_opens_only_in_its_own_item_and_attribute() {
        let (seal, _) = seal();
        let pair = seal
            .seal(
                "CONN#acme#A",
                &Secret::new("access-A"),
                &Secret::new("refresh-A"),
            )
            .await
            .unwrap();
        assert!(pair.access_token.starts_with(SEALED_PREFIX));
        assert!(
            !pair.access_token.contains("access-A") && !pair.refresh_token.contains("refresh-A")
        );
        let key = Some(pair.token_key.as_str());
        let opened = seal
            .open("CONN#acme#A", "access_token", &pair.access_token, key)
            .await
            .unwrap();
        assert_eq!(opened.expose(), "access-A");
        // Moved to another person's item, or the pair swapped: it does not open.
        for (pk, attribute, value) in [
            ("CONN#acme#B", "access_token", &pair.access_token),
            ("CONN#acme#A", "refresh_token", &pair.access_token),
        ] {
            let err = seal.open(pk, attribute, value, key).await.unwrap_err();
            assert!(!err.to_string().contains("access-A"));
        }
        // Altered by one character: it does not open either.
        let mut altered = pair.refresh_token.clone();
        let last = altered.pop().unwrap();
        altered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(seal
            .open("CONN#acme#A", "refresh_token", &altered, key)
            .await
            .is_err());
    }

    #[tokio::test]
    async fn one_data_key_serves_many_seals_and_opens_are_cached() {
        let (seal, keys) = seal();
        let mut pairs = Vec::new();
        for i in 0..50 {
            let pk = format!("CONN#acme#{i}");
            let pair = seal
                .seal(
                    &pk,
                    &Secret::new(format!("a{i}")),
                    &Secret::new(format!("r{i}")),
                )
                .await
                .unwrap();
            pairs.push((pk, pair));
        }
        assert_eq!(
            keys.calls.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "one key made"
        );
        // Another container (another seal) opens them all with one unwrap.
        let other = TokenSeal::new(keys.clone());
        for (pk, pair) in &pairs {
            other
                .open(
                    pk,
                    "refresh_token",
                    &pair.refresh_token,
                    Some(&pair.token_key),
                )
                .await
                .unwrap();
        }
        assert_eq!(
            keys.calls.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "one unwrap"
        );
    }

    #[tokio::test]
    async fn a_token_written_in_the_clear_reads_as_it_is() {
        let (seal, keys) = seal();
        let opened = seal
            .open("CONN#acme#A", "access_token", "plain-token", None)
            .await
            .unwrap();
        assert_eq!(opened.expose(), "plain-token");
        assert_eq!(keys.calls.load(std::sync::atomic::Ordering::SeqCst), 0);
    }
}
