//! The command line, parsed by clap (derive) into one [`Command`] per invocation.
//!
//! A flag given twice, a flag the command does not take, or an unknown word is a usage
//! error rather than ignored, so a typo never manages the wrong thing. Everything that can
//! be checked without the network is checked here (provider names, URLs, numbers, dates,
//! and what the flags mean together), so a usage error never reaches Google, Secrets
//! Manager, the table or a queue.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use fitbridge::domain::work::iso_date;
use fitbridge::domain::{ConnectionStatus, ProviderKind, ProviderUserId};
use fitbridge::ports::catalog::ProviderCatalog;
use fitbridge::provider::registry::Registry;
use time::Date;
use url::Url;

/// The top-level usage lines: what `--help` shows first.
const USAGE_LINES: &str = "\
fitbridge-admin google-health subscriber <ACTION> [OPTIONS]
       fitbridge-admin migration pending --table NAME [MIGRATION OPTIONS]
       fitbridge-admin people list --table NAME [--provider P] [--status S] [--json]
       fitbridge-admin people backfill --table NAME --work-queue-url URL --provider P --user ID --from YYYY-MM-DD --to YYYY-MM-DD
       fitbridge-admin people disconnect --table NAME --work-queue-url URL --provider P --user ID
       fitbridge-admin dlq redrive --from-queue-url URL --to-queue-url URL [--max N] [--dry-run]
       fitbridge-admin directory backfill --table NAME";

const AFTER_HELP: &str = "\
Secrets Manager, DynamoDB and SQS are reached with the AWS SDK's default configuration
(AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...), as the functions do.

Exit codes:
  0  done
  1  Google (or its token endpoint), Secrets Manager, the table or a queue refused or
     failed, or the person is not in a state for the command (not connected, parked)
  2  usage: wrong arguments or local input (key file, authorization, a day in the
     person's future); nothing was changed

`fitbridge-admin <command> --help` tells each command's options.";

/// fitbridge-admin: manage fitbridge's Google Health webhook subscriber; list the people
/// still to migrate off the legacy Fitbit Web API; list, backfill and disconnect people;
/// move a dead-letter queue back to its source queue; fill the daily job's directory index
#[derive(Debug, Parser)]
#[command(
    name = "fitbridge-admin",
    override_usage = USAGE_LINES,
    after_help = AFTER_HELP,
    disable_help_subcommand = true,
    disable_version_flag = true,
    subcommand_required = true,
    arg_required_else_help = false
)]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Debug, Subcommand)]
enum Top {
    /// Google Health's webhook subscriber (one per Google Cloud project)
    #[command(name = "google-health", subcommand, arg_required_else_help = false)]
    GoogleHealth(GoogleHealth),
    /// The people still to migrate off the legacy provider
    #[command(subcommand, arg_required_else_help = false)]
    Migration(Migration),
    /// The people: list them, backfill a person's days, disconnect a person
    #[command(subcommand, arg_required_else_help = false)]
    People(People),
    /// Dead-letter queues
    #[command(subcommand, arg_required_else_help = false)]
    Dlq(Dlq),
    /// The daily job's directory index
    #[command(subcommand, arg_required_else_help = false)]
    Directory(Directory),
}

#[derive(Debug, Subcommand)]
enum GoogleHealth {
    /// The project's subscriber: AUTOMATIC subscriptions for everyone who consents
    #[command(subcommand, arg_required_else_help = false)]
    Subscriber(SubscriberAction),
}

#[derive(Debug, Subcommand)]
enum SubscriberAction {
    /// Register the subscriber. Google verifies the endpoint (two probes) before it answers
    Create(ChangeArgs),
    /// One line per subscriber of the project
    List(KeyArgs),
    /// Change the endpoint, the authorization and/or the data types (a new endpoint or
    /// authorization is verified again)
    Patch(ChangeArgs),
    /// Remove the subscriber; notifications stop
    Delete(DeleteArgs),
}

