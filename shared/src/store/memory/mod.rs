//! In-memory adapter of every storage port, for use-case tests that run in milliseconds.
//!
//! It keeps the DynamoDB adapter's semantics where they matter to the use cases — the
//! conditions of every conditional write (single-use states, leases, version checks,
//! import claims, the fetch log's ordering), expiry checked on read — so a use case that
//! passes here behaves the same against the table. The emulator tests prove the adapter.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::domain::signals::history::{History, MonthKey};
use crate::domain::signals::SignalState;
use crate::domain::PersonKey;
use crate::domain::{Connection, ContactKey, ProviderKind, WorkItem};
use crate::ports::clock::SharedClock;
use crate::ports::store::{FetchKey, PendingAuthorization, StoreError, Tombstone};

mod attempts;
mod connections;
mod directory;
mod fetch_log;
mod ledger;
mod parked;
mod signals;
mod tokens;

/// Parked work waits this long for the person to act (as in the table).
pub(super) const PARKED_RETENTION: Duration = Duration::days(30);
/// Fetch-log entries expire this long after their fetch began (as in the table).
pub(super) const FETCH_LOG_RETENTION: Duration = Duration::days(7);
/// Entries per directory page.
pub(super) const PAGE: usize = 100;

pub(super) struct State {
    pub(super) pending: PendingAuthorization,
    pub(super) used: bool,
}

pub(super) struct Lease {
    pub(super) owner: String,
    pub(super) until: OffsetDateTime,
}

#[derive(Default)]
pub(super) struct Ledger {
    pub(super) hash: Option<String>,
    pub(super) interaction_id: Option<String>,
    pub(super) create_started: bool,
    pub(super) claim: Option<Lease>,
    pub(super) expires_at: Option<OffsetDateTime>,
    pub(super) imported_at: Option<OffsetDateTime>,
}

#[derive(Default)]
pub(super) struct Tables {
    pub(super) states: HashMap<String, State>,
    /// Used connect links: id → (holder, expiry).
    pub(super) links: HashMap<String, (String, OffsetDateTime)>,
    pub(super) connections: BTreeMap<PersonKey, Connection>,
    /// When each connection last changed, where the table sets `updated_at`.
    pub(super) updated_at: HashMap<PersonKey, OffsetDateTime>,
    /// When each connection was first made (a reconnect keeps it), as `connected_at`.
    pub(super) connected_at: HashMap<PersonKey, OffsetDateTime>,
    pub(super) leases: HashMap<PersonKey, Lease>,
    pub(super) tombstones: HashMap<PersonKey, Tombstone>,
    /// By (contact origin, contact id, key): sorted, so a contact's entries and a day's
    /// (keys start with the day) are a range, as in the table.
    pub(super) ledger: BTreeMap<(String, String, String), Ledger>,
    /// Operators' listings made so far ([`MemoryStore::listings`]).
    pub(super) listings: usize,
    /// Listings fail as a throttled table's would ([`MemoryStore::refuse_listings`]).
    pub(super) listings_refused: bool,
    /// Ledger claims taken so far (each is a write in DynamoDB).
    pub(super) ledger_claims: usize,
    pub(super) parked: BTreeMap<PersonKey, BTreeMap<String, (WorkItem, String, OffsetDateTime)>>,
    /// The last fetch begun for each key: when (ms), and the send time (ms) of the newest
    /// notification it answers.
    pub(super) fetches: HashMap<FetchKey, (i64, i64)>,
    /// Signal history and state by contact (origin, id).
    pub(super) signals: HashMap<(String, String), (History, SignalState)>,
    /// When a contact's signal items expire, as the table's `ttl`: a month of history
    /// (`Some`) or the state (`None`). Written again, an item is kept.
    pub(super) signal_expiry: HashMap<(String, String, Option<MonthKey>), OffsetDateTime>,
}

/// Every storage port over one in-memory table.
pub struct MemoryStore {
    tables: Mutex<Tables>,
    clock: SharedClock,
}

pub(super) fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(super) fn hex_sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(super) fn condition_failed(what: &str) -> StoreError {
    StoreError::Unavailable(format!("conditional check failed: {what}"))
}

impl Tables {
    /// The contact's ledger entries whose key starts with `prefix` ("" for all), by key.
    pub(super) fn ledger_of<'a>(
        &'a self,
        contact: &'a ContactKey,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a Ledger)> + 'a {
        self.ledger
            .range(
                (
                    contact.origin.clone(),
                    contact.id.clone(),
                    prefix.to_owned(),
                )..,
            )
            .take_while(move |((origin, id, key), _)| {
                *origin == contact.origin && *id == contact.id && key.starts_with(prefix)
            })
            .map(|((_, _, key), entry)| (key, entry))
    }

