//! The one composition root: builds adapters from the settings [`crate::config`] read and
//! hands them to the use cases as ports. The functions call it once per container, in
//! `main` ([`oauth_function`] and its siblings); the admin CLI and the tests call the
//! builders with their own [`Ports`], so all of them run exactly the same graph.
//!
//! Where the table, the queues, the secrets, the event bus and the clock come from is a
//! [`Ports`]: AWS in production ([`AwsPorts`]), memory in tests ([`MemoryPorts`]).

use std::sync::Arc;

use crate::budget::{ReportedQuota, Unlimited};
use crate::config::{
    self, BudgetSettings, ConfigError, DailySettings, OAuthSettings, PipelineSettings,
    WebhookSettings,
};
use crate::inbound::sqs::{RetryConsumer, WorkConsumer, BACKOFF_BASE};
use crate::marketing::sap::settings::{ContactApi, SapSettings};
use crate::marketing::sap::{
    ContactServiceSink, CuanImportSink, InteractionServiceSink, SapClient, SapSignalSink,
};
use crate::ports::budget::RequestBudget;
use crate::ports::clock::SharedClock;
use crate::ports::marketing::MarketingSink;
use crate::ports::provider::Providers;
use crate::ports::queue::{Redelivery, RetryQueue, WorkQueue};
use crate::ports::signals::{SignalEvents, SignalStore};
use crate::ports::store::{
    ConnectAttempts, ConnectionDirectory, ConnectionStore, FetchLog, ImportLedger, ParkedWork,
    TokenStore,
};
use crate::provider::registry;
use crate::secret_store::{CachedLinkKeys, SecretCache};
use crate::use_cases::connect::ConnectService;
use crate::use_cases::daily::DailyService;
use crate::use_cases::refresh::RefreshService;
use crate::use_cases::signals::SignalService;
use crate::use_cases::sync::SyncService;
use crate::use_cases::tokens::TokenService;
use crate::use_cases::webhook::WebhookService;

mod aws;
mod memory;

pub use aws::{aws_config, aws_http_client, http_client, AwsPorts};
pub use memory::MemoryPorts;

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

/// Where a function's secrets, table, queues, event bus and clock come from.
pub trait Ports {
    /// The secret cache: one per container, whatever the number of calls.
    fn secrets(&self) -> Arc<SecretCache>;
    fn table(&self, name: &str) -> Arc<dyn Table>;
    fn queue(&self, url: &str) -> Arc<dyn Queue>;
    /// Where signal events go: the named EventBridge bus, or nowhere.
    fn events(&self, bus: Option<&str>) -> Arc<dyn SignalEvents>;
    /// What time it is, for every use case and adapter of the function.
    fn clock(&self) -> SharedClock;
    /// The request budget the function's containers share, kept in the table `table`.
    fn budget(&self, table: &str, settings: &BudgetSettings) -> Arc<dyn RequestBudget>;
}

/// Logs and metrics for the function named `function`, as the environment configures them:
/// the first thing each `main` does.
pub fn init_telemetry(function: &'static str) {
    crate::telemetry::init(function, &config::telemetry(&config::environment()));
}

/// The functions' entry points: each reads its settings from the environment, builds its
/// use case over AWS and reads its secrets ahead, concurrently, so that the first request
/// finds them cached (see [`SecretCache::read_ahead`]).
pub async fn oauth_function() -> Result<ConnectService, ConfigError> {
    let settings = OAuthSettings::from_vars(&config::environment())?;
    let mut ids = settings.providers.secret_ids();
    ids.extend([
        settings.sap.secret_id.clone(),
        settings.link_secret_id.clone(),
    ]);
    let key = config::token_key(&config::environment());
    on_aws(ids, key, |ports| Ok(connect_service(ports, settings))).await
}

/// The webhook function (see [`oauth_function`]): the providers' secrets, which
/// authenticate every delivery.
pub async fn webhook_function() -> Result<WebhookService, ConfigError> {
    let settings = WebhookSettings::from_vars(&config::environment())?;
    let ids = settings.providers.secret_ids();
    on_aws(ids, None, |ports| Ok(webhook_service(ports, &settings))).await
}

/// The worker function (see [`oauth_function`]): SAP's secret, which every import needs,
/// and the providers', for refreshing tokens.
pub async fn worker_function() -> Result<WorkConsumer, ConfigError> {
    let settings = PipelineSettings::worker_from_vars(&config::environment())?;
    let mut ids = settings.providers.secret_ids();
    ids.extend(settings.sap.as_ref().map(|s| s.secret_id.clone()));
    let key = config::token_key(&config::environment());
    on_aws(ids, key, |ports| work_consumer(ports, settings)).await
}

/// The token-refresh function (see [`oauth_function`]): the providers' secrets.
pub async fn token_refresh_function() -> Result<RetryConsumer, ConfigError> {
    let settings = PipelineSettings::refresher_from_vars(&config::environment())?;
    let ids = settings.providers.secret_ids();
    let key = config::token_key(&config::environment());
    on_aws(ids, key, |ports| retry_consumer(ports, settings)).await
}

