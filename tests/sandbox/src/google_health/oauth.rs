//! Google's OAuth 2.0: `GET /o/oauth2/v2/auth`, `POST /token` (authorization code, refresh
//! token and JWT bearer grants), `POST /revoke`, on the shared kernel ([`crate::oauth2`]).
//! The authorize endpoint, the token store, OpenID Connect (the ID token,
//! `GET /v1/userinfo`) and service accounts are in the submodules.
//!
//! What is Google's own: client authentication by HTTP Basic or body parameters,
//! `access_type=offline` and `prompt` deciding whether a refresh token comes back, granular
//! consent that Google remembers per user (sign-in scopes cannot be unticked), reusable
//! refresh tokens that die after 7 days in the "Testing" publishing status, service-account
//! tokens from signed assertions, and RFC 6749's error shape ([`OAuthError`]) at the token
//! and revocation endpoints.

mod authorize;
mod openid;
pub(super) mod service_accounts;
mod tokens;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State as AxumState};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::error::{OAuthError, NEVER_CACHE};
use super::{scopes, GoogleHealthSandbox, State};
use crate::counters;
use crate::oauth2::authorization::Redemption;
use crate::oauth2::ledger::AccessStatus;
use crate::oauth2::{self, bearer_header, request_params, Params, TokenEndpoint};

pub(super) use authorize::authorize;
use openid::id_token;
pub(super) use openid::userinfo;
pub use service_accounts::ServiceAccountKey;
pub(super) use service_accounts::ServiceAccounts;
pub(super) use tokens::{AuthFailure, Principal, Tokens};

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

impl TokenEndpoint for GoogleHealthSandbox {
    const LOG_NAME: &'static str = "google health sandbox";
    const CACHE_CONTROL: &'static str = NEVER_CACHE;

    /// A user grant ([`TokenGrant`]) or a service account's token.
    type Answer = Value;

    fn token_request(
        &self,
        headers: &HeaderMap,
        params: &Params,
        grant_type: &str,
    ) -> (Result<Value, Response>, &'static str) {
        let mut st = self.lock();
        let result = self.token_grant(&mut st, headers, params);
        let outcome = match &result {
            Ok(_) => "ok",
            Err(error) => error.error,
        };
        oauth2::count_token_request(&mut st.stats.token_requests, grant_type, outcome);
        (result.map_err(IntoResponse::into_response), outcome)
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

impl GoogleHealthSandbox {
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
