//! In-memory ports: the same graph as production on the in-memory adapters of every port,
//! for tests, benchmarks and simulations that run without AWS.
//! (Secrets come from a [`crate::secret_store::MemorySecrets`] or any other source.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{Ports, Queue, Table};
use crate::budget::MemoryBudget;
use crate::clock::SetClock;
use crate::config::BudgetSettings;
use crate::events::{MemoryEvents, NoEvents};
use crate::ports::budget::RequestBudget;
use crate::ports::clock::SharedClock;
use crate::ports::secrets::SecretSource;
use crate::ports::signals::SignalEvents;
use crate::queue::memory::MemoryQueue;
use crate::secret_store::SecretCache;
use crate::store::memory::MemoryStore;

/// In-memory ports: one table, queues by URL, secrets from a map, a clock set by the test.
pub struct MemoryPorts {
    pub secrets: Arc<SecretCache>,
    pub store: Arc<MemoryStore>,
    queues: Mutex<HashMap<String, Arc<MemoryQueue>>>,
    /// What the worker published to its event bus.
    pub events: Arc<MemoryEvents>,
    pub clock: Arc<SetClock>,
}

impl MemoryPorts {
    /// Empty ports whose secrets come from `secrets`.
    pub fn new(secrets: Arc<dyn SecretSource>, clock: Arc<SetClock>) -> MemoryPorts {
        MemoryPorts {
            secrets: Arc::new(SecretCache::new(secrets)),
            store: Arc::new(MemoryStore::new(clock.clone())),
            queues: Mutex::default(),
            events: Arc::default(),
            clock,
        }
    }

    /// The queue at `url` (created on first use).
    pub fn memory_queue(&self, url: &str) -> Arc<MemoryQueue> {
        self.queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(url.to_owned())
            .or_default()
            .clone()
    }
}

impl Ports for MemoryPorts {
    fn secrets(&self) -> Arc<SecretCache> {
        self.secrets.clone()
    }

    fn table(&self, _name: &str) -> Arc<dyn Table> {
        self.store.clone()
    }

    fn queue(&self, url: &str) -> Arc<dyn Queue> {
        self.memory_queue(url)
    }

    fn events(&self, bus: Option<&str>) -> Arc<dyn SignalEvents> {
        match bus {
            Some(_) => self.events.clone(),
            None => Arc::new(NoEvents),
        }
    }

    fn clock(&self) -> SharedClock {
        self.clock.clone()
    }

    /// One budget per call, counted in memory: a single process's containers.
    fn budget(&self, _table: &str, settings: &BudgetSettings) -> Arc<dyn RequestBudget> {
        Arc::new(MemoryBudget::new(settings.limits.clone(), self.clock()))
    }
}
