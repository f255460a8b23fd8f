//! Deterministic synthetic data: every value derives from a hash of (user, day, kind), so
//! a day always answers the same, across runs and sandbox instances. Shapes follow the
//! contract (`GetProfileResponse`, `GetDailyActivitySummaryResponse`,
//! `GetSleepLogByDateResponse` v1.2, `GetWeightLogResponse`).

use axum::http::{header, HeaderMap};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::macros::{format_description, time};
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time};

use super::{RecordedActivity, TestUser};

/// Fitbit answers in the unit system of the `Accept-Language` header: `en_US` gets US
/// units, anything else (or no header) metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Units {
    Metric,
    Us,
}

impl Units {
    pub(super) fn from_headers(headers: &HeaderMap) -> Units {
        let language = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let first = language.split(',').next().unwrap_or_default().trim();
        if first.eq_ignore_ascii_case("en_US") || first.eq_ignore_ascii_case("en-US") {
            Units::Us
        } else {
            Units::Metric
        }
    }

    /// The unit system's name in profile fields such as `distanceUnit`.
    fn name(self) -> &'static str {
        match self {
            Units::Metric => "METRIC",
            Units::Us => "en_US",
        }
    }

    /// km → km or miles.
    fn distance(self, km: f64) -> f64 {
        match self {
            Units::Metric => km,
            Units::Us => km * 0.621_371,
        }
    }

    /// Metres → metres or feet.
    fn elevation(self, metres: f64) -> f64 {
        match self {
            Units::Metric => metres,
            Units::Us => metres * 3.280_84,
        }
    }

    /// kg → kg or pounds.
    fn weight(self, kg: f64) -> f64 {
        match self {
            Units::Metric => kg,
            Units::Us => kg * 2.204_62,
        }
    }

    /// cm → cm or inches.
    fn length(self, cm: f64) -> f64 {
        match self {
            Units::Metric => cm,
            Units::Us => cm / 2.54,
        }
    }
}

/// A small deterministic generator (SplitMix64) seeded from SHA-256, so values do not
/// change with the `rand` crate's algorithms.
struct Seed(u64);

