//! Secrets read and written whole: what `polar webhook create` needs, to store the signing
//! key Polar shows once into the secret the functions read it from.
//!
//! Invariant: no error, log line or output carries a secret's value.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use fitbridge::domain::Secret;
use fitbridge::ports::secrets::{SecretError, SecretSource};

#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The secret's current value.
    async fn read(&self, id: &str) -> Result<Secret, String>;
    /// Replaces the secret's value (a new version in Secrets Manager).
    async fn write(&self, id: &str, value: &Secret) -> Result<(), String>;
}

/// Secrets Manager.
pub struct SecretsManagerStore(pub aws_sdk_secretsmanager::Client);

#[async_trait]
impl SecretStore for SecretsManagerStore {
    async fn read(&self, id: &str) -> Result<Secret, String> {
        let answer = self
            .0
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot read the secret {id}: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                )
            })?;
        answer
            .secret_string()
            .map(Secret::new)
            .ok_or_else(|| format!("the secret {id} holds no string"))
    }

    async fn write(&self, id: &str, value: &Secret) -> Result<(), String> {
        self.0
            .put_secret_value()
            .secret_id(id)
            .secret_string(value.expose())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "cannot write the secret {id}: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                )
            })
    }
}

/// Secrets in memory (tests): also a [`SecretSource`], so the functions' own secret cache
/// reads what the CLI wrote.
#[derive(Default)]
pub struct MemorySecretStore(Mutex<HashMap<String, String>>);

impl MemorySecretStore {
    pub fn new<'a>(secrets: impl IntoIterator<Item = (&'a str, serde_json::Value)>) -> Self {
        MemorySecretStore(Mutex::new(
            secrets
                .into_iter()
                .map(|(id, value)| (id.to_owned(), value.to_string()))
                .collect(),
        ))
    }

    /// The secret's value as JSON, for assertions.
    pub fn json(&self, id: &str) -> Option<serde_json::Value> {
        let secrets = self.0.lock().unwrap_or_else(|e| e.into_inner());
        secrets.get(id).and_then(|v| serde_json::from_str(v).ok())
    }
}

#[async_trait]
impl SecretStore for MemorySecretStore {
    async fn read(&self, id: &str) -> Result<Secret, String> {
        let secrets = self.0.lock().unwrap_or_else(|e| e.into_inner());
        secrets
            .get(id)
            .map(|v| Secret::new(v.clone()))
            .ok_or_else(|| format!("no secret {id}"))
    }

    async fn write(&self, id: &str, value: &Secret) -> Result<(), String> {
        let mut secrets = self.0.lock().unwrap_or_else(|e| e.into_inner());
        secrets.insert(id.to_owned(), value.expose().to_owned());
        Ok(())
    }
}

#[async_trait]
impl SecretSource for MemorySecretStore {
    async fn secret_string(&self, id: &str) -> Result<Secret, SecretError> {
        SecretStore::read(self, id)
            .await
            .map_err(|reason| SecretError::Unavailable {
                id: id.to_owned(),
                reason,
            })
    }
}
