//! The command line as clap reads it (derive), and the value parsers that refuse what no
//! command could use, saying why.

use clap::{Args, Parser, Subcommand};
use fitbridge::domain::work::iso_date;
use fitbridge::domain::{ConnectionStatus, ProviderKind};
use time::Date;
use url::Url;

use super::options::MAX_LINK_DAYS;

/// The top-level usage lines: what `--help` shows first.
const USAGE_LINES: &str = "\
fitbridge-admin google-health subscriber <ACTION> [OPTIONS]
       fitbridge-admin polar webhook <ACTION> --secret-id ID [OPTIONS]
       fitbridge-admin migration pending --table NAME [MIGRATION OPTIONS]
       fitbridge-admin people list --table NAME [--provider P] [--status S] [--json]
       fitbridge-admin people backfill --table NAME --work-queue-url URL --provider P --user ID --from YYYY-MM-DD --to YYYY-MM-DD
       fitbridge-admin people disconnect --table NAME --work-queue-url URL --provider P --user ID
       fitbridge-admin people forget --table NAME --provider P --user ID [--yes]
       fitbridge-admin dlq redrive --from-queue-url URL --to-queue-url URL [--max N] [--dry-run]
       fitbridge-admin directory backfill --table NAME";

const AFTER_HELP: &str = "\
Secrets Manager, DynamoDB and SQS are reached with the AWS SDK's default configuration
(AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...), as the functions do.

