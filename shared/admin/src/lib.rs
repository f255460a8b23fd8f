//! `fitbridge-admin`: what an operator does by hand:
//! - Google Health's webhook subscriber ([`google_health`]) and Polar's webhook
//!   ([`polar`]), once per deployment;
//! - the people still to migrate off the legacy provider ([`migration`]): listed from the
//!   connections table, each optionally with the connect link the company sends them;
//! - the people ([`people`]): listed with their status and last import; a backfill of a
//!   person's days and a disconnect, both queued as work for the worker, which does them
//!   exactly as it does the same work from a provider or the daily job; and an erasure
//!   request, done at once (`people forget`);
//! - a dead-letter queue moved back to its source queue ([`dlq`]);
//! - the daily job's directory index brought in line with the connections' statuses, once
//!   after upgrading a table whose connections predate the index ([`directory`]).
//!
//! It builds on the functions' own wiring: the table, the queues, the secrets and the
//! clock are a [`fitbridge::wiring::Ports`] — AWS through the SDK's default configuration
//! (`AWS_ENDPOINT_URL` included), or what a test hands in.
//!
//! Invariants:
//! - Nothing reaches Google, Secrets Manager, the table or a queue before every local
//!   input is checked ([`cli`]): the AWS configuration is not even loaded before.
//! - Output is one line per subscriber, person or message (a listing ends with a summary
//!   line), one line for the operation's result, or for `people forget` one line per kind
//!   of data, on stdout; errors go to stderr. Neither
//!   ever shows the authorization, the access token, the key or the connect-link key; the
//!   listings of people read no tokens at all.
//! - `migration pending` and `people list` only read. `people backfill` and `people
//!   disconnect` only queue work (the worker does it); `people forget` only revokes the
//!   person's grant at the provider and deletes what the table holds about them, never
//!   anything in SAP, and without `--yes` nothing at all; `dlq redrive` only moves
//!   messages, never losing one ([`dlq::redrive`]); `directory backfill` only sets or
//!   removes connections' `directory_key`, never another attribute.
//! - Exit codes: [`EXIT_OK`], [`EXIT_REFUSED`] (Google, its token endpoint, Secrets
//!   Manager, the table or a queue refused or failed, or the person is not in a state for
//!   the command), [`EXIT_USAGE`] (the invocation or a local input is wrong; nothing was
//!   changed).
//!
//! [`run`] is the whole program with its surroundings passed in ([`Context`]), so tests
//! drive it in-process on in-memory ports, the emulator or the sandbox.

pub mod cli;
pub mod directory;
pub mod dlq;
pub mod google_health;
pub mod migration;
pub mod people;
pub mod polar;
pub mod secrets;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use aws_config::SdkConfig;
use fitbridge::clock::SystemClock;
use fitbridge::ports::clock::SharedClock;
use fitbridge::ports::provider::Providers;
use fitbridge::provider::registry::{self, ProviderSettings};
use fitbridge::wiring::{AwsPorts, Ports};
use google_health::subscribers::OperationPolling;
use tokio::sync::OnceCell;

use cli::Command;
use dlq::queues::{MessageQueues, SqsQueues};
use secrets::{SecretStore, SecretsManagerStore};

pub const EXIT_OK: u8 = 0;
pub const EXIT_REFUSED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

/// An environment variable's value by name (the process's, or a test's map).
pub type Environment = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The table, queues, secrets and clock, as the functions' wiring provides them.
pub type SharedPorts = Arc<dyn Ports + Send + Sync>;

/// What [`run`] takes from its surroundings.
pub struct Context {
    pub env: Environment,
    pub polling: OperationPolling,
    /// What "today" is for backfills, and when signed links expire.
    pub clock: SharedClock,
    /// `None`: AWS, configured only when a command first needs it (after every local
    /// check).
    pub ports: Option<SharedPorts>,
    /// Where `dlq redrive` finds its queues; `None`: SQS.
    pub message_queues: Option<Arc<dyn MessageQueues>>,
    /// The providers' API clients `people forget` revokes a grant with; `None`: the ones
    /// the process environment configures, as the functions' (`FITBIT_SECRET_ID`,
    /// `GOOGLE_HEALTH_SECRET_ID`, the endpoints), their secrets read through the ports.
    pub providers: Option<Providers>,
    /// Where `polar webhook create` reads and writes the Polar secret; `None`: Secrets
    /// Manager.
    pub secret_store: Option<Arc<dyn SecretStore>>,
    aws: OnceCell<SdkConfig>,
    lazy_ports: OnceCell<SharedPorts>,
}

