//! The marketing ports: where contacts, interactions and signals go. Their adapters are in
//! [`crate::marketing`]: SAP Marketing Cloud, and in memory.

use async_trait::async_trait;

use crate::domain::signals::{AttributeChange, SignalInteraction};
use crate::domain::{ContactKey, ContactRecord, DailyInteraction, ProviderKind};
use crate::ports::secrets::SecretError;

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

/// Port: campaign signals in the marketing system.
#[async_trait]
pub trait SignalSink: Send + Sync {
    /// Writes the interaction of a fired rule once: one already there under the same
    /// source object is not written again.
    async fn record_signal(&self, signal: &SignalInteraction) -> Result<(), MarketingError>;

    /// Sets the contact's marketing attributes, each replacing the value it names.
    async fn set_attributes(
        &self,
        contact: &ContactKey,
        changes: &[AttributeChange],
    ) -> Result<(), MarketingError>;
}

/// One interaction write.
#[derive(Clone, Debug)]
pub enum InteractionWrite {
    Create(DailyInteraction),
    /// The day was imported before and its values changed.
    Update {
        id: String,
        interaction: DailyInteraction,
    },
}

/// Port: interactions in the marketing system.
#[async_trait]
pub trait InteractionSink: Send + Sync {
    /// A short hash of what a write of `interaction` would carry; equal hashes need no
    /// second write.
    fn content_hash(&self, interaction: &DailyInteraction) -> String;

    /// Sends all writes in one round trip. The outer error is the round trip's; each inner
    /// result is one write's (its interaction id on success).
    async fn write(
        &self,
        writes: &[InteractionWrite],
    ) -> Result<Vec<Result<String, MarketingError>>, MarketingError>;

    /// Flags the contact: the person disconnected this data source (revoked access or
    /// deleted their account), so segments can exclude them.
    async fn record_disconnect(
        &self,
        contact: &ContactKey,
        provider: ProviderKind,
        at: time::OffsetDateTime,
    ) -> Result<(), MarketingError>;

    /// The id of the interaction already holding this (person, day, metric), if any.
    async fn find(&self, interaction: &DailyInteraction) -> Result<Option<String>, MarketingError>;
}
