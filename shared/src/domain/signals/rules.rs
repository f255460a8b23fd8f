//! Campaign rules, configured not coded: a JSON document (`SIGNAL_RULES`, a template
//! parameter) of rules of four kinds, each evaluated against a person's [`History`] as of
//! one of their days.
//!
//! Invariants:
//! - Evaluation is a pure function of the history and the day: the same history always
//!   gives the same firings, so a redelivery or re-fetch can only repeat a firing, and the
//!   caller's record of fired (rule, period) pairs turns a repeat into nothing.
//! - A firing's period comes from the day the rule was met (the calendar week, month or
//!   year it falls in; `ever` for a milestone), so it is the same however often and in
//!   whatever order days arrive.
//!
//! ```json
//! [{"id": "run100", "kind": "window", "metric": "distance", "at_least": 100, "days": 30},
//!  {"id": "steps1m", "kind": "milestone", "metric": "steps", "at_least": 1000000},
//!  {"id": "streak7", "kind": "streak", "metric": "steps", "at_least": 10000, "days": 7},
//!  {"id": "winback", "kind": "lapse", "metric": "steps", "active_days": 30,
//!   "active_at_least": 5000, "days": 7, "below": 2000}]
//! ```

use serde::{Deserialize, Serialize};
use time::Date;

use super::history::{DayRecord, History};

/// The values a rule can look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleMetric {
    Steps,
    Distance,
    Calories,
    ActiveMinutes,
    Sleep,
}

impl RuleMetric {
    /// The day's value; a day without it counts as 0.
    pub fn of(self, day: Option<&DayRecord>) -> f64 {
        let Some(d) = day else { return 0.0 };
        match self {
            RuleMetric::Steps => d.steps.map(|v| v as f64),
            RuleMetric::Distance => d.distance_km,
            RuleMetric::Calories => d.calories.map(|v| v as f64),
            RuleMetric::ActiveMinutes => d.active_minutes.map(|v| v as f64),
            RuleMetric::Sleep => d.sleep_minutes.map(|v| v as f64),
        }
        .unwrap_or(0.0)
    }

    pub fn unit(self) -> &'static str {
        match self {
            RuleMetric::Steps => "steps",
            RuleMetric::Distance => "km",
            RuleMetric::Calories => "kcal",
            RuleMetric::ActiveMinutes | RuleMetric::Sleep => "min",
        }
    }
}

/// How often a rule may fire for a person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Week,
    Month,
    Year,
    Ever,
}

