//! Fitbit's webhook: `X-Fitbit-Signature` check and the lenient notification parser.
//!
//! Input: `<signature header>\n<body>`.
//!
//! Properties:
//! - `signature_is_valid` is true only when the header is the base64 of
//!   HMAC-SHA1(secret + "&", body), computed here independently; the right MAC for the
//!   body is accepted (also with surrounding whitespace), and never for a body one byte
//!   longer, under another secret, or URL-encoded.
//! - `parse` succeeds exactly for JSON arrays and objects; then every entry is counted
//!   once (work + skipped + ignored <= received), work items are unique, name a
//!   non-empty trimmed owner, sync one collection each, no owner has both a sync and a
//!   revoke, and every item survives the queue's JSON round trip.
#![no_main]

use std::collections::HashSet;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use fitbridge::domain::Secret;
use fitbridge::domain::{ProviderKind, Task, WorkItem};
use fitbridge::provider::fitbit::webhook::{parse, signature_is_valid};
use fitbridge_fuzz::split_line;
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use sha1::Sha1;

const CLIENT_SECRET: &str = "fuzz-client-secret";

fn mac(secret: &str, body: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{secret}&").as_bytes()).unwrap();
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

fuzz_target!(|data: &[u8]| {
    let (header, body) = split_line(data);
    let secret = Secret::new(CLIENT_SECRET);
    let expected = mac(CLIENT_SECRET, body);

    // The fuzzed header: accepted only if it is the right MAC.
    if let Ok(header) = std::str::from_utf8(header) {
        if signature_is_valid(&secret, body, header) {
            assert_eq!(
                STANDARD.decode(header.trim()).ok().as_deref(),
                Some(&expected[..]),
                "accepted a header that is not the body's MAC"
            );
        }
    }

    // The right MAC, and near misses.
    let good = STANDARD.encode(&expected);
    assert!(signature_is_valid(&secret, body, &good));
    assert!(signature_is_valid(&secret, body, &format!(" {good}\t")));
    assert!(!signature_is_valid(&secret, &[body, b" "].concat(), &good));
    assert!(!signature_is_valid(
        &Secret::new("other-secret"),
        body,
        &good
    ));
    let url_encoded = good
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    assert!(!signature_is_valid(&secret, body, &url_encoded));

    // The parser.
    let json = serde_json::from_slice::<serde_json::Value>(body).ok();
    let entries = match &json {
        Some(serde_json::Value::Array(a)) => Some(a.len()),
        Some(serde_json::Value::Object(_)) => Some(1),
        _ => None,
    };
    let parsed = parse(body);
    let Some(entries) = entries else {
        assert!(
            parsed.is_err(),
            "accepted a body that is no JSON array or object"
        );
        return;
    };
    let n = parsed.expect("a JSON array or object parses");
    assert_eq!(n.received, entries);
    assert!(n.work.len() + n.skipped + n.ignored <= n.received);
    let mut seen = HashSet::new();
    let mut synced = HashSet::new();
    let mut revoked = HashSet::new();
    for item in &n.work {
        assert_eq!(item.provider, ProviderKind::Fitbit);
        let owner = &item.user_id.0;
        assert!(
            !owner.is_empty() && owner.trim() == owner,
            "owner {owner:?}"
        );
        assert!(seen.insert(item.clone()), "duplicate work item {item:?}");
        match &item.task {
            Task::Sync { collections, .. } => {
                assert_eq!(collections.len(), 1);
                synced.insert(owner.clone());
            }
            Task::Revoke { .. } => assert!(revoked.insert(owner.clone()), "two revokes"),
        }
        let message = serde_json::to_string(item).expect("a work item serializes");
        let back: WorkItem = serde_json::from_str(&message).expect("and deserializes");
        assert_eq!(&back, item);
    }
    assert!(
        synced.is_disjoint(&revoked),
        "a revoked owner still has syncs"
    );
});
