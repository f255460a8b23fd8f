//! The admin CLI's surroundings in memory: the functions' in-memory ports and dead-letter
//! queues, counting how often a command reached for the table, a queue or a secret (a
//! usage error must reach none), and a context to run the CLI in.

#![allow(dead_code)] // Each test binary uses its own part.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use fitbridge::clock::SetClock;
use fitbridge::domain::Secret;
use fitbridge::ports::clock::SharedClock;
use fitbridge::ports::secrets::{SecretError, SecretSource};
use fitbridge::ports::signals::SignalEvents;
use fitbridge::queue::memory::MemoryQueue;
use fitbridge::secret_store::{MemorySecrets, SecretCache};
use fitbridge::store::memory::MemoryStore;
use fitbridge::wiring::{MemoryPorts, Ports, Queue, Table};
use fitbridge_admin::dlq::queues::{MemoryMessageQueue, MemoryQueues, MessageQueue, MessageQueues};
use fitbridge_admin::Context;

/// A secret source that counts its reads.
pub struct CountingSecrets {
    inner: MemorySecrets,
    pub reads: Arc<AtomicUsize>,
}

#[async_trait]
impl SecretSource for CountingSecrets {
    async fn secret_string(&self, id: &str) -> Result<Secret, SecretError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.secret_string(id).await
    }
}

/// The in-memory ports and dead-letter queues, counting what the commands reached for.
pub struct Surroundings {
    pub ports: MemoryPorts,
    pub dead_letters: MemoryQueues,
    /// Tables and queues handed out.
    pub reached: AtomicUsize,
    pub secret_reads: Arc<AtomicUsize>,
}

impl Surroundings {
    pub fn new(secrets: MemorySecrets, clock: Arc<SetClock>) -> Arc<Surroundings> {
        let reads = Arc::new(AtomicUsize::new(0));
        Arc::new(Surroundings {
            ports: MemoryPorts::new(
                Arc::new(CountingSecrets {
                    inner: secrets,
                    reads: reads.clone(),
                }),
                clock,
            ),
            dead_letters: MemoryQueues::default(),
            reached: AtomicUsize::new(0),
            secret_reads: reads,
        })
    }

    pub fn store(&self) -> &Arc<MemoryStore> {
        &self.ports.store
    }

    /// The work queue at `url`, as the worker sees it.
    pub fn queue(&self, url: &str) -> Arc<MemoryQueue> {
        self.ports.memory_queue(url)
    }

    /// The raw queue at `url`, as `dlq redrive` sees it.
    pub fn messages(&self, url: &str) -> MemoryMessageQueue {
        self.dead_letters.queue(url)
    }

    /// Everything the commands reached for: tables, queues and secrets.
    pub fn reached(&self) -> usize {
        self.reached.load(Ordering::SeqCst) + self.secret_reads.load(Ordering::SeqCst)
    }

    /// A context that runs the CLI on these surroundings, on `clock`.
    pub fn context(self: &Arc<Self>, clock: SharedClock) -> Context {
        // No environment: nothing may come from the machine the test runs on.
        let mut context = Context::new(Box::new(|_| None));
        context.clock = clock;
        context.ports = Some(self.clone());
        context.message_queues = Some(self.clone());
        context
    }
}

impl Ports for Surroundings {
    fn secrets(&self) -> Arc<SecretCache> {
        self.ports.secrets()
    }

    fn table(&self, name: &str) -> Arc<dyn Table> {
        self.reached.fetch_add(1, Ordering::SeqCst);
        self.ports.table(name)
    }

    fn queue(&self, url: &str) -> Arc<dyn Queue> {
        self.reached.fetch_add(1, Ordering::SeqCst);
        self.ports.queue(url)
    }

    fn events(&self, bus: Option<&str>) -> Arc<dyn SignalEvents> {
        self.ports.events(bus)
    }

    fn clock(&self) -> SharedClock {
        self.ports.clock()
    }

    fn budget(
        &self,
        table: &str,
        settings: &fitbridge::config::BudgetSettings,
    ) -> Arc<dyn fitbridge::ports::budget::RequestBudget> {
        self.ports.budget(table, settings)
    }
}

impl MessageQueues for Surroundings {
    fn message_queue(&self, url: &str) -> Arc<dyn MessageQueue> {
        self.reached.fetch_add(1, Ordering::SeqCst);
        self.dead_letters.message_queue(url)
    }
}
