//! Assembles adapters into use cases. Functions call this once per container, in `main`;
//! tests call it with their own settings, so both run exactly the same graph.
//!
//! The storage, queue and secret adapters come from [`Ports`]: AWS in production
//! ([`AwsPorts`]); tests that must run without AWS pass in-memory ones to the `*_on`
//! functions and get the same graph on them.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::http::SharedHttpClient;

use crate::api::sqs::{RetryConsumer, WorkConsumer, BACKOFF_BASE};
use crate::clock::{SharedClock, SystemClock};
use crate::config::{self, ConfigError, ConnectSettings, ContactApi, QueueSettings, SapSettings};
use crate::connect::ConnectService;
use crate::daily::DailyService;
use crate::marketing::mapping::Mappings;
use crate::marketing::sap::{
    ContactServiceSink, CuanImportSink, InteractionServiceSink, SapClient, SapSignalSink,
};
use crate::marketing::MarketingSink;
use crate::provider::registry::{self, ProviderSettings};
use crate::provider::Providers;
use crate::queue::sqs::SqsQueue;
use crate::queue::{Redelivery, RetryQueue, WorkQueue};
use crate::refresh::RefreshService;
use crate::secret_store::{SecretCache, SecretsManagerSource};
use crate::signals::eventbridge::EventBridgeEvents;
use crate::signals::{NoEvents, SignalEvents, SignalService, SignalSettings, SignalStore};
use crate::store::dynamodb::DynamoStore;
use crate::store::{
    ConnectAttempts, ConnectionDirectory, ConnectionStore, FetchLog, ImportLedger, ParkedWork,
    TokenStore,
};
use crate::sync::SyncService;
use crate::tokens::TokenService;
use crate::webhook::WebhookService;

/// Everything the OAuth function is configured with.
#[derive(Clone, Debug)]
pub struct OAuthSettings {
    pub table_name: String,
    /// Where a reconnected person's parked work goes back to (`WORK_QUEUE_URL`).
    pub work_queue_url: Option<String>,
    pub connect: ConnectSettings,
    pub providers: ProviderSettings,
    pub sap: SapSettings,
    pub mappings: Mappings,
}

impl OAuthSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(OAuthSettings {
            table_name: config::table_name()?,
            work_queue_url: config::optional_var("WORK_QUEUE_URL"),
            connect: ConnectSettings::from_env()?,
            providers: ProviderSettings::from_env()?,
            sap: SapSettings::from_env()?,
            mappings: config::mappings()?,
        })
    }
}

/// Everything the worker and the token-refresh function are configured with.
#[derive(Clone, Debug)]
pub struct PipelineSettings {
    pub table_name: String,
    pub providers: ProviderSettings,
    /// The worker's; the token-refresh function has no SAP settings.
    pub sap: Option<SapSettings>,
    pub queues: QueueSettings,
    pub mappings: Mappings,
    /// The worker's campaign signals.
    pub signals: SignalSettings,
    /// The EventBridge bus signal events go to (`SIGNAL_EVENT_BUS`); `None`: not published.
    pub event_bus: Option<String>,
}

impl PipelineSettings {
    /// The worker: everything.
    pub fn worker_from_env() -> Result<Self, ConfigError> {
        Ok(PipelineSettings {
            sap: Some(SapSettings::from_env()?),
            mappings: config::mappings()?,
            signals: SignalSettings::from_env()?,
            event_bus: config::optional_var("SIGNAL_EVENT_BUS"),
            ..Self::refresher_from_env()?
        })
    }

    /// The token-refresh function: tokens and the work queue.
    pub fn refresher_from_env() -> Result<Self, ConfigError> {
        Ok(PipelineSettings {
            table_name: config::table_name()?,
            providers: ProviderSettings::from_env()?,
            sap: None,
            queues: QueueSettings::from_env()?,
            mappings: Mappings::default(),
            signals: SignalSettings::default(),
            event_bus: None,
        })
    }
}

