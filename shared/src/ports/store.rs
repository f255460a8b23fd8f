//! Storage ports. Their adapters are in [`crate::store`]: DynamoDB, and the in-memory one
//! the use-case tests run with.
//!
//! Only [`ConnectionStore::get`] hands out a connection's tokens; listings
//! ([`ConnectionDirectory`]) carry what their reader needs and never read a token.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::link::VerifiedLink;
use crate::domain::{
    Collection, Connection, ConnectionStatus, ContactKey, PersonKey, ProviderKind, ProviderUserId,
    Secret, TokenSet,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored item is corrupt: {0}")]
    Corrupt(String),
}

/// One authorization attempt between the redirect to the provider and its callback.
#[derive(Clone, Debug)]
pub struct PendingAuthorization {
    pub provider: ProviderKind,
    pub code_verifier: Secret,
    /// The verified signed connect link with its customer id, if the person came with one.
    pub link: Option<VerifiedLink>,
    pub redirect_uri: String,
    pub expires_at: OffsetDateTime,
    /// SHA-256 (hex) of the browser binding the attempt started with: only the browser
    /// holding it may finish the attempt.
    pub browser_hash: String,
}

/// Why a callback's `state` was not accepted. The person sees the same page for all of
/// them; the log line tells them apart.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state unknown (never issued, or forged)")]
    Unknown,
    #[error("state already used (replay)")]
    Replayed,
    #[error("state expired")]
    Expired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Port: what makes connecting single-use — each attempt's OAuth state, and each signed
/// link's one connection.
#[async_trait]
pub trait ConnectAttempts: Send + Sync {
    async fn put(&self, state: &str, pending: &PendingAuthorization) -> Result<(), StoreError>;

    /// Marks the state used (atomically: of two concurrent callbacks only one wins) and
    /// returns what was stored with it.
    async fn take(
        &self,
        state: &str,
        now: OffsetDateTime,
    ) -> Result<PendingAuthorization, StateError>;

    /// Whether a connection was made (or is being made) with the link.
    async fn link_used(&self, link_id: &str, now: OffsetDateTime) -> Result<bool, StoreError>;

    /// Takes the link for the callback `holder`, atomically: of two callbacks with the
    /// same link only one gets it. `false`: somebody else has it.
    async fn use_link(&self, link: &VerifiedLink, holder: &str) -> Result<bool, StoreError>;

    /// Gives the link back: the connect it was taken for did not finish.
    async fn give_back_link(&self, link_id: &str, holder: &str) -> Result<(), StoreError>;
}

/// What a revocation found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// The connection is gone; its tombstone stays.
    Revoked(Tombstone),
    /// The person consented again after the revocation was issued: their newer
    /// connection stays untouched.
    Stale,
    NotConnected,
}

/// Why a connection ended, which decides what its contact is owed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The person left: the marketing system is told with a disconnect flag.
    Disconnected,
    /// The person goes on at `to`, on the same contact: nothing to tell, and nothing of
    /// the contact's may expire.
    Migrated { to: ProviderKind },
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Disconnected => f.write_str("revoked by the person"),
            Ending::Migrated { to } => write!(f, "migrated to {to}"),
        }
    }
}

/// What remains of a revoked connection: no tokens, the contact it fed, when and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tombstone {
    pub contact: ContactKey,
    pub ending: Ending,
    pub revoked_at: OffsetDateTime,
    /// The marketing system has yet to be told (a disconnect flag is due and not
    /// confirmed written).
    pub flag_pending: bool,
    /// When the tombstone, and with it what is kept of its contact (import ledger, signal
    /// history), expire: set by the disconnect ([`ConnectionStore::forget`]); `None`: kept
    /// (a migration's, whose contact lives on, or not set yet).
    pub forget_at: Option<OffsetDateTime>,
}

/// What [`ConnectionStore::erase`] found and deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Erased {
    /// The connection (its tokens, its refresh lease, its directory entry).
    pub connection: bool,
    /// The tombstone of an earlier revocation.
    pub tombstone: bool,
}

