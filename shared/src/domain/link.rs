//! Signed connect links.
//!
//! The company's app sends a person to
//! `/connect/{provider}?ref=<customer id>&issued=<unix s>&expires=<unix s>&sig=<signature>`
//! so that the data lands on the company's own record of that person; a migration link
//! names the person's id at the predecessor provider instead (`legacy=<id>`, no `ref`: the
//! customer record comes with the earlier connection).
//!
//! `signature = base64url_nopad(HMAC-SHA256(key,
//!     "v2\n" + provider + "\n" + ref + "\n" + legacy + "\n" + issued + "\n" + expires))`
//! (an absent `ref` or `legacy` is the empty string).
//!
//! Invariants:
//! - Only links the app signed are accepted, for the provider they were signed for.
//! - A link is valid for at most [`MAX_LIFETIME`] from when it was issued: one signed for
//!   longer is refused outright, whenever it is opened.
//! - A link is good for one connection (the store's used links).
//! - A link is a bearer token: whoever opens it connects with it. What limits the harm of
//!   a forwarded one is the use case's: a migration link connects only the account whose
//!   legacy id it names, and a connection's customer record never changes through a link.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::domain::ProviderKind;
use crate::domain::Secret;

/// What a query value may carry unencoded: RFC 3986's unreserved characters. Spaces
/// become `%20`, never `+`, which not every gateway decodes in a query.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Longest customer id we accept: SAP's additional-id key is 255 characters.
pub const MAX_REF_LEN: usize = 255;

/// Longest provider user id a migration link may name.
pub const MAX_LEGACY_LEN: usize = 64;

/// The longest a link may be valid for, counted from when it was issued: long enough for a
/// link sent by email in a migration campaign, short enough that a leaked one dies.
pub const MAX_LIFETIME: Duration = Duration::days(90);

/// How far in the future an issue time may lie (the app's clock and ours differ a little).
pub const CLOCK_SKEW: Duration = Duration::minutes(5);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LinkError {
    #[error("connect link has a ref or legacy id but no issued/expires/sig")]
    Unsigned,
    #[error("connect link is malformed")]
    Malformed,
    #[error("connect link signature does not match")]
    BadSignature,
    #[error("connect link expired")]
    Expired,
    #[error("connect link was signed to be valid for longer than the maximum lifetime")]
    TooLongLived,
    #[error("connect link already used for a connection")]
    Used,
    #[error("this deployment connects people through signed links only")]
    Required,
    #[error("connect link was made for another account at the provider")]
    OtherAccount,
    #[error("connect link names another customer record than the account is tied to")]
    OtherCustomer,
}

/// What a link asserts, as the app signs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkClaims {
    /// The company's customer id the person's data goes to.
    pub customer_ref: Option<String>,
    /// The person's id at the predecessor provider: only that account may connect with it.
    pub legacy_user_id: Option<String>,
    /// Unix seconds.
    pub issued: i64,
    /// Unix seconds.
    pub expires: i64,
}

impl LinkClaims {
    /// The link's signature with `key`, for `provider`.
    pub fn sign(&self, key: &Secret, provider: ProviderKind) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(key, provider).finalize().into_bytes())
    }

    /// The link's query string (without `?`), signed with `key`, for `provider`.
    pub fn query(&self, key: &Secret, provider: ProviderKind) -> String {
        let encode = |v: &str| percent_encoding::utf8_percent_encode(v, QUERY_VALUE).to_string();
        let mut query = String::new();
        if let Some(customer_ref) = &self.customer_ref {
            query.push_str(&format!("ref={}&", encode(customer_ref)));
        }
        if let Some(legacy) = &self.legacy_user_id {
            query.push_str(&format!("legacy={}&", encode(legacy)));
        }
        query.push_str(&format!(
            "issued={}&expires={}&sig={}",
            self.issued,
            self.expires,
            self.sign(key, provider)
        ));
        query
    }

    fn mac(&self, key: &Secret, provider: ProviderKind) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes())
            .expect("HMAC takes any key length");
        mac.update(
            format!(
                "v2\n{provider}\n{}\n{}\n{}\n{}",
                self.customer_ref.as_deref().unwrap_or_default(),
                self.legacy_user_id.as_deref().unwrap_or_default(),
                self.issued,
                self.expires
            )
            .as_bytes(),
        );
        mac
    }
}

/// A link that passed [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedLink {
    pub customer_ref: Option<String>,
    pub legacy_user_id: Option<String>,
    /// Names the link for its single use: the SHA-256 of its signature, so the table never
    /// holds a signature.
    pub id: String,
    pub expires_at: OffsetDateTime,
}

/// The query parameters of a connect link, as received. `Debug` shows which parts are
/// present, never the customer id (personal data), the legacy id or the signature.
#[derive(Clone, Default)]
pub struct LinkParams {
    pub customer_ref: Option<String>,
    pub legacy_user_id: Option<String>,
    pub issued: Option<String>,
    pub expires: Option<String>,
    pub sig: Option<String>,
}

