//! The command line, parsed by hand: a few flags do not earn a parser crate in a
//! workspace whose clean build is already long.
//!
//! `--flag value` and `--flag=value` both work; a flag given twice, a flag the command
//! does not use, or an unknown word is a usage error rather than ignored, so a typo never
//! manages the wrong thing. Everything that can be checked without the network is checked
//! here (provider names, URLs, numbers, dates), so a usage error never reaches Google,
//! Secrets Manager, the table or a queue.

use std::path::PathBuf;

use fitbridge::domain::work::iso_date;
use fitbridge::domain::{ConnectionStatus, ProviderKind, ProviderUserId};
use fitbridge::ports::catalog::ProviderCatalog;
use fitbridge::provider::registry::Registry;
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
    fn parse(word: &str) -> Option<Action> {
        match word {
            "create" => Some(Action::Create),
            "list" => Some(Action::List),
            "patch" => Some(Action::Patch),
            "delete" => Some(Action::Delete),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::List => "list",
            Action::Patch => "patch",
            Action::Delete => "delete",
        }
    }

    /// The flags the action takes (besides `--help`).
    fn flags(self) -> &'static [&'static str] {
        const COMMON: [&str; 3] = ["--key-file", "--project", "--api-base-url"];
        match self {
            Action::Create | Action::Patch => &[
                COMMON[0],
                COMMON[1],
                COMMON[2],
                "--subscriber-id",
                "--endpoint",
                "--data-types",
                "--secret-id",
                "--authorization-env",
            ],
            Action::List => &COMMON,
            Action::Delete => &[
                COMMON[0],
                COMMON[1],
                COMMON[2],
                "--subscriber-id",
                "--force",
            ],
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

/// One person: `--provider` and `--user`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub provider: ProviderKind,
    pub user_id: ProviderUserId,
}

impl std::fmt::Display for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.provider, self.user_id)
    }
}

/// `people backfill`: sync work for each day of `from..=to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackfillOptions {
    pub table: String,
    pub work_queue_url: String,
    pub person: Person,
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
    pub person: Person,
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
    Help,
    Subscriber(SubscriberOptions),
    MigrationPending(MigrationOptions),
    PeopleList(PeopleListOptions),
    PeopleBackfill(BackfillOptions),
    PeopleDisconnect(DisconnectOptions),
    DlqRedrive(RedriveOptions),
    DirectoryBackfill(DirectoryBackfillOptions),
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn usage(message: impl Into<String>) -> UsageError {
    UsageError(message.into())
}

/// Flags that take a value.
const VALUE_FLAGS: [&str; 21] = [
    "--key-file",
    "--project",
    "--subscriber-id",
    "--endpoint",
    "--data-types",
    "--secret-id",
    "--authorization-env",
    "--api-base-url",
    "--table",
    "--from",
    "--to",
    "--public-base-url",
    "--link-secret-id",
    "--link-days",
    "--provider",
    "--status",
    "--user",
    "--work-queue-url",
    "--from-queue-url",
    "--to-queue-url",
    "--max",
];

/// Flags that take no value.
const SWITCHES: [&str; 3] = ["--force", "--json", "--dry-run"];

/// The flags `migration pending` takes (besides `--help`).
const MIGRATION_FLAGS: [&str; 6] = [
    "--table",
    "--from",
    "--to",
    "--public-base-url",
    "--link-secret-id",
    "--link-days",
];

/// The flags of the `people` commands and of `dlq redrive` (besides `--help`).
const PEOPLE_LIST_FLAGS: [&str; 4] = ["--table", "--provider", "--status", "--json"];
const BACKFILL_FLAGS: [&str; 6] = [
    "--table",
    "--work-queue-url",
    "--provider",
    "--user",
    "--from",
    "--to",
];
const DISCONNECT_FLAGS: [&str; 4] = ["--table", "--work-queue-url", "--provider", "--user"];
const REDRIVE_FLAGS: [&str; 4] = ["--from-queue-url", "--to-queue-url", "--max", "--dry-run"];
const DIRECTORY_BACKFILL_FLAGS: [&str; 1] = ["--table"];

const COMMANDS: &str = "google-health subscriber create|list|patch|delete, migration pending, \
                        people list|backfill|disconnect, dlq redrive, directory backfill";

/// The flags as given, in order; each at most once.
struct Flags(Vec<(String, Option<String>)>);

