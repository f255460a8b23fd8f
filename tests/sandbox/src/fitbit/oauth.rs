//! Fitbit's OAuth 2.0: `GET /oauth2/authorize`, `POST /oauth2/token`, `POST /oauth2/revoke`,
//! on the shared kernel ([`crate::oauth2`]); the token store behind them and behind API
//! authentication is in [`tokens`].
//!
//! What is Fitbit's own: HTTP Basic client authentication on every token and revocation
//! request, access tokens that are HS256 JWTs, one token pair per user, and refresh tokens
//! that are single use, with a grace window in which an identical refresh request gets the
//! same answer again. Errors come in Fitbit's shape ([`ApiError`]), the token endpoint's
//! included.

mod tokens;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State as AxumState};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use url::Url;

use super::error::{ApiError, OAUTH_DOCS};
use super::{FitbitSandbox, State, KNOWN_SCOPES};
use crate::oauth2::authorization::{
    granted_scopes, s256_challenge, AuthCode, PkceRefusal, Redemption, CODE_LIFETIME,
};
use crate::oauth2::{
    self, escape_html, is_registered, is_valid_verifier, redirect_target, request_params, Params,
    TokenEndpoint,
};
use crate::{counters, random};

pub(super) use tokens::Tokens;

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

impl TokenEndpoint for FitbitSandbox {
    const LOG_NAME: &'static str = "fitbit sandbox";
    const CACHE_CONTROL: &'static str = "no-store";

    type Answer = TokenGrant;

    /// Counts grace-window replays as `replayed`, apart from real rotations.
    fn token_request(
        &self,
        headers: &HeaderMap,
        params: &Params,
        grant_type: &str,
    ) -> (Result<TokenGrant, Response>, &'static str) {
        let mut st = self.lock();
        let result = self.token_grant(&mut st, headers, params);
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
        let answer = result
            .map(|(grant, _)| grant)
            .map_err(IntoResponse::into_response);
        (answer, outcome)
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
                        code_challenge: Some(code_challenge.to_owned()),
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
        if let Some(user_id) = st.tokens.owner_of(token) {
            st.revoke_user(&user_id);
            tracing::debug!(%user_id, "fitbit sandbox: tokens revoked");
        }
        Ok(())
    }
}
