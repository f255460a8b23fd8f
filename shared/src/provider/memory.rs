//! An in-memory provider, for use-case tests that run in milliseconds.
//!
//! It plays a registered [`ProviderKind`] (its scope vocabulary decides which collections
//! a grant covers) with the behaviours the use cases must handle: PKCE-checked codes,
//! access tokens that expire or are revoked, refresh tokens that are single-use (one
//! active pair per person) or reusable, missing scopes, rate limits,
//! failures on demand, and a webhook authenticated with a shared secret.
//! Wire formats are not its business: the provider folders and their sandboxes prove those.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use time::{Date, Duration, OffsetDateTime};
use url::Url;

use super::registry::Registry;
use crate::clock::SetClock;
use crate::domain::Secret;
use crate::domain::{pkce, ProviderKind};
use crate::domain::{Collection, DaySummary, Profile, ProviderUserId, Scopes, TokenSet, WorkItem};
use crate::ports::catalog::ProviderCatalog;
use crate::ports::clock::SharedClock;
use crate::ports::provider::{
    AuthorizeRequest, Notifications, Person, Provider, ProviderError, Received, TokenGrant,
    Webhook, WebhookRefusal, WebhookRequest,
};

/// Lifetime of the access tokens it issues.
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::hours(1);

/// One person at the memory provider.
#[derive(Clone, Debug, Default)]
pub struct MemoryPerson {
    pub legacy_user_id: Option<String>,
    pub profile: Profile,
    pub days: BTreeMap<(Collection, Date), DaySummary>,
}

struct Access {
    user: String,
    scopes: Scopes,
    expires_at: OffsetDateTime,
    revoked: bool,
}

struct PendingCode {
    user: String,
    scopes: Scopes,
    challenge: String,
    redirect_uri: String,
}

#[derive(Default)]
struct State {
    people: BTreeMap<String, MemoryPerson>,
    /// Scopes each person grants at the consent screen.
    consent: HashMap<String, Scopes>,
    codes: HashMap<String, PendingCode>,
    access: HashMap<String, Access>,
    /// Live refresh tokens → (person, scopes).
    refresh: HashMap<String, (String, Scopes)>,
    failures: VecDeque<ProviderError>,
    fetches: HashMap<String, u64>,
    refreshes: HashMap<String, u64>,
    subscribed: BTreeSet<(String, Collection)>,
    revoked_grants: u64,
    serial: u64,
    /// The next credentials read takes this long (a cold secret cache): it moves the
    /// clock on, once.
    slow_secret_read: Option<(Arc<SetClock>, Duration)>,
    /// When each refresh reached the token endpoint.
    refreshed_at: Vec<OffsetDateTime>,
}

pub struct MemoryProvider {
    kind: ProviderKind,
    /// One active pair per person, the old refresh token dead after use; otherwise
    /// refresh tokens are reusable.
    single_use_refresh: bool,
    /// Subscriptions per person, or one project-level subscriber.
    per_person_subscriptions: bool,
    /// The webhook's shared secret (`Authorization: Bearer <secret>`).
    webhook_secret: String,
    state: Mutex<State>,
    /// Tokens expire by it.
    clock: SharedClock,
}

impl MemoryProvider {
    /// A provider playing `kind`, with single-use refresh tokens and per-person
    /// subscriptions.
    pub fn new(kind: ProviderKind, clock: SharedClock) -> Self {
        MemoryProvider {
            kind,
            clock,
            single_use_refresh: true,
            per_person_subscriptions: true,
            webhook_secret: "memory-webhook-secret".into(),
            state: Mutex::new(State::default()),
        }
    }

