//! The one place tokens are refreshed.
//!
//! Where refresh tokens are single-use and a person has one active pair, two refreshes
//! racing each other leave one of them holding a dead token, and the person disconnected.
//! (Reusable refresh tokens forgive a race; the same discipline costs them nothing.)
//! So every refresh runs under a per-person lease (a conditional write on the connection),
//! re-reads the connection once it holds the lease (another refresher may have rotated the
//! tokens already: then those are used), and writes the new pair only if the version it
//! read is still current.

use crate::domain::PersonKey;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use crate::domain::{Connection, ConnectionStatus};
use crate::ports::clock::SharedClock;
use crate::ports::provider::{ProviderError, Providers};
use crate::ports::store::{ConnectionStore, TokenStore};
use crate::ports::tokens::{TokenError, Tokens};
use crate::telemetry::metric;

/// Refresh ahead of expiry: a token with less than this left is refreshed before use.
pub const REFRESH_MARGIN: Duration = Duration::minutes(5);
/// How long a refresher may hold the lease; a crashed one blocks others no longer.
const LEASE: Duration = Duration::seconds(30);
/// What the provider call may take (the HTTP client's timeout, and some): a refresher
/// whose lease would end before that does not start the call, so no second refresher can
/// take the lease while the first one's refresh is still in flight.
const PROVIDER_CALL: Duration = Duration::seconds(10);
/// How long to wait for another refresher to finish before giving the work back.
const WAIT_FOR_OTHER_REFRESHER: StdDuration = StdDuration::from_secs(5);

/// What a refresh under the lease leaves: the new pair, stored with the lease removed in
/// the same write, or a current pair somebody else stored (the lease still ours).
enum Rotation {
    Stored(Connection),
    Current(Connection),
}

pub struct TokenService {
    providers: Providers,
    connections: Arc<dyn ConnectionStore>,
    tokens: Arc<dyn TokenStore>,
    clock: SharedClock,
}

#[async_trait]
impl Tokens for TokenService {
    /// The connection with an access token valid for at least [`REFRESH_MARGIN`],
    /// refreshing it first if needed.
    async fn fresh(&self, person: &PersonKey) -> Result<Connection, TokenError> {
        let connection = self.load(person).await?;
        if connection.tokens.expires_at - self.clock.now() > REFRESH_MARGIN {
            return Ok(connection);
        }
        self.rotate(connection).await
    }

    /// After a 401 seen with the tokens of `observed_version`: refresh, unless somebody
    /// already rotated them, and return the connection to use.
    async fn after_unauthorized(
        &self,
        person: &PersonKey,
        observed_version: u64,
    ) -> Result<Connection, TokenError> {
        let connection = self.load(person).await?;
        if connection.version > observed_version {
            return Ok(connection);
        }
        self.rotate(connection).await
    }
}

impl TokenService {
    pub fn new(
        providers: Providers,
        connections: Arc<dyn ConnectionStore>,
        tokens: Arc<dyn TokenStore>,
        clock: SharedClock,
    ) -> Self {
        TokenService {
            providers,
            connections,
            tokens,
            clock,
        }
    }

    async fn load(&self, person: &PersonKey) -> Result<Connection, TokenError> {
        let connection = self
            .connections
            .get(person)
            .await?
            .ok_or(TokenError::NotConnected)?;
        match connection.status {
            ConnectionStatus::Active => Ok(connection),
            other => Err(TokenError::Parked(other.as_str())),
        }
    }