/// Port: people's connections and their tokens.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Forgets the person's tokens — the connection goes, a tombstone with the contact key
    /// and the time stays, so no further work finds the person — unless they consented
    /// again after `issued_at` (a revocation that waited in backoff or arrived late never
    /// deletes a newer connection). A [`Ending::Disconnected`] tombstone remembers that
    /// the marketing system must be told, until [`Self::mark_flagged`].
    async fn revoke(
        &self,
        person: &PersonKey,
        ending: Ending,
        issued_at: OffsetDateTime,
    ) -> Result<Revocation, StoreError>;

    /// The person disconnected (or deleted their account): their [`Ending::Disconnected`]
    /// tombstone expires at `at`, or at the time already set if that is earlier (so a
    /// repeat changes nothing, and an account deletion after a disconnect can only bring
    /// the end forward). A migration's tombstone is left alone: its contact lives on.
    /// Returns the tombstone as now set to expire; `None`: no tombstone, a migration's, or
    /// one already expired.
    async fn forget(
        &self,
        person: &PersonKey,
        at: OffsetDateTime,
    ) -> Result<Option<Tombstone>, StoreError>;

    /// An erasure request: deletes the person's connection (tokens and all, so it also
    /// leaves the directory) and their tombstone, now, whatever their state or expiry.
    /// Says which of the two there were; repeating it finds neither.
    async fn erase(&self, person: &PersonKey) -> Result<Erased, StoreError>;

    /// The person's tombstone, if they were revoked and it has not expired.
    async fn tombstone(&self, person: &PersonKey) -> Result<Option<Tombstone>, StoreError>;

    /// The disconnect flag of the revocation at `revoked_at` reached the marketing system.
    async fn mark_flagged(
        &self,
        person: &PersonKey,
        revoked_at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Stores a fresh connection, or updates the existing one for the same provider user
    /// (reconnecting never duplicates): tokens replaced, status active, version bumped.
    /// Returns the new version.
    async fn save_connected(&self, connection: &Connection) -> Result<u64, StoreError>;

    /// Replaces the tokens of an existing connection, if there is one. Used when a
    /// reconnect got new tokens (which invalidate the stored ones where refresh tokens are
    /// single-use) but could not
    /// finish. Returns whether a connection existed.
    async fn replace_tokens_if_connected(
        &self,
        person: &PersonKey,
        tokens: &TokenSet,
    ) -> Result<bool, StoreError>;

    async fn set_subscriptions(
        &self,
        person: &PersonKey,
        subscriptions: &[Collection],
    ) -> Result<(), StoreError>;

    async fn get(&self, person: &PersonKey) -> Result<Option<Connection>, StoreError>;
}

/// Port: the refresh lease and token rotation. Together they make refreshes for one
/// person never run at the same time anywhere: with single-use refresh tokens, two
/// concurrent refreshes are the classic way integrations lose people.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Takes the person's refresh lease until `until`, unless someone else holds a live one.
    async fn acquire_refresh_lease(
        &self,
        person: &PersonKey,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Stores rotated tokens if the connection is still at `expected_version` and this
    /// owner holds the lease; releases the lease. Returns the new version, or `None` when
    /// the condition failed (someone else rotated the tokens).
    async fn store_rotated_tokens(
        &self,
        person: &PersonKey,
        tokens: &TokenSet,
        expected_version: u64,
        owner: &str,
    ) -> Result<Option<u64>, StoreError>;

    async fn release_refresh_lease(
        &self,
        person: &PersonKey,
        owner: &str,
    ) -> Result<(), StoreError>;

    /// Parks a connection (`NeedsReconsent`, `ProviderGone`) or makes it active again —
    /// only while it is at `if_version`, when given: a decision taken on what was read
    /// must not land on a connection the person has replaced since (a reconnect).
    /// `false`: no connection, or not at that version; nothing changed.
    async fn set_status(
        &self,
        person: &PersonKey,
        status: crate::domain::ConnectionStatus,
        if_version: Option<u64>,
    ) -> Result<bool, StoreError>;
}

/// What the ledger knew about one (person, day, metric) when we claimed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerEntry {
    /// Never imported.
    New,
    /// Imported before with this content hash as this SAP interaction.
    Imported {
        hash: String,
        interaction_id: String,
    },
    /// A create was started but its result never recorded (the worker died in between):
    /// the interaction may exist in SAP; look it up before creating another.
    CreateUnconfirmed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The keys are ours until completed; what the ledger knew of each (a key it knows
    /// nothing of is [`LedgerEntry::New`]).
    Claimed(std::collections::HashMap<String, LedgerEntry>),
    /// Another worker is importing one of them right now.
    Busy,
}

/// One interaction imported: its source object, content hash and SAP id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportRecord {
    pub key: String,
    pub hash: String,
    pub interaction_id: String,
}

