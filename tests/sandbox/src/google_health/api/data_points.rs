//! The data point reads: `dataPoints.list` (filtering, newest first, paging) and
//! `dataPoints.dailyRollUp` (windows over a civil date range), over the recorded or synthetic
//! data of a user's days.
//!
//! Invariants: a user has data only from their membership start up to their today, and not
//! on days they deleted; a list holds only items that have ended by the sandbox clock. Both
//! reads check, in this order, that the method supports the data type, that the scopes may
//! read it, and that the data source family is valid.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime};

use super::paging::{data_page_size, fingerprint, page_offset, page_response};
use super::QueryParams;
use crate::civil_time;
use crate::google_health::data::{self, DayActivity, ExerciseSession, SleepSession, WeightSample};
use crate::google_health::data_types::{
    filter_fields, read_access, ReadAccess, LIST_TYPES, ROLLUP_TYPES,
};
use crate::google_health::error::ApiError;
use crate::google_health::filter::{Filter, Typed};
use crate::google_health::{DataKind, GoogleHealthSandbox, GoogleUser, State};

/// Data types whose roll-ups are limited to 14 days (and 14 windows per page).
const FOURTEEN_DAY_TYPES: [&str; 4] = [
    "calories-in-heart-rate-zone",
    "heart-rate",
    "active-minutes",
    "total-calories",
];

/// A civil date of a `Date` JSON message.
fn civil_date(value: &Value, field: &str) -> Result<Date, ApiError> {
    let part = |name: &str| {
        value["date"][name]
            .as_i64()
            .or_else(|| value["date"][name].as_str().and_then(|s| s.parse().ok()))
    };
    let (Some(year), Some(month), Some(day)) = (part("year"), part("month"), part("day")) else {
        return Err(ApiError::bad_request(
            format!("{field}.date must be a full date."),
            Some(field),
        ));
    };
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| Month::try_from(m).ok());
    let date = month.and_then(|m| {
        Date::from_calendar_date(i32::try_from(year).ok()?, m, u8::try_from(day).ok()?).ok()
    });
    let Some(date) = date else {
        return Err(ApiError::bad_request(
            format!("{field}.date is not a valid date."),
            Some(field),
        ));
    };
    let time = &value["time"];
    let nonzero = ["hours", "minutes", "seconds", "nanos"]
        .iter()
        .any(|n| time[*n].as_i64().unwrap_or(0) != 0);
    if nonzero {
        return Err(ApiError::bad_request(
            "The start and end times must be aligned with the aggregation window.",
            Some(field),
        ));
    }
    Ok(date)
}

/// The data point reads the sandbox simulates.
#[derive(Clone, Copy)]
enum DataRead {
    List,
    DailyRollUp,
}

impl DataRead {
    fn method_id(self) -> &'static str {
        match self {
            DataRead::List => "health.users.dataTypes.dataPoints.list",
            DataRead::DailyRollUp => "health.users.dataTypes.dataPoints.dailyRollUp",
        }
    }
}

/// A list item of the simulated data types, with what filters compare.
enum Item {
    Sleep(SleepSession),
    Weight(WeightSample),
    Exercise(ExerciseSession),
}

impl Item {
    fn start(&self) -> OffsetDateTime {
        match self {
            Item::Sleep(s) => s.start,
            Item::Weight(w) => w.at,
            Item::Exercise(e) => e.start,
        }
    }

    fn id(&self) -> &str {
        match self {
            Item::Sleep(s) => &s.id,
            Item::Weight(w) => &w.id,
            Item::Exercise(e) => &e.id,
        }
    }

    fn field(&self, name: &str) -> Option<Typed> {
        let civil = |at: OffsetDateTime| Typed::Civil(PrimitiveDateTime::new(at.date(), at.time()));
        let suffix = name.rsplit_once('.').map_or(name, |(_, s)| s);
        match (self, suffix) {
            (Item::Sleep(s), "end_time") => Some(Typed::Instant(s.end)),
            (Item::Sleep(s), "civil_end_time") => Some(civil(s.end)),
            (Item::Exercise(e), "civil_start_time") => Some(civil(e.start)),
            (Item::Weight(w), "physical_time") => Some(Typed::Instant(w.at)),
            (Item::Weight(w), "civil_time") => Some(civil(w.at)),
            _ => None,
        }
    }

