//! In-memory adapter of every storage port, for use-case tests that run in milliseconds.
//!
//! It keeps the DynamoDB adapter's semantics where they matter to the use cases — the
//! conditions of every conditional write (single-use states, leases, version checks,
//! import claims, the fetch log's ordering), expiry checked on read — so a use case that
//! passes here behaves the same against the table. The emulator tests prove the adapter.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::domain::signals::history::{History, MonthHistory, MonthKey};
use crate::domain::signals::SignalState;
use crate::domain::{
    Collection, Connection, ConnectionStatus, ContactKey, DailyInteraction, ProviderKind,
    ProviderUserId, TokenSet, WorkItem,
};
use crate::ports::clock::SharedClock;
use crate::ports::signals::SignalStore;
use crate::ports::store::{
    Claim, ConnectAttempts, ConnectionDirectory, ConnectionStore, ConnectionSummary,
    DirectoryEntry, DirectoryPage, Ending, FetchClaim, FetchKey, FetchLog, ImportLedger,
    ImportRecord, LatestImport, LedgerEntry, ParkedWork, PendingAuthorization, Revocation,
    StateError, StoreError, TokenStore, Tombstone,
};

/// Parked work waits this long for the person to act (as in the table).
const PARKED_RETENTION: Duration = Duration::days(30);
/// Entries per directory page.
const PAGE: usize = 100;

type PersonKey = (ProviderKind, ProviderUserId);

struct State {
    pending: PendingAuthorization,
    used: bool,
}

struct Lease {
    owner: String,
    until: OffsetDateTime,
}

#[derive(Default)]
struct Ledger {
    hash: Option<String>,
    interaction_id: Option<String>,
    create_started: bool,
    claim: Option<Lease>,
    expires_at: Option<OffsetDateTime>,
    imported_at: Option<OffsetDateTime>,
}

#[derive(Default)]
struct Tables {
    states: HashMap<String, State>,
    /// Used connect links: id → (holder, expiry).
    links: HashMap<String, (String, OffsetDateTime)>,
    connections: BTreeMap<PersonKey, Connection>,
    /// When each connection last changed, where the table sets `updated_at`.
    updated_at: HashMap<PersonKey, OffsetDateTime>,
    /// When each connection was first made (a reconnect keeps it), as `connected_at`.
    connected_at: HashMap<PersonKey, OffsetDateTime>,
    leases: HashMap<PersonKey, Lease>,
    tombstones: HashMap<PersonKey, Tombstone>,
    ledger: HashMap<(String, String, String), Ledger>,
    /// Ledger claims taken so far (each is a write in DynamoDB).
    ledger_claims: usize,
    parked: BTreeMap<PersonKey, BTreeMap<String, (WorkItem, String, OffsetDateTime)>>,
    /// The last fetch begun for each key: when (ms), and the send time (ms) of the newest
    /// notification it answers.
    fetches: HashMap<FetchKey, (i64, i64)>,
    /// Signal history and state by contact (origin, id).
    signals: HashMap<(String, String), (History, SignalState)>,
}

/// Every storage port over one in-memory table.
pub struct MemoryStore {
    tables: Mutex<Tables>,
    clock: SharedClock,
}

fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn hex_sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn condition_failed(what: &str) -> StoreError {
    StoreError::Unavailable(format!("conditional check failed: {what}"))
}

