//! Google's public keyset for webhook signatures: a Tink JSON keyset of ECDSA P-256 keys.
//!
//! Invariants:
//! - A [`Keyset`] only ever holds keys Tink itself would use to verify a `TINK`-prefixed
//!   ECDSA P-256 / SHA-256 / DER signature: status `ENABLED`, type `EcdsaPublicKey`,
//!   version 0, curve `NIST_P256`, hash `SHA256`, encoding `DER`, output prefix `TINK`,
//!   and a point that aws-lc accepts as on the curve. Anything else is skipped (and logged
//!   with its key id and the reason), never fatal for the other keys.
//! - A keyset with no usable key at all is an error, not an empty set: it means we no
//!   longer understand what Google publishes, and the caller should answer "try again"
//!   rather than reject every notification as forged.
//! - Parsing never panics, whatever the input; everything it reads is untrusted until
//!   the signature check, and the protobuf reader rejects truncated input.
//!
//! Formats (Tink's `proto/tink.proto`, `proto/ecdsa.proto`, `proto/common.proto` and its
//! `JsonKeysetReader`): the JSON is
//! `{"primaryKeyId": n, "key": [{"keyData": {"typeUrl", "value", "keyMaterialType"},
//! "status", "keyId", "outputPrefixType"}]}` with `value` the standard base64 of a
//! serialized `EcdsaPublicKey { uint32 version = 1; EcdsaParams params = 2; bytes x = 3;
//! bytes y = 4; }` and `EcdsaParams { HashType hash_type = 1; EllipticCurveType curve = 2;
//! EcdsaSignatureEncoding encoding = 3; }`. Key ids are unsigned 32-bit; Tink also writes
//! ids ≥ 2³¹ as negative JSON numbers. `x` and `y` are big-endian integers that may carry
//! a leading 0x00 (sign byte) or be shorter than the field size.

use std::collections::HashMap;

