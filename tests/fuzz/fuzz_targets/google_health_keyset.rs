//! Google's Tink JSON keyset: JSON, entries, base64 and the hand-written protobuf reader.
//!
//! Input: the keyset text (UTF-8; other input is skipped, as `reqwest` hands over text).
//!
//! Properties:
//! - `Malformed` exactly when the text is not JSON or has no `key` array.
//! - Every entry is either a usable key or counted as skipped: the keys held plus
//!   `skipped()` equal the entries; `NoUsableKey` carries the number of entries.
//! - `contains`, `keys_for` and `key_ids` agree; a held key id was written in the entry.
//! - The real signatures by the test key verify exactly when the parsed keyset holds
//!   the test key under the header's key id.
#![no_main]

use fitbridge::provider::google_health::keyset::{Keyset, KeysetError};
use fitbridge::provider::google_health::signature::verify_header;
use fitbridge_fuzz::{header_key_id, test_key_point, SIGNED};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let json = serde_json::from_str::<Value>(text).ok();
    let entries = json
        .as_ref()
        .and_then(|j| j.get("key"))
        .and_then(Value::as_array);
    let result = Keyset::from_json(text);
    let Some(entries) = entries else {
        assert!(
            matches!(result, Err(KeysetError::Malformed(_))),
            "not malformed: {result:?}"
        );
        return;
    };
    let keyset = match result {
        Err(KeysetError::NoUsableKey { skipped }) => {
            assert_eq!(skipped, entries.len());
            return;
        }
        Err(e) => panic!("a key array is never {e:?}"),
        Ok(keyset) => keyset,
    };
    let ids: Vec<u32> = keyset.key_ids().collect();
    assert!(!ids.is_empty(), "an Ok keyset holds a key");
    let held: usize = ids.iter().map(|id| keyset.keys_for(*id).len()).sum();
    assert_eq!(held + keyset.skipped(), entries.len());
    let written: Vec<i64> = entries
        .iter()
        .filter_map(|e| e.get("keyId").and_then(Value::as_i64))
        .collect();
    for id in &ids {
        assert!(keyset.contains(*id) && !keyset.keys_for(*id).is_empty());
        assert!(
            written
                .iter()
                .any(|w| *w == i64::from(*id) || *w == i64::from(*id as i32)),
            "key id {id} is not in the text"
        );
    }
    // A real signature by the test key verifies exactly when the keyset holds the test
    // key under the header's id (nobody else can have signed it).
    let point = test_key_point();
    for (body, header) in SIGNED {
        let key_id = header_key_id(header);
        let holds_test_key = keyset
            .keys_for(key_id)
            .iter()
            .any(|key| key.as_ref() == &point[..]);
        assert_eq!(verify_header(&keyset, body, header).is_ok(), holds_test_key);
    }
});
