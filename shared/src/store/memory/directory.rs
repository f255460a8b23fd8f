//! The active connections as the daily job pages through them, and operators' listings.

use std::collections::HashMap;

use async_trait::async_trait;

use super::*;
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
        let in_segment: Vec<&Connection> = t
            .connections
            .values()
            .filter(|c| {
                let h = Sha256::digest(format!("{}#{}", c.provider, c.user_id).as_bytes());
                u32::from(h[0]) % total_segments.max(1) == segment
            })
            .collect();
        let from: usize = start
            .and_then(|k| k.get("n").and_then(|n| n.parse().ok()))
            .unwrap_or(0);
        let to = (from + PAGE).min(in_segment.len());
        let entries = in_segment[from.min(to)..to]
            .iter()
            .filter(|c| c.status == ConnectionStatus::Active)
            .map(|c| DirectoryEntry {
                provider: c.provider,
                user_id: c.user_id.clone(),
                timezone: c.timezone.clone(),
                scopes: c.tokens.scopes.clone(),
            })
            .collect();
        Ok(DirectoryPage {
            entries,
            next: (to < in_segment.len())
                .then(|| HashMap::from([("n".to_owned(), to.to_string())])),
        })
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
