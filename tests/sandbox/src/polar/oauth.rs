//! Polar's OAuth 2.0: `GET /oauth2/authorization` (Polar Flow) and `POST /v2/oauth2/token`
//! (Polar Remote), on the shared kernel ([`crate::oauth2`]), and the token store behind them
//! and behind the `/v3` API's bearer authentication.
//!
//! What is Polar's own: no PKCE and no refresh tokens; a default redirect URL when the
//! request names none; errors after the redirect target is known go back to it as `error=`;
//! HTTP Basic client authentication; access tokens that live about a year and carry the
//! person's id as `x_user_id`; and a code redeemed a second time deletes the tokens issued for
//! it ("the request will be denied and ALL issued tokens will be deleted").
//!
//! Invariants: every token issued for a code is listed under that code; a person's token
//! stays valid until it is revoked, expired through the admin API, deleted by a code replay
//! or its lifetime ends on the sandbox clock.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::{RawQuery, State as AxumState};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use time::{Duration, OffsetDateTime};
use url::Url;

use super::error::OAuthError;
use super::wire::TokenGrant;
use super::{PolarConfig, PolarSandbox, State, SCOPE};
use crate::oauth2::authorization::{AuthCode, Codes, Redemption, CODE_LIFETIME};
use crate::oauth2::ledger::{AccessStatus, Ledger, NoRefresh, Refusal};
use crate::oauth2::{
    self, escape_html, is_registered, redirect_target, request_params, Params, TokenEndpoint,
};
use crate::{counters, random};

/// Every code and token. Invariant: `by_code` lists every token issued for a code.
#[derive(Default)]
pub(super) struct Tokens {
    codes: Codes<()>,
    ledger: Ledger<String, NoRefresh>,
    by_code: HashMap<String, Vec<String>>,
}

impl Tokens {
    /// Issues an access token to the person, listed under `code` if it redeems one.
    pub(super) fn issue(
        &mut self,
        config: &PolarConfig,
        user_id: &str,
        code: Option<&str>,
        now: OffsetDateTime,
    ) -> TokenGrant {
        let token = random::hex(20);
        self.ledger.record_access(
            &token,
            user_id.to_owned(),
            BTreeSet::from([SCOPE.to_owned()]),
            now + Duration::seconds(config.access_token_lifetime_secs),
        );
        if let Some(code) = code {
            self.by_code
                .entry(code.to_owned())
                .or_default()
                .push(token.clone());
        }
        TokenGrant {
            access_token: token,
            token_type: "bearer".to_owned(),
            expires_in: config.access_token_lifetime_secs,
            x_user_id: user_id.parse().unwrap_or(0),
        }
    }

    /// Deletes (revokes) every token issued for the code; returns how many still counted.
    fn delete_issued_for(&mut self, code: &str, now: OffsetDateTime) -> usize {
        let mut live = 0;
        for token in self.by_code.get(code).into_iter().flatten() {
            if self.ledger.access(token).is_some_and(|a| a.is_live(now)) {
                live += 1;
            }
            self.ledger.set_access_status(token, AccessStatus::Revoked);
        }
        live
    }

    /// The person a live bearer token speaks for.
    pub(super) fn authenticate(&self, token: &str, now: OffsetDateTime) -> Option<String> {
        match self.ledger.authenticate(token, now) {
            Ok(record) => Some(record.principal.clone()),
            Err(Refusal::Unknown | Refusal::Expired(_) | Refusal::Invalid(_)) => None,
        }
    }

    pub(super) fn expire_live(&mut self, user_id: &str, now: OffsetDateTime) -> bool {
        self.ledger.expire_live_access(user_id, now)
    }

    /// Revokes every token and drops the pending codes of the person; false if they never
    /// had a token.
    pub(super) fn revoke_user(&mut self, user_id: &str) -> bool {
        self.codes.drop_user(user_id);
        self.ledger.revoke_user(user_id)
    }

    pub(super) fn issued_to(&self, user_id: &str) -> Vec<String> {
        self.ledger.issued_to(user_id)
    }
}

/// Polar Flow shows an error page, not a redirect, when it cannot trust the request (an
/// unknown client, a redirect URL the client does not have).
fn error_page(message: &str) -> Response {
    let page = format!(
        "<!DOCTYPE html><html><head><title>Polar Flow - Authorization error</title></head>\
         <body><h1>Authorization failed</h1><p>{}</p></body></html>",
        escape_html(message)
    );
    (StatusCode::BAD_REQUEST, Html(page)).into_response()
}

pub(super) async fn authorize(
    AxumState(sandbox): AxumState<Arc<PolarSandbox>>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = request_params(query.as_deref(), &[]);
    oauth2::authorize_answer(sandbox.authorize(&params), |problem| error_page(&problem))
}

impl TokenEndpoint for PolarSandbox {
    const LOG_NAME: &'static str = "polar sandbox";
    const CACHE_CONTROL: &'static str = "no-store";

    type Answer = TokenGrant;