impl Flags {
    /// Refuses the first flag that `command` does not take.
    fn check_apply(&self, allowed: &[&str], command: &str) -> Result<(), UsageError> {
        match self
            .0
            .iter()
            .find(|(name, _)| !allowed.contains(&name.as_str()))
        {
            Some((name, _)) => Err(usage(format!("{name} does not apply to {command}"))),
            None => Ok(()),
        }
    }

    fn value(&self, name: &str) -> Result<Option<String>, UsageError> {
        match self.0.iter().find(|(n, _)| n == name) {
            Some((_, Some(value))) if value.trim().is_empty() => {
                Err(usage(format!("{name} needs a value")))
            }
            Some((_, value)) => Ok(value.clone()),
            None => Ok(None),
        }
    }

    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }

    /// A value the command cannot do without.
    fn required(&self, name: &str, command: &str, what: &str) -> Result<String, UsageError> {
        self.value(name)?
            .ok_or_else(|| usage(format!("{command} needs {name} ({what})")))
    }
}

/// [`parse`] on the given day (UTC): a backfill may not end after it.
pub fn parse_on(args: &[String], today: Date) -> Result<Command, UsageError> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        return Ok(Command::Help);
    }
    let mut words = Vec::new();
    let mut flags: Vec<(String, Option<String>)> = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if !arg.starts_with("--") {
            words.push(arg.as_str());
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        if flags.iter().any(|(seen, _)| *seen == name) {
            return Err(usage(format!("{name} is given twice")));
        }
        let value = if VALUE_FLAGS.contains(&name.as_str()) {
            match inline {
                Some(value) => Some(value),
                None => Some(
                    rest.next()
                        .filter(|v| !v.starts_with("--"))
                        .cloned()
                        .ok_or_else(|| usage(format!("{name} needs a value")))?,
                ),
            }
        } else if SWITCHES.contains(&name.as_str()) {
            if inline.is_some() {
                return Err(usage(format!("{name} takes no value")));
            }
            None
        } else {
            return Err(usage(format!("unknown option {name}")));
        };
        flags.push((name, value));
    }
    let flags = Flags(flags);
    match words.as_slice() {
        ["google-health", "subscriber", action] => {
            let action = Action::parse(action).ok_or_else(|| {
                usage(format!(
                    "unknown action {action:?}: create, list, patch or delete"
                ))
            })?;
            subscriber(action, &flags).map(Command::Subscriber)
        }
        ["google-health", "subscriber"] => {
            Err(usage("which action: create, list, patch or delete?"))
        }
        ["migration", "pending"] => migration_pending(&flags).map(Command::MigrationPending),
        ["migration"] => Err(usage("which migration command: pending?")),
        ["people", "list"] => people_list(&flags).map(Command::PeopleList),
        ["people", "backfill"] => backfill(&flags, today).map(Command::PeopleBackfill),
        ["people", "disconnect"] => disconnect(&flags).map(Command::PeopleDisconnect),
        ["people"] => Err(usage("which people command: list, backfill or disconnect?")),
        ["dlq", "redrive"] => redrive(&flags).map(Command::DlqRedrive),
        ["dlq"] => Err(usage("which dlq command: redrive?")),
        ["directory", "backfill"] => {
            flags.check_apply(&DIRECTORY_BACKFILL_FLAGS, "directory backfill")?;
            Ok(Command::DirectoryBackfill(DirectoryBackfillOptions {
                table: flags.required(
                    "--table",
                    "directory backfill",
                    "the TableName stack output",
                )?,
            }))
        }
        ["directory"] => Err(usage("which directory command: backfill?")),
        [] => Err(usage("no command")),
        _ => Err(usage(format!(
            "unknown command {:?}: {COMMANDS}",
            words.join(" ")
        ))),
    }
}