impl MemoryStore {
    /// An empty table whose writes are stamped, and expiries judged, by `clock`.
    pub fn new(clock: SharedClock) -> Self {
        MemoryStore {
            tables: Mutex::default(),
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ledger keys recorded as imported for a contact, with their interaction ids.
    pub fn imported(&self, contact: &ContactKey) -> BTreeMap<String, String> {
        self.lock()
            .ledger
            .iter()
            .filter(|((origin, id, _), _)| *origin == contact.origin && *id == contact.id)
            .filter_map(|((_, _, key), l)| Some((key.clone(), l.interaction_id.clone()?)))
            .collect()
    }

    /// Ledger claims taken so far: each is a write in DynamoDB.
    pub fn ledger_claims(&self) -> usize {
        self.lock().ledger_claims
    }

    /// When each of a contact's ledger entries expires (`None`: kept).
    pub fn ledger_expiry(&self, contact: &ContactKey) -> Vec<Option<OffsetDateTime>> {
        self.lock()
            .ledger
            .iter()
            .filter(|((origin, id, _), _)| *origin == contact.origin && *id == contact.id)
            .map(|(_, l)| l.expires_at)
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

#[async_trait]
impl ConnectAttempts for MemoryStore {
    async fn put(&self, state: &str, pending: &PendingAuthorization) -> Result<(), StoreError> {
        let mut t = self.lock();
        let key = hex_sha256(state.as_bytes());
        if t.states.contains_key(&key) {
            return Err(condition_failed("state exists"));
        }
        t.states.insert(
            key,
            State {
                pending: pending.clone(),
                used: false,
            },
        );
        Ok(())
    }

    async fn take(
        &self,
        state: &str,
        now: OffsetDateTime,
    ) -> Result<PendingAuthorization, StateError> {
        let mut t = self.lock();
        let entry = t
            .states
            .get_mut(&hex_sha256(state.as_bytes()))
            .ok_or(StateError::Unknown)?;
        if entry.used {
            return Err(StateError::Replayed);
        }
        entry.used = true;
        if now >= entry.pending.expires_at {
            return Err(StateError::Expired);
        }
        Ok(entry.pending.clone())
    }

    async fn link_used(&self, link_id: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        Ok(self
            .lock()
            .links
            .get(link_id)
            .is_some_and(|(_, expires)| *expires > now))
    }

    async fn use_link(
        &self,
        link: &crate::domain::link::VerifiedLink,
        holder: &str,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let mut t = self.lock();
        match t.links.get(&link.id) {
            Some((other, expires)) if other != holder && *expires > now => Ok(false),
            _ => {
                t.links
                    .insert(link.id.clone(), (holder.to_owned(), link.expires_at));
                Ok(true)
            }
        }
    }

    async fn give_back_link(&self, link_id: &str, holder: &str) -> Result<(), StoreError> {
        let mut t = self.lock();
        if t.links.get(link_id).is_some_and(|(h, _)| h == holder) {
            t.links.remove(link_id);
        }
        Ok(())
    }
}

#[async_trait]
impl ConnectionStore for MemoryStore {
    async fn revoke(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
        ending: Ending,
        issued_at: OffsetDateTime,
    ) -> Result<Revocation, StoreError> {
        let mut t = self.lock();
        let key = (provider, user_id.clone());
        let Some(c) = t.connections.get(&key) else {
            return Ok(Revocation::NotConnected);
        };
        if c.consented_at.is_some_and(|at| at > issued_at) {
            return Ok(Revocation::Stale);
        }
        let c = t.connections.remove(&key).expect("just read");
        t.leases.remove(&key);
        t.updated_at.remove(&key);
        t.connected_at.remove(&key);
        let tombstone = Tombstone {
            contact: c.contact,
            ending,
            revoked_at: self.clock.now(),
            flag_pending: ending == Ending::Disconnected,
            forget_at: None,
        };
        t.tombstones.insert(key, tombstone.clone());
        Ok(Revocation::Revoked(tombstone))
    }

    async fn forget(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
        at: OffsetDateTime,
    ) -> Result<Option<Tombstone>, StoreError> {
        let mut t = self.lock();
        let Some(tomb) = t
            .tombstones
            .get_mut(&(provider, user_id.clone()))
            .filter(|t| t.ending == Ending::Disconnected)
        else {
            return Ok(None);
        };
        // A time already set is the earlier one: it stays.
        tomb.forget_at.get_or_insert(at);
        Ok(Some(tomb.clone()))
    }

    async fn tombstone(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
    ) -> Result<Option<Tombstone>, StoreError> {
        let now = self.clock.now();
        Ok(self
            .lock()
            .tombstones
            .get(&(provider, user_id.clone()))
            .filter(|t| t.forget_at.is_none_or(|at| at > now))
            .cloned())
    }

    async fn mark_flagged(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
        revoked_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if let Some(t) = self
            .lock()
            .tombstones
            .get_mut(&(provider, user_id.clone()))
            .filter(|t| t.revoked_at == revoked_at)
        {
            t.flag_pending = false;
        }
        Ok(())
    }

    async fn save_connected(&self, c: &Connection) -> Result<u64, StoreError> {
        let mut t = self.lock();
        let key = (c.provider, c.user_id.clone());
        let version = match t.connections.get_mut(&key) {
            Some(existing) => {
                existing.tokens = c.tokens.clone();
                existing.status = c.status;
                existing.contact = c.contact.clone();
                // A reconnect through a plain link keeps the customer id an earlier signed
                // link verified; a missing time zone keeps the known one.
                if c.customer_ref.is_some() {
                    existing.customer_ref = c.customer_ref.clone();
                }
                if c.timezone.is_some() {
                    existing.timezone = c.timezone.clone();
                }
                existing.version += 1;
                existing.consented_at = Some(self.clock.now());
                existing.version
            }
            None => {
                let mut fresh = c.clone();
                fresh.version = 1;
                fresh.consented_at = Some(self.clock.now());
                fresh.subscriptions = BTreeSet::new();
                t.connections.insert(key.clone(), fresh);
                1
            }
        };
        t.connected_at
            .entry(key.clone())
            .or_insert_with(|| self.clock.now());
        t.updated_at.insert(key, self.clock.now());
        Ok(version)
    }

    async fn replace_tokens_if_connected(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
        tokens: &TokenSet,
    ) -> Result<bool, StoreError> {
        let mut t = self.lock();
        let key = (provider, user_id.clone());
        let Some(c) = t.connections.get_mut(&key) else {
            return Ok(false);
        };
        c.tokens = tokens.clone();
        c.version += 1;
        t.updated_at.insert(key, self.clock.now());
        Ok(true)
    }

    async fn set_subscriptions(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
        subscriptions: &[Collection],
    ) -> Result<(), StoreError> {
        let mut t = self.lock();
        let c = t
            .connections
            .get_mut(&(provider, user_id.clone()))
            .ok_or_else(|| condition_failed("no connection"))?;
        c.subscriptions = subscriptions.iter().copied().collect();
        Ok(())
    }

    async fn get(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
    ) -> Result<Option<Connection>, StoreError> {
        Ok(self
            .lock()
            .connections
            .get(&(provider, user_id.clone()))
            .cloned())
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn acquire_refresh_lease(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut t = self.lock();
        let key = (provider, user_id.clone());
        if !t.connections.contains_key(&key) {
            return Ok(false);
        }
        if t.leases.get(&key).is_some_and(|l| l.until >= now) {
            return Ok(false);
        }
        t.leases.insert(
            key,
            Lease {
                owner: owner.to_owned(),
                until,
            },
        );
        Ok(true)
    }

    async fn store_rotated_tokens(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
        tokens: &TokenSet,
        expected_version: u64,
        owner: &str,
    ) -> Result<Option<u64>, StoreError> {
        let mut t = self.lock();
        let key = (provider, user_id.clone());
        let holds = t.leases.get(&key).is_some_and(|l| l.owner == owner);
        let Some(c) = t.connections.get_mut(&key) else {
            return Ok(None);
        };
        if c.version != expected_version || !holds {
            return Ok(None);
        }
        c.tokens = tokens.clone();
        c.version += 1;
        let version = c.version;
        t.leases.remove(&key);
        t.updated_at.insert(key, self.clock.now());
        Ok(Some(version))
    }

    async fn release_refresh_lease(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
        owner: &str,
    ) -> Result<(), StoreError> {
        let mut t = self.lock();
        let key = (provider, user_id.clone());
        if t.leases.get(&key).is_some_and(|l| l.owner == owner) {
            t.leases.remove(&key);
        }
        Ok(())
    }

    async fn set_status(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
        status: ConnectionStatus,
    ) -> Result<(), StoreError> {
        let mut t = self.lock();
        let key = (provider, user_id.clone());
        let c = t
            .connections
            .get_mut(&key)
            .ok_or_else(|| condition_failed("no connection"))?;
        c.status = status;
        t.updated_at.insert(key, self.clock.now());
        Ok(())
    }
}

fn ledger_key(contact: &ContactKey, key: &str) -> (String, String, String) {
    (contact.origin.clone(), contact.id.clone(), key.to_owned())
}

#[async_trait]
impl ImportLedger for MemoryStore {
    async fn settled(
        &self,
        contact: &ContactKey,
        day: &str,
        now: OffsetDateTime,
    ) -> Result<HashMap<String, String>, StoreError> {
        let t = self.lock();
        Ok(t.ledger
            .iter()
            .filter(|((origin, id, key), _)| {
                *origin == contact.origin && *id == contact.id && key.starts_with(day)
            })
            .filter(|(_, e)| e.claim.as_ref().is_none_or(|c| c.until < now))
            .filter(|(_, e)| e.expires_at.is_none() && e.interaction_id.is_some())
            .filter_map(|((_, _, key), e)| Some((key.clone(), e.hash.clone()?)))
            .collect())
    }

    async fn claim(
        &self,
        contact: &ContactKey,
        day: &str,
        keys: &[String],
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Claim, StoreError> {
        let mut t = self.lock();
        t.ledger_claims += 1;
        if keys.iter().any(|key| {
            t.ledger
                .get(&ledger_key(contact, key))
                .and_then(|e| e.claim.as_ref())
                .is_some_and(|c| c.until >= now)
        }) {
            return Ok(Claim::Busy);
        }
        let mut found = HashMap::new();
        for key in keys {
            let entry = t.ledger.entry(ledger_key(contact, key)).or_default();
            entry.claim = Some(Lease {
                owner: owner.to_owned(),
                until,
            });
            found.insert(
                key.clone(),
                match (&entry.hash, &entry.interaction_id) {
                    (Some(hash), Some(id)) => LedgerEntry::Imported {
                        hash: hash.clone(),
                        interaction_id: id.clone(),
                    },
                    _ if entry.create_started => LedgerEntry::CreateUnconfirmed,
                    _ => LedgerEntry::New,
                },
            );
            entry.create_started = true;
        }
        // The day is fed again: all of it is permanent again.
        for ((origin, id, key), entry) in t.ledger.iter_mut() {
            if *origin == contact.origin && *id == contact.id && key.starts_with(day) {
                entry.expires_at = None;
            }
        }
        Ok(Claim::Claimed(found))
    }

    async fn complete(
        &self,
        contact: &ContactKey,
        _day: &str,
        owner: &str,
        keys: &[String],
        imported: &[ImportRecord],
    ) -> Result<(), StoreError> {
        let mut t = self.lock();
        if keys.iter().any(|key| {
            t.ledger
                .get(&ledger_key(contact, key))
                .and_then(|e| e.claim.as_ref())
                .is_none_or(|c| c.owner != owner)
        }) {
            return Err(condition_failed("claim not held"));
        }
        for key in keys {
            if let Some(entry) = t.ledger.get_mut(&ledger_key(contact, key)) {
                entry.claim = None;
            }
        }
        for record in imported {
            let entry = t
                .ledger
                .entry(ledger_key(contact, &record.key))
                .or_default();
            entry.hash = Some(record.hash.clone());
            entry.interaction_id = Some(record.interaction_id.clone());
            entry.imported_at = Some(self.clock.now());
        }
        Ok(())
    }

    async fn expire(&self, contact: &ContactKey, at: OffsetDateTime) -> Result<usize, StoreError> {
        let mut t = self.lock();
        let mut newly = 0;
        for ((origin, id, _), entry) in t.ledger.iter_mut() {
            if *origin == contact.origin && *id == contact.id && entry.expires_at.is_none() {
                entry.expires_at = Some(at);
                newly += 1;
            }
        }
        Ok(newly)
    }

    async fn latest(&self, contact: &ContactKey) -> Result<Option<LatestImport>, StoreError> {
        let t = self.lock();
        // The table's order: the key with the newest day sorts last.
        let Some((key, entry)) = t
            .ledger
            .iter()
            .filter(|((origin, id, _), _)| *origin == contact.origin && *id == contact.id)
            .map(|((_, _, key), entry)| (key, entry))
            .max_by(|a, b| a.0.cmp(b.0))
        else {
            return Ok(None);
        };
        let day = DailyInteraction::day_of_source_object(key)
            .ok_or_else(|| StoreError::Corrupt(format!("import ledger key {key:?}")))?;
        Ok(Some(LatestImport {
            day,
            imported_at: entry.imported_at,
        }))
    }
}

#[async_trait]
impl ParkedWork for MemoryStore {
    async fn park(&self, item: &WorkItem, reason: &str) -> Result<(), StoreError> {
        let body = serde_json::to_string(item).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.lock()
            .parked
            .entry((item.provider, item.user_id.clone()))
            .or_default()
            .insert(
                hex_sha256(body.as_bytes()),
                (item.clone(), reason.to_owned(), self.clock.now()),
            );
        Ok(())
    }

    async fn parked(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
    ) -> Result<Vec<(String, WorkItem)>, StoreError> {
        let oldest = self.clock.now() - PARKED_RETENTION;
        Ok(self
            .lock()
            .parked
            .get(&(provider, user_id.clone()))
            .map(|items| {
                items
                    .iter()
                    .filter(|(_, (_, _, at))| *at >= oldest)
                    .map(|(id, (item, _, _))| (id.clone(), item.clone()))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn unpark(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
        ids: &[String],
    ) -> Result<(), StoreError> {
        if let Some(items) = self.lock().parked.get_mut(&(provider, user_id.clone())) {
            for id in ids {
                items.remove(id);
            }
        }
        Ok(())
    }
}

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
        let t = self.lock();
        Ok(t.connections
            .values()
            .filter(|c| c.provider == provider)
            .map(|c| ConnectionSummary {
                provider: c.provider,
                user_id: c.user_id.clone(),
                status: c.status,
                contact: c.contact.clone(),
                customer_ref: c.customer_ref.clone(),
                updated_at: t.updated_at.get(&(c.provider, c.user_id.clone())).copied(),
                connected_at: t
                    .connected_at
                    .get(&(c.provider, c.user_id.clone()))
                    .copied(),
                consented_at: c.consented_at,
            })
            .collect())
    }
}

#[async_trait]
impl FetchLog for MemoryStore {
    async fn begin(
        &self,
        key: &FetchKey,
        sent_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<FetchClaim, StoreError> {
        let (sent, now_ms) = (millis(sent_at), millis(now));
        let mut t = self.lock();
        // Answered by a later fetch, unless that fetch was this very notification's.
        if t.fetches
            .get(key)
            .is_some_and(|(since, by)| *since >= sent && *by != sent)
        {
            return Ok(FetchClaim::AlreadyFetched);
        }
        t.fetches.insert(key.clone(), (now_ms, sent));
        Ok(FetchClaim::Proceed(now_ms.to_string()))
    }

    async fn abandon(&self, key: &FetchKey, token: &str) -> Result<(), StoreError> {
        let started: i64 = token
            .parse()
            .map_err(|_| StoreError::Corrupt("fetch token".into()))?;
        let mut t = self.lock();
        if t.fetches
            .get(key)
            .is_some_and(|(since, _)| *since == started)
        {
            t.fetches.remove(key);
        }
        Ok(())
    }
}

#[async_trait]
impl SignalStore for MemoryStore {
    async fn load(&self, contact: &ContactKey) -> Result<(History, SignalState), StoreError> {
        Ok(self
            .lock()
            .signals
            .get(&(contact.origin.clone(), contact.id.clone()))
            .cloned()
            .unwrap_or_default())
    }

    async fn save_month(
        &self,
        contact: &ContactKey,
        key: MonthKey,
        month: &MonthHistory,
    ) -> Result<bool, StoreError> {
        let mut t = self.lock();
        let (history, _) = t
            .signals
            .entry((contact.origin.clone(), contact.id.clone()))
            .or_default();
        let stored = history.months.get(&key).map_or(0, |m| m.version);
        if stored != month.version {
            return Ok(false);
        }
        history.months.insert(
            key,
            MonthHistory {
                days: month.days.clone(),
                version: stored + 1,
            },
        );
        Ok(true)
    }

    async fn save_state(
        &self,
        contact: &ContactKey,
        state: &SignalState,
    ) -> Result<bool, StoreError> {
        let mut t = self.lock();
        let (_, stored) = t
            .signals
            .entry((contact.origin.clone(), contact.id.clone()))
            .or_default();
        if stored.version != state.version {
            return Ok(false);
        }
        *stored = SignalState {
            version: state.version + 1,
            ..state.clone()
        };
        Ok(true)
    }

    async fn forget(&self, contact: &ContactKey) -> Result<usize, StoreError> {
        Ok(self
            .lock()
            .signals
            .remove(&(contact.origin.clone(), contact.id.clone()))
            .map_or(0, |(h, s)| h.months.len() + usize::from(s.version > 0)))
    }
}
