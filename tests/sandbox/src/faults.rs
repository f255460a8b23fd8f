//! Fault injection on a provider sandbox's data API (Fitbit's `/1/user/...`, Google Health's
//! `/v4/...`), for the import pipeline's failure modes: a delay before every response and
//! the next n requests failing, in the provider's error shape or with a raw answer (what a
//! proxy, a truncated transfer or a broken release in front of the API sends instead).
//!
//! Invariants:
//! - Faults never touch OAuth or the admin API: only a provider's data API asks for them.
//! - An injected failure is used up only by a request that reaches the point where the
//!   provider takes it ([`Faults::take_failure`]); where that is, and the error shape it
//!   answers in, are the provider's.
//! - The delay is read under the sandbox's lock and slept without it
//!   ([`delay_response`]), so concurrent requests are delayed concurrently.
//! - The admin route ([`admin_route`]) only injects 4xx and 5xx statuses in the provider's
//!   error shape; a raw answer may have any status (a truncated `200`), and is checked to
//!   make a valid HTTP response before it is accepted.
//! - A raw answer lasts as long as the failures it answers: once the last one is used up,
//!   it is gone, and the next injected failures answer in the provider's shape again.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::admin_api;

/// The active faults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Faults {
    /// The next this many authenticated data API requests fail with `status`.
    pub fail_next_requests: u32,
    pub status: u16,
    /// Delay before every data API response.
    pub latency_ms: u64,
    /// What the failing requests get instead of the provider's error shape (and instead of
    /// `status`), if set.
    #[serde(default)]
    pub raw_answer: Option<RawAnswer>,
    /// The failures hit only requests whose path contains this (one endpoint, one data
    /// type); the others are served. `None`: every data API request.
    #[serde(default)]
    pub only_paths_containing: Option<String>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            fail_next_requests: 0,
            status: 503,
            latency_ms: 0,
            raw_answer: None,
            only_paths_containing: None,
        }
    }
}