Exit codes:
  0  done
  1  Google (or its token endpoint), Polar, Secrets Manager, the table or a queue refused
     or failed, or the person is not in a state for the command (not connected, parked)
  2  usage: wrong arguments or local input (key file, authorization, a day in the
     person's future); nothing was changed

`fitbridge-admin <command> --help` tells each command's options.";

/// fitbridge-admin: manage fitbridge's Google Health webhook subscriber and Polar webhook;
/// list the people still to migrate off the legacy Fitbit Web API; list, backfill,
/// disconnect and forget people;
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
pub(super) struct Cli {
    #[command(subcommand)]
    pub(super) command: Top,
}

#[derive(Debug, Subcommand)]
pub(super) enum Top {
    /// Google Health's webhook subscriber (one per Google Cloud project)
    #[command(name = "google-health", subcommand, arg_required_else_help = false)]
    GoogleHealth(GoogleHealth),
    /// Polar AccessLink's webhook (one per client application)
    #[command(subcommand, arg_required_else_help = false)]
    Polar(Polar),
    /// The people still to migrate off the legacy provider
    #[command(subcommand, arg_required_else_help = false)]
    Migration(Migration),
    /// The people: list them, backfill a person's days, disconnect or forget a person
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
pub(super) enum GoogleHealth {
    /// The project's subscriber: AUTOMATIC subscriptions for everyone who consents
    #[command(subcommand, arg_required_else_help = false)]
    Subscriber(SubscriberAction),
}

#[derive(Debug, Subcommand)]
pub(super) enum SubscriberAction {
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
pub(super) struct KeyArgs {
    /// Service-account JSON key [default: $GOOGLE_APPLICATION_CREDENTIALS]
    #[arg(long, value_name = "PATH", value_parser = non_empty)]
    pub(super) key_file: Option<String>,
    /// Google Cloud project id or number [default: the key's project_id]
    #[arg(long, value_name = "ID", value_parser = non_empty)]
    pub(super) project: Option<String>,
    /// [default: $GOOGLE_HEALTH_API_BASE_URL or https://health.googleapis.com]
    #[arg(long, value_name = "URL", value_parser = non_empty)]
    pub(super) api_base_url: Option<String>,
}

#[derive(Debug, Args)]
pub(super) struct ChangeArgs {
    #[command(flatten)]
    pub(super) key: KeyArgs,
    /// [default: fitbridge]
    #[arg(long, value_name = "ID", value_parser = non_empty)]
    pub(super) subscriber_id: Option<String>,
    /// The GoogleHealthWebhookUrl stack output
    #[arg(long, value_name = "URL", value_parser = non_empty)]
    pub(super) endpoint: Option<String>,
    /// Comma-separated data types [create's default:
    /// steps,distance,total-calories,active-zone-minutes,sleep,weight]
    #[arg(long, value_name = "LIST", value_parser = non_empty)]
    pub(super) data_types: Option<String>,
    /// Secrets Manager id of the Google Health secret (the stack output GoogleHealthSecretArn); its
    /// webhook_authorization is registered
    #[arg(long, value_name = "ID", value_parser = non_empty)]
    pub(super) secret_id: Option<String>,
    /// Take the authorization (scheme included) from $VAR instead
    #[arg(long, value_name = "VAR", value_parser = non_empty)]
    pub(super) authorization_env: Option<String>,
}

#[derive(Debug, Args)]
pub(super) struct DeleteArgs {
    #[command(flatten)]
    pub(super) key: KeyArgs,
    /// [default: fitbridge]
    #[arg(long, value_name = "ID", value_parser = non_empty)]
    pub(super) subscriber_id: Option<String>,
    /// Also delete manual subscriptions
    #[arg(long)]
    pub(super) force: bool,
}

#[derive(Debug, Subcommand)]
pub(super) enum Polar {
    /// The client application's one webhook
    #[command(subcommand, arg_required_else_help = false)]
    Webhook(PolarWebhookAction),
}

#[derive(Debug, Subcommand)]
pub(super) enum PolarWebhookAction {
    /// Create the webhook. Polar pings --url (our webhook answers 200) before it answers;
    /// the signing key it shows this once is written into the Polar secret in the same step
    Create(PolarCreateArgs),
    /// One line per webhook of the client (at most one), with whether it is active
    Show(PolarArgs),
    /// Activate it again (Polar deactivates it after seven days without a delivery
    /// answered 200); Polar pings it first
    Activate(PolarArgs),
    /// Deactivate it: no deliveries until it is activated
    Deactivate(PolarArgs),
    /// Delete it; deliveries stop (the key in the secret stays until a create replaces it)
    Delete(PolarDeleteArgs),
}

/// Whose webhook, and where AccessLink is.
#[derive(Debug, Args)]
pub(super) struct PolarArgs {
    /// Secrets Manager id of the Polar secret ({client_id, client_secret,
    /// webhook_signature_key}): its client credentials authenticate the calls
    #[arg(long, value_name = "ID", value_parser = non_empty)]
    pub(super) secret_id: Option<String>,
    /// [default: $POLAR_API_BASE_URL or https://www.polaraccesslink.com]
    #[arg(long, value_name = "URL", value_parser = public_base_url)]
    pub(super) api_base_url: Option<Url>,
}

#[derive(Debug, Args)]
pub(super) struct PolarCreateArgs {
    #[command(flatten)]
    pub(super) polar: PolarArgs,
    /// Our webhook's URL: the API's public base URL and /webhooks/polar
    #[arg(long, value_name = "URL", value_parser = public_base_url)]
    pub(super) url: Option<Url>,
    /// Comma-separated events [default: ACTIVITY_SUMMARY,SLEEP,EXERCISE]
    #[arg(long, value_name = "LIST", value_parser = non_empty)]
    pub(super) events: Option<String>,
}

#[derive(Debug, Args)]
pub(super) struct PolarDeleteArgs {
    #[command(flatten)]
    pub(super) polar: PolarArgs,
    /// The webhook's id [default: the one `show` lists]
    #[arg(long, value_name = "ID", value_parser = non_empty)]
    pub(super) webhook_id: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(super) enum Migration {
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
pub(super) struct PendingArgs {
    /// The connections table (the TableName stack output)
    #[arg(long, value_name = "NAME", value_parser = non_empty)]
    pub(super) table: Option<String>,
    /// The legacy provider [default: fitbit]
    #[arg(long, value_name = "PROVIDER", value_parser = provider)]
    pub(super) from: Option<ProviderKind>,
    /// Its successor [default: google-health]
    #[arg(long, value_name = "PROVIDER", value_parser = provider)]
    pub(super) to: Option<ProviderKind>,
    /// With --link-secret-id, add to each line the connect link to send the person (the
    /// PublicBaseUrl stack output)
    #[arg(long, value_name = "URL", value_parser = public_base_url)]
    pub(super) public_base_url: Option<Url>,
    /// Secrets Manager id of the connect-link key (the ConnectLinkSecretArn stack output);
    /// links are signed with it for the successor provider
    #[arg(long, value_name = "ID", value_parser = non_empty)]
    pub(super) link_secret_id: Option<String>,
    /// How long signed links stay valid, 1 to 90 [default: 14]
    #[arg(long, value_name = "N", value_parser = link_days, allow_negative_numbers = true)]
    pub(super) link_days: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub(super) enum People {
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
    /// An erasure request: deletes now everything fitbridge holds about the person — the
    /// connection with its tokens (after revoking the grant at the provider, best effort),
    /// the tombstone, parked work, the fetch log, and their contact's import ledger, signal
    /// history and signal state — then prints, per kind, what it deleted and what was
    /// already gone. Nothing in SAP: the output names the contact to erase there with the
    /// tenant's own data-protection tooling. The grant is revoked with the provider
    /// settings of the environment, as the functions have them (FITBIT_SECRET_ID,
    /// GOOGLE_HEALTH_SECRET_ID: the FitbitSecretArn and GoogleHealthSecretArn outputs).
    /// Without --yes it only says what it would delete. Running it again is safe.
    Forget(ForgetArgs),
}

#[derive(Debug, Args)]
pub(super) struct ListArgs {
    /// The connections table (the TableName stack output)
    #[arg(long, value_name = "NAME", value_parser = non_empty)]
    pub(super) table: Option<String>,
    /// Only this provider's people
    #[arg(long, value_name = "PROVIDER", value_parser = provider)]
    pub(super) provider: Option<ProviderKind>,
    /// Only people in this status: active, needs_reconsent, provider_gone, consents_missing
    #[arg(long, value_name = "STATUS", value_parser = status)]
    pub(super) status: Option<ConnectionStatus>,
    /// A JSON array of people
    #[arg(long)]
    pub(super) json: bool,
}

#[derive(Debug, Args)]
pub(super) struct PersonArgs {
    /// The connections table (the TableName stack output)
    #[arg(long, value_name = "NAME", value_parser = non_empty)]
    pub(super) table: Option<String>,
    /// The work queue (the WorkQueueUrl stack output)
    #[arg(long, value_name = "URL", value_parser = queue_url)]
    pub(super) work_queue_url: Option<String>,
    /// The person's provider
    #[arg(long, value_name = "PROVIDER", value_parser = provider)]
    pub(super) provider: Option<ProviderKind>,
    /// The person's id at the provider (as people list shows it)
    #[arg(long, value_name = "ID", value_parser = user_id)]
    pub(super) user: Option<String>,
}

#[derive(Debug, Args)]
pub(super) struct ForgetArgs {
    /// The connections table (the TableName stack output)
    #[arg(long, value_name = "NAME", value_parser = non_empty)]
    pub(super) table: Option<String>,
    /// The person's provider
    #[arg(long, value_name = "PROVIDER", value_parser = provider)]
    pub(super) provider: Option<ProviderKind>,
    /// The person's id at the provider (as people list shows it)
    #[arg(long, value_name = "ID", value_parser = user_id)]
    pub(super) user: Option<String>,
    /// Delete; without it, nothing is deleted and the command says what it would delete
    #[arg(long)]
    pub(super) yes: bool,
}

#[derive(Debug, Args)]
pub(super) struct BackfillArgs {
    #[command(flatten)]
    pub(super) person: PersonArgs,
    /// The first day, YYYY-MM-DD
    #[arg(long, value_name = "DAY", value_parser = date)]
    pub(super) from: Option<Date>,
    /// The last day, YYYY-MM-DD
    #[arg(long, value_name = "DAY", value_parser = date)]
    pub(super) to: Option<Date>,
}

#[derive(Debug, Subcommand)]
pub(super) enum Dlq {
    /// Moves each message of a dead-letter queue to its source queue: the same body (in a
    /// FIFO queue, the same group); a message is deleted from the dead-letter queue only
    /// after its copy was accepted. A refused copy, a failed delete or a message that comes
    /// back during the run stops it (exit 1, with what was moved).
    Redrive(RedriveArgs),
}

#[derive(Debug, Args)]
pub(super) struct RedriveArgs {
    /// The dead-letter queue (WorkDeadLetterQueueUrl, or RetryDeadLetterQueueUrl)
    #[arg(long, value_name = "URL", value_parser = queue_url)]
    pub(super) from_queue_url: Option<String>,
    /// Its source queue (WorkQueueUrl, or RetryQueueUrl)
    #[arg(long, value_name = "URL", value_parser = queue_url)]
    pub(super) to_queue_url: Option<String>,
    /// Move at most N messages
    #[arg(long, value_name = "N", value_parser = max_messages, allow_negative_numbers = true)]
    pub(super) max: Option<usize>,
    /// List the messages (one line each) and move none
    #[arg(long)]
    pub(super) dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub(super) enum Directory {
    /// Once, after upgrading a stack whose table predates the daily job's Directory index:
    /// gives every active connection its directory_key and removes it from any connection
    /// that is not active. It scans the whole table once; running it again changes
    /// nothing. Prints `directory backfill: scanned=N added=N removed=N
    /// changed_meanwhile=N`.
    Backfill(TableArgs),
}

#[derive(Debug, Args)]
pub(super) struct TableArgs {
    /// The connections table (the TableName stack output)
    #[arg(long, value_name = "NAME", value_parser = non_empty)]
    pub(super) table: Option<String>,
}

// Value parsers: each refuses what no command could use, saying why.

pub(super) fn non_empty(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        Err("needs a value".into())
    } else {
        Ok(value.to_owned())
    }
}

pub(super) fn provider(name: &str) -> Result<ProviderKind, String> {
    name.parse().map_err(|_| {
        let known: Vec<&str> = ProviderKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("{name:?} is not a provider: {}", known.join(" or "))
    })
}

pub(super) fn status(name: &str) -> Result<ConnectionStatus, String> {
    ConnectionStatus::parse(name).ok_or_else(|| {
        format!(
            "{name:?} is not a status: active, needs_reconsent, provider_gone or consents_missing"
        )
    })
}

pub(super) fn user_id(user: &str) -> Result<String, String> {
    if user.is_empty()
        || user
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '#')
    {
        return Err(format!("{user:?} is not a provider's user id"));
    }
    Ok(user.to_owned())
}

pub(super) fn date(value: &str) -> Result<Date, String> {
    iso_date::parse(value).ok_or_else(|| format!("{value:?} is not a date (YYYY-MM-DD)"))
}

pub(super) fn link_days(days: &str) -> Result<u32, String> {
    days.parse::<u32>()
        .ok()
        .filter(|d| (1..=MAX_LINK_DAYS).contains(d))
        .ok_or_else(|| format!("{days:?} is not a number of days from 1 to {MAX_LINK_DAYS}"))
}

pub(super) fn max_messages(n: &str) -> Result<usize, String> {
    n.parse::<usize>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| format!("{n:?} is not a number of messages"))
}

/// An SQS queue URL as the stack outputs give it: http(s), a path, no query.
pub(super) fn queue_url(value: &str) -> Result<String, String> {
    Url::parse(value)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http"))
        .filter(|u| u.has_host() && u.path().len() > 1)
        .filter(|u| u.query().is_none() && u.fragment().is_none())
        .map(|_| value.to_owned())
        .ok_or_else(|| format!("{value:?} is not a queue URL"))
}

/// The base the links are built on: the deployment's public URL, as the stack gives it.
pub(super) fn public_base_url(value: &str) -> Result<Url, String> {
    Url::parse(value)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http"))
        .filter(|u| u.has_host() && u.query().is_none() && u.fragment().is_none())
        .ok_or_else(|| format!("{value:?} is not an http(s) URL without query or fragment"))
}
