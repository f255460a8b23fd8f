//! The data endpoints of a registered person: daily activity, sleep and exercises, with the
//! page's answers for days without data (204 for activity, 404 for sleep), dates older than
//! 365 days (400) and ranges over 28 days (400).
//!
//! Invariants: a person has data on the days from their membership start to their local
//! today (by the sandbox clock) that no test emptied; an exercise is listed once uploaded,
//! if uploaded after the person's registration and within the last 30 days.

use axum::http::StatusCode;
use axum::response::Response;
use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime};

use super::api::{empty, ok_json};
use super::data::{self, SampleOptions, Workout};
use super::error::ApiError;
use super::wire::{ActivitySummary, AvailableSleep, AvailableSleeps, Nights};
use super::{PolarUser, Registration, State};
use crate::civil_time::local_date;

/// How far back a date may be: "Date cannot be older than 365 days from today".
const MAX_AGE_DAYS: i64 = 365;
/// The longest activity range, and the lists' span: 28 days.
const LIST_DAYS: i64 = 28;
/// Exercises stay listed 30 days after upload.
const EXERCISE_DAYS: i64 = 30;

fn parse_date(text: &str) -> Option<Date> {
    Date::parse(text, format_description!("[year]-[month]-[day]")).ok()
}

fn query_params(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn flag(params: &[(String, String)], name: &str) -> bool {
    params
        .iter()
        .any(|(n, v)| n == name && v.eq_ignore_ascii_case("true"))
}

fn sample_options(params: &[(String, String)]) -> SampleOptions {
    SampleOptions {
        steps: flag(params, "steps"),
        activity_zones: flag(params, "activity_zones"),
        inactivity_stamps: flag(params, "inactivity_stamps"),
    }
}

/// A registered person's reads at the sandbox clock's `now`.
pub(super) struct Reads<'a> {
    pub(super) st: &'a State,
    pub(super) user: &'a PolarUser,
    pub(super) registration: &'a Registration,
    pub(super) now: OffsetDateTime,
}

