//! Signed connect links (`/connect/{provider}?ref=…&expires=…&sig=…`).
//!
//! Input: NUL-separated fields `provider`, `ref`, `expires`, `sig`, `now` (unix seconds);
//! a missing field is a missing query parameter (`now` defaults to a fixed instant).
//!
//! Properties:
//! - No `ref`: `Ok(None)`. A `ref` without `expires` or `sig`: `Unsigned`.
//! - `Ok(Some(link))` only if `sig` decodes to HMAC-SHA256(key, "v1\n" provider "\n" ref
//!   "\n" expires), computed here independently, the ref is 1 to 255 bytes and comes back
//!   unchanged, `now < expires <= now + 90 days`, and the link id is the hex SHA-256 of the
//!   signature (64 characters, never the signature itself).
//! - A link signed with `sign` for the fuzzed ref and a valid expiry verifies and yields
//!   that ref; the same link for the other provider, with the ref changed or `expires`
//!   changed, does not.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use fitbridge::domain::link::{sign, verify, LinkError, LinkParams, MAX_LIFETIME, MAX_REF_LEN};
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

fuzz_target!(|data: &[u8]| {
    let fields = nul_fields(data, 5);
    let provider = match fields[0].and_then(|f| f.first()) {
        Some(b) if b % 2 == 1 => ProviderKind::GoogleHealth,
        _ => ProviderKind::Fitbit,
    };
    let other = match provider {
        ProviderKind::Fitbit => ProviderKind::GoogleHealth,
        _ => ProviderKind::Fitbit,
    };
    let params = LinkParams {
        customer_ref: text(fields[1]),
        expires: text(fields[2]),
        sig: text(fields[3]),
    };
    let now = text(fields[4])
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .unwrap_or_else(|| OffsetDateTime::from_unix_timestamp(DEFAULT_NOW).unwrap());
    let key = Secret::new(LINK_KEY);

    let result = verify(&key, provider, &params, now);
    match (&params.customer_ref, &result) {
        (None, r) => assert_eq!(r, &Ok(None)),
        (Some(_), Err(LinkError::Unsigned)) => {
            assert!(params.expires.is_none() || params.sig.is_none())
        }
        (Some(_), Ok(None)) => panic!("a ref was dropped"),
        (Some(customer_ref), Ok(Some(link))) => {
            assert_eq!(&link.customer_ref, customer_ref);
            assert!(!customer_ref.is_empty() && customer_ref.len() <= MAX_REF_LEN);
            let expires: i64 = params.expires.as_deref().unwrap().parse().unwrap();
            let sig = URL_SAFE_NO_PAD
                .decode(params.sig.as_deref().unwrap())
                .expect("an accepted signature decodes");
            let mut mac = Hmac::<Sha256>::new_from_slice(LINK_KEY.as_bytes()).unwrap();
            mac.update(format!("v1\n{provider}\n{customer_ref}\n{expires}").as_bytes());
            assert_eq!(
                mac.finalize().into_bytes().to_vec(),
                sig,
                "accepted a signature that is not the link's MAC"
            );
            assert_eq!(link.expires_at.unix_timestamp(), expires);
            assert!(now < link.expires_at && link.expires_at - now <= MAX_LIFETIME);
            assert_eq!(link.id, hex(&Sha256::digest(&sig)));
            assert_ne!(link.id, params.sig.clone().unwrap());
        }
        (Some(_), Err(_)) => {}
    }

    // Round trip through `sign` with the fuzzed ref.
    let Some(customer_ref) = params.customer_ref.as_deref() else {
        return;
    };
    if customer_ref.is_empty() || customer_ref.len() > MAX_REF_LEN {
        return;
    }
    let longest = (now + MAX_LIFETIME).unix_timestamp();
    let expires = params
        .expires
        .as_deref()
        .and_then(|e| e.parse::<i64>().ok())
        .filter(|e| *e > now.unix_timestamp() && *e <= longest)
        .unwrap_or(now.unix_timestamp() + 600);
    let signed = |customer_ref: &str, expires: i64, sig: String| LinkParams {
        customer_ref: Some(customer_ref.to_owned()),
        expires: Some(expires.to_string()),
        sig: Some(sig),
    };
    let sig = sign(&key, provider, customer_ref, expires);
    let link = verify(
        &key,
        provider,
        &signed(customer_ref, expires, sig.clone()),
        now,
    )
    .expect("a link we signed verifies")
    .expect("and carries its ref");
    assert_eq!(link.customer_ref, customer_ref);
    assert_eq!(
        verify(
            &key,
            other,
            &signed(customer_ref, expires, sig.clone()),
            now
        ),
        Err(LinkError::BadSignature)
    );
    let changed_ref = if customer_ref.len() < MAX_REF_LEN {
        format!("{customer_ref}x")
    } else {
        customer_ref[..customer_ref.floor_char_boundary(customer_ref.len() - 1)].to_owned()
    };
    if !changed_ref.is_empty() {
        assert_eq!(
            verify(
                &key,
                provider,
                &signed(&changed_ref, expires, sig.clone()),
                now
            ),
            Err(LinkError::BadSignature)
        );
    }
    assert_eq!(
        verify(&key, provider, &signed(customer_ref, expires - 1, sig), now),
        Err(LinkError::BadSignature)
    );
});
