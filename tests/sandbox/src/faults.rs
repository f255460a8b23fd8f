//! Fault injection on a provider sandbox's data API (Fitbit's `/1/user/...`, Google Health's
//! `/v4/...`), for the import pipeline's failure modes: a delay before every response and
//! the next n requests failing.
//!
//! Invariants:
//! - Faults never touch OAuth or the admin API: only a provider's data API asks for them.
//! - An injected failure is used up only by a request that reaches the point where the
//!   provider takes it ([`Faults::take_failure`]); where that is, and the error shape it
//!   answers in, are the provider's.
//! - The delay is read under the sandbox's lock and slept without it
//!   ([`delay_response`]), so concurrent requests are delayed concurrently.
//! - The admin route ([`admin_route`]) only injects 4xx and 5xx statuses.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
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
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            fail_next_requests: 0,
            status: 503,
            latency_ms: 0,
        }
    }
}

/// A change to the faults (the body of `POST /_admin/<sandbox>/faults`); absent fields keep
/// their current value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultInjection {
    pub fail_next_requests: Option<u32>,
    pub status: Option<u16>,
    pub latency_ms: Option<u64>,
}

impl FaultInjection {
    /// The next `n` requests fail with `status`.
    pub(crate) fn fail_next(n: u32, status: u16) -> FaultInjection {
        FaultInjection {
            fail_next_requests: Some(n),
            status: Some(status),
            latency_ms: None,
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
        self.clone()
    }

    /// Uses up one injected failure, if any is left, and returns its status.
    pub(crate) fn take_failure(&mut self) -> Option<StatusCode> {
        if self.fail_next_requests == 0 {
            return None;
        }
        self.fail_next_requests -= 1;
        Some(StatusCode::from_u16(self.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE))
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
    Json(sandbox.with_faults(|faults| faults.apply(change))).into_response()
}
