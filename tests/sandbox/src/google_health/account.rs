//! A Google account with Google Health data, and how its person answers the consent screen.

use serde::{Deserialize, Serialize};
use time::Date;

use super::data;
use crate::synthetic::ActivityPattern;

/// A Google account with Google Health data. Identity, profile, settings, userinfo and the
/// synthetic data derive from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GoogleUser {
    /// `healthUserId`: the `{user}` of resource names (digits, like Google's).
    pub health_user_id: String,
    /// The Fitbit user id of a person migrated from the legacy API.
    #[serde(default)]
    pub legacy_user_id: Option<String>,
    /// The OpenID Connect subject (Google account id).
    pub sub: String,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub age: u32,
    /// IANA name; a built-in table knows the offsets and DST rules of common zones,
    /// unknown zones count as UTC.
    pub time_zone: String,
    /// BCP 47, e.g. `de-DE`.
    pub language_locale: String,
    #[serde(with = "crate::admin_api::iso_date")]
    pub membership_start_date: Date,
    /// `MALE`, `FEMALE` or anything else; only used for the synthetic calories.
    pub sex: String,
    pub height_cm: f64,
    /// Base of the synthetic weigh-ins.
    pub weight_kg: f64,
    /// Metric units in settings (else US units).
    pub metric: bool,
    /// How the synthetic days go; `None` derives it from the legacy Fitbit id if there is
    /// one (a migrated person keeps the pattern they had at Fitbit), else from the health id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<ActivityPattern>,
}

impl GoogleUser {
    /// A user in Berlin with German locale and neutral defaults for everything else.
    pub fn new(health_user_id: &str, given_name: &str, family_name: &str) -> GoogleUser {
        let local = format!("{given_name}.{family_name}")
            .to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect::<String>();
        GoogleUser {
            health_user_id: health_user_id.to_owned(),
            legacy_user_id: None,
            sub: data::derived_sub(health_user_id),
            email: format!("{local}@example.com"),
            given_name: given_name.to_owned(),
            family_name: family_name.to_owned(),
            age: 36,
            time_zone: "Europe/Berlin".to_owned(),
            language_locale: "de-DE".to_owned(),
            membership_start_date: Date::from_calendar_date(2019, time::Month::March, 12)
                .expect("valid date"),
            sex: "UNSPECIFIED".to_owned(),
            height_cm: 172.0,
            weight_kg: 70.0,
            metric: true,
            pattern: None,
        }
    }

    /// The same person following `pattern` whatever their ids.
    pub fn with_pattern(mut self, pattern: ActivityPattern) -> GoogleUser {
        self.pattern = Some(pattern);
        self
    }

    /// The pattern the synthetic days follow: the one set, else the one the ids derive.
    pub fn activity_pattern(&self) -> ActivityPattern {
        self.pattern.unwrap_or_else(|| {
            ActivityPattern::derived_from(
                self.legacy_user_id
                    .as_deref()
                    .unwrap_or(&self.health_user_id),
            )
        })
    }
}

/// How a user answers Google's consent screen (it stays in force until replaced).
/// `set_consent` also makes the user the one signed in to the simulated browser; an
/// authorize request with a `login_hint` (email or health user id) signs in that user
/// instead, with their own stored answer (or "allow all").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Consent {
    pub health_user_id: String,
    /// Scopes the user leaves ticked (granular consent); `None` grants everything requested.
    /// Sign-in scopes (`openid`, `email`, `profile`) are always granted when requested.
    #[serde(default)]
    pub grant_scopes: Option<Vec<String>>,
    /// Press "Cancel": the redirect carries `error=access_denied`.
    #[serde(default)]
    pub deny: bool,
}

impl Consent {
    pub fn allow_all(health_user_id: &str) -> Consent {
        Consent {
            health_user_id: health_user_id.to_owned(),
            grant_scopes: None,
            deny: false,
        }
    }

    pub fn allow_only(health_user_id: &str, scopes: &[&str]) -> Consent {
        Consent {
            health_user_id: health_user_id.to_owned(),
            grant_scopes: Some(scopes.iter().map(|s| (*s).to_owned()).collect()),
            deny: false,
        }
    }

    pub fn deny(health_user_id: &str) -> Consent {
        Consent {
            health_user_id: health_user_id.to_owned(),
            grant_scopes: None,
            deny: true,
        }
    }
}