/// An answer given byte for byte as configured: status, content type, extra headers and
/// body, and nothing the service itself would add (no rate-limit headers, no error shape).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAnswer {
    pub status: u16,
    pub content_type: String,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawAnswer {
    pub fn new(status: u16, content_type: &str, body: impl Into<String>) -> RawAnswer {
        RawAnswer {
            status,
            content_type: content_type.to_owned(),
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// The same answer with one more header.
    pub fn with_header(mut self, name: &str, value: &str) -> RawAnswer {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Why this cannot be sent as an HTTP response, if it cannot.
    pub(crate) fn invalid(&self) -> Option<String> {
        if !(100..=599).contains(&self.status) {
            return Some(format!(
                "raw answer status {} is no HTTP status",
                self.status
            ));
        }
        if HeaderValue::from_str(&self.content_type).is_err() {
            return Some("raw answer content type is no header value".into());
        }
        self.headers.iter().find_map(|(name, value)| {
            (HeaderName::from_bytes(name.as_bytes()).is_err()
                || HeaderValue::from_str(value).is_err())
            .then(|| format!("raw answer header {name:?} is not a valid header"))
        })
    }

    /// The answer as a response (a `500` naming the problem if it is not a valid one,
    /// which only the methods API can configure: the admin route refuses it).
    pub fn response(&self) -> Response {
        if let Some(problem) = self.invalid() {
            return (StatusCode::INTERNAL_SERVER_ERROR, problem).into_response();
        }
        let mut builder = Response::builder()
            .status(self.status)
            .header(header::CONTENT_TYPE, &self.content_type);
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder
            .body(axum::body::Body::from(self.body.clone()))
            .unwrap_or_else(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response())
    }
}

/// What an injected failure answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Injected {
    /// This status, in the provider's error shape.
    Status(StatusCode),
    /// This answer as it is.
    Raw(RawAnswer),
}

/// A change to the faults (the body of `POST /_admin/<sandbox>/faults`); absent fields keep
/// their current value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultInjection {
    pub fail_next_requests: Option<u32>,
    pub status: Option<u16>,
    pub latency_ms: Option<u64>,
    /// The failures answer this instead of the provider's error shape.
    pub raw_answer: Option<RawAnswer>,
    /// The failures hit only requests whose path contains this.
    pub only_paths_containing: Option<String>,
}

impl FaultInjection {
    /// The next `n` requests fail with `status`.
    pub(crate) fn fail_next(n: u32, status: u16) -> FaultInjection {
        FaultInjection {
            fail_next_requests: Some(n),
            status: Some(status),
            ..FaultInjection::default()
        }
    }

    /// The next `n` requests get `answer`.
    pub(crate) fn answer_next(n: u32, answer: RawAnswer) -> FaultInjection {
        FaultInjection {
            fail_next_requests: Some(n),
            raw_answer: Some(answer),
            ..FaultInjection::default()
        }
    }

    /// Every response waits `latency` (saturating at `u64::MAX` milliseconds).
    pub(crate) fn latency(latency: Duration) -> FaultInjection {
        FaultInjection {
            latency_ms: Some(latency.as_millis().try_into().unwrap_or(u64::MAX)),
            ..FaultInjection::default()
        }
    }
}

impl Faults {
    /// Applies a change and returns the resulting faults.
    pub(crate) fn apply(&mut self, change: FaultInjection) -> Faults {
        if let Some(n) = change.fail_next_requests {
            self.fail_next_requests = n;
        }
        if let Some(status) = change.status {
            self.status = status;
        }
        if let Some(ms) = change.latency_ms {
            self.latency_ms = ms;
        }
        if change.raw_answer.is_some() {
            self.raw_answer = change.raw_answer;
        }
        if change.only_paths_containing.is_some() {
            self.only_paths_containing = change.only_paths_containing;
        }
        if self.fail_next_requests == 0 {
            self.raw_answer = None;
            self.only_paths_containing = None;
        }
        self.clone()
    }

    /// Uses up one injected failure, if any is left for a request to `path`, and returns
    /// what it answers.
    pub(crate) fn take_failure(&mut self, path: &str) -> Option<Injected> {
        if self.fail_next_requests == 0 {
            return None;
        }
        if let Some(part) = &self.only_paths_containing {
            if !path.contains(part.as_str()) {
                return None;
            }
        }
        self.fail_next_requests -= 1;
        let injected = match &self.raw_answer {
            Some(answer) => Injected::Raw(answer.clone()),
            None => Injected::Status(
                StatusCode::from_u16(self.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            ),
        };
        if self.fail_next_requests == 0 {
            self.raw_answer = None;
            self.only_paths_containing = None;
        }
        Some(injected)
    }
}

/// A sandbox whose data API takes injected faults.
pub(crate) trait FaultTarget: Send + Sync + 'static {
    /// Runs `f` on the sandbox's faults under its state lock.
    fn with_faults<R>(&self, f: impl FnOnce(&mut Faults) -> R) -> R;
}

/// Defines a [`FaultTarget`]'s public fault-injection methods. They are inherent methods
/// rather than trait methods because tests in other crates call them by these names without
/// importing a trait.
macro_rules! fault_injection_methods {
    () => {
        /// The active faults.
        pub fn faults(&self) -> $crate::faults::Faults {
            $crate::faults::FaultTarget::with_faults(self, |faults| faults.clone())
        }

        /// Applies a fault injection change and returns the resulting faults.
        pub fn inject_faults(
            &self,
            change: $crate::faults::FaultInjection,
        ) -> $crate::faults::Faults {
            $crate::faults::FaultTarget::with_faults(self, |faults| faults.apply(change))
        }

        /// The next `n` authenticated data API requests answer `status`, in the provider's
        /// error shape.
        pub fn fail_next_requests(&self, n: u32, status: u16) {
            self.inject_faults($crate::faults::FaultInjection::fail_next(n, status));
        }

        /// The next `n` authenticated data API requests whose path contains `part` answer
        /// `status`, in the provider's error shape; the others are served.
        pub fn fail_next_requests_to(&self, part: &str, n: u32, status: u16) {
            self.inject_faults($crate::faults::FaultInjection {
                only_paths_containing: Some(part.to_owned()),
                ..$crate::faults::FaultInjection::fail_next(n, status)
            });
        }

        /// The next `n` authenticated data API requests get `answer` as it is, instead of
        /// the provider's answer or error shape.
        pub fn answer_next_requests(&self, n: u32, answer: $crate::faults::RawAnswer) {
            self.inject_faults($crate::faults::FaultInjection::answer_next(n, answer));
        }

        /// Delays every data API response by `latency`.
        pub fn set_latency(&self, latency: std::time::Duration) {
            self.inject_faults($crate::faults::FaultInjection::latency(latency));
        }

        /// Back to no faults.
        pub fn clear_faults(&self) {
            $crate::faults::FaultTarget::with_faults(self, |faults| {
                *faults = $crate::faults::Faults::default()
            });
        }
    };
}
pub(crate) use fault_injection_methods;

/// Waits the injected latency, if any, before a data API request is served.
pub(crate) async fn delay_response(sandbox: &impl FaultTarget) {
    let latency_ms = sandbox.with_faults(|faults| faults.latency_ms);
    if latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(latency_ms)).await;
    }
}

