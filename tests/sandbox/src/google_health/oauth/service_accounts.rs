//! Service accounts: the key files Google issues, and the JWT bearer grant's check of an
//! assertion signed with one (RFC 7523).
//!
//! Invariants: an assertion is trusted only with a registered key of the account it names
//! (`iss`), for an audience that is Google's token endpoint, the key's `token_uri` or this
//! sandbox's `/token`, valid for at most an hour with five minutes of clock skew, and asking
//! for at least one scope.

use std::collections::{BTreeSet, HashMap};

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    KeyPair as _, RsaKeyPair, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};
use axum::http::StatusCode;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::GOOGLE_TOKEN_URI;
use crate::google_health::error::OAuthError;
use crate::google_health::GoogleHealthConfig;
use crate::random;

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
    pub(in crate::google_health) fn generate(
        config: &GoogleHealthConfig,
        token_uri: &str,
    ) -> ServiceAccountKey {
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
pub(in crate::google_health) fn sign_rs256(
    private_key_pem: &str,
    header: &Value,
    claims: &Value,
) -> String {
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
pub(in crate::google_health) struct ServiceAccounts {
    keys: HashMap<String, RegisteredKey>,
    /// Client email → project id.
    projects: HashMap<String, String>,
}

const SHORT_LIVED: &str =
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable \
                           timeframe. Check your iat and exp values in the JWT claim.";

impl ServiceAccounts {
    pub(in crate::google_health) fn register_key(
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

    pub(in crate::google_health) fn register_public_key(
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
