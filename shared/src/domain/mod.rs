//! The domain: plain types and pure rules. It knows nothing of AWS, HTTP, SAP or any
//! provider's wire format, and imports nothing of the crate but itself; a provider is only
//! a [`ProviderKind`], a name.

use std::collections::BTreeSet;
use std::fmt;

use time::{Date, OffsetDateTime};

pub mod link;
pub mod local_day;
pub mod mapping;
pub mod pkce;
pub mod provider_kind;
pub mod secret;
pub mod signals;
pub mod work;

pub use provider_kind::{ProviderKind, UnknownProvider};
pub use secret::Secret;
pub use work::{Outcome, Priority, Task, WorkItem};

/// The provider's own id of a person.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct ProviderUserId(pub String);

impl fmt::Display for ProviderUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A person as one provider knows them: the provider and its id for them. The key of their
/// connection, and of everything stored about them per provider.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonKey {
    pub provider: ProviderKind,
    pub user_id: ProviderUserId,
}

impl PersonKey {
    pub fn new(provider: ProviderKind, user_id: impl Into<String>) -> Self {
        PersonKey {
            provider,
            user_id: ProviderUserId(user_id.into()),
        }
    }

    pub fn of(provider: ProviderKind, user_id: &ProviderUserId) -> Self {
        PersonKey {
            provider,
            user_id: user_id.clone(),
        }
    }
}

/// `provider/user_id`, as operators name a person.
impl fmt::Display for PersonKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.user_id)
    }
}

/// The set of OAuth scopes a person granted (they may untick some).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scopes(pub BTreeSet<String>);

impl Scopes {
    /// Parses a space-separated scope string, as OAuth token responses carry it.
    pub fn parse(s: &str) -> Scopes {
        Scopes(s.split_whitespace().map(str::to_owned).collect())
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    pub fn to_space_separated(&self) -> String {
        self.0
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A kind of data a provider notifies us about and we import.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Collection {
    Activities,
    Body,
    Sleep,
}

impl Collection {
    pub const ALL: [Collection; 3] = [Collection::Activities, Collection::Body, Collection::Sleep];

    pub fn as_str(self) -> &'static str {
        match self {
            Collection::Activities => "activities",
            Collection::Body => "body",
            Collection::Sleep => "sleep",
        }
    }
}

impl fmt::Display for Collection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Access and refresh token as issued by a provider.
#[derive(Clone, Debug)]
pub struct TokenSet {
    pub access_token: Secret,
    pub refresh_token: Secret,
    pub expires_at: OffsetDateTime,
    pub scopes: Scopes,
}

/// What a provider tells us about a person, normalised. Everything but the id is optional:
/// the person may not have granted the profile scope, and providers omit fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    pub full_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub gender: Option<Gender>,
    pub birth_date: Option<Date>,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<String>,
    /// ISO 639-1, upper case (SAP's language key).
    pub language: Option<String>,
    /// IANA time zone, e.g. `Europe/Berlin`; days are the person's local days.
    pub timezone: Option<String>,
    /// An address the provider verified; only where the company asked for it.
    pub email: Option<String>,
    /// In years, where the provider gives an age rather than a birth date.
    pub age: Option<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gender {
    Female,
    Male,
    Unknown,
}

/// Lifecycle of a connection. Only `Active` connections get work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionStatus {
    Active,
    /// The refresh token was rejected: the person must consent again.
    NeedsReconsent,
    /// The provider answered 410 Gone: the person must migrate to the successor API.
    ProviderGone,
    /// The provider refuses the person's data until they accept its own mandatory consents
    /// (in their account there, not with us); reconnecting afterwards makes them active.
    ConsentsMissing,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Active => "active",
            ConnectionStatus::NeedsReconsent => "needs_reconsent",
            ConnectionStatus::ProviderGone => "provider_gone",
            ConnectionStatus::ConsentsMissing => "consents_missing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(ConnectionStatus::Active),
            "needs_reconsent" => Some(ConnectionStatus::NeedsReconsent),
            "provider_gone" => Some(ConnectionStatus::ProviderGone),
            "consents_missing" => Some(ConnectionStatus::ConsentsMissing),
            _ => None,
        }
    }
}