impl Seed {
    fn new(parts: &[&str]) -> Seed {
        let digest = Sha256::digest(parts.join("\u{1f}").as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        Seed(u64::from_be_bytes(first))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (the modulo bias is irrelevant here).
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

fn round_to(value: f64, decimals: i32) -> f64 {
    let factor = 10f64.powi(decimals);
    (value * factor).round() / factor
}

/// Daylight-saving rule of a zone.
#[derive(Clone, Copy)]
enum Dst {
    None,
    /// Last Sunday of March to last Sunday of October, 01:00 UTC.
    Eu,
    /// Second Sunday of March to first Sunday of November, 02:00 local.
    Us,
}

/// Standard offset (seconds) and DST rule of the zones tests are likely to use; there is
/// no tz database among the dependencies. Unknown zones count as UTC.
fn zone(timezone: &str) -> (i64, Dst) {
    const H: i64 = 3600;
    match timezone {
        "Europe/London" | "Europe/Dublin" | "Europe/Lisbon" => (0, Dst::Eu),
        "Europe/Berlin" | "Europe/Paris" | "Europe/Madrid" | "Europe/Rome" | "Europe/Amsterdam"
        | "Europe/Brussels" | "Europe/Vienna" | "Europe/Zurich" | "Europe/Stockholm"
        | "Europe/Oslo" | "Europe/Copenhagen" | "Europe/Warsaw" | "Europe/Prague"
        | "Europe/Budapest" => (H, Dst::Eu),
        "Europe/Helsinki" | "Europe/Athens" | "Europe/Bucharest" | "Europe/Kyiv"
        | "Europe/Kiev" => (2 * H, Dst::Eu),
        "America/New_York" | "America/Toronto" => (-5 * H, Dst::Us),
        "America/Chicago" => (-6 * H, Dst::Us),
        "America/Denver" => (-7 * H, Dst::Us),
        "America/Los_Angeles" | "America/Vancouver" => (-8 * H, Dst::Us),
        "America/Anchorage" => (-9 * H, Dst::Us),
        "America/Phoenix" => (-7 * H, Dst::None),
        "America/Sao_Paulo" => (-3 * H, Dst::None),
        "Asia/Dubai" => (4 * H, Dst::None),
        "Asia/Kolkata" => (5 * H + 1800, Dst::None),
        "Asia/Singapore" | "Asia/Shanghai" => (8 * H, Dst::None),
        "Asia/Tokyo" => (9 * H, Dst::None),
        _ => (0, Dst::None),
    }
}

fn nth_sunday(year: i32, month: Month, n: i64) -> Date {
    let first = Date::from_calendar_date(year, month, 1).expect("first of month");
    let to_sunday = (7 - i64::from(first.weekday().number_days_from_sunday())) % 7;
    first + Duration::days(to_sunday + 7 * (n - 1))
}

fn last_sunday(year: i32, month: Month) -> Date {
    let next_month = Date::from_calendar_date(year, month.next(), 1).expect("first of month");
    let last = next_month.previous_day().expect("in range");
    last - Duration::days(i64::from(last.weekday().number_days_from_sunday()))
}

fn utc_instant(date: Date, seconds_after_midnight: i64) -> OffsetDateTime {
    date.midnight().assume_utc() + Duration::seconds(seconds_after_midnight)
}

/// The zone's offset from UTC in seconds at `at`.
fn utc_offset_secs(timezone: &str, at: OffsetDateTime) -> i64 {
    let (standard, dst) = zone(timezone);
    let year = at.year();
    let (start, end) = match dst {
        Dst::None => return standard,
        Dst::Eu => (
            utc_instant(last_sunday(year, Month::March), 3600),
            utc_instant(last_sunday(year, Month::October), 3600),
        ),
        Dst::Us => (
            utc_instant(nth_sunday(year, Month::March, 2), 7200 - standard),
            utc_instant(nth_sunday(year, Month::November, 1), 7200 - standard - 3600),
        ),
    };
    if (start..end).contains(&at) {
        standard + 3600
    } else {
        standard
    }
}

/// The user's calendar date at `now`: Fitbit days are local days.
pub(super) fn local_date(user: &TestUser, now: OffsetDateTime) -> Date {
    (now + Duration::seconds(utc_offset_secs(&user.timezone, now))).date()
}

fn parse_date(value: &str) -> Option<Date> {
    Date::parse(value, format_description!("[year]-[month]-[day]")).ok()
}

fn age_on(date_of_birth: &str, day: Date) -> i32 {
    let Some(born) = parse_date(date_of_birth) else {
        return 0;
    };
    let had_birthday = (day.month() as u8, day.day()) >= (born.month() as u8, born.day());
    day.year() - born.year() - i32::from(!had_birthday)
}

/// Basal metabolic rate (Mifflin-St Jeor), kcal per day.
fn bmr(user: &TestUser, day: Date) -> u64 {
    let sex_term = match user.gender.as_str() {
        "MALE" => 5.0,
        "FEMALE" => -161.0,
        _ => -78.0,
    };
    let age = f64::from(age_on(&user.date_of_birth, day));
    let kcal = 10.0 * user.weight_kg + 6.25 * user.height_cm - 5.0 * age + sex_term;
    kcal.max(800.0).round() as u64
}

/// Walking stride, the usual 41.5 % of height.
fn stride_km(user: &TestUser) -> f64 {
    user.height_cm * 0.415 / 100_000.0
}

pub(super) fn profile(user: &TestUser, units: Units, now: OffsetDateTime) -> Value {
    let offset_millis = utc_offset_secs(&user.timezone, now) * 1000;
    let average_daily_steps =
        Seed::new(&[&user.user_id, "average-daily-steps"]).range(5_000, 11_000);
    let unit = units.name();
    // Two halves: one `json!` with every field exceeds the macro recursion limit.
    let mut fields = json!({
        "age": age_on(&user.date_of_birth, local_date(user, now)),
        "ambassador": false,
        "autoStrideEnabled": true,
        "avatar": "https://static0.fitbit.com/images/profile/defaultProfile_100.png",
        "avatar150": "https://static0.fitbit.com/images/profile/defaultProfile_150.png",
        "avatar640": "https://static0.fitbit.com/images/profile/defaultProfile_640.png",
        "averageDailySteps": average_daily_steps,
        "challengesBeta": true,
        "clockTimeDisplayFormat": if units == Units::Us { "12hour" } else { "24hour" },
        "corporate": false,
        "corporateAdmin": false,
        "country": user.country,
        "dateOfBirth": user.date_of_birth,
        "displayName": user.display_name,
        "displayNameSetting": "name",
        "distanceUnit": unit,
        "encodedId": user.user_id,
        "features": { "exerciseGoal": true },
        "firstName": user.first_name,
        "foodsLocale": user.locale,
        "fullName": user.full_name,
        "gender": user.gender,
        "glucoseUnit": unit,
        "height": round_to(units.length(user.height_cm), 1),
    });
    let rest = json!({
        "heightUnit": unit,
        "isBugReportEnabled": false,
        "isChild": false,
        "isCoach": false,
        "languageLocale": user.locale,
        "lastName": user.last_name,
        "legalTermsAcceptRequired": false,
        "locale": user.locale,
        "memberSince": user.member_since,
        "mfaEnabled": false,
        "offsetFromUTCMillis": offset_millis,
        "sdkDeveloper": false,
        "sleepTracking": "Normal",
        "startDayOfWeek": if units == Units::Us { "SUNDAY" } else { "MONDAY" },
        "strideLengthRunning": round_to(units.length(user.height_cm * 0.65), 1),
        "strideLengthRunningType": "default",
        "strideLengthWalking": round_to(units.length(user.height_cm * 0.415), 1),
        "strideLengthWalkingType": "default",
        "swimUnit": unit,
        "timezone": user.timezone,
        "topBadges": [],
        "waterUnit": unit,
        "waterUnitName": if units == Units::Us { "fl oz" } else { "ml" },
        "weight": round_to(units.weight(user.weight_kg), 1),
        "weightUnit": unit,
    });
    if let (Some(fields), Value::Object(rest)) = (fields.as_object_mut(), rest) {
        fields.extend(rest);
    }
    json!({ "user": fields })
}

pub(super) fn activities(
    user: &TestUser,
    day: Date,
    units: Units,
    recorded: Option<&RecordedActivity>,
) -> Value {
    let date = day.to_string();
    let mut r = Seed::new(&[&user.user_id, &date, "activity"]);
    let mut steps = r.range(2_500, 15_500);
    let mut very = r.range(0, 55);
    let mut fairly = r.range(0, 40);
    let mut lightly = r.range(140, 320);
    let floors = r.range(0, 22);
    let resting_heart_rate =
        52 + Seed::new(&[&user.user_id, "resting-heart-rate"]).range(0, 12) + r.range(0, 3);
    // Fitbit's sedentary minutes exclude the time asleep.
    let mut sedentary =
        1440u64.saturating_sub(very + fairly + lightly + sleep_plan(user, day).time_in_bed);
    let mut distance_km = steps as f64 * stride_km(user);
    let mut calories_out = None;
    if let Some(recorded) = recorded {
        if let Some(recorded_steps) = recorded.steps {
            steps = recorded_steps;
            distance_km = steps as f64 * stride_km(user);
        }
        distance_km = recorded.distance_km.unwrap_or(distance_km);
        very = recorded.very_active_minutes.unwrap_or(very);
        fairly = recorded.fairly_active_minutes.unwrap_or(fairly);
        lightly = recorded.lightly_active_minutes.unwrap_or(lightly);
        sedentary = recorded.sedentary_minutes.unwrap_or(sedentary);
        calories_out = recorded.calories_out;
    }
    let calories_bmr = bmr(user, day);
    let (calories_out, activity_calories) = match calories_out {
        Some(total) => (total, total.saturating_sub(calories_bmr)),
        None => {
            let active = lightly * 2 + fairly * 5 + very * 9 + steps / 60;
            (calories_bmr + active, active)
        }
    };

    // Split the day's distance over intensity levels by typical speeds.
    let weights = [
        very as f64 * 0.13,
        fairly as f64 * 0.10,
        lightly as f64 * 0.03,
    ];
    let weight_sum: f64 = weights.iter().sum();
    let share = |w: f64| {
        if weight_sum > 0.0 {
            distance_km * w / weight_sum
        } else {
            0.0
        }
    };
    let distance = |km: f64| round_to(units.distance(km), 2);
    json!({
        "activities": [],
        "goals": {
            "activeMinutes": 30,
            "caloriesOut": (calories_bmr + 800) / 10 * 10,
            "distance": distance(8.05),
            "floors": 10,
            "steps": 10_000,
        },
        "summary": {
            "activeScore": -1,
            "activityCalories": activity_calories,
            "caloriesBMR": calories_bmr,
            "caloriesOut": calories_out,
            "distances": [
                { "activity": "total", "distance": distance(distance_km) },
                { "activity": "tracker", "distance": distance(distance_km) },
                { "activity": "loggedActivities", "distance": 0 },
                { "activity": "veryActive", "distance": distance(share(weights[0])) },
                { "activity": "moderatelyActive", "distance": distance(share(weights[1])) },
                { "activity": "lightlyActive", "distance": distance(share(weights[2])) },
                { "activity": "sedentaryActive", "distance": 0 },
            ],
            "elevation": round_to(units.elevation(floors as f64 * 3.048), 2),
            "fairlyActiveMinutes": fairly,
            "floors": floors,
            "lightlyActiveMinutes": lightly,
            "marginalCalories": activity_calories * 55 / 100,
            "restingHeartRate": resting_heart_rate,
            "sedentaryMinutes": sedentary,
            "steps": steps,
            "veryActiveMinutes": very,
        },
    })
}

/// The main sleep that ends on a given day.
struct SleepPlan {
    /// Local time, as Fitbit reports it (without offset).
    start: PrimitiveDateTime,
    time_in_bed: u64,
    deep: u64,
    light: u64,
    rem: u64,
    wake: u64,
    log_id: u64,
}

fn sleep_plan(user: &TestUser, day: Date) -> SleepPlan {
    let mut r = Seed::new(&[&user.user_id, &day.to_string(), "sleep"]);
    let evening = day.previous_day().unwrap_or(day).with_time(time!(22:00));
    // Stage data comes in 30-second epochs.
    let start = evening + Duration::seconds((r.range(0, 150 * 2) * 30) as i64);
    let time_in_bed = r.range(370, 530);
    let wake = r.range(25, 70);
    let asleep = time_in_bed - wake;
    let deep = asleep * r.range(13, 20) / 100;
    let rem = asleep * r.range(18, 25) / 100;
    SleepPlan {
        start,
        time_in_bed,
        deep,
        light: asleep - deep - rem,
        rem,
        wake,
        log_id: 20_000_000_000 + r.next() % 10_000_000_000,
    }
}

fn local_timestamp(at: PrimitiveDateTime) -> String {
    at.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].000"
    ))
    .expect("formattable date-time")
}

