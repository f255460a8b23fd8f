//! Fitbit's token store on the kernel's codes and ledger: one token pair per user, access
//! tokens that are HS256 JWTs, and single-use refresh tokens with a grace window.
//!
//! Invariants:
//! - A user has at most one active pair; issuing a new one supersedes the old (its access
//!   token answers `invalid_token`, its refresh token is dead).
//! - A refresh token rotates once. Within the grace window, and until the new pair's access
//!   token is used, the same refresh request gets the same answer again (a replay); after
//!   that it is invalid.

use std::collections::{BTreeSet, HashMap};

use axum::http::StatusCode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use time::{Duration, OffsetDateTime};

use super::TokenGrant;
use crate::fitbit::error::{ApiError, OAUTH_DOCS};
use crate::fitbit::{ActiveTokens, FitbitConfig};
use crate::oauth2::authorization::Codes;
use crate::oauth2::ledger::{AccessStatus, Ledger, RefreshRecord, Refusal};
use crate::{oauth2, random};

enum RefreshStatus {
    Active,
    /// Used once. Until the successor pair is used, and within the grace window, the same
    /// request gets the same response: Fitbit's allowance for retries after a lost response.
    Rotated {
        at: OffsetDateTime,
        successor: String,
        response: TokenGrant,
    },
    Revoked,
}

struct RefreshToken {
    user_id: String,
    scopes: BTreeSet<String>,
    status: RefreshStatus,
    /// The access token issued with it was used: a grace-window replay is over.
    pair_used: bool,
}

impl RefreshRecord for RefreshToken {
    fn user(&self) -> &str {
        &self.user_id
    }

    fn revoke(&mut self) {
        self.status = RefreshStatus::Revoked;
    }
}

/// All codes and tokens. Invariant: a user has at most one active pair, recorded in
/// `active`; an access token is active only while it is its user's active pair's.
#[derive(Default)]
pub(in crate::fitbit) struct Tokens {
    pub(super) codes: Codes<()>,
    ledger: Ledger<String, RefreshToken>,
    active: HashMap<String, ActiveTokens>,
}

impl Tokens {
    /// Issues a new pair, replacing the user's active one.
    pub(in crate::fitbit) fn issue_pair(
        &mut self,
        config: &FitbitConfig,
        user_id: &str,
        scopes: BTreeSet<String>,
        lifetime_secs: i64,
        now: OffsetDateTime,
    ) -> TokenGrant {
        self.supersede(user_id);
        let access_token = access_token_jwt(config, user_id, &scopes, lifetime_secs, now);
        let refresh_token = random::hex(32);
        let grant = TokenGrant {
            access_token: access_token.clone(),
            expires_in: lifetime_secs,
            refresh_token: refresh_token.clone(),
            scope: oauth2::scope_string(&scopes),
            token_type: "Bearer".to_owned(),
            user_id: user_id.to_owned(),
        };
        self.ledger.record_access(
            &access_token,
            user_id.to_owned(),
            scopes.clone(),
            now + Duration::seconds(lifetime_secs),
        );
        self.ledger.record_refresh(
            &refresh_token,
            RefreshToken {
                user_id: user_id.to_owned(),
                scopes,
                status: RefreshStatus::Active,
                pair_used: false,
            },
        );
        self.active.insert(
            user_id.to_owned(),
            ActiveTokens {
                access_token,
                refresh_token,
            },
        );
        grant
    }

    fn supersede(&mut self, user_id: &str) {
        let Some(pair) = self.active.remove(user_id) else {
            return;
        };
        self.ledger
            .set_access_status(&pair.access_token, AccessStatus::Superseded);
        if let Some(refresh) = self.ledger.refresh_mut(&pair.refresh_token) {
            refresh.revoke();
        }
    }

    /// The `refresh_token` grant. Returns the grant and whether it is a grace-window replay.
    pub(super) fn refresh(
        &mut self,
        config: &FitbitConfig,
        token: &str,
        lifetime_secs: i64,
        now: OffsetDateTime,
    ) -> Result<(TokenGrant, bool), ApiError> {
        let invalid =
            || ApiError::invalid_grant(format!("Refresh token invalid: {token}. {OAUTH_DOCS}"));
        let record = self.ledger.refresh(token).ok_or_else(invalid)?;
        match &record.status {
            RefreshStatus::Revoked => Err(invalid()),
            RefreshStatus::Rotated {
                at,
                successor,
                response,
            } => {
                let successor_unused = self
                    .ledger
                    .refresh(successor)
                    .is_some_and(|s| matches!(s.status, RefreshStatus::Active) && !s.pair_used);
                if successor_unused && now - *at <= Duration::seconds(config.refresh_grace_secs) {
                    Ok((response.clone(), true))
                } else {
                    Err(invalid())
                }
            }
            RefreshStatus::Active => {
                let user_id = record.user_id.clone();
                let scopes = record.scopes.clone();
                let grant = self.issue_pair(config, &user_id, scopes, lifetime_secs, now);
                if let Some(old) = self.ledger.refresh_mut(token) {
                    old.status = RefreshStatus::Rotated {
                        at: now,
                        successor: grant.refresh_token.clone(),
                        response: grant.clone(),
                    };
                }
                Ok((grant, false))
            }
        }
    }

