//! Ports: what fitbridge needs from a wearable data provider, whichever it is.
//!
//! Invariants:
//! - Use cases know providers only through these ports ([`Provider`], [`Webhook`], and the
//!   catalog [`super::catalog::ProviderCatalog`]) and the domain's [`ProviderKind`]; no use
//!   case imports a provider's module.
//! - Everything provider-specific lives in the provider's folder: OAuth details, identity
//!   and profile, the wire model of a day, the webhook handshake and authentication, the
//!   subscription strategy, the scope vocabulary, settings and credentials.
//! - Errors are classified by what fixes them ([`ProviderError`]), never by wire detail,
//!   and never carry response bodies (providers echo tokens in them).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use time::Date;
use url::Url;

use crate::domain::{
    Collection, DaySummary, Profile, ProviderKind, ProviderUserId, Secret, TokenSet, WorkItem,
};
use crate::ports::secrets::SecretError;

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
    pub tokens: TokenSet,
    /// The person's id, when the token endpoint says it (some do; the others' comes from
    /// [`Provider::identify`]).
    pub user_id: Option<ProviderUserId>,
}

/// Who consented, as the provider knows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub user_id: ProviderUserId,
    /// Their id at the provider this one succeeds ([`super::catalog::ProviderCatalog::predecessor`]), when
    /// they were a person there: how people keep their contact across a migration.
    pub legacy_user_id: Option<ProviderUserId>,
    /// Whatever the granted scopes allow; everything optional.
    pub profile: Profile,
}

/// A provider failure, classified by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Refresh the token and try again.
    #[error("access token expired")]
    AccessTokenExpired,
    /// The token died before its time (revoked, rotated elsewhere): refresh, and if that
    /// fails the person must consent again.
    #[error("access token invalid or revoked")]
    InvalidToken,
    /// The refresh token (or code) is dead: the person must consent again.
    #[error("grant rejected (invalid_grant)")]
    InvalidGrant,
    /// The person did not grant what this needs: skip it.
    #[error("scope not granted")]
    InsufficientScope,
    /// The provider serves none of the person's data until they accept the provider's own
    /// mandatory consents. Unlike [`Self::InvalidGrant`], consenting to us again cannot fix
    /// it and nothing is wrong with the grant: the person must act at the provider (in
    /// their account there), so their work is parked and the connection marked
    /// `consents_missing` until they reconnect.
    #[error("the person has not accepted the provider's mandatory consents")]
    ConsentsMissing,
    /// Wait this long; waiting is not failing.
    #[error("rate limited; retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// The quota everyone shares (the project's, the partner's) is used up, not the
    /// person's: every worker waits this long.
    #[error("quota of the whole application used up; retry after {retry_after:?}")]
    QuotaExhausted { retry_after: Duration },
    /// The API is switched off: the person must migrate.
    #[error("provider API is gone (410)")]
    Gone,
    /// The provider refused this request as it is.
    #[error("provider rejected the request: HTTP {status} {error_type}")]
    Rejected { status: u16, error_type: String },
    /// Transient: 5xx, timeouts, connection failures. Back off and retry.
    #[error("provider unavailable: {reason}")]
    Unavailable { reason: String },
    #[error("provider answered something we cannot read: {reason}")]
    Malformed { reason: String },
    #[error(transparent)]
    Credentials(#[from] SecretError),
}

impl ProviderError {
    /// The kind of answer, as a metric's `Status` label: few values, never an id.
    pub fn status_class(&self) -> &'static str {
        match self {
            ProviderError::AccessTokenExpired | ProviderError::InvalidToken => "401",
            ProviderError::InvalidGrant => "invalid_grant",
            ProviderError::InsufficientScope | ProviderError::ConsentsMissing => "403",
            ProviderError::RateLimited { .. } | ProviderError::QuotaExhausted { .. } => "429",
            ProviderError::Gone => "410",
            ProviderError::Rejected { status: 404, .. } => "404",
            ProviderError::Rejected { status, .. } if *status >= 500 => "5xx",
            ProviderError::Rejected { .. } => "4xx",
            ProviderError::Unavailable { .. } => "unavailable",
            ProviderError::Malformed { .. } => "malformed",
            ProviderError::Credentials(_) => "credentials",
        }
    }
}