    fn json(&self, health_user_id: &str) -> Value {
        match self {
            Item::Sleep(s) => data::sleep_point(health_user_id, s),
            Item::Weight(w) => data::weight_point(health_user_id, w),
            Item::Exercise(e) => data::exercise_point(health_user_id, e),
        }
    }
}

impl State {
    /// Whether the user has data of `kind` on `day`: their membership had started, the day
    /// is not in the future, and they did not delete it.
    fn has_data(&self, user: &GoogleUser, day: Date, kind: DataKind, now: OffsetDateTime) -> bool {
        day >= user.membership_start_date
            && day <= civil_time::local_date(&user.time_zone, now)
            && !self
                .deleted
                .contains(&(user.health_user_id.clone(), day, kind))
    }

    pub(super) fn day_activity(
        &self,
        user: &GoogleUser,
        day: Date,
        now: OffsetDateTime,
    ) -> Option<DayActivity> {
        if !self.has_data(user, day, DataKind::Activity, now) {
            return None;
        }
        let recorded = self.days.get(&(user.health_user_id.clone(), day));
        Some(data::day_activity(
            user,
            day,
            recorded,
            data::elapsed_fraction(user, day, now),
            civil_time::local_date(&user.time_zone, now),
        ))
    }

    fn sleep_of(&self, user: &GoogleUser, day: Date, now: OffsetDateTime) -> Vec<SleepSession> {
        if !self.has_data(user, day, DataKind::Sleep, now) {
            return Vec::new();
        }
        match self.sleep.get(&(user.health_user_id.clone(), day)) {
            Some(recorded) => data::recorded_sleep(user, recorded),
            None => data::synthetic_sleep(user, day),
        }
        .into_iter()
        .filter(|s| s.end <= now)
        .collect()
    }

    fn weights_of(&self, user: &GoogleUser, day: Date, now: OffsetDateTime) -> Vec<WeightSample> {
        if !self.has_data(user, day, DataKind::Weight, now) {
            return Vec::new();
        }
        match self.weights.get(&(user.health_user_id.clone(), day)) {
            Some(recorded) => recorded
                .iter()
                .map(|w| data::recorded_weight(user, w))
                .collect::<Vec<_>>(),
            None => data::synthetic_weight(user, day).into_iter().collect(),
        }
        .into_iter()
        .filter(|w| w.at <= now)
        .collect()
    }

    fn exercises_of(
        &self,
        user: &GoogleUser,
        day: Date,
        now: OffsetDateTime,
    ) -> Vec<ExerciseSession> {
        if !self.has_data(user, day, DataKind::Exercise, now) {
            return Vec::new();
        }
        match self.exercises.get(&(user.health_user_id.clone(), day)) {
            Some(recorded) => recorded
                .iter()
                .map(|e| data::recorded_exercise(user, e))
                .collect::<Vec<_>>(),
            None => {
                data::synthetic_exercise(user, day, civil_time::local_date(&user.time_zone, now))
            }
        }
        .into_iter()
        .filter(|e| e.end <= now)
        .collect()
    }
}

