//! Sleep sessions: the synthetic nights (always across midnight) and naps, recorded sessions,
//! their stages and the `sleep` data point.
//!
//! Invariants: a session's stages lie end to end and cover it exactly; a session belongs to
//! the civil day it ends on; of a day's recorded sessions, the longest that is no nap is the
//! main one.

use serde_json::{json, Value};
use time::macros::time;
use time::{Date, Duration, OffsetDateTime};

use super::{data_source, interval_json, offset_json, timestamp};
use crate::civil_time::{from_local, to_local};
use crate::google_health::{GoogleUser, RecordedSleep};
use crate::synthetic::{sleep_cycles, Seed, SleepStage};

/// One sleep stage: type and local start/end.
#[derive(Clone, Debug)]
pub(crate) struct Stage {
    pub(crate) kind: &'static str,
    pub(crate) start: OffsetDateTime,
    pub(crate) end: OffsetDateTime,
}

#[derive(Clone, Debug)]
pub(crate) struct SleepSession {
    pub(crate) id: String,
    /// In the local offset at the start / end.
    pub(crate) start: OffsetDateTime,
    pub(crate) end: OffsetDateTime,
    pub(crate) stages: Vec<Stage>,
    pub(crate) nap: bool,
    pub(crate) main: bool,
    pub(crate) recorded: bool,
}

impl SleepSession {
    fn minutes(&self) -> i64 {
        (self.end - self.start).whole_minutes()
    }
}

fn stage_kind(name: &str) -> &'static str {
    match name {
        "AWAKE" => "AWAKE",
        "LIGHT" => "LIGHT",
        "DEEP" => "DEEP",
        "REM" => "REM",
        "ASLEEP" => "ASLEEP",
        "RESTLESS" => "RESTLESS",
        _ => "SLEEP_STAGE_TYPE_UNSPECIFIED",
    }
}

