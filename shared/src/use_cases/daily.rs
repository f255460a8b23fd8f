//! The daily job: for every connected person, queue "sync yesterday" — yesterday in the
//! person's own time zone, because providers' days are the person's local (civil) days.
//!
//! Parallel scan segments page through the Directory index (active connections only)
//! concurrently, and each page's work is queued as soon as it is read, so memory stays
//! flat however many people there are.

use std::sync::Arc;

use futures_util::stream::{self, StreamExt};
use jiff::Timestamp;

use crate::domain::local_day::yesterday;
use crate::domain::WorkItem;
use crate::ports::catalog::Catalog;
use crate::ports::clock::SharedClock;
use crate::ports::queue::{QueueError, WorkQueue};
use crate::ports::store::{ConnectionDirectory, DirectoryEntry, StoreError};
use crate::telemetry::metric;

#[derive(Debug, thiserror::Error)]
pub enum DailyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// What one run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DailyReport {
    pub people: u64,
    pub queued: u64,
    /// Active connections without any data scope granted.
    pub without_scopes: u64,
}

pub struct DailyService {
    pub directory: Arc<dyn ConnectionDirectory>,
    pub queue: Arc<dyn WorkQueue>,
    pub segments: u32,
    /// Which collections a person's scopes grant.
    pub catalog: Catalog,
    pub clock: SharedClock,
}

impl DailyService {
    fn work_for(&self, entry: &DirectoryEntry, now: Timestamp) -> Option<WorkItem> {
        self.catalog.sync_work(
            entry.provider,
            &entry.user_id,
            &entry.scopes,
            yesterday(entry.timezone.as_deref(), now),
        )
    }

    /// Queues everyone's yesterday, as of the clock's now.
    pub async fn run(&self) -> Result<DailyReport, DailyError> {
        let now = self.clock.timestamp();
        let reports: Vec<Result<DailyReport, DailyError>> = stream::iter(0..self.segments)
            .map(|segment| self.run_segment(segment, now))
            .buffer_unordered(self.segments as usize)
            .collect()
            .await;
        let mut total = DailyReport::default();
        for r in reports {
            let r = r?;
            total.people += r.people;
            total.queued += r.queued;
            total.without_scopes += r.without_scopes;
        }
        tracing::info!(
            people = total.people,
            queued = total.queued,
            without_scopes = total.without_scopes,
            "daily sync queued"
        );
        Ok(total)
    }

    async fn run_segment(&self, segment: u32, now: Timestamp) -> Result<DailyReport, DailyError> {
        let mut report = DailyReport::default();
        let mut start = None;
        loop {
            let page = self
                .directory
                .scan_active(segment, self.segments, start)
                .await?;
            let work: Vec<WorkItem> = page
                .entries
                .iter()
                .filter_map(|e| self.work_for(e, now))
                .collect();
            report.people += page.entries.len() as u64;
            report.without_scopes += (page.entries.len() - work.len()) as u64;
            self.queue.enqueue(&work).await?;
            report.queued += work.len() as u64;
            metrics::counter!(metric::WORK_QUEUED).increment(work.len() as u64);
            match page.next {
                Some(next) => start = Some(next),
                None => return Ok(report),
            }
        }
    }
}