impl GoogleHealthSandbox {
    /// The checks both data point reads start with, in this order: the method supports the
    /// data type, the scopes allow reading it, the data source family is valid. Returns the
    /// read access and whether only the app's own writes were asked for (`self-sources`).
    fn check_data_read(
        &self,
        read: DataRead,
        data_type: &str,
        users_id: &str,
        scopes: &BTreeSet<String>,
        family: Option<&str>,
    ) -> Result<(ReadAccess, bool), ApiError> {
        let (supported, other) = match read {
            DataRead::List => (&*LIST_TYPES, &*ROLLUP_TYPES),
            DataRead::DailyRollUp => (&*ROLLUP_TYPES, &*LIST_TYPES),
        };
        if !supported.contains(data_type) {
            let message = match read {
                _ if !other.contains(data_type) => format!("Unsupported data type: {data_type}"),
                DataRead::List => {
                    format!("Data type {data_type} cannot be listed; use rollUp or dailyRollUp.")
                }
                DataRead::DailyRollUp => {
                    format!("Data type {data_type} does not support daily roll-ups.")
                }
            };
            return Err(ApiError::bad_request(message, Some("parent")));
        }
        let access = read_access(scopes, data_type)
            .ok_or_else(|| ApiError::insufficient_scopes(read.method_id()))?;
        let Some(family) = family.filter(|f| !f.is_empty()) else {
            return Ok((access, false));
        };
        let parts: Vec<&str> = family.split('/').collect();
        let valid = matches!(parts[..], ["users", user, "dataSourceFamilies", name]
            if (user == "me" || user == users_id)
                && matches!(name, "all-sources" | "google-wearables" | "google-sources" | "self-sources"));
        if !valid {
            return Err(ApiError::bad_request(
                format!("Invalid data source family: {family}"),
                Some("data_source_family"),
            ));
        }
        if data_type == "sleep" {
            return Err(ApiError::bad_request(
                "Filtering by data source family is not supported for the sleep data type; use ReconcileDataPoints.",
                Some("data_source_family"),
            ));
        }
        Ok((access, family.ends_with("/self-sources")))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn list_data_points(
        &self,
        st: &State,
        user: &GoogleUser,
        users_id: &str,
        data_type: &str,
        scopes: &BTreeSet<String>,
        query: &QueryParams<'_>,
        now: OffsetDateTime,
    ) -> Result<Value, ApiError> {
        let (access, self_sources) = self.check_data_read(
            DataRead::List,
            data_type,
            users_id,
            scopes,
            query.get("dataSourceFamily"),
        )?;
        let session_like = matches!(data_type, "sleep" | "exercise");
        let (default_size, max_size) = if session_like {
            (25, 25)
        } else {
            (1440, 10_000)
        };
        let page_size = data_page_size(
            query.get("pageSize").and_then(|s| s.parse().ok()),
            default_size,
            max_size,
        )?;
        let filter_text = query.get("filter").unwrap_or_default();
        let (fields, allow_or) = filter_fields(data_type);
        let filter = if filter_text.trim().is_empty() {
            None
        } else {
            let kind = |name: &str| fields.iter().find(|(f, _)| f == name).map(|(_, k)| *k);
            Some(Filter::parse(filter_text, &kind, allow_or).map_err(|e| {
                ApiError::bad_request(format!("Invalid filter: {e}"), Some("filter"))
            })?)
        };
        let print = fingerprint(&[
            &user.health_user_id,
            data_type,
            filter_text,
            query.get("dataSourceFamily").unwrap_or_default(),
        ]);
        let offset = page_offset(query.get("pageToken"), &print)?;
        let simulated = matches!(data_type, "sleep" | "weight" | "exercise");
        if !simulated || access == ReadAccess::OwnWritesOnly || self_sources {
            return Ok(json!({}));
        }

        let today = civil_time::local_date(&user.time_zone, now);
        let (lo, hi) = filter.as_ref().map_or((None, None), Filter::date_bounds);
        let lo = lo
            .unwrap_or(user.membership_start_date)
            .max(user.membership_start_date);
        let hi = hi.unwrap_or(today).min(today.next_day().unwrap_or(today));
        let mut items = Vec::new();
        let mut day = lo;
        while day <= hi {
            match data_type {
                "sleep" => items.extend(st.sleep_of(user, day, now).into_iter().map(Item::Sleep)),
                "weight" => {
                    items.extend(st.weights_of(user, day, now).into_iter().map(Item::Weight))
                }
                _ => items.extend(
                    st.exercises_of(user, day, now)
                        .into_iter()
                        .map(Item::Exercise),
                ),
            }
            let Some(next) = day.next_day() else { break };
            day = next;
        }
        if let Some(filter) = &filter {
            items.retain(|item| filter.matches(&|name| item.field(name)));
        }
        // Newest first by start time (the list method's documented order).
        items.sort_by(|a, b| b.start().cmp(&a.start()).then_with(|| a.id().cmp(b.id())));
        let page: Vec<Value> = items
            .iter()
            .skip(offset)
            .take(page_size)
            .map(|item| item.json(&user.health_user_id))
            .collect();
        Ok(Value::Object(page_response(
            "dataPoints",
            page,
            offset + page_size,
            items.len(),
            &print,
        )))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn daily_roll_up(
        &self,
        st: &State,
        user: &GoogleUser,
        users_id: &str,
        data_type: &str,
        scopes: &BTreeSet<String>,
        body: &Value,
        now: OffsetDateTime,
    ) -> Result<Value, ApiError> {
        let (access, self_sources) = self.check_data_read(
            DataRead::DailyRollUp,
            data_type,
            users_id,
            scopes,
            body["dataSourceFamily"].as_str(),
        )?;
        let range = &body["range"];
        if range.is_null() || range["start"].is_null() || range["end"].is_null() {
            return Err(ApiError::bad_request(
                "range with start and end is required.",
                Some("range"),
            ));
        }
        let start = civil_date(&range["start"], "range.start")?;
        let end = civil_date(&range["end"], "range.end")?;
        if end <= start {
            return Err(ApiError::bad_request(
                "range.end must be after range.start.",
                Some("range"),
            ));
        }
        let days = (end - start).whole_days();
        let fourteen = FOURTEEN_DAY_TYPES.contains(&data_type);
        let max_days = if fourteen { 14 } else { 90 };
        if days > max_days {
            return Err(ApiError::bad_request(
                format!("The maximum range for {data_type} is {max_days} days; the request spans {days} days."),
                Some("range"),
            ));
        }
        let window = match &body["windowSizeDays"] {
            Value::Null => 1,
            value => value
                .as_i64()
                .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
                .unwrap_or(0),
        };
        if window < 1 {
            return Err(ApiError::bad_request(
                "window_size_days must be positive.",
                Some("window_size_days"),
            ));
        }
        let max_page = if fourteen { 14 } else { 90 };
        let page_size = data_page_size(body["pageSize"].as_i64(), max_page, max_page)?;
        let print = fingerprint(&[
            &user.health_user_id,
            data_type,
            &range.to_string(),
            &window.to_string(),
            body["dataSourceFamily"].as_str().unwrap_or_default(),
        ]);
        let offset = page_offset(body["pageToken"].as_str(), &print)?;

        let mut windows = Vec::new();
        let mut window_start = start;
        while window_start < end {
            let window_end = (window_start + time::Duration::days(window)).min(end);
            windows.push((window_start, window_end));
            window_start = window_end;
        }
        let readable = access == ReadAccess::All && !self_sources;
        let points: Vec<Value> = windows
            .iter()
            .skip(offset)
            .take(page_size)
            .map(|&(from, to)| {
                let mut point = json!({
                    "civilStartTime": data::civil_json(from.midnight()),
                    "civilEndTime": data::civil_json(to.midnight()),
                });
                let mut day_list = Vec::new();
                let mut d = from;
                while d < to {
                    day_list.push(d);
                    d = d.next_day().unwrap_or(to);
                }
                let value = if !readable {
                    None
                } else if data_type == "weight" {
                    let samples: Vec<WeightSample> = day_list
                        .iter()
                        .flat_map(|d| st.weights_of(user, *d, now))
                        .collect();
                    data::weight_rollup(&samples)
                } else {
                    let activity: Vec<DayActivity> = day_list
                        .iter()
                        .filter_map(|d| st.day_activity(user, *d, now))
                        .collect();
                    data::activity_rollup(data_type, &activity)
                };
                if let Some((field, value)) = value {
                    point[field] = value;
                }
                point
            })
            .collect();
        Ok(Value::Object(page_response(
            "rollupDataPoints",
            points,
            offset + page_size,
            windows.len(),
            &print,
        )))
    }
}