/// How long an AWS call may take to connect.
const AWS_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// AWS configuration from the environment; `AWS_ENDPOINT_URL` points it at an emulator.
/// Every AWS call has a deadline well inside the functions' own (a DynamoDB or SQS call
/// that hangs must not outlive a refresh lease or the invocation): 1 s to connect, 3 s an
/// attempt, 8 s for the call with its retries. Every SDK client built from it shares one
/// HTTP client ([`aws_http_client`]).
pub async fn aws_config() -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(aws_http_client())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(AWS_CONNECT_TIMEOUT)
                .operation_attempt_timeout(Duration::from_secs(3))
                .operation_timeout(Duration::from_secs(8))
                .build(),
        )
        .load()
        .await
}

/// The HTTP client of the AWS SDK clients ([`crate::http_client::aws`]); for an `SdkConfig`
/// built elsewhere (tests against an emulator).
pub fn aws_http_client() -> SharedHttpClient {
    crate::http_client::aws(AWS_CONNECT_TIMEOUT)
}

/// The outbound HTTP client for providers and SAP ([`crate::http_client::outbound`]).
pub fn http_client() -> reqwest::Client {
    crate::http_client::outbound()
}

/// The functions' entry points: each reads its settings from the environment, builds its
/// use case over the AWS configuration and reads its secrets ahead, concurrently, so that
/// the first request finds them cached (see [`SecretCache::read_ahead`]).
pub async fn oauth_function() -> Result<ConnectService, ConfigError> {
    let settings = OAuthSettings::from_env()?;
    let aws = aws_config().await;
    let mut ids = settings.providers.secret_ids();
    ids.extend([
        settings.sap.secret_id.clone(),
        settings.connect.link_secret_id.clone(),
    ]);
    let ports = AwsPorts::new(&aws);
    let secrets = ports.secrets();
    let service = build_connect(&ports, secrets.clone(), settings);
    secrets.read_ahead(&ids).await;
    Ok(service)
}

/// The webhook function (see [`oauth_function`]): the providers' secrets, which
/// authenticate every delivery.
pub async fn webhook_function() -> Result<WebhookService, ConfigError> {
    let providers = ProviderSettings::from_env()?;
    let queues = QueueSettings::from_env()?;
    let aws = aws_config().await;
    let ports = AwsPorts::new(&aws);
    let secrets = ports.secrets();
    let service = build_webhook(&ports, secrets.clone(), &providers, &queues.work_queue_url);
    secrets.read_ahead(&providers.secret_ids()).await;
    Ok(service)
}

/// The worker function (see [`oauth_function`]): SAP's secret, which every import needs,
/// and the providers', for refreshing tokens.
pub async fn worker_function() -> Result<WorkConsumer, ConfigError> {
    let settings = PipelineSettings::worker_from_env()?;
    let aws = aws_config().await;
    let mut ids = settings.providers.secret_ids();
    ids.extend(settings.sap.as_ref().map(|s| s.secret_id.clone()));
    let ports = AwsPorts::new(&aws);
    let secrets = ports.secrets();
    let consumer = build_worker(&ports, secrets.clone(), settings)?;
    secrets.read_ahead(&ids).await;
    Ok(consumer)
}

/// The token-refresh function (see [`oauth_function`]): the providers' secrets.
pub async fn token_refresh_function() -> Result<RetryConsumer, ConfigError> {
    let settings = PipelineSettings::refresher_from_env()?;
    let aws = aws_config().await;
    let ids = settings.providers.secret_ids();
    let ports = AwsPorts::new(&aws);
    let secrets = ports.secrets();
    let consumer = build_refresher(&ports, secrets.clone(), settings)?;
    secrets.read_ahead(&ids).await;
    Ok(consumer)
}

/// Every storage port, as one table serves them all.
pub trait Table:
    ConnectAttempts
    + ConnectionStore
    + TokenStore
    + ImportLedger
    + FetchLog
    + ParkedWork
    + ConnectionDirectory
    + SignalStore
{
}

impl<T> Table for T where
    T: ConnectAttempts
        + ConnectionStore
        + TokenStore
        + ImportLedger
        + FetchLog
        + ParkedWork
        + ConnectionDirectory
        + SignalStore
{
}

/// Every queue port, as one queue serves them all.
pub trait Queue: WorkQueue + RetryQueue + Redelivery {}

impl<T> Queue for T where T: WorkQueue + RetryQueue + Redelivery {}