impl Period {
    /// The period `day` falls in: `2026-W48`, `2026-11`, `2026`, `ever`.
    pub fn of(self, day: Date) -> String {
        match self {
            Period::Week => {
                let (year, week, _) = day.to_iso_week_date();
                format!("{year}-W{week:02}")
            }
            Period::Month => format!("{}-{:02}", day.year(), day.month() as u8),
            Period::Year => day.year().to_string(),
            Period::Ever => "ever".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleKind {
    /// The metric's total over the last `days` days reaches `at_least`.
    Window {
        metric: RuleMetric,
        at_least: f64,
        days: u32,
    },
    /// The metric's total over everything recorded (backfill included) reaches
    /// `at_least`. Fires once ever.
    Milestone { metric: RuleMetric, at_least: f64 },
    /// The metric reaches `at_least` on each of the last `days` days.
    Streak {
        metric: RuleMetric,
        at_least: f64,
        days: u32,
    },
    /// Active, then not: the metric averaged at least `active_at_least` a day over the
    /// `active_days` before the last `days` days, and stayed below `below` on each of
    /// those. A day without data counts as 0 (a person who stops wearing the device has
    /// lapsed too).
    Lapse {
        metric: RuleMetric,
        active_days: u32,
        active_at_least: f64,
        days: u32,
        below: f64,
    },
}

/// One configured rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Short and stable: it names the rule in SAP source objects and events
    /// (1–12 of `a-z`, `0-9`, `_`).
    pub id: String,
    #[serde(flatten)]
    pub kind: RuleKind,
    /// How often the rule may fire; by default once a month (once ever for a milestone).
    #[serde(default)]
    pub once_per: Option<Period>,
    /// The SAP interaction type written when it fires; by default the provider mapping's
    /// `signal_interaction_type`.
    #[serde(default)]
    pub interaction_type: Option<String>,
}

/// The longest span any rule looks back over, in days.
pub const MAX_SPAN_DAYS: u32 = 400;

#[derive(Debug, thiserror::Error)]
#[error("SIGNAL_RULES is invalid: {0}")]
pub struct RulesError(pub String);

impl Rule {
    pub fn period(&self) -> Period {
        match self.kind {
            RuleKind::Milestone { .. } => Period::Ever,
            _ => self.once_per.unwrap_or(Period::Month),
        }
    }

    fn validate(&self) -> Result<(), RulesError> {
        let bad = |why: &str| Err(RulesError(format!("rule {:?}: {why}", self.id)));
        if self.id.is_empty()
            || self.id.len() > 12
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return bad("id must be 1-12 of a-z, 0-9, _");
        }
        let spans = match &self.kind {
            RuleKind::Window { days, .. } | RuleKind::Streak { days, .. } => vec![*days],
            RuleKind::Lapse {
                active_days, days, ..
            } => vec![*active_days, *days, active_days + days],
            RuleKind::Milestone { .. } => vec![1],
        };
        if spans.iter().any(|d| *d == 0 || *d > MAX_SPAN_DAYS) {
            return bad("days must be 1..=400");
        }
        if let Some(t) = &self.interaction_type {
            if t.is_empty() || t.len() > 20 {
                return bad("interaction_type must be 1-20 characters (SAP InteractionType)");
            }
        }
        Ok(())
    }

    /// What the rule sees as of `day`: `Some(figures)` when it is met.
    pub fn evaluate(&self, history: &History, day: Date) -> Option<Figures> {
        match &self.kind {
            RuleKind::Window {
                metric,
                at_least,
                days,
            } => {
                let total: f64 = history
                    .window(day, *days)
                    .into_iter()
                    .map(|d| metric.of(d))
                    .sum();
                (total >= *at_least).then(|| Figures::new(*metric, total, *days))
            }
            RuleKind::Milestone { metric, at_least } => {
                let total: f64 = history
                    .days()
                    .take_while(|(d, _)| *d <= day)
                    .map(|(_, r)| metric.of(Some(r)))
                    .sum();
                (total >= *at_least).then(|| Figures::new(*metric, total, 0))
            }
            RuleKind::Streak {
                metric,
                at_least,
                days,
            } => {
                let window = history.window(day, *days);
                let least = window
                    .iter()
                    .map(|d| metric.of(*d))
                    .fold(f64::INFINITY, f64::min);
                (least >= *at_least).then(|| Figures::new(*metric, least, *days))
            }
            RuleKind::Lapse {
                metric,
                active_days,
                active_at_least,
                days,
                below,
            } => {
                let window = history.window(day, active_days + days);
                let (before, lapsed) = window.split_at(*active_days as usize);
                // Only people we knew while active: a history that starts inside the
                // window says nothing about whether they were.
                let start = day - time::Duration::days((active_days + days - 1).into());
                if history.days().next().is_none_or(|(first, _)| first > start) {
                    return None;
                }
                let active: f64 =
                    before.iter().map(|d| metric.of(*d)).sum::<f64>() / *active_days as f64;
                let most = lapsed.iter().map(|d| metric.of(*d)).fold(0.0, f64::max);
                (active >= *active_at_least && most < *below).then_some(Figures {
                    before: Some(round3(active)),
                    ..Figures::new(*metric, most, *days)
                })
            }
        }
    }
}

/// The numbers behind a firing, written into the interaction's content and the event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Figures {
    pub metric: RuleMetric,
    /// The window's total, the lifetime total, the streak's lowest day, or the lapse's
    /// highest day.
    pub value: f64,
    /// The days the value covers; 0 for a lifetime total.
    pub days: u32,
    /// For a lapse: the daily average while active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<f64>,
}

impl Figures {
    fn new(metric: RuleMetric, value: f64, days: u32) -> Figures {
        Figures {
            metric,
            value: round3(value),
            days,
            before: None,
        }
    }
}