impl Context {
    /// The process's environment and clock, on AWS.
    pub fn from_process() -> Context {
        Context::new(Box::new(|name| std::env::var(name).ok()))
    }

    /// `env`, the machine's clock, on AWS (set [`Context::ports`] and
    /// [`Context::message_queues`] to run elsewhere).
    pub fn new(env: Environment) -> Context {
        Context {
            env,
            polling: OperationPolling::default(),
            clock: Arc::new(SystemClock),
            ports: None,
            message_queues: None,
            providers: None,
            secret_store: None,
            aws: OnceCell::new(),
            lazy_ports: OnceCell::new(),
        }
    }

    /// AWS through `aws` instead of the SDK's default configuration (an emulator).
    pub fn on_aws(mut self, aws: &SdkConfig) -> Context {
        self.aws = OnceCell::new_with(Some(aws.clone()));
        self
    }

    async fn aws(&self) -> &SdkConfig {
        self.aws.get_or_init(fitbridge::wiring::aws_config).await
    }

    /// The ports: the ones given, or AWS's (configured on first use).
    pub(crate) async fn ports(&self) -> SharedPorts {
        if let Some(ports) = &self.ports {
            return ports.clone();
        }
        self.lazy_ports
            .get_or_init(|| async {
                Arc::new(AwsPorts::with_clock(self.aws().await, self.clock.clone())) as SharedPorts
            })
            .await
            .clone()
    }

    /// The providers' API clients: the ones given, or those the process environment
    /// configures. Their settings are checked before anything is reached (a wrong one is a
    /// usage error); their secrets are read only when a call needs them.
    pub(crate) async fn providers(&self) -> Result<Providers, Failure> {
        if let Some(providers) = &self.providers {
            return Ok(providers.clone());
        }
        let settings = ProviderSettings::from_vars(&fitbridge::config::environment())
            .map_err(|e| usage_error(format!("the providers' settings: {e}")))?;
        let secrets = self.ports().await.secrets();
        Ok(registry::providers(
            &settings,
            fitbridge::wiring::http_client(),
            secrets,
            self.clock.clone(),
            Arc::new(fitbridge::budget::Unlimited),
        ))
    }

    /// The secrets `polar webhook` reads and writes whole.
    pub(crate) async fn secret_store(&self) -> Arc<dyn SecretStore> {
        match &self.secret_store {
            Some(store) => store.clone(),
            None => Arc::new(SecretsManagerStore(aws_sdk_secretsmanager::Client::new(
                self.aws().await,
            ))),
        }
    }

    /// The queues `dlq redrive` moves messages between.
    pub(crate) async fn message_queues(&self) -> Arc<dyn MessageQueues> {
        match &self.message_queues {
            Some(queues) => queues.clone(),
            None => Arc::new(SqsQueues(aws_sdk_sqs::Client::new(self.aws().await))),
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

/// The program: parses `args` (without the program name), does the command, writes its
/// result to `out` and any error to `err`, and returns the exit code.
pub async fn run(
    args: &[String],
    context: &Context,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let command = match cli::parse_on(args, context.clock.now().date()) {
        Ok(command) => command,
        Err(e) => {
            let _ = writeln!(err, "error: {e}\n(fitbridge-admin --help shows the usage)");
            return EXIT_USAGE;
        }
    };
    let result = match command {
        Command::Help(text) => Ok(text),
        Command::Subscriber(options) => google_health::subscriber(&options, context).await,
        Command::PolarWebhook(options) => polar::webhook(&options, context).await,
        Command::MigrationPending(options) => migration::pending(&options, context).await,
        Command::PeopleList(options) => people::list(&options, &*context.ports().await).await,
        Command::PeopleBackfill(options) => {
            people::backfill(&options, &*context.ports().await, context.clock.timestamp()).await
        }
        Command::PeopleDisconnect(options) => {
            people::disconnect(&options, &*context.ports().await).await
        }
        Command::PeopleForget(options) => match context.providers().await {
            Ok(providers) => people::forget(&options, &*context.ports().await, &providers).await,
            Err(failure) => Err(failure),
        },
        Command::DlqRedrive(options) => {
            dlq::redrive(&options, &*context.message_queues().await).await
        }
        // DynamoDB's own index, so always the table in DynamoDB (AWS_ENDPOINT_URL
        // included), whatever ports a test passes.
        Command::DirectoryBackfill(options) => {
            directory::command(&options, context.aws().await).await
        }
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
