//! Ports: credentials. Errors name the secret, never its value.

use async_trait::async_trait;

use crate::domain::Secret;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The message names the secret id, never its value.
    #[error("secret {id} could not be read: {reason}")]
    Unavailable { id: String, reason: String },
    #[error("secret {id} does not have the expected JSON shape")]
    Malformed { id: String },
}

/// Port: reads a secret's string value.
#[async_trait]
pub trait SecretSource: Send + Sync {
    async fn secret_string(&self, id: &str) -> Result<Secret, SecretError>;
}

/// Port: the key the company's app signs connect links with.
#[async_trait]
pub trait LinkKeys: Send + Sync {
    async fn link_key(&self) -> Result<Secret, SecretError>;
}