/// Three decimals: what an interaction's content needs, without binary noise.
fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// The configured rules, checked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rules(pub Vec<Rule>);

impl Rules {
    pub fn parse(json: &str) -> Result<Rules, RulesError> {
        let rules: Vec<Rule> = serde_json::from_str(json).map_err(|e| RulesError(e.to_string()))?;
        let mut ids = std::collections::BTreeSet::new();
        for rule in &rules {
            rule.validate()?;
            if !ids.insert(rule.id.clone()) {
                return Err(RulesError(format!("rule id {:?} is used twice", rule.id)));
            }
        }
        Ok(Rules(rules))
    }

    /// The rules shipped as the template's default (the examples of the issue that asked
    /// for them).
    pub fn defaults() -> Rules {
        Rules::parse(DEFAULT_RULES).expect("the default rules are valid")
    }

    /// How far back evaluation must read: the longest rule span (milestones read all).
    pub fn span_days(&self) -> u32 {
        self.0
            .iter()
            .map(|r| match &r.kind {
                RuleKind::Window { days, .. } | RuleKind::Streak { days, .. } => *days,
                RuleKind::Lapse {
                    active_days, days, ..
                } => active_days + days,
                RuleKind::Milestone { .. } => 1,
            })
            .max()
            .unwrap_or(1)
    }
}

