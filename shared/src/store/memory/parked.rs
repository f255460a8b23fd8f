//! Parked work, kept as long as in the table.

use async_trait::async_trait;

use super::*;
use crate::domain::PersonKey;
use crate::ports::store::ParkedWork;

#[async_trait]
impl ParkedWork for MemoryStore {
    async fn park(&self, item: &WorkItem, reason: &str) -> Result<(), StoreError> {
        let body = serde_json::to_string(item).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.lock().parked.entry(item.person()).or_default().insert(
            hex_sha256(body.as_bytes()),
            (item.clone(), reason.to_owned(), self.clock.now()),
        );
        Ok(())
    }

    async fn parked(&self, person: &PersonKey) -> Result<Vec<(String, WorkItem)>, StoreError> {
        let oldest = self.clock.now() - PARKED_RETENTION;
        Ok(self
            .lock()
            .parked
            .get(person)
            .map(|items| {
                items
                    .iter()
                    .filter(|(_, (_, _, at))| *at >= oldest)
                    .map(|(id, (item, _, _))| (id.clone(), item.clone()))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn unpark(&self, person: &PersonKey, ids: &[String]) -> Result<(), StoreError> {
        if let Some(items) = self.lock().parked.get_mut(person) {
            for id in ids {
                items.remove(id);
            }
        }
        Ok(())
    }

    async fn erase(&self, person: &PersonKey) -> Result<usize, StoreError> {
        Ok(self
            .lock()
            .parked
            .remove(person)
            .map_or(0, |items| items.len()))
    }
}
