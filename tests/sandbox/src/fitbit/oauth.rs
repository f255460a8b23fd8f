//! Fitbit's OAuth 2.0: `GET /oauth2/authorize`, `POST /oauth2/token`, `POST /oauth2/revoke`,
//! and the token store behind them and behind API authentication, on the shared kernel
//! ([`crate::oauth2`]).
//!
//! What is Fitbit's own: HTTP Basic client authentication on every token and revocation
//! request, access tokens that are HS256 JWTs, one token pair per user, and refresh tokens
//! that are single use, with a grace window in which an identical refresh request gets the
//! same answer again. Errors come in Fitbit's shape ([`ApiError`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State as AxumState};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;
use time::{Duration, OffsetDateTime};
use url::Url;

use super::error::{ApiError, OAUTH_DOCS};
use super::{ActiveTokens, FitbitConfig, FitbitSandbox, State, KNOWN_SCOPES};
use crate::oauth2::authorization::{
    granted_scopes, s256_challenge, AuthCode, Codes, PkceRefusal, Redemption, CODE_LIFETIME,
};
use crate::oauth2::ledger::{AccessStatus, Ledger, RefreshRecord, Refusal};
use crate::oauth2::{
    self, escape_html, is_registered, is_valid_verifier, redirect_target, request_params, Params,
};
use crate::{counters, random};

/// A successful token response, exactly as `/oauth2/token` sends it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenGrant {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    pub token_type: String,
    pub user_id: String,
}

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
pub(super) struct Tokens {
    codes: Codes<()>,
    ledger: Ledger<String, RefreshToken>,
    active: HashMap<String, ActiveTokens>,
}