/// Who calls Google, and where.
#[derive(Debug, Args)]
struct KeyArgs {
    /// Service-account JSON key [default: $GOOGLE_APPLICATION_CREDENTIALS]
    #[arg(long, value_name = "PATH", value_parser = non_empty)]
    key_file: Option<String>,
    /// Google Cloud project id or number [default: the key's project_id]
    #[arg(long, value_name = "ID", value_parser = non_empty)]
    project: Option<String>,
    /// [default: $GOOGLE_HEALTH_API_BASE_URL or https://health.googleapis.com]
    #[arg(long, value_name = "URL", value_parser = non_empty)]
    api_base_url: Option<String>,
}

#[derive(Debug, Args)]
struct ChangeArgs {
    #[command(flatten)]
    key: KeyArgs,
    /// [default: fitbridge]
    #[arg(long, value_name = "ID", value_parser = non_empty)]
    subscriber_id: Option<String>,
    /// The GoogleHealthWebhookUrl stack output
    #[arg(long, value_name = "URL", value_parser = non_empty)]
    endpoint: Option<String>,
    /// Comma-separated data types [create's default:
    /// steps,distance,total-calories,active-zone-minutes,sleep,weight]
    #[arg(long, value_name = "LIST", value_parser = non_empty)]
    data_types: Option<String>,
    /// Secrets Manager id of the Google Health secret (the GoogleHealthSecretId); its
    /// webhook_authorization is registered
    #[arg(long, value_name = "ID", value_parser = non_empty)]
    secret_id: Option<String>,
    /// Take the authorization (scheme included) from $VAR instead
    #[arg(long, value_name = "VAR", value_parser = non_empty)]
    authorization_env: Option<String>,
}

#[derive(Debug, Args)]
struct DeleteArgs {
    #[command(flatten)]
    key: KeyArgs,
    /// [default: fitbridge]
    #[arg(long, value_name = "ID", value_parser = non_empty)]
    subscriber_id: Option<String>,
    /// Also delete manual subscriptions
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Subcommand)]
enum Migration {
    /// Every connection still stored under the legacy provider, one line each, sorted:
    /// `fitbit/<user id> status=<status> contact=<origin>/<id> ref=<customer ref or ->`,
    /// then `N people to migrate (by status: ...)`. It only reads, and never the tokens.
    ///
    /// A person without a customer ref gets the plain link=<URL>/connect/google-health:
    /// the migration finds them through Google's legacyUserId all the same and keeps their
    /// contact; the ref only ties the contact to the company's own customer record, and
    /// only a link the company signed can carry it.
    Pending(PendingArgs),
}

#[derive(Debug, Args)]
struct PendingArgs {
    /// The connections table (the TableName stack output)
    #[arg(long, value_name = "NAME", value_parser = non_empty)]
    table: Option<String>,
    /// The legacy provider [default: fitbit]
    #[arg(long, value_name = "PROVIDER", value_parser = provider)]
    from: Option<ProviderKind>,
    /// Its successor [default: google-health]
    #[arg(long, value_name = "PROVIDER", value_parser = provider)]
    to: Option<ProviderKind>,
    /// With --link-secret-id, add to each line the connect link to send the person (the
    /// PublicBaseUrl stack output)
    #[arg(long, value_name = "URL", value_parser = public_base_url)]
    public_base_url: Option<Url>,
    /// Secrets Manager id of the connect-link key (the ConnectLinkSecretArn stack output);
    /// links are signed with it for the successor provider
    #[arg(long, value_name = "ID", value_parser = non_empty)]
    link_secret_id: Option<String>,
    /// How long signed links stay valid, 1 to 90 [default: 14]
    #[arg(long, value_name = "N", value_parser = link_days, allow_negative_numbers = true)]
    link_days: Option<u32>,
}