/// Where a function's secrets, table and queues come from.
pub trait Ports {
    /// The per-container secret cache. Called once per function.
    fn secrets(&self) -> Arc<SecretCache>;
    fn table(&self, name: &str) -> Arc<dyn Table>;
    fn queue(&self, url: &str) -> Arc<dyn Queue>;
    /// Where signal events go: the named EventBridge bus, or nowhere.
    fn events(&self, bus: Option<&str>) -> Arc<dyn SignalEvents>;
    /// What time it is, for every use case and adapter of the function.
    fn clock(&self) -> SharedClock;
}

/// The production ports: Secrets Manager, DynamoDB, SQS.
pub struct AwsPorts<'a> {
    pub config: &'a SdkConfig,
    pub clock: SharedClock,
}

impl<'a> AwsPorts<'a> {
    /// AWS on the machine's clock: the functions.
    pub fn new(config: &'a SdkConfig) -> Self {
        AwsPorts::with_clock(config, Arc::new(SystemClock))
    }

    /// AWS on a clock of the caller's (tests against the emulator on a set date).
    pub fn with_clock(config: &'a SdkConfig, clock: SharedClock) -> Self {
        AwsPorts { config, clock }
    }
}

impl Ports for AwsPorts<'_> {
    fn secrets(&self) -> Arc<SecretCache> {
        Arc::new(SecretCache::new(Arc::new(SecretsManagerSource::new(
            aws_sdk_secretsmanager::Client::new(self.config),
        ))))
    }

    fn table(&self, name: &str) -> Arc<dyn Table> {
        Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(self.config),
            name,
            self.clock(),
        ))
    }

    fn queue(&self, url: &str) -> Arc<dyn Queue> {
        Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(self.config), url))
    }

    fn events(&self, bus: Option<&str>) -> Arc<dyn SignalEvents> {
        match bus {
            Some(bus) => Arc::new(EventBridgeEvents::new(
                aws_sdk_eventbridge::Client::new(self.config),
                bus,
            )),
            None => Arc::new(NoEvents),
        }
    }

    fn clock(&self) -> SharedClock {
        self.clock.clone()
    }
}

pub fn marketing_sink(
    http: reqwest::Client,
    settings: SapSettings,
    secrets: Arc<SecretCache>,
    clock: SharedClock,
) -> Arc<dyn MarketingSink> {
    let api = settings.contact_api;
    let client = Arc::new(SapClient::new(http, settings, secrets, clock));
    match api {
        ContactApi::Contact => Arc::new(ContactServiceSink::new(client)),
        ContactApi::Cuan => Arc::new(CuanImportSink::new(client)),
    }
}

pub fn connect_service(aws: &SdkConfig, settings: OAuthSettings) -> ConnectService {
    connect_service_on(&AwsPorts::new(aws), settings)
}

pub fn connect_service_on(ports: &dyn Ports, settings: OAuthSettings) -> ConnectService {
    build_connect(ports, ports.secrets(), settings)
}

fn build_connect(
    ports: &dyn Ports,
    secrets: Arc<SecretCache>,
    settings: OAuthSettings,
) -> ConnectService {
    let http = http_client();
    let clock = ports.clock();
    let store = ports.table(&settings.table_name);
    let service = ConnectService {
        providers: registry::providers(
            &settings.providers,
            http.clone(),
            secrets.clone(),
            clock.clone(),
        ),
        attempts: store.clone(),
        connections: store.clone(),
        marketing: marketing_sink(http, settings.sap, secrets.clone(), clock.clone()),
        secrets,
        settings: settings.connect,
        mappings: settings.mappings,
        resume: None,
        clock,
    };
    match &settings.work_queue_url {
        Some(url) => service.with_resume(store, ports.queue(url)),
        None => service,
    }
}

pub fn webhook_service(
    aws: &SdkConfig,
    providers: &ProviderSettings,
    work_queue_url: &str,
) -> WebhookService {
    webhook_service_on(&AwsPorts::new(aws), providers, work_queue_url)
}

pub fn webhook_service_on(
    ports: &dyn Ports,
    providers: &ProviderSettings,
    work_queue_url: &str,
) -> WebhookService {
    build_webhook(ports, ports.secrets(), providers, work_queue_url)
}

fn build_webhook(
    ports: &dyn Ports,
    secrets: Arc<SecretCache>,
    providers: &ProviderSettings,
    work_queue_url: &str,
) -> WebhookService {
    WebhookService::new(
        registry::webhooks(providers, http_client(), secrets),
        ports.queue(work_queue_url),
    )
}

