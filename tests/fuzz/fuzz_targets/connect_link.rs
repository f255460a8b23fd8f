//! Signed connect links
//! (`/connect/{provider}?ref=…&legacy=…&issued=…&expires=…&sig=…`).
//!
//! Input: NUL-separated fields `provider`, `ref`, `legacy`, `issued`, `expires`, `sig`,
//! `now` (unix seconds); a missing field is a missing query parameter (`now` defaults to a
//! fixed instant).
//!
//! Properties:
//! - No parameter at all: `Ok(None)`. A ref or legacy id without `issued`, `expires` or
//!   `sig`: `Unsigned`. Never `Ok(None)` for a link with parameters.
//! - `Ok(Some(link))` only if `sig` decodes to HMAC-SHA256(key, "v2\n" provider "\n" ref
//!   "\n" legacy "\n" issued "\n" expires), computed here independently; ref and legacy
//!   come back unchanged (at least one of them, each within its length); `issued <= now +
//!   5 min`, `now < expires`, `expires - issued <= 90 days`; and the link id is the hex
//!   SHA-256 of the signature (64 characters, never the signature itself).
//! - A link signed with `LinkClaims::sign` for the fuzzed ref and legacy id and a valid
//!   lifetime verifies and yields them; the same link for the other provider, with the ref,
//!   the legacy id, `issued` or `expires` changed, does not; signed for longer than 90 days
//!   it is refused whenever it is opened.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use fitbridge::domain::link::{
    verify, LinkClaims, LinkError, LinkParams, CLOCK_SKEW, MAX_LEGACY_LEN, MAX_LIFETIME,
    MAX_REF_LEN,
};
use fitbridge::domain::ProviderKind;
use fitbridge::domain::Secret;
use fitbridge_fuzz::{hex, nul_fields};
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

const LINK_KEY: &str = "fuzz-link-key";
const DEFAULT_NOW: i64 = 1_795_291_220;

fn text(field: Option<&[u8]>) -> Option<String> {
    field.map(|f| String::from_utf8_lossy(f).into_owned())
}

fn params(c: &LinkClaims, sig: String) -> LinkParams {
    LinkParams {
        customer_ref: c.customer_ref.clone(),
        legacy_user_id: c.legacy_user_id.clone(),
        issued: Some(c.issued.to_string()),
        expires: Some(c.expires.to_string()),
        sig: Some(sig),
    }
}