#[derive(Debug, Subcommand)]
enum People {
    /// Every connection (or a provider's, or those in one status), one line each, sorted,
    /// then `N people (by status: ...)`; with --json, a JSON array instead. It reads the
    /// table (one scan per provider, one ledger read per person), never the tokens.
    List(ListArgs),
    /// Queues one sync work item per day from --from to --to, each for every collection
    /// the person granted, as the daily job does for yesterday. The worker imports them; a
    /// day already in SAP with the same values is not written again. Only for a connected,
    /// active person; at most 90 days, none after today (UTC, and in the person's time
    /// zone).
    Backfill(BackfillArgs),
    /// Queues a revocation for a connected person (whatever their status). The worker
    /// completes it as it does a revocation by the provider: it removes the
    /// subscriptions, revokes the grant at the provider, deletes the tokens and flags the
    /// contact in SAP with a disconnect interaction.
    Disconnect(PersonArgs),
}

#[derive(Debug, Args)]
struct ListArgs {
    /// The connections table (the TableName stack output)
    #[arg(long, value_name = "NAME", value_parser = non_empty)]
    table: Option<String>,
    /// Only this provider's people
    #[arg(long, value_name = "PROVIDER", value_parser = provider)]
    provider: Option<ProviderKind>,
    /// Only people in this status: active, needs_reconsent, provider_gone
    #[arg(long, value_name = "STATUS", value_parser = status)]
    status: Option<ConnectionStatus>,
    /// A JSON array of people
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct PersonArgs {
    /// The connections table (the TableName stack output)
    #[arg(long, value_name = "NAME", value_parser = non_empty)]
    table: Option<String>,
    /// The work queue (the WorkQueueUrl stack output)
    #[arg(long, value_name = "URL", value_parser = queue_url)]
    work_queue_url: Option<String>,
    /// The person's provider
    #[arg(long, value_name = "PROVIDER", value_parser = provider)]
    provider: Option<ProviderKind>,
    /// The person's id at the provider (as people list shows it)
    #[arg(long, value_name = "ID", value_parser = user_id)]
    user: Option<String>,
}

#[derive(Debug, Args)]
struct BackfillArgs {
    #[command(flatten)]
    person: PersonArgs,
    /// The first day, YYYY-MM-DD
    #[arg(long, value_name = "DAY", value_parser = date)]
    from: Option<Date>,
    /// The last day, YYYY-MM-DD
    #[arg(long, value_name = "DAY", value_parser = date)]
    to: Option<Date>,
}

#[derive(Debug, Subcommand)]
enum Dlq {
    /// Moves each message of a dead-letter queue to its source queue: the same body (in a
    /// FIFO queue, the same group); a message is deleted from the dead-letter queue only
    /// after its copy was accepted. A refused copy, a failed delete or a message that comes
    /// back during the run stops it (exit 1, with what was moved).
    Redrive(RedriveArgs),
}

#[derive(Debug, Args)]
struct RedriveArgs {
    /// The dead-letter queue (WorkDeadLetterQueueUrl, or RetryDeadLetterQueueUrl)
    #[arg(long, value_name = "URL", value_parser = queue_url)]
    from_queue_url: Option<String>,
    /// Its source queue (WorkQueueUrl, or RetryQueueUrl)
    #[arg(long, value_name = "URL", value_parser = queue_url)]
    to_queue_url: Option<String>,
    /// Move at most N messages
    #[arg(long, value_name = "N", value_parser = max_messages, allow_negative_numbers = true)]
    max: Option<usize>,
    /// List the messages (one line each) and move none
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Subcommand)]
enum Directory {
    /// Once, after upgrading a stack whose table predates the daily job's Directory index:
    /// gives every active connection its directory_key and removes it from any connection
    /// that is not active. It scans the whole table once; running it again changes
    /// nothing. Prints `directory backfill: scanned=N added=N removed=N
    /// changed_meanwhile=N`.
    Backfill(TableArgs),
}

#[derive(Debug, Args)]
struct TableArgs {
    /// The connections table (the TableName stack output)
    #[arg(long, value_name = "NAME", value_parser = non_empty)]
    table: Option<String>,
}

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
    /// `--help` or `-h`: the help text clap rendered for where it was asked.
    Help(String),
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

/// A value the command cannot do without.
fn required<T>(value: Option<T>, flag: &str, command: &str, what: &str) -> Result<T, UsageError> {
    value.ok_or_else(|| usage(format!("{command} needs {flag} ({what})")))
}