impl Reads<'_> {
    fn today(&self) -> Date {
        local_date(&self.user.timezone, self.now)
    }

    fn has_data(&self, day: Date) -> bool {
        let since = parse_date(&self.user.member_since).unwrap_or(Date::MIN);
        day >= since
            && day <= self.today()
            && !self
                .st
                .deleted
                .contains(&(self.user.polar_user_id.clone(), day))
    }

    fn summary(&self, day: Date, options: SampleOptions) -> Option<ActivitySummary> {
        self.has_data(day).then(|| {
            let recorded = self
                .st
                .activity
                .get(&(self.user.polar_user_id.clone(), day));
            data::activity(self.user, day, self.today(), recorded, options)
        })
    }

    /// A date of the path or query: 400 if malformed or older than 365 days.
    fn recent_date(&self, text: &str) -> Result<Date, ApiError> {
        let day = parse_date(text)
            .ok_or_else(|| ApiError::bad_request(format!("Invalid date: {text}")))?;
        if day < self.today() - Duration::days(MAX_AGE_DAYS) {
            return Err(ApiError::bad_request(format!(
                "Too old date: {text}. Cannot be older than {MAX_AGE_DAYS} days."
            )));
        }
        Ok(day)
    }

    /// `GET /v3/users/activities/{date}`: 200, or 204 for a day without data.
    pub(super) fn activity(&self, date: &str, query: &str) -> Result<Response, ApiError> {
        let day = self.recent_date(date)?;
        let options = sample_options(&query_params(query));
        Ok(match self.summary(day, options) {
            Some(summary) => ok_json(summary),
            None => empty(StatusCode::NO_CONTENT),
        })
    }

    /// `GET /v3/users/activities`: the last 28 days, or `?from=&to=` (to defaults to today;
    /// at most 28 days apart), days without data left out, oldest first.
    pub(super) fn activities(&self, query: &str) -> Result<Response, ApiError> {
        let params = query_params(query);
        let get = |name: &str| params.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let today = self.today();
        let (from, to) = match (get("from"), get("to")) {
            (None, None) => (today - Duration::days(LIST_DAYS - 1), today),
            (None, Some(_)) => return Err(ApiError::bad_request("from is required with to")),
            (Some(from), to) => {
                let from = self.recent_date(from)?;
                let to = match to {
                    Some(to) => parse_date(to)
                        .ok_or_else(|| ApiError::bad_request(format!("Invalid date: {to}")))?,
                    None => today,
                };
                if to < from || (to - from).whole_days() > LIST_DAYS {
                    return Err(ApiError::bad_request(format!(
                        "Invalid range: to must be after from, at most {LIST_DAYS} days apart"
                    )));
                }
                (from, to)
            }
        };
        let options = sample_options(&params);
        let days = (0..=(to - from).whole_days()).map(|n| from + Duration::days(n));
        let list: Vec<ActivitySummary> = days.filter_map(|d| self.summary(d, options)).collect();
        Ok(ok_json(list))
    }

    /// The last 28 nights with data, oldest first.
    fn recent_nights(&self) -> impl Iterator<Item = Date> + '_ {
        let today = self.today();
        (0..LIST_DAYS)
            .rev()
            .map(move |back| today - Duration::days(back))
            .filter(|day| self.has_data(*day))
    }

    fn user_link(&self) -> String {
        self.st.user_link(&self.user.polar_user_id)
    }

    /// `GET /v3/users/sleep/{date}`: 200, 400 for a malformed date, 404 without data.
    pub(super) fn sleep(&self, date: &str) -> Result<Response, ApiError> {
        let day = parse_date(date)
            .ok_or_else(|| ApiError::bad_request(format!("Invalid date: {date}")))?;
        if !self.has_data(day) {
            return Err(ApiError::not_found(format!(
                "No data found for date {date}"
            )));
        }
        Ok(ok_json(data::sleep(self.user, day, &self.user_link())))
    }

    /// `GET /v3/users/sleep`.
    pub(super) fn nights(&self) -> Result<Response, ApiError> {
        let link = self.user_link();
        let nights = self
            .recent_nights()
            .map(|day| data::sleep(self.user, day, &link))
            .collect();
        Ok(ok_json(Nights { nights }))
    }

    /// `GET /v3/users/sleep/available`.
    pub(super) fn available_sleep(&self) -> Result<Response, ApiError> {
        let available = self
            .recent_nights()
            .map(|day| {
                let (start_time, end_time) = data::sleep_times(self.user, day);
                AvailableSleep {
                    date: day.to_string(),
                    start_time,
                    end_time,
                }
            })
            .collect();
        Ok(ok_json(AvailableSleeps { available }))
    }

    /// The exercises AccessLink lists now, oldest upload first.
    pub(super) fn visible_workouts(&self) -> Vec<Workout> {
        let today = self.today();
        let mut visible: Vec<(OffsetDateTime, Workout)> = (0..=EXERCISE_DAYS + 1)
            .map(|back| today - Duration::days(back))
            .filter(|day| self.has_data(*day))
            .flat_map(|day| data::workouts(self.user, day, today))
            .filter_map(|w| {
                let uploaded = w.upload_time(self.user);
                let listed = uploaded <= self.now
                    && uploaded >= self.registration.registered_at
                    && self.now - uploaded <= Duration::days(EXERCISE_DAYS);
                listed.then_some((uploaded, w))
            })
            .collect();
        visible.sort_by_key(|(uploaded, _)| *uploaded);
        visible.into_iter().map(|(_, w)| w).collect()
    }

    /// `GET /v3/exercises`.
    pub(super) fn exercises(&self) -> Result<Response, ApiError> {
        let link = self.user_link();
        let list: Vec<_> = self
            .visible_workouts()
            .iter()
            .map(|w| data::exercise(self.user, w, &link))
            .collect();
        Ok(ok_json(list))
    }

    /// `GET /v3/exercises/{exerciseId}`: 404 unless listed.
    pub(super) fn exercise(&self, id: &str) -> Result<Response, ApiError> {
        let workout = self
            .visible_workouts()
            .into_iter()
            .find(|w| w.id == id)
            .ok_or_else(|| ApiError::not_found(format!("Exercise not found: {id}")))?;
        Ok(ok_json(data::exercise(
            self.user,
            &workout,
            &self.user_link(),
        )))
    }
}
