//! The provider port: what fitbridge needs from a wearable data provider, whichever it is.

use std::time::Duration;

use async_trait::async_trait;
use url::Url;

use time::Date;

use crate::domain::{Collection, DaySummary, Profile, ProviderKind, ProviderUserId, TokenSet};
use crate::secret::Secret;
use crate::secret_store::SecretError;

pub mod fitbit;
pub mod google_health;
pub mod pkce;

/// What the authorize redirect must carry.
#[derive(Debug)]
pub struct AuthorizeRequest<'a> {
    pub state: &'a str,
    pub code_challenge: &'a str,
    pub redirect_uri: &'a str,
}

/// The result of a successful code exchange.
#[derive(Debug)]
pub struct TokenGrant {
    pub user_id: ProviderUserId,
    pub tokens: TokenSet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionOutcome {
    Created,
    AlreadyExists,
    /// Another subscription holds this collection or id; logged, not fatal.
    Conflict,
}

/// A provider failure, classified by what the caller should do about it.
/// Messages never carry provider response bodies: Fitbit echoes tokens in them.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("access token expired")]
    AccessTokenExpired,
    #[error("access token invalid or revoked")]
    InvalidToken,
    #[error("grant rejected (invalid_grant)")]
    InvalidGrant,
    #[error("scope not granted")]
    InsufficientScope,
    #[error("rate limited; retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    #[error("provider API is gone (410)")]
    Gone,
    #[error("provider rejected the request: HTTP {status} {error_type}")]
    Rejected { status: u16, error_type: String },
    #[error("provider unavailable: {reason}")]
    Unavailable { reason: String },
    #[error("provider answered something we cannot read: {reason}")]
    Malformed { reason: String },
    #[error(transparent)]
    Credentials(#[from] SecretError),
}

/// Port: one wearable data provider.
#[async_trait]
pub trait Provider: Send + Sync {
    fn kind(&self) -> ProviderKind;

    /// Where to send the person to consent.
    async fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<Url, ProviderError>;

    /// Exchanges an authorization code (with its PKCE verifier) for tokens.
    async fn exchange_code(
        &self,
        code: &str,
        code_verifier: &Secret,
        redirect_uri: &str,
    ) -> Result<TokenGrant, ProviderError>;

    /// Exchanges a refresh token for a new pair. Fitbit's refresh tokens are single-use:
    /// only [`crate::tokens`] calls this, under a per-user lease.
    async fn refresh(&self, refresh_token: &Secret) -> Result<TokenGrant, ProviderError>;

    /// The person's profile, normalised.
    async fn profile(&self, access_token: &Secret) -> Result<Profile, ProviderError>;

    /// One collection of one of the person's local days.
    async fn fetch_day(
        &self,
        access_token: &Secret,
        user_id: &ProviderUserId,
        collection: Collection,
        date: Date,
    ) -> Result<DaySummary, ProviderError>;

    /// Removes this user's subscription to a collection (404 counts as done).
    async fn unsubscribe(
        &self,
        access_token: &Secret,
        user_id: &ProviderUserId,
        collection: Collection,
    ) -> Result<(), ProviderError>;

    /// Subscribes to change notifications for one collection of this user.
    async fn subscribe(
        &self,
        access_token: &Secret,
        user_id: &ProviderUserId,
        collection: Collection,
    ) -> Result<SubscriptionOutcome, ProviderError>;
}