/// `total` split into `n` nearly equal parts.
fn split(total: u64, n: u64) -> impl Iterator<Item = u64> {
    (0..n).map(move |i| total / n + u64::from(i < total % n))
}

pub(super) fn sleep(user: &TestUser, day: Date) -> Value {
    let plan = sleep_plan(user, day);
    let asleep = plan.time_in_bed - plan.wake;

    // Four sleep cycles: light, deep, light, REM, then a short awakening.
    let light: Vec<u64> = split(plan.light, 8).collect();
    let deep: Vec<u64> = split(plan.deep, 4).collect();
    let rem: Vec<u64> = split(plan.rem, 4).collect();
    let wake: Vec<u64> = split(plan.wake, 5).collect();
    let mut stages = vec![("wake", wake[0])];
    for cycle in 0..4 {
        stages.extend([
            ("light", light[2 * cycle]),
            ("deep", deep[cycle]),
            ("light", light[2 * cycle + 1]),
            ("rem", rem[cycle]),
            ("wake", wake[cycle + 1]),
        ]);
    }
    let mut at = plan.start;
    let mut data = Vec::new();
    for (level, minutes) in stages.into_iter().filter(|(_, minutes)| *minutes > 0) {
        data.push(
            json!({ "dateTime": local_timestamp(at), "level": level, "seconds": minutes * 60 }),
        );
        at += Duration::minutes(minutes as i64);
    }
    let count = |level: &str| data.iter().filter(|d| d["level"] == level).count();
    let mut averages = Seed::new(&[&user.user_id, &day.to_string(), "sleep-averages"]);
    let mut level_summary = |level: &str, minutes: u64| {
        let thirty_day_avg = (minutes + averages.range(0, 30)).saturating_sub(15);
        json!({ "count": count(level), "minutes": minutes, "thirtyDayAvgMinutes": thirty_day_avg })
    };
    let levels_summary = json!({
        "deep": level_summary("deep", plan.deep),
        "light": level_summary("light", plan.light),
        "rem": level_summary("rem", plan.rem),
        "wake": level_summary("wake", plan.wake),
    });
    json!({
        "sleep": [{
            "dateOfSleep": day.to_string(),
            "duration": plan.time_in_bed * 60_000,
            "efficiency": asleep * 100 / plan.time_in_bed,
            "endTime": local_timestamp(plan.start + Duration::minutes(plan.time_in_bed as i64)),
            "infoCode": 0,
            "isMainSleep": true,
            "levels": { "data": data, "shortData": [], "summary": levels_summary },
            "logId": plan.log_id,
            "logType": "auto_detected",
            "minutesAfterWakeup": 0,
            "minutesAsleep": asleep,
            "minutesAwake": plan.wake,
            "minutesToFallAsleep": 0,
            "startTime": local_timestamp(plan.start),
            "timeInBed": plan.time_in_bed,
            "type": "stages",
        }],
        "summary": {
            "stages": { "deep": plan.deep, "light": plan.light, "rem": plan.rem, "wake": plan.wake },
            "totalMinutesAsleep": asleep,
            "totalSleepRecords": 1,
            "totalTimeInBed": plan.time_in_bed,
        },
    })
}

