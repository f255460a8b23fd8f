//! A Fitbit account, and how its user answers the consent screen.

use serde::{Deserialize, Serialize};

use crate::synthetic::ActivityPattern;

/// A Fitbit account. Profile responses and the synthetic data derive from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestUser {
    /// The 6-character encoded id, e.g. `GGNJL9`.
    pub user_id: String,
    pub display_name: String,
    pub full_name: String,
    pub first_name: String,
    pub last_name: String,
    /// `MALE`, `FEMALE` or `NA`.
    pub gender: String,
    /// `yyyy-MM-dd`.
    pub date_of_birth: String,
    /// IANA name; a built-in table knows the offsets (and DST rules) of common zones,
    /// unknown zones count as UTC.
    pub timezone: String,
    pub locale: String,
    pub country: String,
    /// `yyyy-MM-dd`.
    pub member_since: String,
    pub height_cm: f64,
    /// Base of the synthetic weight log and the profile's `weight`.
    pub weight_kg: f64,
    /// How the synthetic days go; `None` derives it from the user id
    /// ([`ActivityPattern::derived_from`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<ActivityPattern>,
}

impl TestUser {
    /// A user in Berlin with German locale and neutral defaults for everything else.
    pub fn new(user_id: &str, first_name: &str, last_name: &str) -> TestUser {
        let initial = last_name
            .chars()
            .next()
            .map(|c| format!(" {c}."))
            .unwrap_or_default();
        TestUser {
            user_id: user_id.to_owned(),
            display_name: format!("{first_name}{initial}"),
            full_name: format!("{first_name} {last_name}").trim().to_owned(),
            first_name: first_name.to_owned(),
            last_name: last_name.to_owned(),
            gender: "NA".to_owned(),
            date_of_birth: "1990-05-17".to_owned(),
            timezone: "Europe/Berlin".to_owned(),
            locale: "de_DE".to_owned(),
            country: "DE".to_owned(),
            member_since: "2019-03-12".to_owned(),
            height_cm: 172.0,
            weight_kg: 70.0,
            pattern: None,
        }
    }

    /// The same user following `pattern` whatever their id.
    pub fn with_pattern(mut self, pattern: ActivityPattern) -> TestUser {
        self.pattern = Some(pattern);
        self
    }

    /// The pattern the synthetic days follow: the one set, else the one the id derives.
    pub fn activity_pattern(&self) -> ActivityPattern {
        self.pattern
            .unwrap_or_else(|| ActivityPattern::derived_from(&self.user_id))
    }
}

/// How the simulated user answers the consent screen of the next authorizations
/// (it stays in force until replaced).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Consent {
    pub user_id: String,
    /// Scopes the user leaves ticked; `None` grants everything requested.
    #[serde(default)]
    pub grant_scopes: Option<Vec<String>>,
    /// Press "Deny" instead of "Allow".
    #[serde(default)]
    pub deny: bool,
}

impl Consent {
    /// `user_id` allows everything requested.
    pub fn allow_all(user_id: &str) -> Consent {
        Consent {
            user_id: user_id.to_owned(),
            grant_scopes: None,
            deny: false,
        }
    }

    /// `user_id` unticks every scope except `scopes`.
    pub fn allow_only(user_id: &str, scopes: &[&str]) -> Consent {
        Consent {
            user_id: user_id.to_owned(),
            grant_scopes: Some(scopes.iter().map(|s| (*s).to_owned()).collect()),
            deny: false,
        }
    }

    pub fn deny(user_id: &str) -> Consent {
        Consent {
            user_id: user_id.to_owned(),
            grant_scopes: None,
            deny: true,
        }
    }
}
