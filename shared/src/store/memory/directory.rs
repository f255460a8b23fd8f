//! The active connections as the daily job pages through them, and operators' listings.

use std::collections::HashMap;

use async_trait::async_trait;

use super::*;
use crate::domain::local_day::stable_hash;
use crate::domain::ConnectionStatus;
use crate::ports::store::{ConnectionDirectory, ConnectionSummary, DirectoryEntry, DirectoryPage};

#[async_trait]
impl ConnectionDirectory for MemoryStore {
    async fn scan_active(
        &self,
        segment: u32,
        total_segments: u32,
        start: Option<HashMap<String, String>>,
    ) -> Result<DirectoryPage, StoreError> {
        let t = self.lock();
        // Pages continue after the last key of the one before, as DynamoDB's do.
        let after = start.and_then(|k| {
            Some(PersonKey::new(
                k.get("provider")?.parse().ok()?,
                k.get("user_id")?.clone(),
            ))
        });
        let from = match &after {
            Some(key) => std::ops::Bound::Excluded(key),
            None => std::ops::Bound::Unbounded,
        };
        let mut page = t
            .connections
            .range((from, std::ops::Bound::Unbounded))
            .filter(|(key, _)| {
                stable_hash(&key.to_string()) % u64::from(total_segments.max(1))
                    == u64::from(segment)
            })
            .take(PAGE + 1);
        let seen: Vec<(&PersonKey, &Connection)> = page.by_ref().take(PAGE).collect();
        let more = page.next().is_some();
        let next = seen.last().filter(|_| more).map(|(key, _)| {
            HashMap::from([
                ("provider".to_owned(), key.provider.to_string()),
                ("user_id".to_owned(), key.user_id.0.clone()),
            ])
        });
        let entries = seen
            .into_iter()
            .map(|(_, c)| c)
            .filter(|c| c.status == ConnectionStatus::Active)
            .map(|c| DirectoryEntry {
                provider: c.provider,
                user_id: c.user_id.clone(),
                timezone: c.timezone.clone(),
                scopes: c.tokens.scopes.clone(),
            })
            .collect();
        Ok(DirectoryPage { entries, next })
    }

    async fn connections_of(
        &self,
        provider: ProviderKind,
    ) -> Result<Vec<ConnectionSummary>, StoreError> {
        let mut t = self.lock();
        t.listings += 1;
        if t.listings_refused {
            return Err(StoreError::Unavailable(
                "ProvisionedThroughputExceeded".into(),
            ));
        }
        Ok(t.connections
            .values()
            .filter(|c| c.provider == provider)
            .map(|c| ConnectionSummary {
                provider: c.provider,
                user_id: c.user_id.clone(),
                status: c.status,
                contact: c.contact.clone(),
                customer_ref: c.customer_ref.clone(),
                updated_at: t.updated_at.get(&c.person()).copied(),
                connected_at: t.connected_at.get(&c.person()).copied(),
                consented_at: c.consented_at,
            })
            .collect())
    }
}
