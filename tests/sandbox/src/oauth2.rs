//! The OAuth 2.0 kernel of the provider sandboxes' authorization servers (Fitbit's,
//! Google's): the parts the RFCs fix, so that both check them alike — PKCE S256 (RFC 7636),
//! request parameters, redirect URIs (RFC 6749 §3.1.2), client credentials (RFC 6749
//! §2.3.1) and bearer tokens (RFC 6750 §2.1) — and the bookkeeping both keep: authorization
//! codes and consent ([`authorization`]), issued tokens ([`ledger`]) and the token
//! endpoint's counting and answer.
//!
//! Invariants:
//! - Nothing here decides how a refused request is answered: whether a check fails with an
//!   error page, a redirect or a JSON error, and in which words, is the provider's.
//! - A parameter given twice counts with its first occurrence; body parameters come before
//!   query parameters.
//! - Every token request is counted under its grant type and outcome, and a successful
//!   answer forbids caching.

pub(crate) mod authorization;
pub(crate) mod ledger;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest, Sha256};
use url::Url;

use crate::counters::{self, Counts};

/// `base64url-no-pad(sha256(verifier))`, the PKCE S256 code challenge.
pub fn pkce_s256(code_verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()))
}

/// RFC 7636: 43 to 128 characters of `[A-Za-z0-9-._~]`.
pub(crate) fn is_valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The shape of an S256 challenge: 43 base64url characters (a SHA-256 digest).
fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// Request parameters by name.
pub(crate) type Params = HashMap<String, String>;

fn parse_params(raw: &[u8], into: &mut Params) {
    for (name, value) in url::form_urlencoded::parse(raw) {
        into.entry(name.into_owned())
            .or_insert_with(|| value.into_owned());
    }
}

/// Form body parameters, then query parameters (some clients send token parameters in the
/// query).
pub(crate) fn request_params(query: Option<&str>, body: &[u8]) -> Params {
    let mut params = Params::new();
    parse_params(body, &mut params);
    parse_params(query.unwrap_or_default().as_bytes(), &mut params);
    params
}

/// Scopes as a token response lists them: space-separated, in the set's order.
pub(crate) fn scope_string(scopes: &BTreeSet<String>) -> String {
    scopes
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Registered redirect URIs match exactly; an app that registered none accepts any.
pub(crate) fn is_registered(registered: &[String], uri: &str) -> bool {
    registered.is_empty() || registered.iter().any(|r| r == uri)
}

/// A redirect URI as a target for the browser: absolute http(s), without a fragment. The
/// error is the description to show.
pub(crate) fn redirect_target(uri: &str) -> Result<Url, String> {
    let url = Url::parse(uri).map_err(|e| format!("Invalid redirect_uri: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.fragment().is_some() {
        return Err(format!("Invalid redirect_uri: {uri}"));
    }
    Ok(url)
}

/// The token of an `Authorization: Bearer <token>` header (the scheme in any case).
pub(crate) fn bearer_header(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The `client_id:secret` text of an `Authorization: Basic` header value (any case of the
/// scheme), if it is one and decodes.
pub(crate) fn basic_credentials(header_value: &str) -> Option<String> {
    let (scheme, encoded) = header_value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    String::from_utf8(decoded).ok()
}

/// An authorize request's answer: `302` to the redirect location, or the provider's error
/// page for a request it cannot trust.
pub(crate) fn authorize_answer<E>(
    result: Result<String, E>,
    error_page: impl FnOnce(E) -> Response,
) -> Response {
    match result {
        Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
        Err(refusal) => error_page(refusal),
    }
}

/// A token request's `grant_type` as the stats count it: `(missing)` if absent.
fn grant_type_label(params: &Params) -> &str {
    params.get("grant_type").map_or("(missing)", String::as_str)
}

/// Counts a token request under its grant type and outcome (`ok` or the error).
pub(crate) fn count_token_request(
    token_requests: &mut BTreeMap<String, Counts>,
    grant_type: &str,
    outcome: &str,
) {
    counters::bump(
        token_requests.entry(grant_type.to_owned()).or_default(),
        outcome,
    );
}

/// A provider's token endpoint, as the shared handler ([`token_endpoint`]) serves it.
pub(crate) trait TokenEndpoint: Send + Sync + 'static {
    /// Names the provider in log lines (`fitbit sandbox`).
    const LOG_NAME: &'static str;
    /// The `Cache-Control` of a successful answer, which forbids caching (RFC 6749 §5.1).
    const CACHE_CONTROL: &'static str;

    type Answer: Serialize;

    /// Runs one token request and counts it in the provider's stats (see
    /// [`count_token_request`]); returns the answer, or the error in the provider's shape,
    /// and the outcome it was counted under.
    fn token_request(
        &self,
        headers: &HeaderMap,
        params: &Params,
        grant_type: &str,
    ) -> (Result<Self::Answer, Response>, &'static str);
}

/// `POST` of a token request (RFC 6749 §3.2): form body or query parameters in, the
/// provider's JSON answer out. Logs the grant type and outcome, never a value.
pub(crate) async fn token_endpoint<S: TokenEndpoint>(
    State(sandbox): State<Arc<S>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let params = request_params(query.as_deref(), &body);
    let grant_type = grant_type_label(&params);
    let (result, outcome) = sandbox.token_request(&headers, &params, grant_type);
    tracing::debug!(grant_type, outcome, "{}: token request", S::LOG_NAME);
    match result {
        Ok(answer) => {
            let mut response = Json(answer).into_response();
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static(S::CACHE_CONTROL),
            );
            response
        }
        Err(error) => error,
    }
}

/// Text for an HTML error page, which may echo request parameters.
pub(crate) fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_is_base64url_sha256() {
        // RFC 7636 Appendix B; computed independently with Python hashlib/base64 too.
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mJ92K50s8f9gPnTGuTfW7KmRLTFaOk"),
            "_38A7H0Aj-roTWI5QOb1UOK-7H0RWecfFO0z-fiv2VQ"
        );
    }
}
