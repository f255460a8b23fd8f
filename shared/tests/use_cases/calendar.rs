//! The calendar, swept: the signal use case on in-memory ports, its clock set to three
//! moments of each local day (00:05, 12:00 and 23:55) on every day from 2027-12-20 to
//! 2029-01-10. That is 388 days: 31 December twice, 29 February 2028, every month's end
//! and first week, ISO years of 52 weeks, for people in Europe/Berlin and America/New_York
//! (both changes of daylight saving time), Australia/Sydney (the same, the other way
//! round), Asia/Kolkata (+05:30, none), and both ends of the date line (Pacific/Kiritimati,
//! +14, and Pacific/Pago_Pago, −11).
//!
//! In each zone three people move every day in a pattern: `steady` walks 12,000 steps a
//! day (every rule can fire in every period), `rhythm` is active for 20 days and still for
//! 12 (the lapse fires now and then), `late` syncs only on the 2nd of each month, the whole
//! month before and the two days since at once (every past period is completed late).
//!
//! The rule asserted on every observation: **a rule fires only for the period current on
//! the person's today, for a day of that period no later than today, and at most once per
//! evaluation**; and over the whole sweep: no (person, rule, period) fires twice, a
//! milestone fires once ever, and `steady` fires each periodic rule in every period after
//! its first, so no period is skipped either.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use fitbridge::clock::SetClock;
use fitbridge::domain::signals::rules::{Period, Rules};
use fitbridge::domain::signals::EventBody;
use fitbridge::domain::{Collection, ContactKey, DaySummary, ProviderUserId};
use fitbridge::events::MemoryEvents;
use fitbridge::marketing::memory::MemoryMarketing;
use fitbridge::ports::signals::Observed;
use fitbridge::ports::signals::Signals;
use fitbridge::store::memory::MemoryStore;
use fitbridge::use_cases::signals::{SignalService, SignalSettings};
use jiff::civil;
use time::{Date, Duration, Month};

use crate::support::KIND;

const ZONES: [&str; 6] = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
];

/// The default rules, and one of each other period.
const RULES: &str = r#"[
  {"id": "distance100", "kind": "window", "metric": "distance", "at_least": 100, "days": 30},
  {"id": "steps1m", "kind": "milestone", "metric": "steps", "at_least": 1000000},
  {"id": "streak7", "kind": "streak", "metric": "steps", "at_least": 10000, "days": 7},
  {"id": "lapse", "kind": "lapse", "metric": "steps", "active_days": 30, "active_at_least": 5000, "days": 7, "below": 2000},
  {"id": "week50k", "kind": "window", "metric": "steps", "at_least": 50000, "days": 7, "once_per": "week"},
  {"id": "year300k", "kind": "window", "metric": "steps", "at_least": 300000, "days": 30, "once_per": "year"}
]"#;

/// The local times of day the clock is set to.
const MOMENTS: [(i8, i8); 3] = [(0, 5), (12, 0), (23, 55)];

fn first_day() -> Date {
    Date::from_calendar_date(2027, Month::December, 20).unwrap()
}

fn last_day() -> Date {
    Date::from_calendar_date(2029, Month::January, 10).unwrap()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Pattern {
    Steady,
    Rhythm,
    Late,
}

impl Pattern {
    const ALL: [Pattern; 3] = [Pattern::Steady, Pattern::Rhythm, Pattern::Late];

    /// The day's whole steps.
    fn steps(self, day: Date) -> u64 {
        match self {
            Pattern::Steady | Pattern::Late => 12_000,
            Pattern::Rhythm => {
                if (day - first_day()).whole_days().rem_euclid(32) < 20 {
                    9_000
                } else {
                    400
                }
            }
        }
    }

    /// What the person's device has synced of `day` by `minute` of it (the day so far).
    fn summary(self, day: Date, minute: u32) -> DaySummary {
        let steps = self.steps(day) * u64::from(minute.min(1440)) / 1440;
        DaySummary {
            steps: Some(steps),
            distance_km: Some(steps as f64 / 1300.0),
            ..Default::default()
        }
    }

    /// The days a sync at `minute` of `today` brings: the day so far, and yesterday whole
    /// when the day has just begun; `late` brings nothing but on the 2nd, then everything
    /// since the first of the month before.
    fn sync(self, today: Date, minute: u32) -> Vec<(Date, DaySummary)> {
        let yesterday = today.previous_day().unwrap();
        match self {
            Pattern::Late if today.day() != 2 || minute < 12 * 60 => vec![],
            Pattern::Late => {
                let from = yesterday.replace_day(1).unwrap() - Duration::days(1);
                let from = from.replace_day(1).unwrap();
                let mut days = Vec::new();
                let mut d = from;
                while d < today {
                    days.push((d, self.summary(d, 1440)));
                    d = d.next_day().unwrap();
                }
                days.push((today, self.summary(today, minute)));
                days
            }
            _ if minute < 60 => vec![
                (yesterday, self.summary(yesterday, 1440)),
                (today, self.summary(today, minute)),
            ],
            _ => vec![(today, self.summary(today, minute))],
        }
    }
}

fn civil_date(d: Date) -> civil::Date {
    civil::date(d.year() as i16, d.month() as i8, d.day() as i8)
}

/// The instant of local `hour:minute` on `day` in `zone`.
fn instant(zone: &str, day: Date, (hour, minute): (i8, i8)) -> time::OffsetDateTime {
    let at = civil_date(day)
        .at(hour, minute, 0, 0)
        .in_tz(zone)
        .expect("a zone of the tz database")
        .timestamp();
    time::OffsetDateTime::from_unix_timestamp(at.as_second()).unwrap()
}

/// One firing as the events tell it.
#[derive(Debug)]
struct Fired {
    rule: String,
    period: String,
    day: Date,
}

fn firings(events: &[fitbridge::domain::signals::SignalEvent]) -> Vec<Fired> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Rule {
                rule_id, period, ..
            } => Some(Fired {
                rule: rule_id.clone(),
                period: period.clone(),
                day: fitbridge::domain::work::iso_date::parse(&e.day).unwrap(),
            }),
            _ => None,
        })
        .collect()
}

