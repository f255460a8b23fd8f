//! The Polar sandbox's stats: what happened so far, for assertions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::api;
use crate::counters;

/// What happened so far, for assertions. Maps are keyed by Polar user id unless noted;
/// endpoints are named `METHOD /v3/template` as in [`super::SERVED_ENDPOINTS`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PolarStats {
    /// Authorization codes issued (consent given).
    pub authorizations: BTreeMap<String, u64>,
    /// Authorizations the configured consent denied.
    pub consent_denials: u64,
    /// `grant_type` (`(missing)` if absent) → outcome (`ok` or the OAuth error) → count.
    pub token_requests: BTreeMap<String, BTreeMap<String, u64>>,
    /// Token requests that redeemed a code a second time.
    pub code_replays: u64,
    /// Live tokens those replays deleted.
    pub tokens_deleted_by_replays: u64,
    /// `/v3` requests with one of the person's live tokens, by endpoint, whatever their
    /// outcome (429s, 403s and injected failures included).
    pub api_calls: BTreeMap<String, BTreeMap<String, u64>>,
    /// Every `/v3` request charged to the partner (bearer or client credentials), by
    /// endpoint.
    pub requests_by_endpoint: BTreeMap<String, u64>,
    /// `/v3` requests that matched no served endpoint (answered 404, or 501 for endpoints
    /// the page names but the sandbox does not serve).
    pub unmatched_requests: u64,
    /// `/v3` requests refused for missing or dead credentials.
    pub unauthorized: u64,
    /// Requests answered 429 (limits or a forced throttle).
    pub throttled: u64,
    /// Requests answered by an injected failure.
    pub injected_failures: u64,
    /// Requests refused because the person lacks Polar's mandatory consents.
    pub consent_refusals: BTreeMap<String, u64>,
    /// Data requests refused because the person is not registered to the partner.
    pub unregistered_refusals: BTreeMap<String, u64>,
    /// Successful `POST /v3/users`.
    pub registrations: BTreeMap<String, u64>,
    /// `DELETE /v3/users/{id}`.
    pub deregistrations: BTreeMap<String, u64>,
    /// Revocations through the admin API or de-registration.
    pub revocations: BTreeMap<String, u64>,
    /// Webhooks created (ping answered 200), including ones deleted since.
    pub webhooks_created: u64,
    /// `PING`s sent (create, URL change, activation).
    pub pings_sent: u64,
    /// Event and raw POSTs sent to the webhook or a given URL.
    pub deliveries_sent: u64,
    /// Of those, the ones not answered 200.
    pub deliveries_failed: u64,
    /// Deactivations after seven days without a successful delivery.
    pub automatic_deactivations: u64,
}

impl PolarStats {
    pub fn token_requests_with(&self, grant_type: &str, outcome: &str) -> u64 {
        counters::nested_count(&self.token_requests, grant_type, outcome)
    }

    /// The person's `/v3` requests, every endpoint together.
    pub fn api_calls_of(&self, polar_user_id: &str) -> u64 {
        counters::nested_sum(&self.api_calls, polar_user_id, |_| true)
    }

    /// The person's data fetches: activities, sleep and exercises (not registration or user
    /// information), whatever their outcome.
    pub fn data_calls_of(&self, polar_user_id: &str) -> u64 {
        counters::nested_sum(&self.api_calls, polar_user_id, api::is_data_fetch)
    }

    /// Requests charged to the partner on one endpoint (`GET /v3/users/activities/{date}`).
    pub fn endpoint_calls(&self, endpoint: &str) -> u64 {
        counters::count(&self.requests_by_endpoint, endpoint)
    }
}
