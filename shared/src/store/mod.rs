//! Storage ports. The DynamoDB adapter lives in [`dynamodb`].

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::{Collection, Connection, ProviderKind, ProviderUserId, TokenSet};
use crate::secret::Secret;

pub mod dynamodb;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored item is corrupt: {0}")]
    Corrupt(String),
}

/// One authorization attempt between the redirect to the provider and its callback.
#[derive(Clone, Debug)]
pub struct PendingAuthorization {
    pub provider: ProviderKind,
    pub code_verifier: Secret,
    /// The verified customer id from a signed connect link.
    pub customer_ref: Option<String>,
    pub redirect_uri: String,
    pub expires_at: OffsetDateTime,
}

/// Why a callback's `state` was not accepted. The person sees the same page for all of
/// them; the log line tells them apart.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state unknown (never issued, or forged)")]
    Unknown,
    #[error("state already used (replay)")]
    Replayed,
    #[error("state expired")]
    Expired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Port: single-use OAuth states.
#[async_trait]
pub trait OAuthStateStore: Send + Sync {
    async fn put(&self, state: &str, pending: &PendingAuthorization) -> Result<(), StoreError>;

    /// Marks the state used (atomically: of two concurrent callbacks only one wins) and
    /// returns what was stored with it.
    async fn take(
        &self,
        state: &str,
        now: OffsetDateTime,
    ) -> Result<PendingAuthorization, StateError>;
}

/// Port: people's connections and their tokens.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Stores a fresh connection, or updates the existing one for the same provider user
    /// (reconnecting never duplicates): tokens replaced, status active, version bumped.
    /// Returns the new version.
    async fn save_connected(&self, connection: &Connection) -> Result<u64, StoreError>;

    /// Replaces the tokens of an existing connection, if there is one. Used when a
    /// reconnect got new tokens (which invalidate the stored ones at Fitbit) but could not
    /// finish. Returns whether a connection existed.
    async fn replace_tokens_if_connected(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
        tokens: &TokenSet,
    ) -> Result<bool, StoreError>;

    async fn set_subscriptions(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
        subscriptions: &[Collection],
    ) -> Result<(), StoreError>;

    async fn get(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
    ) -> Result<Option<Connection>, StoreError>;
}
