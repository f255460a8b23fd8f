//! The one place tokens are refreshed: lease and version.

use fitbridge::domain::PersonKey;
use fitbridge::domain::ProviderUserId;
use fitbridge::ports::store::ConnectionStore;
use fitbridge::ports::tokens::TokenError;
use fitbridge::ports::tokens::Tokens;
use time::Duration;

use crate::support::*;

async fn expiring_soon(w: &World, user: &str) {
    let mut c = w.connected(user, "activity").await;
    c.tokens.expires_at = w.now() + Duration::minutes(2);
    w.store.save_connected(&c).await.unwrap();
}

#[tokio::test]
async fn fifty_concurrent_refreshes_ahead_of_expiry_make_one() {
    let w = World::new();
    expiring_soon(&w, "ADA").await;
    let person = PersonKey::new(KIND, "ADA");
    let all = futures_util::future::join_all((0..50).map(|_| w.tokens.fresh(&person))).await;
    let first = all[0].as_ref().unwrap().tokens.access_token.clone();
    assert!(all
        .iter()
        .all(|c| c.as_ref().unwrap().tokens.access_token == first));
    assert_eq!(w.provider.refreshes_of("ADA"), 1);
}

#[tokio::test]
async fn a_401_seen_with_old_tokens_uses_the_rotated_ones() {
    let w = World::new();
    let before = w.connected("BO", "activity").await;
    w.provider.expire_access_tokens("BO");
    let rotated = w
        .tokens
        .after_unauthorized(
            &PersonKey::of(KIND, &ProviderUserId("BO".into())),
            before.version,
        )
        .await
        .unwrap();
    assert_eq!(rotated.version, before.version + 1);
    // A second 401 seen with the same old version: no second refresh.
    let again = w
        .tokens
        .after_unauthorized(
            &PersonKey::of(KIND, &ProviderUserId("BO".into())),
            before.version,
        )
        .await
        .unwrap();
    assert_eq!(again.tokens.access_token, rotated.tokens.access_token);
    assert_eq!(w.provider.refreshes_of("BO"), 1);
}

#[tokio::test]
async fn reusable_refresh_tokens_are_kept_across_refreshes() {
    let w = World::with_reusable_refresh_tokens();
    expiring_soon(&w, "CY").await;
    let before = w.connection("CY").await.unwrap();
    let after = w
        .tokens
        .fresh(&PersonKey::of(KIND, &ProviderUserId("CY".into())))
        .await
        .unwrap();
    assert_eq!(after.tokens.refresh_token, before.tokens.refresh_token);
    assert_ne!(after.tokens.access_token, before.tokens.access_token);
    assert_eq!(
        w.connection("CY").await.unwrap().tokens.refresh_token,
        before.tokens.refresh_token
    );
}

#[tokio::test]
async fn invalid_grant_parks_only_if_nobody_rotated_meanwhile() {
    let w = World::new();
    expiring_soon(&w, "DI").await;
    w.provider.revoke_person("DI");
    let err = w
        .tokens
        .fresh(&PersonKey::of(KIND, &ProviderUserId("DI".into())))
        .await
        .unwrap_err();
    assert!(matches!(err, TokenError::NeedsReconsent), "{err}");
    assert_eq!(
        w.connection("DI").await.unwrap().status,
        fitbridge::domain::ConnectionStatus::NeedsReconsent
    );
    // Parked people get no token at all.
    let err = w
        .tokens
        .fresh(&PersonKey::of(KIND, &ProviderUserId("DI".into())))
        .await
        .unwrap_err();
    assert!(
        matches!(err, TokenError::Parked("needs_reconsent")),
        "{err}"
    );
}

#[tokio::test]
async fn no_connection_means_not_connected() {
    let w = World::new();
    let err = w
        .tokens
        .fresh(&PersonKey::of(KIND, &ProviderUserId("ZED".into())))
        .await
        .unwrap_err();
    assert!(matches!(err, TokenError::NotConnected));
}

/// A provider whose refresh races a reconnect: while the refresh is in flight the person
/// connects again (new tokens stored, no lease taken), and the old refresh token is
/// refused.
struct RacedByReconnect {
    inner: std::sync::Arc<fitbridge::provider::memory::MemoryProvider>,
    store: std::sync::Arc<fitbridge::store::memory::MemoryStore>,
}

