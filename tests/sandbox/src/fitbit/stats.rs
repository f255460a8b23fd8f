//! The Fitbit sandbox's stats: what happened so far, for assertions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::api;
use crate::counters;

/// What happened so far, for assertions. Maps are keyed by user id unless noted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FitbitStats {
    /// Authorization codes issued (consent given).
    pub authorizations: BTreeMap<String, u64>,
    /// Authorizations the configured consent denied.
    pub consent_denials: u64,
    /// `grant_type` (`(missing)` if absent) → outcome → count. The outcome is `ok`,
    /// `replayed` (an identical refresh inside the grace window) or the error type.
    pub token_requests: BTreeMap<String, BTreeMap<String, u64>>,
    /// Successful refresh-token rotations; grace-window replays are not counted.
    pub refreshes: BTreeMap<String, u64>,
    /// API requests that carried one of the user's valid access tokens, by request path
    /// (as sent, e.g. `/1/user/-/profile.json`), whatever their outcome (429 included).
    pub api_calls: BTreeMap<String, BTreeMap<String, u64>>,
    /// When each of those paths was first called, by user (wall clock, RFC 3339): what the
    /// freshness benchmark times a notification's wait on the queue by.
    #[serde(default)]
    pub first_api_call_at: BTreeMap<String, BTreeMap<String, String>>,
    /// Requests answered 429 (quota used up or forced with `throttle_user`).
    pub throttled: BTreeMap<String, u64>,
    /// Refresh requests answered from the grace window with the earlier response (also
    /// counted as `replayed` in `token_requests`, never in `refreshes`).
    #[serde(default)]
    pub refresh_replays: BTreeMap<String, u64>,
    /// API requests answered by an injected `fail_next_requests` failure.
    #[serde(default)]
    pub injected_failures: u64,
    /// Revocations through `/oauth2/revoke` or the admin API.
    pub revocations: BTreeMap<String, u64>,
    /// Subscriptions created (201) so far, including ones deleted since.
    pub subscriptions_created: BTreeMap<String, u64>,
    /// Current subscriptions: their sorted `collectionType`s (`user` = all collections).
    pub subscriptions: BTreeMap<String, Vec<String>>,
    /// POSTs of notifications to a subscriber.
    pub notifications_sent: u64,
}

impl FitbitStats {
    /// Token requests of `grant_type` that ended with `outcome`.
    pub fn token_requests_with(&self, grant_type: &str, outcome: &str) -> u64 {
        counters::nested_count(&self.token_requests, grant_type, outcome)
    }

    /// Successful rotations of the user's refresh tokens.
    pub fn refreshes_of(&self, user_id: &str) -> u64 {
        counters::count(&self.refreshes, user_id)
    }

    /// API requests of the user, all paths together.
    pub fn api_calls_of(&self, user_id: &str) -> u64 {
        counters::nested_sum(&self.api_calls, user_id, |_| true)
    }

    /// The user's data fetches: activities, sleep and weight by date (not profile or
    /// subscriptions), whatever their outcome (429s and injected failures included).
    pub fn data_calls_of(&self, user_id: &str) -> u64 {
        counters::nested_sum(&self.api_calls, user_id, api::is_data_fetch)
    }

    /// Grace-window replays of the user's refresh requests.
    pub fn replays_of(&self, user_id: &str) -> u64 {
        counters::count(&self.refresh_replays, user_id)
    }
}