/// `/_admin/<sandbox>/faults`: `GET` the faults, `POST` a [`FaultInjection`] (answers the
/// resulting faults), `DELETE` them all (204).
pub(crate) fn admin_route<S: FaultTarget>() -> MethodRouter<Arc<S>> {
    get(|State(sandbox): State<Arc<S>>| async move {
        Json(sandbox.with_faults(|faults| faults.clone()))
    })
    .post(inject::<S>)
    .delete(|State(sandbox): State<Arc<S>>| async move {
        sandbox.with_faults(|faults| *faults = Faults::default());
        StatusCode::NO_CONTENT
    })
}

async fn inject<S: FaultTarget>(
    State(sandbox): State<Arc<S>>,
    Json(change): Json<FaultInjection>,
) -> Response {
    if change.status.is_some_and(|s| !(400..=599).contains(&s)) {
        return admin_api::error(StatusCode::BAD_REQUEST, "status must be 4xx or 5xx");
    }
    if let Some(problem) = change.raw_answer.as_ref().and_then(RawAnswer::invalid) {
        return admin_api::error(StatusCode::BAD_REQUEST, &problem);
    }
    Json(sandbox.with_faults(|faults| faults.apply(change))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_answer_lasts_as_long_as_its_failures() {
        let mut faults = Faults::default();
        let page = RawAnswer::new(502, "text/html", "<h1>Bad Gateway</h1>");
        faults.apply(FaultInjection::answer_next(2, page.clone()));
        assert_eq!(
            faults.take_failure("/v4/users/me/dataTypes/steps"),
            Some(Injected::Raw(page.clone()))
        );
        assert_eq!(
            faults.take_failure("/v4/users/me/dataTypes/steps"),
            Some(Injected::Raw(page))
        );
        assert_eq!(faults.take_failure("/v4/users/me/dataTypes/steps"), None);
        assert_eq!(
            faults,
            Faults::default(),
            "the answer went with the last failure"
        );
        faults.apply(FaultInjection::fail_next(1, 500));
        assert_eq!(
            faults.take_failure("/v4/users/me/dataTypes/steps"),
            Some(Injected::Status(StatusCode::INTERNAL_SERVER_ERROR))
        );
    }

    #[test]
    fn a_raw_answer_without_failures_is_not_kept() {
        let mut faults = Faults::default();
        let change = FaultInjection {
            raw_answer: Some(RawAnswer::new(200, "application/json", "{")),
            ..FaultInjection::default()
        };
        assert_eq!(faults.apply(change), Faults::default());
    }

    #[test]
    fn a_raw_answer_is_checked_before_it_is_sent() {
        assert_eq!(
            RawAnswer::new(200, "application/json", "{\"a\":").invalid(),
            None
        );
        assert!(RawAnswer::new(1000, "text/plain", "").invalid().is_some());
        assert!(RawAnswer::new(502, "text/html\r\nX: y", "")
            .invalid()
            .is_some());
        let bad_header = RawAnswer::new(502, "text/html", "").with_header("a b", "c");
        assert!(bad_header.invalid().is_some());
        assert_eq!(
            bad_header.response().status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let ok = RawAnswer::new(429, "text/plain", "slow down").with_header("retry-after", "7");
        let response = ok.response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "7");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/plain");
    }

    #[test]
    fn failures_for_one_path_leave_the_others_alone() {
        let mut faults = Faults::default();
        faults.apply(FaultInjection {
            only_paths_containing: Some("dataTypes/active-minutes".into()),
            ..FaultInjection::fail_next(1, 403)
        });
        assert_eq!(
            faults.take_failure("/v4/users/me/dataTypes/steps/dataPoints"),
            None
        );
        assert_eq!(
            faults.take_failure("/v4/users/me/dataTypes/active-minutes/dataPoints"),
            Some(Injected::Status(StatusCode::FORBIDDEN))
        );
        assert_eq!(
            faults.only_paths_containing, None,
            "used up, the filter goes too"
        );
        assert_eq!(
            faults.take_failure("/v4/users/me/dataTypes/steps/dataPoints"),
            None
        );
    }
}