use aws_lc_rs::signature::{ParsedPublicKey, UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde_json::Value;

/// Standard base64 with or without padding: Tink writes padded values, but a missing `=`
/// changes nothing about the bytes.
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

const ECDSA_PUBLIC_KEY_TYPE_URL: &str = "type.googleapis.com/google.crypto.tink.EcdsaPublicKey";
/// The only `EcdsaPublicKey.version` Tink's ECDSA key manager accepts.
const SUPPORTED_KEY_VERSION: u64 = 0;
/// `HashType.SHA256` in Tink's common.proto.
const HASH_SHA256: u64 = 3;
/// `EllipticCurveType.NIST_P256` in Tink's common.proto.
const CURVE_NIST_P256: u64 = 2;
/// `EcdsaSignatureEncoding.DER` in Tink's ecdsa.proto.
const ENCODING_DER: u64 = 2;
/// Bytes in a P-256 field element.
const P256_COORDINATE_LEN: usize = 32;
/// SEC1 tag of an uncompressed point.
const SEC1_UNCOMPRESSED: u8 = 0x04;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysetError {
    /// The source could not deliver the keyset (network, HTTP status, timeout).
    #[error("keyset could not be fetched: {0}")]
    Fetch(String),
    /// The text is not a Tink JSON keyset at all (not JSON, no `key` array).
    #[error("keyset is not a Tink JSON keyset: {0}")]
    Malformed(&'static str),
    /// Every entry was skipped: nothing we could verify with.
    #[error("keyset holds no usable ECDSA P-256 key ({skipped} entries skipped)")]
    NoUsableKey { skipped: usize },
}

/// The verifying keys of one keyset, by Tink key id.
///
/// Tink does not promise key ids are unique, so one id may hold several keys; a
/// signature is good if any of them accepts it.
#[derive(Debug, Clone)]
pub struct Keyset {
    keys: HashMap<u32, Vec<ParsedPublicKey>>,
    skipped: usize,
}

impl Keyset {
    /// Parses Tink's JSON keyset format, keeping the usable keys (see the module docs).
    pub fn from_json(text: &str) -> Result<Keyset, KeysetError> {
        let json: Value =
            serde_json::from_str(text).map_err(|_| KeysetError::Malformed("not JSON"))?;
        let entries = json
            .get("key")
            .and_then(Value::as_array)
            .ok_or(KeysetError::Malformed("no \"key\" array"))?;
        let mut keys: HashMap<u32, Vec<ParsedPublicKey>> = HashMap::new();
        let mut skipped = 0;
        for entry in entries {
            match usable_key(entry) {
                Ok((key_id, key)) => keys.entry(key_id).or_default().push(key),
                Err(reason) => {
                    skipped += 1;
                    // Public keys: the id and the reason are all there is to say.
                    let key_id = entry.get("keyId").and_then(Value::as_i64);
                    tracing::warn!(key_id, reason, "webhook keyset entry skipped");
                }
            }
        }
        if keys.is_empty() {
            return Err(KeysetError::NoUsableKey { skipped });
        }
        Ok(Keyset { keys, skipped })
    }

    /// The keys registered under `key_id` (empty if none).
    pub fn keys_for(&self, key_id: u32) -> &[ParsedPublicKey] {
        self.keys.get(&key_id).map_or(&[], Vec::as_slice)
    }

    pub fn contains(&self, key_id: u32) -> bool {
        self.keys.contains_key(&key_id)
    }

    /// Ids of the usable keys, in no particular order.
    pub fn key_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.keys.keys().copied()
    }

    /// Entries of the JSON that were not usable.
    pub fn skipped(&self) -> usize {
        self.skipped
    }
}

/// One JSON keyset entry → (key id, verifying key), or why it is not usable.
fn usable_key(entry: &Value) -> Result<(u32, ParsedPublicKey), &'static str> {
    let key_id = entry.get("keyId").ok_or("no keyId").and_then(key_id)?;
    if entry.get("status").and_then(Value::as_str) != Some("ENABLED") {
        return Err("not ENABLED");
    }
    if entry.get("outputPrefixType").and_then(Value::as_str) != Some("TINK") {
        return Err("output prefix is not TINK");
    }
    let key_data = entry.get("keyData").ok_or("no keyData")?;
    if key_data.get("typeUrl").and_then(Value::as_str) != Some(ECDSA_PUBLIC_KEY_TYPE_URL) {
        return Err("not an EcdsaPublicKey");
    }
    let value = key_data
        .get("value")
        .and_then(Value::as_str)
        .ok_or("no keyData.value")?;
    let serialized = BASE64
        .decode(value)
        .map_err(|_| "keyData.value is not base64")?;
    let key = EcdsaPublicKey::decode(&serialized).map_err(ProtoError::reason)?;
    if key.version != SUPPORTED_KEY_VERSION {
        return Err("unsupported key version");
    }
    if key.params.curve != CURVE_NIST_P256 {
        return Err("curve is not NIST_P256");
    }
    if key.params.hash_type != HASH_SHA256 {
        return Err("hash is not SHA256");
    }
    if key.params.encoding != ENCODING_DER {
        return Err("signature encoding is not DER");
    }
    let point = uncompressed_point(key.x, key.y).ok_or("coordinate longer than 32 bytes")?;
    let parsed = UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
        .parse()
        .map_err(|_| "not a point on P-256")?;
    Ok((key_id, parsed))
}

/// Tink's key id: a JSON number in the unsigned *or* signed 32-bit range (Tink Java
/// writes ids ≥ 2³¹ as their negative two's-complement value).
fn key_id(value: &Value) -> Result<u32, &'static str> {
    let id = value.as_i64().ok_or("keyId is not an integer")?;
    if let Ok(unsigned) = u32::try_from(id) {
        return Ok(unsigned);
    }
    i32::try_from(id)
        .map(|signed| signed as u32)
        .map_err(|_| "keyId is out of the 32-bit range")
}

/// 0x04 ‖ X ‖ Y with each coordinate left-padded to 32 bytes; `None` if a coordinate
/// has more than 32 significant bytes.
fn uncompressed_point(x: &[u8], y: &[u8]) -> Option<[u8; 1 + 2 * P256_COORDINATE_LEN]> {
    let mut point = [0u8; 1 + 2 * P256_COORDINATE_LEN];
    point[0] = SEC1_UNCOMPRESSED;
    let (x_out, y_out) = point[1..].split_at_mut(P256_COORDINATE_LEN);
    left_pad_into(x, x_out)?;
    left_pad_into(y, y_out)?;
    Some(point)
}

/// Copies a big-endian integer into `out`, right-aligned, dropping leading zero bytes.
fn left_pad_into(be: &[u8], out: &mut [u8]) -> Option<()> {
    let first_significant = be.iter().position(|&b| b != 0).unwrap_or(be.len());
    let significant = &be[first_significant..];
    let start = out.len().checked_sub(significant.len())?;
    out[start..].copy_from_slice(significant);
    Some(())
}

