//! Google Health webhook signatures: the Tink-framed header decoding and ECDSA check,
//! against a keyset holding a fixed test key.
//!
//! Input: `<signature header>\n<body>`.
//!
//! Properties:
//! - `Ok` only for a (body, header) pair the test key really signed: the body is one of
//!   the signed bodies, the header names a key id the keyset holds, and aws-lc, asked
//!   directly, accepts the DER signature over the body.
//! - Every refusal says why, and the reason is true of the header: `NotBase64` only for
//!   what base64 (padding optional) cannot decode; `WrongLength` carries the decoded
//!   length, outside 13..=77; `NotTinkPrefixed` a first byte other than 0x01;
//!   `UnknownKey` an id the keyset lacks, `Invalid` one it holds; never `Missing` or
//!   `KeysetUnavailable`.
//! - The real signatures verify their own body and no other: the fuzzed body is accepted
//!   with a real header exactly when it equals the body that header signed.
#![no_main]

use std::sync::LazyLock;

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use fitbridge::provider::google_health::keyset::Keyset;
use fitbridge::provider::google_health::signature::{
    verify_header, MalformedHeader, SignatureError,
};
use fitbridge_fuzz::{split_line, test_key_point, test_keyset_json, SIGNED, TEST_KEY_IDS};
use libfuzzer_sys::fuzz_target;

static KEYSET: LazyLock<Keyset> =
    LazyLock::new(|| Keyset::from_json(&test_keyset_json()).expect("the test keyset parses"));

const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fuzz_target!(|data: &[u8]| {
    let (header, body) = split_line(data);
    let keyset = &*KEYSET;

    if let Ok(header) = std::str::from_utf8(header) {
        let result = verify_header(keyset, body, header);
        let decoded = BASE64.decode(header.trim_ascii());
        match &result {
            Ok(()) => {
                assert!(
                    SIGNED.iter().any(|(signed, _)| *signed == body),
                    "accepted a body the test key never signed"
                );
                let framed = decoded.expect("an accepted header decodes");
                let key_id = u32::from_be_bytes([framed[1], framed[2], framed[3], framed[4]]);
                assert!(TEST_KEY_IDS.contains(&key_id));
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, test_key_point())
                    .verify(body, &framed[5..])
                    .expect("aws-lc itself accepts the signature");
            }
            Err(SignatureError::Malformed(MalformedHeader::NotBase64)) => {
                assert!(decoded.is_err(), "NotBase64 for decodable {header:?}");
            }
            Err(SignatureError::Malformed(MalformedHeader::WrongLength { len })) => {
                let framed = decoded.expect("a length implies it decoded");
                assert_eq!(framed.len(), *len);
                assert!(!(13..=77).contains(len));
            }
            Err(SignatureError::Malformed(MalformedHeader::NotTinkPrefixed { first_byte })) => {
                let framed = decoded.expect("a first byte implies it decoded");
                assert_eq!(framed.first(), Some(first_byte));
                assert_ne!(*first_byte, 0x01);
            }
            Err(SignatureError::UnknownKey { key_id }) => {
                assert!(!TEST_KEY_IDS.contains(key_id));
                assert!(!keyset.contains(*key_id));
            }
            Err(SignatureError::Invalid { key_id }) => {
                assert!(TEST_KEY_IDS.contains(key_id));
                assert!(!SIGNED
                    .iter()
                    .any(|(signed, good)| *signed == body && *good == header.trim_ascii()));
            }
            Err(other) => panic!("verify_header never answers {other:?}"),
        }
    }

    // The real headers against the fuzzed body.
    for (signed, good) in SIGNED {
        assert_eq!(
            verify_header(keyset, body, good).is_ok(),
            signed == body,
            "a real signature and a {} body",
            if signed == body {
                "matching"
            } else {
                "different"
            }
        );
    }
});