/// The contact a connection feeds in the marketing system.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContactKey {
    /// Contact origin configured in the tenant for the provider's ids.
    pub origin: String,
    pub id: String,
}

/// A person's link between a provider account and a marketing contact.
#[derive(Clone, Debug)]
pub struct Connection {
    pub provider: ProviderKind,
    pub user_id: ProviderUserId,
    pub tokens: TokenSet,
    pub status: ConnectionStatus,
    pub contact: ContactKey,
    /// The company's own customer id, when the person came through a signed connect link.
    pub customer_ref: Option<String>,
    pub timezone: Option<String>,
    /// Collections we hold provider subscriptions for.
    pub subscriptions: BTreeSet<Collection>,
    /// Optimistic-locking version; bumped by every write of the tokens.
    pub version: u64,
    /// When the person last consented (each connect sets it; read from the store, never
    /// written from here): a revocation issued before it is about an older connection.
    pub consented_at: Option<OffsetDateTime>,
}

impl Connection {
    /// Whose connection this is.
    pub fn person(&self) -> PersonKey {
        PersonKey {
            provider: self.provider,
            user_id: self.user_id.clone(),
        }
    }
}

/// A contact as it goes to the marketing system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactRecord {
    pub key: ContactKey,
    pub profile: Profile,
    /// The company's customer id, attached as an additional id so the tenant merges this
    /// contact with the company's own record of the person.
    pub customer_ref: Option<String>,
    pub changed_at: OffsetDateTime,
}

/// One day's values of one collection for one person, normalised. Absent values (a device
/// without that sensor, a day without a weigh-in) produce no interaction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DaySummary {
    pub steps: Option<u64>,
    pub distance_km: Option<f64>,
    pub calories_out: Option<u64>,
    /// Fairly plus very active minutes.
    pub active_minutes: Option<u64>,
    pub minutes_asleep: Option<u64>,
    pub weight_kg: Option<f64>,
    /// When the day's workouts (exercise sessions) ended, in minutes after the person's
    /// local midnight: what the best send time is estimated from. Not an interaction.
    pub workout_ends: Vec<u16>,
    /// Metrics of the collection the provider failed to answer this time, in a way that
    /// may pass (an error of its own): what it answered is imported, the day is fetched
    /// again, and the person's history keeps what it knew of these meanwhile. A metric
    /// refused for good is not here: it is simply absent, and the adapter says so.
    pub unanswered: Vec<Metric>,
    /// The workouts could not be read this time: `workout_ends` says nothing, and the
    /// history keeps what it knew. Never a reason to fetch the day again: they only feed
    /// the send hour.
    pub workouts_unanswered: bool,
}

/// A metric we import as an interaction.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Steps,
    Distance,
    Calories,
    ActiveMinutes,
    Sleep,
    Weight,
}

impl Metric {
    pub const ALL: [Metric; 6] = [
        Metric::Steps,
        Metric::Distance,
        Metric::Calories,
        Metric::ActiveMinutes,
        Metric::Sleep,
        Metric::Weight,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Steps => "steps",
            Metric::Distance => "distance",
            Metric::Calories => "calories",
            Metric::ActiveMinutes => "active_minutes",
            Metric::Sleep => "sleep",
            Metric::Weight => "weight",
        }
    }

    /// The unit values of this metric are expressed in.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::Steps => "steps",
            Metric::Distance => "km",
            Metric::Calories => "kcal",
            Metric::ActiveMinutes | Metric::Sleep => "min",
            Metric::Weight => "kg",
        }
    }
}

impl DaySummary {
    /// The metrics this summary holds, with their values.
    pub fn metrics(&self) -> Vec<(Metric, f64)> {
        [
            (Metric::Steps, self.steps.map(|v| v as f64)),
            (Metric::Distance, self.distance_km),
            (Metric::Calories, self.calories_out.map(|v| v as f64)),
            (Metric::ActiveMinutes, self.active_minutes.map(|v| v as f64)),
            (Metric::Sleep, self.minutes_asleep.map(|v| v as f64)),
            (Metric::Weight, self.weight_kg),
        ]
        .into_iter()
        .filter_map(|(m, v)| v.map(|v| (m, v)))
        .collect()
    }
}

