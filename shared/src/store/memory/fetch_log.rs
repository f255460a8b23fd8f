//! The fetch log's ordering, as the table's conditions keep it.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::*;
use crate::domain::PersonKey;
use crate::ports::store::{coalescing_wait, FetchClaim, FetchLog};

#[async_trait]
impl FetchLog for MemoryStore {
    async fn begin(
        &self,
        key: &FetchKey,
        sent_at: OffsetDateTime,
        now: OffsetDateTime,
        window: time::Duration,
    ) -> Result<FetchClaim, StoreError> {
        let (sent, now_ms) = (millis(sent_at), millis(now));
        let mut t = self.lock();
        if let Some((since, _)) = t.fetches.get(key).copied().filter(|(_, by)| *by != sent) {
            // Answered by a later fetch, unless that fetch was this very notification's.
            if since >= sent {
                return Ok(FetchClaim::AlreadyFetched);
            }
            if let Some(wait) = coalescing_wait(since, now_ms, window) {
                return Ok(FetchClaim::Wait(wait));
            }
        }
        t.fetches.insert(key.clone(), (now_ms, sent));
        Ok(FetchClaim::Proceed(now_ms.to_string()))
    }

    async fn abandon(&self, key: &FetchKey, token: &str) -> Result<(), StoreError> {
        let started: i64 = token
            .parse()
            .map_err(|_| StoreError::Corrupt("fetch token".into()))?;
        let mut t = self.lock();
        if t.fetches
            .get(key)
            .is_some_and(|(since, _)| *since == started)
        {
            t.fetches.remove(key);
        }
        Ok(())
    }

    async fn erase(&self, person: &PersonKey) -> Result<usize, StoreError> {
        let mut t = self.lock();
        let before = t.fetches.len();
        t.fetches
            .retain(|key, _| !(key.provider == person.provider && key.user_id == person.user_id));
        Ok(before - t.fetches.len())
    }
}
