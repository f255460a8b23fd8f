//! Credentials from Secrets Manager, cached per container.
//!
//! A warm Lambda container reads each secret once and keeps it for [`CACHE_TTL`], so a
//! rotated secret is picked up within minutes without a call per request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::domain::Secret;
use crate::ports::secrets::{LinkKeys, SecretError, SecretSource};

pub const CACHE_TTL: Duration = Duration::from_secs(300);
/// How long a provider's [`crate::ports::provider::Provider::prepare`] keeps its secret
/// cached: a minute covers the call that follows.
pub const PREPARED_FOR: Duration = Duration::from_secs(60);

/// How long a function's init waits for its secrets to be read ahead
/// ([`SecretCache::read_ahead`]); a read that takes longer is left to the first request.
pub const READ_AHEAD_LIMIT: Duration = Duration::from_secs(2);

/// Adapter over AWS Secrets Manager.
#[cfg(feature = "aws")]
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
}

#[cfg(feature = "aws")]
impl SecretsManagerSource {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        SecretsManagerSource { client }
    }
}

#[cfg(feature = "aws")]
#[async_trait]
impl SecretSource for SecretsManagerSource {
    async fn secret_string(&self, id: &str) -> Result<Secret, SecretError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| SecretError::Unavailable {
                id: id.to_owned(),
                reason: aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
            })?;
        out.secret_string
            .map(Secret::new)
            .ok_or_else(|| SecretError::Unavailable {
                id: id.to_owned(),
                reason: "no SecretString".to_owned(),
            })
    }
}

/// In-memory adapter: secrets from a map (use-case tests, benchmarks).
pub struct MemorySecrets(pub HashMap<String, String>);

impl MemorySecrets {
    pub fn new<'a>(secrets: impl IntoIterator<Item = (&'a str, serde_json::Value)>) -> Self {
        MemorySecrets(
            secrets
                .into_iter()
                .map(|(id, v)| (id.to_owned(), v.to_string()))
                .collect(),
        )
    }
}

#[async_trait]
impl SecretSource for MemorySecrets {
    async fn secret_string(&self, id: &str) -> Result<Secret, SecretError> {
        self.0
            .get(id)
            .map(|v| Secret::new(v.clone()))
            .ok_or_else(|| SecretError::Unavailable {
                id: id.into(),
                reason: "absent".into(),
            })
    }
}

/// Caches parsed secrets per container.
pub struct SecretCache {
    source: Arc<dyn SecretSource>,
    entries: Mutex<HashMap<String, (Instant, Secret)>>,
}

