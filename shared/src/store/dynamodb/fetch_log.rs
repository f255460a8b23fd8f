//! The fetch log: [`FetchLog`].

use async_trait::async_trait;
use time::OffsetDateTime;

use super::codec::*;
use super::keys::*;
use super::DynamoStore;
use crate::ports::store::{FetchClaim, FetchKey, FetchLog, StoreError};

#[async_trait]
impl FetchLog for DynamoStore {
    async fn begin(
        &self,
        key: &FetchKey,
        sent_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<FetchClaim, StoreError> {
        let (sent, now_ms) = (millis(sent_at), millis(now));
        // Proceed unless a fetch that started after `sent` answers it — one begun for
        // another notification (`started_for`), or one that completed under the log's
        // earlier form (`completed_since`, which expires with its item).
        let result = self
            .update(Self::fetch_key(key))
            .update_expression("SET started = :now, started_for = :sent, #ttl = :ttl")
            .condition_expression(
                "(attribute_not_exists(completed_since) OR completed_since < :sent) AND \
                 (attribute_not_exists(started) OR started < :sent OR started_for = :sent)",
            )
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":sent", n(sent))
            .expression_attribute_values(":ttl", n(now.unix_timestamp() + FETCH_LOG_RETENTION_SECS))
            .send()
            .await;
        Ok(match conditional(result)? {
            Some(_) => FetchClaim::Proceed(now_ms.to_string()),
            None => FetchClaim::AlreadyFetched,
        })
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
}
