//! PKCE (RFC 7636, S256) and OAuth state values.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::domain::Secret;

/// 32 random bytes, base64url: unguessable, URL-safe, 43 characters.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A fresh `state` value for one authorization attempt.
pub fn new_state() -> String {
    random_token()
}

/// A fresh code verifier (43 characters, within RFC 7636's 43..=128).
pub fn new_verifier() -> Secret {
    Secret::new(random_token())
}

/// `BASE64URL(SHA256(verifier))`, the S256 code challenge.
pub fn challenge(verifier: &Secret) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.expose().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        let v = Secret::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(challenge(&v), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn states_are_unique() {
        assert_ne!(new_state(), new_state());
        assert_eq!(new_verifier().expose().len(), 43);
    }
}
