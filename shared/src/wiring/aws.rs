//! The production ports: Secrets Manager, DynamoDB, SQS and EventBridge through the AWS
//! SDK, every client of a process over one HTTP client, and the machine's clock.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::http::SharedHttpClient;

use super::{Ports, Queue, Table};
use crate::budget::{DynamoBudget, Unlimited};
use crate::clock::SystemClock;
use crate::config::BudgetSettings;
use crate::events::eventbridge::EventBridgeEvents;
use crate::events::NoEvents;
use crate::ports::budget::RequestBudget;
use crate::ports::clock::SharedClock;
use crate::ports::signals::SignalEvents;
use crate::queue::sqs::SqsQueue;
use crate::secret_store::{SecretCache, SecretsManagerSource};
use crate::store::dynamodb::sealed::{KmsDataKeys, TokenSeal};
use crate::store::dynamodb::DynamoStore;

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

/// The production ports: Secrets Manager, DynamoDB, SQS.
pub struct AwsPorts {
    pub config: SdkConfig,
    pub clock: SharedClock,
    /// One cache per container, made on first use: the daily job holds no secret.
    secrets: OnceLock<Arc<SecretCache>>,
    /// The KMS key tokens are sealed under (`TOKEN_KEY_ID`); `None`: they are stored and
    /// read as they are (the operators' CLI, which never needs one).
    token_key: Option<String>,
    /// One seal per container, made on first use.
    seal: OnceLock<Arc<TokenSeal>>,
}

impl AwsPorts {
    /// AWS on the machine's clock: the functions.
    pub fn new(config: &SdkConfig) -> Self {
        AwsPorts::with_clock(config, Arc::new(SystemClock))
    }

    /// AWS on a clock of the caller's (tests against the emulator on a set date).
    pub fn with_clock(config: &SdkConfig, clock: SharedClock) -> Self {
        AwsPorts {
            config: config.clone(),
            clock,
            secrets: OnceLock::new(),
            token_key: None,
            seal: OnceLock::new(),
        }
    }

    /// Tokens sealed under the KMS key `token_key` (when given) in every table.
    pub fn with_token_key(mut self, token_key: Option<String>) -> Self {
        self.token_key = token_key;
        self
    }
}

impl Ports for AwsPorts {
    fn secrets(&self) -> Arc<SecretCache> {
        self.secrets
            .get_or_init(|| {
                Arc::new(SecretCache::new(Arc::new(SecretsManagerSource::new(
                    aws_sdk_secretsmanager::Client::new(&self.config),
                ))))
            })
            .clone()
    }

    fn table(&self, name: &str) -> Arc<dyn Table> {
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&self.config),
            name,
            self.clock(),
        );
        Arc::new(match &self.token_key {
            Some(key_id) => store.with_seal(
                self.seal
                    .get_or_init(|| {
                        Arc::new(TokenSeal::new(Arc::new(KmsDataKeys::new(
                            aws_sdk_kms::Client::new(&self.config),
                            key_id,
                        ))))
                    })
                    .clone(),
            ),
            None => store,
        })
    }

    fn queue(&self, url: &str) -> Arc<dyn Queue> {
        Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&self.config), url))
    }

    fn events(&self, bus: Option<&str>) -> Arc<dyn SignalEvents> {
        match bus {
            Some(bus) => Arc::new(EventBridgeEvents::new(
                aws_sdk_eventbridge::Client::new(&self.config),
                bus,
            )),
            None => Arc::new(NoEvents),
        }
    }

    fn clock(&self) -> SharedClock {
        self.clock.clone()
    }

    fn budget(&self, table: &str, settings: &BudgetSettings) -> Arc<dyn RequestBudget> {
        if settings.limits.is_empty() {
            return Arc::new(Unlimited);
        }
        Arc::new(DynamoBudget::new(
            aws_sdk_dynamodb::Client::new(&self.config),
            table,
            settings.limits.clone(),
            settings.slice,
            self.clock(),
        ))
    }
}