/// Port: one wearable data provider's API — OAuth, identity, data, subscriptions.
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

    /// Reads ahead what the next call needs and may be slow to get (the client's
    /// credentials from the secret store), so that a call made within the next minute
    /// does no slow read: the refresh lease is judged after this, not before.
    async fn prepare(&self) -> Result<(), ProviderError> {
        Ok(())
    }

    /// Exchanges the refresh token for fresh tokens. What comes back replaces `tokens`
    /// whole: a provider whose refresh tokens are reusable returns the one it was given
    /// unless it issued a new one. Single-use refresh tokens make two concurrent
    /// refreshes fatal, so only the token use case calls this, under a per-person lease.
    async fn refresh(&self, tokens: &TokenSet) -> Result<TokenSet, ProviderError>;

    /// Revokes the grant at the provider (the person disconnects).
    async fn revoke(&self, tokens: &TokenSet) -> Result<(), ProviderError>;

    /// Who consented: id, the id at the predecessor provider, and the profile the
    /// granted scopes allow.
    async fn identify(&self, grant: &TokenGrant) -> Result<Person, ProviderError>;

    /// One collection of one of the person's local (civil) days.
    async fn fetch_day(
        &self,
        access_token: &Secret,
        user_id: &ProviderUserId,
        collection: Collection,
        date: Date,
    ) -> Result<DaySummary, ProviderError>;

    /// Makes sure notifications come for these collections of this person; returns those
    /// the connection must remember to unsubscribe later (none when the provider
    /// subscribes people at project level). Failures are logged, not fatal: the daily
    /// pull still brings the data.
    async fn subscribe(
        &self,
        access_token: &Secret,
        user_id: &ProviderUserId,
        collections: &[Collection],
    ) -> Vec<Collection>;

    /// Removes what [`Provider::subscribe`] created. Best effort.
    async fn unsubscribe(
        &self,
        access_token: &Secret,
        user_id: &ProviderUserId,
        collections: &[Collection],
    );
}

/// A webhook request as the provider sent it, free of any HTTP framework's types.
#[derive(Debug)]
pub struct WebhookRequest<'a> {
    /// Upper case, e.g. `POST`.
    pub method: &'a str,
    /// Query parameters, decoded.
    pub query: &'a [(String, String)],
    /// Header names in lower case.
    pub headers: &'a [(String, String)],
    /// The raw bytes the provider signed.
    pub body: &'a [u8],
}

impl WebhookRequest<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a delivery to the webhook turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// The provider checking the endpoint: answer this status, queue nothing.
    Handshake { status: u16 },
    /// Notifications: queue their work, then answer `ack_status`.
    Notifications {
        notifications: Notifications,
        ack_status: u16,
    },
}

/// What a notification body held.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Notifications {
    /// Deduplicated work: one item per (person, collection, day), one revoke per person.
    pub work: Vec<WorkItem>,
    /// Entries received, duplicates included.
    pub received: usize,
    /// Entries we cannot use (missing fields, bad date); logged, not fatal.
    pub skipped: usize,
    /// Entries for data we do not import.
    pub ignored: usize,
}

/// Why a delivery was refused. Nothing is queued for any of them.
#[derive(Debug, thiserror::Error)]
pub enum WebhookRefusal {
    /// Not from the provider (signature or authorization missing or wrong): answer
    /// `status`, which is the provider's own rule.
    #[error("not authenticated: {reason}")]
    Unauthenticated { status: u16, reason: String },
    #[error("body is not a notification")]
    Malformed,
    #[error("method not allowed")]
    MethodNotAllowed,
    /// We cannot check it now (secret or keys unavailable): the provider must retry.
    #[error("cannot authenticate deliveries now: {0}")]
    Unavailable(String),
    /// Signed with a key we do not know and may not look up again yet. Answered like
    /// [`Self::Unavailable`], so a key the provider just introduced is accepted when it
    /// retries, but counted as a rejection: anyone can send one, and it must not page
    /// anybody about our availability.
    #[error("cannot authenticate this delivery yet: {0}")]
    NotYetVerifiable(String),
}

/// Port: one provider's webhook — its handshake, the authentication of a delivery, and
/// the parsing of notifications into work. No provider or SAP calls: providers want an
/// answer within seconds.
#[async_trait]
pub trait Webhook: Send + Sync {
    async fn receive(&self, request: &WebhookRequest<'_>) -> Result<Received, WebhookRefusal>;
}

/// A map from provider kind to one of the ports, built by the registry.
pub struct Served<T: ?Sized>(BTreeMap<ProviderKind, Arc<T>>);

/// The API clients of the providers this deployment serves.
pub type Providers = Served<dyn Provider>;
/// The webhook receivers of the providers this deployment serves.
pub type Webhooks = Served<dyn Webhook>;

impl<T: ?Sized> Served<T> {
    pub fn new(map: BTreeMap<ProviderKind, Arc<T>>) -> Self {
        Served(map)
    }

    /// `None` for a provider this deployment does not serve.
    pub fn get(&self, kind: ProviderKind) -> Option<&Arc<T>> {
        self.0.get(&kind)
    }

    pub fn kinds(&self) -> impl Iterator<Item = ProviderKind> + '_ {
        self.0.keys().copied()
    }
}

impl<T: ?Sized> Clone for Served<T> {
    fn clone(&self) -> Self {
        Served(self.0.clone())
    }
}

impl<T: ?Sized> FromIterator<(ProviderKind, Arc<T>)> for Served<T> {
    fn from_iter<I: IntoIterator<Item = (ProviderKind, Arc<T>)>>(iter: I) -> Self {
        Served(iter.into_iter().collect())
    }
}
