//! Campaign signals as plain values and pure rules: a person's history ([`history`]),
//! the configured rules ([`rules`]), the activity score ([`score`]) and the best send hour
//! ([`send_time`]), and what a signal looks like to the marketing system and to other
//! systems. Evaluating them against a person is the signals use case's
//! ([`crate::use_cases::signals`]).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::ContactKey;
use crate::domain::ProviderKind;

pub mod history;
pub mod rules;
pub mod score;
pub mod send_time;

use rules::Figures;

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

/// A fired campaign rule, as it goes to the marketing system: one interaction per
/// (person, rule, period), its source object `<contact>-s-<rule>-<period>`.
#[derive(Clone, Debug, PartialEq)]
pub struct SignalInteraction {
    pub provider: ProviderKind,
    pub contact: ContactKey,
    pub rule_id: String,
    pub period: String,
    /// The person's local day the rule was met on.
    pub day: time::Date,
    /// The rule's own interaction type; `None`: the mapping's `signal_interaction_type`.
    pub interaction_type: Option<String>,
    /// The figures behind it, a small JSON document (the interaction's content).
    pub content: String,
}

impl SignalInteraction {
    /// Deterministic, at most 50 characters (`InteractionSourceObject`): a contact id of
    /// up to 24, `-s-`, a rule id of up to 12, `-`, a period of up to 8.
    pub fn source_object(&self) -> String {
        format!(
            "{}-s-{}-{}",
            self.contact.source_id(),
            self.rule_id,
            self.period
        )
    }
}

/// A marketing attribute of a contact set to a new value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttributeChange {
    pub category: String,
    pub value: String,
    /// The value SAP holds now, removed in the same changeset (a category may hold
    /// several values; this one holds exactly one).
    pub replaces: Option<String>,
}