fuzz_target!(|data: &[u8]| {
    let fields = nul_fields(data, 7);
    let provider = match fields[0].and_then(|f| f.first()) {
        Some(b) if b % 2 == 1 => ProviderKind::GoogleHealth,
        _ => ProviderKind::Fitbit,
    };
    let other = match provider {
        ProviderKind::Fitbit => ProviderKind::GoogleHealth,
        _ => ProviderKind::Fitbit,
    };
    let given = LinkParams {
        customer_ref: text(fields[1]),
        legacy_user_id: text(fields[2]),
        issued: text(fields[3]),
        expires: text(fields[4]),
        sig: text(fields[5]),
    };
    let now = text(fields[6])
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .unwrap_or_else(|| OffsetDateTime::from_unix_timestamp(DEFAULT_NOW).unwrap());
    let key = Secret::new(LINK_KEY);

    let result = verify(&key, provider, &given, now);
    match &result {
        Ok(None) => assert!(given.is_empty(), "a link with parameters was dropped"),
        Err(LinkError::Unsigned) => assert!(
            given.issued.is_none() || given.expires.is_none() || given.sig.is_none()
        ),
        Ok(Some(link)) => {
            assert_eq!(link.customer_ref, given.customer_ref);
            assert_eq!(link.legacy_user_id, given.legacy_user_id);
            assert!(link.customer_ref.is_some() || link.legacy_user_id.is_some());
            let fits = |v: &Option<String>, max| v.as_ref().is_none_or(|v| !v.is_empty() && v.len() <= max);
            assert!(fits(&link.customer_ref, MAX_REF_LEN) && fits(&link.legacy_user_id, MAX_LEGACY_LEN));
            let issued: i64 = given.issued.as_deref().unwrap().parse().unwrap();
            let expires: i64 = given.expires.as_deref().unwrap().parse().unwrap();
            let sig = URL_SAFE_NO_PAD
                .decode(given.sig.as_deref().unwrap())
                .expect("an accepted signature decodes");
            let mut mac = Hmac::<Sha256>::new_from_slice(LINK_KEY.as_bytes()).unwrap();
            mac.update(
                format!(
                    "v2\n{provider}\n{}\n{}\n{issued}\n{expires}",
                    given.customer_ref.as_deref().unwrap_or_default(),
                    given.legacy_user_id.as_deref().unwrap_or_default()
                )
                .as_bytes(),
            );
            assert_eq!(
                mac.finalize().into_bytes().to_vec(),
                sig,
                "accepted a signature that is not the link's MAC"
            );
            assert_eq!(link.expires_at.unix_timestamp(), expires);
            assert!(issued <= (now + CLOCK_SKEW).unix_timestamp());
            assert!(now < link.expires_at);
            assert!(expires - issued <= MAX_LIFETIME.whole_seconds());
            assert_eq!(link.id, hex(&Sha256::digest(&sig)));
            assert_ne!(link.id, given.sig.clone().unwrap());
        }
        Err(_) => {}
    }

    // Round trip through `LinkClaims::sign` with the fuzzed ref and legacy id.
    let usable = |v: &Option<String>, max: usize| match v {
        Some(v) if v.is_empty() || v.len() > max => None,
        other => Some(other.clone()),
    };
    let (Some(customer_ref), Some(legacy_user_id)) = (
        usable(&given.customer_ref, MAX_REF_LEN),
        usable(&given.legacy_user_id, MAX_LEGACY_LEN),
    ) else {
        return;
    };
    if customer_ref.is_none() && legacy_user_id.is_none() {
        return;
    }
    let valid_for = given
        .expires
        .as_deref()
        .and_then(|e| e.parse::<i64>().ok())
        .filter(|d| (1..=MAX_LIFETIME.whole_seconds()).contains(d))
        .unwrap_or(600);
    let claims = LinkClaims {
        customer_ref,
        legacy_user_id,
        issued: now.unix_timestamp(),
        expires: now.unix_timestamp() + valid_for,
    };
    let sig = claims.sign(&key, provider);
    let link = verify(&key, provider, &params(&claims, sig.clone()), now)
        .expect("a link we signed verifies")
        .expect("and carries its claims");
    assert_eq!(link.customer_ref, claims.customer_ref);
    assert_eq!(link.legacy_user_id, claims.legacy_user_id);
    assert_eq!(
        verify(&key, other, &params(&claims, sig.clone()), now),
        Err(LinkError::BadSignature)
    );
    let changed = |v: &Option<String>| Some(format!("{}x", v.as_deref().unwrap_or_default()));
    for altered in [
        LinkClaims { customer_ref: changed(&claims.customer_ref), ..claims.clone() },
        LinkClaims { legacy_user_id: changed(&claims.legacy_user_id), ..claims.clone() },
        LinkClaims { issued: claims.issued - 1, ..claims.clone() },
        LinkClaims { expires: claims.expires - 1, ..claims.clone() },
    ] {
        let r = verify(&key, provider, &params(&altered, sig.clone()), now);
        assert!(matches!(r, Err(LinkError::BadSignature | LinkError::Malformed)), "{r:?}");
    }
    let too_long = LinkClaims {
        expires: claims.issued + MAX_LIFETIME.whole_seconds() + 1,
        ..claims.clone()
    };
    let p = params(&too_long, too_long.sign(&key, provider));
    assert_eq!(verify(&key, provider, &p, now), Err(LinkError::TooLongLived));
    let late = OffsetDateTime::from_unix_timestamp(too_long.expires - 60).unwrap();
    assert_eq!(verify(&key, provider, &p, late), Err(LinkError::TooLongLived));
});
