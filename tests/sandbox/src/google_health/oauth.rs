//! Google OAuth 2.0: `GET /o/oauth2/v2/auth`, `POST /token` (authorization code, refresh
//! token and JWT bearer grants), `POST /revoke`, OpenID `GET /v1/userinfo`, the token store
//! behind them and behind API authentication, and service-account keys.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    KeyPair as _, RsaKeyPair, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};
use axum::body::Bytes;
use axum::extract::{RawQuery, State as AxumState};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use url::Url;

use super::error::{ApiError, OAuthError, NEVER_CACHE};
use super::{scopes, GoogleHealthConfig, GoogleHealthSandbox, GoogleUser, State};
use crate::oauth2::authorization::{
    granted_scopes, s256_challenge, AuthCode, Codes, PkceRefusal, Redemption, CODE_LIFETIME,
};
use crate::oauth2::ledger::{self, AccessStatus, Ledger, RefreshRecord, Refusal};
use crate::oauth2::{
    self, bearer_header, escape_html, is_registered, redirect_target, request_params, Params,
};
use crate::{counters, random};

/// The real token endpoint (the `aud` Google expects in JWT bearer assertions).
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A successful token response, exactly as `/token` sends it for user grants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenGrant {
    pub access_token: String,
    pub expires_in: i64,
    /// Only for offline access on the consent screen (first consent or `prompt=consent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Granted scopes, space-separated (`email`/`profile` in their long form).
    pub scope: String,
    pub token_type: String,
    /// Only if `openid` was granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// Scopes a user may be asked for: every `googlehealth.*` scope of the discovery document,
/// and the OpenID sign-in scopes. Returns the form Google reports in token responses.
pub(super) fn normalize_scope(scope: &str) -> Option<String> {
    match scope {
        "openid" => Some(scopes::OPENID.to_owned()),
        "email" | scopes::USERINFO_EMAIL => Some(scopes::USERINFO_EMAIL.to_owned()),
        "profile" | scopes::USERINFO_PROFILE => Some(scopes::USERINFO_PROFILE.to_owned()),
        _ if scope.starts_with("https://www.googleapis.com/auth/googlehealth.")
            && super::discovery().scopes().contains(&scope) =>
        {
            Some(scope.to_owned())
        }
        _ => None,
    }
}

fn is_sign_in_scope(scope: &str) -> bool {
    matches!(
        scope,
        scopes::OPENID | scopes::USERINFO_EMAIL | scopes::USERINFO_PROFILE
    )
}

/// Google's opaque tokens: a fixed prefix (`ya29.`, `1//0`, `4/0`) and random base64url.
fn random_token(prefix: &str, bytes: usize) -> String {
    format!("{prefix}{}", random::base64url(bytes))
}

/// Who a token speaks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Principal {
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
struct RefreshToken {
    user: String,
    scopes: BTreeSet<String>,
    issued_at: OffsetDateTime,
    revoked: bool,
}

impl RefreshToken {
    fn is_alive(&self, config: &GoogleHealthConfig, now: OffsetDateTime) -> bool {
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
struct CodeTerms {
    /// The token response brings a refresh token (offline access on the consent screen).
    issue_refresh: bool,
    /// Echoed in the ID token.
    nonce: Option<String>,
}

/// Why a bearer token was refused.
pub(super) enum AuthFailure {
    Unknown,
    Expired,
    Revoked,
}

/// All codes and tokens, and the scopes each user has granted the app.
#[derive(Default)]
pub(super) struct Tokens {
    codes: Codes<CodeTerms>,
    ledger: Ledger<Principal, RefreshToken>,
    /// Scopes each user has granted the app (Google remembers them per client).
    consented: HashMap<String, BTreeSet<String>>,
}

impl Tokens {
    pub(super) fn consented(&self, user: &str) -> BTreeSet<String> {
        self.consented.get(user).cloned().unwrap_or_default()
    }

    pub(super) fn consent(&mut self, user: &str, scopes: &BTreeSet<String>) {
        self.consented
            .entry(user.to_owned())
            .or_default()
            .extend(scopes.iter().cloned());
    }

    fn has_live_refresh(
        &self,
        user: &str,
        config: &GoogleHealthConfig,
        now: OffsetDateTime,
    ) -> bool {
        self.ledger
            .refresh_records()
            .any(|r| r.user == user && r.is_alive(config, now))
    }

    fn issue_access(
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
    pub(super) fn issue_user_grant(
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
    pub(super) fn authenticate(
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

    pub(super) fn expire_user_access(&mut self, user: &str, now: OffsetDateTime) -> bool {
        self.ledger.expire_live_access(user, now)
    }

    /// Revokes the user's grant: every token, pending code and the remembered consent.
    /// False if the user never had a token.
    pub(super) fn revoke_user(&mut self, user: &str) -> bool {
        self.codes.drop_user(user);
        self.consented.remove(user);
        self.ledger.revoke_user(user)
    }

    pub(super) fn issued_to(&self, user: &str) -> Vec<String> {
        self.ledger.issued_to(user)
    }
}

/// An OpenID Connect ID token. Its RS256 signature is 256 zero bytes: well-formed, but not
/// verifiable (the sandbox serves no JWKS).
fn id_token(
    config: &GoogleHealthConfig,
    user: &GoogleUser,
    scopes: &BTreeSet<String>,
    access_token: &str,
    nonce: Option<&str>,
    now: OffsetDateTime,
) -> String {
    let iat = now.unix_timestamp();
    let digest = Sha256::digest(access_token.as_bytes());
    let mut claims = json!({
        "iss": "https://accounts.google.com",
        "azp": config.client_id,
        "aud": config.client_id,
        "sub": user.sub,
        "at_hash": URL_SAFE_NO_PAD.encode(&digest[..16]),
        "iat": iat,
        "exp": iat + 3600,
    });
    if scopes.contains(scopes::USERINFO_EMAIL) {
        claims["email"] = json!(user.email);
        claims["email_verified"] = json!(true);
    }
    if scopes.contains(scopes::USERINFO_PROFILE) {
        claims["name"] = json!(format!("{} {}", user.given_name, user.family_name));
        claims["given_name"] = json!(user.given_name);
        claims["family_name"] = json!(user.family_name);
        claims["picture"] = json!("https://lh3.googleusercontent.com/a/default-user=s96-c");
    }
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD
            .encode(br#"{"alg":"RS256","kid":"fitbridge-sandbox-unsigned","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode([0u8; 256])
    )
}

/// Google shows an error page, not a redirect, for requests it cannot trust or parse
/// ("Error 400: redirect_uri_mismatch", "Error 400: invalid_scope", ...).
fn error_page(status: StatusCode, error: &str, message: &str) -> Response {
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><title>Error {code}: {error}</title></head>\
         <body><h1>Access blocked: This app's request is invalid</h1>\
         <p id=\"error\">Error {code}: {error}</p><p id=\"details\">{message}</p></body></html>",
        code = status.as_u16(),
        error = escape_html(error),
        message = escape_html(message),
    );
    (status, Html(page)).into_response()
}

/// An authorize request the sandbox refuses with an error page.
struct PageError {
    status: StatusCode,
    error: &'static str,
    message: String,
}

fn page_error(error: &'static str, message: impl Into<String>) -> PageError {
    PageError {
        status: StatusCode::BAD_REQUEST,
        error,
        message: message.into(),
    }
}

pub(super) async fn authorize(
    AxumState(sandbox): AxumState<Arc<GoogleHealthSandbox>>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = request_params(query.as_deref(), &[]);
    match sandbox.authorize(&params) {
        Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
        Err(e) => error_page(e.status, e.error, &e.message),
    }
}

pub(super) async fn token(
    AxumState(sandbox): AxumState<Arc<GoogleHealthSandbox>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let params = request_params(query.as_deref(), &body);
    let grant_type = oauth2::grant_type_label(&params);
    let mut st = sandbox.lock();
    let result = sandbox.token_grant(&mut st, &headers, &params);
    let outcome = match &result {
        Ok(_) => "ok",
        Err(error) => error.error,
    };
    oauth2::count_token_request(&mut st.stats.token_requests, grant_type, outcome);
    drop(st);
    tracing::debug!(grant_type, outcome, "google health sandbox: token request");
    match result {
        Ok(body) => oauth2::token_answer(body, NEVER_CACHE),
        Err(error) => error.into_response(),
    }
}

pub(super) async fn revoke(
    AxumState(sandbox): AxumState<Arc<GoogleHealthSandbox>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let params = request_params(query.as_deref(), &body);
    let Some(token) = params.get("token") else {
        return OAuthError::invalid_request("Missing required parameter: token").into_response();
    };
    let mut st = sandbox.lock();
    let now = st.now();
    // An access token expired early through the admin API can still be revoked.
    let ledger = &st.tokens.ledger;
    let owner = ledger
        .access(token)
        .filter(|a| a.status != AccessStatus::Revoked && now < a.expires_at)
        .map(|a| a.principal.clone())
        .or_else(|| {
            ledger
                .refresh(token)
                .filter(|r| r.is_alive(&sandbox.config, now))
                .map(|r| Principal::User(r.user.clone()))
        });
    match owner {
        Some(Principal::User(user)) => {
            st.revoke_user(&user);
            drop(st);
            tracing::debug!(%user, "google health sandbox: grant revoked");
            Json(json!({})).into_response()
        }
        Some(Principal::ServiceAccount { .. }) => {
            st.tokens
                .ledger
                .set_access_status(token, AccessStatus::Revoked);
            Json(json!({})).into_response()
        }
        None => OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_token",
            "Token expired or revoked",
        )
        .into_response(),
    }
}

/// The bearer token of a request: the `Authorization` header, else the `access_token`
/// query parameter (Google accepts both).
pub(super) fn bearer_token<'a>(
    headers: &'a HeaderMap,
    query: &'a [(String, String)],
) -> Option<&'a str> {
    bearer_header(headers).or_else(|| {
        query
            .iter()
            .find(|(name, _)| name == "access_token" || name == "oauth_token")
            .map(|(_, value)| value.as_str())
    })
}

/// `GET /v1/userinfo` (OpenID Connect): `sub` always, email fields with the email scope,
/// name fields with the profile scope.
pub(super) async fn userinfo(
    AxumState(sandbox): AxumState<Arc<GoogleHealthSandbox>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let mut st = sandbox.lock();
    let now = st.now();
    let Some(token) = bearer_token(&headers, &query) else {
        return ApiError::unauthenticated("CREDENTIALS_MISSING").into_response();
    };
    let (principal, granted) = match st.tokens.authenticate(token, now) {
        Ok(ok) => ok,
        Err(AuthFailure::Expired) => {
            return ApiError::unauthenticated("ACCESS_TOKEN_EXPIRED").into_response()
        }
        Err(_) => return ApiError::unauthenticated("ACCESS_TOKEN_INVALID").into_response(),
    };
    let Principal::User(user_id) = principal else {
        return ApiError::insufficient_scopes("openidconnect.userinfo").into_response();
    };
    counters::bump(
        st.stats.api_calls.entry(user_id.clone()).or_default(),
        "openidconnect.userinfo",
    );
    if !granted.iter().any(|s| is_sign_in_scope(s)) {
        return ApiError::insufficient_scopes("openidconnect.userinfo").into_response();
    }
    st.ensure_user(&user_id);
    let user = &st.users[&user_id];
    let mut body = json!({ "sub": user.sub });
    if granted.contains(scopes::USERINFO_EMAIL) {
        body["email"] = json!(user.email);
        body["email_verified"] = json!(true);
    }
    if granted.contains(scopes::USERINFO_PROFILE) {
        body["name"] = json!(format!("{} {}", user.given_name, user.family_name));
        body["given_name"] = json!(user.given_name);
        body["family_name"] = json!(user.family_name);
        body["picture"] = json!("https://lh3.googleusercontent.com/a/default-user=s96-c");
    }
    Json(body).into_response()
}

impl GoogleHealthSandbox {
    /// Validates an authorize request and answers for the signed-in user's consent: the
    /// redirect location, or an error page.
    fn authorize(&self, params: &Params) -> Result<String, PageError> {
        let param = |name: &str| params.get(name).map(String::as_str);
        let client_id = param("client_id").unwrap_or_default();
        if client_id != self.config.client_id {
            return Err(PageError {
                status: StatusCode::UNAUTHORIZED,
                error: "invalid_client",
                message: "The OAuth client was not found.".to_owned(),
            });
        }
        let mut location = self.redirect_uri(param("redirect_uri"))?;
        if param("response_type") != Some("code") {
            return Err(page_error(
                "unsupported_response_type",
                format!(
                    "Invalid response_type: {}",
                    param("response_type").unwrap_or_default()
                ),
            ));
        }
        let requested_raw: Vec<&str> = param("scope")
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        if requested_raw.is_empty() {
            return Err(page_error(
                "invalid_request",
                "Missing required parameter: scope",
            ));
        }
        let mut requested = BTreeSet::new();
        for scope in &requested_raw {
            match normalize_scope(scope) {
                Some(scope) => {
                    requested.insert(scope);
                }
                None => {
                    return Err(page_error(
                        "invalid_scope",
                        format!("Some requested scopes were invalid. {{invalid=[{scope}]}}"),
                    ))
                }
            }
        }
        let offline = match param("access_type").unwrap_or("online") {
            "offline" => true,
            "online" => false,
            other => {
                return Err(page_error(
                    "invalid_request",
                    format!("Invalid access_type: {other}"),
                ))
            }
        };
        let prompts: BTreeSet<&str> = param("prompt")
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        if let Some(bad) = prompts
            .iter()
            .find(|p| !matches!(**p, "none" | "consent" | "select_account"))
        {
            return Err(page_error(
                "invalid_request",
                format!("Invalid prompt: {bad}"),
            ));
        }
        if prompts.contains("none") && prompts.len() > 1 {
            return Err(page_error(
                "invalid_request",
                "prompt=none must not be combined with other values.",
            ));
        }
        // Google accepts plain PKCE or none; this sandbox enforces what fitbridge must send.
        let code_challenge = s256_challenge(params).map_err(|refusal| {
            page_error(
                "invalid_request",
                match refusal {
                    PkceRefusal::NotS256 => {
                        "PKCE is required by this sandbox: code_challenge_method must be S256."
                    }
                    PkceRefusal::MalformedChallenge => {
                        "Invalid code_challenge: it must be a base64url SHA-256 digest (43 characters)."
                    }
                },
            )
        })?;
        let include_granted = param("include_granted_scopes") == Some("true");
        let redirect_uri = param("redirect_uri").unwrap_or_default().to_owned();

        let mut st = self.lock();
        let now = st.now();
        let user_id = param("login_hint")
            .and_then(|hint| {
                st.users
                    .values()
                    .find(|u| u.email.eq_ignore_ascii_case(hint) || u.health_user_id == hint)
                    .map(|u| u.health_user_id.clone())
            })
            .unwrap_or_else(|| st.signed_in.clone());
        st.ensure_user(&user_id);
        let consent = st
            .consents
            .get(&user_id)
            .cloned()
            .unwrap_or_else(|| super::Consent::allow_all(&user_id));
        let previously = st.tokens.consented(&user_id);
        let screen_shown = prompts.contains("consent") || !requested.is_subset(&previously);
        {
            let mut query = location.query_pairs_mut();
            if let Some(state) = param("state") {
                query.append_pair("state", state);
            }
            query.append_pair("iss", "https://accounts.google.com");
            if screen_shown && prompts.contains("none") {
                query.append_pair("error", "consent_required");
            } else if screen_shown && consent.deny {
                st.stats.consent_denials += 1;
                query.append_pair("error", "access_denied");
            } else {
                let mut granted: BTreeSet<String> = if screen_shown {
                    let ticked: Option<BTreeSet<String>> = consent.grant_scopes.as_ref().map(|s| {
                        s.iter()
                            .filter_map(|scope| normalize_scope(scope))
                            .collect()
                    });
                    granted_scopes(&requested, ticked.as_ref(), is_sign_in_scope)
                } else {
                    requested.clone()
                };
                st.tokens.consent(&user_id, &granted);
                if include_granted {
                    granted.extend(st.tokens.consented(&user_id));
                }
                let issue_refresh = offline
                    && (screen_shown || !st.tokens.has_live_refresh(&user_id, &self.config, now));
                let code = random_token("4/0", 54);
                st.tokens.codes.issue(
                    &code,
                    AuthCode {
                        client_id: client_id.to_owned(),
                        user: user_id.clone(),
                        scopes: granted.clone(),
                        code_challenge: code_challenge.to_owned(),
                        // Google requires it, so the token request must always repeat it.
                        redirect_uri: Some(redirect_uri.clone()),
                        expires_at: now + CODE_LIFETIME,
                        terms: CodeTerms {
                            issue_refresh,
                            nonce: param("nonce").map(str::to_owned),
                        },
                    },
                );
                counters::bump(&mut st.stats.authorizations, &user_id);
                query
                    .append_pair("code", &code)
                    .append_pair("scope", &oauth2::scope_string(&granted))
                    .append_pair("authuser", "0")
                    .append_pair("prompt", if screen_shown { "consent" } else { "none" });
            }
        }
        tracing::debug!(user = %user_id, denied = consent.deny, "google health sandbox: authorization");
        Ok(location.to_string())
    }

    /// The redirect target: registered URIs match exactly (empty list: any http(s) URI).
    fn redirect_uri(&self, given: Option<&str>) -> Result<Url, PageError> {
        let Some(uri) = given else {
            return Err(page_error(
                "invalid_request",
                "Missing required parameter: redirect_uri",
            ));
        };
        if !is_registered(&self.config.redirect_uris, uri) {
            return Err(page_error(
                "redirect_uri_mismatch",
                format!(
                    "You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 \
                     policy. redirect_uri={uri}"
                ),
            ));
        }
        redirect_target(uri).map_err(|message| page_error("invalid_request", message))
    }

    /// Client authentication: HTTP Basic or `client_id`/`client_secret` in the body.
    fn authenticate_client(&self, headers: &HeaderMap, params: &Params) -> Result<(), OAuthError> {
        let basic = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(oauth2::basic_credentials);
        let (client_id, secret) = match &basic {
            Some(decoded) => {
                let (id, secret) = decoded
                    .split_once(':')
                    .ok_or_else(|| OAuthError::invalid_client("Unauthorized"))?;
                (id.to_owned(), Some(secret.to_owned()))
            }
            None => (
                params.get("client_id").cloned().unwrap_or_default(),
                params.get("client_secret").cloned(),
            ),
        };
        if client_id.is_empty() {
            return Err(OAuthError::invalid_request(
                "Could not determine client ID from request.",
            ));
        }
        if client_id != self.config.client_id {
            return Err(OAuthError::invalid_client(
                "The OAuth client was not found.",
            ));
        }
        if secret.as_deref() != Some(self.config.client_secret.as_str()) {
            return Err(OAuthError::invalid_client("Unauthorized"));
        }
        Ok(())
    }

    /// Runs one token request; the JSON body of the answer.
    fn token_grant(
        &self,
        st: &mut State,
        headers: &HeaderMap,
        params: &Params,
    ) -> Result<Value, OAuthError> {
        let now = st.now();
        match params.get("grant_type").map(String::as_str) {
            Some("authorization_code") => {
                self.authenticate_client(headers, params)?;
                let grant = self.exchange_code(st, params, now)?;
                Ok(json!(grant))
            }
            Some("refresh_token") => {
                self.authenticate_client(headers, params)?;
                let token = params.get("refresh_token").ok_or_else(|| {
                    OAuthError::invalid_request("Missing required parameter: refresh_token")
                })?;
                let record = st
                    .tokens
                    .ledger
                    .refresh(token)
                    .filter(|r| r.is_alive(&self.config, now))
                    .ok_or_else(OAuthError::expired_or_revoked)?;
                let (user_id, scopes) = (record.user.clone(), record.scopes.clone());
                st.ensure_user(&user_id);
                let user = st.users[&user_id].clone();
                // Google keeps the refresh token: the answer carries no new one.
                let grant =
                    st.tokens
                        .issue_user_grant(&self.config, &user, scopes, false, None, now);
                counters::bump(&mut st.stats.refreshes, &user_id);
                Ok(json!(grant))
            }
            Some(JWT_BEARER) => {
                let assertion = params.get("assertion").ok_or_else(|| {
                    OAuthError::invalid_request("Missing required parameter: assertion")
                })?;
                let host = headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or_default();
                let (email, project_id, granted) =
                    st.service_accounts.verify_assertion(assertion, host, now)?;
                let token = st.tokens.issue_access(
                    Principal::ServiceAccount {
                        email: email.clone(),
                        project_id,
                    },
                    granted,
                    self.config.access_token_lifetime_secs,
                    now,
                    true,
                );
                counters::bump(&mut st.stats.service_account_tokens, &email);
                Ok(json!({
                    "access_token": token,
                    "expires_in": self.config.access_token_lifetime_secs,
                    "token_type": "Bearer",
                }))
            }
            None => Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Invalid grant_type: ",
            )),
            Some(other) => Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("Invalid grant_type: {other}"),
            )),
        }
    }

    fn exchange_code(
        &self,
        st: &mut State,
        params: &Params,
        now: OffsetDateTime,
    ) -> Result<TokenGrant, OAuthError> {
        let code = params
            .get("code")
            .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: code"))?;
        let record = match st.tokens.codes.redeem(code) {
            Redemption::Pending(record) => record,
            Redemption::Redeemed => return Err(OAuthError::invalid_grant("Bad Request")),
            Redemption::Unknown => return Err(OAuthError::invalid_grant("Malformed auth code.")),
        };
        if record.is_expired(now) || record.client_id != self.config.client_id {
            return Err(OAuthError::invalid_grant("Bad Request"));
        }
        if !record.redirect_uri_matches(params.get("redirect_uri")) {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "redirect_uri_mismatch",
                "Bad Request",
            ));
        }
        let verifier = params
            .get("code_verifier")
            .ok_or_else(|| OAuthError::invalid_grant("Missing code verifier."))?;
        if !record.verifier_matches(verifier) {
            return Err(OAuthError::invalid_grant("Invalid code verifier."));
        }
        let user = st.users[&record.user].clone();
        Ok(st.tokens.issue_user_grant(
            &self.config,
            &user,
            record.scopes,
            record.terms.issue_refresh,
            record.terms.nonce.as_deref(),
            now,
        ))
    }
}

