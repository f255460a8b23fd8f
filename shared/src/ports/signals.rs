//! Ports of the campaign signals: where a person's history and signal state are kept,
//! where signal events go, and the signals use case as other use cases reach it.

use async_trait::async_trait;
use time::Date;

use crate::domain::signals::history::{History, MonthHistory, MonthKey};
use crate::domain::signals::{AttributeChange, SignalEvent, SignalState};
use crate::domain::{Collection, ContactKey, DaySummary, ProviderKind, ProviderUserId};
use crate::ports::marketing::MarketingError;
use crate::ports::store::StoreError;

/// Port: a person's history and signal state, stored by contact (so a person who migrates
/// between providers keeps both).
///
/// A month or the state set to expire ([`Self::expire`]) counts as absent once its time has
/// come, and is permanent again once written: the person connected again and data flows.
#[async_trait]
pub trait SignalStore: Send + Sync {
    /// Every month of the contact's history and their state, in one read (what has
    /// expired left out).
    async fn load(&self, contact: &ContactKey) -> Result<(History, SignalState), StoreError>;

    /// Writes one month if it is still at `month.version`; `false` when it is not. The
    /// month is kept from then on, whether or not it was set to expire.
    async fn save_month(
        &self,
        contact: &ContactKey,
        key: MonthKey,
        month: &MonthHistory,
    ) -> Result<bool, StoreError>;

    /// Writes the state if it is still at `state.version`; `false` when it is not. The
    /// state is kept from then on, whether or not it was set to expire.
    async fn save_state(
        &self,
        contact: &ContactKey,
        state: &SignalState,
    ) -> Result<bool, StoreError>;

    /// The contact's history and state expire at `at` (an item already set to expire
    /// earlier keeps its time): no connection feeds them any more. Returns how many
    /// items were newly set to expire (a repeat with the same `at` sets none).
    async fn expire(
        &self,
        contact: &ContactKey,
        at: time::OffsetDateTime,
    ) -> Result<usize, StoreError>;

    /// Deletes the contact's history and state now (the account was deleted, or an
    /// erasure request). Returns how many items went.
    async fn forget(&self, contact: &ContactKey) -> Result<usize, StoreError>;
}

/// Why events were not published.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// May pass (throttling, timeouts, the service's own faults): try again.
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
    /// Will not pass as the deployment stands (no permission, no such bus, invalid).
    #[error("event bus refused the events: {0}")]
    Refused(String),
}

/// Port: where signal events go (an EventBridge bus, or nowhere).
#[async_trait]
pub trait SignalEvents: Send + Sync {
    async fn publish(&self, events: &[SignalEvent]) -> Result<(), EventsError>;
}

/// One person's fetched days: (day, collection, what the fetch said).
#[derive(Clone, Debug)]
pub struct Observed {
    pub provider: ProviderKind,
    pub user_id: ProviderUserId,
    pub contact: ContactKey,
    /// The person's IANA time zone (their today); `None`: UTC.
    pub timezone: Option<String>,
    pub days: Vec<(Date, Collection, DaySummary)>,
}

#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("signal store: {0}")]
    Store(#[from] StoreError),
    #[error("marketing system: {0}")]
    Marketing(#[from] MarketingError),
    #[error("event bus: {0}")]
    Events(String),
    #[error("the person's signals kept changing under us")]
    Contended,
}

/// What one observation did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SignalReport {
    pub days_changed: usize,
    pub fired: Vec<String>,
    pub attributes_changed: Vec<AttributeChange>,
}

/// Port: the signals use case, as the worker's import hands it each person's fetched days.
#[async_trait]
pub trait Signals: Send + Sync {
    /// Records a person's fetched days in their history, then fires what their history now
    /// says. Safe to repeat: a repeat changes and fires nothing.
    async fn observe(&self, observed: &Observed) -> Result<SignalReport, SignalError>;

    /// What is kept about the contact's signals expires at `at` (the person disconnected):
    /// [`SignalStore::expire`]. Returns how many items were newly set to expire.
    async fn expire(
        &self,
        contact: &ContactKey,
        at: time::OffsetDateTime,
    ) -> Result<usize, StoreError>;

    /// Deletes what is kept about the contact's signals (the account was deleted). Returns
    /// how many items went.
    async fn forget(&self, contact: &ContactKey) -> Result<usize, StoreError>;
}
