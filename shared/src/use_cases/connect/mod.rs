//! The connect use case: a person authorises the company's app, their profile becomes a
//! contact, their tokens are stored and subscriptions created.
//!
//! Invariants:
//! - Only the browser that started an attempt can finish it: the attempt stores the hash
//!   of a value the browser holds in a `__Host-` cookie, and the callback must present it.
//!   A consent URL sent to somebody else (login CSRF) finishes nothing.
//! - A signed link makes one connection: the callback takes it before the token exchange
//!   and gives it back only if the connect does not finish.
//! - A link never re-points a connection: a migration link connects only the account
//!   whose legacy id it names, and a link naming another customer record than the one the
//!   account (or its predecessor) is tied to is refused. Either refusal comes before the
//!   contact is written, and a grant made only for it is revoked at the provider.
//! - With [`ConnectSettings::require_signed_links`], a connect without a link is refused.
//!
//! Order matters. The state is consumed first (single use, whatever happens next). The
//! contact is written before the connection is stored, so a stored connection always has
//! its contact; a failure before that stores nothing new, and the person simply starts
//! again. Subscriptions come last, after the connection exists, so a notification that
//! arrives at once finds it.

use crate::domain::PersonKey;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::Duration;
use url::Url;

use crate::domain::link::{self as connect_link, LinkError, LinkParams, VerifiedLink};
use crate::domain::mapping::Mappings;
use crate::domain::{
    pkce, Collection, Connection, ConnectionStatus, ContactKey, ContactRecord, ProviderKind,
    ProviderUserId, Secret, TokenSet,
};
use crate::ports::catalog::Catalog;
use crate::ports::clock::SharedClock;
use crate::ports::marketing::{MarketingError, MarketingSink};
use crate::ports::provider::{AuthorizeRequest, Provider, ProviderError, Providers};
use crate::ports::queue::WorkQueue;
use crate::ports::secrets::{LinkKeys, SecretError};
use crate::ports::store::{
    ConnectAttempts, ConnectionStore, Ending, ParkedWork, PendingAuthorization, StateError,
    StoreError,
};
use crate::telemetry::metric;

mod follow_up;

/// What the connect flow is configured with.
#[derive(Clone, Debug)]
pub struct ConnectSettings {
    /// The API's public base URL; redirect URIs hang below it. `None`: the API's own
    /// domain as API Gateway reports it per request (the template cannot pass the API's
    /// URL to its own function without a dependency cycle).
    pub public_base_url: Option<Url>,
    /// Days before today imported when a person connects (`BACKFILL_DAYS`, default 30,
    /// at most [`MAX_BACKFILL_DAYS`]; 0: none), so windows and scores mean something from
    /// day one.
    pub backfill_days: u32,
    /// Only people who come through a signed link may connect (`REQUIRE_SIGNED_LINKS`):
    /// closes open enrolment, for a company that connects its known customers only.
    pub require_signed_links: bool,
}

/// A reconnect this soon after the last consent queues no backfill: the days are there.
pub const BACKFILL_AGAIN_AFTER: Duration = Duration::days(1);

/// The longest backfill: the providers' range limits and a person's hourly rate limit
/// (30 days of three collections are 90 of the legacy API's 150 requests an hour).
pub const MAX_BACKFILL_DAYS: u32 = 90;

/// How long a person has between the redirect and the callback.
pub const STATE_LIFETIME: Duration = Duration::minutes(10);

/// The query of `GET /oauth/callback/{provider}`, and the browser's binding cookie.
/// `Debug` shows which parts are present, never the state, the code or the binding (each
/// helps complete somebody's connect).
#[derive(Clone, Default)]
pub struct CallbackParams {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    /// The value of the browser-binding cookie, if the browser sent one.
    pub browser: Option<String>,
}

