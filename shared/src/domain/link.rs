//! Signed connect links.
//!
//! The company's app sends a person to `/connect/{provider}?ref=<customer id>&expires=<unix
//! seconds>&sig=<signature>` so that the data lands on the company's own record of that
//! person. Only links the app signed are accepted, so nobody can attach their data to
//! somebody else's customer record.
//!
//! `signature = base64url_nopad(HMAC-SHA256(key, "v1\n" + provider + "\n" + ref + "\n" + expires))`
//!
//! The provider is inside the signed message so a link for one provider cannot be replayed
//! against another.
//!
//! A link is good for one connection ([`crate::ports::store::ConnectLinks`]) and for at most
//! [`MAX_LIFETIME`], whatever `expires` it was signed with: a forwarded or leaked link
//! cannot attach a second person to the customer record, and a mistakenly signed
//! far-future link does not live for years.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::domain::ProviderKind;
use crate::domain::Secret;

/// Longest customer id we accept: SAP's additional-id key is 255 characters.
pub const MAX_REF_LEN: usize = 255;

/// The longest a link may be valid for, counted from when it is opened: long enough for a
/// link sent by email in a migration campaign, short enough that a leaked one dies.
pub const MAX_LIFETIME: Duration = Duration::days(90);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LinkError {
    #[error("connect link has a ref but no expires/sig")]
    Unsigned,
    #[error("connect link is malformed")]
    Malformed,
    #[error("connect link signature does not match")]
    BadSignature,
    #[error("connect link expired")]
    Expired,
    #[error("connect link is valid for longer than the maximum lifetime")]
    TooLongLived,
    #[error("connect link already used for a connection")]
    Used,
}

/// A link that passed [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedLink {
    pub customer_ref: String,
    /// Names the link for its single use: the SHA-256 of its signature, so the table never
    /// holds a signature.
    pub id: String,
    pub expires_at: OffsetDateTime,
}

/// The query parameters of a connect link, as received. `Debug` shows which parts are
/// present, never the customer id (personal data) or the signature.
#[derive(Clone, Default)]
pub struct LinkParams {
    pub customer_ref: Option<String>,
    pub expires: Option<String>,
    pub sig: Option<String>,
}

impl std::fmt::Debug for LinkParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkParams")
            .field(
                "customer_ref",
                &self.customer_ref.as_ref().map(|_| "[redacted]"),
            )
            .field("expires", &self.expires)
            .field("sig", &self.sig.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

fn mac(key: &Secret, provider: ProviderKind, customer_ref: &str, expires: i64) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.expose().as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("v1\n{provider}\n{customer_ref}\n{expires}").as_bytes());
    mac
}

/// Signs a link (for the company's app, tests and the demo).
pub fn sign(key: &Secret, provider: ProviderKind, customer_ref: &str, expires: i64) -> String {
    URL_SAFE_NO_PAD.encode(
        mac(key, provider, customer_ref, expires)
            .finalize()
            .into_bytes(),
    )
}

