//! The signals use case: what people do, turned into things a campaign can trigger on —
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
//!   service's [`Clock`](crate::ports::clock::Clock)): a period that has ended never fires, so a
//!   late or backfilled day completes no past period, and one evaluation fires each rule
//!   at most once. It is evaluated as of each recorded day of that period within
//!   [`RECENT_DAYS`] of today, whichever days changed, and fires for the first day it is
//!   met on: a backfill of old days builds history and lifetime totals, and fires what
//!   they mean for the windows ending now, in whatever order its days arrive. A milestone's
//!   period is `ever`, so it fires once, whenever it is first seen met.
//! - Nothing here calls a provider: the history holds what evaluation needs.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use time::Date;

use crate::domain::signals::history::{History, MonthKey};
use crate::domain::signals::rules::Rules;
use crate::domain::signals::{
    score, send_time, AttributeChange, EventBody, SignalEvent, SignalInteraction, SignalState,
};
use crate::domain::{ContactKey, ProviderUserId};
use crate::ports::clock::SharedClock;
use crate::ports::marketing::{MarketingError, SignalSink};
use crate::ports::signals::{
    EventsError, Observed, SignalError, SignalEvents, SignalReport, SignalStore, Signals,
};
use crate::ports::store::StoreError;
use crate::telemetry::metric;

/// How far back from the person's today a day may lie and still fire a rule (for the
/// period that is current today).
pub const RECENT_DAYS: i64 = 7;

/// Version conflicts tolerated before the work is handed back for a retry.
const ATTEMPTS: usize = 4;
/// How long one observer may write a person's signals: longer than its SAP and
/// EventBridge calls can take (each has a deadline well under it), shorter than the
/// worker's timeout, so a writer that died is replaced by the day's retry.
const WRITING_LEASE_SECS: i64 = 45;

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

#[async_trait]
impl Signals for SignalService {
    /// Records a person's fetched days in their history, then fires what their history now
    /// says. Safe to repeat: a repeat changes and fires nothing.
    async fn observe(&self, observed: &Observed) -> Result<SignalReport, SignalError> {
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

    /// What is kept about the contact's signals expires at `at` (the person disconnected).
    async fn expire(
        &self,
        contact: &ContactKey,
        at: time::OffsetDateTime,
    ) -> Result<usize, StoreError> {
        self.store.expire(contact, at).await
    }

    /// Deletes what is kept about the contact's signals (the account was deleted).
    async fn forget(&self, contact: &ContactKey) -> Result<usize, StoreError> {
        self.store.forget(contact).await
    }
}

impl SignalService {
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
}
