//! Helpers shared by the fuzz targets. Everything here is test data: the key below is a
//! throwaway P-256 key made for these targets (its private half was never kept).

/// Splits the input at its first `\n`: (first line, rest). Seeds stay readable this way.
pub fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// Splits the input into at most `n` fields separated by NUL bytes; missing fields are
/// `None`.
pub fn nul_fields(data: &[u8], n: usize) -> Vec<Option<&[u8]>> {
    let mut fields: Vec<Option<&[u8]>> = data.splitn(n, |&b| b == 0).map(Some).collect();
    fields.resize(n, None);
    fields
}

/// Lowercase hex, as the library writes digests.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The test key's `keyData.value`: a serialized Tink `EcdsaPublicKey` {SHA256, NIST_P256,
/// DER}.
pub const TEST_KEY_VALUE: &str = "EgYIAxACGAIaIDGstw4yRsRmP08/68d3g9DlAF/s8uhmNL4fwEJjxt85IiASjnuvGqwQFxY5UjQTdI3T8uI+g/h4/JsZLTfGAJUvuQ==";

/// The test key's uncompressed SEC1 point, for checking signatures with aws-lc directly.
pub const TEST_KEY_POINT_HEX: &str = "0431acb70e3246c4663f4f3febc77783d0e5005fecf2e86634be1fc04263c6df39128e7baf1aac10171639523413748dd3f2e23e83f878fc9b192d37c600952fb9";

/// The test key's point as bytes.
pub fn test_key_point() -> Vec<u8> {
    (0..TEST_KEY_POINT_HEX.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&TEST_KEY_POINT_HEX[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The key id a (well-formed) Tink signature header names.
pub fn header_key_id(header: &str) -> u32 {
    use base64::Engine;
    let framed = base64::engine::general_purpose::STANDARD
        .decode(header)
        .expect("a real header is base64");
    u32::from_be_bytes([framed[1], framed[2], framed[3], framed[4]])
}

/// Key ids the test keyset holds the test key under: 42, and 2^32 - 2 (written `-2`,
/// as Tink Java writes ids above 2^31).
pub const TEST_KEY_IDS: [u32; 2] = [42, u32::MAX - 1];

/// Bodies signed with the test key, and their `Google-Health-API-Signature` headers (Tink
/// framing: 0x01, key id, DER signature). The only (body, header) pairs that can verify.
pub const SIGNED: [(&[u8], &str); 3] = [
    (
        br#"{"data":{"version":"1","healthUserId":"111","operation":"UPSERT","dataType":"steps","intervals":[{"civilDateTimeInterval":{"start":{"date":{"year":2026,"month":11,"day":20},"time":{"hours":22}},"end":{"date":{"year":2026,"month":11,"day":21}}}}]}}"#,
        "AQAAACowRAIgCWZn/hF3ePUQ5efjmtBrV4CkhvfAhsyqBe+mJ1IX8uYCIGDryc07N8xe4ab6RQJkPFfWSXMwek8K0Gbf4kWG/6/2",
    ),
    (
        b"",
        "AQAAACowRAIgH4BRQicm2QG9HS1czxDS18cawWJmHqp2Y+DcZzeGl94CIHcUb1AbWCK6gfy27hFHtFcHAB1m2p1yqsIWnuMvbLrL",
    ),
    (
        br#"{"data":{"version":"1","healthUserId":"111","operation":"UPSERT","dataType":"steps","intervals":[{"civilDateTimeInterval":{"start":{"date":{"year":2026,"month":11,"day":20},"time":{"hours":22}},"end":{"date":{"year":2026,"month":11,"day":21}}}}]}}"#,
        "Af////4wRgIhALHTQSoXjxKrPccE71vlCmJuEpI1fsHjobkdAok8A2eOAiEAtMa1ItWS+R/IoLJ8yRLUK5WOu0m1/dcVZy+pIHplyH0=",
    ),
];

/// A Tink JSON keyset holding the test key under [`TEST_KEY_IDS`], and one disabled entry.
pub fn test_keyset_json() -> String {
    let entry = |key_id: i64, status: &str| {
        serde_json::json!({
            "keyData": {
                "typeUrl": "type.googleapis.com/google.crypto.tink.EcdsaPublicKey",
                "value": TEST_KEY_VALUE,
                "keyMaterialType": "ASYMMETRIC_PUBLIC",
            },
            "status": status,
            "keyId": key_id,
            "outputPrefixType": "TINK",
        })
    };
    serde_json::json!({
        "primaryKeyId": 42,
        "key": [entry(42, "ENABLED"), entry(-2, "ENABLED"), entry(7, "DISABLED")],
    })
    .to_string()
}
