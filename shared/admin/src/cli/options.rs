//! What each command is asked to do, checked: the values the commands run with.

use std::path::PathBuf;

use fitbridge::domain::{ConnectionStatus, PersonKey, ProviderKind};
use time::Date;
use url::Url;

/// What to do with the Google Health subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    List,
    Patch,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::List => "list",
            Action::Patch => "patch",
            Action::Delete => "delete",
        }
    }
}

/// Where the endpoint authorization comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthorizationSource {
    /// The `webhook_authorization` of the Google Health secret in Secrets Manager.
    SecretsManager { secret_id: String },
    /// An environment variable holding the whole value (tests, one-off runs).
    Environment { variable: String },
}

/// `google-health subscriber <action>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriberOptions {
    pub action: Action,
    pub key_file: Option<PathBuf>,
    pub project: Option<String>,
    pub subscriber_id: Option<String>,
    pub endpoint: Option<String>,
    pub data_types: Option<Vec<String>>,
    pub authorization: Option<AuthorizationSource>,
    pub force: bool,
    pub api_base_url: Option<String>,
}

/// What to do with the Polar webhook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolarWebhookAction {
    Create,
    Show,
    Activate,
    Deactivate,
    Delete,
}

/// The events a Polar webhook may subscribe to (the page's `webhookType`).
pub const POLAR_EVENTS: [&str; 6] = [
    "EXERCISE",
    "SLEEP",
    "CONTINUOUS_HEART_RATE",
    "SLEEP_WISE_CIRCADIAN_BEDTIME",
    "SLEEP_WISE_ALERTNESS",
    "ACTIVITY_SUMMARY",
];

/// What `polar webhook create` subscribes to unless `--events` says otherwise: what
/// fitbridge imports.
pub const DEFAULT_POLAR_EVENTS: [&str; 3] = ["ACTIVITY_SUMMARY", "SLEEP", "EXERCISE"];

/// `polar webhook <action>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolarWebhookOptions {
    pub action: PolarWebhookAction,
    /// The Polar secret: the client credentials, and where create writes the key.
    pub secret_id: String,
    pub api_base_url: Option<Url>,
    /// Create's: our webhook's URL and the events.
    pub url: Option<Url>,
    pub events: Vec<String>,
    /// Delete's: the webhook, if not the one Polar lists.
    pub webhook_id: Option<String>,
}

/// `migration pending`: the people still connected through `from`, who migrate to `to`
/// (whose predecessor `from` is: checked here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationOptions {
    pub table: String,
    pub from: ProviderKind,
    pub to: ProviderKind,
    pub links: Option<LinkOptions>,
}

/// Connect links to print for each person (`--public-base-url` and `--link-secret-id`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkOptions {
    /// http(s), without query or fragment; links are `<base>/connect/<provider>`.
    pub public_base_url: Url,
    /// Secrets Manager id of the connect-link key (`{key}`).
    pub secret_id: String,
    pub lifetime_days: u32,
}

/// How long a printed signed link is valid unless `--link-days` says otherwise: long
/// enough for a mailing and a reminder.
pub const DEFAULT_LINK_DAYS: u32 = 14;
/// The longest `--link-days`: a link is a standing invitation to attach data to the
/// customer's record, so it should not outlive a campaign. The connect route refuses
/// anything longer.
pub const MAX_LINK_DAYS: u32 = fitbridge::domain::link::MAX_LIFETIME.whole_days() as u32;

/// The provider `migration pending` lists by default: the legacy one.
pub const DEFAULT_FROM: ProviderKind = ProviderKind::Fitbit;

/// `people list`: every connection, or a provider's, or those in one status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeopleListOptions {
    pub table: String,
    pub provider: Option<ProviderKind>,
    pub status: Option<ConnectionStatus>,
    pub json: bool,
}

/// `people backfill`: sync work for each day of `from..=to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackfillOptions {
    pub table: String,
    pub work_queue_url: String,
    pub person: PersonKey,
    pub from: Date,
    pub to: Date,
}

/// The longest backfill, in days (both ends counted).
pub const MAX_BACKFILL_DAYS: i64 = 90;

/// `people disconnect`: a revocation on the work queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisconnectOptions {
    pub table: String,
    pub work_queue_url: String,
    pub person: PersonKey,
}

/// `people forget`: an erasure request — everything fitbridge holds about the person,
/// deleted (`yes`), or only said what would be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForgetOptions {
    pub table: String,
    pub person: PersonKey,
    pub yes: bool,
}

/// `dlq redrive`: a dead-letter queue's messages back to its source queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedriveOptions {
    pub from_queue_url: String,
    pub to_queue_url: String,
    pub max: Option<usize>,
    pub dry_run: bool,
}

/// `directory backfill`: the table whose directory index is brought in line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryBackfillOptions {
    pub table: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `--help` or `-h`: the help text clap rendered for where it was asked.
    Help(String),
    Subscriber(SubscriberOptions),
    PolarWebhook(PolarWebhookOptions),
    MigrationPending(MigrationOptions),
    PeopleList(PeopleListOptions),
    PeopleBackfill(BackfillOptions),
    PeopleDisconnect(DisconnectOptions),
    PeopleForget(ForgetOptions),
    DlqRedrive(RedriveOptions),
    DirectoryBackfill(DirectoryBackfillOptions),
}
