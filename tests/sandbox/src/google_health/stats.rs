//! The Google sandbox's stats: what happened so far, for assertions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::counters;

/// What happened so far, for assertions. Maps are keyed by health user id unless noted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GoogleHealthStats {
    /// Authorization codes issued (consent given or skipped).
    pub authorizations: BTreeMap<String, u64>,
    /// Authorizations the configured consent denied.
    pub consent_denials: u64,
    /// `grant_type` (`(missing)` if absent) → outcome (`ok` or the OAuth error) → count.
    pub token_requests: BTreeMap<String, BTreeMap<String, u64>>,
    /// Successful `refresh_token` grants.
    pub refreshes: BTreeMap<String, u64>,
    /// Access tokens issued to service accounts, by client email.
    pub service_account_tokens: BTreeMap<String, u64>,
    /// `/v4` requests that carried one of the user's valid access tokens, by discovery
    /// method id, whatever their outcome (429s, 400s and injected failures included);
    /// userinfo calls count as `openidconnect.userinfo`.
    pub api_calls: BTreeMap<String, BTreeMap<String, u64>>,
    /// Every `/v4` request that matched a discovery method, by method id (authenticated
    /// or not, service accounts included).
    pub requests_by_method: BTreeMap<String, u64>,
    /// Requests refused as contract violations (400 on query or body), by method id.
    pub contract_violations: BTreeMap<String, u64>,
    /// `/v4` requests that matched no discovery method (answered 404).
    pub unmatched_requests: u64,
    /// Requests answered 429 for the per-user quota or a forced throttle.
    pub throttled: BTreeMap<String, u64>,
    /// Requests answered 429 for the per-project quota.
    pub project_throttled: u64,
    /// API requests answered by an injected failure.
    pub injected_failures: u64,
    /// Grants revoked through `/revoke` or the admin API.
    pub revocations: BTreeMap<String, u64>,
    /// Subscribers created (verification passed), including ones deleted since.
    pub subscribers_created: u64,
    /// Verification POSTs sent to endpoints.
    pub verification_probes: u64,
    /// Creates and updates refused because verification failed.
    pub verification_failures: u64,
    /// Notification POSTs sent (each duplicate counted).
    pub notifications_sent: u64,
    /// GETs of the webhook keyset.
    pub keyset_fetches: u64,
}

impl GoogleHealthStats {
    pub fn token_requests_with(&self, grant_type: &str, outcome: &str) -> u64 {
        counters::nested_count(&self.token_requests, grant_type, outcome)
    }

    pub fn refreshes_of(&self, user: &str) -> u64 {
        counters::count(&self.refreshes, user)
    }

    pub fn api_calls_of(&self, user: &str) -> u64 {
        counters::nested_sum(&self.api_calls, user, |_| true)
    }

    /// The user's data fetches (`dataPoints` methods: list, dailyRollUp, rollUp, get,
    /// reconcile), whatever their outcome.
    pub fn data_calls_of(&self, user: &str) -> u64 {
        counters::nested_sum(&self.api_calls, user, |id| {
            id.starts_with("health.users.dataTypes.dataPoints.")
        })
    }

    /// Requests that matched the discovery method `id`.
    pub fn method_calls(&self, id: &str) -> u64 {
        counters::count(&self.requests_by_method, id)
    }
}
