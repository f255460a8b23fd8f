//! The ledger of issued tokens a provider's authorization server keeps: every access and
//! refresh token it handed out, whom it speaks for, and whether it still counts.
//!
//! Invariants:
//! - A token stays in the ledger once issued; it only changes status, so a revoked,
//!   superseded or early-expired token is told apart from one that was never issued.
//! - Every token issued to a user is listed for them, oldest first (a grant's access token
//!   before its refresh token); tokens of other principals (service accounts) are not.
//! - Revoking a user revokes every token ever issued to them, and nothing else.
//! - An access token counts only while it is active and its lifetime has not ended on the
//!   sandbox clock.
//!
//! What a refresh token allows (single use with a grace window, reusable until revoked,
//! ...) is the provider's: the ledger only keeps its records. A provider without refresh
//! tokens (Polar) keeps a ledger of [`NoRefresh`] records, which cannot exist.

use std::collections::{BTreeSet, HashMap};

use time::OffsetDateTime;

/// Whom an access token speaks for.
pub(crate) trait Principal {
    /// The user whose tokens it is listed under, if a user.
    fn user(&self) -> Option<&str>;
}

/// A user, by id.
impl Principal for String {
    fn user(&self) -> Option<&str> {
        Some(self)
    }
}

/// A provider's record of a refresh token.
pub(crate) trait RefreshRecord {
    /// The user it was issued to.
    fn user(&self) -> &str;
    /// Makes it unusable for good.
    fn revoke(&mut self);
}

/// The refresh records of a provider that issues no refresh tokens: there are none.
pub(crate) enum NoRefresh {}

impl RefreshRecord for NoRefresh {
    fn user(&self) -> &str {
        match *self {}
    }

    fn revoke(&mut self) {
        match *self {}
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AccessStatus {
    Active,
    /// Expired early through the admin API.
    Expired,
    /// Replaced by a newer grant (providers that keep one grant per user).
    Superseded,
    Revoked,
}

pub(crate) struct AccessToken<P> {
    pub(crate) principal: P,
    pub(crate) scopes: BTreeSet<String>,
    pub(crate) expires_at: OffsetDateTime,
    pub(crate) status: AccessStatus,
}

impl<P> AccessToken<P> {
    /// Active and within its lifetime.
    pub(crate) fn is_live(&self, now: OffsetDateTime) -> bool {
        self.status == AccessStatus::Active && now < self.expires_at
    }
}

/// Why an access token was refused; the principal for a token that was issued.
pub(crate) enum Refusal<'a, P> {
    /// Never issued.
    Unknown,
    /// Its lifetime ended, or the admin API expired it early.
    Expired(&'a P),
    /// Revoked or superseded.
    Invalid(&'a P),
}

/// Access tokens of principal `P` and the provider's refresh records `R`.
pub(crate) struct Ledger<P, R> {
    access: HashMap<String, AccessToken<P>>,
    refresh: HashMap<String, R>,
    /// User id → every token issued to them, oldest first.
    issued: HashMap<String, Vec<String>>,
}

impl<P, R> Default for Ledger<P, R> {
    fn default() -> Self {
        Ledger {
            access: HashMap::new(),
            refresh: HashMap::new(),
            issued: HashMap::new(),
        }
    }
}

impl<P: Principal, R: RefreshRecord> Ledger<P, R> {
    /// Records a new access token, active until `expires_at`.
    pub(crate) fn record_access(
        &mut self,
        token: &str,
        principal: P,
        scopes: BTreeSet<String>,
        expires_at: OffsetDateTime,
    ) {
        crate::issued::record(token);
        if let Some(user) = principal.user() {
            self.list_for(user, token);
        }
        self.access.insert(
            token.to_owned(),
            AccessToken {
                principal,
                scopes,
                expires_at,
                status: AccessStatus::Active,
            },
        );
    }

    /// Records a new refresh token.
    pub(crate) fn record_refresh(&mut self, token: &str, record: R) {
        crate::issued::record(token);
        self.list_for(record.user(), token);
        self.refresh.insert(token.to_owned(), record);
    }

    fn list_for(&mut self, user: &str, token: &str) {
        self.issued
            .entry(user.to_owned())
            .or_default()
            .push(token.to_owned());
    }

    /// Checks a bearer token: its record if it counts.
    pub(crate) fn authenticate(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<&AccessToken<P>, Refusal<'_, P>> {
        let Some(record) = self.access.get(token) else {
            return Err(Refusal::Unknown);
        };
        match record.status {
            AccessStatus::Superseded | AccessStatus::Revoked => {
                Err(Refusal::Invalid(&record.principal))
            }
            AccessStatus::Expired => Err(Refusal::Expired(&record.principal)),
            AccessStatus::Active if now >= record.expires_at => {
                Err(Refusal::Expired(&record.principal))
            }
            AccessStatus::Active => Ok(record),
        }
    }

    pub(crate) fn access(&self, token: &str) -> Option<&AccessToken<P>> {
        self.access.get(token)
    }

    /// Sets an access token's status; false if it was never issued.
    pub(crate) fn set_access_status(&mut self, token: &str, status: AccessStatus) -> bool {
        match self.access.get_mut(token) {
            Some(record) => {
                record.status = status;
                true
            }
            None => false,
        }
    }

    /// Expires every live access token of the user early; false if they had none.
    pub(crate) fn expire_live_access(&mut self, user: &str, now: OffsetDateTime) -> bool {
        let mut any = false;
        for record in self.access.values_mut() {
            if record.principal.user() == Some(user) && record.is_live(now) {
                record.status = AccessStatus::Expired;
                any = true;
            }
        }
        any
    }

    pub(crate) fn refresh(&self, token: &str) -> Option<&R> {
        self.refresh.get(token)
    }

    pub(crate) fn refresh_mut(&mut self, token: &str) -> Option<&mut R> {
        self.refresh.get_mut(token)
    }

    pub(crate) fn refresh_records(&self) -> impl Iterator<Item = &R> {
        self.refresh.values()
    }

    /// The user an access or refresh token was issued to, whatever its status.
    pub(crate) fn owner_of(&self, token: &str) -> Option<&str> {
        self.access
            .get(token)
            .and_then(|a| a.principal.user())
            .or_else(|| self.refresh.get(token).map(RefreshRecord::user))
    }

    /// Revokes every token ever issued to the user; false if they never had one.
    pub(crate) fn revoke_user(&mut self, user: &str) -> bool {
        let Some(issued) = self.issued.get(user) else {
            return false;
        };
        for token in issued {
            if let Some(access) = self.access.get_mut(token) {
                access.status = AccessStatus::Revoked;
            }
            if let Some(refresh) = self.refresh.get_mut(token) {
                refresh.revoke();
            }
        }
        true
    }

    /// Every token issued to the user, oldest first.
    pub(crate) fn issued_to(&self, user: &str) -> Vec<String> {
        self.issued.get(user).cloned().unwrap_or_default()
    }
}
