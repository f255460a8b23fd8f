//! The refresh lease and token rotation, conditioned as in the table.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::*;
use crate::domain::PersonKey;
use crate::domain::{ConnectionStatus, TokenSet};
use crate::ports::store::TokenStore;

#[async_trait]
impl TokenStore for MemoryStore {
    async fn acquire_refresh_lease(
        &self,
        person: &PersonKey,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut t = self.lock();
        let key = person.clone();
        if !t.connections.contains_key(&key) {
            return Ok(false);
        }
        if t.leases.get(&key).is_some_and(|l| l.until >= now) {
            return Ok(false);
        }
        t.leases.insert(
            key,
            Lease {
                owner: owner.to_owned(),
                until,
            },
        );
        Ok(true)
    }

    async fn store_rotated_tokens(
        &self,
        person: &PersonKey,
        tokens: &TokenSet,
        expected_version: u64,
        owner: &str,
    ) -> Result<Option<u64>, StoreError> {
        let mut t = self.lock();
        let key = person.clone();
        let holds = t.leases.get(&key).is_some_and(|l| l.owner == owner);
        let Some(c) = t.connections.get_mut(&key) else {
            return Ok(None);
        };
        if c.version != expected_version || !holds {
            return Ok(None);
        }
        c.tokens = tokens.clone();
        c.version += 1;
        let version = c.version;
        t.leases.remove(&key);
        t.updated_at.insert(key, self.clock.now());
        Ok(Some(version))
    }

    async fn release_refresh_lease(
        &self,
        person: &PersonKey,
        owner: &str,
    ) -> Result<(), StoreError> {
        let mut t = self.lock();
        let key = person.clone();
        if t.leases.get(&key).is_some_and(|l| l.owner == owner) {
            t.leases.remove(&key);
        }
        Ok(())
    }

    async fn set_status(
        &self,
        person: &PersonKey,
        status: ConnectionStatus,
        if_version: Option<u64>,
    ) -> Result<bool, StoreError> {
        let mut t = self.lock();
        let key = person.clone();
        let Some(c) = t
            .connections
            .get_mut(&key)
            .filter(|c| if_version.is_none_or(|v| c.version == v))
        else {
            return Ok(false);
        };
        c.status = status;
        t.updated_at.insert(key, self.clock.now());
        Ok(true)
    }
}
