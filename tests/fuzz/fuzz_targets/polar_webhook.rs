//! Polar's webhook: the `Polar-Webhook-Signature` check, the `PING` test and the lenient
//! payload parser.
//!
//! Input: `<signature header>\n<body>`.
//!
//! Properties:
//! - `signature_is_valid` is true only when the header, trimmed, is the hex (either case)
//!   of HMAC-SHA256(key, body), computed here independently; the right MAC is accepted
//!   (lower case, upper case, with surrounding whitespace), and never for a body one byte
//!   longer, under another key, cut short, or with a prefix (`sha256=`).
//! - `is_ping` is true exactly for a JSON object whose `event` is the string `PING`.
//! - `parse` succeeds exactly for JSON arrays and objects; then every entry is counted
//!   once (work + skipped + ignored <= received, skipped + ignored <= received), work items
//!   are unique, are Polar's, name a user id of decimal digits, sync one collection each
//!   (activities or sleep), and every item survives the queue's JSON round trip.
#![no_main]

use std::collections::HashSet;

use fitbridge::domain::Secret;
use fitbridge::domain::{Collection, ProviderKind, Task, WorkItem};
use fitbridge::provider::polar::webhook::{is_ping, parse, signature_is_valid};
use fitbridge_fuzz::{hex, split_line};
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;

const KEY: &str = "fuzz-polar-signature-key";

fn mac(key: &str, body: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// The bytes of a hex string, as a reference decoder.
fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let (header, body) = split_line(data);
    let key = Secret::new(KEY);
    let expected = mac(KEY, body);

    // The fuzzed header: accepted only if it is the right MAC.
    if let Ok(header) = std::str::from_utf8(header) {
        if signature_is_valid(&key, body, header) {
            assert_eq!(
                unhex(header.trim()).as_deref(),
                Some(&expected[..]),
                "accepted a header that is not the body's MAC"
            );
        }
    }

    // The right MAC, and near misses.
    let good = hex(&expected);
    assert!(signature_is_valid(&key, body, &good));
    assert!(signature_is_valid(&key, body, &good.to_uppercase()));
    assert!(signature_is_valid(&key, body, &format!(" {good}\r\n")));
    assert!(!signature_is_valid(&key, &[body, b" "].concat(), &good));
    assert!(!signature_is_valid(&Secret::new("other-key"), body, &good));
    assert!(!signature_is_valid(&key, body, &good[..good.len() - 2]));
    assert!(!signature_is_valid(&key, body, &format!("sha256={good}")));

    // The ping test.
    let json = serde_json::from_slice::<serde_json::Value>(body).ok();
    let ping = json
        .as_ref()
        .and_then(|v| v.as_object())
        .and_then(|o| o.get("event"))
        .and_then(|e| e.as_str())
        == Some("PING");
    assert_eq!(is_ping(body), ping);

    // The parser.
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
    assert!(n.skipped + n.ignored <= n.received);
    assert!(n.work.len() + n.skipped + n.ignored <= n.received);
    let mut seen = HashSet::new();
    for item in &n.work {
        assert_eq!(item.provider, ProviderKind::Polar);
        let user = &item.user_id.0;
        assert!(
            !user.is_empty() && user.bytes().all(|b| b.is_ascii_digit()),
            "user {user:?}"
        );
        assert!(seen.insert(item.clone()), "duplicate work item {item:?}");
        match &item.task {
            Task::Sync { collections, .. } => {
                assert_eq!(collections.len(), 1);
                assert!(matches!(
                    collections[0],
                    Collection::Activities | Collection::Sleep
                ));
            }
            Task::Revoke { .. } => panic!("Polar announces no revocation"),
        }
        let message = serde_json::to_string(item).expect("a work item serializes");
        let back: WorkItem = serde_json::from_str(&message).expect("and deserializes");
        assert_eq!(&back, item);
    }
});
