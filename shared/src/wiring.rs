//! Assembles adapters into use cases. Functions call this once per container, in `main`;
//! tests call it with their own settings, so both run exactly the same graph.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;

use crate::config::{ConfigError, ConnectSettings, ContactApi, FitbitSettings, SapSettings};
use crate::connect::ConnectService;
use crate::marketing::sap::{ContactServiceSink, CuanImportSink, SapClient};
use crate::marketing::MarketingSink;
use crate::provider::fitbit::FitbitClient;
use crate::secret_store::{SecretCache, SecretsManagerSource};
use crate::store::dynamodb::DynamoStore;

/// Everything the OAuth function is configured with.
#[derive(Clone, Debug)]
pub struct OAuthSettings {
    pub table_name: String,
    pub connect: ConnectSettings,
    pub fitbit: FitbitSettings,
    pub sap: SapSettings,
}

impl OAuthSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(OAuthSettings {
            table_name: crate::config::table_name()?,
            connect: ConnectSettings::from_env()?,
            fitbit: FitbitSettings::from_env()?,
            sap: SapSettings::from_env()?,
        })
    }
}

/// AWS configuration from the environment; `AWS_ENDPOINT_URL` points it at an emulator.
pub async fn aws_config() -> SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// The outbound HTTP client for providers and SAP. Timeouts stay well inside the Lambda
/// timeout so a slow peer produces a clear error page instead of a killed invocation.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(8))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("fitbridge/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("static client configuration is valid")
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
    let secrets = Arc::new(SecretCache::new(Arc::new(SecretsManagerSource::new(
        aws_sdk_secretsmanager::Client::new(aws),
    ))));
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(aws),
        settings.table_name,
    ));
    let fitbit = Arc::new(FitbitClient::new(
        http.clone(),
        settings.fitbit,
        secrets.clone(),
    ));
    let contact_origin = settings.sap.contact_origin.clone();
    ConnectService::new(
        vec![fitbit],
        store.clone(),
        store,
        marketing_sink(http, settings.sap, secrets.clone()),
        secrets,
        settings.connect,
        contact_origin,
    )
}
