//! In-memory adapter of the marketing ports, for use-case tests: contacts by key,
//! interactions by id with their source object, and failures on demand (the tenant down,
//! a record rejected).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::signals::{AttributeChange, SignalInteraction};
use crate::domain::{ContactKey, ContactRecord, DailyInteraction, ProviderKind};
use crate::ports::marketing::{
    InteractionSink, InteractionWrite, MarketingError, MarketingSink, SignalSink,
};

/// An interaction as the memory tenant holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredInteraction {
    pub id: String,
    pub contact: ContactKey,
    pub provider: ProviderKind,
    /// `<contact>-<date>-<metric>`, or `<user>-disconnected-<time>` for a disconnect.
    pub source_object: String,
    /// `None` for a disconnect or a signal.
    pub value: Option<f64>,
    /// A signal's interaction type and content.
    pub signal: Option<(String, String)>,
    /// How often it was written (created or updated).
    pub writes: u32,
}

/// Makes the error an injected failure returns.
type FailureKind = fn(String) -> MarketingError;

#[derive(Default)]
struct Tenant {
    contacts: BTreeMap<(String, String), ContactRecord>,
    interactions: Vec<StoredInteraction>,
    /// Position in `interactions` by source object, so a tenant of a million people
    /// answers as fast as one of ten (the scale simulation's).
    by_source: HashMap<String, usize>,
    /// Marketing attributes by contact: category → values.
    attributes: BTreeMap<(String, String), BTreeMap<String, Vec<String>>>,
    /// The next `n` writes fail with this error.
    failing: Option<(u32, FailureKind)>,
    /// Signal writes are refused (a tenant without the signal's type or category).
    refusing_signals: bool,
}

impl Tenant {
    /// Creates the interaction unless one with its source object exists: how flags and
    /// signals stay single whatever the retries.
    fn create_once(
        &mut self,
        contact: &ContactKey,
        provider: ProviderKind,
        source_object: String,
        signal: Option<(String, String)>,
    ) {
        if self.by_source.contains_key(&source_object) {
            return;
        }
        self.push(StoredInteraction {
            id: String::new(),
            contact: contact.clone(),
            provider,
            source_object,
            value: None,
            signal,
            writes: 1,
        });
    }

    /// Stores a new interaction under the next id, and returns the id.
    fn push(&mut self, mut interaction: StoredInteraction) -> String {
        let n = self.interactions.len();
        interaction.id = format!("00000000-0000-0000-0000-{:012x}", n + 1);
        self.by_source
            .entry(interaction.source_object.clone())
            .or_insert(n);
        let id = interaction.id.clone();
        self.interactions.push(interaction);
        id
    }

    /// The interaction with this id (ids are positions, as `push` gives them).
    fn by_id(&mut self, id: &str) -> Option<&mut StoredInteraction> {
        let n = usize::from_str_radix(id.rsplit('-').next()?, 16).ok()?;
        self.interactions
            .get_mut(n.checked_sub(1)?)
            .filter(|s| s.id == id)
    }
}

#[derive(Default)]
pub struct MemoryMarketing {
    tenant: Mutex<Tenant>,
}

impl MemoryMarketing {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn contact(&self, key: &ContactKey) -> Option<ContactRecord> {
        self.tenant
            .lock()
            .unwrap()
            .contacts
            .get(&(key.origin.clone(), key.id.clone()))
            .cloned()
    }

    pub fn contacts(&self) -> Vec<ContactRecord> {
        self.tenant
            .lock()
            .unwrap()
            .contacts
            .values()
            .cloned()
            .collect()
    }

    pub fn interactions(&self) -> Vec<StoredInteraction> {
        self.tenant.lock().unwrap().interactions.clone()
    }

    /// The contact's marketing attributes: category → values.
    pub fn attributes(&self, key: &ContactKey) -> BTreeMap<String, Vec<String>> {
        self.tenant
            .lock()
            .unwrap()
            .attributes
            .get(&(key.origin.clone(), key.id.clone()))
            .cloned()
            .unwrap_or_default()
    }

    /// The signal interactions: (source object, content).
    pub fn signals(&self) -> Vec<(String, String)> {
        self.interactions()
            .into_iter()
            .filter_map(|i| i.signal.map(|(_, content)| (i.source_object, content)))
            .collect()
    }

    /// The next `n` writes fail as the tenant being down.
    pub fn fail_next(&self, n: u32) {
        self.tenant.lock().unwrap().failing = Some((n, MarketingError::Unavailable));
    }

