//! The import ledger: claims, records and expiry, per (contact, day).

use std::collections::HashMap;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::*;
use crate::domain::DailyInteraction;
use crate::ports::store::{Claim, ImportLedger, ImportRecord, LatestImport, LedgerEntry};

fn ledger_key(contact: &ContactKey, key: &str) -> (String, String, String) {
    (contact.origin.clone(), contact.id.clone(), key.to_owned())
}

#[async_trait]
impl ImportLedger for MemoryStore {
    async fn settled(
        &self,
        contact: &ContactKey,
        day: &str,
        now: OffsetDateTime,
    ) -> Result<HashMap<String, String>, StoreError> {
        let t = self.lock();
        Ok(t.ledger_of(contact, day)
            .filter(|(_, e)| e.claim.as_ref().is_none_or(|c| c.until < now))
            .filter(|(_, e)| e.expires_at.is_none() && e.interaction_id.is_some())
            .filter_map(|(key, e)| Some((key.clone(), e.hash.clone()?)))
            .collect())
    }

    async fn claim(
        &self,
        contact: &ContactKey,
        day: &str,
        keys: &[String],
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Claim, StoreError> {
        let mut t = self.lock();
        t.ledger_claims += 1;
        if keys.iter().any(|key| {
            t.ledger
                .get(&ledger_key(contact, key))
                .and_then(|e| e.claim.as_ref())
                .is_some_and(|c| c.until >= now)
        }) {
            return Ok(Claim::Busy);
        }
        let mut found = HashMap::new();
        for key in keys {
            let entry = t.ledger.entry(ledger_key(contact, key)).or_default();
            entry.claim = Some(Lease {
                owner: owner.to_owned(),
                until,
            });
            found.insert(
                key.clone(),
                match (&entry.hash, &entry.interaction_id) {
                    (Some(hash), Some(id)) => LedgerEntry::Imported {
                        hash: hash.clone(),
                        interaction_id: id.clone(),
                    },
                    _ if entry.create_started => LedgerEntry::CreateUnconfirmed,
                    _ => LedgerEntry::New,
                },
            );
            entry.create_started = true;
        }
        // The day is fed again: all of it is permanent again.
        for (_, entry) in t.ledger_of_mut(contact, day) {
            entry.expires_at = None;
        }
        Ok(Claim::Claimed(found))
    }

    async fn complete(
        &self,
        contact: &ContactKey,
        _day: &str,
        owner: &str,
        keys: &[String],
        imported: &[ImportRecord],
    ) -> Result<(), StoreError> {
        let mut t = self.lock();
        if keys.iter().any(|key| {
            t.ledger
                .get(&ledger_key(contact, key))
                .and_then(|e| e.claim.as_ref())
                .is_none_or(|c| c.owner != owner)
        }) {
            return Err(condition_failed("claim not held"));
        }
        for key in keys {
            if let Some(entry) = t.ledger.get_mut(&ledger_key(contact, key)) {
                entry.claim = None;
            }
        }
        for record in imported {
            let entry = t
                .ledger
                .entry(ledger_key(contact, &record.key))
                .or_default();
            entry.hash = Some(record.hash.clone());
            entry.interaction_id = Some(record.interaction_id.clone());
            entry.imported_at = Some(self.clock.now());
        }
        Ok(())
    }

    async fn expire(&self, contact: &ContactKey, at: OffsetDateTime) -> Result<usize, StoreError> {
        let mut t = self.lock();
        let mut newly = 0;
        for (_, entry) in t.ledger_of_mut(contact, "") {
            // An entry already set to expire by `at` keeps its time.
            if entry.expires_at.is_none_or(|set| set > at) {
                entry.expires_at = Some(at);
                newly += 1;
            }
        }
        Ok(newly)
    }

    async fn erase(&self, contact: &ContactKey) -> Result<usize, StoreError> {
        let mut t = self.lock();
        // The table holds one item per day: count days, as it does.
        let mut days = std::collections::BTreeSet::new();
        t.ledger.retain(|(origin, id, key), _| {
            let of_contact = *origin == contact.origin && *id == contact.id;
            if of_contact {
                days.insert(DailyInteraction::day_of_source_object(key));
            }
            !of_contact
        });
        Ok(days.len())
    }

    async fn latest(&self, contact: &ContactKey) -> Result<Option<LatestImport>, StoreError> {
        let t = self.lock();
        // The table's order: the key with the newest day sorts last.
        let Some((key, entry)) = t.ledger_of(contact, "").last() else {
            return Ok(None);
        };
        let day = DailyInteraction::day_of_source_object(key)
            .ok_or_else(|| StoreError::Corrupt(format!("import ledger key {key:?}")))?;
        Ok(Some(LatestImport {
            day,
            imported_at: entry.imported_at,
        }))
    }
}
