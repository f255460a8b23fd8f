//! Port: the token use case, as the other use cases reach it — a connection with a token
//! valid for a while, refreshed first if need be, under the one discipline that keeps two
//! refreshes of a person from ever racing.

use async_trait::async_trait;

use crate::domain::{Connection, PersonKey};
use crate::ports::provider::ProviderError;
use crate::ports::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("no connection for this user")]
    NotConnected,
    #[error("connection is parked ({0})")]
    Parked(&'static str),
    /// The refresh token was rejected even after re-reading: the person must consent again.
    #[error("refresh token rejected (invalid_grant): person must consent again")]
    NeedsReconsent,
    #[error("provider API is gone (410)")]
    Gone,
    /// Another refresher holds the lease and did not finish in time: try again later.
    #[error("another refresh is in progress")]
    Busy,
    #[error("refresh failed: {0}")]
    Provider(ProviderError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[async_trait]
pub trait Tokens: Send + Sync {
    /// The connection with an access token valid for a while yet, refreshing it first if
    /// needed.
    async fn fresh(&self, person: &PersonKey) -> Result<Connection, TokenError>;

    /// After a 401 seen with the tokens of `observed_version`: refresh, unless somebody
    /// already rotated them, and return the connection to use.
    async fn after_unauthorized(
        &self,
        person: &PersonKey,
        observed_version: u64,
    ) -> Result<Connection, TokenError>;
}