/// One metric of one person's day, as it goes to the marketing system.
#[derive(Clone, Debug, PartialEq)]
pub struct DailyInteraction {
    /// Where the value came from: it decides the interaction's type and medium.
    pub provider: ProviderKind,
    pub contact: ContactKey,
    pub user_id: ProviderUserId,
    pub date: Date,
    pub metric: Metric,
    pub value: f64,
}

impl DailyInteraction {
    /// Deterministic id of this (contact, day, metric): the ledger key and SAP's
    /// `InteractionSourceObject`, so a re-import finds what it did before — also when the
    /// day comes again through another provider after the person migrated.
    /// `InteractionSourceObject` holds 50 characters: a contact id longer than
    /// [`SOURCE_ID_MAX`] is replaced by the start of its SHA-256, still deterministic.
    pub fn source_object(&self) -> String {
        format!("{}{}", self.day_prefix(), self.metric.as_str())
    }

    /// What the source objects of the contact's day start with, whatever the metric.
    pub fn day_prefix(&self) -> String {
        format!(
            "{}-{}-",
            self.contact.source_id(),
            work::iso_date::format(self.date)
        )
    }

    /// The day a [`Self::source_object`] is about.
    pub fn day_of_source_object(source_object: &str) -> Option<Date> {
        let (rest, _metric) = source_object.rsplit_once('-')?;
        let start = rest.len().checked_sub(10)?;
        work::iso_date::parse(rest.get(start..)?)
    }
}

impl ContactKey {
    /// The contact's id as source objects carry it: as is up to [`SOURCE_ID_MAX`]
    /// characters, else the start of its SHA-256 (deterministic, and it fits).
    pub fn source_id(&self) -> String {
        if self.id.chars().count() <= SOURCE_ID_MAX {
            return self.id.clone();
        }
        use sha2::{Digest, Sha256};
        Sha256::digest(self.id.as_bytes())
            .iter()
            .take(SOURCE_ID_MAX / 2)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Longest contact id kept as is in a source object: 50 characters minus
/// `-yyyy-mm-dd-active_minutes`.
pub const SOURCE_ID_MAX: usize = 24;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_objects_fit_sap_whatever_the_id() {
        let at = |id: &str| DailyInteraction {
            provider: ProviderKind::ALL[0],
            contact: ContactKey {
                origin: "O".into(),
                id: id.into(),
            },
            user_id: ProviderUserId(id.into()),
            date: time::macros::date!(2026 - 11 - 20),
            metric: Metric::ActiveMinutes,
            value: 1.0,
        };
        assert_eq!(
            at("GGNJL9").source_object(),
            "GGNJL9-2026-11-20-active_minutes"
        );
        let long = at(&"9".repeat(40)).source_object();
        assert_eq!(long.chars().count(), 50);
        assert_eq!(long, at(&"9".repeat(40)).source_object(), "deterministic");
        assert_ne!(long, at(&"8".repeat(40)).source_object());
    }

    #[test]
    fn a_source_object_tells_its_day() {
        let day = time::macros::date!(2026 - 11 - 20);
        for id in ["GGNJL9", "4123456789012345678", "a-b-c", &"9".repeat(40)] {
            for metric in Metric::ALL {
                let interaction = DailyInteraction {
                    provider: ProviderKind::ALL[0],
                    contact: ContactKey {
                        origin: "O".into(),
                        id: id.into(),
                    },
                    user_id: ProviderUserId(id.into()),
                    date: day,
                    metric,
                    value: 1.0,
                };
                assert_eq!(
                    DailyInteraction::day_of_source_object(&interaction.source_object()),
                    Some(day)
                );
            }
        }
        for bad in [
            "",
            "steps",
            "GGNJL9-steps",
            "GGNJL9-2026-13-20-steps",
            "ü-steps",
        ] {
            assert_eq!(DailyInteraction::day_of_source_object(bad), None, "{bad}");
        }
    }
}