/// A service-account key file, as the Cloud console downloads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAccountKey {
    #[serde(rename = "type")]
    pub key_type: String,
    pub project_id: String,
    pub private_key_id: String,
    /// PKCS#8, PEM.
    pub private_key: String,
    pub client_email: String,
    pub client_id: String,
    pub auth_uri: String,
    pub token_uri: String,
    pub auth_provider_x509_cert_url: String,
    pub client_x509_cert_url: String,
    pub universe_domain: String,
}

fn pem(label: &str, der: &[u8]) -> String {
    let encoded = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The DER inside a PEM document (any label), or the input if it is not PEM.
fn pem_or_der(input: &[u8]) -> Result<Vec<u8>, String> {
    let Ok(text) = std::str::from_utf8(input) else {
        return Ok(input.to_vec());
    };
    if !text.contains("-----BEGIN") {
        return Ok(input.to_vec());
    }
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    STANDARD
        .decode(body)
        .map_err(|e| format!("invalid PEM: {e}"))
}

impl ServiceAccountKey {
    /// A new service account of the configured project with a fresh RSA-2048 key.
    pub(super) fn generate(config: &GoogleHealthConfig, token_uri: &str) -> ServiceAccountKey {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
        let pkcs8 = pair.as_der().expect("PKCS#8 encoding");
        let private_key_id = random::hex(20);
        let mut number = [0u8; 8];
        rand::rng().fill_bytes(&mut number);
        let client_id = format!(
            "1{:020}",
            u64::from_be_bytes(number) % 10_000_000_000_000_000_000
        );
        let name = format!("fitbridge-webhooks-{}", &private_key_id[..6]);
        let client_email = format!("{name}@{}.iam.gserviceaccount.com", config.project_id);
        ServiceAccountKey {
            key_type: "service_account".to_owned(),
            project_id: config.project_id.clone(),
            private_key_id,
            private_key: pem("PRIVATE KEY", pkcs8.as_ref()),
            client_x509_cert_url: format!(
                "https://www.googleapis.com/robot/v1/metadata/x509/{}",
                client_email.replace('@', "%40")
            ),
            client_email,
            client_id,
            auth_uri: "https://accounts.google.com/o/oauth2/auth".to_owned(),
            token_uri: token_uri.to_owned(),
            auth_provider_x509_cert_url: "https://www.googleapis.com/oauth2/v1/certs".to_owned(),
            universe_domain: "googleapis.com".to_owned(),
        }
    }

    /// The key file's JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("key serializes")
    }

    /// A JWT bearer assertion as Google's client libraries build it: RS256 with `kid` =
    /// `private_key_id`; `iss` = client email; `aud` = `token_uri`; one hour of validity.
    pub fn sign_assertion(&self, scopes: &[&str], now: OffsetDateTime) -> String {
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": self.private_key_id });
        let iat = now.unix_timestamp();
        let claims = json!({
            "iss": self.client_email,
            "scope": scopes.join(" "),
            "aud": self.token_uri,
            "iat": iat,
            "exp": iat + 3600,
        });
        sign_rs256(&self.private_key, &header, &claims)
    }
}