/// The fields of Tink's `EcdsaPublicKey` we read; absent fields take proto3 defaults.
#[derive(Debug, Default, PartialEq, Eq)]
struct EcdsaPublicKey<'a> {
    version: u64,
    params: EcdsaParams,
    x: &'a [u8],
    y: &'a [u8],
}

/// Tink's `EcdsaParams`; enum values are kept as read (0 = unknown/unset).
#[derive(Debug, Default, PartialEq, Eq)]
struct EcdsaParams {
    hash_type: u64,
    curve: u64,
    encoding: u64,
}

impl<'a> EcdsaPublicKey<'a> {
    /// Proto3 rules: unknown fields are skipped; a field that repeats keeps its last
    /// value (Google's keyset never repeats one, so merging sub-messages is not needed).
    fn decode(bytes: &'a [u8]) -> Result<Self, ProtoError> {
        let mut key = EcdsaPublicKey::default();
        let mut fields = ProtoReader::new(bytes);
        while let Some((number, value)) = fields.next_field()? {
            match (number, value) {
                (1, WireValue::Varint(v)) => key.version = v,
                (2, WireValue::Bytes(b)) => key.params = EcdsaParams::decode(b)?,
                (3, WireValue::Bytes(b)) => key.x = b,
                (4, WireValue::Bytes(b)) => key.y = b,
                (1..=4, _) => return Err(ProtoError::WrongWireType),
                _ => {}
            }
        }
        Ok(key)
    }
}

impl EcdsaParams {
    fn decode(bytes: &[u8]) -> Result<Self, ProtoError> {
        let mut params = EcdsaParams::default();
        let mut fields = ProtoReader::new(bytes);
        while let Some((number, value)) = fields.next_field()? {
            match (number, value) {
                (1, WireValue::Varint(v)) => params.hash_type = v,
                (2, WireValue::Varint(v)) => params.curve = v,
                (3, WireValue::Varint(v)) => params.encoding = v,
                (1..=3, _) => return Err(ProtoError::WrongWireType),
                _ => {}
            }
        }
        Ok(params)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProtoError {
    Truncated,
    /// A varint longer than the 10 bytes a u64 needs.
    VarintTooLong,
    /// Field number 0, or wire type 3/4 (groups, unused by Tink) / 6/7 (undefined).
    InvalidTag,
    /// A known field arrived with a wire type its declaration does not allow.
    WrongWireType,
}

impl ProtoError {
    fn reason(self) -> &'static str {
        match self {
            ProtoError::Truncated => "EcdsaPublicKey protobuf is truncated",
            ProtoError::VarintTooLong => "EcdsaPublicKey protobuf has an overlong varint",
            ProtoError::InvalidTag => "EcdsaPublicKey protobuf has an invalid tag",
            ProtoError::WrongWireType => "EcdsaPublicKey protobuf has a field of the wrong type",
        }
    }
}

/// A field's payload; fixed-width values are skipped, so only their presence shows.
#[derive(Debug, PartialEq, Eq)]
enum WireValue<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// Reads (field number, value) pairs from a serialized protobuf message, front to back.
struct ProtoReader<'a> {
    rest: &'a [u8],
}

