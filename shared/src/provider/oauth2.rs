//! OAuth 2.0 as every provider speaks it (RFC 6749, PKCE from RFC 7636): the authorize
//! URL, client authentication at the token endpoint and how long an issued token lives.
//! What differs between providers (extra parameters, token bodies, error shapes) stays in
//! the provider's folder.
//!
//! Invariants: the client secret appears only inside the `Authorization` header value this
//! module builds; an `expires_in` from the wire is capped, never trusted, so no arithmetic
//! on it can overflow.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use time::{Duration, OffsetDateTime};
use url::Url;

use crate::domain::Secret;
use crate::ports::provider::AuthorizeRequest;

/// The authorization-code request with a PKCE S256 challenge; a provider appends what else
/// it needs to the returned URL.
pub fn authorize_url(
    base: &Url,
    client_id: &str,
    scopes: &[String],
    request: &AuthorizeRequest<'_>,
) -> Url {
    let mut url = base.clone();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("scope", &scopes.join(" "))
        .append_pair("redirect_uri", request.redirect_uri)
        .append_pair("state", request.state)
        .append_pair("code_challenge", request.code_challenge)
        .append_pair("code_challenge_method", "S256");
    url
}

/// The `error` code of an RFC 6749 §5.2 error answer (`{"error": "invalid_grant", …}`),
/// empty when the body has none. The description is never read: it may echo input.
pub async fn error_code(response: reqwest::Response) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorAnswer {
        #[serde(default)]
        error: String,
    }
    response
        .json::<ErrorAnswer>()
        .await
        .map(|e| e.error)
        .unwrap_or_default()
}

/// HTTP Basic client authentication (RFC 6749 §2.3.1), the header's value.
pub fn basic_auth(client_id: &str, client_secret: &Secret) -> String {
    let pair = format!("{client_id}:{}", client_secret.expose());
    format!("Basic {}", STANDARD.encode(pair))
}

/// When a token issued at `now` with this `expires_in` expires: never before `now`, never
/// later than `longest` after it.
pub fn expiry(now: OffsetDateTime, expires_in: i64, longest: Duration) -> OffsetDateTime {
    now + Duration::seconds(expires_in).clamp(Duration::ZERO, longest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_expires_in_never_overflows() {
        let now = time::macros::datetime!(2026-11-30 23:00 UTC);
        let day = Duration::days(1);
        assert_eq!(expiry(now, 28_800, day), now + Duration::hours(8));
        assert_eq!(expiry(now, i64::MAX, day), now + day);
        assert_eq!(expiry(now, i64::MIN, day), now);
        assert_eq!(expiry(now, -5, day), now);
    }

    #[test]
    fn basic_auth_is_the_base64_pair() {
        let header = basic_auth("client", &Secret::new("s3cret"));
        assert_eq!(header, "Basic Y2xpZW50OnMzY3JldA==");
    }

    #[test]
    fn the_authorize_url_carries_the_pkce_challenge() {
        let base = Url::parse("https://provider.test/oauth2/authorize").unwrap();
        let request = AuthorizeRequest {
            state: "st",
            code_challenge: "ch",
            redirect_uri: "https://app.test/cb",
        };
        let url = authorize_url(&base, "id", &["a".into(), "b".into()], &request);
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("scope"), Some("a b"));
        assert_eq!(get("code_challenge_method"), Some("S256"));
        assert_eq!(get("code_challenge"), Some("ch"));
        assert_eq!(get("state"), Some("st"));
    }
}
