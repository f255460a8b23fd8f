//! A person's history and signal state, each written only at the version it was read at,
//! and each item set to expire counting as absent once its time has come (by the store's
//! clock), as the table's reads judge `ttl`.

use async_trait::async_trait;

use super::*;
use crate::domain::signals::history::{MonthHistory, MonthKey};
use crate::ports::signals::SignalStore;

type ContactId = (String, String);

fn id(contact: &ContactKey) -> ContactId {
    (contact.origin.clone(), contact.id.clone())
}

impl Tables {
    /// Whether the contact's item (a month, or the state for `None`) has expired at `now`.
    fn signal_expired(
        &self,
        contact: &ContactId,
        item: Option<MonthKey>,
        now: OffsetDateTime,
    ) -> bool {
        self.signal_expiry
            .get(&(contact.0.clone(), contact.1.clone(), item))
            .is_some_and(|at| *at <= now)
    }
}

#[async_trait]
impl SignalStore for MemoryStore {
    async fn load(&self, contact: &ContactKey) -> Result<(History, SignalState), StoreError> {
        let now = self.clock.now();
        let t = self.lock();
        let key = id(contact);
        let Some((history, state)) = t.signals.get(&key) else {
            return Ok(Default::default());
        };
        let mut history = history.clone();
        history
            .months
            .retain(|month, _| !t.signal_expired(&key, Some(*month), now));
        let state = if t.signal_expired(&key, None, now) {
            SignalState::default()
        } else {
            state.clone()
        };
        Ok((history, state))
    }

    async fn save_month(
        &self,
        contact: &ContactKey,
        key: MonthKey,
        month: &MonthHistory,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let mut t = self.lock();
        let contact = id(contact);
        // An expired month counts as absent: it is written anew.
        let expired = t.signal_expired(&contact, Some(key), now);
        let (history, _) = t.signals.entry(contact.clone()).or_default();
        let stored = match history.months.get(&key) {
            Some(m) if !expired => m.version,
            _ => 0,
        };
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
        t.signal_expiry.remove(&(contact.0, contact.1, Some(key)));
        Ok(true)
    }

    async fn save_state(
        &self,
        contact: &ContactKey,
        state: &SignalState,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let mut t = self.lock();
        let contact = id(contact);
        let expired = t.signal_expired(&contact, None, now);
        let (_, stored) = t.signals.entry(contact.clone()).or_default();
        let version = if expired { 0 } else { stored.version };
        if version != state.version {
            return Ok(false);
        }
        *stored = SignalState {
            version: state.version + 1,
            ..state.clone()
        };
        t.signal_expiry.remove(&(contact.0, contact.1, None));
        Ok(true)
    }

    async fn expire(&self, contact: &ContactKey, at: OffsetDateTime) -> Result<usize, StoreError> {
        let mut t = self.lock();
        let key = id(contact);
        let Some((history, state)) = t.signals.get(&key) else {
            return Ok(0);
        };
        // The state is stored once written (version 1 on).
        let items: Vec<Option<MonthKey>> = history
            .months
            .keys()
            .map(|m| Some(*m))
            .chain((state.version > 0).then_some(None))
            .collect();
        let mut newly = 0;
        for item in items {
            let item = (key.0.clone(), key.1.clone(), item);
            // An item already set to expire by `at` keeps its time.
            if t.signal_expiry.get(&item).is_none_or(|set| *set > at) {
                t.signal_expiry.insert(item, at);
                newly += 1;
            }
        }
        Ok(newly)
    }

    async fn forget(&self, contact: &ContactKey) -> Result<usize, StoreError> {
        let mut t = self.lock();
        let key = id(contact);
        t.signal_expiry
            .retain(|(origin, id, _), _| (origin, id) != (&key.0, &key.1));
        Ok(t.signals
            .remove(&key)
            .map_or(0, |(h, s)| h.months.len() + usize::from(s.version > 0)))
    }
}
