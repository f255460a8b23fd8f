//! A person's daily history, kept compactly: one record per local day, grouped into one
//! stored item per calendar month, so windows, streaks and lifetime totals are evaluated
//! without calling the provider again.
//!
//! Invariants:
//! - A collection's fetch replaces exactly the fields that collection carries
//!   ([`DayRecord::apply`]): a sleep fetch never erases the day's steps.
//! - Applying the same fetch twice changes nothing (redeliveries and re-fetches are free).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Date, Month};

use crate::domain::{Collection, DaySummary, Metric};

/// One local day of one person: what the rules, the score and the send time read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DayRecord {
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u64>,
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub calories: Option<u64>,
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub active_minutes: Option<u64>,
    #[serde(rename = "z", default, skip_serializing_if = "Option::is_none")]
    pub sleep_minutes: Option<u64>,
    /// When the day's workouts ended, in minutes after the person's local midnight.
    #[serde(rename = "w", default, skip_serializing_if = "Vec::is_empty")]
    pub workout_ends: Vec<u16>,
}

impl DayRecord {
    /// The day with one collection's fetch applied: that collection's fields replaced by
    /// what the fetch says (absent stays absent), the others kept.
    pub fn apply(&self, collection: Collection, summary: &DaySummary) -> DayRecord {
        let mut next = self.clone();
        match collection {
            Collection::Activities => {
                // What the provider did not answer this time keeps its known value.
                let answered = |m: Metric| !summary.unanswered.contains(&m);
                if answered(Metric::Steps) {
                    next.steps = summary.steps;
                }
                if answered(Metric::Distance) {
                    next.distance_km = summary.distance_km;
                }
                if answered(Metric::Calories) {
                    next.calories = summary.calories_out;
                }
                if answered(Metric::ActiveMinutes) {
                    next.active_minutes = summary.active_minutes;
                }
                if !summary.workouts_unanswered {
                    next.workout_ends = summary.workout_ends.clone();
                    next.workout_ends.sort_unstable();
                }
            }
            Collection::Sleep if !summary.unanswered.contains(&Metric::Sleep) => {
                next.sleep_minutes = summary.minutes_asleep
            }
            Collection::Sleep => {}
            // Weight feeds no signal.
            Collection::Body => {}
        }
        next
    }

    pub fn is_empty(&self) -> bool {
        *self == DayRecord::default()
    }
}

/// A calendar month, as items are keyed: `2026-11`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MonthKey {
    pub year: i32,
    pub month: Month,
}

impl MonthKey {
    pub fn of(day: Date) -> MonthKey {
        MonthKey {
            year: day.year(),
            month: day.month(),
        }
    }

    pub fn parse(s: &str) -> Option<MonthKey> {
        let (y, m) = s.split_once('-')?;
        Some(MonthKey {
            year: y.parse().ok()?,
            month: Month::try_from(m.parse::<u8>().ok()?).ok()?,
        })
    }
}

impl std::fmt::Display for MonthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month as u8)
    }
}

/// One stored month: its days (by day of month) and the version it was read at.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MonthHistory {
    pub days: BTreeMap<u8, DayRecord>,
    /// The stored version; 0 for a month never written.
    pub version: u64,
}

/// The stored form's first byte: which layout follows.
const PACKED_V1: u8 = 1;
/// Which of a day's fields follow its flags byte, in this order.
const STEPS: u8 = 1;
const DISTANCE: u8 = 1 << 1;
const CALORIES: u8 = 1 << 2;
const ACTIVE: u8 = 1 << 3;
const SLEEP: u8 = 1 << 4;
const WORKOUTS: u8 = 1 << 5;