    fn token_request(
        &self,
        headers: &HeaderMap,
        params: &Params,
        grant_type: &str,
    ) -> (Result<TokenGrant, Response>, &'static str) {
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

/// Appends `error` (and `state`) to the redirect target.
fn with_error(mut location: Url, error: &str, state: Option<&str>) -> String {
    {
        let mut query = location.query_pairs_mut();
        query.append_pair("error", error);
        if let Some(state) = state {
            query.append_pair("state", state);
        }
    }
    location.to_string()
}

impl PolarSandbox {
    /// Validates an authorize request and answers for the configured consent: the redirect
    /// location, or the reason for an error page.
    fn authorize(&self, params: &Params) -> Result<String, String> {
        let param = |name: &str| params.get(name).map(String::as_str);
        let client_id = param("client_id").unwrap_or_default();
        if client_id != self.config.client_id {
            return Err(format!("Invalid client_id: {client_id}"));
        }
        let registered = &self.config.redirect_uris;
        let uri = match param("redirect_uri") {
            Some(uri) if is_registered(registered, uri) => uri,
            Some(uri) => {
                return Err(format!(
                    "Invalid redirect_uri: {uri} is not a redirect URL of this client."
                ))
            }
            None => registered
                .first()
                .ok_or("No redirect_uri given and the client has no default redirect URL.")?,
        };
        let location = redirect_target(uri)?;
        let state = param("state");
        if param("response_type") != Some("code") {
            return Ok(with_error(location, "unsupported_response_type", state));
        }
        // "If not provided, user will be asked to grant authorization for all scopes".
        if param("scope").is_some_and(|scope| scope.split_whitespace().any(|s| s != SCOPE)) {
            return Ok(with_error(location, "invalid_scope", state));
        }
        let mut st = self.lock();
        let consent = st.consent.clone();
        st.ensure_user(&consent.polar_user_id);
        tracing::debug!(polar_user_id = %consent.polar_user_id, denied = consent.deny, "polar sandbox: authorization");
        if consent.deny {
            st.stats.consent_denials += 1;
            return Ok(with_error(location, "access_denied", state));
        }
        let code = random::hex(16);
        let expires_at = st.now() + CODE_LIFETIME;
        st.tokens.codes.issue(
            &code,
            AuthCode {
                client_id: client_id.to_owned(),
                user: consent.polar_user_id.clone(),
                scopes: BTreeSet::from([SCOPE.to_owned()]),
                code_challenge: None,
                redirect_uri: param("redirect_uri").map(str::to_owned),
                expires_at,
                terms: (),
            },
        );
        counters::bump(&mut st.stats.authorizations, &consent.polar_user_id);
        let mut location = location;
        {
            let mut query = location.query_pairs_mut();
            if let Some(state) = state {
                query.append_pair("state", state);
            }
            query.append_pair("code", &code);
        }
        Ok(location.to_string())
    }

    /// HTTP Basic client authentication, the only method Polar Remote takes.
    fn authenticate_client(&self, headers: &HeaderMap) -> Result<(), OAuthError> {
        let credentials = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(oauth2::basic_credentials)
            .ok_or(OAuthError::new("invalid_client"))?;
        self.client_credentials_match(&credentials)
            .then_some(())
            .ok_or(OAuthError::new("invalid_client"))
    }

    /// `client_id:client_secret` is this client's.
    pub(super) fn client_credentials_match(&self, credentials: &str) -> bool {
        credentials.split_once(':').is_some_and(|(id, secret)| {
            id == self.config.client_id && secret == self.config.client_secret
        })
    }

    fn token_grant(
        &self,
        st: &mut State,
        headers: &HeaderMap,
        params: &Params,
    ) -> Result<TokenGrant, OAuthError> {
        self.authenticate_client(headers)?;
        match params.get("grant_type").map(String::as_str) {
            Some("authorization_code") => {}
            None => return Err(OAuthError::new("invalid_request")),
            Some(_) => return Err(OAuthError::new("unsupported_grant_type")),
        }
        let code = params
            .get("code")
            .ok_or(OAuthError::new("invalid_request"))?;
        let now = st.now();
        let record = match st.tokens.codes.redeem(code) {
            Redemption::Pending(record) => record,
            Redemption::Redeemed => {
                let deleted = st.tokens.delete_issued_for(code, now);
                st.stats.code_replays += 1;
                st.stats.tokens_deleted_by_replays += deleted as u64;
                tracing::debug!(deleted, "polar sandbox: authorization code used twice");
                return Err(OAuthError::new("invalid_grant"));
            }
            Redemption::Unknown => return Err(OAuthError::new("invalid_grant")),
        };
        if record.is_expired(now)
            || record.client_id != self.config.client_id
            || !record.redirect_uri_matches(params.get("redirect_uri"))
        {
            return Err(OAuthError::new("invalid_grant"));
        }
        Ok(st
            .tokens
            .issue(&self.config, &record.user, Some(code.as_str()), now))
    }
}