fn subscriber(action: Action, flags: &Flags) -> Result<SubscriberOptions, UsageError> {
    flags.check_apply(action.flags(), action.as_str())?;
    let authorization = match (
        flags.value("--secret-id")?,
        flags.value("--authorization-env")?,
    ) {
        (Some(_), Some(_)) => {
            return Err(usage(
                "--secret-id and --authorization-env are alternatives: give one",
            ))
        }
        (Some(secret_id), None) => Some(AuthorizationSource::SecretsManager { secret_id }),
        (None, Some(variable)) => Some(AuthorizationSource::Environment { variable }),
        (None, None) => None,
    };
    let options = SubscriberOptions {
        action,
        key_file: flags.value("--key-file")?.map(PathBuf::from),
        project: flags.value("--project")?,
        subscriber_id: flags.value("--subscriber-id")?,
        endpoint: flags.value("--endpoint")?,
        data_types: flags.value("--data-types")?.map(|list| {
            list.split(',')
                .map(|t| t.trim().to_owned())
                .collect::<Vec<_>>()
        }),
        authorization,
        force: flags.has("--force"),
        api_base_url: flags.value("--api-base-url")?,
    };
    match action {
        Action::Create if options.endpoint.is_none() => Err(usage(
            "create needs --endpoint (the GoogleHealthWebhookUrl stack output)",
        )),
        Action::Create if options.authorization.is_none() => Err(usage(
            "create needs the endpoint authorization: --secret-id (the Google Health secret) \
             or --authorization-env",
        )),
        Action::Patch
            if options.endpoint.is_none()
                && options.data_types.is_none()
                && options.authorization.is_none() =>
        {
            Err(usage(
                "patch needs something to change: --endpoint, --data-types, --secret-id or \
                 --authorization-env",
            ))
        }
        _ => Ok(options),
    }
}

fn provider(flag: &str, name: &str) -> Result<ProviderKind, UsageError> {
    name.parse().map_err(|_| {
        let known: Vec<&str> = ProviderKind::ALL.iter().map(|k| k.as_str()).collect();
        usage(format!(
            "{flag} {name:?} is not a provider: {}",
            known.join(" or ")
        ))
    })
}

/// The provider whose predecessor `from` is.
fn successor(from: ProviderKind) -> Option<ProviderKind> {
    ProviderKind::ALL
        .into_iter()
        .find(|k| Registry.predecessor(*k) == Some(from))
}

fn migration_pending(flags: &Flags) -> Result<MigrationOptions, UsageError> {
    flags.check_apply(&MIGRATION_FLAGS, "migration pending")?;
    let table = flags
        .value("--table")?
        .ok_or_else(|| usage("migration pending needs --table (the TableName stack output)"))?;
    let from = match flags.value("--from")? {
        Some(name) => provider("--from", &name)?,
        None => DEFAULT_FROM,
    };
    let to = match flags.value("--to")? {
        Some(name) => provider("--to", &name)?,
        None => successor(from)
            .ok_or_else(|| usage(format!("nobody migrates off {from}: it has no successor")))?,
    };
    if Registry.predecessor(to) != Some(from) {
        return Err(usage(match Registry.predecessor(to) {
            Some(p) => format!("people migrate to {to} from {p}, not from {from}"),
            None => format!("nobody migrates to {to}: it succeeds no provider"),
        }));
    }
    let lifetime_days = match flags.value("--link-days")? {
        Some(days) => days
            .parse::<u32>()
            .ok()
            .filter(|d| (1..=MAX_LINK_DAYS).contains(d))
            .ok_or_else(|| {
                usage(format!(
                    "--link-days {days:?} is not a number of days from 1 to {MAX_LINK_DAYS}"
                ))
            })?,
        None => DEFAULT_LINK_DAYS,
    };
    let links = match (
        flags.value("--public-base-url")?,
        flags.value("--link-secret-id")?,
    ) {
        (Some(base), Some(secret_id)) => Some(LinkOptions {
            public_base_url: public_base_url(&base)?,
            secret_id,
            lifetime_days,
        }),
        (None, None) if flags.has("--link-days") => {
            return Err(usage(
                "--link-days needs --public-base-url and --link-secret-id",
            ))
        }
        (None, None) => None,
        _ => {
            return Err(usage(
                "connect links need both --public-base-url (the PublicBaseUrl stack output) \
                 and --link-secret-id (the ConnectLinkSecretArn stack output)",
            ))
        }
    };
    Ok(MigrationOptions {
        table,
        from,
        to,
        links,
    })
}

fn people_list(flags: &Flags) -> Result<PeopleListOptions, UsageError> {
    flags.check_apply(&PEOPLE_LIST_FLAGS, "people list")?;
    let status = match flags.value("--status")? {
        Some(name) => Some(ConnectionStatus::parse(&name).ok_or_else(|| {
            usage(format!(
                "--status {name:?} is not a status: active, needs_reconsent or provider_gone"
            ))
        })?),
        None => None,
    };
    Ok(PeopleListOptions {
        table: flags.required("--table", "people list", "the TableName stack output")?,
        provider: flags
            .value("--provider")?
            .map(|name| provider("--provider", &name))
            .transpose()?,
        status,
        json: flags.has("--json"),
    })
}

