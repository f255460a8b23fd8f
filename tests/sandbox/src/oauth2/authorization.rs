//! The authorization step the providers share: an authorize request's PKCE parameters, the
//! scopes the consent screen grants, and the authorization codes it hands out and a token
//! request redeems (RFC 6749 §4.1, RFC 7636).
//!
//! Invariants:
//! - A code is redeemed at most once: it leaves the store before any check of the token
//!   request, so a leaked code cannot be retried with guessed verifiers.
//! - A code lives [`CODE_LIFETIME`] on the sandbox clock.
//! - A code issued with an S256 challenge (Fitbit, Google) is redeemed only by a
//!   well-formed verifier whose digest is that challenge; a code issued without one (Polar,
//!   whose authorization server has no PKCE) matches no verifier, and its provider does not
//!   ask for one.
//!
//! What an authorize or token request answers when a check fails, and in which order the
//! checks run, is the provider's.

use std::collections::{BTreeSet, HashMap, HashSet};

use time::{Duration, OffsetDateTime};

use super::{is_s256_challenge, is_valid_verifier, pkce_s256, Params};

/// Authorization codes live 10 minutes, at Fitbit, Google and Polar alike.
pub(crate) const CODE_LIFETIME: Duration = Duration::minutes(10);

/// Why an authorize request's PKCE parameters were refused.
pub(crate) enum PkceRefusal {
    /// `code_challenge_method` is not `S256` (the sandboxes require PKCE with S256).
    NotS256,
    /// `code_challenge` is not a base64url SHA-256 digest.
    MalformedChallenge,
}

/// The S256 code challenge of an authorize request.
pub(crate) fn s256_challenge(params: &Params) -> Result<&str, PkceRefusal> {
    if params.get("code_challenge_method").map(String::as_str) != Some("S256") {
        return Err(PkceRefusal::NotS256);
    }
    let challenge = params
        .get("code_challenge")
        .map(String::as_str)
        .unwrap_or_default();
    if !is_s256_challenge(challenge) {
        return Err(PkceRefusal::MalformedChallenge);
    }
    Ok(challenge)
}

/// The scopes the consent screen grants: of the `requested` ones, those the user left
/// `ticked` (all if `None`) and those that cannot be unticked.
pub(crate) fn granted_scopes(
    requested: &BTreeSet<String>,
    ticked: Option<&BTreeSet<String>>,
    cannot_untick: impl Fn(&str) -> bool,
) -> BTreeSet<String> {
    requested
        .iter()
        .filter(|s| cannot_untick(s) || ticked.is_none_or(|t| t.contains(s.as_str())))
        .cloned()
        .collect()
}

/// A pending authorization code; `terms` is what the provider keeps beside.
pub(crate) struct AuthCode<T> {
    pub(crate) client_id: String,
    pub(crate) user: String,
    pub(crate) scopes: BTreeSet<String>,
    /// The S256 challenge of the authorize request; `None` for providers without PKCE.
    pub(crate) code_challenge: Option<String>,
    /// Set if the authorize request named one: the token request must repeat it.
    pub(crate) redirect_uri: Option<String>,
    pub(crate) expires_at: OffsetDateTime,
    pub(crate) terms: T,
}

impl<T> AuthCode<T> {
    pub(crate) fn is_expired(&self, now: OffsetDateTime) -> bool {
        now >= self.expires_at
    }

    /// The token request's `redirect_uri` repeats the authorize request's, if it named one.
    pub(crate) fn redirect_uri_matches(&self, given: Option<&String>) -> bool {
        self.redirect_uri
            .as_ref()
            .is_none_or(|expected| given == Some(expected))
    }

    /// The code has a challenge, the verifier is well-formed and its S256 digest is the
    /// code's challenge.
    pub(crate) fn verifier_matches(&self, verifier: &str) -> bool {
        crate::issued::record(verifier);
        self.code_challenge.as_deref().is_some_and(|challenge| {
            is_valid_verifier(verifier) && pkce_s256(verifier) == challenge
        })
    }
}

/// What a token request's code turned out to be.
pub(crate) enum Redemption<T> {
    /// Pending until now, and taken out of the store.
    Pending(AuthCode<T>),
    /// Redeemed before.
    Redeemed,
    /// Never issued, or dropped with its user's grant.
    Unknown,
}

/// The codes handed out and not yet redeemed, and those redeemed.
pub(crate) struct Codes<T> {
    pending: HashMap<String, AuthCode<T>>,
    redeemed: HashSet<String>,
}

impl<T> Default for Codes<T> {
    fn default() -> Self {
        Codes {
            pending: HashMap::new(),
            redeemed: HashSet::new(),
        }
    }
}

impl<T> Codes<T> {
    pub(crate) fn issue(&mut self, code: &str, record: AuthCode<T>) {
        crate::issued::record(code);
        self.pending.insert(code.to_owned(), record);
    }

    /// Takes the code out of the store (whether the rest of the request passes or not).
    pub(crate) fn redeem(&mut self, code: &str) -> Redemption<T> {
        match self.pending.remove(code) {
            Some(record) => {
                self.redeemed.insert(code.to_owned());
                Redemption::Pending(record)
            }
            None if self.redeemed.contains(code) => Redemption::Redeemed,
            None => Redemption::Unknown,
        }
    }

    /// Drops the user's pending codes (their grant was revoked).
    pub(crate) fn drop_user(&mut self, user: &str) {
        self.pending.retain(|_, code| code.user != user);
    }
}