/// Port: what was imported into the marketing system, kept per (contact, day): importing a
/// day costs one claim and one record however many of its metrics changed. Interaction
/// creates are not idempotent, so every write goes through a claim first; claims are per
/// interaction, so workers importing different collections of one day never wait for
/// each other.
///
/// `day` is the prefix the day's source objects share
/// ([`crate::domain::DailyInteraction::day_prefix`]); keys are source objects.
#[async_trait]
pub trait ImportLedger: Send + Sync {
    /// The content hash of each of the day's entries that is imported, not claimed at `now`
    /// and not set to expire: what SAP surely holds. A read: content found unchanged here
    /// needs no claim and no write.
    async fn settled(
        &self,
        user: &crate::domain::ContactKey,
        day: &str,
        now: OffsetDateTime,
    ) -> Result<std::collections::HashMap<String, String>, StoreError>;

    /// Claims `keys` (the day's changed interactions) for `owner` until `until`, all or
    /// none, and marks a create as started for each; an entry set to expire is permanent
    /// again. Interactions of the day not among `keys` stay free for other workers (another
    /// collection of the same day is imported alongside).
    async fn claim(
        &self,
        user: &crate::domain::ContactKey,
        day: &str,
        keys: &[String],
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Claim, StoreError>;

    /// Records the finished imports and releases the claimed `keys` (`imported` empty: only
    /// releases them — nothing was written).
    async fn complete(
        &self,
        user: &crate::domain::ContactKey,
        day: &str,
        owner: &str,
        keys: &[String],
        imported: &[ImportRecord],
    ) -> Result<(), StoreError>;

    /// Everything recorded for the contact expires at `at` (an entry already set to expire
    /// earlier keeps its time): no connection feeds it any more. A later [`Self::claim`]
    /// makes its day permanent again. Returns how many items were newly set to expire
    /// (a repeat with the same `at` sets none).
    async fn expire(
        &self,
        user: &crate::domain::ContactKey,
        at: OffsetDateTime,
    ) -> Result<usize, StoreError>;

    /// An erasure request: deletes everything recorded for the contact, now, set to
    /// expire or not. Returns how many days it held (a repeat finds none).
    async fn erase(&self, user: &crate::domain::ContactKey) -> Result<usize, StoreError>;

    /// The contact's newest day in the ledger and when it was last written (one read of
    /// one item: for operators' listings). `None`: nothing was ever imported.
    async fn latest(
        &self,
        user: &crate::domain::ContactKey,
    ) -> Result<Option<LatestImport>, StoreError>;
}

/// The newest day a contact's ledger holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LatestImport {
    /// The person's local day.
    pub day: time::Date,
    /// When an interaction of that day was last written to the marketing system; `None`:
    /// its create was started but is not confirmed (yet).
    pub imported_at: Option<OffsetDateTime>,
}

/// Port: work set aside for people who must act first (consent again, migrate), and
/// given back when they have.
#[async_trait]
pub trait ParkedWork: Send + Sync {
    async fn park(&self, item: &crate::domain::WorkItem, reason: &str) -> Result<(), StoreError>;

    /// The person's parked work (not yet expired), each with its id for [`Self::unpark`].
    async fn parked(
        &self,
        person: &PersonKey,
    ) -> Result<Vec<(String, crate::domain::WorkItem)>, StoreError>;

    async fn unpark(&self, person: &PersonKey, ids: &[String]) -> Result<(), StoreError>;

    /// An erasure request: deletes all of the person's parked work, expired or not.
    /// Returns how many items went.
    async fn erase(&self, person: &PersonKey) -> Result<usize, StoreError>;
}

/// An active connection as the daily job needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryEntry {
    pub provider: ProviderKind,
    pub user_id: ProviderUserId,
    pub timezone: Option<String>,
    pub scopes: crate::domain::Scopes,
}

/// One page of a parallel scan; `next` continues it.
#[derive(Debug, Default)]
pub struct DirectoryPage {
    pub entries: Vec<DirectoryEntry>,
    pub next: Option<std::collections::HashMap<String, String>>,
}

/// A connection as an operator lists it: who, in which state, feeding which contact.
/// No tokens: the adapters do not even read them for this.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionSummary {
    pub provider: ProviderKind,
    pub user_id: ProviderUserId,
    pub status: ConnectionStatus,
    pub contact: ContactKey,
    /// The company's own customer id, when the person came through a signed connect link.
    pub customer_ref: Option<String>,
    /// When the connection last changed (connected, tokens replaced, status set); `None`
    /// for an item written before the time was recorded.
    pub updated_at: Option<OffsetDateTime>,
    /// When the person first connected (a reconnect keeps it); `None` for an item written
    /// before the time was recorded.
    pub connected_at: Option<OffsetDateTime>,
    /// When the person last consented (each connect sets it).
    pub consented_at: Option<OffsetDateTime>,
}

