//! Units of work that travel on the queues, and what becomes of them.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use super::{Collection, PersonKey, ProviderKind, ProviderUserId};

/// One message on the work queue: what to do for one person.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WorkItem {
    pub provider: ProviderKind,
    pub user_id: ProviderUserId,
    #[serde(flatten)]
    pub task: Task,
    /// Sent back by the token-refresh function after a 401: this work had its refresh, so
    /// a 401 now is not an expired token (a proxy's answer, a provider fault), and another
    /// refresh would send it round in a circle that never reaches the dead-letter queue.
    #[serde(default, skip_serializing_if = "is_false")]
    pub after_refresh: bool,
    /// Who yields to whom when the providers' shared request budget runs short. A message
    /// from before priorities existed reads as a notification: it waits behind nothing.
    #[serde(default, skip_serializing_if = "Priority::is_notification")]
    pub priority: Priority,
}

/// Which work yields when the requests the providers allow the whole deployment run short:
/// fresh data a notification announced comes first, then the nightly pull, then backfills.
/// Lower work never fails or is dropped for it: it waits, like a rate limit.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// A provider announced new data (and anything without a priority of its own).
    #[default]
    Notification,
    /// The daily job's "sync yesterday".
    Daily,
    /// The days before a new connection.
    Backfill,
}

impl Priority {
    pub const ALL: [Priority; 3] = [Priority::Notification, Priority::Daily, Priority::Backfill];

    pub fn is_notification(&self) -> bool {
        *self == Priority::Notification
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Notification => "notification",
            Priority::Daily => "daily",
            Priority::Backfill => "backfill",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "snake_case")]
pub enum Task {
    /// Fetch these collections for one of the person's local days and import them.
    Sync {
        #[serde(with = "iso_date")]
        date: Date,
        collections: Vec<Collection>,
    },
    /// The person revoked access or deleted their account: forget their tokens, remove
    /// subscriptions, flag the contact; what is still kept about them expires after the
    /// retention.
    Revoke {
        /// The account itself is gone: its contact's history is deleted at once, and the
        /// rest kept about it (the tombstone, the import ledger) expires after a grace
        /// period if that is sooner than the retention.
        #[serde(default, skip_serializing_if = "is_false")]
        account_deleted: bool,
        /// When the revocation was issued (the webhook received it, the operator asked for
        /// it): a connection made after it survives it, however late the message comes and
        /// however often it is sent again — a redriven message has a new send time, this
        /// stays. `None`: a message from before this field, judged by its send time.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "time::serde::rfc3339::option"
        )]
        issued_at: Option<OffsetDateTime>,
    },
}

/// What became of a work item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Handled (imported, already imported, parked, handed on, nothing to do).
    Done,
    /// Not handled: deliver it again after at least `after`, and after the adapter's
    /// backoff if `backoff` (a failure that may pass). Counts towards the DLQ.
    Retry { after: Duration, backoff: bool },
    /// Waiting for the provider's rate-limit reset. Not a failure: it must never count
    /// towards the DLQ.
    RateLimited(Duration),
}

impl Outcome {
    /// A failure that may pass: retry after the adapter's backoff.
    pub const BACKOFF: Outcome = Outcome::Retry {
        after: Duration::ZERO,
        backoff: true,
    };

    pub fn retry_after(after: Duration) -> Outcome {
        Outcome::Retry {
            after,
            backoff: false,
        }
    }
}

