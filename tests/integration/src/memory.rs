//! Constant-time, in-memory stand-ins for the ports, for benchmarks that must time our
//! code rather than the emulator.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use fitbridge::domain::{
    ConnectionStatus, ContactKey, ProviderKind, ProviderUserId, Scopes, WorkItem,
};
use fitbridge::ports::queue::{QueueError, WorkQueue};
use fitbridge::ports::store::{
    ConnectionDirectory, ConnectionSummary, DirectoryEntry, DirectoryPage, StoreError,
};

/// Accepts everything, counts items and the SendMessageBatch calls SQS would need.
#[derive(Default)]
pub struct CountingQueue {
    pub items: AtomicU64,
    pub batch_calls: AtomicU64,
}

#[async_trait]
impl WorkQueue for CountingQueue {
    async fn enqueue(&self, items: &[WorkItem]) -> Result<(), QueueError> {
        // Serialise like the SQS adapter does, so the CPU cost is the same.
        let bytes: usize = items
            .iter()
            .map(|i| serde_json::to_string(i).unwrap().len())
            .sum();
        std::hint::black_box(bytes);
        self.items.fetch_add(items.len() as u64, Ordering::Relaxed);
        self.batch_calls
            .fetch_add(items.len().div_ceil(10) as u64, Ordering::Relaxed);
        Ok(())
    }

    async fn enqueue_delayed(
        &self,
        item: &WorkItem,
        _delay: std::time::Duration,
    ) -> Result<(), QueueError> {
        self.enqueue(std::slice::from_ref(item)).await
    }
}

/// `people` active Fitbit connections split into `segments`, served in pages of
/// `page_size` (a 1 MB DynamoDB page holds a few thousand of these projected items).
/// Person `n` is `U<n, 7 digits>`, contact `FITBIT/U<n>`; every 10th came through a
/// signed link (customer ref `C<n>`). `scans` counts the pages read, as DynamoDB would
/// bill them.
pub struct MemoryDirectory {
    pub people: u32,
    pub page_size: u32,
    pub scans: AtomicU64,
}

const ZONES: [&str; 6] = [
    "Europe/Berlin",
    "America/New_York",
    "Asia/Tokyo",
    "Australia/Sydney",
    "America/Los_Angeles",
    "UTC",
];

#[async_trait]
impl ConnectionDirectory for MemoryDirectory {
    async fn scan_active(
        &self,
        segment: u32,
        total_segments: u32,
        start: Option<HashMap<String, String>>,
    ) -> Result<DirectoryPage, StoreError> {
        self.scans.fetch_add(1, Ordering::Relaxed);
        let per_segment = self.people.div_ceil(total_segments);
        let first = segment * per_segment;
        let end = (first + per_segment).min(self.people);
        let from = start
            .and_then(|k| k.get("n").and_then(|n| n.parse().ok()))
            .unwrap_or(first);
        let to = (from + self.page_size).min(end);
        let entries = (from..to)
            .map(|n| DirectoryEntry {
                provider: ProviderKind::Fitbit,
                user_id: ProviderUserId(format!("U{n:07}")),
                timezone: Some(ZONES[n as usize % ZONES.len()].into()),
                scopes: Scopes::parse("profile activity sleep weight"),
            })
            .collect();
        Ok(DirectoryPage {
            entries,
            next: (to < end).then(|| HashMap::from([("n".to_owned(), to.to_string())])),
        })
    }

    async fn connections_of(
        &self,
        provider: ProviderKind,
    ) -> Result<Vec<ConnectionSummary>, StoreError> {
        // One scan reads the whole table whichever provider is asked for.
        self.scans.fetch_add(
            u64::from(self.people.div_ceil(self.page_size.max(1)).max(1)),
            Ordering::Relaxed,
        );
        if provider != ProviderKind::Fitbit {
            return Ok(Vec::new());
        }
        Ok((0..self.people)
            .map(|n| {
                let user_id = format!("U{n:07}");
                ConnectionSummary {
                    provider,
                    contact: ContactKey {
                        origin: "FITBIT".into(),
                        id: user_id.clone(),
                    },
                    user_id: ProviderUserId(user_id),
                    status: ConnectionStatus::Active,
                    customer_ref: (n % 10 == 0).then(|| format!("C{n}")),
                    updated_at: None,
                    connected_at: None,
                    consented_at: None,
                }
            })
            .collect())
    }
}
