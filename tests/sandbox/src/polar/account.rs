//! A Polar Flow account, its registration to the partner, and how its person answers the
//! authorization form.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::synthetic::ActivityPattern;

/// A Polar Flow account. User information and the synthetic data derive from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolarUser {
    /// The Polar user id (`x_user_id`, `polar-user-id`): decimal digits, a number on the wire.
    pub polar_user_id: String,
    pub first_name: String,
    pub last_name: String,
    /// `yyyy-MM-dd`.
    pub birthdate: String,
    /// `MALE` or `FEMALE`.
    pub gender: String,
    pub weight_kg: f64,
    pub height_cm: f64,
    /// IANA name of the person's zone (their days are local days; see `civil_time`).
    pub timezone: String,
    /// `yyyy-MM-dd`: no data before this day.
    pub member_since: String,
    /// Polar's mandatory consents (account.polar.com); without them data calls answer 403.
    #[serde(default = "accepted")]
    pub mandatory_consents_accepted: bool,
    /// How the synthetic days go; `None` derives it from the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<ActivityPattern>,
    /// The registration to the partner (`POST /v3/users`), if registered.
    #[serde(default)]
    pub registration: Option<Registration>,
}

fn accepted() -> bool {
    true
}

impl PolarUser {
    /// A person in Berlin, with every consent accepted, not registered, and neutral
    /// defaults for everything else.
    pub fn new(polar_user_id: &str, first_name: &str, last_name: &str) -> PolarUser {
        PolarUser {
            polar_user_id: polar_user_id.to_owned(),
            first_name: first_name.to_owned(),
            last_name: last_name.to_owned(),
            birthdate: "1990-05-17".to_owned(),
            gender: "MALE".to_owned(),
            weight_kg: 70.0,
            height_cm: 172.0,
            timezone: "Europe/Berlin".to_owned(),
            member_since: "2019-03-12".to_owned(),
            mandatory_consents_accepted: true,
            pattern: None,
            registration: None,
        }
    }

    /// The same person following `pattern` whatever their id.
    pub fn with_pattern(mut self, pattern: ActivityPattern) -> PolarUser {
        self.pattern = Some(pattern);
        self
    }

    /// The pattern the synthetic days follow: the one set, else the one the id derives.
    pub fn activity_pattern(&self) -> ActivityPattern {
        self.pattern
            .unwrap_or_else(|| ActivityPattern::derived_from(&self.polar_user_id))
    }

    /// The id as Polar's JSON carries it (0 if it is not a number, which the admin API
    /// refuses).
    pub(super) fn numeric_id(&self) -> u64 {
        self.polar_user_id.parse().unwrap_or(0)
    }
}

/// A person's registration to the partner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The partner's own identifier of the person.
    pub member_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub registered_at: OffsetDateTime,
}

impl Registration {
    pub fn new(member_id: &str, at: OffsetDateTime) -> Registration {
        Registration {
            member_id: member_id.to_owned(),
            registered_at: at,
        }
    }
}

/// How the simulated person answers the authorization form of the next authorizations (it
/// stays in force until replaced). AccessLink has one scope, so there is nothing to untick.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub polar_user_id: String,
    /// Deny instead of granting the partner access.
    #[serde(default)]
    pub deny: bool,
}

impl Consent {
    pub fn allow(polar_user_id: &str) -> Consent {
        Consent {
            polar_user_id: polar_user_id.to_owned(),
            deny: false,
        }
    }

    pub fn deny(polar_user_id: &str) -> Consent {
        Consent {
            polar_user_id: polar_user_id.to_owned(),
            deny: true,
        }
    }
}
