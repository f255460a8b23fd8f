//! Units of work that travel on the queues.

use serde::{Deserialize, Serialize};
use time::Date;

use super::{Collection, ProviderKind, ProviderUserId};

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
    /// subscriptions, flag the contact.
    Revoke {
        /// The account itself is gone: what fitbridge still keeps about it (the tombstone,
        /// the import ledger of its contact) expires after a grace period.
        #[serde(default, skip_serializing_if = "is_false")]
        account_deleted: bool,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl WorkItem {
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
        }
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
    fn work_items_round_trip_as_readable_json() {
        let kind = ProviderKind::ALL[0];
        let item = WorkItem::sync(
            kind,
            ProviderUserId("GGNJL9".into()),
            date!(2026 - 11 - 20),
            vec![Collection::Activities],
        );
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
        let revoke = |account_deleted| WorkItem {
            provider: kind,
            user_id: ProviderUserId("GGNJL9".into()),
            task: Task::Revoke { account_deleted },
            after_refresh: false,
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
    fn work_sent_back_after_a_refresh_says_so_and_older_messages_read_as_not() {
        let kind = ProviderKind::ALL[0];
        let item = WorkItem::sync(
            kind,
            ProviderUserId("GGNJL9".into()),
            date!(2026 - 11 - 20),
            vec![Collection::Activities],
        );
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
