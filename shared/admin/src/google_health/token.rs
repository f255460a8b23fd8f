//! Service-account access tokens: the JWT-bearer grant (RFC 7523) with a JSON key as the
//! Cloud console downloads it, for the `cloud-platform` scope the subscriber methods need.
//!
//! Invariants:
//! - The assertion is RS256-signed with the key's `private_key` and sent to the key's own
//!   `token_uri` (its `aud` too), so a key issued by the sandbox gets its tokens from the
//!   sandbox's `/token` and a real key from `oauth2.googleapis.com`.
//! - The key file is checked here before it is used, and errors about it name the field or
//!   the line, never a value: it holds a private key.
//! - Tokens are [`Secret`]s; they reach nothing but the `Authorization` header.
//!
//! The grant is [`gcp_auth`]'s `CustomServiceAccount` (maintained by a rustls maintainer).
//! Of the maintained crates it is the one that fits this workspace:
//! - `gcp_auth` 0.12 (`default-features = false, features = ["aws-lc-rs"]`): reads the key,
//!   signs with aws-lc-rs, posts to `token_uri`, over hyper-rustls and rustls with the
//!   aws-lc-rs provider — crates the AWS SDK already builds. It adds 3 crates (`gcp_auth`,
//!   `tracing-futures`, `untrusted` 0.7) and turns on aws-lc-rs's default features, so a
//!   build of this crate on its own compiles its own copy of the 23 crates above aws-lc-rs
//!   (rustls … reqwest, the AWS SDK, fitbridge): 40 s on the 2-core machine with the
//!   workspace already built; `cargo clippy/test --workspace` unify features and pay it
//!   once. Its token errors only say "token request failed" (it retries four times and
//!   logs Google's answer at `warn`, which `main` prints on stderr).
//! - `yup-oauth2` 12 (`aws-lc-rs`, `hyper-rustls`, `service-account`) also honours
//!   `token_uri`, adds 4 crates but turns on tokio's `fs`/`io-std`, hyper-util's server and
//!   time's `local-offset`: 40 crates recompiled, 43 s, for a heavier dependency.
//! - `google-cloud-auth` 1.x signs a self-signed JWT and uses it as the bearer token: no
//!   JWT-bearer grant, no `token_uri` (the sandbox, like any token endpoint, is never
//!   asked), and 8 more crates (gax, rpc, wkt, rand 0.10, ...).

use std::path::Path;

use crate::google_health::subscribers::SCOPE;
use fitbridge::domain::Secret;
use gcp_auth::{CustomServiceAccount, TokenProvider};
use serde::Deserialize;

/// The parts of a service-account key this CLI reads itself.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    key_type: String,
    client_email: String,
    token_uri: String,
    #[serde(default)]
    project_id: Option<String>,
    private_key: Secret,
}

/// A service account that can get access tokens.
pub struct ServiceAccount {
    grant: CustomServiceAccount,
    client_email: String,
    token_uri: String,
    project_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the key file {path} cannot be read: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("the key file is not a service-account JSON key: {0}")]
    NotAServiceAccountKey(String),
}

#[derive(Debug, thiserror::Error)]
#[error("no access token for {client_email} from {token_uri}: {reason}")]
pub struct TokenError {
    pub client_email: String,
    pub token_uri: String,
    pub reason: String,
}

