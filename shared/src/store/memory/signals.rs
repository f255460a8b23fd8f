//! A person's history and signal state, each written only at the version it was read at.

use async_trait::async_trait;

use super::*;
use crate::domain::signals::history::{MonthHistory, MonthKey};
use crate::ports::signals::SignalStore;

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
