//! The daily job: for every connected person, queue "sync yesterday" — yesterday in the
//! person's own time zone, because providers' days are the person's local (civil) days.
//!
//! Parallel scan segments page through the table concurrently and each page's work is
//! queued as soon as it is read, so memory stays flat however many people there are.

use std::sync::Arc;

use futures_util::stream::{self, StreamExt};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use time::Date;

use crate::domain::{ProviderKind, ProviderUserId, Scopes, WorkItem};
use crate::queue::{QueueError, WorkQueue};
use crate::store::{ConnectionDirectory, DirectoryEntry, StoreError};
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
}

/// The person's today at `now`. An unknown or missing time zone counts as UTC.
pub fn today(timezone: Option<&str>, now: Timestamp) -> Date {
    let tz = timezone
        .and_then(|name| TimeZone::get(name).ok())
        .unwrap_or(TimeZone::UTC);
    let today = now.to_zoned(tz).date();
    Date::from_calendar_date(
        today.year() as i32,
        time::Month::try_from(today.month() as u8).expect("1..=12"),
        today.day() as u8,
    )
    .expect("a civil date converts")
}

/// The person's yesterday at `now`. An unknown or missing time zone counts as UTC.
pub fn yesterday(timezone: Option<&str>, now: Timestamp) -> Date {
    today(timezone, now)
        .previous_day()
        .expect("not the first day of time")
}

/// The work that syncs one of a person's days: every collection their scopes grant, in
/// one item. `None` when they granted no data scope. The daily job queues this for
/// yesterday; an operator's backfill for each day of a range.
pub fn sync_work(
    provider: ProviderKind,
    user_id: &ProviderUserId,
    scopes: &Scopes,
    date: Date,
) -> Option<WorkItem> {
    let collections = provider.granted_collections(scopes);
    (!collections.is_empty()).then(|| WorkItem::sync(provider, user_id.clone(), date, collections))
}

impl DailyService {
    fn work_for(&self, entry: &DirectoryEntry, now: Timestamp) -> Option<WorkItem> {
        sync_work(
            entry.provider,
            &entry.user_id,
            &entry.scopes,
            yesterday(entry.timezone.as_deref(), now),
        )
    }

    pub async fn run(&self, now: Timestamp) -> Result<DailyReport, DailyError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yesterday_is_local() {
        // 2026-11-21 01:30 UTC: already the 21st in Berlin, still the 20th in Los Angeles.
        let now: Timestamp = "2026-11-21T01:30:00Z".parse().unwrap();
        assert_eq!(
            yesterday(Some("Europe/Berlin"), now).to_string(),
            "2026-11-20"
        );
        assert_eq!(
            yesterday(Some("America/Los_Angeles"), now).to_string(),
            "2026-11-19"
        );
        assert_eq!(
            yesterday(Some("Pacific/Kiritimati"), now).to_string(),
            "2026-11-20"
        );
        assert_eq!(yesterday(None, now).to_string(), "2026-11-20");
        assert_eq!(
            yesterday(Some("Mars/Olympus"), now).to_string(),
            "2026-11-20"
        );
    }

    #[test]
    fn today_is_local_and_a_sync_covers_what_was_granted() {
        let now: Timestamp = "2026-11-21T01:30:00Z".parse().unwrap();
        assert_eq!(today(Some("Europe/Berlin"), now).to_string(), "2026-11-21");
        assert_eq!(
            today(Some("America/Los_Angeles"), now).to_string(),
            "2026-11-20"
        );
        assert_eq!(today(None, now).to_string(), "2026-11-21");

        let user = ProviderUserId("GGNJL9".into());
        let day = today(None, now);
        for kind in ProviderKind::ALL {
            assert_eq!(sync_work(kind, &user, &Scopes::default(), day), None);
            let scopes = Scopes::parse("activity sleep weight");
            let granted = kind.granted_collections(&scopes);
            assert_eq!(
                sync_work(kind, &user, &scopes, day),
                (!granted.is_empty()).then(|| WorkItem::sync(kind, user.clone(), day, granted))
            );
        }
    }
}