impl ServiceAccount {
    pub fn from_file(path: &Path) -> Result<ServiceAccount, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|e| KeyError::Unreadable {
            path: path.display().to_string(),
            reason: e.kind().to_string(),
        })?;
        ServiceAccount::from_json(&text)
    }

    pub fn from_json(text: &str) -> Result<ServiceAccount, KeyError> {
        let not_a_key = |reason: String| KeyError::NotAServiceAccountKey(reason);
        // serde_json's messages may quote a value: keep only where it went wrong.
        let key: KeyFile = serde_json::from_str(text).map_err(|e| {
            not_a_key(format!(
                "{:?} error at line {} column {} (fields: type, client_email, token_uri, \
                 private_key, project_id)",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        if key.key_type != "service_account" {
            return Err(not_a_key(
                "its \"type\" is not \"service_account\"".to_owned(),
            ));
        }
        if !key.private_key.expose().contains("PRIVATE KEY") {
            return Err(not_a_key(
                "its private_key is not a PEM private key".to_owned(),
            ));
        }
        match url::Url::parse(&key.token_uri) {
            Ok(url) if matches!(url.scheme(), "https" | "http") => {}
            _ => return Err(not_a_key("its token_uri is not an http(s) URL".to_owned())),
        }
        let grant = CustomServiceAccount::from_json(text).map_err(|e| not_a_key(format!("{e}")))?;
        Ok(ServiceAccount {
            grant,
            client_email: key.client_email,
            token_uri: key.token_uri,
            project_id: key.project_id.filter(|p| !p.is_empty()),
        })
    }

    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    pub fn token_uri(&self) -> &str {
        &self.token_uri
    }

    /// The key's `project_id`, the default project.
    pub fn project_id(&self) -> Option<&str> {
        self.project_id.as_deref()
    }

    /// An access token for [`SCOPE`] (cached by the grant for its lifetime).
    pub async fn access_token(&self) -> Result<Secret, TokenError> {
        let token = self.grant.token(&[SCOPE]).await.map_err(|e| TokenError {
            client_email: self.client_email.clone(),
            token_uri: self.token_uri.clone(),
            reason: e.to_string(),
        })?;
        Ok(Secret::new(token.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fitbridge_sandbox::{Sandbox, SandboxConfig};

    #[tokio::test]
    async fn a_sandbox_key_gets_its_token_from_the_keys_token_uri() {
        let sandbox = Sandbox::start(SandboxConfig::default(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let token_uri = format!("{}/token", sandbox.base_url);
        let key = sandbox.google_health.create_service_account(&token_uri);
        let account = ServiceAccount::from_json(&key.to_json()).unwrap();
        assert_eq!(account.project_id(), Some("fitbridge-sandbox"));
        assert_eq!(account.token_uri(), token_uri);
        let token = account.access_token().await.unwrap();
        assert!(
            token.expose().starts_with("ya29."),
            "a token the sandbox issued"
        );
        let stats = sandbox.google_health.stats();
        assert_eq!(stats.service_account_tokens[&key.client_email], 1);
        assert_eq!(
            stats.token_requests["urn:ietf:params:oauth:grant-type:jwt-bearer"]["ok"],
            1
        );
        // Cached for its lifetime.
        account.access_token().await.unwrap();
        assert_eq!(
            sandbox.google_health.stats().service_account_tokens[&key.client_email],
            1
        );
    }

    #[tokio::test]
    async fn a_key_the_token_endpoint_does_not_know_gets_no_token() {
        let sandbox = Sandbox::start(SandboxConfig::default(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let token_uri = format!("{}/token", sandbox.base_url);
        let known = sandbox.google_health.create_service_account(&token_uri);
        // Same account, a private key the sandbox never registered.
        let other = Sandbox::start(SandboxConfig::default(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let mut forged = other.google_health.create_service_account(&token_uri);
        forged.client_email = known.client_email.clone();
        forged.private_key_id = known.private_key_id.clone();
        let account = ServiceAccount::from_json(&forged.to_json()).unwrap();
        let error = account.access_token().await.unwrap_err();
        assert!(error.to_string().contains(&token_uri), "{error}");
        assert!(sandbox
            .google_health
            .stats()
            .service_account_tokens
            .is_empty());
    }

    #[test]
    fn a_broken_key_file_is_described_without_its_values() {
        let private = "-----BEGIN PRIVATE KEY-----\nTOPSECRETMATERIAL\n-----END PRIVATE KEY-----\n";
        let cases = [
            "not json".to_owned(),
            serde_json::json!({"type": "service_account"}).to_string(),
            serde_json::json!({"type": "authorized_user", "client_email": "a@b", "token_uri": "https://t/token", "private_key": private}).to_string(),
            serde_json::json!({"type": "service_account", "client_email": "a@b", "token_uri": "https://t/token", "private_key": 7}).to_string(),
            serde_json::json!({"type": "service_account", "client_email": 5, "token_uri": "https://t/token", "private_key": private}).to_string(),
            serde_json::json!({"type": "service_account", "client_email": "a@b", "token_uri": "file:///x", "private_key": private}).to_string(),
            serde_json::json!({"type": "service_account", "client_email": "a@b", "token_uri": "https://t/token", "private_key": private}).to_string(),
        ];
        for case in cases {
            let Err(error) = ServiceAccount::from_json(&case) else {
                panic!("accepted {case}");
            };
            let text = error.to_string();
            assert!(!text.contains("TOPSECRET"), "{text}");
            assert!(text.contains("not a service-account JSON key"), "{text}");
        }
        let missing = ServiceAccount::from_file(Path::new("/nonexistent/key.json"));
        assert!(matches!(missing, Err(KeyError::Unreadable { .. })));
    }
}