impl<'a> ProtoReader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        ProtoReader { rest: bytes }
    }

    /// The next field, `None` at the clean end of the message.
    fn next_field(&mut self) -> Result<Option<(u64, WireValue<'a>)>, ProtoError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let number = tag >> 3;
        if number == 0 {
            return Err(ProtoError::InvalidTag);
        }
        let value = match tag & 0x7 {
            0 => WireValue::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                WireValue::Fixed
            }
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len).map_err(|_| ProtoError::Truncated)?;
                WireValue::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                WireValue::Fixed
            }
            _ => return Err(ProtoError::InvalidTag),
        };
        Ok(Some((number, value)))
    }

    fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut value: u64 = 0;
        for (i, &byte) in self.rest.iter().enumerate() {
            if i == 10 {
                return Err(ProtoError::VarintTooLong);
            }
            // The 10th byte carries bit 63 only; higher bits are dropped, as protobuf does.
            value |= u64::from(byte & 0x7f).wrapping_shl(7 * i as u32);
            if byte & 0x80 == 0 {
                self.rest = &self.rest[i + 1..];
                return Ok(value);
            }
        }
        Err(ProtoError::Truncated)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], ProtoError> {
        if len > self.rest.len() {
            return Err(ProtoError::Truncated);
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};

    /// Minimal protobuf writer for building Tink keys in tests.
    pub(crate) fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    pub(crate) fn varint_field(number: u64, v: u64, out: &mut Vec<u8>) {
        varint(number << 3, out);
        varint(v, out);
    }

    pub(crate) fn bytes_field(number: u64, bytes: &[u8], out: &mut Vec<u8>) {
        varint((number << 3) | 2, out);
        varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    }

    /// The `EcdsaPublicKey` Google signs with: P-256, SHA-256, DER signatures.
    fn p256_sha256_der(x: &[u8], y: &[u8]) -> Vec<u8> {
        ecdsa_public_key(HASH_SHA256, CURVE_NIST_P256, ENCODING_DER, x, y)
    }

    /// A serialized `EcdsaPublicKey` with the given params and coordinates.
    pub(crate) fn ecdsa_public_key(
        hash: u64,
        curve: u64,
        encoding: u64,
        x: &[u8],
        y: &[u8],
    ) -> Vec<u8> {
        let mut params = Vec::new();
        varint_field(1, hash, &mut params);
        varint_field(2, curve, &mut params);
        varint_field(3, encoding, &mut params);
        let mut key = Vec::new();
        // version 0 is the proto3 default, so Tink leaves it out; so do we.
        bytes_field(2, &params, &mut key);
        bytes_field(3, x, &mut key);
        bytes_field(4, y, &mut key);
        key
    }

    /// X and Y of a generated key pair (from its 0x04 ‖ X ‖ Y public key).
    pub(crate) fn coordinates(pair: &EcdsaKeyPair) -> (Vec<u8>, Vec<u8>) {
        let point = pair.public_key().as_ref();
        assert_eq!(point.len(), 65);
        (point[1..33].to_vec(), point[33..].to_vec())
    }

    /// A keyset entry as Tink writes it.
    pub(crate) fn entry(key_id: i64, serialized_key: &[u8]) -> Value {
        entry_with(
            key_id,
            ECDSA_PUBLIC_KEY_TYPE_URL,
            serialized_key,
            "ENABLED",
            "TINK",
        )
    }

    pub(crate) fn entry_with(
        key_id: i64,
        type_url: &str,
        serialized_key: &[u8],
        status: &str,
        prefix: &str,
    ) -> Value {
        serde_json::json!({
            "keyData": {
                "typeUrl": type_url,
                "value": base64::engine::general_purpose::STANDARD.encode(serialized_key),
                "keyMaterialType": "ASYMMETRIC_PUBLIC",
            },
            "status": status,
            "keyId": key_id,
            "outputPrefixType": prefix,
        })
    }

    pub(crate) fn keyset_json(entries: Vec<Value>) -> String {
        let primary = entries.first().map_or(Value::Null, |e| e["keyId"].clone());
        serde_json::json!({ "primaryKeyId": primary, "key": entries }).to_string()
    }

    pub(crate) fn p256_entry(key_id: i64, pair: &EcdsaKeyPair) -> Value {
        let (x, y) = coordinates(pair);
        entry(key_id, &p256_sha256_der(&x, &y))
    }

    pub(crate) fn generate() -> EcdsaKeyPair {
        EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).expect("P-256 key generation")
    }

    #[test]
    fn reads_a_key_tink_wrote() {
        let pair = generate();
        let keyset = Keyset::from_json(&keyset_json(vec![p256_entry(123, &pair)])).unwrap();
        assert_eq!(keyset.key_ids().collect::<Vec<_>>(), vec![123]);
        assert_eq!(keyset.keys_for(123).len(), 1);
        assert!(keyset.keys_for(124).is_empty());
        assert_eq!(keyset.skipped(), 0);
    }

    #[test]
    fn reads_the_key_value_google_published() {
        // keyData.value from https://www.gstatic.com/googlehealthapi/webhooks/webhooks_public_keyset.json
        // as quoted in the tests of allenporter/python-google-health-api: params
        // {SHA256, NIST_P256, DER}, no version field, x and y 33 bytes with a leading 0x00.
        let value = concat!(
            "EgYIAxACGAIaIQBDWg3kaiabjtrVXbSSbcn6e3QqiCLD+B4GuhC/Z1C6miIhACarm0VQv9W",
            "jNZG/AB0itXCIGFW5ddInmBFUjK/8w0v3",
        );
        let serialized = BASE64.decode(value).unwrap();
        let key = EcdsaPublicKey::decode(&serialized).unwrap();
        assert_eq!(
            key.params,
            EcdsaParams {
                hash_type: HASH_SHA256,
                curve: CURVE_NIST_P256,
                encoding: ENCODING_DER
            }
        );
        assert_eq!(
            (key.x.len(), key.x[0], key.y.len(), key.y[0]),
            (33, 0, 33, 0)
        );
        let json = keyset_json(vec![entry(1, &serialized)]);
        assert!(Keyset::from_json(&json).unwrap().contains(1));
    }

    #[test]
    fn coordinates_with_a_sign_byte_or_shorter_than_32_bytes_parse() {
        // A key whose X starts with 0x00, so Tink's minimal encoding has 31 bytes.
        let pair = std::iter::repeat_with(generate)
            .find(|pair| coordinates(pair).0[0] == 0)
            .expect("one key in 256 has a leading zero byte");
        let (x, y) = coordinates(&pair);
        let short_x = &x[1..];
        let signed_y = [&[0u8][..], &y].concat();
        let key = ecdsa_public_key(
            HASH_SHA256,
            CURVE_NIST_P256,
            ENCODING_DER,
            short_x,
            &signed_y,
        );
        let keyset = Keyset::from_json(&keyset_json(vec![entry(7, &key)])).unwrap();
        assert_eq!(keyset.keys_for(7)[0].as_ref(), pair.public_key().as_ref());
    }

    #[test]
    fn a_coordinate_with_33_significant_bytes_is_skipped() {
        let pair = generate();
        let (x, y) = coordinates(&pair);
        let long_x = [&[1u8][..], &x].concat();
        let bad = ecdsa_public_key(HASH_SHA256, CURVE_NIST_P256, ENCODING_DER, &long_x, &y);
        let json = keyset_json(vec![entry(1, &bad), p256_entry(2, &pair)]);
        let keyset = Keyset::from_json(&json).unwrap();
        assert!(!keyset.contains(1) && keyset.contains(2));
    }

    #[test]
    fn entries_that_tink_would_not_use_for_tink_ecdsa_p256_are_skipped() {
        let pair = generate();
        let (x, y) = coordinates(&pair);
        let p256 = p256_sha256_der(&x, &y);
        let mut off_curve_y = y.clone();
        off_curve_y[31] ^= 1;
        let entries = vec![
            entry_with(
                1,
                "type.googleapis.com/google.crypto.tink.Ed25519PublicKey",
                &p256,
                "ENABLED",
                "TINK",
            ),
            entry_with(2, ECDSA_PUBLIC_KEY_TYPE_URL, &p256, "DISABLED", "TINK"),
            entry_with(3, ECDSA_PUBLIC_KEY_TYPE_URL, &p256, "ENABLED", "RAW"),
            entry_with(4, ECDSA_PUBLIC_KEY_TYPE_URL, &p256, "ENABLED", "LEGACY"),
            entry(
                5,
                &ecdsa_public_key(2, CURVE_NIST_P256, ENCODING_DER, &x, &y),
            ), // SHA384
            entry(6, &ecdsa_public_key(HASH_SHA256, 3, ENCODING_DER, &x, &y)), // NIST_P384
            entry(
                7,
                &ecdsa_public_key(HASH_SHA256, CURVE_NIST_P256, 1, &x, &y),
            ), // IEEE_P1363
            entry(
                8,
                &ecdsa_public_key(HASH_SHA256, CURVE_NIST_P256, ENCODING_DER, &x, &off_curve_y),
            ),
            entry(9, &p256[..p256.len() - 1]), // truncated protobuf
            serde_json::json!({"keyId": 10, "status": "ENABLED", "outputPrefixType": "TINK",
                "keyData": {"typeUrl": ECDSA_PUBLIC_KEY_TYPE_URL, "value": "***"}}),
            serde_json::json!({"keyId": "11"}),
            serde_json::json!(null),
            entry(1i64 << 32, &p256), // key id out of range
            entry(12, &p256),
        ];
        let total = entries.len();
        let keyset = Keyset::from_json(&keyset_json(entries)).unwrap();
        assert_eq!(keyset.key_ids().collect::<Vec<_>>(), vec![12]);
        assert_eq!(keyset.skipped(), total - 1);
    }

    #[test]
    fn a_version_other_than_0_is_skipped() {
        let pair = generate();
        let (x, y) = coordinates(&pair);
        let mut key = Vec::new();
        varint_field(1, 1, &mut key);
        key.extend(p256_sha256_der(&x, &y));
        let json = keyset_json(vec![entry(1, &key)]);
        assert_eq!(
            Keyset::from_json(&json).unwrap_err(),
            KeysetError::NoUsableKey { skipped: 1 }
        );
    }

    #[test]
    fn negative_key_ids_are_tinks_spelling_of_ids_above_2_pow_31() {
        let pair = generate();
        let json = keyset_json(vec![
            p256_entry(-1, &pair),
            p256_entry(i64::from(u32::MAX) - 1, &pair),
        ]);
        let keyset = Keyset::from_json(&json).unwrap();
        assert!(keyset.contains(u32::MAX) && keyset.contains(u32::MAX - 1));
    }

    #[test]
    fn one_key_id_may_hold_several_keys() {
        let (a, b) = (generate(), generate());
        let keyset =
            Keyset::from_json(&keyset_json(vec![p256_entry(5, &a), p256_entry(5, &b)])).unwrap();
        assert_eq!(keyset.keys_for(5).len(), 2);
    }

    #[test]
    fn text_that_is_not_a_keyset_is_malformed() {
        for text in ["", "not json", "[]", "{}", r#"{"key": {}}"#] {
            assert!(
                matches!(Keyset::from_json(text), Err(KeysetError::Malformed(_))),
                "{text:?}"
            );
        }
        assert_eq!(
            Keyset::from_json(r#"{"key": []}"#).unwrap_err(),
            KeysetError::NoUsableKey { skipped: 0 }
        );
    }

    #[test]
    fn the_protobuf_reader_skips_unknown_fields_of_every_wire_type() {
        let pair = generate();
        let (x, y) = coordinates(&pair);
        let mut key = Vec::new();
        varint_field(9, 300, &mut key); // varint
        key.extend([(10 << 3) | 1]); // fixed64
        key.extend([0u8; 8]);
        bytes_field(11, b"future", &mut key); // length-delimited
        key.extend([(12 << 3) | 5]); // fixed32
        key.extend([0u8; 4]);
        key.extend(p256_sha256_der(&x, &y));
        varint_field(1000, 1, &mut key); // two-byte tag
        let decoded = EcdsaPublicKey::decode(&key).unwrap();
        assert_eq!((decoded.x, decoded.y), (&x[..], &y[..]));
        assert_eq!(decoded.params.curve, CURVE_NIST_P256);
    }

    #[test]
    fn the_protobuf_reader_rejects_truncated_and_invalid_input() {
        let pair = generate();
        let (x, y) = coordinates(&pair);
        let key = p256_sha256_der(&x, &y);
        // Fields end at 8 (params), 42 (x) and 76 (y); any other cut is inside one.
        let field_ends = [8, 42, key.len()];
        for cut in (1..key.len()).filter(|cut| !field_ends.contains(cut)) {
            assert_eq!(
                EcdsaPublicKey::decode(&key[..cut]),
                Err(ProtoError::Truncated),
                "cut at {cut}"
            );
        }
        let cases: [(&[u8], ProtoError); 7] = [
            (&[0x1a, 0x05, 1, 2], ProtoError::Truncated), // bytes field, 5 announced, 2 there
            (&[0x08, 0x80], ProtoError::Truncated),       // varint never ends
            (&[0x09, 0, 0], ProtoError::Truncated),       // fixed64 cut short
            (
                &[
                    0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                ],
                ProtoError::VarintTooLong,
            ),
            (&[0x00, 0x01], ProtoError::InvalidTag), // field number 0
            (&[0x0b], ProtoError::InvalidTag),       // start group
            (&[0x18, 0x01], ProtoError::WrongWireType), // x as a varint
        ];
        for (bytes, expected) in cases {
            assert_eq!(EcdsaPublicKey::decode(bytes), Err(expected), "{bytes:?}");
        }
        // A huge announced length must not overflow or allocate.
        let mut huge = vec![0x1a];
        varint(u64::MAX, &mut huge);
        assert_eq!(EcdsaPublicKey::decode(&huge), Err(ProtoError::Truncated));
    }

    #[test]
    fn the_protobuf_reader_survives_arbitrary_bytes() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 48) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| (state >> (i % 8 * 8)) as u8 ^ i as u8)
                .collect();
            let _ = EcdsaPublicKey::decode(&bytes);
        }
    }
}