    /// Refresh tokens stay valid after use; subscriptions are project-level.
    pub fn with_reusable_refresh_tokens(mut self) -> Self {
        self.single_use_refresh = false;
        self.per_person_subscriptions = false;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn webhook_secret(&self) -> &str {
        &self.webhook_secret
    }

    /// Adds a person who will grant `scopes` at the consent screen.
    pub fn add_person(&self, user_id: &str, person: MemoryPerson, scopes: &str) {
        let mut s = self.lock();
        s.people.insert(user_id.to_owned(), person);
        s.consent.insert(user_id.to_owned(), Scopes::parse(scopes));
    }

    pub fn set_day(&self, user_id: &str, collection: Collection, date: Date, day: DaySummary) {
        self.lock()
            .people
            .entry(user_id.to_owned())
            .or_default()
            .days
            .insert((collection, date), day);
    }

    /// The person at the consent screen of `authorize_url`: consents, and the code the
    /// provider sends back to the callback.
    pub fn consent(&self, user_id: &str, authorize_url: &Url) -> String {
        let param = |name: &str| {
            authorize_url
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let mut s = self.lock();
        s.serial += 1;
        let code = format!("code-{}", s.serial);
        let scopes = s.consent.get(user_id).cloned().unwrap_or_default();
        s.codes.insert(
            code.clone(),
            PendingCode {
                user: user_id.to_owned(),
                scopes,
                challenge: param("code_challenge"),
                redirect_uri: param("redirect_uri"),
            },
        );
        code
    }

    /// Tokens as a finished connect would hold them.
    pub fn grant(&self, user_id: &str, scopes: &str) -> TokenSet {
        let mut s = self.lock();
        Self::issue(
            &mut s,
            self.clock.now(),
            user_id,
            &Scopes::parse(scopes),
            None,
        )
    }

    fn issue(
        s: &mut State,
        now: OffsetDateTime,
        user: &str,
        scopes: &Scopes,
        keep_refresh: Option<&Secret>,
    ) -> TokenSet {
        s.serial += 1;
        let access = format!("access-{user}-{}", s.serial);
        let expires_at = now + ACCESS_TOKEN_LIFETIME;
        s.access.insert(
            access.clone(),
            Access {
                user: user.to_owned(),
                scopes: scopes.clone(),
                expires_at,
                revoked: false,
            },
        );
        let refresh = match keep_refresh {
            Some(r) => r.expose().to_owned(),
            None => {
                let r = format!("refresh-{user}-{}", s.serial);
                s.refresh
                    .insert(r.clone(), (user.to_owned(), scopes.clone()));
                r
            }
        };
        TokenSet {
            access_token: Secret::new(access),
            refresh_token: Secret::new(refresh),
            expires_at,
            scopes: scopes.clone(),
        }
    }

    /// Every access token of the person expires now.
    pub fn expire_access_tokens(&self, user_id: &str) {
        let past = self.clock.now() - Duration::seconds(1);
        for a in self
            .lock()
            .access
            .values_mut()
            .filter(|a| a.user == user_id)
        {
            a.expires_at = past;
        }
    }

    /// The person revokes the app: every token dies.
    pub fn revoke_person(&self, user_id: &str) {
        let mut s = self.lock();
        for a in s.access.values_mut().filter(|a| a.user == user_id) {
            a.revoked = true;
        }
        s.refresh.retain(|_, (u, _)| u != user_id);
    }

    /// The next provider calls (data, refresh) fail with these errors, in order.
    pub fn fail_next(&self, errors: impl IntoIterator<Item = ProviderError>) {
        self.lock().failures.extend(errors);
    }

    /// Codes issued by consent and not yet exchanged.
    pub fn codes_outstanding(&self) -> usize {
        self.lock().codes.len()
    }

    pub fn fetches_of(&self, user_id: &str) -> u64 {
        self.lock().fetches.get(user_id).copied().unwrap_or(0)
    }

    pub fn refreshes_of(&self, user_id: &str) -> u64 {
        self.lock().refreshes.get(user_id).copied().unwrap_or(0)
    }

    pub fn subscriptions_of(&self, user_id: &str) -> Vec<Collection> {
        self.lock()
            .subscribed
            .iter()
            .filter(|(u, _)| u == user_id)
            .map(|(_, c)| *c)
            .collect()
    }

    pub fn revoked_grants(&self) -> u64 {
        self.lock().revoked_grants
    }

    /// The next read of the client's credentials (by [`Provider::prepare`] or inside a
    /// call) takes `by` on `clock`, as a Secrets Manager read on a cold cache can.
    pub fn slow_secret_read(&self, clock: Arc<SetClock>, by: Duration) {
        self.lock().slow_secret_read = Some((clock, by));
    }

    /// When each refresh reached the token endpoint, by the provider's clock.
    pub fn refreshed_at(&self) -> Vec<OffsetDateTime> {
        self.lock().refreshed_at.clone()
    }

    /// The client's credentials, as the real clients read them: through a cache.
    fn read_credentials(s: &mut State) {
        if let Some((clock, by)) = s.slow_secret_read.take() {
            clock.advance(by);
        }
    }

    /// The person and scopes of a live access token.
    fn authorize(
        s: &State,
        token: &Secret,
        now: OffsetDateTime,
    ) -> Result<(String, Scopes), ProviderError> {
        let a = s
            .access
            .get(token.expose())
            .ok_or(ProviderError::InvalidToken)?;
        if a.revoked {
            return Err(ProviderError::InvalidToken);
        }
        if a.expires_at <= now {
            return Err(ProviderError::AccessTokenExpired);
        }
        Ok((a.user.clone(), a.scopes.clone()))
    }

    /// A notification body the memory webhook accepts.
    pub fn notification(entries: &[(&str, Collection, Date)]) -> Vec<u8> {
        let list: Vec<serde_json::Value> = entries
            .iter()
            .map(|(user, c, d)| {
                serde_json::json!({"user": user, "collection": c, "date": crate::domain::work::iso_date::format(*d)})
            })
            .collect();
        serde_json::to_vec(&list).expect("JSON")
    }
}

#[async_trait]
impl Provider for MemoryProvider {
    fn kind(&self) -> ProviderKind {
        self.kind
    }

    async fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<Url, ProviderError> {
        let mut url = Url::parse("https://provider.test/authorize").expect("static URL");
        url.query_pairs_mut()
            .append_pair("state", request.state)
            .append_pair("code_challenge", request.code_challenge)
            .append_pair("redirect_uri", request.redirect_uri);
        Ok(url)
    }

    async fn exchange_code(
        &self,
        code: &str,
        code_verifier: &Secret,
        redirect_uri: &str,
    ) -> Result<TokenGrant, ProviderError> {
        let mut s = self.lock();
        let pending = s.codes.remove(code).ok_or(ProviderError::InvalidGrant)?;
        if pending.challenge != pkce::challenge(code_verifier)
            || pending.redirect_uri != redirect_uri
        {
            return Err(ProviderError::InvalidGrant);
        }
        if self.single_use_refresh {
            // One active pair per person: a new grant kills the old refresh token.
            s.refresh.retain(|_, (u, _)| *u != pending.user);
        }
        let tokens = Self::issue(
            &mut s,
            self.clock.now(),
            &pending.user,
            &pending.scopes,
            None,
        );
        Ok(TokenGrant {
            tokens,
            user_id: Some(ProviderUserId(pending.user)),
        })
    }

    async fn prepare(&self) -> Result<(), ProviderError> {
        Self::read_credentials(&mut self.lock());
        Ok(())
    }

    async fn refresh(&self, tokens: &TokenSet) -> Result<TokenSet, ProviderError> {
        let mut s = self.lock();
        Self::read_credentials(&mut s);
        let now = self.clock.now();
        s.refreshed_at.push(now);
        if let Some(e) = s.failures.pop_front() {
            return Err(e);
        }
        let (user, scopes) = s
            .refresh
            .get(tokens.refresh_token.expose())
            .cloned()
            .ok_or(ProviderError::InvalidGrant)?;
        *s.refreshes.entry(user.clone()).or_default() += 1;
        if self.single_use_refresh {
            s.refresh.remove(tokens.refresh_token.expose());
            Ok(Self::issue(&mut s, self.clock.now(), &user, &scopes, None))
        } else {
            Ok(Self::issue(
                &mut s,
                self.clock.now(),
                &user,
                &scopes,
                Some(&tokens.refresh_token),
            ))
        }
    }

    async fn revoke(&self, tokens: &TokenSet) -> Result<(), ProviderError> {
        let user = {
            let s = self.lock();
            s.refresh
                .get(tokens.refresh_token.expose())
                .map(|(u, _)| u.clone())
                .or_else(|| {
                    s.access
                        .get(tokens.access_token.expose())
                        .map(|a| a.user.clone())
                })
        };
        if let Some(user) = user {
            self.revoke_person(&user);
            self.lock().revoked_grants += 1;
        }
        Ok(())
    }

    async fn identify(&self, grant: &TokenGrant) -> Result<Person, ProviderError> {
        let s = self.lock();
        let (user, _) = Self::authorize(&s, &grant.tokens.access_token, self.clock.now())?;
        let person = s.people.get(&user).cloned().unwrap_or_default();
        Ok(Person {
            user_id: ProviderUserId(user),
            legacy_user_id: person.legacy_user_id.map(ProviderUserId),
            profile: person.profile,
        })
    }

    async fn fetch_day(
        &self,
        access_token: &Secret,
        user_id: &ProviderUserId,
        collection: Collection,
        date: Date,
    ) -> Result<DaySummary, ProviderError> {
        let mut s = self.lock();
        let (user, scopes) = Self::authorize(&s, access_token, self.clock.now())?;
        if user != user_id.0 {
            return Err(ProviderError::InvalidToken);
        }
        if !Registry
            .granted_collections(self.kind, &scopes)
            .contains(&collection)
        {
            return Err(ProviderError::InsufficientScope);
        }
        if let Some(e) = s.failures.pop_front() {
            return Err(e);
        }
        *s.fetches.entry(user.clone()).or_default() += 1;
        Ok(s.people
            .get(&user)
            .and_then(|p| p.days.get(&(collection, date)))
            .cloned()
            .unwrap_or_default())
    }

    async fn subscribe(
        &self,
        access_token: &Secret,
        user_id: &ProviderUserId,
        collections: &[Collection],
    ) -> Vec<Collection> {
        if !self.per_person_subscriptions {
            return Vec::new();
        }
        let mut s = self.lock();
        if Self::authorize(&s, access_token, self.clock.now()).is_err() {
            return Vec::new();
        }
        for c in collections {
            s.subscribed.insert((user_id.0.clone(), *c));
        }
        collections.to_vec()
    }

    async fn unsubscribe(
        &self,
        _access_token: &Secret,
        user_id: &ProviderUserId,
        collections: &[Collection],
    ) {
        let mut s = self.lock();
        for c in collections {
            s.subscribed.remove(&(user_id.0.clone(), *c));
        }
    }
}

/// A notification entry of the memory webhook.
#[derive(serde::Deserialize)]
struct Entry {
    user: String,
    collection: Option<Collection>,
    #[serde(default, with = "optional_date")]
    date: Option<Date>,
    #[serde(default)]
    revoke: bool,
}

mod optional_date {
    use serde::{Deserialize, Deserializer};
    use time::Date;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        Ok(Option::<String>::deserialize(d)?
            .as_deref()
            .and_then(crate::domain::work::iso_date::parse))
    }
}

#[async_trait]
impl Webhook for MemoryProvider {
    async fn receive(&self, request: &WebhookRequest<'_>) -> Result<Received, WebhookRefusal> {
        if request.method != "POST" {
            return Err(WebhookRefusal::MethodNotAllowed);
        }
        let expected = format!("Bearer {}", self.webhook_secret);
        if request.header("authorization") != Some(expected.as_str()) {
            return Err(WebhookRefusal::Unauthenticated {
                status: 401,
                reason: "authorization missing or wrong".into(),
            });
        }
        let value: serde_json::Value =
            serde_json::from_slice(request.body).map_err(|_| WebhookRefusal::Malformed)?;
        if value["type"] == "verification" {
            return Ok(Received::Handshake { status: 201 });
        }
        let entries = match value {
            serde_json::Value::Array(entries) => entries,
            object @ serde_json::Value::Object(_) => vec![object],
            _ => return Err(WebhookRefusal::Malformed),
        };
        let mut out = Notifications {
            received: entries.len(),
            ..Default::default()
        };
        let mut work = BTreeSet::new();
        for entry in entries {
            match serde_json::from_value::<Entry>(entry) {
                Ok(Entry {
                    user, revoke: true, ..
                }) => {
                    work.insert((user, None));
                }
                Ok(Entry {
                    user,
                    collection: Some(c),
                    date: Some(d),
                    ..
                }) => {
                    work.insert((user, Some((c, d))));
                }
                _ => out.skipped += 1,
            }
        }
        out.work = work
            .into_iter()
            .map(|(user, what)| match what {
                Some((c, d)) => WorkItem::sync(self.kind, ProviderUserId(user), d, vec![c]),
                None => WorkItem::revoke(self.kind, ProviderUserId(user), false, None),
            })
            .collect();
        Ok(Received::Notifications {
            notifications: out,
            ack_status: 204,
        })
    }
}