    /// Refreshes `seen` under the lease.
    async fn rotate(&self, seen: Connection) -> Result<Connection, TokenError> {
        let person = seen.person();
        let owner = crate::domain::pkce::new_state();
        let deadline = tokio::time::Instant::now() + WAIT_FOR_OTHER_REFRESHER;
        let lease_until = loop {
            let now = self.clock.now();
            if self
                .tokens
                .acquire_refresh_lease(&person, &owner, now, now + LEASE)
                .await?
            {
                break now + LEASE;
            }
            // Someone else is refreshing: wait for their result rather than race them.
            if tokio::time::Instant::now() >= deadline {
                return Err(TokenError::Busy);
            }
            tokio::time::sleep(StdDuration::from_millis(100)).await;
            let current = self.load(&person).await?;
            if current.version > seen.version {
                return Ok(current);
            }
        };
        let result = match self.rotate_holding_lease(&seen, &owner, lease_until).await {
            // Storing the new pair removed the lease in the same write: releasing it again
            // would be a conditional write that fails, and DynamoDB bills those too.
            Ok(Rotation::Stored(c)) => return Ok(c),
            Ok(Rotation::Current(c)) => Ok(c),
            Err(e) => Err(e),
        };
        // Every other outcome must not leave others waiting for the lease to expire.
        let released = self.tokens.release_refresh_lease(&person, &owner).await;
        match (result, released) {
            (Ok(c), Err(e)) => {
                tracing::warn!(user_id = %person.user_id, error = %e, "refresh lease not released; it expires");
                Ok(c)
            }
            (result, _) => result,
        }
    }

    async fn rotate_holding_lease(
        &self,
        seen: &Connection,
        owner: &str,
        lease_until: OffsetDateTime,
    ) -> Result<Rotation, TokenError> {
        let person = seen.person();
        let (kind, user_id) = (person.provider, &person.user_id);
        // Re-read under the lease: the tokens may have rotated since `seen` was read.
        let current = self.load(&person).await?;
        if current.version > seen.version {
            return Ok(Rotation::Current(current));
        }
        let provider = self.providers.get(kind).ok_or(TokenError::NotConnected)?;
        // The secret read can be slow (seconds); it happens here, before the lease is
        // judged, never inside the refresh call.
        provider.prepare().await.map_err(TokenError::Provider)?;
        if self.clock.now() + PROVIDER_CALL >= lease_until {
            // The store or the secret read was slow: the lease could end while the
            // provider call runs.
            return Err(TokenError::Busy);
        }
        let refreshed = provider.refresh(&current.tokens).await;
        let result = match &refreshed {
            Ok(_) => "refreshed",
            Err(e) => e.status_class(),
        };
        metrics::counter!(metric::TOKEN_REFRESHES, "Provider" => kind.to_string(),
            "Result" => result)
        .increment(1);
        match refreshed {
            Ok(tokens) => {
                let stored = self
                    .tokens
                    .store_rotated_tokens(&person, &tokens, current.version, owner)
                    .await?;
                let Some(version) = stored else {
                    // Cannot happen while we hold the lease unless a reconnect replaced the
                    // tokens meanwhile; theirs are newer, use them.
                    return Ok(Rotation::Current(self.load(&person).await?));
                };
                tracing::info!(provider = %kind, user_id = %user_id, version, "tokens refreshed");
                Ok(Rotation::Stored(Connection {
                    tokens,
                    version,
                    ..current
                }))
            }
            Err(ProviderError::InvalidGrant) => {
                // Before giving up on the person, make sure nobody rotated the token under
                // us (a reconnect does not take the lease).
                let latest = self.load(&person).await?;
                if latest.tokens.refresh_token != current.tokens.refresh_token {
                    return Ok(Rotation::Current(latest));
                }
                // Parked only at the version we judged: a reconnect landing in between
                // keeps its fresh connection.
                let parked = self
                    .tokens
                    .set_status(
                        &person,
                        ConnectionStatus::NeedsReconsent,
                        Some(latest.version),
                    )
                    .await?;
                if !parked {
                    return Ok(Rotation::Current(self.load(&person).await?));
                }
                tracing::warn!(provider = %kind, user_id = %user_id,
                    "refresh token rejected; connection parked until the person consents again");
                Err(TokenError::NeedsReconsent)
            }
            Err(ProviderError::Gone) => {
                let marked = self
                    .tokens
                    .set_status(
                        &person,
                        ConnectionStatus::ProviderGone,
                        Some(current.version),
                    )
                    .await?;
                if !marked {
                    return Ok(Rotation::Current(self.load(&person).await?));
                }
                Err(TokenError::Gone)
            }
            Err(e) => Err(TokenError::Provider(e)),
        }
    }
}