/// `--provider` and `--user`, both required.
fn person(flags: &Flags, command: &str) -> Result<Person, UsageError> {
    let name = flags.required("--provider", command, "the person's provider")?;
    let provider = provider("--provider", &name)?;
    let user = flags.required("--user", command, "the person's id at the provider")?;
    if user
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '#')
    {
        return Err(usage(format!(
            "--user {user:?} is not a provider's user id"
        )));
    }
    Ok(Person {
        provider,
        user_id: ProviderUserId(user),
    })
}

fn date(flag: &str, value: &str) -> Result<Date, UsageError> {
    iso_date::parse(value)
        .ok_or_else(|| usage(format!("{flag} {value:?} is not a date (YYYY-MM-DD)")))
}

fn backfill(flags: &Flags, today: Date) -> Result<BackfillOptions, UsageError> {
    const COMMAND: &str = "people backfill";
    flags.check_apply(&BACKFILL_FLAGS, COMMAND)?;
    let table = flags.required("--table", COMMAND, "the TableName stack output")?;
    let work_queue_url = queue_url(
        "--work-queue-url",
        &flags.required("--work-queue-url", COMMAND, "the WorkQueueUrl stack output")?,
    )?;
    let person = person(flags, COMMAND)?;
    let from = date(
        "--from",
        &flags.required("--from", COMMAND, "the first day, YYYY-MM-DD")?,
    )?;
    let to = date(
        "--to",
        &flags.required("--to", COMMAND, "the last day, YYYY-MM-DD")?,
    )?;
    if from > to {
        return Err(usage(format!("--from {from} is after --to {to}")));
    }
    let days = (to - from).whole_days() + 1;
    if days > MAX_BACKFILL_DAYS {
        return Err(usage(format!(
            "{from} to {to} is {days} days: a backfill covers at most {MAX_BACKFILL_DAYS}"
        )));
    }
    if to > today {
        return Err(usage(format!(
            "--to {to} is in the future (today is {today}, UTC)"
        )));
    }
    Ok(BackfillOptions {
        table,
        work_queue_url,
        person,
        from,
        to,
    })
}

fn disconnect(flags: &Flags) -> Result<DisconnectOptions, UsageError> {
    const COMMAND: &str = "people disconnect";
    flags.check_apply(&DISCONNECT_FLAGS, COMMAND)?;
    Ok(DisconnectOptions {
        table: flags.required("--table", COMMAND, "the TableName stack output")?,
        work_queue_url: queue_url(
            "--work-queue-url",
            &flags.required("--work-queue-url", COMMAND, "the WorkQueueUrl stack output")?,
        )?,
        person: person(flags, COMMAND)?,
    })
}

fn redrive(flags: &Flags) -> Result<RedriveOptions, UsageError> {
    const COMMAND: &str = "dlq redrive";
    flags.check_apply(&REDRIVE_FLAGS, COMMAND)?;
    let from_queue_url = queue_url(
        "--from-queue-url",
        &flags.required(
            "--from-queue-url",
            COMMAND,
            "the dead-letter queue, e.g. the WorkDeadLetterQueueUrl stack output",
        )?,
    )?;
    let to_queue_url = queue_url(
        "--to-queue-url",
        &flags.required(
            "--to-queue-url",
            COMMAND,
            "its source queue, e.g. the WorkQueueUrl stack output",
        )?,
    )?;
    if from_queue_url == to_queue_url {
        return Err(usage(
            "--from-queue-url and --to-queue-url are the same queue",
        ));
    }
    // A dead-letter queue is of its source queue's kind (AWS refuses anything else): a
    // FIFO queue and a standard one are not a dead-letter queue and its source.
    if from_queue_url.ends_with(".fifo") != to_queue_url.ends_with(".fifo") {
        return Err(usage(
            "one queue is FIFO and the other is not: they are not a dead-letter queue and \
             its source",
        ));
    }
    let max = match flags.value("--max")? {
        Some(n) => Some(
            n.parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| usage(format!("--max {n:?} is not a number of messages")))?,
        ),
        None => None,
    };
    Ok(RedriveOptions {
        from_queue_url,
        to_queue_url,
        max,
        dry_run: flags.has("--dry-run"),
    })
}