impl Tokens {
    /// Issues a new pair, replacing the user's active one.
    pub(super) fn issue_pair(
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
    fn refresh(
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
    pub(super) fn authenticate(
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

    pub(super) fn expire_active(&mut self, user_id: &str) -> bool {
        let Some(pair) = self.active.get(user_id) else {
            return false;
        };
        self.ledger
            .set_access_status(&pair.access_token, AccessStatus::Expired)
    }

    /// Revokes every token and pending code of the user. False if they never had a token.
    pub(super) fn revoke_user(&mut self, user_id: &str) -> bool {
        self.active.remove(user_id);
        self.codes.drop_user(user_id);
        self.ledger.revoke_user(user_id)
    }

    pub(super) fn issued_to(&self, user_id: &str) -> Vec<String> {
        self.ledger.issued_to(user_id)
    }

    pub(super) fn active_pair(&self, user_id: &str) -> Option<ActiveTokens> {
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

/// The authorization server shows an error page, not a redirect, when it cannot trust the
/// request (RFC 6749 §4.1.2.1); we do the same for every malformed authorize request.
fn error_page(message: &str) -> Response {
    let escaped = escape_html(message);
    let page = format!(
        "<!DOCTYPE html><html><head><title>Fitbit - Bad Request</title></head>\
         <body><h1>The app you're trying to connect did not provide valid information to Fitbit.</h1>\
         <p>{escaped}</p></body></html>"
    );
    (StatusCode::BAD_REQUEST, Html(page)).into_response()
}

pub(super) async fn authorize(
    AxumState(sandbox): AxumState<Arc<FitbitSandbox>>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = request_params(query.as_deref(), &[]);
    oauth2::authorize_answer(sandbox.authorize(&params), |problem| error_page(&problem))
}

pub(super) async fn token(
    AxumState(sandbox): AxumState<Arc<FitbitSandbox>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let params = request_params(query.as_deref(), &body);
    let grant_type = oauth2::grant_type_label(&params);
    let mut st = sandbox.lock();
    let result = sandbox.token_grant(&mut st, &headers, &params);
    let outcome = match &result {
        Ok((_, true)) => "replayed",
        Ok((_, false)) => "ok",
        Err(error) => error.error_type,
    };
    oauth2::count_token_request(&mut st.stats.token_requests, grant_type, outcome);
    match &result {
        Ok((grant, false)) if grant_type == "refresh_token" => {
            counters::bump(&mut st.stats.refreshes, &grant.user_id);
        }
        Ok((grant, true)) => counters::bump(&mut st.stats.refresh_replays, &grant.user_id),
        _ => {}
    }
    drop(st);
    tracing::debug!(grant_type, outcome, "fitbit sandbox: token request");
    match result {
        Ok((grant, _)) => oauth2::token_answer(grant, "no-store"),
        Err(error) => error.into_response(),
    }
}

pub(super) async fn revoke(
    AxumState(sandbox): AxumState<Arc<FitbitSandbox>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let params = request_params(query.as_deref(), &body);
    match sandbox.revoke_token(&headers, &params) {
        Ok(()) => Json(json!({})).into_response(),
        Err(error) => error.into_response(),
    }
}

impl FitbitSandbox {
    /// Validates an authorize request and answers for the configured consent: the
    /// redirect location, or the reason for an error page.
    fn authorize(&self, params: &Params) -> Result<String, String> {
        let param = |name: &str| params.get(name).map(String::as_str);
        let client_id = param("client_id").unwrap_or_default();
        if client_id != self.config.client_id {
            return Err(format!("Invalid client_id: {client_id}"));
        }
        if param("response_type") != Some("code") {
            return Err(
                "Invalid response_type: this client may only use response_type=code.".to_owned(),
            );
        }
        let (mut location, given_redirect_uri) = self.redirect_uri(param("redirect_uri"))?;
        let requested: BTreeSet<String> = param("scope")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if requested.is_empty() {
            return Err("Missing scope.".to_owned());
        }
        if let Some(unknown) = requested
            .iter()
            .find(|s| !KNOWN_SCOPES.contains(&s.as_str()))
        {
            return Err(format!("Invalid scope: {unknown}"));
        }
        let code_challenge = s256_challenge(params).map_err(|refusal| {
            match refusal {
                PkceRefusal::NotS256 => "PKCE is required: code_challenge_method must be S256.",
                PkceRefusal::MalformedChallenge => {
                    "PKCE is required: code_challenge must be a base64url SHA-256 digest."
                }
            }
            .to_owned()
        })?;

        let mut st = self.lock();
        let consent = st.consent.clone();
        st.ensure_user(&consent.user_id);
        {
            let mut query = location.query_pairs_mut();
            if consent.deny {
                st.stats.consent_denials += 1;
                query
                    .append_pair("error", "access_denied")
                    .append_pair("error_description", "The user denied the request.");
            } else {
                let ticked: Option<BTreeSet<String>> = consent
                    .grant_scopes
                    .as_ref()
                    .map(|s| s.iter().cloned().collect());
                let code = random::hex(20);
                let expires_at = st.now() + CODE_LIFETIME;
                st.tokens.codes.issue(
                    &code,
                    AuthCode {
                        client_id: client_id.to_owned(),
                        user: consent.user_id.clone(),
                        // Fitbit lets the user untick any scope.
                        scopes: granted_scopes(&requested, ticked.as_ref(), |_| false),
                        code_challenge: code_challenge.to_owned(),
                        redirect_uri: given_redirect_uri,
                        expires_at,
                        terms: (),
                    },
                );
                counters::bump(&mut st.stats.authorizations, &consent.user_id);
                query.append_pair("code", &code);
            }
            if let Some(state) = param("state") {
                query.append_pair("state", state);
            }
        }
        // Fitbit appends this empty fragment to every redirect.
        location.set_fragment(Some("_=_"));
        tracing::debug!(user_id = %consent.user_id, denied = consent.deny, "fitbit sandbox: authorization");
        Ok(location.to_string())
    }

    /// The redirect target and, if the request named one, the URI the token request must
    /// repeat.
    fn redirect_uri(&self, given: Option<&str>) -> Result<(Url, Option<String>), String> {
        let registered = &self.config.redirect_uris;
        let uri = match given {
            Some(uri) if is_registered(registered, uri) => uri,
            Some(uri) => {
                return Err(format!(
                    "Invalid redirect_uri: {uri} is not registered for this application."
                ))
            }
            None if registered.len() == 1 => &registered[0],
            None => return Err("Missing redirect_uri.".to_owned()),
        };
        Ok((redirect_target(uri)?, given.map(str::to_owned)))
    }

    /// HTTP Basic client authentication, required even with PKCE for server apps.
    fn authenticate_client(&self, headers: &HeaderMap, params: &Params) -> Result<(), ApiError> {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return Err(ApiError::invalid_client(format!(
                "Authorization header required. The client must authenticate with HTTP Basic. {OAUTH_DOCS}"
            )));
        };
        let bad_format = || {
            ApiError::invalid_client(format!(
                "Invalid authorization header format. The header was not recognized to be a valid header \
                 for any of known implementations. {OAUTH_DOCS}"
            ))
        };
        let decoded = oauth2::basic_credentials(value).ok_or_else(bad_format)?;
        let (client_id, secret) = decoded.split_once(':').ok_or_else(bad_format)?;
        if client_id != self.config.client_id
            || params.get("client_id").is_some_and(|id| id != client_id)
        {
            return Err(ApiError::invalid_client(format!(
                "Invalid authorization header. Client id invalid. {OAUTH_DOCS}"
            )));
        }
        if secret != self.config.client_secret {
            return Err(ApiError::invalid_client(format!(
                "Invalid authorization header. Client secret invalid. {OAUTH_DOCS}"
            )));
        }
        Ok(())
    }

    /// Runs one token request. Returns the grant and whether it replays an earlier one.
    fn token_grant(
        &self,
        st: &mut State,
        headers: &HeaderMap,
        params: &Params,
    ) -> Result<(TokenGrant, bool), ApiError> {
        self.authenticate_client(headers, params)?;
        let now = st.now();
        // Fitbit lets clients ask for 1-hour tokens instead of 8-hour ones.
        let lifetime = match params.get("expires_in").map(String::as_str) {
            Some("3600") => self.config.access_token_lifetime_secs.min(3600),
            _ => self.config.access_token_lifetime_secs,
        };
        match params.get("grant_type").map(String::as_str) {
            None => Err(ApiError::missing_parameter("grant_type")),
            Some("authorization_code") => self
                .exchange_code(st, params, lifetime, now)
                .map(|grant| (grant, false)),
            Some("refresh_token") => {
                let token = params
                    .get("refresh_token")
                    .ok_or_else(|| ApiError::missing_parameter("refresh_token"))?;
                st.tokens.refresh(&self.config, token, lifetime, now)
            }
            Some(other) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("The grant_type value is not supported: {other}. {OAUTH_DOCS}"),
            )),
        }
    }

    fn exchange_code(
        &self,
        st: &mut State,
        params: &Params,
        lifetime: i64,
        now: OffsetDateTime,
    ) -> Result<TokenGrant, ApiError> {
        let code = params
            .get("code")
            .ok_or_else(|| ApiError::missing_parameter("code"))?;
        let verifier = params
            .get("code_verifier")
            .ok_or_else(|| ApiError::missing_parameter("code_verifier"))?;
        if !is_valid_verifier(verifier) {
            return Err(ApiError::invalid_request(format!(
                "Invalid code_verifier: it must be 43 to 128 characters of [A-Za-z0-9-._~]. {OAUTH_DOCS}"
            )));
        }
        let Redemption::Pending(record) = st.tokens.codes.redeem(code) else {
            return Err(ApiError::invalid_grant(format!(
                "Authorization code invalid: {code} {OAUTH_DOCS}"
            )));
        };
        if record.is_expired(now) {
            return Err(ApiError::invalid_grant(format!(
                "Authorization code expired: {code} {OAUTH_DOCS}"
            )));
        }
        if record.client_id != self.config.client_id {
            return Err(ApiError::invalid_grant(format!(
                "Authorization code invalid: {code} {OAUTH_DOCS}"
            )));
        }
        if !record.redirect_uri_matches(params.get("redirect_uri")) {
            return Err(ApiError::invalid_grant(format!(
                "Invalid redirect_uri parameter value: it must match the authorization request. {OAUTH_DOCS}"
            )));
        }
        if !record.verifier_matches(verifier) {
            return Err(ApiError::invalid_grant(format!(
                "Invalid code_verifier: it does not match the code_challenge. {OAUTH_DOCS}"
            )));
        }
        Ok(st
            .tokens
            .issue_pair(&self.config, &record.user, record.scopes, lifetime, now))
    }

    fn revoke_token(&self, headers: &HeaderMap, params: &Params) -> Result<(), ApiError> {
        self.authenticate_client(headers, params)?;
        let token = params
            .get("token")
            .ok_or_else(|| ApiError::missing_parameter("token"))?;
        let mut st = self.lock();
        // Unknown tokens are fine (RFC 7009): the client's goal is reached either way.
        if let Some(user_id) = st.tokens.ledger.owner_of(token).map(str::to_owned) {
            st.revoke_user(&user_id);
            tracing::debug!(%user_id, "fitbit sandbox: tokens revoked");
        }
        Ok(())
    }
}
