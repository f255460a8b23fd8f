//! Synthetic nights: each belongs to the morning it ends on (the sleep's `date`) and starts
//! the evening before, in the person's zone, with its stages from [`sleep_cycles`].

use std::collections::BTreeMap;

use time::format_description::well_known::Rfc3339;
use time::macros::time;
use time::{Date, Duration, PrimitiveDateTime};

use super::{clock_minute, device_id, round_to};
use crate::civil_time::from_local;
use crate::polar::wire::Sleep;
use crate::polar::PolarUser;
use crate::synthetic::{sleep_cycles, Seed, SleepStage};

/// The night that ends on a morning.
pub(super) struct SleepPlan {
    /// Local start, the evening before.
    start: PrimitiveDateTime,
    stages: Vec<(SleepStage, u64)>,
}

impl SleepPlan {
    pub(super) fn minutes(&self, kind: SleepStage) -> u64 {
        self.stages
            .iter()
            .filter(|(stage, _)| *stage == kind)
            .map(|(_, minutes)| minutes)
            .sum()
    }

    pub(super) fn asleep_minutes(&self) -> u64 {
        self.stages
            .iter()
            .filter(|(stage, _)| *stage != SleepStage::Awake)
            .map(|(_, minutes)| minutes)
            .sum()
    }

    pub(super) fn end(&self) -> PrimitiveDateTime {
        let total: u64 = self.stages.iter().map(|(_, minutes)| minutes).sum();
        self.start + Duration::minutes(total as i64)
    }
}

pub(super) fn sleep_plan(user: &PolarUser, day: Date) -> SleepPlan {
    let mut r = Seed::new(&[&user.polar_user_id, &day.to_string(), "polar-sleep"]);
    let evening = day.previous_day().unwrap_or(day).with_time(time!(21:45));
    let start = evening + Duration::seconds((r.range(0, 120 * 2) * 30) as i64);
    let in_bed = r.range(380, 540);
    let wake = r.range(20, 60);
    let asleep = in_bed - wake;
    let deep = asleep * r.range(13, 20) / 100;
    let rem = asleep * r.range(18, 25) / 100;
    SleepPlan {
        start,
        stages: sleep_cycles(wake, asleep - deep - rem, deep, rem),
    }
}

/// The night whose morning is `day`.
pub(in crate::polar) fn sleep(user: &PolarUser, day: Date, user_link: &str) -> Sleep {
    let plan = sleep_plan(user, day);
    let end = plan.end();
    let instant = |at: PrimitiveDateTime| {
        from_local(&user.timezone, at)
            .format(&Rfc3339)
            .expect("formattable timestamp")
    };
    let mut hypnogram = BTreeMap::new();
    let mut at = plan.start;
    let mut light_turn = 0;
    for (stage, minutes) in plan.stages.iter().filter(|(_, m)| *m > 0) {
        let code = match stage {
            SleepStage::Awake => 0,
            SleepStage::Rem => 1,
            SleepStage::Deep => 4,
            SleepStage::Light => {
                light_turn += 1;
                if light_turn % 2 == 1 {
                    2
                } else {
                    3
                }
            }
        };
        hypnogram.insert(clock_minute(at), code);
        at += Duration::minutes(*minutes as i64);
    }
    let r = &mut Seed::new(&[&user.polar_user_id, &day.to_string(), "polar-sleep-details"]);
    let resting = 48 + Seed::new(&[&user.polar_user_id, "resting-hr"]).range(0, 12);
    let mut heart_rate_samples = BTreeMap::new();
    let mut sample_at = plan.start + Duration::minutes(2);
    while sample_at < end {
        heart_rate_samples.insert(clock_minute(sample_at), (resting + r.range(0, 9)) as u32);
        sample_at += Duration::minutes(5);
    }
    let continuity = round_to(2.0 + r.range(0, 28) as f64 / 10.0, 1);
    let wake_secs = plan.minutes(SleepStage::Awake) * 60;
    let short = wake_secs * 2 / 5;
    let secs = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    Sleep {
        polar_user: user_link.to_owned(),
        date: day.to_string(),
        sleep_start_time: instant(plan.start),
        sleep_end_time: instant(end),
        device_id: device_id(user),
        continuity,
        continuity_class: continuity.round().clamp(1.0, 5.0) as u8,
        light_sleep: secs(plan.minutes(SleepStage::Light) * 60),
        deep_sleep: secs(plan.minutes(SleepStage::Deep) * 60),
        rem_sleep: secs(plan.minutes(SleepStage::Rem) * 60),
        unrecognized_sleep_stage: 0,
        sleep_score: r.range(55, 92) as u32,
        total_interruption_duration: secs(wake_secs),
        sleep_charge: r.range(1, 5) as u8,
        sleep_goal: 28_800,
        sleep_rating: 0,
        short_interruption_duration: secs(short),
        long_interruption_duration: secs(wake_secs - short),
        sleep_cycles: 4,
        group_duration_score: round_to(50.0 + r.range(0, 500) as f64 / 10.0, 1),
        group_solidity_score: round_to(40.0 + r.range(0, 550) as f64 / 10.0, 1),
        group_regeneration_score: round_to(40.0 + r.range(0, 550) as f64 / 10.0, 1),
        hypnogram,
        heart_rate_samples,
    }
}

/// The night's start and end instants with the local offset (`available-sleep`).
pub(in crate::polar) fn sleep_times(user: &PolarUser, day: Date) -> (String, String) {
    let plan = sleep_plan(user, day);
    let instant = |at: PrimitiveDateTime| {
        from_local(&user.timezone, at)
            .format(&Rfc3339)
            .expect("formattable timestamp")
    };
    (instant(plan.start), instant(plan.end()))
}
