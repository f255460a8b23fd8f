//! `fitbridge-admin`: what an operator does by hand:
//! - Google Health's webhook subscriber (one per Google Cloud project, `AUTOMATIC`
//!   subscriptions for everyone who consents), managed with a service-account key, once
//!   per deployment;
//! - the people still to migrate off the legacy Fitbit Web API ([`migration`]): listed
//!   from the connections table, each optionally with the connect link the company sends
//!   them;
//! - the people ([`people`]): listed with their status and last import; a backfill of a
//!   person's days and a disconnect, both queued as work for the worker, which does them
//!   exactly as it does the same work from a provider or the daily job;
//! - a dead-letter queue moved back to its source queue ([`dlq`]);
//! - the daily job's directory index brought in line with the connections' statuses, once
//!   after upgrading a table whose connections predate the index
//!   ([`fitbridge::store::dynamodb::DynamoStore::backfill_directory`]).
//!
//! Invariants:
//! - Nothing reaches Google, Secrets Manager, the table or a queue before every local
//!   input is checked: arguments, the key file, and the endpoint authorization (which
//!   must carry its scheme, `Bearer …`).
//! - Output is one line per subscriber, person or message (a listing ends with a summary
//!   line), or one line for the operation's result, on stdout; errors go to stderr. Neither
//!   ever shows the authorization, the access token, the key or the connect-link key; the
//!   listings of people read no tokens at all.
//! - `migration pending` and `people list` only read. `people backfill` and `people
//!   disconnect` only queue work (the worker does it); `dlq redrive` only moves messages,
//!   never losing one ([`fitbridge::queue::redrive`]); `directory backfill` only sets or
//!   removes connections' `directory_key`, never another attribute.
//! - Exit codes: [`EXIT_OK`], [`EXIT_REFUSED`] (Google, its token endpoint, Secrets
//!   Manager, the table or a queue refused or failed, or the person is not in a state for
//!   the command), [`EXIT_USAGE`] (the invocation or a local input is wrong; nothing was
//!   changed).
//! - The authorization registered is the Google Health secret's `webhook_authorization`,
//!   and the connect-link key the `ConnectLinkSecret`'s `key`, read like the functions
//!   read them (Secrets Manager through the SDK's default configuration,
//!   `AWS_ENDPOINT_URL` included), so the probes Google sends are answered by the
//!   deployed webhook with the same value and the printed links are accepted by the
//!   deployed connect route.
//!
//! [`run`] is the whole program with its environment passed in, so tests drive it
//! in-process against the sandbox; [`run_with_directory`] also passes in the connections
//! table (an in-memory store, or the emulator's), [`run_with_backends`] the table and the
//! queues.

pub mod args;
pub mod dlq;
pub mod migration;
pub mod people;
pub mod token;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use fitbridge::clock::SystemClock;
use fitbridge::domain::Secret;
use fitbridge::ports::clock::SharedClock;
use fitbridge::ports::queue::{MessageQueue, WorkQueue};
use fitbridge::ports::secrets::SecretSource;
use fitbridge::ports::store::ConnectionDirectory;
use fitbridge::provider::google_health::subscribers::{
    self, OperationPolling, ProjectSubscribers, Subscriber, SubscriberChanges, SubscriberError,
    DEFAULT_DATA_TYPES,
};
use fitbridge::provider::google_health::GoogleHealthCredentials;
use fitbridge::queue::sqs::SqsQueue;
use fitbridge::secret_store::{SecretCache, SecretsManagerSource};
use fitbridge::store::dynamodb::DynamoStore;
use fitbridge::wiring::Table;
use url::Url;

use args::{Action, AuthorizationSource, Command, SubscriberOptions};
use token::ServiceAccount;

pub const EXIT_OK: u8 = 0;
pub const EXIT_REFUSED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

pub const DEFAULT_SUBSCRIBER_ID: &str = "fitbridge";
pub const DEFAULT_API_BASE_URL: &str = "https://health.googleapis.com";

pub const USAGE: &str = "\
fitbridge-admin: manage fitbridge's Google Health webhook subscriber; list the people
still to migrate off the legacy Fitbit Web API; list, backfill and disconnect people;
move a dead-letter queue back to its source queue; fill the daily job's directory index

