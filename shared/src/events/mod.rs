//! The event adapters: where signal events go ([`crate::ports::signals::SignalEvents`]) —
//! an EventBridge bus, nowhere, or memory (tests).

use async_trait::async_trait;

use crate::domain::signals::SignalEvent;
use crate::ports::signals::{EventsError, SignalEvents};

#[cfg(feature = "aws")]
pub mod eventbridge;

/// No bus configured: events go nowhere.
pub struct NoEvents;

#[async_trait]
impl SignalEvents for NoEvents {
    async fn publish(&self, _events: &[SignalEvent]) -> Result<(), EventsError> {
        Ok(())
    }
}

/// Events kept in memory, for tests.
#[derive(Default)]
pub struct MemoryEvents(std::sync::Mutex<Vec<SignalEvent>>);

impl MemoryEvents {
    pub fn published(&self) -> Vec<SignalEvent> {
        self.0.lock().unwrap().clone()
    }
}

#[async_trait]
impl SignalEvents for MemoryEvents {
    async fn publish(&self, events: &[SignalEvent]) -> Result<(), EventsError> {
        self.0.lock().unwrap().extend_from_slice(events);
        Ok(())
    }
}