impl std::fmt::Debug for CallbackParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackParams")
            .field("state", &self.state.as_ref().map(|_| "[redacted]"))
            .field("code", &self.code.as_ref().map(|_| "[redacted]"))
            .field("error", &self.error)
            .field("browser", &self.browser.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Where to send the person, and the browser binding their browser must keep until the
/// callback (the HTTP adapter sets it as a cookie).
#[derive(Debug)]
pub struct Started {
    pub url: Url,
    pub browser: Secret,
}

/// A browser binding as we issue them: 43 base64url characters (256 random bits).
fn well_formed_binding(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn binding_hash(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a finished connect did.
#[derive(Debug)]
pub struct Connected {
    pub user_id: ProviderUserId,
    /// True when the person was connected before (their contact and tokens were updated).
    pub reconnected: bool,
    pub subscriptions: Vec<Collection>,
    /// Work parked while the person could not be served, queued again now.
    pub resumed: usize,
    /// Days queued for import ([`ConnectSettings::backfill_days`]).
    pub backfilled: usize,
    /// The provider whose connection this one replaced (a migration).
    pub migrated_from: Option<ProviderKind>,
}

/// Why a connect did not finish. `Display` is the operator's log text: it never holds
/// tokens, codes, states or personal data.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("unknown provider")]
    UnknownProvider,
    #[error("connect link refused: {0}")]
    Link(#[from] LinkError),
    #[error("authorize URL could not be built: {0}")]
    AuthorizeUrl(ProviderError),
    #[error("PUBLIC_BASE_URL is not set and the request carries no API domain")]
    NoPublicBaseUrl,
    #[error("callback without state")]
    MissingState,
    #[error("callback state refused: {0}")]
    State(#[from] StateError),
    #[error("callback state was issued for another provider")]
    StateProviderMismatch,
    #[error("callback from a browser other than the one that started the connect")]
    OtherBrowser,
    #[error("person denied consent")]
    Denied,
    #[error("provider returned an authorization error: {0}")]
    ProviderRefused(String),
    #[error("callback without code")]
    MissingCode,
    #[error("token exchange failed: {0}")]
    TokenExchange(ProviderError),
    #[error("identity or profile fetch failed: {0}")]
    Profile(ProviderError),
    #[error("contact upsert failed: {0}")]
    Marketing(#[from] MarketingError),
    #[error("store failed: {0}")]
    Store(#[from] StoreError),
    #[error("secret unavailable: {0}")]
    Secret(#[from] SecretError),
}

/// Why a verified link may not make this connection, if it may not: a migration link
/// opened by another account than the one it names, or a link naming another customer
/// record than the one the account is tied to.
fn link_refusal(
    link: &VerifiedLink,
    legacy_user_id: Option<&ProviderUserId>,
    tied_to: Option<&str>,
) -> Option<LinkError> {
    if let Some(named) = &link.legacy_user_id {
        if legacy_user_id.map(|id| id.0.as_str()) != Some(named.as_str()) {
            return Some(LinkError::OtherAccount);
        }
    }
    match (link.customer_ref.as_deref(), tied_to) {
        (Some(linked), Some(tied)) if linked != tied => Some(LinkError::OtherCustomer),
        _ => None,
    }
}

/// Everything the connect flow needs; built once per container.
pub struct ConnectService {
    pub providers: Providers,
    pub attempts: Arc<dyn ConnectAttempts>,
    pub connections: Arc<dyn ConnectionStore>,
    pub marketing: Arc<dyn MarketingSink>,
    /// The key the company's app signs connect links with.
    pub link_keys: Arc<dyn LinkKeys>,
    pub settings: ConnectSettings,
    /// Each provider's contact origin.
    pub mappings: Mappings,
    /// Where parked work goes back to once the person has reconnected (`None`: nowhere,
    /// and no backfill either).
    pub resume: Option<(Arc<dyn ParkedWork>, Arc<dyn WorkQueue>)>,
    /// Each provider's scope vocabulary and predecessor.
    pub catalog: Catalog,
    pub clock: SharedClock,
}

impl ConnectService {
    /// Re-queues a person's parked work when they reconnect.
    pub fn with_resume(mut self, parked: Arc<dyn ParkedWork>, queue: Arc<dyn WorkQueue>) -> Self {
        self.resume = Some((parked, queue));
        self
    }

    fn provider(&self, kind: ProviderKind) -> Result<&Arc<dyn Provider>, ConnectError> {
        self.providers
            .get(kind)
            .ok_or(ConnectError::UnknownProvider)
    }

    /// Our callback URL. `api_domain` is API Gateway's `requestContext.domainName`: set by
    /// API Gateway, not by the client, so it cannot be spoofed with a Host header.
    fn redirect_uri(
        &self,
        kind: ProviderKind,
        api_domain: Option<&str>,
    ) -> Result<String, ConnectError> {
        let base = match (&self.settings.public_base_url, api_domain) {
            (Some(url), _) => url.as_str().trim_end_matches('/').to_owned(),
            (None, Some(domain)) if !domain.is_empty() => format!("https://{domain}"),
            (None, _) => return Err(ConnectError::NoPublicBaseUrl),
        };
        Ok(format!("{base}/oauth/callback/{kind}"))
    }

    /// `GET /connect/{provider}`: checks the link, stores a single-use state bound to a
    /// PKCE verifier, the link and the browser, and returns where to send the person.
    /// `browser`: the binding the browser already holds, kept so that attempts in two tabs
    /// do not undo each other; a new one otherwise.
    pub async fn start(
        &self,
        kind: ProviderKind,
        link: &LinkParams,
        api_domain: Option<&str>,
        browser: Option<&str>,
    ) -> Result<Started, ConnectError> {
        let provider = self.provider(kind)?;
        let now = self.clock.now();
        let link = if link.is_empty() {
            if self.settings.require_signed_links {
                return Err(LinkError::Required.into());
            }
            None
        } else {
            let key = self.link_keys.link_key().await?;
            connect_link::verify(&key, kind, link, now)?
        };
        if let Some(link) = &link {
            if self.attempts.link_used(&link.id, now).await? {
                return Err(LinkError::Used.into());
            }
        }
        let browser = match browser.filter(|b| well_formed_binding(b)) {
            Some(held) => Secret::new(held),
            None => Secret::new(pkce::new_state()),
        };
        let state = pkce::new_state();
        let verifier = pkce::new_verifier();
        let redirect_uri = self.redirect_uri(kind, api_domain)?;
        self.attempts
            .put(
                &state,
                &PendingAuthorization {
                    provider: kind,
                    code_verifier: verifier.clone(),
                    link,
                    redirect_uri: redirect_uri.clone(),
                    expires_at: now + STATE_LIFETIME,
                    browser_hash: binding_hash(browser.expose()),
                },
            )
            .await?;
        let url = provider
            .authorize_url(&AuthorizeRequest {
                state: &state,
                code_challenge: &pkce::challenge(&verifier),
                redirect_uri: &redirect_uri,
            })
            .await
            .map_err(ConnectError::AuthorizeUrl)?;
        Ok(Started { url, browser })
    }

    /// `GET /oauth/callback/{provider}`: finishes the connect.
    pub async fn complete(
        &self,
        kind: ProviderKind,
        params: &CallbackParams,
    ) -> Result<Connected, ConnectError> {
        let provider = self.provider(kind)?;
        let state = params.state.as_deref().ok_or(ConnectError::MissingState)?;
        let pending = self.attempts.take(state, self.clock.now()).await?;
        if pending.provider != kind {
            return Err(ConnectError::StateProviderMismatch);
        }
        let presented = params.browser.as_deref().map(binding_hash);
        let same_browser = presented
            .is_some_and(|hash| bool::from(hash.as_bytes().ct_eq(pending.browser_hash.as_bytes())));
        if !same_browser {
            return Err(ConnectError::OtherBrowser);
        }
        if let Some(error) = params.error.as_deref() {
            return Err(if error == "access_denied" {
                ConnectError::Denied
            } else {
                // Only a short, printable error code goes to the log.
                ConnectError::ProviderRefused(
                    error
                        .chars()
                        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .take(40)
                        .collect(),
                )
            });
        }
        let code = params
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or(ConnectError::MissingCode)?;
        let Some(link) = pending.link.clone() else {
            return self.finish(kind, provider, code, pending).await;
        };
        // The attempt's own random state names the holder: unique to this callback.
        let holder = binding_hash(state);
        if !self.attempts.use_link(&link, &holder).await? {
            return Err(LinkError::Used.into());
        }
        let finished = self.finish(kind, provider, code, pending).await;
        if finished.is_err() {
            self.give_back(&link, &holder).await;
        }
        finished
    }

    /// A link whose connect did not finish can be used again. Best effort: if this fails,
    /// the person asks for a new link.
    async fn give_back(&self, link: &VerifiedLink, holder: &str) {
        if let Err(e) = self.attempts.give_back_link(&link.id, holder).await {
            tracing::warn!(error = %e, "a connect link could not be given back");
        }
    }

    /// The callback past its checks: tokens, identity, contact, connection, subscriptions.
    async fn finish(
        &self,
        kind: ProviderKind,
        provider: &Arc<dyn Provider>,
        code: &str,
        pending: PendingAuthorization,
    ) -> Result<Connected, ConnectError> {
        let grant = provider
            .exchange_code(code, &pending.code_verifier, &pending.redirect_uri)
            .await
            .map_err(ConnectError::TokenExchange)?;
        // From here on the provider has issued new tokens, which (where refresh tokens are
        // single-use) invalidate the ones we may hold from an earlier connect: if we
        // cannot finish, still keep them.
        let person = match provider.identify(&grant).await {
            Ok(person) => person,
            Err(e) => {
                if let Some(user_id) = &grant.user_id {
                    self.keep_new_tokens(kind, user_id, &grant.tokens).await?;
                }
                return Err(ConnectError::Profile(e));
            }
        };
        let user_id = person.user_id;
        let tokens = grant.tokens;
        let profile = person.profile;
        // A reconnect's new tokens are stored before anything slow follows (SAP): should
        // the invocation run out of time, they are not lost with it.
        self.keep_new_tokens(kind, &user_id, &tokens).await?;
        let previous = self.connections.get(&PersonKey::of(kind, &user_id)).await?;
        let predecessor = self
            .predecessor(kind, person.legacy_user_id.as_ref())
            .await?;
        // The customer record the account is tied to already, if any.
        let tied_to = previous
            .as_ref()
            .and_then(|c| c.customer_ref.clone())
            .or_else(|| predecessor.as_ref()?.customer_ref.clone());
        if let Some(link) = &pending.link {
            let refused = link_refusal(link, person.legacy_user_id.as_ref(), tied_to.as_deref());
            if let Some(refusal) = refused {
                if previous.is_none() {
                    // The grant was made for this connect only: end it at the provider.
                    if let Err(e) = provider.revoke(&tokens).await {
                        tracing::info!(provider = %kind, error = %e,
                            "the grant of a refused connect could not be revoked");
                    }
                }
                return Err(refusal.into());
            }
        }
        let contact = match &previous {
            Some(existing) => existing.contact.clone(),
            None => self.new_contact(kind, &user_id, predecessor.as_ref()),
        };
        // A migrating person keeps the customer record their earlier connect was tied to.
        let customer_ref = pending.link.and_then(|link| link.customer_ref).or(tied_to);
        let upsert = self
            .marketing
            .upsert_contact(&ContactRecord {
                key: contact.clone(),
                profile: profile.clone(),
                customer_ref: customer_ref.clone(),
                changed_at: self.clock.now(),
            })
            .await;
        upsert?;

        let timezone = profile.timezone.clone();
        let version = self
            .connections
            .save_connected(&Connection {
                provider: kind,
                user_id: user_id.clone(),
                tokens: tokens.clone(),
                status: ConnectionStatus::Active,
                contact,
                customer_ref,
                timezone: profile.timezone,
                subscriptions: Default::default(),
                version: 0,
                consented_at: None,
            })
            .await?;
        if version == 1 {
            metrics::counter!(metric::SIGN_UPS, "Provider" => kind.to_string()).increment(1);
        }

        let subscriptions = provider
            .subscribe(
                &tokens.access_token,
                &user_id,
                &self.catalog.granted_collections(kind, &tokens.scopes),
            )
            .await;
        self.connections
            .set_subscriptions(&PersonKey::of(kind, &user_id), &subscriptions)
            .await?;
        let mut resumed = self.resume_parked(kind, &user_id, kind, &user_id).await;
        let migrated_from = match predecessor {
            Some(old) => {
                resumed += self
                    .resume_parked(old.provider, &old.user_id, kind, &user_id)
                    .await;
                // No disconnect flag: the person goes on, on the same contact.
                self.connections
                    .revoke(
                        &PersonKey::of(old.provider, &old.user_id),
                        Ending::Migrated { to: kind },
                        self.clock.now(),
                    )
                    .await?;
                tracing::info!(provider = %kind, user_id = %user_id, from = %old.provider,
                    legacy_user_id = %old.user_id, "person migrated; earlier connection retired");
                Some(old.provider)
            }
            None => None,
        };
        // A reconnect within a day finds its days imported already.
        let recently = previous
            .and_then(|c| c.consented_at)
            .is_some_and(|at| self.clock.now() - at < BACKFILL_AGAIN_AFTER);
        let backfilled = if recently {
            0
        } else {
            self.backfill(kind, &user_id, &tokens.scopes, timezone.as_deref())
                .await
        };
        Ok(Connected {
            user_id,
            reconnected: version > 1,
            subscriptions,
            resumed,
            backfilled,
            migrated_from,
        })
    }

    /// The person's connection at the provider this one succeeds, if they had one.
    async fn predecessor(
        &self,
        kind: ProviderKind,
        legacy_user_id: Option<&ProviderUserId>,
    ) -> Result<Option<Connection>, ConnectError> {
        let (Some(previous), Some(legacy)) = (self.catalog.predecessor(kind), legacy_user_id)
        else {
            return Ok(None);
        };
        Ok(self
            .connections
            .get(&PersonKey::of(previous, legacy))
            .await?)
    }

    /// The contact of a person not connected here before: the predecessor's (a
    /// migration: same contact, no duplicate, its imported days recognised), else a new
    /// one keyed by the person's id under the provider's contact origin. (A reconnect
    /// keeps the contact it fed.)
    fn new_contact(
        &self,
        kind: ProviderKind,
        user_id: &ProviderUserId,
        predecessor: Option<&Connection>,
    ) -> ContactKey {
        match predecessor {
            Some(old) => old.contact.clone(),
            None => ContactKey {
                origin: self.mappings.of(kind).contact_origin.clone(),
                id: user_id.0.clone(),
            },
        }
    }

    /// A connect that got new tokens: if the person was connected before, their stored
    /// tokens are replaced at once (the old pair may be dead already), whether or not the
    /// rest of the connect finishes.
    async fn keep_new_tokens(
        &self,
        kind: ProviderKind,
        user_id: &ProviderUserId,
        tokens: &TokenSet,
    ) -> Result<(), ConnectError> {
        if self
            .connections
            .replace_tokens_if_connected(&PersonKey::of(kind, user_id), tokens)
            .await?
        {
            tracing::info!(provider = %kind, user_id = %user_id,
                "reconnect: the new tokens replace the stored ones");
        }
        Ok(())
    }
}
