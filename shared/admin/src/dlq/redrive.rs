//! Moving a queue's messages to another by hand: a dead-letter queue back to its source
//! queue once the cause is fixed.
//!
//! Invariants:
//! - No message is lost: a message leaves its queue only after its copy was accepted by
//!   the other. A copy refused stops the run; the message, and whatever else is held, is
//!   released where it was.
//! - A message may arrive twice, never silently: when a delete fails after its copy was
//!   accepted, the run stops and says so (the worker's fetch log and import ledger make the
//!   second delivery cost nothing).
//! - A message that comes back during the run (moved, failed again, dead-lettered again)
//!   stops it: moving it round in a circle fixes nothing.
//! - A dry run moves nothing: it takes each message once, keeps it hidden while it lists
//!   the rest, and releases them all at the end.

use std::collections::HashSet;
use std::time::Duration;

use super::queues::{MessageQueue, TakenMessage};

/// How long a taken message stays hidden: a released one (or one whose release failed)
/// is visible again after this at the latest.
pub const HOLD: Duration = Duration::from_secs(120);
/// Messages taken at once (SQS's most).
const BATCH: usize = 10;

/// Why a run ended before the queue was empty or the limit reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// The queue could not be read.
    TakeFailed(String),
    /// The other queue refused a copy: the message stays where it was.
    CopyRefused { id: String, error: String },
    /// The copy was accepted but the original could not be deleted: it will be delivered
    /// twice (harmless, the ledger has it) and is still in the queue.
    DeleteFailed { id: String, error: String },
    /// A message already moved in this run is back: the cause is not fixed.
    CameBack { id: String },
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stopped::TakeFailed(e) => write!(f, "cannot receive from the queue: {e}"),
            Stopped::CopyRefused { id, error } => write!(
                f,
                "the destination refused message {id}, which stays where it was: {error}"
            ),
            Stopped::DeleteFailed { id, error } => write!(
                f,
                "message {id} was copied but not deleted, so it will be delivered again \
                 (the import ledger makes that harmless): {error}"
            ),
            Stopped::CameBack { id } => write!(
                f,
                "message {id} came back after it was moved: it fails again, see the \
                 worker's log before moving it once more"
            ),
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedriveReport {
    /// Copied, then deleted where they were.
    pub moved: usize,
    /// A dry run's messages, left where they were.
    pub listed: Vec<TakenMessage>,
    pub stopped: Option<Stopped>,
}

/// Moves the messages of `from` to `to` (at most `limit`), or with `dry_run` only lists
/// them.
pub async fn redrive(
    from: &dyn MessageQueue,
    to: &dyn MessageQueue,
    limit: Option<usize>,
    dry_run: bool,
) -> RedriveReport {
    let mut report = RedriveReport::default();
    // Every message taken, and every copy made: a copy that fails again is dead-lettered
    // with its id.
    let mut seen: HashSet<String> = HashSet::new();
    'taking: loop {
        let done = report.moved + report.listed.len();
        let room = limit.map_or(BATCH, |l| l.saturating_sub(done).min(BATCH));
        if room == 0 {
            break;
        }
        let batch = match from.take(room, HOLD).await {
            Ok(batch) if batch.is_empty() => break,
            Ok(batch) => batch,
            Err(e) => {
                report.stopped = Some(Stopped::TakeFailed(e.to_string()));
                break;
            }
        };
        for (n, message) in batch.iter().enumerate() {
            let stop = if !seen.insert(message.id.clone()) {
                Some(Stopped::CameBack {
                    id: message.id.clone(),
                })
            } else if dry_run {
                report.listed.push(message.clone());
                None
            } else if let Err(e) = to.put_copy(message).await.map(|copy| seen.insert(copy)) {
                Some(Stopped::CopyRefused {
                    id: message.id.clone(),
                    error: e.to_string(),
                })
            } else if let Err(e) = from.delete(message).await {
                // Not released: it was copied, and a release would let this run take it
                // again.
                report.stopped = Some(Stopped::DeleteFailed {
                    id: message.id.clone(),
                    error: e.to_string(),
                });
                release(from, &batch[n + 1..]).await;
                break 'taking;
            } else {
                report.moved += 1;
                None
            };
            if let Some(stop) = stop {
                report.stopped = Some(stop);
                release(from, &batch[n..]).await;
                break 'taking;
            }
        }
    }
    if dry_run {
        release(from, &report.listed).await;
    }
    report
}