USAGE:
    fitbridge-admin google-health subscriber <ACTION> [OPTIONS]
    fitbridge-admin migration pending --table NAME [MIGRATION OPTIONS]
    fitbridge-admin people list --table NAME [--provider P] [--status S] [--json]
    fitbridge-admin people backfill --table NAME --work-queue-url URL --provider P --user ID
                                    --from YYYY-MM-DD --to YYYY-MM-DD
    fitbridge-admin people disconnect --table NAME --work-queue-url URL --provider P --user ID
    fitbridge-admin dlq redrive --from-queue-url URL --to-queue-url URL [--max N] [--dry-run]
    fitbridge-admin directory backfill --table NAME

ACTIONS:
    create   register the subscriber: AUTOMATIC subscriptions for everyone who consents.
             Google verifies the endpoint (two probes) before it answers.
    list     one line per subscriber of the project
    patch    change the endpoint, the authorization and/or the data types
             (a new endpoint or authorization is verified again)
    delete   remove the subscriber; notifications stop

OPTIONS:
    --key-file PATH          service-account JSON key
                             [default: $GOOGLE_APPLICATION_CREDENTIALS]
    --project ID             Google Cloud project id or number [default: the key's project_id]
    --subscriber-id ID       [default: fitbridge]                    (create, patch, delete)
    --endpoint URL           the GoogleHealthWebhookUrl stack output (create, patch)
    --data-types LIST        comma-separated data types              (create, patch)
                             [default: steps,distance,total-calories,active-zone-minutes,sleep,weight]
    --secret-id ID           Secrets Manager id of the Google Health secret (the
                             GoogleHealthSecretId); its webhook_authorization is registered
    --authorization-env VAR  take the authorization (scheme included) from $VAR instead
    --force                  also delete manual subscriptions         (delete)
    --api-base-url URL       [default: $GOOGLE_HEALTH_API_BASE_URL or https://health.googleapis.com]
    -h, --help               this text

MIGRATION PENDING:
    Lists every connection still stored under the legacy provider (a person who migrated
    has none left there), whatever its status, one line each, sorted:
        fitbit/<user id> status=<status> contact=<origin>/<id> ref=<customer ref or ->
    then `N people to migrate (by status: ...)`. It only reads, and never the tokens.

    --table NAME             the connections table (the TableName stack output)
    --from PROVIDER          the legacy provider [default: fitbit]
    --to PROVIDER            its successor [default: google-health]
    --public-base-url URL    with --link-secret-id, add to each line the connect link to
                             send the person (the PublicBaseUrl stack output):
                             link=<URL>/connect/google-health?ref=..&expires=..&sig=..
    --link-secret-id ID      Secrets Manager id of the connect-link key (the
                             ConnectLinkSecretArn stack output); links are signed with it
                             for the successor provider
    --link-days N            how long signed links stay valid, 1 to 90 [default: 14]

    A person without a customer ref gets the plain link=<URL>/connect/google-health:
    the migration finds them through Google's legacyUserId all the same and keeps their
    contact; the ref only ties the contact to the company's own customer record, and
    only a link the company signed can carry it.

PEOPLE LIST:
    Every connection (or a provider's, or those in one status), one line each, sorted:
        <provider>/<user id> status=<status> contact=<origin>/<id> connected=<time>
            consented=<time> last_day=<day> last_import=<time>
    then `N people (by status: ...)`; with --json, a JSON array instead. connected is the
    first connect, consented the latest; last_day is the newest day in the contact's
    import ledger and last_import when it was written to SAP (- for none; unconfirmed
    for a write still in flight). It reads the table (one scan per provider, one
    ledger read per person), never the tokens.

    --table NAME             the connections table (the TableName stack output)
    --provider PROVIDER      only this provider's people
    --status STATUS          only people in this status: active, needs_reconsent,
                             provider_gone
    --json                   a JSON array of people

PEOPLE BACKFILL:
    Queues one sync work item per day from --from to --to, each for every collection
    the person granted, as the daily job does for yesterday. The worker imports them;
    a day already in SAP with the same values is not written again. Only for a
    connected, active person.

    --table NAME             the connections table (the TableName stack output)
    --work-queue-url URL     the work queue (the WorkQueueUrl stack output)
    --provider PROVIDER      the person's provider
    --user ID                the person's id at the provider (as people list shows it)
    --from DAY, --to DAY     the first and the last day, YYYY-MM-DD: at most 90 days,
                             none after today (UTC, and in the person's time zone)

PEOPLE DISCONNECT:
    Queues a revocation for a connected person (whatever their status), with --table,
    --work-queue-url, --provider and --user as above. The worker completes it as it
    does a revocation by the provider: it removes the subscriptions, revokes the grant
    at the provider, deletes the tokens and flags the contact in SAP with a disconnect
    interaction; the person then leaves people list.

DLQ REDRIVE:
    Moves each message of a dead-letter queue to its source queue: the same body (in a
    FIFO queue, the same group); a message is deleted from the dead-letter queue only
    after its copy was accepted. A refused copy, a failed delete or a message that comes
    back during the run stops it (exit 1, with what was moved).

    --from-queue-url URL     the dead-letter queue (WorkDeadLetterQueueUrl, or
                             RetryDeadLetterQueueUrl)
    --to-queue-url URL       its source queue (WorkQueueUrl, or RetryQueueUrl)
    --max N                  move at most N messages
    --dry-run                list the messages (one line each) and move none

DIRECTORY BACKFILL:
    Once, after upgrading a stack whose table predates the daily job's Directory index:
    gives every active connection its directory_key (the index's key; connections
    written before the index existed lack it, and the daily job, which reads only the
    index, would not see them) and removes it from any connection that is not active.
    It scans the whole table once; running it again changes nothing. Prints
        directory backfill: scanned=N added=N removed=N changed_meanwhile=N
    (changed_meanwhile: connections reconnected, parked or revoked during the run,
    whose own write already set the index right).

    --table NAME             the connections table (the TableName stack output)

Secrets Manager, DynamoDB and SQS are reached with the AWS SDK's default configuration
(AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...), as the functions do.

EXIT CODES:
    0  done
    1  Google (or its token endpoint), Secrets Manager, the table or a queue refused or
       failed, or the person is not in a state for the command (not connected, parked)
    2  usage: wrong arguments or local input (key file, authorization, a day in the
       person's future); nothing was changed
";

/// An environment variable's value by name (the process's, or a test's map).
pub type Environment = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What [`run`] takes from its surroundings.
pub struct Context {
    pub env: Environment,
    /// Where `--secret-id` is read. `None`: Secrets Manager with the AWS SDK's default
    /// configuration (`fitbridge::wiring::aws_config`).
    pub secrets: Option<Arc<dyn SecretSource>>,
    pub polling: OperationPolling,
    /// What "today" is for backfills, and when signed links expire.
    pub clock: SharedClock,
}

impl Context {
    pub fn from_process() -> Context {
        Context {
            env: Box::new(|name| std::env::var(name).ok()),
            secrets: None,
            polling: OperationPolling::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

/// Why the program stops early, and with which exit code.
pub(crate) struct Failure {
    code: u8,
    message: String,
    /// What was done before it stopped, for stdout.
    output: String,
}

/// The closing line of a listing of people: `3 people (by status: active=2, ...)`, with
/// `what` after the count (say, " to migrate").
pub(crate) fn people_count_line(by_status: &BTreeMap<&str, usize>, what: &str) -> String {
    let total: usize = by_status.values().sum();
    let noun = if total == 1 { "person" } else { "people" };
    let mut line = format!("{total} {noun}{what}");
    if !by_status.is_empty() {
        let counts: Vec<String> = by_status
            .iter()
            .map(|(status, n)| format!("{status}={n}"))
            .collect();
        line += &format!(" (by status: {})", counts.join(", "));
    }
    line.push('\n');
    line
}

pub(crate) fn usage_error(message: impl Into<String>) -> Failure {
    Failure {
        code: EXIT_USAGE,
        message: message.into(),
        output: String::new(),
    }
}

pub(crate) fn refused(message: impl Into<String>) -> Failure {
    Failure {
        code: EXIT_REFUSED,
        message: message.into(),
        output: String::new(),
    }
}

impl From<SubscriberError> for Failure {
    fn from(error: SubscriberError) -> Failure {
        Failure {
            code: if error.is_invalid_argument() {
                EXIT_USAGE
            } else {
                EXIT_REFUSED
            },
            message: error.to_string(),
            output: String::new(),
        }
    }
}

/// Where the people and dlq commands find the table and the queues.
pub trait Backends: Send + Sync {
    /// The table: every storage port.
    fn table(&self, name: &str) -> Arc<dyn Table>;
    fn work_queue(&self, url: &str) -> Arc<dyn WorkQueue>;
    fn message_queue(&self, url: &str) -> Arc<dyn MessageQueue>;
}

/// DynamoDB and SQS through the AWS SDK's default configuration
/// (`fitbridge::wiring::aws_config`: `AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL`, ...).
pub struct AwsBackends {
    dynamodb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
}

impl AwsBackends {
    pub async fn from_environment() -> AwsBackends {
        AwsBackends::from_config(&fitbridge::wiring::aws_config().await)
    }

    /// On a configuration built elsewhere (the local stack's emulator).
    pub fn from_config(config: &aws_config::SdkConfig) -> AwsBackends {
        AwsBackends {
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
        }
    }
}

impl Backends for AwsBackends {
    fn table(&self, name: &str) -> Arc<dyn Table> {
        Arc::new(DynamoStore::new(
            self.dynamodb.clone(),
            name,
            Arc::new(SystemClock),
        ))
    }

    fn work_queue(&self, url: &str) -> Arc<dyn WorkQueue> {
        Arc::new(SqsQueue::new(self.sqs.clone(), url))
    }

    fn message_queue(&self, url: &str) -> Arc<dyn MessageQueue> {
        Arc::new(SqsQueue::new(self.sqs.clone(), url))
    }
}

/// The backends given, or AWS's (configured only now: after every local check).
async fn backends_or_aws(given: Option<Arc<dyn Backends>>) -> Arc<dyn Backends> {
    match given {
        Some(backends) => backends,
        None => Arc::new(AwsBackends::from_environment().await),
    }
}

/// The program: parses `args` (without the program name), does the action, writes its
/// result to `out` and any error to `err`, and returns the exit code.
pub async fn run(
    args: &[String],
    context: &Context,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    run_with_directory(args, context, None, out, err).await
}

/// [`run`], with `migration pending` reading the connections from `directory` instead of
/// the `--table` in DynamoDB (`None`: that table, through `fitbridge::wiring::aws_config`).
pub async fn run_with_directory(
    args: &[String],
    context: &Context,
    directory: Option<Arc<dyn ConnectionDirectory>>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    run_on(args, context, directory, None, out, err).await
}

/// [`run`], with the people and dlq commands (and `migration pending`) on `backends`'
/// table and queues instead of DynamoDB's and SQS's.
pub async fn run_with_backends(
    args: &[String],
    context: &Context,
    backends: Arc<dyn Backends>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    run_on(args, context, None, Some(backends), out, err).await
}

async fn run_on(
    args: &[String],
    context: &Context,
    directory: Option<Arc<dyn ConnectionDirectory>>,
    backends: Option<Arc<dyn Backends>>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let command = match args::parse_on(args, context.clock.now().date()) {
        Ok(command) => command,
        Err(e) => {
            let _ = writeln!(err, "error: {e}\n(fitbridge-admin --help shows the usage)");
            return EXIT_USAGE;
        }
    };
    let result = match command {
        Command::Help => Ok(USAGE.to_owned()),
        Command::Subscriber(options) => subscriber(&options, context).await,
        Command::MigrationPending(options) => {
            let directory = match (directory, &backends) {
                (Some(directory), _) => Some(directory),
                (None, Some(backends)) => {
                    Some(backends.table(&options.table) as Arc<dyn ConnectionDirectory>)
                }
                (None, None) => None,
            };
            migration::pending(&options, context, directory).await
        }
        Command::PeopleList(options) => {
            people::list(&options, &*backends_or_aws(backends).await).await
        }
        Command::PeopleBackfill(options) => {
            let backends = backends_or_aws(backends).await;
            people::backfill(&options, &*backends, context.clock.timestamp()).await
        }
        Command::PeopleDisconnect(options) => {
            people::disconnect(&options, &*backends_or_aws(backends).await).await
        }
        Command::DlqRedrive(options) => {
            dlq::redrive(&options, &*backends_or_aws(backends).await).await
        }
        // DynamoDB's own index, so always the table in DynamoDB (AWS_ENDPOINT_URL
        // included), whatever backends a test passes for the ports.
        Command::DirectoryBackfill(options) => directory_backfill(&options).await,
    };
    let failure = match result {
        Ok(text) => match out.write_all(text.as_bytes()) {
            Ok(()) => return EXIT_OK,
            Err(e) => refused(format!("cannot write the result: {e}")),
        },
        Err(failure) => failure,
    };
    let _ = out.write_all(failure.output.as_bytes());
    let _ = writeln!(err, "error: {}", failure.message);
    failure.code
}

/// `directory backfill`: one line with what it did.
async fn directory_backfill(options: &args::DirectoryBackfillOptions) -> Result<String, Failure> {
    let config = fitbridge::wiring::aws_config().await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        &options.table,
        Arc::new(SystemClock),
    );
    let done = store
        .backfill_directory()
        .await
        .map_err(|e| refused(e.to_string()))?;
    Ok(format!(
        "directory backfill: scanned={} added={} removed={} changed_meanwhile={}\n",
        done.scanned, done.added, done.removed, done.changed_meanwhile
    ))
}

/// `google-health subscriber <action>`: its result, one line per subscriber or one line.
async fn subscriber(options: &SubscriberOptions, context: &Context) -> Result<String, Failure> {
    // Every local check first: nothing reaches Google with a wrong input.
    let subscriber_id = options
        .subscriber_id
        .clone()
        .unwrap_or_else(|| DEFAULT_SUBSCRIBER_ID.to_owned());
    if options.action != Action::List {
        subscribers::check_subscriber_id(&subscriber_id)?;
    }
    let data_types = match (&options.data_types, options.action) {
        (Some(list), _) => Some(list.clone()),
        (None, Action::Create) => Some(DEFAULT_DATA_TYPES.map(String::from).to_vec()),
        (None, _) => None,
    };
    if let Some(list) = &data_types {
        subscribers::check_data_types(list)?;
    }
    if let Some(endpoint) = &options.endpoint {
        subscribers::check_endpoint_uri(endpoint)?;
    }
    let api_base_url = options
        .api_base_url
        .clone()
        .or_else(|| (context.env)("GOOGLE_HEALTH_API_BASE_URL").filter(|v| !v.is_empty()))
        .unwrap_or_else(|| DEFAULT_API_BASE_URL.to_owned());
    let api_base_url = Url::parse(&api_base_url)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http"))
        .ok_or_else(|| {
            usage_error(format!(
                "API base URL {api_base_url:?} is not an http(s) URL"
            ))
        })?;
    let key_file = options
        .key_file
        .clone()
        .or_else(|| {
            (context.env)("GOOGLE_APPLICATION_CREDENTIALS")
                .filter(|v| !v.is_empty())
                .map(Into::into)
        })
        .ok_or_else(|| {
            usage_error("no service-account key: --key-file or GOOGLE_APPLICATION_CREDENTIALS")
        })?;
    let account = ServiceAccount::from_file(&key_file).map_err(|e| usage_error(e.to_string()))?;
    let project = options
        .project
        .clone()
        .or_else(|| account.project_id().map(str::to_owned))
        .ok_or_else(|| usage_error("no project: --project, or a key with a project_id"))?;
    let authorization = match &options.authorization {
        Some(source) => Some(authorization(source, context).await?),
        None => None,
    };
    let subscribers = ProjectSubscribers::new(http_client(), &api_base_url, &project)?
        .with_polling(context.polling);

    let token = account
        .access_token()
        .await
        .map_err(|e| refused(e.to_string()))?;
    let line = match options.action {
        Action::Create => {
            let (Some(endpoint), Some(authorization), Some(data_types)) =
                (&options.endpoint, &authorization, &data_types)
            else {
                return Err(usage_error("create needs --endpoint and an authorization"));
            };
            let created = subscribers
                .create(&token, &subscriber_id, endpoint, authorization, data_types)
                .await?;
            format!("created {}", describe(&created))
        }
        Action::List => {
            let all = subscribers.list(&token).await?;
            all.iter().map(|s| describe(s) + "\n").collect::<String>()
        }
        Action::Patch => {
            let changes = SubscriberChanges {
                endpoint_uri: options.endpoint.clone(),
                authorization,
                data_types,
            };
            let updated = subscribers.patch(&token, &subscriber_id, &changes).await?;
            format!("updated {}", describe(&updated))
        }
        Action::Delete => {
            subscribers
                .delete(&token, &subscriber_id, options.force)
                .await?;
            format!("deleted projects/{project}/subscribers/{subscriber_id}")
        }
    };
    Ok(if line.is_empty() || line.ends_with('\n') {
        line
    } else {
        line + "\n"
    })
}

/// The endpoint authorization, checked for its scheme before anything is sent.
async fn authorization(source: &AuthorizationSource, context: &Context) -> Result<Secret, Failure> {
    let value = match source {
        AuthorizationSource::Environment { variable } => (context.env)(variable)
            .filter(|v| !v.is_empty())
            .map(Secret::new)
            .ok_or_else(|| usage_error(format!("${variable} is not set")))?,
        AuthorizationSource::SecretsManager { secret_id } => {
            let source = match &context.secrets {
                Some(source) => source.clone(),
                None => {
                    let aws = fitbridge::wiring::aws_config().await;
                    Arc::new(SecretsManagerSource::new(
                        aws_sdk_secretsmanager::Client::new(&aws),
                    ))
                }
            };
            let credentials: GoogleHealthCredentials = SecretCache::new(source)
                .get(secret_id)
                .await
                .map_err(|e| refused(e.to_string()))?;
            credentials.webhook_authorization
        }
    };
    subscribers::check_authorization(&value)?;
    Ok(value)
}

/// Google verifies the endpoint before create and patch answer: a cold Lambda behind it
/// takes seconds, so the timeout is generous.
fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(90))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("fitbridge-admin/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("static client configuration is valid")
}

/// `projects/p/subscribers/fitbridge state=ACTIVE endpoint=https://… data-types=AUTOMATIC:steps,sleep secret=set`
pub fn describe(subscriber: &Subscriber) -> String {
    let configs: Vec<String> = subscriber
        .subscriber_configs
        .iter()
        .map(|c| {
            format!(
                "{}:{}",
                c.subscription_create_policy,
                c.data_types.join(",")
            )
        })
        .collect();
    let or_dash = |s: &str| {
        if s.is_empty() {
            "-".to_owned()
        } else {
            s.to_owned()
        }
    };
    format!(
        "{} state={} endpoint={} data-types={} secret={}",
        subscriber.name,
        or_dash(&subscriber.state),
        or_dash(&subscriber.endpoint_uri),
        or_dash(&configs.join(";")),
        if subscriber.secret_set() {
            "set"
        } else {
            "unset"
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use fitbridge::provider::google_health::subscribers::SubscriberConfig;

    #[test]
    fn a_subscriber_is_one_line_without_secrets() {
        let subscriber = Subscriber {
            name: "projects/p/subscribers/fitbridge".into(),
            endpoint_uri: "https://x.example/webhooks/google-health".into(),
            state: "ACTIVE".into(),
            subscriber_configs: vec![SubscriberConfig {
                data_types: vec!["steps".into(), "sleep".into()],
                subscription_create_policy: "AUTOMATIC".into(),
            }],
            endpoint_authorization: Some(Default::default()),
            ..Subscriber::default()
        };
        assert_eq!(
            describe(&subscriber),
            "projects/p/subscribers/fitbridge state=ACTIVE \
             endpoint=https://x.example/webhooks/google-health \
             data-types=AUTOMATIC:steps,sleep secret=unset"
        );
        assert_eq!(
            describe(&Subscriber::default()),
            " state=- endpoint=- data-types=- secret=unset"
        );
    }
}