/// Parses the command line (without the program name) on the given day (UTC): a backfill
/// may not end after it. `Err` is the usage error, as clap or a check here words it.
pub fn parse_on(args: &[String], today: Date) -> Result<Command, UsageError> {
    let argv = std::iter::once("fitbridge-admin".to_owned()).chain(args.iter().cloned());
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
            return Ok(Command::Help(e.render().to_string()))
        }
        Err(e) => {
            let text = e.render().to_string();
            let text = text.trim_start_matches("error: ").trim_end();
            return Err(usage(text));
        }
    };
    match cli.command {
        Top::GoogleHealth(GoogleHealth::Subscriber(action)) => {
            subscriber(action).map(Command::Subscriber)
        }
        Top::Migration(Migration::Pending(args)) => {
            migration_pending(args).map(Command::MigrationPending)
        }
        Top::People(People::List(args)) => Ok(Command::PeopleList(PeopleListOptions {
            table: required(
                args.table,
                "--table",
                "people list",
                "the TableName stack output",
            )?,
            provider: args.provider,
            status: args.status,
            json: args.json,
        })),
        Top::People(People::Backfill(args)) => backfill(args, today).map(Command::PeopleBackfill),
        Top::People(People::Disconnect(args)) => {
            let (table, work_queue_url, person) = person(args, "people disconnect")?;
            Ok(Command::PeopleDisconnect(DisconnectOptions {
                table,
                work_queue_url,
                person,
            }))
        }
        Top::Dlq(Dlq::Redrive(args)) => redrive(args).map(Command::DlqRedrive),
        Top::Directory(Directory::Backfill(args)) => {
            Ok(Command::DirectoryBackfill(DirectoryBackfillOptions {
                table: required(
                    args.table,
                    "--table",
                    "directory backfill",
                    "the TableName stack output",
                )?,
            }))
        }
    }
}