/// Lays stages of the given minutes end to end from `start`, in the zone's offsets; the
/// last one ends exactly at `end`.
fn lay_stages(
    time_zone: &str,
    start: OffsetDateTime,
    end: OffsetDateTime,
    plan: &[(&'static str, i64)],
) -> Vec<Stage> {
    let mut at = start;
    let mut stages = Vec::new();
    let planned: Vec<&(&str, i64)> = plan.iter().filter(|(_, m)| *m > 0).collect();
    for (i, (kind, minutes)) in planned.iter().enumerate() {
        let stage_end = if i + 1 == planned.len() {
            end
        } else {
            to_local(time_zone, at + Duration::minutes(*minutes))
        };
        stages.push(Stage {
            kind,
            start: at,
            end: stage_end,
        });
        at = stage_end;
    }
    stages
}

/// Four sleep cycles (light, deep, light, REM, a short awakening) over the session.
fn staged_plan(total: i64, r: &mut Seed) -> Vec<(&'static str, i64)> {
    let awake = total * r.range(6, 12) as i64 / 100;
    let asleep = total - awake;
    let deep = asleep * r.range(13, 20) as i64 / 100;
    let rem = asleep * r.range(18, 25) as i64 / 100;
    let light = asleep - deep - rem;
    // Stages of no (or negative) length are left out either way.
    let minutes = |m: i64| u64::try_from(m).unwrap_or(0);
    sleep_cycles(minutes(awake), minutes(light), minutes(deep), minutes(rem))
        .into_iter()
        .map(|(stage, m)| {
            let kind = match stage {
                SleepStage::Awake => "AWAKE",
                SleepStage::Light => "LIGHT",
                SleepStage::Deep => "DEEP",
                SleepStage::Rem => "REM",
            };
            (kind, m as i64)
        })
        .collect()
}

/// The synthetic sessions ending on the user's civil `day`: the night before (around 23:10
/// to 07:05 local, always across midnight) and, on some days, an afternoon nap.
pub(crate) fn synthetic_sleep(user: &GoogleUser, day: Date) -> Vec<SleepSession> {
    let tz = &user.time_zone;
    let mut r = Seed::new(&[&user.health_user_id, &day.to_string(), "sleep"]);
    let evening = day.previous_day().unwrap_or(day).with_time(time!(23:10));
    let start_local = evening + Duration::minutes(r.range(0, 16) as i64 * 5 - 40);
    let end_local = day.with_time(time!(07:05)) + Duration::minutes(r.range(0, 18) as i64 * 5 - 45);
    let start = from_local(tz, start_local);
    let end = from_local(tz, end_local);
    let plan = staged_plan((end - start).whole_minutes(), &mut r);
    let mut sessions = vec![SleepSession {
        id: r.id(),
        start,
        end,
        stages: lay_stages(tz, start, end, &plan),
        nap: false,
        main: true,
        recorded: false,
    }];
    if r.range(0, 99) < 15 {
        let nap_start = from_local(
            tz,
            day.with_time(time!(14:00)) + Duration::minutes(r.range(0, 18) as i64 * 5),
        );
        let minutes = r.range(20, 45) as i64;
        let nap_end = to_local(tz, nap_start + Duration::minutes(minutes));
        let restless = minutes / 5;
        sessions.push(SleepSession {
            id: r.id(),
            start: nap_start,
            end: nap_end,
            stages: lay_stages(
                tz,
                nap_start,
                nap_end,
                &[
                    ("ASLEEP", minutes - restless - 2),
                    ("RESTLESS", restless),
                    ("AWAKE", 2),
                ],
            ),
            nap: true,
            main: false,
            recorded: false,
        });
    }
    sessions
}

/// A recorded session as the API reports it; the longest non-nap session of a day is main.
pub(crate) fn recorded_sleep(user: &GoogleUser, sessions: &[RecordedSleep]) -> Vec<SleepSession> {
    let mut out: Vec<SleepSession> = sessions
        .iter()
        .map(|s| {
            let mut r = Seed::new(&[&user.health_user_id, &timestamp(s.start), "recorded-sleep"]);
            let stages = match &s.stages {
                Some(stages) => {
                    let plan: Vec<(&'static str, i64)> = stages
                        .iter()
                        .map(|st| (stage_kind(&st.stage), i64::from(st.minutes)))
                        .collect();
                    lay_stages(&user.time_zone, s.start, s.end, &plan)
                }
                None => {
                    let plan = staged_plan((s.end - s.start).whole_minutes().max(1), &mut r);
                    lay_stages(&user.time_zone, s.start, s.end, &plan)
                }
            };
            SleepSession {
                id: r.id(),
                start: s.start,
                end: s.end,
                stages,
                nap: s.nap,
                main: false,
                recorded: true,
            }
        })
        .collect();
    if let Some(main) = out
        .iter_mut()
        .filter(|s| !s.nap)
        .max_by_key(|s| s.minutes())
    {
        main.main = true;
    }
    out
}

pub(crate) fn sleep_point(health_user_id: &str, s: &SleepSession) -> Value {
    let mut by_type: Vec<(&str, i64, i64)> = Vec::new();
    for stage in &s.stages {
        let minutes = (stage.end - stage.start).whole_minutes();
        match by_type.iter_mut().find(|(k, _, _)| *k == stage.kind) {
            Some(entry) => {
                entry.1 += minutes;
                entry.2 += 1;
            }
            None => by_type.push((stage.kind, minutes, 1)),
        }
    }
    let minutes_of = |kinds: &[&str]| -> i64 {
        by_type
            .iter()
            .filter(|(k, _, _)| kinds.contains(k))
            .map(|(_, m, _)| m)
            .sum()
    };
    let asleep = minutes_of(&["LIGHT", "DEEP", "REM", "ASLEEP"]);
    let awake = minutes_of(&["AWAKE"]);
    let mut summary = json!({
        "minutesInSleepPeriod": s.minutes().to_string(),
        "stagesSummary": by_type
            .iter()
            .map(|(kind, minutes, count)| {
                json!({ "type": kind, "minutes": minutes.to_string(), "count": count.to_string() })
            })
            .collect::<Vec<_>>(),
    });
    // proto3 JSON leaves zero values out.
    for (name, value) in [("minutesAsleep", asleep), ("minutesAwake", awake)] {
        if value != 0 {
            summary[name] = json!(value.to_string());
        }
    }
    let stages: Vec<Value> = s
        .stages
        .iter()
        .map(|stage| {
            json!({
                "type": stage.kind,
                "startTime": timestamp(stage.start),
                "startUtcOffset": offset_json(stage.start),
                "endTime": timestamp(stage.end),
                "endUtcOffset": offset_json(stage.end),
                "createTime": timestamp(s.end + Duration::minutes(12)),
                "updateTime": timestamp(s.end + Duration::minutes(12)),
            })
        })
        .collect();
    let mut metadata = json!({ "processed": true, "stagesStatus": if s.nap { "REJECTED_NAP" } else { "SUCCEEDED" } });
    if s.main {
        metadata["mainSleep"] = json!(true);
    }
    if s.nap {
        metadata["nap"] = json!(true);
    }
    json!({
        "name": format!("users/{health_user_id}/dataTypes/sleep/dataPoints/{}", s.id),
        "dataSource": data_source(s.recorded, "WATCH"),
        "sleep": {
            "interval": interval_json(s.start, s.end),
            "type": if s.nap { "CLASSIC" } else { "STAGES" },
            "stages": stages,
            "metadata": metadata,
            "summary": summary,
            "createTime": timestamp(s.end + Duration::minutes(12)),
            "updateTime": timestamp(s.end + Duration::minutes(12)),
        },
    })
}