    /// Checks a bearer token. On failure, also names the token's user if known (for the
    /// rate-limit headers of the error response).
    pub(in crate::fitbit) fn authenticate(
        &mut self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<(String, BTreeSet<String>), (Option<String>, ApiError)> {
        let invalid = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                format!("Access token invalid: {token}. {OAUTH_DOCS}"),
            )
        };
        let expired = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "expired_token",
                format!("Access token expired: {token}. {OAUTH_DOCS}"),
            )
        };
        let (user_id, scopes) = match self.ledger.authenticate(token, now) {
            Ok(record) => (record.principal.clone(), record.scopes.clone()),
            Err(Refusal::Unknown) => return Err((None, invalid())),
            Err(Refusal::Invalid(user_id)) => return Err((Some(user_id.clone()), invalid())),
            Err(Refusal::Expired(user_id)) => return Err((Some(user_id.clone()), expired())),
        };
        // Using the active pair's access token ends the grace window of the refresh that
        // issued it.
        if let Some(pair) = self
            .active
            .get(&user_id)
            .filter(|p| p.access_token == token)
        {
            if let Some(refresh) = self.ledger.refresh_mut(&pair.refresh_token) {
                refresh.pair_used = true;
            }
        }
        Ok((user_id, scopes))
    }

    pub(in crate::fitbit) fn expire_active(&mut self, user_id: &str) -> bool {
        let Some(pair) = self.active.get(user_id) else {
            return false;
        };
        self.ledger
            .set_access_status(&pair.access_token, AccessStatus::Expired)
    }

    /// Revokes every token and pending code of the user. False if they never had a token.
    pub(in crate::fitbit) fn revoke_user(&mut self, user_id: &str) -> bool {
        self.active.remove(user_id);
        self.codes.drop_user(user_id);
        self.ledger.revoke_user(user_id)
    }

    /// The user an access or refresh token was issued to, whatever its status.
    pub(super) fn owner_of(&self, token: &str) -> Option<String> {
        self.ledger.owner_of(token).map(str::to_owned)
    }

    pub(in crate::fitbit) fn issued_to(&self, user_id: &str) -> Vec<String> {
        self.ledger.issued_to(user_id)
    }

    pub(in crate::fitbit) fn active_pair(&self, user_id: &str) -> Option<ActiveTokens> {
        self.active.get(user_id).cloned()
    }
}

/// Fitbit access tokens are HS256 JWTs; clients should treat them as opaque, but their
/// length and shape matter for storage and log scrubbing. `jti` keeps two tokens issued in
/// the same second distinct.
fn access_token_jwt(
    config: &FitbitConfig,
    user_id: &str,
    scopes: &BTreeSet<String>,
    lifetime_secs: i64,
    now: OffsetDateTime,
) -> String {
    let scope_claim = scopes
        .iter()
        .map(|s| format!("r{}", scope_abbreviation(s)))
        .collect::<Vec<_>>()
        .join(" ");
    let iat = now.unix_timestamp();
    let claims = json!({
        "aud": config.client_id,
        "sub": user_id,
        "iss": "Fitbit",
        "typ": "access_token",
        "scopes": scope_claim,
        "exp": iat + lifetime_secs,
        "iat": iat,
        "jti": random::hex(8),
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(config.client_secret.as_bytes())
        .expect("HMAC accepts any key length");
    mac.update(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// The short scope names inside Fitbit's JWTs (`ract`, `rsle`, ...).
fn scope_abbreviation(scope: &str) -> &str {
    match scope {
        "activity" => "act",
        "cardio_fitness" => "cf",
        "electrocardiogram" => "ecg",
        "heartrate" => "hr",
        "irregular_rhythm_notifications" => "irn",
        "location" => "loc",
        "nutrition" => "nut",
        "oxygen_saturation" => "spo2",
        "profile" => "pro",
        "respiratory_rate" => "res",
        "settings" => "set",
        "sleep" => "sle",
        "social" => "soc",
        "temperature" => "tem",
        "weight" => "wei",
        other => other,
    }
}
