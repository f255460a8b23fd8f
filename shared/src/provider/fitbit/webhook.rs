//! Fitbit subscriber notifications: signature check and lenient parsing.

use std::collections::BTreeSet;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha1::Sha1;

use crate::domain::work::iso_date;
use crate::domain::{Collection, ProviderKind, ProviderUserId, Task, WorkItem};
use crate::secret::Secret;

/// Checks `X-Fitbit-Signature` = base64(HMAC-SHA1(client_secret + "&", raw body)).
/// The comparison is constant-time and over the raw bytes; the header is taken as sent
/// (never URL-decoded).
pub fn signature_is_valid(client_secret: &Secret, body: &[u8], header: &str) -> bool {
    let Ok(expected) = STANDARD.decode(header.trim()) else {
        return false;
    };
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{}&", client_secret.expose()).as_bytes())
        .expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// What a notification body held.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Notifications {
    /// Deduplicated work: one item per (owner, collection, date), one revoke per owner.
    pub work: Vec<WorkItem>,
    /// Entries received, duplicates included.
    pub received: usize,
    /// Entries we cannot use (missing fields, bad date); logged, not fatal.
    pub skipped: usize,
    /// Entries for collections we do not import (e.g. foods).
    pub ignored: usize,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("notification body is not a JSON array or object")]
pub struct MalformedBody;

fn text(entry: &Value, key: &str) -> Option<String> {
    match &entry[key] {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        // Ids are documented as strings but are unsigned 64-bit numbers in places.
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Parses a notification body leniently: an array of entries (or, seen in the wild, a
/// single object), unknown fields ignored, each unusable entry skipped without losing the
/// others. Duplicates within the body collapse.
pub fn parse(body: &[u8]) -> Result<Notifications, MalformedBody> {
    let value: Value = serde_json::from_slice(body).map_err(|_| MalformedBody)?;
    let entries = match value {
        Value::Array(entries) => entries,
        object @ Value::Object(_) => vec![object],
        _ => return Err(MalformedBody),
    };
    let mut out = Notifications {
        received: entries.len(),
        ..Default::default()
    };
    let mut syncs = BTreeSet::new();
    let mut revokes = BTreeSet::new();
    for entry in &entries {
        let (Some(owner), Some(collection_type)) =
            (text(entry, "ownerId"), text(entry, "collectionType"))
        else {
            out.skipped += 1;
            continue;
        };
        let collection = match collection_type.as_str() {
            "activities" => Collection::Activities,
            "body" => Collection::Body,
            "sleep" => Collection::Sleep,
            "userRevokedAccess" | "deleteUser" => {
                revokes.insert(owner);
                continue;
            }
            _ => {
                out.ignored += 1;
                continue;
            }
        };
        match text(entry, "date").as_deref().and_then(iso_date::parse) {
            Some(date) => {
                syncs.insert((owner, date, collection));
            }
            None => out.skipped += 1,
        }
    }
    // A revoke makes that owner's data notifications moot.
    syncs.retain(|(owner, _, _)| !revokes.contains(owner));
    out.work = syncs
        .into_iter()
        .map(|(owner, date, collection)| {
            WorkItem::sync(
                ProviderKind::Fitbit,
                ProviderUserId(owner),
                date,
                vec![collection],
            )
        })
        .chain(revokes.into_iter().map(|owner| WorkItem {
            provider: ProviderKind::Fitbit,
            user_id: ProviderUserId(owner),
            task: Task::Revoke,
        }))
        .collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_fitbit_definition() {
        let secret = Secret::new("abc123");
        let body = br#"[{"collectionType":"activities","date":"2026-11-20","ownerId":"GGNJL9"}]"#;
        let mut mac = Hmac::<Sha1>::new_from_slice(b"abc123&").unwrap();
        mac.update(body);
        let good = STANDARD.encode(mac.finalize().into_bytes());
        assert!(signature_is_valid(&secret, body, &good));
        assert!(!signature_is_valid(&secret, &body[1..], &good));
        assert!(!signature_is_valid(&Secret::new("other"), body, &good));
        assert!(!signature_is_valid(&secret, body, "not base64!"));
        // A URL-encoded header is not the signature.
    }

    #[test]
    fn parses_leniently_and_collapses_duplicates() {
        let body = br#"[
          {"collectionType":"activities","date":"2026-11-20","ownerId":"A","ownerType":"user","subscriptionId":"A-activities","extra":1},
          {"collectionType":"activities","date":"2026-11-20","ownerId":"A","ownerType":"user","subscriptionId":"A-activities"},
          {"collectionType":"sleep","date":"2026-11-20","ownerId":"A"},
          {"collectionType":"foods","date":"2026-11-20","ownerId":"A"},
          {"collectionType":"body","date":"not-a-date","ownerId":"A"},
          {"collectionType":"body","date":"2026-11-19"},
          "garbage",
          {"collectionType":"activities","date":"2026-11-20","ownerId":"B"},
          {"collectionType":"userRevokedAccess","date":"2026-11-20","ownerId":"B"}
        ]"#;
        let n = parse(body).unwrap();
        assert_eq!(n.received, 9);
        assert_eq!(n.skipped, 3);
        assert_eq!(n.ignored, 1);
        let kinds: Vec<_> = n
            .work
            .iter()
            .map(|w| (w.user_id.0.as_str(), &w.task))
            .collect();
        assert_eq!(kinds.len(), 3, "{kinds:?}");
        assert!(matches!(kinds[2], ("B", Task::Revoke)));
    }

    #[test]
    fn single_object_and_malformed_bodies() {
        let one = br#"{"collectionType":"body","date":"2026-11-20","ownerId":"A"}"#;
        assert_eq!(parse(one).unwrap().work.len(), 1);
        assert_eq!(parse(b"{not json"), Err(MalformedBody));
        assert_eq!(parse(b"42"), Err(MalformedBody));
        assert_eq!(parse(b"[]").unwrap().work.len(), 0);
    }
}