impl LinkParams {
    /// No link at all: a plain `/connect/{provider}`.
    pub fn is_empty(&self) -> bool {
        self.customer_ref.is_none()
            && self.legacy_user_id.is_none()
            && self.issued.is_none()
            && self.expires.is_none()
            && self.sig.is_none()
    }
}

impl std::fmt::Debug for LinkParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |v: &Option<String>| v.as_ref().map(|_| "[redacted]");
        f.debug_struct("LinkParams")
            .field("customer_ref", &shown(&self.customer_ref))
            .field("legacy_user_id", &shown(&self.legacy_user_id))
            .field("issued", &self.issued)
            .field("expires", &self.expires)
            .field("sig", &shown(&self.sig))
            .finish()
    }
}

/// Checks a link and returns it verified; `None` for no link at all.
///
/// A link must assert a customer id or a legacy id, carry a valid signature, have been
/// issued (give or take [`CLOCK_SKEW`]), not have expired, and have been signed for at
/// most [`MAX_LIFETIME`]. Whether it was used already is the caller's to check.
pub fn verify(
    key: &Secret,
    provider: ProviderKind,
    params: &LinkParams,
    now: OffsetDateTime,
) -> Result<Option<VerifiedLink>, LinkError> {
    if params.is_empty() {
        return Ok(None);
    }
    let (customer_ref, legacy) = (
        params.customer_ref.as_deref(),
        params.legacy_user_id.as_deref(),
    );
    if customer_ref.is_none() && legacy.is_none() {
        return Err(LinkError::Malformed);
    }
    let (Some(issued), Some(expires), Some(sig)) = (
        params.issued.as_deref(),
        params.expires.as_deref(),
        params.sig.as_deref(),
    ) else {
        return Err(LinkError::Unsigned);
    };
    let fits = |v: Option<&str>, max: usize| v.is_none_or(|v| !v.is_empty() && v.len() <= max);
    if !fits(customer_ref, MAX_REF_LEN) || !fits(legacy, MAX_LEGACY_LEN) {
        return Err(LinkError::Malformed);
    }
    let issued: i64 = issued.parse().map_err(|_| LinkError::Malformed)?;
    let expires: i64 = expires.parse().map_err(|_| LinkError::Malformed)?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| LinkError::BadSignature)?;
    let claims = LinkClaims {
        customer_ref: customer_ref.map(str::to_owned),
        legacy_user_id: legacy.map(str::to_owned),
        issued,
        expires,
    };
    // Constant-time comparison; the signature is checked before the times so an attacker
    // learns nothing from the difference between the answers.
    claims
        .mac(key, provider)
        .verify_slice(&sig)
        .map_err(|_| LinkError::BadSignature)?;
    let lifetime = expires.checked_sub(issued).ok_or(LinkError::TooLongLived)?;
    if lifetime > MAX_LIFETIME.whole_seconds() {
        return Err(LinkError::TooLongLived);
    }
    if issued > (now + CLOCK_SKEW).unix_timestamp() {
        return Err(LinkError::Malformed);
    }
    if now.unix_timestamp() >= expires {
        return Err(LinkError::Expired);
    }
    let expires_at =
        OffsetDateTime::from_unix_timestamp(expires).map_err(|_| LinkError::Malformed)?;
    let id = Sha256::digest(&sig)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Some(VerifiedLink {
        customer_ref: claims.customer_ref,
        legacy_user_id: claims.legacy_user_id,
        id,
        expires_at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIND: ProviderKind = ProviderKind::ALL[0];
    const NOW: OffsetDateTime = time::macros::datetime!(2026-11-30 09:30 UTC);

    fn key() -> Secret {
        Secret::new("k3y")
    }

    fn claims(customer_ref: &str, valid_for: i64) -> LinkClaims {
        LinkClaims {
            customer_ref: Some(customer_ref.into()),
            legacy_user_id: None,
            issued: NOW.unix_timestamp(),
            expires: NOW.unix_timestamp() + valid_for,
        }
    }

    fn params(c: &LinkClaims, sig: &str) -> LinkParams {
        LinkParams {
            customer_ref: c.customer_ref.clone(),
            legacy_user_id: c.legacy_user_id.clone(),
            issued: Some(c.issued.to_string()),
            expires: Some(c.expires.to_string()),
            sig: Some(sig.into()),
        }
    }

    fn signed(c: &LinkClaims) -> LinkParams {
        params(c, &c.sign(&key(), KIND))
    }

    #[test]
    fn valid_link_yields_the_ref() {
        let c = claims("C-42", 600);
        let sig = c.sign(&key(), KIND);
        let got = verify(&key(), KIND, &params(&c, &sig), NOW)
            .unwrap()
            .unwrap();
        assert_eq!(got.customer_ref.as_deref(), Some("C-42"));
        assert_eq!(got.expires_at.unix_timestamp(), c.expires);
        assert_eq!(got.id.len(), 64);
        assert!(!got.id.contains(&sig), "the id is not the signature");
    }

    #[test]
    fn a_migration_link_names_the_legacy_account_and_no_ref() {
        let c = LinkClaims {
            customer_ref: None,
            legacy_user_id: Some("GGNJL9".into()),
            ..claims("", 600)
        };
        let got = verify(&key(), KIND, &signed(&c), NOW).unwrap().unwrap();
        assert_eq!(got.legacy_user_id.as_deref(), Some("GGNJL9"));
        assert_eq!(got.customer_ref, None);
        // The legacy id is signed: another account's id breaks the signature.
        let mut other = signed(&c);
        other.legacy_user_id = Some("OTHER1".into());
        assert_eq!(
            verify(&key(), KIND, &other, NOW),
            Err(LinkError::BadSignature)
        );
        // A link that asserts nothing is no link.
        let nothing = LinkClaims {
            legacy_user_id: None,
            ..c
        };
        assert_eq!(
            verify(&key(), KIND, &signed(&nothing), NOW),
            Err(LinkError::Malformed)
        );
    }

    #[test]
    fn a_link_signed_for_longer_than_the_maximum_lifetime_is_refused_whenever_it_is_opened() {
        let longest = MAX_LIFETIME.whole_seconds();
        assert!(verify(&key(), KIND, &signed(&claims("C-42", longest)), NOW).is_ok());
        for too_long in [longest + 1, 365 * 86_400, i64::MAX - NOW.unix_timestamp()] {
            let p = signed(&claims("C-42", too_long));
            assert_eq!(verify(&key(), KIND, &p, NOW), Err(LinkError::TooLongLived));
            // Even in what would have been its last days.
            let late = NOW + Duration::seconds(too_long.min(10 * 365 * 86_400)) - Duration::days(1);
            assert_eq!(verify(&key(), KIND, &p, late), Err(LinkError::TooLongLived));
        }
    }

    #[test]
    fn altered_claims_forged_sig_expiry_and_future_issue_are_refused() {
        let c = claims("C-42", 600);
        let sig = c.sign(&key(), KIND);
        for altered in [
            LinkClaims {
                customer_ref: Some("C-43".into()),
                ..c.clone()
            },
            LinkClaims {
                expires: c.expires + 1,
                ..c.clone()
            },
            LinkClaims {
                issued: c.issued - 1,
                ..c.clone()
            },
        ] {
            assert_eq!(
                verify(&key(), KIND, &params(&altered, &sig), NOW),
                Err(LinkError::BadSignature)
            );
        }
        let forged = c.sign(&Secret::new("other"), KIND);
        assert_eq!(
            verify(&key(), KIND, &params(&c, &forged), NOW),
            Err(LinkError::BadSignature)
        );
        let other_provider = c.sign(&key(), ProviderKind::ALL[1]);
        assert_eq!(
            verify(&key(), KIND, &params(&c, &other_provider), NOW),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            verify(&key(), KIND, &signed(&c), NOW + Duration::seconds(600)),
            Err(LinkError::Expired)
        );
        let future = LinkClaims {
            issued: (NOW + CLOCK_SKEW).unix_timestamp() + 1,
            expires: (NOW + Duration::hours(1)).unix_timestamp(),
            ..c.clone()
        };
        assert_eq!(
            verify(&key(), KIND, &signed(&future), NOW),
            Err(LinkError::Malformed)
        );
    }

    #[test]
    fn the_query_carries_every_claim_and_verifies() {
        let c = LinkClaims {
            customer_ref: Some("C 42/ä".into()),
            ..claims("", 600)
        };
        let query = c.query(&key(), KIND);
        let pairs: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
        let p = LinkParams {
            customer_ref: pairs.get("ref").cloned(),
            legacy_user_id: pairs.get("legacy").cloned(),
            issued: pairs.get("issued").cloned(),
            expires: pairs.get("expires").cloned(),
            sig: pairs.get("sig").cloned(),
        };
        let got = verify(&key(), KIND, &p, NOW).unwrap().unwrap();
        assert_eq!(got.customer_ref.as_deref(), Some("C 42/ä"));
    }

    #[test]
    fn debug_never_shows_the_ref_the_legacy_id_or_the_signature() {
        let p = LinkParams {
            customer_ref: Some("C-4242".into()),
            legacy_user_id: Some("LEG999".into()),
            issued: Some("1700000000".into()),
            expires: Some("1800000000".into()),
            sig: Some("c2lnbmF0dXJl".into()),
        };
        let shown = format!("{p:?}");
        for hidden in ["C-4242", "LEG999", "c2lnbmF0dXJl"] {
            assert!(!shown.contains(hidden), "{shown}");
        }
        assert!(shown.contains("1800000000"));
    }

    #[test]
    fn a_claim_without_signature_is_refused_and_no_link_is_fine() {
        let p = LinkParams {
            customer_ref: Some("C-42".into()),
            ..Default::default()
        };
        assert_eq!(verify(&key(), KIND, &p, NOW), Err(LinkError::Unsigned));
        assert_eq!(verify(&key(), KIND, &LinkParams::default(), NOW), Ok(None));
    }
}