#[async_trait::async_trait]
impl fitbridge::ports::provider::Provider for RacedByReconnect {
    fn kind(&self) -> fitbridge::domain::ProviderKind {
        self.inner.kind()
    }
    async fn authorize_url(
        &self,
        r: &fitbridge::ports::provider::AuthorizeRequest<'_>,
    ) -> Result<url::Url, fitbridge::ports::provider::ProviderError> {
        self.inner.authorize_url(r).await
    }
    async fn exchange_code(
        &self,
        code: &str,
        verifier: &fitbridge::domain::Secret,
        redirect_uri: &str,
    ) -> Result<fitbridge::ports::provider::TokenGrant, fitbridge::ports::provider::ProviderError>
    {
        self.inner.exchange_code(code, verifier, redirect_uri).await
    }
    async fn refresh(
        &self,
        tokens: &fitbridge::domain::TokenSet,
    ) -> Result<fitbridge::domain::TokenSet, fitbridge::ports::provider::ProviderError> {
        let user = tokens
            .refresh_token
            .expose()
            .split('-')
            .nth(1)
            .unwrap()
            .to_owned();
        let fresh = self.inner.grant(&user, "activity");
        self.store
            .replace_tokens_if_connected(&PersonKey::of(KIND, &ProviderUserId(user)), &fresh)
            .await
            .unwrap();
        Err(fitbridge::ports::provider::ProviderError::InvalidGrant)
    }
    async fn revoke(
        &self,
        tokens: &fitbridge::domain::TokenSet,
    ) -> Result<(), fitbridge::ports::provider::ProviderError> {
        self.inner.revoke(tokens).await
    }
    async fn identify(
        &self,
        grant: &fitbridge::ports::provider::TokenGrant,
    ) -> Result<fitbridge::ports::provider::Person, fitbridge::ports::provider::ProviderError> {
        self.inner.identify(grant).await
    }
    async fn fetch_day(
        &self,
        token: &fitbridge::domain::Secret,
        user: &ProviderUserId,
        collection: fitbridge::domain::Collection,
        date: time::Date,
    ) -> Result<fitbridge::domain::DaySummary, fitbridge::ports::provider::ProviderError> {
        self.inner.fetch_day(token, user, collection, date).await
    }
    async fn subscribe(
        &self,
        token: &fitbridge::domain::Secret,
        user: &ProviderUserId,
        collections: &[fitbridge::domain::Collection],
    ) -> Vec<fitbridge::domain::Collection> {
        self.inner.subscribe(token, user, collections).await
    }
    async fn unsubscribe(
        &self,
        token: &fitbridge::domain::Secret,
        user: &ProviderUserId,
        collections: &[fitbridge::domain::Collection],
    ) {
        self.inner.unsubscribe(token, user, collections).await
    }
}

#[tokio::test]
async fn the_lease_is_released_on_every_path() {
    // Issue 8: a refresher that found the token rotated under it (a reconnect during its
    // refresh) returned the newer tokens but kept the lease, so every other refresher of
    // the person waited for it to expire.
    use fitbridge::ports::store::TokenStore;
    let w = World::new();
    expiring_soon(&w, "EVA").await;
    let raced = RacedByReconnect {
        inner: w.provider.clone(),
        store: w.store.clone(),
    };
    let tokens = fitbridge::use_cases::tokens::TokenService::new(
        [(
            KIND,
            std::sync::Arc::new(raced) as std::sync::Arc<dyn fitbridge::ports::provider::Provider>,
        )]
        .into_iter()
        .collect(),
        w.store.clone(),
        w.store.clone(),
        w.clock.clone(),
    );
    let user = ProviderUserId("EVA".into());
    let c = tokens.fresh(&PersonKey::of(KIND, &user)).await.unwrap();
    assert_eq!(
        c.status,
        fitbridge::domain::ConnectionStatus::Active,
        "the reconnect's tokens are used, the person is not parked"
    );
    let now = w.now();
    assert!(
        w.store
            .acquire_refresh_lease(
                &PersonKey::of(KIND, &user),
                "somebody-else",
                now,
                now + Duration::seconds(30)
            )
            .await
            .unwrap(),
        "the lease is free at once"
    );
}

/// The token store, with a reconnect of the person landing just before a status is set:
/// between the refresher's last read and its write.
struct ReconnectBeforeStatus {
    store: std::sync::Arc<fitbridge::store::memory::MemoryStore>,
    provider: std::sync::Arc<fitbridge::provider::memory::MemoryProvider>,
}