/// An SQS queue URL as the stack outputs give it: http(s), a path, no query.
fn queue_url(flag: &str, value: &str) -> Result<String, UsageError> {
    Url::parse(value)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http"))
        .filter(|u| u.has_host() && u.path().len() > 1)
        .filter(|u| u.query().is_none() && u.fragment().is_none())
        .map(|_| value.to_owned())
        .ok_or_else(|| usage(format!("{flag} {value:?} is not a queue URL")))
}

/// The base the links are built on: the deployment's public URL, as the stack gives it.
fn public_base_url(value: &str) -> Result<Url, UsageError> {
    Url::parse(value)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http"))
        .filter(|u| u.has_host() && u.query().is_none() && u.fragment().is_none())
        .ok_or_else(|| {
            usage(format!(
                "--public-base-url {value:?} is not an http(s) URL without query or fragment"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    fn parse(args: &[String]) -> Result<Command, UsageError> {
        parse_on(args, TODAY)
    }

    fn run(line: &str) -> SubscriberOptions {
        match parse(&args(line)) {
            Ok(Command::Subscriber(options)) => options,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn pending(line: &str) -> MigrationOptions {
        match parse(&args(line)) {
            Ok(Command::MigrationPending(options)) => options,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn refused(line: &str) -> String {
        match parse_on(&args(line), TODAY) {
            Err(UsageError(message)) => message,
            other => panic!("{line}: accepted as {other:?}"),
        }
    }

    /// The day the people commands' tests run on.
    const TODAY: Date = time::macros::date!(2026 - 11 - 21);
    const QUEUE: &str = "https://sqs.eu-central-1.amazonaws.com/123456789012/fitbridge-WorkQueue-X";
    const DLQ: &str =
        "https://sqs.eu-central-1.amazonaws.com/123456789012/fitbridge-WorkDeadLetterQueue-X";

    fn command(line: &str) -> Command {
        parse_on(&args(line), TODAY).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    #[test]
    fn create_takes_every_flag_in_both_spellings() {
        let options = run(
            "google-health subscriber create --key-file /k.json --project=p-1 \
             --subscriber-id fb-test --endpoint=https://x/webhooks/google-health \
             --data-types steps,sleep --secret-id fitbridge/google-health \
             --api-base-url http://127.0.0.1:9",
        );
        assert_eq!(
            options,
            SubscriberOptions {
                action: Action::Create,
                key_file: Some(PathBuf::from("/k.json")),
                project: Some("p-1".into()),
                subscriber_id: Some("fb-test".into()),
                endpoint: Some("https://x/webhooks/google-health".into()),
                data_types: Some(vec!["steps".into(), "sleep".into()]),
                authorization: Some(AuthorizationSource::SecretsManager {
                    secret_id: "fitbridge/google-health".into()
                }),
                force: false,
                api_base_url: Some("http://127.0.0.1:9".into()),
            }
        );
        let options =
            run("google-health subscriber create --endpoint https://x --authorization-env AUTH");
        assert_eq!(
            options.authorization,
            Some(AuthorizationSource::Environment {
                variable: "AUTH".into()
            })
        );
        assert_eq!(options.data_types, None, "the default is applied later");
    }

    #[test]
    fn list_patch_and_delete() {
        assert_eq!(run("google-health subscriber list").action, Action::List);
        let patch = run("google-health subscriber patch --data-types steps");
        assert_eq!(patch.action, Action::Patch);
        assert_eq!(patch.data_types, Some(vec!["steps".into()]));
        let delete = run("google-health subscriber delete --force --subscriber-id x-yz");
        assert!(delete.force);
        assert_eq!(delete.subscriber_id.as_deref(), Some("x-yz"));
        assert!(!run("google-health subscriber delete").force);
    }

    #[test]
    fn help_wins_anywhere() {
        assert_eq!(parse(&args("--help")), Ok(Command::Help));
        assert_eq!(
            parse(&args("google-health subscriber create -h")),
            Ok(Command::Help)
        );
    }

    #[test]
    fn mistakes_are_usage_errors() {
        assert!(refused("").contains("no command"));
        assert!(refused("google-health").contains("unknown command"));
        assert!(refused("google-health subscriber").contains("which action"));
        assert!(refused("google-health subscriber update").contains("unknown action"));
        assert!(refused("fitbit subscriber list").contains("unknown command"));
        assert!(refused("google-health subscriber list --verbose").contains("unknown option"));
        assert!(refused("google-health subscriber list --force").contains("does not apply"));
        assert!(
            refused("google-health subscriber delete --data-types steps")
                .contains("does not apply")
        );
        assert!(refused("google-health subscriber list --project").contains("needs a value"));
        assert!(
            refused("google-health subscriber list --project --key-file k")
                .contains("needs a value")
        );
        assert!(refused("google-health subscriber list --project=").contains("needs a value"));
        assert!(refused("google-health subscriber list --project a --project b").contains("twice"));
        assert!(refused("google-health subscriber delete --force=yes").contains("no value"));
        assert!(
            refused("google-health subscriber create --authorization-env A").contains("--endpoint")
        );
        assert!(
            refused("google-health subscriber create --endpoint https://x")
                .contains("authorization")
        );
        assert!(refused(
            "google-health subscriber create --endpoint https://x --secret-id s --authorization-env A"
        )
        .contains("alternatives"));
        assert!(refused("google-health subscriber patch").contains("something to change"));
    }

    #[test]
    fn migration_pending_defaults_to_the_legacy_provider_and_its_successor() {
        assert_eq!(
            pending("migration pending --table T"),
            MigrationOptions {
                table: "T".into(),
                from: ProviderKind::Fitbit,
                to: ProviderKind::GoogleHealth,
                links: None,
            }
        );
        assert_eq!(
            pending("migration pending --table=T --from fitbit --to=google-health"),
            pending("migration pending --table T")
        );
        assert_eq!(
            pending("migration pending --table T --to google-health").from,
            ProviderKind::Fitbit
        );
    }

    #[test]
    fn migration_links_need_a_base_url_and_the_key_and_default_to_14_days() {
        let options = pending(
            "migration pending --table T --public-base-url https://api.example.com/prod/ \
             --link-secret-id fitbridge/link",
        );
        assert_eq!(
            options.links,
            Some(LinkOptions {
                public_base_url: Url::parse("https://api.example.com/prod/").unwrap(),
                secret_id: "fitbridge/link".into(),
                lifetime_days: 14,
            })
        );
        let options = pending(
            "migration pending --table T --public-base-url http://127.0.0.1:9080 \
             --link-secret-id s --link-days 3",
        );
        assert_eq!(options.links.unwrap().lifetime_days, 3);
    }

    #[test]
    fn migration_mistakes_are_usage_errors() {
        assert!(refused("migration").contains("which migration command"));
        assert!(refused("migration list --table T").contains("unknown command"));
        assert!(refused("migration pending").contains("--table"));
        assert!(refused("migration pending --table").contains("needs a value"));
        assert!(refused("migration pending --table T --bogus").contains("unknown option"));
        assert!(refused("migration pending --table T --force").contains("does not apply"));
        assert!(refused("migration pending --table T --project p").contains("does not apply"));
        assert!(refused("google-health subscriber list --table T").contains("does not apply"));
        assert!(refused("migration pending --table T --from garmin").contains("not a provider"));
        assert!(
            refused("migration pending --table T --from google-health").contains("no successor")
        );
        assert!(refused("migration pending --table T --to fitbit").contains("succeeds no"));
        assert!(
            refused("migration pending --table T --from google-health --to google-health")
                .contains("from fitbit, not from google-health")
        );
        assert!(
            refused("migration pending --table T --public-base-url https://x.example")
                .contains("both")
        );
        assert!(refused("migration pending --table T --link-secret-id s").contains("both"));
        assert!(refused("migration pending --table T --link-days 3").contains("--link-days"));
        for bad in [
            "ftp://x.example",
            "x.example",
            "https://x.example/?a=b",
            "https://x#f",
        ] {
            assert!(
                refused(&format!(
                    "migration pending --table T --public-base-url {bad} --link-secret-id s"
                ))
                .contains("--public-base-url"),
                "{bad}"
            );
        }
        for days in ["0", "91", "-1", "two"] {
            assert!(
                refused(&format!(
                    "migration pending --table T --public-base-url https://x.example \
                     --link-secret-id s --link-days {days}"
                ))
                .contains("--link-days"),
                "{days}"
            );
        }
    }

    #[test]
    fn people_list_filters_by_provider_and_status() {
        assert_eq!(
            command("people list --table T"),
            Command::PeopleList(PeopleListOptions {
                table: "T".into(),
                provider: None,
                status: None,
                json: false,
            })
        );
        assert_eq!(
            command(
                "people list --table=T --provider google-health --status=needs_reconsent --json"
            ),
            Command::PeopleList(PeopleListOptions {
                table: "T".into(),
                provider: Some(ProviderKind::GoogleHealth),
                status: Some(ConnectionStatus::NeedsReconsent),
                json: true,
            })
        );
    }

    #[test]
    fn people_backfill_takes_a_person_and_a_range_of_days() {
        let line = format!(
            "people backfill --table T --work-queue-url {QUEUE} --provider fitbit \
             --user GGNJL9 --from 2026-08-24 --to 2026-11-21"
        );
        assert_eq!(
            command(&line),
            Command::PeopleBackfill(BackfillOptions {
                table: "T".into(),
                work_queue_url: QUEUE.into(),
                person: Person {
                    provider: ProviderKind::Fitbit,
                    user_id: ProviderUserId("GGNJL9".into()),
                },
                from: time::macros::date!(2026 - 08 - 24),
                to: TODAY,
            }),
            "90 days, ending today"
        );
        let one_day = format!(
            "people backfill --table T --work-queue-url={QUEUE} --provider=google-health \
             --user=4123456789012345678 --from=2026-11-01 --to=2026-11-01"
        );
        let Command::PeopleBackfill(options) = command(&one_day) else {
            panic!("{one_day}");
        };
        assert_eq!(
            options.person.to_string(),
            "google-health/4123456789012345678"
        );
        assert_eq!(options.from, options.to);
    }

    #[test]
    fn people_backfill_refuses_long_reversed_future_and_malformed_ranges() {
        let base = format!(
            "people backfill --table T --work-queue-url {QUEUE} --provider fitbit --user GGNJL9"
        );
        let with = |range: &str| refused(&format!("{base} {range}"));
        assert!(with("--from 2026-08-22 --to 2026-11-20")
            .contains("91 days: a backfill covers at most 90"));
        assert!(with("--from 2026-11-20 --to 2026-11-19").contains("is after"));
        assert!(with("--from 2026-11-20 --to 2026-11-22").contains("future"));
        assert!(with("--from 2026-11-22 --to 2026-11-22").contains("future"));
        assert!(with("--from 2026-11-31 --to 2026-12-01").contains("not a date"));
        assert!(with("--from 20261101 --to 2026-11-02").contains("not a date"));
        assert!(with("--from 2026-11-01").contains("needs --to"));
        assert!(with("--to 2026-11-01").contains("needs --from"));
        let no = |flag: &str| {
            let line = format!(
                "people backfill --table T --work-queue-url {QUEUE} --provider fitbit \
                 --user GGNJL9 --from 2026-11-01 --to 2026-11-02"
            );
            let without: Vec<&str> = line.split_whitespace().collect();
            let at = without.iter().position(|w| *w == flag).unwrap();
            let rest: Vec<&str> = without[..at]
                .iter()
                .chain(&without[at + 2..])
                .copied()
                .collect();
            refused(&rest.join(" "))
        };
        for flag in ["--table", "--work-queue-url", "--provider", "--user"] {
            assert!(no(flag).contains(&format!("needs {flag}")), "{flag}");
        }
        assert!(with("--from 2026-11-01 --to 2026-11-02 --json").contains("does not apply"));
        assert!(refused(&format!(
            "people backfill --table T --work-queue-url {QUEUE} --provider garmin --user U \
             --from 2026-11-01 --to 2026-11-02"
        ))
        .contains("not a provider"));
        assert!(refused(
            "people backfill --table T --work-queue-url not-a-url --provider fitbit --user U \
             --from 2026-11-01 --to 2026-11-02"
        )
        .contains("not a queue URL"));
        assert!(refused(&format!(
            "people backfill --table T --work-queue-url {QUEUE} --provider fitbit --user=A#B \
             --from 2026-11-01 --to 2026-11-02"
        ))
        .contains("not a provider's user id"));
    }

    #[test]
    fn people_disconnect_takes_a_person_and_the_work_queue() {
        assert_eq!(
            command(&format!(
                "people disconnect --table T --work-queue-url {QUEUE} --provider fitbit --user GGNJL9"
            )),
            Command::PeopleDisconnect(DisconnectOptions {
                table: "T".into(),
                work_queue_url: QUEUE.into(),
                person: Person {
                    provider: ProviderKind::Fitbit,
                    user_id: ProviderUserId("GGNJL9".into()),
                },
            })
        );
        assert!(refused(&format!(
            "people disconnect --table T --work-queue-url {QUEUE} --provider fitbit"
        ))
        .contains("needs --user"));
        assert!(refused(&format!(
            "people disconnect --table T --work-queue-url {QUEUE} --provider fitbit --user U --force"
        ))
        .contains("does not apply"));
        assert!(refused(&format!(
            "people disconnect --table T --work-queue-url {QUEUE} --provider fitbit --user U \
             --from 2026-11-01"
        ))
        .contains("does not apply"));
    }

    #[test]
    fn directory_backfill_takes_the_table_only() {
        assert_eq!(
            command("directory backfill --table T"),
            Command::DirectoryBackfill(DirectoryBackfillOptions { table: "T".into() })
        );
        assert!(refused("directory backfill").contains("needs --table"));
        assert!(refused("directory backfill --table T --dry-run").contains("does not apply"));
        assert!(refused("directory --table T").contains("which directory command"));
    }

    #[test]
    fn dlq_redrive_moves_between_two_queues_of_one_kind() {
        assert_eq!(
            command(&format!(
                "dlq redrive --from-queue-url {DLQ} --to-queue-url {QUEUE}"
            )),
            Command::DlqRedrive(RedriveOptions {
                from_queue_url: DLQ.into(),
                to_queue_url: QUEUE.into(),
                max: None,
                dry_run: false,
            })
        );
        let Command::DlqRedrive(options) = command(&format!(
            "dlq redrive --from-queue-url={DLQ} --to-queue-url={QUEUE} --max 25 --dry-run"
        )) else {
            panic!()
        };
        assert_eq!((options.max, options.dry_run), (Some(25), true));
        let fifo = command(
            "dlq redrive --from-queue-url http://127.0.0.1:4566/000000000000/retry-dlq.fifo \
             --to-queue-url http://127.0.0.1:4566/000000000000/retry.fifo",
        );
        assert!(matches!(fifo, Command::DlqRedrive(_)));

        assert!(refused("dlq").contains("which dlq command"));
        assert!(refused("dlq move").contains("unknown command"));
        assert!(refused(&format!("dlq redrive --to-queue-url {QUEUE}"))
            .contains("needs --from-queue-url"));
        assert!(refused(&format!("dlq redrive --from-queue-url {DLQ}"))
            .contains("needs --to-queue-url"));
        assert!(refused(&format!(
            "dlq redrive --from-queue-url {DLQ} --to-queue-url {DLQ}"
        ))
        .contains("same queue"));
        assert!(refused(&format!(
            "dlq redrive --from-queue-url {DLQ} --to-queue-url http://127.0.0.1:4566/0/retry.fifo"
        ))
        .contains("FIFO"));
        for max in ["0", "-1", "ten", ""] {
            assert!(
                refused(&format!(
                    "dlq redrive --from-queue-url {DLQ} --to-queue-url {QUEUE} --max={max}"
                ))
                .contains("--max"),
                "{max}"
            );
        }
        assert!(refused(&format!(
            "dlq redrive --from-queue-url {DLQ} --to-queue-url {QUEUE} --dry-run=yes"
        ))
        .contains("takes no value"));
        assert!(refused(&format!(
            "dlq redrive --from-queue-url {DLQ} --to-queue-url {QUEUE} --table T"
        ))
        .contains("does not apply"));
        assert!(refused(&format!(
            "dlq redrive --from-queue-url ftp://x/q --to-queue-url {QUEUE}"
        ))
        .contains("not a queue URL"));
        assert!(refused(&format!(
            "dlq redrive --from-queue-url https://x --to-queue-url {QUEUE}"
        ))
        .contains("not a queue URL"));
    }

    #[test]
    fn people_mistakes_are_usage_errors() {
        assert!(refused("people").contains("which people command"));
        assert!(refused("people show --table T").contains("unknown command"));
        assert!(refused("people list").contains("needs --table"));
        assert!(refused("people list --table T --status gone").contains("not a status"));
        assert!(refused("people list --table T --provider garmin").contains("not a provider"));
        assert!(refused("people list --table T --json=1").contains("takes no value"));
        assert!(refused("people list --table T --user U").contains("does not apply"));
        assert!(refused("migration pending --table T --json").contains("does not apply"));
        assert!(refused("google-health subscriber list --dry-run").contains("does not apply"));
    }
}
