//! Connections and their tombstones.

use std::collections::BTreeSet;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::*;
use crate::domain::PersonKey;
use crate::domain::{Collection, TokenSet};
use crate::ports::store::{ConnectionStore, Ending, Erased, Revocation};

#[async_trait]
impl ConnectionStore for MemoryStore {
    async fn revoke(
        &self,
        person: &PersonKey,
        ending: Ending,
        issued_at: OffsetDateTime,
    ) -> Result<Revocation, StoreError> {
        let mut t = self.lock();
        let key = person.clone();
        let Some(c) = t.connections.get(&key) else {
            return Ok(Revocation::NotConnected);
        };
        if c.consented_at.is_some_and(|at| at > issued_at) {
            return Ok(Revocation::Stale);
        }
        let c = t.connections.remove(&key).expect("just read");
        t.leases.remove(&key);
        t.updated_at.remove(&key);
        t.connected_at.remove(&key);
        let tombstone = Tombstone {
            contact: c.contact,
            ending,
            revoked_at: self.clock.now(),
            flag_pending: ending == Ending::Disconnected,
            forget_at: None,
        };
        t.tombstones.insert(key, tombstone.clone());
        Ok(Revocation::Revoked(tombstone))
    }

    async fn forget(
        &self,
        person: &PersonKey,
        at: OffsetDateTime,
    ) -> Result<Option<Tombstone>, StoreError> {
        let now = self.clock.now();
        let mut t = self.lock();
        let Some(tomb) = t
            .tombstones
            .get_mut(person)
            .filter(|t| t.ending == Ending::Disconnected)
            .filter(|t| t.forget_at.is_none_or(|set| set > now))
        else {
            return Ok(None);
        };
        // An earlier time already set stays.
        if tomb.forget_at.is_none_or(|set| set > at) {
            tomb.forget_at = Some(at);
        }
        Ok(Some(tomb.clone()))
    }

    async fn erase(&self, person: &PersonKey) -> Result<Erased, StoreError> {
        let mut t = self.lock();
        let key = person.clone();
        t.leases.remove(&key);
        t.updated_at.remove(&key);
        t.connected_at.remove(&key);
        Ok(Erased {
            connection: t.connections.remove(&key).is_some(),
            tombstone: t.tombstones.remove(&key).is_some(),
        })
    }

    async fn tombstone(&self, person: &PersonKey) -> Result<Option<Tombstone>, StoreError> {
        let now = self.clock.now();
        Ok(self
            .lock()
            .tombstones
            .get(person)
            .filter(|t| t.forget_at.is_none_or(|at| at > now))
            .cloned())
    }

    async fn mark_flagged(
        &self,
        person: &PersonKey,
        revoked_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if let Some(t) = self
            .lock()
            .tombstones
            .get_mut(person)
            .filter(|t| t.revoked_at == revoked_at)
        {
            t.flag_pending = false;
        }
        Ok(())
    }

    async fn save_connected(&self, c: &Connection) -> Result<u64, StoreError> {
        let mut t = self.lock();
        let key = c.person();
        let version = match t.connections.get_mut(&key) {
            Some(existing) => {
                existing.tokens = c.tokens.clone();
                existing.status = c.status;
                existing.contact = c.contact.clone();
                // A reconnect through a plain link keeps the customer id an earlier signed
                // link verified; a missing time zone keeps the known one.
                if c.customer_ref.is_some() {
                    existing.customer_ref = c.customer_ref.clone();
                }
                if c.timezone.is_some() {
                    existing.timezone = c.timezone.clone();
                }
                existing.version += 1;
                existing.consented_at = Some(self.clock.now());
                existing.version
            }
            None => {
                let mut fresh = c.clone();
                fresh.version = 1;
                fresh.consented_at = Some(self.clock.now());
                fresh.subscriptions = BTreeSet::new();
                t.connections.insert(key.clone(), fresh);
                1
            }
        };
        t.connected_at
            .entry(key.clone())
            .or_insert_with(|| self.clock.now());
        t.updated_at.insert(key, self.clock.now());
        Ok(version)
    }

    async fn replace_tokens_if_connected(
        &self,
        person: &PersonKey,
        tokens: &TokenSet,
    ) -> Result<bool, StoreError> {
        let mut t = self.lock();
        let key = person.clone();
        let Some(c) = t.connections.get_mut(&key) else {
            return Ok(false);
        };
        c.tokens = tokens.clone();
        c.version += 1;
        t.updated_at.insert(key, self.clock.now());
        Ok(true)
    }

    async fn set_subscriptions(
        &self,
        person: &PersonKey,
        subscriptions: &[Collection],
    ) -> Result<(), StoreError> {
        let mut t = self.lock();
        let c = t
            .connections
            .get_mut(person)
            .ok_or_else(|| condition_failed("no connection"))?;
        c.subscriptions = subscriptions.iter().copied().collect();
        Ok(())
    }

    async fn get(&self, person: &PersonKey) -> Result<Option<Connection>, StoreError> {
        Ok(self.lock().connections.get(person).cloned())
    }
}