fn token_service(
    providers: Providers,
    store: Arc<dyn Table>,
    clock: SharedClock,
) -> Arc<TokenService> {
    Arc::new(TokenService::new(providers, store.clone(), store, clock))
}

/// The worker: its use case behind the work queue's adapter.
pub fn work_consumer(
    aws: &SdkConfig,
    settings: PipelineSettings,
) -> Result<WorkConsumer, ConfigError> {
    work_consumer_on(&AwsPorts::new(aws), settings)
}

pub fn work_consumer_on(
    ports: &dyn Ports,
    settings: PipelineSettings,
) -> Result<WorkConsumer, ConfigError> {
    build_worker(ports, ports.secrets(), settings)
}

fn build_worker(
    ports: &dyn Ports,
    secrets: Arc<SecretCache>,
    settings: PipelineSettings,
) -> Result<WorkConsumer, ConfigError> {
    let http = http_client();
    let clock = ports.clock();
    let store = ports.table(&settings.table_name);
    let sap = settings
        .sap
        .clone()
        .ok_or(ConfigError::Missing("SAP_BASE_URL"))?;
    let client = Arc::new(SapClient::new(
        http.clone(),
        sap,
        secrets.clone(),
        clock.clone(),
    ));
    let work_queue = ports.queue(&settings.queues.work_queue_url);
    // One client per provider, shared: it holds the per-person request budget.
    let providers = registry::providers(&settings.providers, http, secrets, clock.clone());
    let sync = SyncService {
        providers: providers.clone(),
        tokens: token_service(providers, store.clone(), clock.clone()),
        connections: store.clone(),
        token_store: store.clone(),
        interactions: Arc::new(InteractionServiceSink::new(
            client.clone(),
            settings.mappings.clone(),
        )),
        ledger: store.clone(),
        fetch_log: store.clone(),
        parked: store.clone(),
        retry_queue: ports.queue(settings.queues.retry_queue_url()?),
        signals: Arc::new(SignalService {
            store,
            sink: Arc::new(SapSignalSink::new(client, settings.mappings.clone())),
            events: ports.events(settings.event_bus.as_deref()),
            settings: settings.signals,
            clock: clock.clone(),
        }),
        clock,
    };
    Ok(WorkConsumer {
        sync,
        work_queue: work_queue.clone(),
        redelivery: work_queue,
        max_receive_count: settings.queues.max_receive_count,
        backoff_base: BACKOFF_BASE,
    })
}

/// The token-refresh function: its use case behind the retry queue's adapter.
pub fn retry_consumer(
    aws: &SdkConfig,
    settings: PipelineSettings,
) -> Result<RetryConsumer, ConfigError> {
    retry_consumer_on(&AwsPorts::new(aws), settings)
}

pub fn retry_consumer_on(
    ports: &dyn Ports,
    settings: PipelineSettings,
) -> Result<RetryConsumer, ConfigError> {
    build_refresher(ports, ports.secrets(), settings)
}

fn build_refresher(
    ports: &dyn Ports,
    secrets: Arc<SecretCache>,
    settings: PipelineSettings,
) -> Result<RetryConsumer, ConfigError> {
    let retry_queue = ports.queue(settings.queues.retry_queue_url()?);
    let store = ports.table(&settings.table_name);
    let clock = ports.clock();
    let refresh = RefreshService {
        tokens: token_service(
            registry::providers(&settings.providers, http_client(), secrets, clock.clone()),
            store.clone(),
            clock,
        ),
        work_queue: ports.queue(&settings.queues.work_queue_url),
        parked: store,
    };
    Ok(RetryConsumer {
        refresh,
        redelivery: retry_queue,
        backoff_base: BACKOFF_BASE,
    })
}

pub fn daily_service(
    aws: &SdkConfig,
    table_name: &str,
    work_queue_url: &str,
    segments: u32,
) -> DailyService {
    daily_service_on(&AwsPorts::new(aws), table_name, work_queue_url, segments)
}

pub fn daily_service_on(
    ports: &dyn Ports,
    table_name: &str,
    work_queue_url: &str,
    segments: u32,
) -> DailyService {
    DailyService {
        directory: ports.table(table_name),
        queue: ports.queue(work_queue_url),
        segments,
        clock: ports.clock(),
    }
}
