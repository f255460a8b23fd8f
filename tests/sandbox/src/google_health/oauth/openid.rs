//! OpenID Connect on Google's OAuth: the ID token a grant with `openid` carries and
//! `GET /v1/userinfo`.
//!
//! Invariants: both reveal the same claims about the user for the same scopes — `sub`
//! always, email with `email`, names and picture with `profile`; the ID token's signature
//! is well-formed but not verifiable.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{RawQuery, State as AxumState};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{bearer_token, is_sign_in_scope, AuthFailure, Principal};
use crate::counters;
use crate::google_health::error::ApiError;
use crate::google_health::{scopes, GoogleHealthConfig, GoogleHealthSandbox, GoogleUser};

/// Adds the claims the granted sign-in scopes reveal about the user: email with `email`,
/// names and picture with `profile`.
fn add_sign_in_claims(claims: &mut Value, user: &GoogleUser, scopes: &BTreeSet<String>) {
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
}

/// An OpenID Connect ID token. Its RS256 signature is 256 zero bytes: well-formed, but not
/// verifiable (the sandbox serves no JWKS).
pub(super) fn id_token(
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
    add_sign_in_claims(&mut claims, user, scopes);
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

/// `GET /v1/userinfo` (OpenID Connect): `sub` always, email fields with the email scope,
/// name fields with the profile scope.
pub(in crate::google_health) async fn userinfo(
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
    add_sign_in_claims(&mut body, user, &granted);
    Json(body).into_response()
}
