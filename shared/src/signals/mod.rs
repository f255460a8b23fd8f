//! Campaign signals: what people do, turned into things a campaign can trigger on —
//! configured rules firing SAP interactions, an activity score and the best send time as
//! marketing attributes, and the same news as events for other systems.
//!
//! Invariants:
//! - A rule fires at most once per person and period ([`rules::Period`]; once ever for a
//!   milestone), whatever the redeliveries, re-fetches, backfill overlaps and concurrent
//!   workers: the fired (rule, period) pairs are kept with the person's state, the state is
//!   written only at the version it was read at, and the SAP interaction's source object
//!   names the (person, rule, period), so a write repeated after a lost state update finds
//!   the first one.
//! - A day that stops qualifying never un-fires a rule, and a rule fired for a period is
//!   never fired again in it.
//! - Attributes are written only when their value changes, and the value they replace is
//!   removed in the same changeset. The score is of the days before the person's today,
//!   so it changes at most once a day with new data (and when a past day is corrected).
//! - A rule fires only for the period current on the person's today (their time zone, the
//!   service's [`Clock`](crate::clock::Clock)): a period that has ended never fires, so a
//!   late or backfilled day completes no past period, and one evaluation fires each rule
//!   at most once. It is evaluated as of each recorded day of that period within
//!   [`RECENT_DAYS`] of today, whichever days changed, and fires for the first day it is
//!   met on: a backfill of old days builds history and lifetime totals, and fires what
//!   they mean for the windows ending now, in whatever order its days arrive. A milestone's
//!   period is `ever`, so it fires once, whenever it is first seen met.
//! - Nothing here calls a provider: the history holds what evaluation needs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use time::Date;

use crate::clock::SharedClock;
use crate::domain::{Collection, ContactKey, DaySummary, ProviderKind, ProviderUserId};
use crate::marketing::{AttributeChange, MarketingError, SignalInteraction, SignalSink};
use crate::store::StoreError;
use crate::telemetry::metric;

pub mod eventbridge;
pub mod history;
pub mod rules;
pub mod score;
pub mod send_time;

use history::{History, MonthHistory, MonthKey};
use rules::{Figures, Rules};

/// How far back from the person's today a day may lie and still fire a rule (for the
/// period that is current today).
pub const RECENT_DAYS: i64 = 7;

/// Version conflicts tolerated before the work is handed back for a retry.
const ATTEMPTS: usize = 4;
/// How long one observer may write a person's signals: longer than its SAP and
/// EventBridge calls can take (each has a deadline well under it), shorter than the
/// worker's timeout, so a writer that died is replaced by the day's retry.
const WRITING_LEASE_SECS: i64 = 45;

/// What is remembered about a person's signals besides their history.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SignalState {
    /// `<rule id>#<period>` → the day it fired for.
    pub fired: BTreeMap<String, String>,
    /// Marketing attribute category → the value SAP holds.
    pub attributes: BTreeMap<String, String>,
    /// Until when (unix seconds) one observer holds the right to write the person's
    /// signals to the marketing system: two observers of one person (different days, in
    /// different workers) must never create the same signal at once — a search before
    /// each create only keeps apart writes that come one after the other.
    pub writing_until: Option<i64>,
    /// The stored version; 0 when never written.
    pub version: u64,
}

/// Port: a person's history and signal state, stored by contact (so a person who migrates
/// between providers keeps both).
#[async_trait]
pub trait SignalStore: Send + Sync {
    /// Every month of the contact's history and their state, in one read.
    async fn load(&self, contact: &ContactKey) -> Result<(History, SignalState), StoreError>;

    /// Writes one month if it is still at `month.version`; `false` when it is not.
    async fn save_month(
        &self,
        contact: &ContactKey,
        key: MonthKey,
        month: &MonthHistory,
    ) -> Result<bool, StoreError>;

    /// Writes the state if it is still at `state.version`; `false` when it is not.
    async fn save_state(
        &self,
        contact: &ContactKey,
        state: &SignalState,
    ) -> Result<bool, StoreError>;

    /// Deletes the contact's history and state (the account was deleted). Returns how
    /// many items went.
    async fn forget(&self, contact: &ContactKey) -> Result<usize, StoreError>;
}