/// Signs a JWT with a PEM (PKCS#8) RSA private key.
pub(super) fn sign_rs256(private_key_pem: &str, header: &Value, claims: &Value) -> String {
    let der = pem_or_der(private_key_pem.as_bytes()).expect("PEM private key");
    let pair = RsaKeyPair::from_pkcs8(&der).expect("PKCS#8 RSA key");
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signature = vec![0u8; pair.public_modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .expect("RSA signing");
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

struct RegisteredKey {
    client_email: String,
    /// RFC 8017 or SubjectPublicKeyInfo DER.
    public_key: Vec<u8>,
    token_uri: Option<String>,
}

/// Service-account keys the JWT bearer grant trusts.
#[derive(Default)]
pub(super) struct ServiceAccounts {
    keys: HashMap<String, RegisteredKey>,
    /// Client email → project id.
    projects: HashMap<String, String>,
}

const SHORT_LIVED: &str =
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable \
                           timeframe. Check your iat and exp values in the JWT claim.";

impl ServiceAccounts {
    pub(super) fn register_key(
        &mut self,
        key: &ServiceAccountKey,
        config: &GoogleHealthConfig,
    ) -> Result<(), String> {
        let der = pem_or_der(key.private_key.as_bytes())?;
        let pair = RsaKeyPair::from_pkcs8(&der).map_err(|e| format!("invalid private key: {e}"))?;
        self.keys.insert(
            key.private_key_id.clone(),
            RegisteredKey {
                client_email: key.client_email.clone(),
                public_key: pair.public_key().as_ref().to_vec(),
                token_uri: Some(key.token_uri.clone()),
            },
        );
        self.projects
            .insert(key.client_email.clone(), config.project_id.clone());
        Ok(())
    }

    pub(super) fn register_public_key(
        &mut self,
        client_email: &str,
        key_id: &str,
        public_key: &[u8],
        config: &GoogleHealthConfig,
    ) -> Result<(), String> {
        let der = pem_or_der(public_key)?;
        aws_lc_rs::rsa::PublicKey::from_der(&der)
            .map_err(|e| format!("invalid RSA public key: {e}"))?;
        self.keys.insert(
            key_id.to_owned(),
            RegisteredKey {
                client_email: client_email.to_owned(),
                public_key: der,
                token_uri: None,
            },
        );
        self.projects
            .insert(client_email.to_owned(), config.project_id.clone());
        Ok(())
    }

    /// Verifies a JWT bearer assertion as Google does; returns the client email, its
    /// project and the requested scopes.
    pub(super) fn verify_assertion(
        &self,
        assertion: &str,
        host: &str,
        now: OffsetDateTime,
    ) -> Result<(String, String, BTreeSet<String>), OAuthError> {
        let parts: Vec<&str> = assertion.split('.').collect();
        let [header_b64, claims_b64, signature_b64] = parts[..] else {
            return Err(OAuthError::invalid_grant("Invalid JWT: Malformed."));
        };
        let decode_json = |part: &str| -> Option<Value> {
            let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
            serde_json::from_slice(&bytes).ok()
        };
        let (Some(header), Some(claims)) = (decode_json(header_b64), decode_json(claims_b64))
        else {
            return Err(OAuthError::invalid_grant("Invalid JWT: Malformed."));
        };
        if header["alg"] != "RS256" {
            return Err(OAuthError::invalid_grant(
                "Invalid JWT: Unsupported algorithm.",
            ));
        }
        let email = claims["iss"].as_str().unwrap_or_default();
        if !self.projects.contains_key(email) {
            return Err(OAuthError::invalid_grant(
                "Invalid grant: account not found",
            ));
        }
        let candidates: Vec<&RegisteredKey> = match header["kid"].as_str() {
            Some(kid) => self.keys.get(kid).into_iter().collect(),
            None => self
                .keys
                .values()
                .filter(|k| k.client_email == email)
                .collect(),
        };
        let signature = URL_SAFE_NO_PAD
            .decode(signature_b64.trim_end_matches('='))
            .map_err(|_| OAuthError::invalid_grant("Invalid JWT Signature."))?;
        let signing_input = format!("{header_b64}.{claims_b64}");
        let key = candidates
            .into_iter()
            .filter(|k| k.client_email == email)
            .find(|k| {
                UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &k.public_key)
                    .verify(signing_input.as_bytes(), &signature)
                    .is_ok()
            })
            .ok_or_else(|| OAuthError::invalid_grant("Invalid JWT Signature."))?;
        let audience = claims["aud"].as_str().unwrap_or_default();
        let own = [
            format!("http://{host}/token"),
            format!("https://{host}/token"),
        ];
        if audience != GOOGLE_TOKEN_URI
            && key.token_uri.as_deref() != Some(audience)
            && !own.iter().any(|o| o == audience)
        {
            return Err(OAuthError::invalid_grant(format!(
                "Invalid JWT: Failed audience check. The right audience is {GOOGLE_TOKEN_URI}"
            )));
        }
        let (Some(iat), Some(exp)) = (claims["iat"].as_i64(), claims["exp"].as_i64()) else {
            return Err(OAuthError::invalid_grant(SHORT_LIVED));
        };
        let now = now.unix_timestamp();
        // Google allows a little clock skew.
        if exp <= now - 300 || iat > now + 300 || exp <= iat || exp - iat > 3600 {
            return Err(OAuthError::invalid_grant(SHORT_LIVED));
        }
        let requested: BTreeSet<String> = claims["scope"]
            .as_str()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if requested.is_empty() {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "Invalid OAuth scope or ID token audience provided.",
            ));
        }
        Ok((email.to_owned(), self.projects[email].clone(), requested))
    }
}