/// What `build` makes on AWS, the machine's clock and a secret cache that already holds
/// `secret_ids`, its tokens sealed under `token_key` when given.
async fn on_aws<T>(
    secret_ids: Vec<String>,
    token_key: Option<String>,
    build: impl FnOnce(&AwsPorts) -> Result<T, ConfigError>,
) -> Result<T, ConfigError> {
    let ports = AwsPorts::new(&aws_config().await).with_token_key(token_key);
    let built = build(&ports)?;
    ports.secrets().read_ahead(&secret_ids).await;
    Ok(built)
}

/// The daily job's function: it holds no secret.
pub async fn daily_function() -> Result<DailyService, ConfigError> {
    let settings = DailySettings::from_vars(&config::environment())?;
    let aws = aws_config().await;
    Ok(daily_service(&AwsPorts::new(&aws), &settings))
}

/// The marketing sink of the configured contact API.
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

/// The connect use case on `ports`.
pub fn connect_service(ports: &dyn Ports, settings: OAuthSettings) -> ConnectService {
    let secrets = ports.secrets();
    let http = http_client();
    let clock = ports.clock();
    let store = ports.table(&settings.table_name);
    ConnectService {
        providers: registry::providers(
            &settings.providers,
            http.clone(),
            secrets.clone(),
            clock.clone(),
            Arc::new(Unlimited),
        ),
        attempts: store.clone(),
        connections: store.clone(),
        marketing: marketing_sink(http, settings.sap, secrets.clone(), clock.clone()),
        link_keys: Arc::new(CachedLinkKeys {
            cache: secrets,
            secret_id: settings.link_secret_id,
        }),
        settings: settings.connect,
        mappings: settings.mappings,
        resume: settings.work_queue_url.as_deref().map(|url| {
            (
                store.clone() as Arc<dyn ParkedWork>,
                ports.queue(url) as Arc<dyn WorkQueue>,
            )
        }),
        catalog: registry::catalog(),
        clock,
    }
}

/// The webhook use case on `ports`.
pub fn webhook_service(ports: &dyn Ports, settings: &WebhookSettings) -> WebhookService {
    WebhookService::new(
        registry::webhooks(&settings.providers, http_client(), ports.secrets()),
        ports.queue(&settings.work_queue_url),
        ports.clock(),
    )
}

fn token_service(
    providers: Providers,
    store: Arc<dyn Table>,
    clock: SharedClock,
) -> Arc<TokenService> {
    Arc::new(TokenService::new(providers, store.clone(), store, clock))
}

/// The worker: its use case behind the work queue's adapter, on `ports`.
pub fn work_consumer(
    ports: &dyn Ports,
    settings: PipelineSettings,
) -> Result<WorkConsumer, ConfigError> {
    let secrets = ports.secrets();
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
    let budget: Arc<dyn RequestBudget> = Arc::new(ReportedQuota::new(
        ports.budget(&settings.table_name, &settings.budget),
        settings.budget.shares,
        clock.clone(),
    ));
    // One client per provider, shared: it holds the per-person request budget, and reports
    // the quota windows its answers show to the shared one.
    let providers = registry::providers(
        &settings.providers,
        http,
        secrets,
        clock.clone(),
        budget.clone(),
    );
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
        catalog: registry::catalog(),
        retention: settings.retention,
        fetch_coalesce: settings.fetch_coalesce,
        budget,
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

/// The token-refresh function: its use case behind the retry queue's adapter, on `ports`.
pub fn retry_consumer(
    ports: &dyn Ports,
    settings: PipelineSettings,
) -> Result<RetryConsumer, ConfigError> {
    let secrets = ports.secrets();
    let retry_queue = ports.queue(settings.queues.retry_queue_url()?);
    let store = ports.table(&settings.table_name);
    let clock = ports.clock();
    let refresh = RefreshService {
        tokens: token_service(
            registry::providers(
                &settings.providers,
                http_client(),
                secrets,
                clock.clone(),
                Arc::new(Unlimited),
            ),
            store.clone(),
            clock.clone(),
        ),
        work_queue: ports.queue(&settings.queues.work_queue_url),
        parked: store,
    };
    Ok(RetryConsumer {
        refresh,
        redelivery: retry_queue,
        backoff_base: BACKOFF_BASE,
        clock,
    })
}

/// The daily job's use case on `ports`.
pub fn daily_service(ports: &dyn Ports, settings: &DailySettings) -> DailyService {
    DailyService {
        directory: ports.table(&settings.table_name),
        queue: ports.queue(&settings.work_queue_url),
        segments: settings.segments,
        catalog: registry::catalog(),
        pacing: settings.pacing,
        clock: ports.clock(),
    }
}
