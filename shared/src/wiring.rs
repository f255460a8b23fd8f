//! Assembles adapters into use cases. Functions call this once per container, in `main`;
//! tests call it with their own settings, so both run exactly the same graph.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;

use crate::config::{
    self, ConfigError, ConnectSettings, ContactApi, FitbitSettings, QueueSettings, SapSettings,
};
use crate::connect::ConnectService;
use crate::daily::DailyService;
use crate::marketing::mapping::InteractionMapping;
use crate::marketing::sap::{
    ContactServiceSink, CuanImportSink, InteractionServiceSink, SapClient,
};
use crate::marketing::MarketingSink;
use crate::provider::fitbit::FitbitClient;
use crate::provider::Provider;
use crate::queue::sqs::SqsQueue;
use crate::refresh::RefreshService;
use crate::secret_store::{SecretCache, SecretsManagerSource};
use crate::store::dynamodb::DynamoStore;
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
    pub fitbit: FitbitSettings,
    pub sap: SapSettings,
}

impl OAuthSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(OAuthSettings {
            table_name: config::table_name()?,
            work_queue_url: std::env::var("WORK_QUEUE_URL")
                .ok()
                .filter(|v| !v.is_empty()),
            connect: ConnectSettings::from_env()?,
            fitbit: FitbitSettings::from_env()?,
            sap: SapSettings::from_env()?,
        })
    }
}

/// Everything the worker and the token-refresh function are configured with.
#[derive(Clone, Debug)]
pub struct PipelineSettings {
    pub table_name: String,
    pub fitbit: FitbitSettings,
    /// The worker's; the token-refresh function has no SAP settings.
    pub sap: Option<SapSettings>,
    pub queues: QueueSettings,
    pub mapping: InteractionMapping,
}

impl PipelineSettings {
    /// The worker: everything.
    pub fn worker_from_env() -> Result<Self, ConfigError> {
        Ok(PipelineSettings {
            sap: Some(SapSettings::from_env()?),
            mapping: config::interaction_mapping()?,
            ..Self::refresher_from_env()?
        })
    }

    /// The token-refresh function: tokens and the work queue.
    pub fn refresher_from_env() -> Result<Self, ConfigError> {
        Ok(PipelineSettings {
            table_name: config::table_name()?,
            fitbit: FitbitSettings::from_env()?,
            sap: None,
            queues: QueueSettings::from_env()?,
            mapping: InteractionMapping::default(),
        })
    }
}

/// AWS configuration from the environment; `AWS_ENDPOINT_URL` points it at an emulator.
pub async fn aws_config() -> SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// The outbound HTTP client for providers and SAP. Timeouts stay well inside the Lambda
/// timeout so a slow peer produces a clear error instead of a killed invocation.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(8))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("fitbridge/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("static client configuration is valid")
}

fn secrets(aws: &SdkConfig) -> Arc<SecretCache> {
    Arc::new(SecretCache::new(Arc::new(SecretsManagerSource::new(
        aws_sdk_secretsmanager::Client::new(aws),
    ))))
}

fn store(aws: &SdkConfig, table: &str) -> Arc<DynamoStore> {
    Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(aws), table))
}

fn queue(aws: &SdkConfig, url: &str) -> Arc<SqsQueue> {
    Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(aws), url))
}

pub fn marketing_sink(
    http: reqwest::Client,
    settings: SapSettings,
    secrets: Arc<SecretCache>,
) -> Arc<dyn MarketingSink> {
    let api = settings.contact_api;
    let client = Arc::new(SapClient::new(http, settings, secrets));
    match api {
        ContactApi::Contact => Arc::new(ContactServiceSink::new(client)),
        ContactApi::Cuan => Arc::new(CuanImportSink::new(client)),
    }
}

pub fn connect_service(aws: &SdkConfig, settings: OAuthSettings) -> ConnectService {
    let http = http_client();
    let secrets = secrets(aws);
    let store = store(aws, &settings.table_name);
    let fitbit = Arc::new(FitbitClient::new(
        http.clone(),
        settings.fitbit,
        secrets.clone(),
    ));
    let contact_origin = settings.sap.contact_origin.clone();
    let service = ConnectService::new(
        vec![fitbit],
        store.clone(),
        store.clone(),
        marketing_sink(http, settings.sap, secrets.clone()),
        secrets,
        settings.connect,
        contact_origin,
    );
    match &settings.work_queue_url {
        Some(url) => service.with_resume(store, queue(aws, url)),
        None => service,
    }
}

pub fn webhook_service(
    aws: &SdkConfig,
    fitbit_secret_id: String,
    work_queue_url: &str,
) -> WebhookService {
    WebhookService::new(secrets(aws), fitbit_secret_id, queue(aws, work_queue_url))
}

fn token_service(
    settings: &PipelineSettings,
    http: reqwest::Client,
    secrets: Arc<SecretCache>,
    store: Arc<DynamoStore>,
) -> (Arc<TokenService>, Arc<dyn Provider>) {
    let fitbit: Arc<dyn Provider> =
        Arc::new(FitbitClient::new(http, settings.fitbit.clone(), secrets));
    let tokens = Arc::new(TokenService::new(
        vec![fitbit.clone()],
        store.clone(),
        store,
    ));
    (tokens, fitbit)
}

/// The worker's use case, and the work queue for controlling redelivery.
pub fn sync_service(
    aws: &SdkConfig,
    settings: PipelineSettings,
) -> Result<(SyncService, Arc<SqsQueue>), ConfigError> {
    let http = http_client();
    let secrets = secrets(aws);
    let store = store(aws, &settings.table_name);
    let (tokens, fitbit) = token_service(&settings, http.clone(), secrets.clone(), store.clone());
    let sap = settings
        .sap
        .clone()
        .ok_or(ConfigError::Missing("SAP_BASE_URL"))?;
    let client = Arc::new(SapClient::new(http, sap, secrets));
    let work_queue = queue(aws, &settings.queues.work_queue_url);
    let service = SyncService {
        providers: [(fitbit.kind(), fitbit)].into_iter().collect(),
        tokens,
        token_store: store.clone(),
        interactions: Arc::new(InteractionServiceSink::new(
            client,
            settings.mapping.clone(),
        )),
        ledger: store.clone(),
        fetch_log: store.clone(),
        parked: store,
        retry_queue: queue(aws, settings.queues.retry_queue_url()?),
        work_queue: work_queue.clone(),
        max_receive_count: settings.queues.max_receive_count,
        backoff_base: crate::sync::BACKOFF_BASE,
    };
    Ok((service, work_queue))
}

/// The token-refresh function's use case, and the retry queue for controlling redelivery.
pub fn refresh_service(
    aws: &SdkConfig,
    settings: PipelineSettings,
) -> Result<(RefreshService, Arc<SqsQueue>), ConfigError> {
    let retry_queue = queue(aws, settings.queues.retry_queue_url()?);
    let store = store(aws, &settings.table_name);
    let (tokens, _) = token_service(&settings, http_client(), secrets(aws), store.clone());
    let service = RefreshService {
        tokens,
        work_queue: queue(aws, &settings.queues.work_queue_url),
        parked: store,
    };
    Ok((service, retry_queue))
}

pub fn daily_service(
    aws: &SdkConfig,
    table_name: &str,
    work_queue_url: &str,
    segments: u32,
) -> DailyService {
    DailyService {
        directory: store(aws, table_name),
        queue: queue(aws, work_queue_url),
        segments,
    }
}