    /// Refuses every signal write (interaction or attribute) until called with `false`.
    pub fn refuse_signals(&self, refuse: bool) {
        self.tenant.lock().unwrap().refusing_signals = refuse;
    }

    /// The next `n` writes are rejected as invalid.
    pub fn reject_next(&self, n: u32) {
        self.tenant.lock().unwrap().failing = Some((n, MarketingError::Rejected));
    }

    fn take_failure(tenant: &mut Tenant) -> Option<MarketingError> {
        let (n, make) = tenant.failing.as_mut()?;
        let err = make("injected failure".into());
        *n -= 1;
        if *n == 0 {
            tenant.failing = None;
        }
        Some(err)
    }
}

#[async_trait]
impl MarketingSink for MemoryMarketing {
    async fn upsert_contact(&self, contact: &ContactRecord) -> Result<(), MarketingError> {
        let mut t = self.tenant.lock().unwrap();
        if let Some(e) = Self::take_failure(&mut t) {
            return Err(e);
        }
        t.contacts.insert(
            (contact.key.origin.clone(), contact.key.id.clone()),
            contact.clone(),
        );
        Ok(())
    }
}

#[async_trait]
impl InteractionSink for MemoryMarketing {
    fn content_hash(&self, i: &DailyInteraction) -> String {
        format!("{}={}", i.metric.as_str(), i.value)
    }

    async fn write(
        &self,
        writes: &[InteractionWrite],
    ) -> Result<Vec<Result<String, MarketingError>>, MarketingError> {
        let mut t = self.tenant.lock().unwrap();
        let mut results = Vec::with_capacity(writes.len());
        for w in writes {
            if let Some(e) = Self::take_failure(&mut t) {
                results.push(Err(e));
                continue;
            }
            results.push(match w {
                InteractionWrite::Create(i) => Ok(t.push(StoredInteraction {
                    id: String::new(),
                    contact: i.contact.clone(),
                    provider: i.provider,
                    source_object: i.source_object(),
                    value: Some(i.value),
                    signal: None,
                    writes: 1,
                })),
                InteractionWrite::Update { id, interaction } => match t.by_id(id) {
                    Some(s) => {
                        s.value = Some(interaction.value);
                        s.writes += 1;
                        Ok(id.clone())
                    }
                    None => Err(MarketingError::Rejected("no such interaction".into())),
                },
            });
        }
        Ok(results)
    }

    async fn record_disconnect(
        &self,
        contact: &ContactKey,
        provider: ProviderKind,
        at: OffsetDateTime,
    ) -> Result<(), MarketingError> {
        let mut t = self.tenant.lock().unwrap();
        if let Some(e) = Self::take_failure(&mut t) {
            return Err(e);
        }
        let source_object = format!(
            "{}-disconnected-{}",
            contact.source_id(),
            at.unix_timestamp()
        );
        t.create_once(contact, provider, source_object, None);
        Ok(())
    }

    async fn find(&self, i: &DailyInteraction) -> Result<Option<String>, MarketingError> {
        let source = i.source_object();
        let t = self.tenant.lock().unwrap();
        Ok(t.by_source
            .get(&source)
            .map(|n| &t.interactions[*n])
            .filter(|s| s.contact == i.contact)
            .map(|s| s.id.clone()))
    }
}

#[async_trait]
impl SignalSink for MemoryMarketing {
    async fn record_signal(&self, signal: &SignalInteraction) -> Result<(), MarketingError> {
        let mut t = self.tenant.lock().unwrap();
        if t.refusing_signals {
            return Err(MarketingError::Rejected("no such interaction type".into()));
        }
        if let Some(e) = Self::take_failure(&mut t) {
            return Err(e);
        }
        t.create_once(
            &signal.contact,
            signal.provider,
            signal.source_object(),
            Some((
                signal.interaction_type.clone().unwrap_or_default(),
                signal.content.clone(),
            )),
        );
        Ok(())
    }

    async fn set_attributes(
        &self,
        contact: &ContactKey,
        changes: &[AttributeChange],
    ) -> Result<(), MarketingError> {
        let mut t = self.tenant.lock().unwrap();
        if t.refusing_signals {
            return Err(MarketingError::Rejected(
                "no such attribute category".into(),
            ));
        }
        if let Some(e) = Self::take_failure(&mut t) {
            return Err(e);
        }
        let held = t
            .attributes
            .entry((contact.origin.clone(), contact.id.clone()))
            .or_default();
        for c in changes {
            let values = held.entry(c.category.clone()).or_default();
            values.retain(|v| Some(v) != c.replaces.as_ref());
            if !values.contains(&c.value) {
                values.push(c.value.clone());
            }
        }
        Ok(())
    }
}