/// Weighed on about 60 % of days, in the morning, around the user's weight with a slow
/// four-week drift.
pub(super) fn weight(user: &TestUser, day: Date, units: Units) -> Value {
    let mut r = Seed::new(&[&user.user_id, &day.to_string(), "weight"]);
    if r.range(0, 9) < 4 {
        return json!({ "weight": [] });
    }
    let drift = (day.to_julian_day().rem_euclid(28) as f64 - 14.0) * 0.04;
    let noise = r.range(0, 10) as f64 * 0.06 - 0.3;
    let kg = round_to(user.weight_kg + drift + noise, 1);
    let height_m = user.height_cm / 100.0;
    let at = Time::from_hms(
        6 + r.range(0, 2) as u8,
        r.range(0, 59) as u8,
        r.range(0, 59) as u8,
    )
    .expect("valid time");
    // Weight log ids look like the measurement's epoch milliseconds.
    let log_id = day.with_time(at).assume_utc().unix_timestamp() * 1000;
    json!({
        "weight": [{
            "bmi": round_to(kg / (height_m * height_m), 2),
            "date": day.to_string(),
            "logId": log_id,
            "source": "API",
            "time": at.format(format_description!("[hour]:[minute]:[second]")).expect("formattable time"),
            "weight": round_to(units.weight(kg), 1),
        }]
    })
}
