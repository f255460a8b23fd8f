//! The daily job: for every connected person, queue "sync yesterday" — yesterday in the
//! person's own time zone, because providers' days are the person's local (civil) days.
//!
//! Parallel scan segments page through the Directory index (active connections only)
//! concurrently, and each page's work is queued as soon as it is read, so memory stays
//! flat however many people there are.
//!
//! Paced ([`DailyPacing`]), the job runs every `period` and each person's yesterday is due
//! at their own fixed point of a `window` after their local midnight (a stable hash of who
//! they are): a run queues exactly the people whose point falls in its period, each
//! delayed to its point, so a time zone's pull is spread evenly over the window instead
//! of asked for at once, and each person is queued once a night. Unpaced, a run queues
//! everyone's yesterday at once, as of the clock's now.

use std::sync::Arc;

use futures_util::stream::{self, StreamExt};
use jiff::Timestamp;

use crate::domain::local_day::{paced_point, stable_hash, yesterday};
use crate::domain::{Priority, WorkItem};
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
    /// Paced: people whose point falls in a later run.
    pub not_due: u64,
}

/// How the daily job spreads each time zone's pull.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DailyPacing {
    /// Every person's pull falls at their own point of this window after their local
    /// midnight (at most 12 hours).
    pub window: std::time::Duration,
    /// How often the job runs: its schedule's rate (at most 15 minutes, the longest delay
    /// a queued message can have).
    pub period: std::time::Duration,
}

impl DailyPacing {
    /// The run covering `now`: its period's start, on the period's grid since the epoch, so
    /// a run invoked a little late covers the same people as one on time.
    fn period_start(&self, now: Timestamp) -> Timestamp {
        let period = self.period.as_secs().max(1) as i64;
        let start = now.as_second().div_euclid(period) * period;
        Timestamp::from_second(start).unwrap_or(now)
    }

    /// The person's offset into the window, in seconds.
    fn offset(&self, entry: &DirectoryEntry) -> i64 {
        let key = format!("{}#{}", entry.provider, entry.user_id);
        (stable_hash(&key) % self.window.as_secs().max(1)) as i64
    }
}

pub struct DailyService {
    pub directory: Arc<dyn ConnectionDirectory>,
    pub queue: Arc<dyn WorkQueue>,
    pub segments: u32,
    /// Which collections a person's scopes grant.
    pub catalog: Catalog,
    /// `None`: everyone at once.
    pub pacing: Option<DailyPacing>,
    pub clock: SharedClock,
}

impl DailyService {
    /// The person's work for the run at `now`, with its delay; `Err(())` when not due in
    /// this run (paced), `Ok(None)` when they granted no data scope.
    fn work_for(
        &self,
        entry: &DirectoryEntry,
        now: Timestamp,
    ) -> Result<Option<(WorkItem, std::time::Duration)>, ()> {
        let timezone = entry.timezone.as_deref();
        let (day, delay) = match &self.pacing {
            None => (yesterday(timezone, now), std::time::Duration::ZERO),
            Some(pacing) => {
                let start = pacing.period_start(now);
                let (point, day) = paced_point(timezone, pacing.offset(entry), start);
                let end = start + jiff::SignedDuration::try_from(pacing.period).map_err(|_| ())?;
                if point >= end {
                    return Err(());
                }
                let delay =
                    std::time::Duration::try_from(point.duration_since(now)).unwrap_or_default();
                (day, delay)
            }
        };
        Ok(self
            .catalog
            .sync_work(entry.provider, &entry.user_id, &entry.scopes, day)
            .map(|w| (w.at(Priority::Daily), delay)))
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
            total.not_due += r.not_due;
        }
        tracing::info!(
            people = total.people,
            queued = total.queued,
            without_scopes = total.without_scopes,
            not_due = total.not_due,
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
            let mut work = Vec::new();
            for entry in &page.entries {
                match self.work_for(entry, now) {
                    Ok(Some(w)) => work.push(w),
                    Ok(None) => report.without_scopes += 1,
                    Err(()) => report.not_due += 1,
                }
            }
            report.people += page.entries.len() as u64;
            let queued = work.len() as u64;
            if self.pacing.is_some() {
                self.queue.enqueue_paced(&work).await?;
            } else {
                let work: Vec<WorkItem> = work.into_iter().map(|(w, _)| w).collect();
                self.queue.enqueue(&work).await?;
            }
            report.queued += queued;
            metrics::counter!(metric::WORK_QUEUED).increment(queued);
            match page.next {
                Some(next) => start = Some(next),
                None => return Ok(report),
            }
        }
    }
}
