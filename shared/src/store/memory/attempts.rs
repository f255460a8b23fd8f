//! The OAuth states and used connect links: single-use, as in the table.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::*;
use crate::ports::store::{ConnectAttempts, StateError};

#[async_trait]
impl ConnectAttempts for MemoryStore {
    async fn put(&self, state: &str, pending: &PendingAuthorization) -> Result<(), StoreError> {
        let mut t = self.lock();
        let key = hex_sha256(state.as_bytes());
        if t.states.contains_key(&key) {
            return Err(condition_failed("state exists"));
        }
        t.states.insert(
            key,
            State {
                pending: pending.clone(),
                used: false,
            },
        );
        Ok(())
    }

    async fn take(
        &self,
        state: &str,
        now: OffsetDateTime,
    ) -> Result<PendingAuthorization, StateError> {
        let mut t = self.lock();
        let entry = t
            .states
            .get_mut(&hex_sha256(state.as_bytes()))
            .ok_or(StateError::Unknown)?;
        if entry.used {
            return Err(StateError::Replayed);
        }
        entry.used = true;
        if now >= entry.pending.expires_at {
            return Err(StateError::Expired);
        }
        Ok(entry.pending.clone())
    }

    async fn link_used(&self, link_id: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        Ok(self
            .lock()
            .links
            .get(link_id)
            .is_some_and(|(_, expires)| *expires > now))
    }

    async fn use_link(
        &self,
        link: &crate::domain::link::VerifiedLink,
        holder: &str,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let mut t = self.lock();
        match t.links.get(&link.id) {
            Some((other, expires)) if other != holder && *expires > now => Ok(false),
            _ => {
                t.links
                    .insert(link.id.clone(), (holder.to_owned(), link.expires_at));
                Ok(true)
            }
        }
    }

    async fn give_back_link(&self, link_id: &str, holder: &str) -> Result<(), StoreError> {
        let mut t = self.lock();
        if t.links.get(link_id).is_some_and(|(h, _)| h == holder) {
            t.links.remove(link_id);
        }
        Ok(())
    }
}