/// Checks a link and returns it verified, if it carried a customer id.
///
/// A link without `ref` is fine (the contact then comes from the provider profile alone);
/// a link with `ref` must carry a valid, unexpired signature, and expire within
/// [`MAX_LIFETIME`]. Whether it was used already is the caller's to check.
pub fn verify(
    key: &Secret,
    provider: ProviderKind,
    params: &LinkParams,
    now: OffsetDateTime,
) -> Result<Option<VerifiedLink>, LinkError> {
    let Some(customer_ref) = params.customer_ref.as_deref() else {
        return Ok(None);
    };
    let (Some(expires), Some(sig)) = (params.expires.as_deref(), params.sig.as_deref()) else {
        return Err(LinkError::Unsigned);
    };
    if customer_ref.is_empty() || customer_ref.len() > MAX_REF_LEN {
        return Err(LinkError::Malformed);
    }
    let expires: i64 = expires.parse().map_err(|_| LinkError::Malformed)?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| LinkError::BadSignature)?;
    // Constant-time comparison; the signature is checked before the expiry so an attacker
    // learns nothing from the difference between the two answers.
    mac(key, provider, customer_ref, expires)
        .verify_slice(&sig)
        .map_err(|_| LinkError::BadSignature)?;
    if now.unix_timestamp() >= expires {
        return Err(LinkError::Expired);
    }
    let expires_at = OffsetDateTime::from_unix_timestamp(expires)
        .ok()
        .filter(|at| *at - now <= MAX_LIFETIME)
        .ok_or(LinkError::TooLongLived)?;
    let id = Sha256::digest(&sig)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Some(VerifiedLink {
        customer_ref: customer_ref.to_owned(),
        id,
        expires_at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIND: ProviderKind = ProviderKind::ALL[0];

    fn key() -> Secret {
        Secret::new("k3y")
    }

    fn params(r: &str, exp: i64, sig: &str) -> LinkParams {
        LinkParams {
            customer_ref: Some(r.into()),
            expires: Some(exp.to_string()),
            sig: Some(sig.into()),
        }
    }

    #[test]
    fn valid_link_yields_the_ref() {
        let now = time::macros::datetime!(2026-11-30 09:30 UTC);
        let exp = now.unix_timestamp() + 600;
        let sig = sign(&key(), KIND, "C-42", exp);
        let got = verify(&key(), KIND, &params("C-42", exp, &sig), now)
            .unwrap()
            .unwrap();
        assert_eq!(got.customer_ref, "C-42");
        assert_eq!(got.expires_at.unix_timestamp(), exp);
        assert_eq!(got.id.len(), 64);
        assert!(!got.id.contains(&sig), "the id is not the signature");
    }

    #[test]
    fn a_link_signed_for_longer_than_the_maximum_lifetime_is_refused() {
        let now = time::macros::datetime!(2026-11-30 09:30 UTC);
        let longest = (now + MAX_LIFETIME).unix_timestamp() - 1;
        let p = params("C-42", longest, &sign(&key(), KIND, "C-42", longest));
        assert!(verify(&key(), KIND, &p, now).is_ok());
        for too_long in [longest + 120, i64::MAX] {
            let p = params("C-42", too_long, &sign(&key(), KIND, "C-42", too_long));
            assert_eq!(verify(&key(), KIND, &p, now), Err(LinkError::TooLongLived));
        }
    }

    #[test]
    fn altered_ref_forged_sig_and_expiry_are_refused() {
        let now = time::macros::datetime!(2026-11-30 09:30 UTC);
        let exp = now.unix_timestamp() + 600;
        let sig = sign(&key(), KIND, "C-42", exp);
        let p = params("C-43", exp, &sig);
        assert_eq!(verify(&key(), KIND, &p, now), Err(LinkError::BadSignature));
        let p = params("C-42", exp + 1, &sig);
        assert_eq!(verify(&key(), KIND, &p, now), Err(LinkError::BadSignature));
        let forged = sign(&Secret::new("other"), KIND, "C-42", exp);
        let p = params("C-42", exp, &forged);
        assert_eq!(verify(&key(), KIND, &p, now), Err(LinkError::BadSignature));
        let old = now.unix_timestamp() - 1;
        let p = params("C-42", old, &sign(&key(), KIND, "C-42", old));
        assert_eq!(verify(&key(), KIND, &p, now), Err(LinkError::Expired));
    }

    #[test]
    fn debug_never_shows_the_ref_or_the_signature() {
        let p = params("C-4242", 1_800_000_000, "c2lnbmF0dXJl");
        let shown = format!("{p:?}");
        assert!(
            !shown.contains("C-4242") && !shown.contains("c2lnbmF0dXJl"),
            "{shown}"
        );
        assert!(shown.contains("1800000000"));
    }

    #[test]
    fn ref_without_signature_is_refused_and_no_ref_is_fine() {
        let now = time::macros::datetime!(2026-11-30 09:30 UTC);
        let p = LinkParams {
            customer_ref: Some("C-42".into()),
            ..Default::default()
        };
        assert_eq!(verify(&key(), KIND, &p, now), Err(LinkError::Unsigned));
        let none = LinkParams::default();
        assert_eq!(verify(&key(), KIND, &none, now), Ok(None));
    }
}
