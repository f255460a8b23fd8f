//! Work set aside until the person acts: [`ParkedWork`].

use std::collections::HashMap;

use async_trait::async_trait;

use super::codec::*;
use super::keys::*;
use super::DynamoStore;
use crate::domain::PersonKey;
use crate::domain::WorkItem;
use crate::ports::store::{ParkedWork, StoreError};

#[async_trait]
impl ParkedWork for DynamoStore {
    async fn parked(&self, person: &PersonKey) -> Result<Vec<(String, WorkItem)>, StoreError> {
        let now = self.clock.now().unix_timestamp();
        let query = self
            .query()
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(Self::parked_pk(person)))
            .consistent_read(true);
        let mut found = Vec::new();
        for item in all_items(query).await? {
            // TTL deletes lazily: an expired item counts as gone.
            if get_n(&item, "ttl").is_ok_and(|ttl| ttl < now) {
                continue;
            }
            let work = serde_json::from_str(get_s(&item, "work")?)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            found.push((get_s(&item, "sk")?.to_owned(), work));
        }
        Ok(found)
    }

    async fn unpark(&self, person: &PersonKey, ids: &[String]) -> Result<(), StoreError> {
        for id in ids {
            let key = HashMap::from([
                ("pk".to_owned(), s(Self::parked_pk(person))),
                ("sk".to_owned(), s(id)),
            ]);
            self.delete(key).send().await.map_err(unavailable)?;
        }
        Ok(())
    }

    async fn erase(&self, person: &PersonKey) -> Result<usize, StoreError> {
        let pk = s(Self::parked_pk(person));
        Ok(self.delete_partition(pk).await?.len())
    }

    async fn park(&self, item: &WorkItem, reason: &str) -> Result<(), StoreError> {
        let body = serde_json::to_string(item).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let now = self.clock.now().unix_timestamp();
        let mut record: Item = HashMap::from([
            ("pk".to_owned(), s(Self::parked_pk(&item.person()))),
            ("sk".to_owned(), s(hex_sha256(body.as_bytes()))),
        ]);
        record.insert("work".into(), s(body));
        record.insert("reason".into(), s(reason));
        record.insert("parked_at".into(), n(now));
        record.insert("ttl".into(), n(now + PARKED_RETENTION_SECS));
        self.put(record).await
    }
}