/// A signal as other systems receive it (EventBridge `detail`), version 1. Its JSON
/// schema is `shared/schemas/signal-event.v1.json`; consumers deduplicate by `id`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SignalEvent {
    /// `fitbridge.rule_fired`, `fitbridge.score_changed` or `fitbridge.send_time_changed`:
    /// also the EventBridge detail type, so rules can match on either.
    #[serde(rename = "type")]
    pub detail_type: &'static str,
    pub version: u32,
    /// Deterministic: the same news always has the same id.
    pub id: String,
    pub contact_origin: String,
    pub contact_id: String,
    pub provider: String,
    /// The person's local day the news is about.
    pub day: String,
    #[serde(flatten)]
    pub body: EventBody,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EventBody {
    Rule {
        rule_id: String,
        period: String,
        figures: Figures,
    },
    Score {
        score: u8,
        band: &'static str,
        previous_score: Option<u8>,
    },
    SendTime {
        hour: u8,
        previous_hour: Option<u8>,
    },
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

/// What the signals are configured with.
#[derive(Clone, Debug, PartialEq)]
pub struct SignalSettings {
    pub rules: Rules,
    /// Marketing attribute categories (SAP `MarketingAttributeCategory`, ≤ 75 characters).
    pub score_category: String,
    pub band_category: String,
    pub send_hour_category: String,
}

impl Default for SignalSettings {
    fn default() -> Self {
        SignalSettings {
            rules: Rules::defaults(),
            score_category: "FITBRIDGE_ACTIVITY_SCORE".into(),
            band_category: "FITBRIDGE_ACTIVITY_BAND".into(),
            send_hour_category: "FITBRIDGE_SEND_HOUR".into(),
        }
    }
}

impl SignalSettings {
    /// `SIGNAL_RULES` (JSON; unset or empty: the defaults, `[]`: no rules) and
    /// `SIGNAL_{SCORE,BAND,SEND_HOUR}_CATEGORY`.
    pub fn from_env() -> Result<Self, crate::config::ConfigError> {
        let defaults = SignalSettings::default();
        let rules = match crate::config::optional_var("SIGNAL_RULES") {
            Some(json) => Rules::parse(&json).map_err(|e| crate::config::ConfigError::Invalid {
                name: "SIGNAL_RULES",
                reason: e.to_string(),
            })?,
            None => defaults.rules,
        };
        let category = |name: &'static str, default: String| {
            let value = crate::config::optional_var(name).unwrap_or(default);
            if value.is_empty() || value.chars().count() > 75 {
                return Err(crate::config::ConfigError::Invalid {
                    name,
                    reason: "a marketing attribute category has 1-75 characters".into(),
                });
            }
            Ok(value)
        };
        Ok(SignalSettings {
            rules,
            score_category: category("SIGNAL_SCORE_CATEGORY", defaults.score_category)?,
            band_category: category("SIGNAL_BAND_CATEGORY", defaults.band_category)?,
            send_hour_category: category("SIGNAL_SEND_HOUR_CATEGORY", defaults.send_hour_category)?,
        })
    }
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

pub struct SignalService {
    pub store: Arc<dyn SignalStore>,
    pub sink: Arc<dyn SignalSink>,
    pub events: Arc<dyn SignalEvents>,
    pub settings: SignalSettings,
    pub clock: SharedClock,
}

/// A rule met for a period it has not fired in.
struct Firing {
    interaction: SignalInteraction,
    event: SignalEvent,
}

/// What evaluation decided for a person, before anything is written.
struct Decision {
    fired: Vec<Firing>,
    changes: Vec<AttributeChange>,
    /// The score and send-time events, published when the attributes are written.
    change_events: Vec<SignalEvent>,
}

/// A signal write the marketing system refused for good: logged and counted.
fn refused(kind: &'static str, user_id: &ProviderUserId, error: &str) {
    metrics::counter!(metric::SIGNALS_REFUSED, "Kind" => kind).increment(1);
    tracing::error!(user_id = %user_id, kind, error,
        "the marketing system refused a signal; tried again with the person's next day");
}

impl SignalService {
    /// Records a person's fetched days in their history, then fires what their history now
    /// says. Safe to repeat: a repeat changes and fires nothing.
    pub async fn observe(&self, observed: &Observed) -> Result<SignalReport, SignalError> {
        for _ in 0..ATTEMPTS {
            let (mut history, state) = self.store.load(&observed.contact).await?;
            let mut changed: BTreeSet<MonthKey> = BTreeSet::new();
            for (day, collection, summary) in &observed.days {
                let record = history
                    .day(*day)
                    .cloned()
                    .unwrap_or_default()
                    .apply(*collection, summary);
                if history.set(*day, record) {
                    changed.insert(MonthKey::of(*day));
                }
            }
            let mut conflict = false;
            for key in &changed {
                if !self
                    .store
                    .save_month(&observed.contact, *key, &history.months[key])
                    .await?
                {
                    conflict = true;
                    break;
                }
            }
            if conflict {
                continue;
            }
            let decision = self.decide(observed, &history, &state);
            if decision.fired.is_empty() && decision.changes.is_empty() {
                return Ok(SignalReport {
                    days_changed: changed.len(),
                    ..Default::default()
                });
            }
            // The right to write: taken with a versioned save of the state, so of two
            // observers only one writes, and the other sees what it wrote.
            let now = self.clock.now().unix_timestamp();
            if state.writing_until.is_some_and(|until| until >= now) {
                return Err(SignalError::Contended);
            }
            let mut state = state;
            state.writing_until = Some(now + WRITING_LEASE_SECS);
            if !self.store.save_state(&observed.contact, &state).await? {
                continue;
            }
            state.version += 1;
            let (fired, changes) = match self.write(observed, decision).await {
                Ok(written) => written,
                Err(e) => {
                    // Gives the right back, so the day's retry need not wait for it to
                    // run out (if this fails too, it runs out).
                    let released = SignalState {
                        writing_until: None,
                        ..state.clone()
                    };
                    let _ = self.store.save_state(&observed.contact, &released).await;
                    return Err(e);
                }
            };
            let mut next = state.clone();
            next.writing_until = None;
            for f in &fired {
                next.fired.insert(
                    format!("{}#{}", f.interaction.rule_id, f.interaction.period),
                    crate::domain::work::iso_date::format(f.interaction.day),
                );
            }
            for change in &changes {
                next.attributes
                    .insert(change.category.clone(), change.value.clone());
            }
            if !self.store.save_state(&observed.contact, &next).await? {
                // The lease ran out and someone else moved the state on: look again.
                // What was written to SAP is found there by its source object, not
                // written twice.
                continue;
            }
            for f in &fired {
                metrics::counter!(metric::SIGNALS, "Kind" => "rule").increment(1);
                tracing::info!(user_id = %observed.user_id, rule = %f.interaction.rule_id,
                    period = %f.interaction.period, "rule fired");
            }
            for change in &changes {
                metrics::counter!(metric::SIGNALS, "Kind" => "attribute").increment(1);
                tracing::info!(user_id = %observed.user_id, category = %change.category,
                    "marketing attribute changed");
            }
            return Ok(SignalReport {
                days_changed: changed.len(),
                fired: fired
                    .iter()
                    .map(|f| format!("{}#{}", f.interaction.rule_id, f.interaction.period))
                    .collect(),
                attributes_changed: changes,
            });
        }
        Err(SignalError::Contended)
    }

    /// Writes what `decision` holds to the marketing system and the event bus, under the
    /// right to write. Returns the firings and attribute changes that got there (refusals
    /// are logged and counted, and left for the person's next day).
    async fn write(
        &self,
        observed: &Observed,
        decision: Decision,
    ) -> Result<(Vec<Firing>, Vec<AttributeChange>), SignalError> {
        // A refusal (the tenant lacks the interaction type or the attribute category)
        // must not hold up the person's days: it is logged and counted, not recorded
        // as done, and tried again with their next day. Anything else is retried now.
        let mut fired = Vec::new();
        for firing in decision.fired {
            match self.sink.record_signal(&firing.interaction).await {
                Ok(()) => fired.push(firing),
                Err(MarketingError::Rejected(e)) => refused("rule", &observed.user_id, &e),
                Err(e) => return Err(e.into()),
            }
        }
        let (mut changes, mut change_events) = (decision.changes, decision.change_events);
        if !changes.is_empty() {
            match self.sink.set_attributes(&observed.contact, &changes).await {
                Ok(()) => {}
                Err(MarketingError::Rejected(e)) => {
                    refused("attribute", &observed.user_id, &e);
                    changes.clear();
                    change_events.clear();
                }
                Err(e) => return Err(e.into()),
            }
        }
        // Before the state: a publish that may pass is retried with the rest (at least
        // once; consumers deduplicate by the event's id). One the bus refuses for good
        // (no permission, no such bus) is dropped, logged and counted.
        let events: Vec<SignalEvent> = fired
            .iter()
            .map(|f| f.event.clone())
            .chain(change_events)
            .collect();
        let published = if events.is_empty() {
            Ok(())
        } else {
            self.events.publish(&events).await
        };
        match published {
            Ok(()) => {}
            Err(EventsError::Refused(e)) => {
                metrics::counter!(metric::SIGNALS_REFUSED, "Kind" => "event")
                    .increment(events.len() as u64);
                tracing::error!(user_id = %observed.user_id, events = events.len(), error = %e,
                    "the event bus refused signal events; they are dropped");
            }
            Err(EventsError::Unavailable(e)) => return Err(SignalError::Events(e)),
        }
        Ok((fired, changes))
    }

    fn decide(&self, observed: &Observed, history: &History, state: &SignalState) -> Decision {
        let mut decision = Decision {
            fired: Vec::new(),
            changes: Vec::new(),
            change_events: Vec::new(),
        };
        let Some(latest) = history.latest() else {
            return decision;
        };
        let event = |day: Date, id: String, body: EventBody, detail_type| SignalEvent {
            detail_type,
            version: 1,
            id,
            contact_origin: observed.contact.origin.clone(),
            contact_id: observed.contact.id.clone(),
            provider: observed.provider.to_string(),
            day: crate::domain::work::iso_date::format(day),
            body,
        };
        let today =
            crate::domain::local_day::today(observed.timezone.as_deref(), self.clock.timestamp());
        let recent = today - time::Duration::days(RECENT_DAYS);
        // Every recorded recent day, not only the observed ones: an old day arriving
        // late (a backfill in any order) changes the windows that end on recent days.
        // A day after the person's today (a clock or time zone ahead of ours) waits
        // until it has begun for them.
        let days: Vec<Date> = history
            .days()
            .map(|(d, _)| d)
            .filter(|d| *d >= recent && *d <= today)
            .collect();
        for rule in &self.settings.rules.0 {
            // Only the period current today may fire: one that has ended never does, so
            // a late or backfilled day completes no past period, and one evaluation
            // fires a rule at most once.
            let period = rule.period().of(today);
            let key = format!("{}#{period}", rule.id);
            if state.fired.contains_key(&key) {
                continue;
            }
            let met = days
                .iter()
                .filter(|day| rule.period().of(**day) == period)
                .find_map(|day| Some((*day, rule.evaluate(history, *day)?)));
            let Some((day, figures)) = met else {
                continue;
            };
            let interaction = SignalInteraction {
                provider: observed.provider,
                contact: observed.contact.clone(),
                rule_id: rule.id.clone(),
                period: period.clone(),
                day,
                interaction_type: rule.interaction_type.clone(),
                content: serde_json::to_string(&figures).expect("plain data"),
            };
            decision.fired.push(Firing {
                event: event(
                    day,
                    interaction.source_object(),
                    EventBody::Rule {
                        rule_id: rule.id.clone(),
                        period,
                        figures,
                    },
                    "fitbridge.rule_fired",
                ),
                interaction,
            });
        }

        let s = &self.settings;
        let held = |category: &str| state.attributes.get(category).cloned();
        // The score is of complete days: today's grows with every sync, and counted as a
        // day it would lower the score every morning and raise it through the day.
        let complete = latest.min(today.previous_day().unwrap_or(today));
        if let Some(score) = score::activity_score(history, complete) {
            let value = score.value.to_string();
            let previous = held(&s.score_category);
            if previous.as_deref() != Some(value.as_str()) {
                decision.changes.push(AttributeChange {
                    category: s.score_category.clone(),
                    value: value.clone(),
                    replaces: previous.clone(),
                });
                decision.change_events.push(event(
                    complete,
                    format!("{}-score-{value}-{complete}", observed.contact.source_id()),
                    EventBody::Score {
                        score: score.value,
                        band: score.band(),
                        previous_score: previous.and_then(|p| p.parse().ok()),
                    },
                    "fitbridge.score_changed",
                ));
            }
            let band = score.band().to_owned();
            let previous = held(&s.band_category);
            if previous.as_deref() != Some(band.as_str()) {
                decision.changes.push(AttributeChange {
                    category: s.band_category.clone(),
                    value: band,
                    replaces: previous,
                });
            }
        }
        if let Some(hour) = send_time::best_send_hour(history, latest) {
            let value = format!("{hour:02}");
            let previous = held(&s.send_hour_category);
            if previous.as_deref() != Some(value.as_str()) {
                decision.change_events.push(event(
                    latest,
                    format!("{}-sendtime-{value}-{latest}", observed.contact.source_id()),
                    EventBody::SendTime {
                        hour,
                        previous_hour: previous.as_deref().and_then(|p| p.parse().ok()),
                    },
                    "fitbridge.send_time_changed",
                ));
                decision.changes.push(AttributeChange {
                    category: s.send_hour_category.clone(),
                    value,
                    replaces: previous,
                });
            }
        }
        decision
    }

    /// Deletes what is kept about the contact's signals (the account was deleted).
    pub async fn forget(&self, contact: &ContactKey) -> Result<usize, StoreError> {
        self.store.forget(contact).await
    }
}