fn subscriber(action: SubscriberAction) -> Result<SubscriberOptions, UsageError> {
    let options = |action, key: KeyArgs, subscriber_id| SubscriberOptions {
        action,
        key_file: key.key_file.map(PathBuf::from),
        project: key.project,
        subscriber_id,
        endpoint: None,
        data_types: None,
        authorization: None,
        force: false,
        api_base_url: key.api_base_url,
    };
    let (action, args) = match action {
        SubscriberAction::List(key) => return Ok(options(Action::List, key, None)),
        SubscriberAction::Delete(args) => {
            return Ok(SubscriberOptions {
                force: args.force,
                ..options(Action::Delete, args.key, args.subscriber_id)
            })
        }
        SubscriberAction::Create(args) => (Action::Create, args),
        SubscriberAction::Patch(args) => (Action::Patch, args),
    };
    let authorization = match (args.secret_id, args.authorization_env) {
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
        endpoint: args.endpoint,
        data_types: args.data_types.map(|list| {
            list.split(',')
                .map(|t| t.trim().to_owned())
                .collect::<Vec<_>>()
        }),
        authorization,
        ..options(action, args.key, args.subscriber_id)
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

fn migration_pending(args: PendingArgs) -> Result<MigrationOptions, UsageError> {
    let table = args
        .table
        .ok_or_else(|| usage("migration pending needs --table (the TableName stack output)"))?;
    let from = args.from.unwrap_or(DEFAULT_FROM);
    let to = match args.to {
        Some(to) => to,
        None => successor(from)
            .ok_or_else(|| usage(format!("nobody migrates off {from}: it has no successor")))?,
    };
    if Registry.predecessor(to) != Some(from) {
        return Err(usage(match Registry.predecessor(to) {
            Some(p) => format!("people migrate to {to} from {p}, not from {from}"),
            None => format!("nobody migrates to {to}: it succeeds no provider"),
        }));
    }
    let links = match (args.public_base_url, args.link_secret_id) {
        (Some(public_base_url), Some(secret_id)) => Some(LinkOptions {
            public_base_url,
            secret_id,
            lifetime_days: args.link_days.unwrap_or(DEFAULT_LINK_DAYS),
        }),
        (None, None) if args.link_days.is_some() => {
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

/// The table, the work queue and the person, all required.
fn person(args: PersonArgs, command: &str) -> Result<(String, String, Person), UsageError> {
    let table = required(args.table, "--table", command, "the TableName stack output")?;
    let work_queue_url = required(
        args.work_queue_url,
        "--work-queue-url",
        command,
        "the WorkQueueUrl stack output",
    )?;
    let provider = required(
        args.provider,
        "--provider",
        command,
        "the person's provider",
    )?;
    let user = required(
        args.user,
        "--user",
        command,
        "the person's id at the provider",
    )?;
    Ok((
        table,
        work_queue_url,
        Person {
            provider,
            user_id: ProviderUserId(user),
        },
    ))
}

fn backfill(args: BackfillArgs, today: Date) -> Result<BackfillOptions, UsageError> {
    const COMMAND: &str = "people backfill";
    let (table, work_queue_url, person) = person(args.person, COMMAND)?;
    let from = required(args.from, "--from", COMMAND, "the first day, YYYY-MM-DD")?;
    let to = required(args.to, "--to", COMMAND, "the last day, YYYY-MM-DD")?;
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

fn redrive(args: RedriveArgs) -> Result<RedriveOptions, UsageError> {
    const COMMAND: &str = "dlq redrive";
    let from_queue_url = required(
        args.from_queue_url,
        "--from-queue-url",
        COMMAND,
        "the dead-letter queue, e.g. the WorkDeadLetterQueueUrl stack output",
    )?;
    let to_queue_url = required(
        args.to_queue_url,
        "--to-queue-url",
        COMMAND,
        "its source queue, e.g. the WorkQueueUrl stack output",
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
    Ok(RedriveOptions {
        from_queue_url,
        to_queue_url,
        max: args.max,
        dry_run: args.dry_run,
    })
}

// Value parsers: each refuses what no command could use, saying why.

fn non_empty(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        Err("needs a value".into())
    } else {
        Ok(value.to_owned())
    }
}

fn provider(name: &str) -> Result<ProviderKind, String> {
    name.parse().map_err(|_| {
        let known: Vec<&str> = ProviderKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("{name:?} is not a provider: {}", known.join(" or "))
    })
}

fn status(name: &str) -> Result<ConnectionStatus, String> {
    ConnectionStatus::parse(name).ok_or_else(|| {
        format!("{name:?} is not a status: active, needs_reconsent or provider_gone")
    })
}

fn user_id(user: &str) -> Result<String, String> {
    if user.is_empty()
        || user
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '#')
    {
        return Err(format!("{user:?} is not a provider's user id"));
    }
    Ok(user.to_owned())
}

fn date(value: &str) -> Result<Date, String> {
    iso_date::parse(value).ok_or_else(|| format!("{value:?} is not a date (YYYY-MM-DD)"))
}

fn link_days(days: &str) -> Result<u32, String> {
    days.parse::<u32>()
        .ok()
        .filter(|d| (1..=MAX_LINK_DAYS).contains(d))
        .ok_or_else(|| format!("{days:?} is not a number of days from 1 to {MAX_LINK_DAYS}"))
}

fn max_messages(n: &str) -> Result<usize, String> {
    n.parse::<usize>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| format!("{n:?} is not a number of messages"))
}

/// The provider whose predecessor `from` is.
fn successor(from: ProviderKind) -> Option<ProviderKind> {
    ProviderKind::ALL
        .into_iter()
        .find(|k| Registry.predecessor(*k) == Some(from))
}

/// An SQS queue URL as the stack outputs give it: http(s), a path, no query.
fn queue_url(value: &str) -> Result<String, String> {
    Url::parse(value)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http"))
        .filter(|u| u.has_host() && u.path().len() > 1)
        .filter(|u| u.query().is_none() && u.fragment().is_none())
        .map(|_| value.to_owned())
        .ok_or_else(|| format!("{value:?} is not a queue URL"))
}

/// The base the links are built on: the deployment's public URL, as the stack gives it.
fn public_base_url(value: &str) -> Result<Url, String> {
    Url::parse(value)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http"))
        .filter(|u| u.has_host() && u.query().is_none() && u.fragment().is_none())
        .ok_or_else(|| format!("{value:?} is not an http(s) URL without query or fragment"))
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
        let Ok(Command::Help(top)) = parse(&args("--help")) else {
            panic!("help")
        };
        assert!(
            top.contains("fitbridge-admin people list --table NAME"),
            "{top}"
        );
        let Ok(Command::Help(create)) = parse(&args("google-health subscriber create -h")) else {
            panic!("help")
        };
        assert!(create.contains("--endpoint"), "{create}");
    }

    #[test]
    fn mistakes_are_usage_errors() {
        assert!(refused("").contains("requires a subcommand"));
        assert!(refused("google-health").contains("requires a subcommand"));
        assert!(refused("google-health subscriber").contains("requires a subcommand"));
        assert!(refused("google-health subscriber update").contains("unrecognized subcommand"));
        assert!(refused("fitbit subscriber list").contains("unrecognized subcommand"));
        assert!(refused("google-health subscriber list --verbose").contains("unexpected argument"));
        assert!(refused("google-health subscriber list --force").contains("unexpected argument"));
        assert!(
            refused("google-health subscriber delete --data-types steps")
                .contains("unexpected argument")
        );
        assert!(refused("google-health subscriber list --project").contains("a value is required"));
        assert!(
            refused("google-health subscriber list --project --key-file k")
                .contains("a value is required")
        );
        assert!(refused("google-health subscriber list --project=").contains("needs a value"));
        assert!(
            refused("google-health subscriber list --project a --project b")
                .contains("cannot be used multiple times")
        );
        assert!(refused("google-health subscriber delete --force=yes").contains("unexpected value"));
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
        assert!(refused("migration").contains("requires a subcommand"));
        assert!(refused("migration list --table T").contains("unrecognized subcommand"));
        assert!(refused("migration pending").contains("--table"));
        assert!(refused("migration pending --table").contains("a value is required"));
        assert!(refused("migration pending --table T --bogus").contains("unexpected argument"));
        assert!(refused("migration pending --table T --force").contains("unexpected argument"));
        assert!(refused("migration pending --table T --project p").contains("unexpected argument"));
        assert!(refused("google-health subscriber list --table T").contains("unexpected argument"));
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
        assert!(with("--from 2026-11-01 --to 2026-11-02 --json").contains("unexpected argument"));
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
        .contains("unexpected argument"));
        assert!(refused(&format!(
            "people disconnect --table T --work-queue-url {QUEUE} --provider fitbit --user U \
             --from 2026-11-01"
        ))
        .contains("unexpected argument"));
    }

    #[test]
    fn directory_backfill_takes_the_table_only() {
        assert_eq!(
            command("directory backfill --table T"),
            Command::DirectoryBackfill(DirectoryBackfillOptions { table: "T".into() })
        );
        assert!(refused("directory backfill").contains("needs --table"));
        assert!(refused("directory backfill --table T --dry-run").contains("unexpected argument"));
        assert!(refused("directory --table T").contains("unexpected argument"));
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

        assert!(refused("dlq").contains("requires a subcommand"));
        assert!(refused("dlq move").contains("unrecognized subcommand"));
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
        .contains("unexpected value"));
        assert!(refused(&format!(
            "dlq redrive --from-queue-url {DLQ} --to-queue-url {QUEUE} --table T"
        ))
        .contains("unexpected argument"));
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
        assert!(refused("people").contains("requires a subcommand"));
        assert!(refused("people show --table T").contains("unrecognized subcommand"));
        assert!(refused("people list").contains("needs --table"));
        assert!(refused("people list --table T --status gone").contains("not a status"));
        assert!(refused("people list --table T --provider garmin").contains("not a provider"));
        assert!(refused("people list --table T --json=1").contains("unexpected value"));
        assert!(refused("people list --table T --user U").contains("unexpected argument"));
        assert!(refused("migration pending --table T --json").contains("unexpected argument"));
        assert!(refused("google-health subscriber list --dry-run").contains("unexpected argument"));
    }
}
