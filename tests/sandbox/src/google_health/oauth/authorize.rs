//! Google's authorize endpoint (`GET /o/oauth2/v2/auth`): the simulated browser's signed-in
//! user, the consent screen and its granular answer, and the code that comes back.
//!
//! Invariants: a request Google cannot trust (unknown client, unregistered redirect URI,
//! malformed parameters) gets an error page, never a redirect; the consent screen shows when
//! asked (`prompt=consent`) or when new scopes are requested, and only then may the user
//! deny or untick scopes; a refresh token comes with offline access when the screen showed
//! or the user has no live one.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{RawQuery, State as AxumState};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use url::Url;

use super::tokens::{random_token, CodeTerms};
use super::{is_sign_in_scope, normalize_scope};
use crate::counters;
use crate::google_health::{Consent, GoogleHealthSandbox};
use crate::oauth2::authorization::{
    granted_scopes, s256_challenge, AuthCode, PkceRefusal, CODE_LIFETIME,
};
use crate::oauth2::{self, escape_html, is_registered, redirect_target, request_params, Params};

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

pub(in crate::google_health) async fn authorize(
    AxumState(sandbox): AxumState<Arc<GoogleHealthSandbox>>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = request_params(query.as_deref(), &[]);
    oauth2::authorize_answer(sandbox.authorize(&params), |e| {
        error_page(e.status, e.error, &e.message)
    })
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
            .unwrap_or_else(|| Consent::allow_all(&user_id));
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
                        code_challenge: Some(code_challenge.to_owned()),
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
}