/// Keeps the outcome that needs the most: a failure beats a rate-limit wait beats done;
/// the longer wait wins.
pub fn merge(current: &mut Outcome, new: Outcome) {
    use Outcome::*;
    *current = match (current.clone(), new) {
        (Done, o) | (o, Done) => o,
        (
            Retry {
                after: a,
                backoff: x,
            },
            Retry {
                after: b,
                backoff: y,
            },
        ) => Retry {
            after: a.max(b),
            backoff: x || y,
        },
        (Retry { after, backoff }, RateLimited(d)) | (RateLimited(d), Retry { after, backoff }) => {
            Retry {
                after: after.max(d),
                backoff,
            }
        }
        (RateLimited(a), RateLimited(b)) => RateLimited(a.max(b)),
    };
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl WorkItem {
    /// Whose work this is.
    pub fn person(&self) -> PersonKey {
        PersonKey {
            provider: self.provider,
            user_id: self.user_id.clone(),
        }
    }

    /// Forget the person's connection: issued at `issued_at`.
    pub fn revoke(
        provider: ProviderKind,
        user_id: ProviderUserId,
        account_deleted: bool,
        issued_at: Option<OffsetDateTime>,
    ) -> Self {
        WorkItem {
            provider,
            user_id,
            task: Task::Revoke {
                account_deleted,
                issued_at,
            },
            after_refresh: false,
            priority: Priority::Notification,
        }
    }

    /// Marks a revocation as issued at `at`, unless it says when it was issued already.
    pub fn issued(mut self, at: OffsetDateTime) -> Self {
        if let Task::Revoke { issued_at, .. } = &mut self.task {
            issued_at.get_or_insert(at);
        }
        self
    }

    pub fn sync(
        provider: ProviderKind,
        user_id: ProviderUserId,
        date: Date,
        collections: Vec<Collection>,
    ) -> Self {
        WorkItem {
            provider,
            user_id,
            task: Task::Sync { date, collections },
            after_refresh: false,
            priority: Priority::Notification,
        }
    }

    /// The same work at `priority`.
    pub fn at(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }
}

/// `yyyy-MM-dd`, the providers' and our wire format for a local day.
pub mod iso_date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::macros::format_description;
    use time::Date;

    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
        format_description!("[year]-[month]-[day]");

    pub fn parse(s: &str) -> Option<Date> {
        Date::parse(s, FORMAT).ok()
    }

    pub fn format(d: Date) -> String {
        d.format(FORMAT).expect("a Date always formats")
    }

    pub fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).ok_or_else(|| serde::de::Error::custom("expected yyyy-MM-dd"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn outcomes_merge_towards_what_needs_most() {
        let mut o = Outcome::Done;
        merge(&mut o, Outcome::RateLimited(Duration::from_secs(5)));
        assert_eq!(o, Outcome::RateLimited(Duration::from_secs(5)));
        merge(&mut o, Outcome::retry_after(Duration::from_secs(2)));
        assert_eq!(o, Outcome::retry_after(Duration::from_secs(5)));
        merge(&mut o, Outcome::BACKOFF);
        assert_eq!(
            o,
            Outcome::Retry {
                after: Duration::from_secs(5),
                backoff: true
            }
        );
        merge(&mut o, Outcome::Done);
        assert!(matches!(o, Outcome::Retry { backoff: true, .. }));
    }

    /// One day's activities for one person.
    fn a_sync(kind: ProviderKind) -> WorkItem {
        WorkItem::sync(
            kind,
            ProviderUserId("GGNJL9".into()),
            date!(2026 - 11 - 20),
            vec![Collection::Activities],
        )
    }

    #[test]
    fn work_items_round_trip_as_readable_json() {
        let kind = ProviderKind::ALL[0];
        let item = a_sync(kind);
        let json = serde_json::to_string(&item).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"provider":"{kind}","user_id":"GGNJL9","task":"sync","date":"2026-11-20","collections":["activities"]}}"#
            )
        );
        assert_eq!(serde_json::from_str::<WorkItem>(&json).unwrap(), item);
    }

    #[test]
    fn a_revoke_reads_the_same_as_before_account_deletion_was_told_apart() {
        let kind = ProviderKind::ALL[0];
        let revoke = |account_deleted| {
            WorkItem::revoke(kind, ProviderUserId("GGNJL9".into()), account_deleted, None)
        };
        // Messages already queued by an earlier version still parse.
        let plain = format!(r#"{{"provider":"{kind}","user_id":"GGNJL9","task":"revoke"}}"#);
        assert_eq!(serde_json::to_string(&revoke(false)).unwrap(), plain);
        assert_eq!(
            serde_json::from_str::<WorkItem>(&plain).unwrap(),
            revoke(false)
        );
        let deleted = serde_json::to_string(&revoke(true)).unwrap();
        assert!(deleted.ends_with(r#""task":"revoke","account_deleted":true}"#));
        assert_eq!(
            serde_json::from_str::<WorkItem>(&deleted).unwrap(),
            revoke(true)
        );
    }

    #[test]
    fn a_priority_travels_and_older_messages_read_as_notifications() {
        let item = a_sync(ProviderKind::ALL[0]);
        let plain = serde_json::to_string(&item).unwrap();
        assert!(!plain.contains("priority"), "{plain}");
        let daily = item.clone().at(Priority::Backfill);
        let json = serde_json::to_string(&daily).unwrap();
        assert!(json.ends_with(r#""priority":"backfill"}"#), "{json}");
        assert_eq!(serde_json::from_str::<WorkItem>(&json).unwrap(), daily);
        assert_eq!(
            serde_json::from_str::<WorkItem>(&plain).unwrap().priority,
            Priority::Notification
        );
        assert!(Priority::Notification < Priority::Daily && Priority::Daily < Priority::Backfill);
    }

    #[test]
    fn work_sent_back_after_a_refresh_says_so_and_older_messages_read_as_not() {
        let kind = ProviderKind::ALL[0];
        let item = a_sync(kind);
        let plain = serde_json::to_string(&item).unwrap();
        assert!(!plain.contains("after_refresh"), "{plain}");
        let resent = WorkItem {
            after_refresh: true,
            ..item.clone()
        };
        let json = serde_json::to_string(&resent).unwrap();
        assert!(json.ends_with(r#""after_refresh":true}"#), "{json}");
        assert_eq!(serde_json::from_str::<WorkItem>(&json).unwrap(), resent);
        assert_eq!(serde_json::from_str::<WorkItem>(&plain).unwrap(), item);
    }
}