/// A stored month that cannot be read back.
#[derive(Debug, thiserror::Error)]
#[error("stored month history: {0}")]
pub struct DecodeError(&'static str);

impl MonthHistory {
    /// The stored form, packed: a layout byte, then each recorded day in order as its day
    /// of month, a byte of flags naming the fields that follow, and those fields in the
    /// order of [`DayRecord`] — whole numbers as LEB128 varints, the distance as a
    /// little-endian `f64` (so it reads back exactly), the workouts as a count and their
    /// minutes. About 20 bytes a day: a full month stays well under the 1 KB of one
    /// DynamoDB write unit, where the earlier JSON form took up to three, and every read of
    /// a person's history reads a third of the bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.days.len() * 22);
        out.push(PACKED_V1);
        for (day, r) in &self.days {
            out.push(*day);
            let flags = [
                (r.steps.is_some(), STEPS),
                (r.distance_km.is_some(), DISTANCE),
                (r.calories.is_some(), CALORIES),
                (r.active_minutes.is_some(), ACTIVE),
                (r.sleep_minutes.is_some(), SLEEP),
                (!r.workout_ends.is_empty(), WORKOUTS),
            ]
            .iter()
            .filter(|(present, _)| *present)
            .fold(0, |flags, (_, bit)| flags | bit);
            out.push(flags);
            if let Some(v) = r.steps {
                put_varint(&mut out, v);
            }
            if let Some(km) = r.distance_km {
                out.extend_from_slice(&km.to_le_bytes());
            }
            for v in [r.calories, r.active_minutes, r.sleep_minutes]
                .into_iter()
                .flatten()
            {
                put_varint(&mut out, v);
            }
            if !r.workout_ends.is_empty() {
                put_varint(&mut out, r.workout_ends.len() as u64);
                for end in &r.workout_ends {
                    put_varint(&mut out, u64::from(*end));
                }
            }
        }
        out
    }

    /// Reads [`Self::encode`]'s form back. Refuses anything else: an unknown layout or
    /// flag, a day out of order or out of range, a truncated or overlong number.
    pub fn decode(bytes: &[u8], version: u64) -> Result<MonthHistory, DecodeError> {
        let mut input = Reader(bytes);
        if input.byte()? != PACKED_V1 {
            return Err(DecodeError("unknown layout"));
        }
        let mut days = BTreeMap::new();
        let mut last = 0;
        while !input.0.is_empty() {
            let day = input.byte()?;
            if day <= last || day > 31 {
                return Err(DecodeError("day of month out of order or range"));
            }
            last = day;
            let flags = input.byte()?;
            if flags & !(STEPS | DISTANCE | CALORIES | ACTIVE | SLEEP | WORKOUTS) != 0 {
                return Err(DecodeError("unknown field"));
            }
            let mut record = DayRecord::default();
            if flags & STEPS != 0 {
                record.steps = Some(input.varint()?);
            }
            if flags & DISTANCE != 0 {
                record.distance_km = Some(input.f64()?);
            }
            if flags & CALORIES != 0 {
                record.calories = Some(input.varint()?);
            }
            if flags & ACTIVE != 0 {
                record.active_minutes = Some(input.varint()?);
            }
            if flags & SLEEP != 0 {
                record.sleep_minutes = Some(input.varint()?);
            }
            if flags & WORKOUTS != 0 {
                let count = input.varint()?;
                if count == 0 || count > 24 * 60 {
                    return Err(DecodeError("workout count out of range"));
                }
                for _ in 0..count {
                    let end = u16::try_from(input.varint()?)
                        .map_err(|_| DecodeError("workout end out of range"))?;
                    record.workout_ends.push(end);
                }
            }
            days.insert(day, record);
        }
        Ok(MonthHistory { days, version })
    }

    /// Reads the form months were stored in before [`Self::encode`]'s: a JSON object keyed
    /// by day of month. Months a person has not had a day of since stay in it.
    pub fn decode_json(days: &str, version: u64) -> Result<MonthHistory, serde_json::Error> {
        Ok(MonthHistory {
            days: serde_json::from_str(days)?,
            version,
        })
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The unread rest of a stored month.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let (first, rest) = self.0.split_first().ok_or(DecodeError("truncated"))?;
        self.0 = rest;
        Ok(*first)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(DecodeError("number too large"));
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError("number too long"))
    }

    fn f64(&mut self) -> Result<f64, DecodeError> {
        if self.0.len() < 8 {
            return Err(DecodeError("truncated"));
        }
        let (bytes, rest) = self.0.split_at(8);
        self.0 = rest;
        Ok(f64::from_le_bytes(bytes.try_into().expect("eight bytes")))
    }
}