/// Makes held messages visible again; one that cannot be is visible after [`HOLD`].
async fn release(queue: &dyn MessageQueue, messages: &[TakenMessage]) {
    for message in messages {
        if let Err(e) = queue.release(message).await {
            tracing::warn!(id = %message.id, error = %e,
                "message not released; visible again when its hold ends");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::queues::MemoryMessageQueue;
    use super::*;

    fn filled(n: usize) -> MemoryMessageQueue {
        let queue = MemoryMessageQueue::new();
        for i in 0..n {
            queue.push(&format!("{{\"n\":{i}}}"));
        }
        queue
    }

    #[tokio::test]
    async fn every_message_moves_once_in_order() {
        let (from, to) = (filled(23), MemoryMessageQueue::new());
        let report = redrive(&from, &to, None, false).await;
        assert_eq!(report.moved, 23);
        assert_eq!(report.stopped, None);
        assert!(from.bodies().is_empty());
        let expected: Vec<String> = (0..23).map(|i| format!("{{\"n\":{i}}}")).collect();
        assert_eq!(to.bodies(), expected);
    }

    #[tokio::test]
    async fn a_limit_moves_that_many_and_leaves_the_rest_visible() {
        let (from, to) = (filled(15), MemoryMessageQueue::new());
        let report = redrive(&from, &to, Some(12), false).await;
        assert_eq!(report.moved, 12);
        assert_eq!(to.bodies().len(), 12);
        assert_eq!(from.bodies().len(), 3);
        assert_eq!(from.held(), 0);
    }

    #[tokio::test]
    async fn a_dry_run_lists_every_message_and_moves_none() {
        let (from, to) = (filled(13), MemoryMessageQueue::new());
        let report = redrive(&from, &to, None, true).await;
        assert_eq!(report.moved, 0);
        assert_eq!(report.listed.len(), 13);
        assert!(to.bodies().is_empty());
        assert_eq!(from.bodies().len(), 13);
        assert_eq!(from.held(), 0, "all released");
        let report = redrive(&from, &to, Some(4), true).await;
        assert_eq!(report.listed.len(), 4);
        assert_eq!(from.held(), 0);
    }

    #[tokio::test]
    async fn a_refused_copy_stops_the_run_and_loses_nothing() {
        let (from, to) = (filled(8), MemoryMessageQueue::new());
        to.refuse_copies_after(5);
        let report = redrive(&from, &to, None, false).await;
        assert_eq!(report.moved, 5);
        assert!(
            matches!(report.stopped, Some(Stopped::CopyRefused { .. })),
            "{report:?}"
        );
        assert_eq!(to.bodies().len(), 5);
        assert_eq!(from.bodies().len(), 3, "the rest stays");
        assert_eq!(from.held(), 0, "and is visible again");
        let mut all = to.bodies();
        all.extend(from.bodies());
        all.sort();
        let mut expected: Vec<String> = (0..8).map(|i| format!("{{\"n\":{i}}}")).collect();
        expected.sort();
        assert_eq!(all, expected);
    }

    #[tokio::test]
    async fn a_failed_delete_stops_the_run_and_says_the_copy_went() {
        let (from, to) = (filled(4), MemoryMessageQueue::new());
        from.refuse_deletes_after(2);
        let report = redrive(&from, &to, None, false).await;
        assert_eq!(report.moved, 2);
        assert!(
            matches!(report.stopped, Some(Stopped::DeleteFailed { .. })),
            "{report:?}"
        );
        assert_eq!(to.bodies().len(), 3, "the third was copied");
        assert_eq!(
            from.bodies().len(),
            2,
            "and is still there, with the fourth"
        );
        assert_eq!(from.held(), 1, "the copied one is not released");
    }

    #[tokio::test]
    async fn a_message_that_comes_back_stops_the_run() {
        let from = filled(1);
        // The destination hands every copy straight back to the source: a message failing
        // again at once.
        let to = MemoryMessageQueue::new();
        to.echo_copies_to(&from);
        let report = redrive(&from, &to, None, false).await;
        assert_eq!(report.moved, 1);
        assert!(
            matches!(report.stopped, Some(Stopped::CameBack { .. })),
            "{report:?}"
        );
        assert_eq!(from.bodies().len(), 1);
        assert_eq!(from.held(), 0);
    }

    #[tokio::test]
    async fn an_unreadable_queue_moves_nothing() {
        let (from, to) = (filled(2), MemoryMessageQueue::new());
        from.set_down(true);
        let report = redrive(&from, &to, None, false).await;
        assert_eq!(report.moved, 0);
        assert!(matches!(report.stopped, Some(Stopped::TakeFailed(_))));
        from.set_down(false);
        assert_eq!(from.bodies().len(), 2);
    }
}
