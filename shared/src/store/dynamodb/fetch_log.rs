//! The fetch log: [`FetchLog`].

use async_trait::async_trait;
use time::OffsetDateTime;

use super::codec::*;
use super::keys::*;
use super::DynamoStore;
use crate::domain::PersonKey;
use crate::ports::store::{coalescing_wait, FetchClaim, FetchKey, FetchLog, StoreError};

#[async_trait]
impl FetchLog for DynamoStore {
    async fn begin(
        &self,
        key: &FetchKey,
        sent_at: OffsetDateTime,
        now: OffsetDateTime,
        window: time::Duration,
    ) -> Result<FetchClaim, StoreError> {
        let (sent, now_ms) = (millis(sent_at), millis(now));
        let window_start = now_ms - window.whole_milliseconds() as i64;
        // Proceed unless a fetch that started after `sent` answers it — one begun for
        // another notification (`started_for`), or one that completed under the log's
        // earlier form (`completed_since`, which expires with its item) — or another
        // notification's fetch began within the coalescing window.
        let result = self
            .update(Self::fetch_key(key))
            .update_expression("SET started = :now, started_for = :sent, #ttl = :ttl")
            .condition_expression(
                "(attribute_not_exists(completed_since) OR completed_since < :sent) AND \
                 (attribute_not_exists(started) OR started_for = :sent OR \
                  (started < :sent AND started <= :window_start))",
            )
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":sent", n(sent))
            .expression_attribute_values(":window_start", n(window_start))
            .expression_attribute_values(":ttl", n(now.unix_timestamp() + FETCH_LOG_RETENTION_SECS))
            .send()
            .await;
        if conditional(result)?.is_some() {
            return Ok(FetchClaim::Proceed(now_ms.to_string()));
        }
        // Refused: answered already, or too soon. A read tells which (a duplicate or a
        // replay costs this read beside the refused write, and no provider call).
        let item = self.read(Self::fetch_key(key)).await?.unwrap_or_default();
        let started = get_n(&item, "started").ok();
        let completed = get_n(&item, "completed_since").ok();
        if started.is_some_and(|s| s >= sent) || completed.is_some_and(|c| c >= sent) {
            return Ok(FetchClaim::AlreadyFetched);
        }
        Ok(
            match started.and_then(|s| coalescing_wait(s, now_ms, window)) {
                Some(wait) => FetchClaim::Wait(wait),
                // Changed between the write and the read: another worker's fetch began; the
                // message comes back and finds out.
                None => FetchClaim::Wait(std::time::Duration::from_secs(1)),
            },
        )
    }

    async fn abandon(&self, key: &FetchKey, token: &str) -> Result<(), StoreError> {
        let started: i64 = token
            .parse()
            .map_err(|_| StoreError::Corrupt("fetch token".into()))?;
        let result = self
            .update(Self::fetch_key(key))
            .update_expression("REMOVE started, started_for")
            // A later fetch replaced this one: it stands.
            .condition_expression("started = :started")
            .expression_attribute_values(":started", n(started))
            .send()
            .await;
        conditional(result)?;
        Ok(())
    }

    async fn erase(&self, person: &PersonKey) -> Result<usize, StoreError> {
        let pk = s(Self::fetch_pk(person));
        Ok(self.delete_partition(pk).await?.len())
    }
}