/// A person's whole history: every month stored for them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    pub months: BTreeMap<MonthKey, MonthHistory>,
}

impl History {
    pub fn day(&self, date: Date) -> Option<&DayRecord> {
        self.months
            .get(&MonthKey::of(date))
            .and_then(|m| m.days.get(&date.day()))
    }

    /// Records `record` for `date`; says whether anything changed.
    pub fn set(&mut self, date: Date, record: DayRecord) -> bool {
        let month = self.months.entry(MonthKey::of(date)).or_default();
        if month.days.get(&date.day()) == Some(&record) {
            return false;
        }
        month.days.insert(date.day(), record);
        true
    }

    /// Every recorded day, oldest first.
    pub fn days(&self) -> impl Iterator<Item = (Date, &DayRecord)> {
        self.months.iter().flat_map(|(key, month)| {
            month.days.iter().filter_map(move |(d, r)| {
                Date::from_calendar_date(key.year, key.month, *d)
                    .ok()
                    .map(|date| (date, r))
            })
        })
    }

    /// The newest recorded day.
    pub fn latest(&self) -> Option<Date> {
        self.days().map(|(d, _)| d).last()
    }

    /// The `n` days ending on `end` (inclusive), oldest first; a day without a record
    /// is `None`.
    pub fn window(&self, end: Date, n: u32) -> Vec<Option<&DayRecord>> {
        (0..n)
            .rev()
            .map(|back| {
                end.checked_sub(time::Duration::days(back.into()))
                    .and_then(|d| self.day(d))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn a_collection_replaces_only_its_own_fields() {
        let day = DayRecord {
            steps: Some(9000),
            sleep_minutes: Some(400),
            ..Default::default()
        };
        let sleep = DaySummary {
            minutes_asleep: Some(430),
            ..Default::default()
        };
        let after = day.apply(Collection::Sleep, &sleep);
        assert_eq!(after.steps, Some(9000));
        assert_eq!(after.sleep_minutes, Some(430));
        assert_eq!(after.apply(Collection::Sleep, &sleep), after, "idempotent");
        let activities = DaySummary {
            steps: Some(100),
            ..Default::default()
        };
        let after = after.apply(Collection::Activities, &activities);
        assert_eq!((after.steps, after.sleep_minutes), (Some(100), Some(430)));
    }

    #[test]
    fn what_the_provider_did_not_answer_keeps_what_was_known() {
        let day = DayRecord {
            steps: Some(9000),
            active_minutes: Some(42),
            workout_ends: vec![1_110],
            ..Default::default()
        };
        let partial = DaySummary {
            steps: Some(9500),
            unanswered: vec![Metric::ActiveMinutes],
            workouts_unanswered: true,
            ..Default::default()
        };
        let after = day.apply(Collection::Activities, &partial);
        assert_eq!(after.steps, Some(9500));
        assert_eq!(after.active_minutes, Some(42), "kept, not erased");
        assert_eq!(after.workout_ends, [1_110]);
        // Answered, an absent value is the truth: nothing.
        let answered = DaySummary {
            steps: Some(9500),
            ..Default::default()
        };
        let after = after.apply(Collection::Activities, &answered);
        assert_eq!((after.active_minutes, after.workout_ends.len()), (None, 0));
    }

    #[test]
    fn a_month_is_stored_small_and_read_back_unchanged() {
        let mut h = History::default();
        for d in 1..=31u8 {
            let date = Date::from_calendar_date(2026, Month::October, d).unwrap();
            h.set(
                date,
                DayRecord {
                    steps: Some(12_345),
                    distance_km: Some(9.876),
                    calories: Some(2_345),
                    active_minutes: Some(67),
                    sleep_minutes: Some(456),
                    workout_ends: vec![1_110],
                },
            );
        }
        let month = &h.months[&MonthKey::of(date!(2026 - 10 - 01))];
        let encoded = month.encode();
        // With the item's keys and version, one write unit (1,024 bytes) even with two
        // workouts a day.
        assert!(
            encoded.len() < 800,
            "{} bytes for a full month",
            encoded.len()
        );
        assert_eq!(
            &MonthHistory::decode(&encoded, 7).unwrap().days,
            &month.days
        );
        assert_eq!(MonthHistory::decode(&encoded, 7).unwrap().version, 7);
        assert_eq!(MonthKey::parse("2026-10").unwrap().to_string(), "2026-10");
    }

    #[test]
    fn every_record_reads_back_exactly() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        for _ in 0..2_000 {
            let mut month = MonthHistory::default();
            for day in 1..=31u8 {
                if rng.random_bool(0.3) {
                    continue;
                }
                let present: [bool; 5] = std::array::from_fn(|_| rng.random_bool(0.8));
                let workouts = rng.random_range(0..4);
                let record = DayRecord {
                    steps: present[0].then_some(u64::MAX >> (day % 64)),
                    distance_km: present[1].then_some(rng.random::<f64>() * 100.0),
                    calories: present[2].then_some(u64::from(day) * 1_000),
                    active_minutes: present[3].then_some(0),
                    sleep_minutes: present[4].then_some(127),
                    workout_ends: (0..workouts).map(|_| rng.random_range(0..1_440)).collect(),
                };
                month.days.insert(day, record);
            }
            let encoded = month.encode();
            assert_eq!(MonthHistory::decode(&encoded, 0).unwrap(), month);
        }
    }

    #[test]
    fn damaged_months_are_refused_not_misread() {
        let mut month = MonthHistory::default();
        month.days.insert(
            3,
            DayRecord {
                steps: Some(300),
                distance_km: Some(0.2),
                workout_ends: vec![1_100],
                ..Default::default()
            },
        );
        let encoded = month.encode();
        for cut in 0..encoded.len() {
            let truncated = &encoded[..cut];
            // Cutting exactly before a day leaves a shorter, valid month.
            if cut != 1 {
                assert!(MonthHistory::decode(truncated, 0).is_err(), "cut at {cut}");
            }
        }
        assert!(MonthHistory::decode(&[], 0).is_err());
        assert!(MonthHistory::decode(&[2], 0).is_err(), "unknown layout");
        assert!(MonthHistory::decode(&[1, 32, 0], 0).is_err(), "day 32");
        assert!(
            MonthHistory::decode(&[1, 4, 0, 3, 0], 0).is_err(),
            "days out of order"
        );
        assert!(
            MonthHistory::decode(&[1, 4, 0x40], 0).is_err(),
            "unknown field"
        );
        assert!(
            MonthHistory::decode(
                &[1, 4, STEPS, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
                0
            )
            .is_err(),
            "more than 64 bits"
        );
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for len in 0..64 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng as u8
                })
                .collect();
            let _ = MonthHistory::decode(&bytes, 0);
        }
    }