#[async_trait::async_trait]
impl fitbridge::ports::store::TokenStore for ReconnectBeforeStatus {
    async fn acquire_refresh_lease(
        &self,
        person: &PersonKey,
        owner: &str,
        now: time::OffsetDateTime,
        until: time::OffsetDateTime,
    ) -> Result<bool, fitbridge::ports::store::StoreError> {
        self.store
            .acquire_refresh_lease(person, owner, now, until)
            .await
    }
    async fn store_rotated_tokens(
        &self,
        person: &PersonKey,
        tokens: &fitbridge::domain::TokenSet,
        expected_version: u64,
        owner: &str,
    ) -> Result<Option<u64>, fitbridge::ports::store::StoreError> {
        self.store
            .store_rotated_tokens(person, tokens, expected_version, owner)
            .await
    }
    async fn release_refresh_lease(
        &self,
        person: &PersonKey,
        owner: &str,
    ) -> Result<(), fitbridge::ports::store::StoreError> {
        self.store.release_refresh_lease(person, owner).await
    }
    async fn set_status(
        &self,
        person: &PersonKey,
        status: fitbridge::domain::ConnectionStatus,
        if_version: Option<u64>,
    ) -> Result<bool, fitbridge::ports::store::StoreError> {
        let mut reconnected = self.store.get(person).await?.unwrap();
        reconnected.tokens = self.provider.grant(&person.user_id.0, "activity");
        self.store.save_connected(&reconnected).await?;
        self.store.set_status(person, status, if_version).await
    }
}

#[tokio::test]
async fn a_reconnect_between_the_last_read_and_the_parking_is_not_parked() {
    use fitbridge::ports::store::TokenStore;
    let w = World::new();
    expiring_soon(&w, "FAY").await;
    w.provider.revoke_person("FAY");
    let store = std::sync::Arc::new(ReconnectBeforeStatus {
        store: w.store.clone(),
        provider: w.provider.clone(),
    });
    let tokens = fitbridge::use_cases::tokens::TokenService::new(
        [(
            KIND,
            w.provider.clone() as std::sync::Arc<dyn fitbridge::ports::provider::Provider>,
        )]
        .into_iter()
        .collect(),
        w.store.clone(),
        store,
        w.clock.clone(),
    );
    let user = ProviderUserId("FAY".into());
    let c = tokens.fresh(&PersonKey::of(KIND, &user)).await.unwrap();
    assert_eq!(c.status, fitbridge::domain::ConnectionStatus::Active);
    let stored = w.connection("FAY").await.unwrap();
    assert_eq!(
        stored.status,
        fitbridge::domain::ConnectionStatus::Active,
        "the reconnect stays active"
    );
    assert_eq!(stored.version, c.version, "the reconnect's tokens are used");
    // Only at the version it was read at does a decision land.
    assert!(!w
        .store
        .set_status(
            &PersonKey::of(KIND, &user),
            fitbridge::domain::ConnectionStatus::NeedsReconsent,
            Some(stored.version - 1),
        )
        .await
        .unwrap());
    assert!(w
        .store
        .set_status(
            &PersonKey::of(KIND, &user),
            fitbridge::domain::ConnectionStatus::NeedsReconsent,
            Some(stored.version),
        )
        .await
        .unwrap());
}

#[tokio::test]
async fn a_slow_secret_read_is_inside_the_lease_check_not_the_refresh() {
    // Reading the client's credentials on a cold cache can take seconds; a refresh that
    // started its token call with the lease nearly over could be overtaken by a second
    // refresher, and with single-use refresh tokens that loses the person.
    let w = World::new();
    expiring_soon(&w, "GIL").await;
    let start = w.now();
    w.provider
        .slow_secret_read(w.clock.clone(), Duration::seconds(25));
    let user = ProviderUserId("GIL".into());
    let first = w.tokens.fresh(&PersonKey::of(KIND, &user)).await;
    assert!(
        matches!(first, Err(TokenError::Busy)),
        "the lease is too short now: give the work back ({first:?})"
    );
    // Lease 30 s, provider call 10 s: a token call may start at most 20 s in.
    for at in w.provider.refreshed_at() {
        assert!(
            at <= start + Duration::seconds(20),
            "a token call {} s into a 30 s lease",
            (at - start).whole_seconds()
        );
    }
    // The secret is warm now; the next attempt refreshes.
    w.clock.advance(Duration::seconds(31));
    let c = w.tokens.fresh(&PersonKey::of(KIND, &user)).await.unwrap();
    assert_eq!(w.provider.refreshes_of("GIL"), 1);
    assert_eq!(c.status, fitbridge::domain::ConnectionStatus::Active);
}