/// Port: pages through active connections, in parallel segments; lists a provider's
/// connections.
#[async_trait]
pub trait ConnectionDirectory: Send + Sync {
    async fn scan_active(
        &self,
        segment: u32,
        total_segments: u32,
        start: Option<std::collections::HashMap<String, String>>,
    ) -> Result<DirectoryPage, StoreError>;

    /// Every connection of `provider`, whatever its status, in no particular order. It
    /// reads the whole table (every page), so it is for operators' occasional listings,
    /// such as the people still to migrate off a provider, not for per-request work.
    async fn connections_of(
        &self,
        provider: ProviderKind,
    ) -> Result<Vec<ConnectionSummary>, StoreError>;
}

/// What the fetch log says about fetching one (person, collection, day) for a notification
/// sent at some time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchClaim {
    /// Go ahead; abandon with this token if the day does not get imported.
    Proceed(String),
    /// A fetch that started after the notification was sent answers it: it sees everything
    /// the notification announced, and its own work item is delivered again until the day
    /// is imported (a fetch that fails is abandoned, a worker that dies leaves its
    /// messages to come back).
    AlreadyFetched,
    /// A fetch began less than the coalescing window ago: this one waits this long
    /// (not a failure), and when it comes back the fetch begun by then answers it, or it
    /// fetches itself.
    Wait(std::time::Duration),
}

/// However often a day is announced — the provider's own duplicates, a burst of changes,
/// a replayed delivery — it is fetched at most once in this window (unless configured
/// otherwise); what is announced within it waits for the window's end, and is never
/// dropped.
pub const FETCH_COALESCE_WINDOW: time::Duration = time::Duration::seconds(60);

/// How long a fetch begun at `started` (unix ms) still answers for at `now` (unix ms):
/// `None` once `window` is over. Both fetch logs decide by it.
pub fn coalescing_wait(
    started: i64,
    now: i64,
    window: time::Duration,
) -> Option<std::time::Duration> {
    let end = started.saturating_add(window.whole_milliseconds() as i64);
    (end > now).then(|| std::time::Duration::from_millis(end.abs_diff(now)))
}

/// Port: collapses duplicate notifications across messages, so each change costs one
/// provider call however often it is announced, and one write in the log; and at most
/// one fetch of a day per coalescing window ([`FETCH_COALESCE_WINDOW`] by default), so a
/// replayed delivery, however often it is sent, costs the providers no more than that.
///
/// A fetch is recorded when it starts, with the send time of the newest notification it
/// answers; nothing is written when it succeeds. That rests on one rule of the worker:
/// a work item is done only once its days are imported, so the message that started a
/// fetch comes back until its fetch is imported — and when it does, [`FetchLog::begin`]
/// recognises it by its send time and lets it fetch again.
#[async_trait]
pub trait FetchLog: Send + Sync {
    /// Records a fetch starting at `now` for notifications sent up to `sent_at`, unless
    /// another one that started after `sent_at` answers them, or one started within
    /// `window` before `now` (then: wait). The message that began the last fetch, come
    /// back, always proceeds.
    async fn begin(
        &self,
        key: &FetchKey,
        sent_at: OffsetDateTime,
        now: OffsetDateTime,
        window: time::Duration,
    ) -> Result<FetchClaim, StoreError>;

    /// The fetch begun with `token` did not end in an import: forget it, so a duplicate
    /// notification fetches by itself (unless a later fetch replaced it meanwhile).
    async fn abandon(&self, key: &FetchKey, token: &str) -> Result<(), StoreError>;

    /// An erasure request: deletes every entry of the person (all collections and days).
    /// Returns how many went.
    async fn erase(&self, person: &PersonKey) -> Result<usize, StoreError>;
}

/// One (person, collection, local day).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FetchKey {
    pub provider: ProviderKind,
    pub user_id: ProviderUserId,
    pub collection: Collection,
    pub date: time::Date,
}

impl FetchKey {
    /// Whose day this is.
    pub fn person(&self) -> PersonKey {
        PersonKey {
            provider: self.provider,
            user_id: self.user_id.clone(),
        }
    }
}
