//! Google Health's notification parser (after the body parsed as JSON, as the webhook
//! does).
//!
//! Input: the notification body.
//!
//! Properties:
//! - `parse` answers exactly for JSON arrays and objects.
//! - Every entry is counted once: skipped + ignored <= received, and the entries that
//!   made work are the rest.
//! - Output is bounded: at most `MAX_DAYS_PER_INTERVAL` days per interval in the body.
//! - Work items are unique, name a non-empty trimmed person, sync exactly one collection
//!   each, and survive the queue's JSON round trip.
#![no_main]

use std::collections::HashSet;

use fitbridge::domain::{ProviderKind, Task, WorkItem};
use fitbridge::provider::google_health::webhook::{parse, MAX_DAYS_PER_INTERVAL};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Intervals the entries carry, wherever `parse` may look for them.
fn intervals(value: &Value) -> usize {
    let entries: Vec<&Value> = match value {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    entries
        .into_iter()
        .map(|entry| {
            let count = |v: &Value| {
                v.get("intervals")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len)
            };
            count(entry) + entry.get("data").map_or(0, count)
        })
        .sum()
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let parsed = parse(&value);
    let entries = match &value {
        Value::Array(a) => a.len(),
        Value::Object(_) => 1,
        _ => {
            assert!(parsed.is_none(), "answered for a scalar body");
            return;
        }
    };
    let n = parsed.expect("an array or object parses");
    assert_eq!(n.received, entries);
    assert!(n.skipped + n.ignored <= n.received);
    assert!(
        n.work.len() <= intervals(&value) * MAX_DAYS_PER_INTERVAL,
        "{} items from {} intervals",
        n.work.len(),
        intervals(&value)
    );
    if n.skipped + n.ignored == n.received {
        assert!(n.work.is_empty(), "work from entries that were all dropped");
    } else {
        assert!(!n.work.is_empty(), "a used entry made no work");
    }
    let mut seen = HashSet::new();
    for item in &n.work {
        assert_eq!(item.provider, ProviderKind::GoogleHealth);
        let user = &item.user_id.0;
        assert!(!user.is_empty() && user.trim() == user, "user {user:?}");
        assert!(seen.insert(item.clone()), "duplicate work item {item:?}");
        match &item.task {
            Task::Sync { collections, .. } => assert_eq!(collections.len(), 1),
            Task::Revoke { .. } => panic!("Google Health notifications never revoke"),
        }
        let message = serde_json::to_string(item).expect("a work item serializes");
        let back: WorkItem = serde_json::from_str(&message).expect("and deserializes");
        assert_eq!(&back, item);
    }
});
