//! The marketing sink port: where contacts (and, later, interactions) go.

use async_trait::async_trait;

use crate::domain::ContactRecord;
use crate::secret_store::SecretError;

pub mod sap;

#[derive(Debug, thiserror::Error)]
pub enum MarketingError {
    /// The tenant refused this record (validation, unknown origin, ...): sending it again
    /// unchanged will fail again.
    #[error("marketing system rejected the record: {0}")]
    Rejected(String),
    /// Transient: 5xx, timeouts, CSRF that would not settle. Worth retrying.
    #[error("marketing system unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Credentials(#[from] SecretError),
}

/// Port: the marketing system.
#[async_trait]
pub trait MarketingSink: Send + Sync {
    /// Creates or updates the contact; calling it again with the same key never duplicates.
    async fn upsert_contact(&self, contact: &ContactRecord) -> Result<(), MarketingError>;
}
