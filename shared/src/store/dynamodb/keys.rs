//! The table's keys: one partition per person or contact and kind of item (module docs of
//! [`super`]), and the constants their layout rests on.

use std::collections::HashMap;

use super::codec::{hex_sha256, s, Item};
use super::DynamoStore;
use crate::domain::{ContactKey, PersonKey};
use crate::ports::store::FetchKey;

pub const CONNECTION_SK: &str = "CONNECTION";
/// The sparse global secondary index of active connections (`infra/template.yaml`).
pub const DIRECTORY_INDEX: &str = "Directory";
pub(super) const STATE_SK: &str = "STATE";
/// Used states are kept a day past their expiry so a replay is told apart from a forgery.
pub(super) const USED_STATE_RETENTION_SECS: i64 = 86_400;
pub(super) const REVOKED_SK: &str = "REVOKED";
/// Fetch log entries only matter while duplicates can still arrive.
pub(super) const FETCH_LOG_RETENTION_SECS: i64 = 7 * 86_400;
/// Parked work waits this long for the person to consent again.
pub(super) const PARKED_RETENTION_SECS: i64 = 30 * 86_400;
/// Ledger items updated at once when a contact's ledger is set to expire: a year of a
/// person's days is about 365 items (one a day; more for days from before that layout).
pub(super) const LEDGER_EXPIRY_CONCURRENCY: usize = 16;
/// Deletes in flight when a partition is erased.
pub(super) const ERASE_CONCURRENCY: usize = 16;

impl DynamoStore {
    pub fn connection_key(person: &PersonKey) -> Item {
        HashMap::from([
            ("pk".to_owned(), s(Self::pk_of(person))),
            ("sk".to_owned(), s(CONNECTION_SK)),
        ])
    }

    /// The partition key of a person's items (connection, tombstone, parked work).
    pub(super) fn pk_of(person: &PersonKey) -> String {
        format!("CONN#{}#{}", person.provider, person.user_id.0)
    }

    pub(super) fn import_key(contact: &ContactKey, key: &str) -> Item {
        HashMap::from([
            (
                "pk".to_owned(),
                s(format!("IMPORT#{}#{}", contact.origin, contact.id)),
            ),
            ("sk".to_owned(), s(key)),
        ])
    }

    pub(super) fn link_key(link_id: &str) -> Item {
        HashMap::from([
            ("pk".to_owned(), s(format!("LINK#{link_id}"))),
            ("sk".to_owned(), s("LINK")),
        ])
    }

    pub(super) fn state_key(state: &str) -> Item {
        let hex = hex_sha256(state.as_bytes());
        HashMap::from([
            ("pk".to_owned(), s(format!("STATE#{hex}"))),
            ("sk".to_owned(), s(STATE_SK)),
        ])
    }
    pub(super) fn parked_pk(person: &PersonKey) -> String {
        format!("PARKED#{}#{}", person.provider, person.user_id)
    }
    pub(super) fn fetch_pk(person: &PersonKey) -> String {
        format!("FETCH#{}#{}", person.provider, person.user_id)
    }
    pub(super) fn fetch_key(key: &FetchKey) -> Item {
        HashMap::from([
            ("pk".to_owned(), s(Self::fetch_pk(&key.person()))),
            (
                "sk".to_owned(),
                s(format!(
                    "{}#{}",
                    key.collection,
                    crate::domain::work::iso_date::format(key.date)
                )),
            ),
        ])
    }
}