    /// [`Tables::ledger_of`], to change.
    pub(super) fn ledger_of_mut<'a>(
        &'a mut self,
        contact: &'a ContactKey,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a mut Ledger)> + 'a {
        self.ledger
            .range_mut(
                (
                    contact.origin.clone(),
                    contact.id.clone(),
                    prefix.to_owned(),
                )..,
            )
            .take_while(move |((origin, id, key), _)| {
                *origin == contact.origin && *id == contact.id && key.starts_with(prefix)
            })
            .map(|((_, _, key), entry)| (key, entry))
    }
}

impl MemoryStore {
    /// An empty table whose writes are stamped, and expiries judged, by `clock`.
    pub fn new(clock: SharedClock) -> Self {
        MemoryStore {
            tables: Mutex::default(),
            clock,
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ledger keys recorded as imported for a contact, with their interaction ids.
    pub fn imported(&self, contact: &ContactKey) -> BTreeMap<String, String> {
        self.lock()
            .ledger_of(contact, "")
            .filter_map(|(key, l)| Some((key.clone(), l.interaction_id.clone()?)))
            .collect()
    }

    /// Operators' listings (`connections_of`) made so far: each scans the whole table.
    pub fn listings(&self) -> usize {
        self.lock().listings
    }

    /// Every listing fails from now on, as a throttled table's scan does.
    pub fn refuse_listings(&self, refuse: bool) {
        self.lock().listings_refused = refuse;
    }

    /// Ledger claims taken so far: each is a write in DynamoDB.
    pub fn ledger_claims(&self) -> usize {
        self.lock().ledger_claims
    }

    /// When each of a contact's ledger entries expires (`None`: kept).
    pub fn ledger_expiry(&self, contact: &ContactKey) -> Vec<Option<OffsetDateTime>> {
        self.lock()
            .ledger_of(contact, "")
            .map(|(_, l)| l.expires_at)
            .collect()
    }

    /// What is kept about a person and their contact, by kind, that has not expired by the
    /// store's clock (tests of retention and erasure): empty when nothing is left.
    pub fn kept_about(&self, person: &PersonKey, contact: &ContactKey) -> Vec<&'static str> {
        let now = self.clock.now();
        let t = self.lock();
        let of_contact =
            |origin: &String, id: &String| *origin == contact.origin && *id == contact.id;
        let signals = t.signals.get(&(contact.origin.clone(), contact.id.clone()));
        let live = |item: Option<MonthKey>| {
            t.signal_expiry
                .get(&(contact.origin.clone(), contact.id.clone(), item))
                .is_none_or(|at| *at > now)
        };
        [
            ("connection", t.connections.contains_key(person)),
            ("refresh lease", t.leases.contains_key(person)),
            (
                "tombstone",
                t.tombstones
                    .get(person)
                    .is_some_and(|tomb| tomb.forget_at.is_none_or(|at| at > now)),
            ),
            (
                "parked work",
                t.parked.get(person).is_some_and(|items| {
                    items
                        .values()
                        .any(|(_, _, at)| *at + PARKED_RETENTION >= now)
                }),
            ),
            (
                "fetch log",
                t.fetches.iter().any(|(key, (started, _))| {
                    key.provider == person.provider
                        && key.user_id == person.user_id
                        && OffsetDateTime::from_unix_timestamp_nanos(
                            i128::from(*started) * 1_000_000,
                        )
                        .is_ok_and(|at| at + FETCH_LOG_RETENTION > now)
                }),
            ),
            (
                "import ledger",
                t.ledger.iter().any(|((origin, id, _), entry)| {
                    of_contact(origin, id) && entry.expires_at.is_none_or(|at| at > now)
                }),
            ),
            (
                "signal history",
                signals.is_some_and(|(history, _)| history.months.keys().any(|m| live(Some(*m)))),
            ),
            (
                "signal state",
                signals.is_some_and(|(_, state)| state.version > 0 && live(None)),
            ),
        ]
        .into_iter()
        .filter_map(|(kind, kept)| kept.then_some(kind))
        .collect()
    }

    /// Makes a person's parked work look `age` old (tests of the 30-day retention).
    pub fn age_parked(&self, age: Duration) {
        for items in self.lock().parked.values_mut() {
            for (_, _, at) in items.values_mut() {
                *at -= age;
            }
        }
    }
}
