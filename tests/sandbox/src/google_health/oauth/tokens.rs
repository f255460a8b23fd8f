//! Google's token store on the kernel's codes and ledger: who a token speaks for (users and
//! service accounts), reusable refresh tokens, and the scopes each user has granted the app.
//!
//! Invariants: Google remembers a user's granted scopes until their grant is revoked, and a
//! new consent only adds to them; a refresh token stays usable until it is revoked or, in
//! the "Testing" publishing status, has lived its lifetime; tokens look like Google's
//! (`ya29.…`, `1//0…`, `4/0…`) and are opaque.

use std::collections::{BTreeSet, HashMap};

use time::{Duration, OffsetDateTime};

use super::{id_token, TokenGrant};
use crate::google_health::{scopes, GoogleHealthConfig, GoogleUser};
use crate::oauth2::authorization::Codes;
use crate::oauth2::ledger::{self, Ledger, RefreshRecord, Refusal};
use crate::{oauth2, random};

/// Google's opaque tokens: a fixed prefix (`ya29.`, `1//0`, `4/0`) and random base64url.
pub(super) fn random_token(prefix: &str, bytes: usize) -> String {
    format!("{prefix}{}", random::base64url(bytes))
}

/// Who a token speaks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(in crate::google_health) enum Principal {
    User(String),
    ServiceAccount { email: String, project_id: String },
}

impl ledger::Principal for Principal {
    fn user(&self) -> Option<&str> {
        match self {
            Principal::User(user) => Some(user),
            Principal::ServiceAccount { .. } => None,
        }
    }
}

/// Google's refresh tokens are reusable until revoked (or, in the "Testing" publishing
/// status, until they are too old).
pub(super) struct RefreshToken {
    pub(super) user: String,
    pub(super) scopes: BTreeSet<String>,
    issued_at: OffsetDateTime,
    revoked: bool,
}

impl RefreshToken {
    pub(super) fn is_alive(&self, config: &GoogleHealthConfig, now: OffsetDateTime) -> bool {
        let lifetime = Duration::seconds(config.testing_refresh_token_lifetime_secs);
        let expired = config.testing_mode && now - self.issued_at >= lifetime;
        !self.revoked && !expired
    }
}

impl RefreshRecord for RefreshToken {
    fn user(&self) -> &str {
        &self.user
    }

    fn revoke(&mut self) {
        self.revoked = true;
    }
}

/// What a Google authorization code carries beside the kernel's record.
pub(super) struct CodeTerms {
    /// The token response brings a refresh token (offline access on the consent screen).
    pub(super) issue_refresh: bool,
    /// Echoed in the ID token.
    pub(super) nonce: Option<String>,
}

/// Why a bearer token was refused.
pub(in crate::google_health) enum AuthFailure {
    Unknown,
    Expired,
    Revoked,
}

/// All codes and tokens, and the scopes each user has granted the app.
#[derive(Default)]
pub(in crate::google_health) struct Tokens {
    pub(super) codes: Codes<CodeTerms>,
    pub(super) ledger: Ledger<Principal, RefreshToken>,
    /// Scopes each user has granted the app (Google remembers them per client).
    consented: HashMap<String, BTreeSet<String>>,
}

impl Tokens {
    pub(in crate::google_health) fn consented(&self, user: &str) -> BTreeSet<String> {
        self.consented.get(user).cloned().unwrap_or_default()
    }

    pub(in crate::google_health) fn consent(&mut self, user: &str, scopes: &BTreeSet<String>) {
        self.consented
            .entry(user.to_owned())
            .or_default()
            .extend(scopes.iter().cloned());
    }

    pub(super) fn has_live_refresh(
        &self,
        user: &str,
        config: &GoogleHealthConfig,
        now: OffsetDateTime,
    ) -> bool {
        self.ledger
            .refresh_records()
            .any(|r| r.user == user && r.is_alive(config, now))
    }

    pub(super) fn issue_access(
        &mut self,
        principal: Principal,
        scopes: BTreeSet<String>,
        lifetime_secs: i64,
        now: OffsetDateTime,
        service_account: bool,
    ) -> String {
        let prefix = if service_account {
            "ya29.c.c0"
        } else {
            "ya29.a0"
        };
        let token = random_token(prefix, 96);
        self.ledger.record_access(
            &token,
            principal,
            scopes,
            now + Duration::seconds(lifetime_secs),
        );
        token
    }

    /// Issues an access token (and a refresh token if `with_refresh`) for the user.
    pub(in crate::google_health) fn issue_user_grant(
        &mut self,
        config: &GoogleHealthConfig,
        user: &GoogleUser,
        scopes: BTreeSet<String>,
        with_refresh: bool,
        nonce: Option<&str>,
        now: OffsetDateTime,
    ) -> TokenGrant {
        let lifetime = config.access_token_lifetime_secs;
        let access_token = self.issue_access(
            Principal::User(user.health_user_id.clone()),
            scopes.clone(),
            lifetime,
            now,
            false,
        );
        let refresh_token = with_refresh.then(|| {
            let token = random_token("1//0", 72);
            self.ledger.record_refresh(
                &token,
                RefreshToken {
                    user: user.health_user_id.clone(),
                    scopes: scopes.clone(),
                    issued_at: now,
                    revoked: false,
                },
            );
            token
        });
        let id_token = scopes
            .contains(scopes::OPENID)
            .then(|| id_token(config, user, &scopes, &access_token, nonce, now));
        TokenGrant {
            access_token,
            expires_in: lifetime,
            refresh_token,
            scope: oauth2::scope_string(&scopes),
            token_type: "Bearer".to_owned(),
            id_token,
        }
    }

    /// Checks a bearer token; returns its principal and scopes.
    pub(in crate::google_health) fn authenticate(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<(Principal, BTreeSet<String>), AuthFailure> {
        match self.ledger.authenticate(token, now) {
            Ok(record) => Ok((record.principal.clone(), record.scopes.clone())),
            Err(Refusal::Unknown) => Err(AuthFailure::Unknown),
            Err(Refusal::Expired(_)) => Err(AuthFailure::Expired),
            Err(Refusal::Invalid(_)) => Err(AuthFailure::Revoked),
        }
    }

    pub(in crate::google_health) fn expire_user_access(
        &mut self,
        user: &str,
        now: OffsetDateTime,
    ) -> bool {
        self.ledger.expire_live_access(user, now)
    }

    /// Revokes the user's grant: every token, pending code and the remembered consent.
    /// False if the user never had a token.
    pub(in crate::google_health) fn revoke_user(&mut self, user: &str) -> bool {
        self.codes.drop_user(user);
        self.consented.remove(user);
        self.ledger.revoke_user(user)
    }

    pub(in crate::google_health) fn issued_to(&self, user: &str) -> Vec<String> {
        self.ledger.issued_to(user)
    }
}