    #[test]
    fn months_stored_in_the_earlier_json_form_are_read() {
        let month =
            MonthHistory::decode_json(r#"{"3":{"s":300,"d":0.2,"w":[1100]},"4":{}}"#, 2).unwrap();
        assert_eq!(month.version, 2);
        assert_eq!(month.days[&3].steps, Some(300));
        assert_eq!(month.days[&3].distance_km, Some(0.2));
        assert_eq!(month.days[&3].workout_ends, vec![1_100]);
        assert!(month.days[&4].is_empty());
    }

    #[test]
    fn windows_count_missing_days_as_none() {
        let mut h = History::default();
        h.set(date!(2026 - 11 - 28), DayRecord::default());
        h.set(
            date!(2026 - 11 - 30),
            DayRecord {
                steps: Some(1),
                ..Default::default()
            },
        );
        assert!(
            !h.set(date!(2026 - 11 - 28), DayRecord::default()),
            "unchanged"
        );
        let w = h.window(date!(2026 - 11 - 30), 4);
        assert_eq!(w.len(), 4);
        assert!(w[0].is_none() && w[1].is_some() && w[2].is_none());
        assert_eq!(w[3].unwrap().steps, Some(1));
        assert_eq!(h.latest(), Some(date!(2026 - 11 - 30)));
    }
}