/// Sweeps one zone; returns the observations made.
async fn sweep(zone: &'static str) -> usize {
    let rules = Rules::parse(RULES).unwrap();
    let clock = Arc::new(SetClock::frozen(instant(zone, first_day(), (0, 5))));
    let events = Arc::new(MemoryEvents::default());
    let service = SignalService {
        store: Arc::new(MemoryStore::new(clock.clone())),
        sink: Arc::new(MemoryMarketing::new()),
        events: events.clone(),
        settings: SignalSettings {
            rules: rules.clone(),
            ..SignalSettings::default()
        },
        clock: clock.clone(),
    };
    let period_of = |rule: &str, day: Date| {
        let rule = rules.0.iter().find(|r| r.id == rule).unwrap();
        rule.period().of(day)
    };
    // (pattern, rule, period) → the day it fired for.
    let mut fired: BTreeMap<(Pattern, String, String), Date> = BTreeMap::new();
    let mut observations = 0;
    let mut today = first_day();
    while today <= last_day() {
        for moment in MOMENTS {
            clock.set(instant(zone, today, moment));
            let minute = moment.0 as u32 * 60 + moment.1 as u32;
            for pattern in Pattern::ALL {
                let days = pattern.sync(today, minute);
                if days.is_empty() {
                    continue;
                }
                let user = format!("{pattern:?}-{zone}");
                let before = events.published().len();
                let report = service
                    .observe(&Observed {
                        provider: KIND,
                        user_id: ProviderUserId(user.clone()),
                        contact: ContactKey {
                            origin: "CALENDAR".into(),
                            id: user,
                        },
                        timezone: Some(zone.into()),
                        days: days
                            .into_iter()
                            .map(|(d, s)| (d, Collection::Activities, s))
                            .collect(),
                    })
                    .await
                    .unwrap();
                observations += 1;
                let now = firings(&events.published()[before..]);
                assert_eq!(now.len(), report.fired.len(), "{zone} {today} {moment:?}");
                let mut rules_now = BTreeSet::new();
                for f in now {
                    let at = format!("{zone} {today} {moment:?} {pattern:?} {f:?}");
                    assert!(
                        rules_now.insert(f.rule.clone()),
                        "twice in one evaluation: {at}"
                    );
                    assert_eq!(
                        f.period,
                        period_of(&f.rule, today),
                        "not today's period: {at}"
                    );
                    assert!(f.day <= today, "a day that has not begun: {at}");
                    assert_eq!(
                        f.period,
                        period_of(&f.rule, f.day),
                        "a day of another period: {at}"
                    );
                    let again = fired.insert((pattern, f.rule, f.period), f.day);
                    assert!(again.is_none(), "fired twice in a period: {at}");
                }
            }
        }
        today = today.next_day().unwrap();
    }

    // Every period after the first: `steady` fired each periodic rule in it.
    for rule in ["distance100", "streak7", "week50k", "year300k"] {
        let mut periods = BTreeSet::new();
        let mut day = first_day();
        while day <= last_day() {
            periods.insert(period_of(rule, day));
            day = day.next_day().unwrap();
        }
        // The first period has too few days behind it; every later one is complete
        // enough (the sweep ends on 10 January, ten days into the last month and year).
        let first = period_of(rule, first_day());
        for period in periods.iter().filter(|p| **p != first) {
            let key = (Pattern::Steady, rule.to_owned(), period.clone());
            assert!(
                fired.contains_key(&key),
                "{zone}: {rule} never fired in {period}"
            );
        }
    }
    for pattern in [Pattern::Steady, Pattern::Late] {
        let milestones: Vec<_> = fired
            .keys()
            .filter(|(p, rule, _)| *p == pattern && rule == "steps1m")
            .collect();
        assert_eq!(milestones.len(), 1, "{zone} {pattern:?}: once ever");
    }
    let lapses = fired
        .keys()
        .filter(|(p, rule, _)| *p == Pattern::Rhythm && rule == "lapse")
        .count();
    assert!(lapses >= 6, "{zone}: the rhythm lapsed {lapses} times");
    // `late` completes every past month at once on the 2nd: it fires the monthly rules
    // in each month it syncs in (for the month of the 2nd), and in none other.
    let synced: BTreeSet<String> = (0..)
        .map(|n| first_day() + Duration::days(n))
        .take_while(|d| *d <= last_day())
        .filter(|d| d.day() == 2)
        .map(|d| Period::Month.of(d))
        .collect();
    for rule in ["distance100", "streak7"] {
        let months: BTreeSet<String> = fired
            .keys()
            .filter(|(p, r, _)| *p == Pattern::Late && r == rule)
            .map(|(_, _, period)| period.clone())
            .collect();
        assert_eq!(months, synced, "{zone} late {rule}");
    }
    observations
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_fires_only_for_the_period_current_on_the_persons_today_every_day_of_a_year() {
    let sweeps: Vec<_> = ZONES.iter().map(|zone| tokio::spawn(sweep(zone))).collect();
    let mut observations = 0;
    for sweep in sweeps {
        observations += sweep.await.unwrap();
    }
    let days = (last_day() - first_day()).whole_days() + 1;
    assert_eq!(days, 388);
    // Three moments a day; `late` only on the 2nd (two moments).
    assert!(observations > 6 * 388 * 3 * 2, "{observations}");
}