impl SecretCache {
    pub fn new(source: Arc<dyn SecretSource>) -> Self {
        SecretCache {
            source,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Reads `ids` now, all at once, so that the first request finds them cached: a
    /// function calls it during its init. Best effort: a secret that cannot be read within
    /// [`READ_AHEAD_LIMIT`] is logged (by id, never its value) and read when a request needs
    /// it, as without this.
    pub async fn read_ahead(&self, ids: &[String]) {
        let mut ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        ids.sort_unstable();
        ids.dedup();
        let reads = ids.iter().map(|id| async move {
            let read = tokio::time::timeout(READ_AHEAD_LIMIT, self.source.secret_string(id)).await;
            (*id, read)
        });
        let read = futures_util::future::join_all(reads).await;
        let mut entries = self.entries.lock().await;
        for (id, result) in read {
            match result {
                Ok(Ok(value)) => {
                    entries.insert(id.to_owned(), (Instant::now(), value));
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "secret not read ahead; the first request reads it")
                }
                Err(_) => tracing::warn!(
                    secret = id,
                    "secret not read ahead in time; the first request reads it"
                ),
            }
        }
    }

    /// Makes sure the secret is cached for at least `for_at_least` more: reads it again
    /// now unless the cached value outlives that. A caller that must not wait on the
    /// secret store at a given moment (inside a lease) warms it first.
    pub async fn warm(&self, id: &str, for_at_least: Duration) -> Result<(), SecretError> {
        let mut entries = self.entries.lock().await;
        if let Some((at, _)) = entries.get(id) {
            if at.elapsed() + for_at_least < CACHE_TTL {
                return Ok(());
            }
        }
        let value = self.source.secret_string(id).await?;
        entries.insert(id.to_owned(), (Instant::now(), value));
        Ok(())
    }

    /// The secret's JSON value parsed as `T`.
    pub async fn get<T: DeserializeOwned>(&self, id: &str) -> Result<T, SecretError> {
        let raw = self.raw(id).await?;
        serde_json::from_str(raw.expose()).map_err(|_| SecretError::Malformed { id: id.to_owned() })
    }

    async fn raw(&self, id: &str) -> Result<Secret, SecretError> {
        let mut entries = self.entries.lock().await;
        if let Some((at, value)) = entries.get(id) {
            if at.elapsed() < CACHE_TTL {
                return Ok(value.clone());
            }
        }
        // Holding the lock across the fetch means one fetch per secret per container even
        // when requests arrive together; the fetch is a few ms and happens every 5 minutes.
        let value = self.source.secret_string(id).await?;
        entries.insert(id.to_owned(), (Instant::now(), value.clone()));
        Ok(value)
    }
}

/// `{username, password}` of the SAP communication user.
#[derive(Clone, Debug, Deserialize)]
pub struct SapCredentials {
    pub username: String,
    pub password: Secret,
}

/// `{key}`: the HMAC key the company's app signs connect links with.
#[derive(Clone, Debug, Deserialize)]
pub struct LinkKey {
    pub key: Secret,
}

/// The connect-link key, read from its secret through the cache.
pub struct CachedLinkKeys {
    pub cache: Arc<SecretCache>,
    /// Secrets Manager id of [`LinkKey`].
    pub secret_id: String,
}

#[async_trait]
impl LinkKeys for CachedLinkKeys {
    async fn link_key(&self) -> Result<Secret, SecretError> {
        Ok(self.cache.get::<LinkKey>(&self.secret_id).await?.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting(AtomicUsize);

    #[async_trait]
    impl SecretSource for Counting {
        async fn secret_string(&self, _id: &str) -> Result<Secret, SecretError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(Secret::new(r#"{"username":"u","password":"p"}"#))
        }
    }

    #[tokio::test]
    async fn reads_each_secret_once_per_container() {
        let source = Arc::new(Counting(AtomicUsize::new(0)));
        let cache = SecretCache::new(source.clone());
        for _ in 0..3 {
            let c: SapCredentials = cache.get("sap").await.unwrap();
            assert_eq!(c.password.expose(), "p");
        }
        assert_eq!(source.0.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_warm_secret_is_read_once_and_then_served_from_the_cache() {
        let source = Arc::new(Counting(AtomicUsize::new(0)));
        let cache = SecretCache::new(source.clone());
        cache.warm("sap", PREPARED_FOR).await.unwrap();
        cache.warm("sap", PREPARED_FOR).await.unwrap();
        let _: SapCredentials = cache.get("sap").await.unwrap();
        assert_eq!(source.0.load(Ordering::SeqCst), 1);
        // A value that would not outlive the window is read again.
        cache.warm("sap", CACHE_TTL).await.unwrap();
        assert_eq!(source.0.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn read_ahead_fills_the_cache_once_per_secret() {
        let source = Arc::new(Counting(AtomicUsize::new(0)));
        let cache = SecretCache::new(source.clone());
        cache
            .read_ahead(&["sap".to_owned(), "link".to_owned(), "sap".to_owned()])
            .await;
        assert_eq!(source.0.load(Ordering::SeqCst), 2);
        let c: SapCredentials = cache.get("sap").await.unwrap();
        assert_eq!(c.password.expose(), "p");
        assert_eq!(source.0.load(Ordering::SeqCst), 2, "served from the cache");
    }

    #[tokio::test]
    async fn a_secret_not_read_ahead_is_read_on_first_use() {
        let cache = SecretCache::new(Arc::new(MemorySecrets::new([(
            "sap",
            serde_json::json!({"username": "u", "password": "p"}),
        )])));
        cache.read_ahead(&["absent".to_owned()]).await;
        let c: SapCredentials = cache.get("sap").await.unwrap();
        assert_eq!(c.username, "u");
        assert!(cache.get::<SapCredentials>("absent").await.is_err());
    }

    #[tokio::test]
    async fn malformed_secret_error_does_not_echo_the_value() {
        let source = Arc::new(Counting(AtomicUsize::new(0)));
        let cache = SecretCache::new(source);
        let err = cache.get::<LinkKey>("link").await.unwrap_err();
        assert!(!err.to_string().contains("password"), "{err}");
    }
}