/// The default rule set: the examples campaigns are asked for most.
pub const DEFAULT_RULES: &str = r#"[
  {"id": "distance100", "kind": "window", "metric": "distance", "at_least": 100, "days": 30},
  {"id": "steps1m", "kind": "milestone", "metric": "steps", "at_least": 1000000},
  {"id": "km1000", "kind": "milestone", "metric": "distance", "at_least": 1000},
  {"id": "streak7", "kind": "streak", "metric": "steps", "at_least": 10000, "days": 7},
  {"id": "lapse", "kind": "lapse", "metric": "steps", "active_days": 30, "active_at_least": 5000, "days": 7, "below": 2000}
]"#;

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn one(json: &str) -> Rule {
        Rules::parse(json).unwrap().0.remove(0)
    }

    fn steps(h: &mut History, from: Date, values: &[u64]) {
        for (i, v) in values.iter().enumerate() {
            h.set(
                from + time::Duration::days(i as i64),
                DayRecord {
                    steps: Some(*v),
                    distance_km: Some(*v as f64 / 1300.0),
                    ..Default::default()
                },
            );
        }
    }

    /// A history of these steps, one day each from `from`.
    fn stepped(from: Date, values: &[u64]) -> History {
        let mut h = History::default();
        steps(&mut h, from, values);
        h
    }

    #[test]
    fn the_default_rules_parse_and_bad_ones_are_refused() {
        assert_eq!(Rules::defaults().0.len(), 5);
        assert_eq!(Rules::defaults().span_days(), 37);
        for bad in [
            r#"[{"id":"Bad Id","kind":"milestone","metric":"steps","at_least":1}]"#,
            r#"[{"id":"x","kind":"window","metric":"steps","at_least":1,"days":0}]"#,
            r#"[{"id":"x","kind":"window","metric":"steps","at_least":1,"days":3,"typo":1}]"#,
            r#"[{"id":"x","kind":"milestone","metric":"heart","at_least":1}]"#,
            r#"[{"id":"x","kind":"milestone","metric":"steps","at_least":1},
                {"id":"x","kind":"milestone","metric":"steps","at_least":2}]"#,
        ] {
            assert!(Rules::parse(bad).is_err(), "{bad}");
        }
        assert!(Rules::parse("[]").unwrap().0.is_empty());
        assert!(
            Rules::parse("").is_err(),
            "empty means the defaults, decided by the caller"
        );
    }

    #[test]
    fn periods_come_from_the_day() {
        let d = date!(2026 - 11 - 30);
        assert_eq!(Period::Week.of(d), "2026-W49");
        assert_eq!(Period::Month.of(d), "2026-11");
        assert_eq!(Period::Year.of(d), "2026");
        assert_eq!(Period::Ever.of(d), "ever");
    }

    #[test]
    fn a_window_sums_its_days() {
        let rule =
            one(r#"[{"id":"w","kind":"window","metric":"steps","at_least":30000,"days":3}]"#);
        let h = stepped(date!(2026 - 11 - 01), &[10_000, 10_000, 9_999, 10_001]);
        assert_eq!(rule.evaluate(&h, date!(2026 - 11 - 03)), None, "29,999");
        let fired = rule.evaluate(&h, date!(2026 - 11 - 04)).unwrap();
        assert_eq!((fired.value, fired.days), (30_000.0, 3));
        // A missing day counts as nothing.
        assert_eq!(rule.evaluate(&h, date!(2026 - 11 - 06)), None);
    }

    #[test]
    fn a_milestone_counts_everything_up_to_the_day() {
        let rule = one(
            r#"[{"id":"m","kind":"milestone","metric":"steps","at_least":25000,"once_per":"month"}]"#,
        );
        assert_eq!(rule.period(), Period::Ever, "a milestone fires once ever");
        let h = stepped(date!(2026 - 10 - 30), &[10_000, 10_000, 5_000, 1]);
        assert_eq!(rule.evaluate(&h, date!(2026 - 10 - 31)), None);
        assert_eq!(
            rule.evaluate(&h, date!(2026 - 11 - 01)).unwrap().value,
            25_000.0
        );
        assert_eq!(
            rule.evaluate(&h, date!(2026 - 11 - 02)).unwrap().value,
            25_001.0
        );
    }

    #[test]
    fn a_streak_needs_every_day() {
        let rule =
            one(r#"[{"id":"s","kind":"streak","metric":"steps","at_least":10000,"days":3}]"#);
        let h = stepped(
            date!(2026 - 11 - 01),
            &[12_000, 9_000, 10_000, 11_000, 10_500],
        );
        assert_eq!(
            rule.evaluate(&h, date!(2026 - 11 - 04)),
            None,
            "the 9,000 day"
        );
        assert_eq!(
            rule.evaluate(&h, date!(2026 - 11 - 05)).unwrap().value,
            10_000.0
        );
    }

    #[test]
    fn a_lapse_needs_an_active_past_we_saw() {
        let rule = one(
            r#"[{"id":"l","kind":"lapse","metric":"steps","active_days":10,"active_at_least":5000,"days":3,"below":2000}]"#,
        );
        let mut h = History::default();
        // Ten active days, then three quiet ones.
        steps(&mut h, date!(2026 - 11 - 01), &[6_000; 10]);
        steps(&mut h, date!(2026 - 11 - 11), &[1_500, 800, 1_999]);
        let fired = rule.evaluate(&h, date!(2026 - 11 - 13)).unwrap();
        assert_eq!((fired.value, fired.before), (1_999.0, Some(6_000.0)));
        // The average while active is rounded like every figure.
        let mut uneven = History::default();
        steps(&mut uneven, date!(2026 - 11 - 01), &[6_001, 6_000, 6_000]);
        steps(&mut uneven, date!(2026 - 11 - 04), &[6_000; 7]);
        steps(&mut uneven, date!(2026 - 11 - 11), &[100; 3]);
        let fired = rule.evaluate(&uneven, date!(2026 - 11 - 13)).unwrap();
        assert_eq!(fired.before, Some(6_000.1));
        // One of the three at 2,000: not a lapse.
        steps(&mut h, date!(2026 - 11 - 12), &[2_000]);
        assert_eq!(rule.evaluate(&h, date!(2026 - 11 - 13)), None);
        // Someone we only know for the quiet days never lapsed from anything.
        let mut new = History::default();
        steps(&mut new, date!(2026 - 11 - 11), &[100, 100, 100]);
        assert_eq!(rule.evaluate(&new, date!(2026 - 11 - 13)), None);
        // Days without data while lapsed count as 0.
        let mut gone = History::default();
        steps(&mut gone, date!(2026 - 11 - 01), &[8_000; 10]);
        assert!(rule.evaluate(&gone, date!(2026 - 11 - 13)).is_some());
    }
}
