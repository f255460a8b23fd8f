//! The pipeline (webhook → work queue → worker → SAP; retry queue → refresher) through the
//! real handlers, against per-test queues in the emulator and in-process sandboxes.
//!
//! The pollers here do what Lambda's SQS event source mapping does: receive up to 10
//! messages with their attributes, call the function's handler, and delete the messages it
//! did not report as batch item failures.

use fitbridge::domain::PersonKey;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use base64::Engine;
use fitbridge::config::{DailySettings, PipelineSettings, WebhookSettings};
use fitbridge::domain::Secret;
use fitbridge::domain::{
    Connection, ConnectionStatus, ContactKey, ProviderKind, ProviderUserId, Scopes, TokenSet,
};
use fitbridge::inbound::sqs::{RetryConsumer, WorkConsumer};
use fitbridge::ports::catalog::ProviderCatalog;
use fitbridge::ports::store::ConnectionStore;
use fitbridge::provider::registry::Registry;
use fitbridge::use_cases::daily::DailyService;
use fitbridge::use_cases::webhook::WebhookService;
use fitbridge::wiring;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

use crate::{random_user_id, TestEnv};

/// Redrive setting of the test work queue: small, so a poison message reaches the DLQ fast.
pub const MAX_RECEIVE_COUNT: u32 = 3;

/// How a pipeline's queues and worker are set up.
#[derive(Clone, Copy, Debug)]
pub struct PipelineOptions {
    /// The work queue's redrive `maxReceiveCount`.
    pub max_receive_count: u32,
    /// The work queue's visibility timeout: how long a crashed worker's messages stay hidden.
    pub visibility_timeout_secs: u32,
    /// The worker's first backoff after a transient failure.
    pub backoff_base: Duration,
}

impl Default for PipelineOptions {
    /// For tests: poison reaches the DLQ fast, and nobody waits 30 s for a retry.
    fn default() -> Self {
        PipelineOptions {
            max_receive_count: MAX_RECEIVE_COUNT,
            visibility_timeout_secs: 30,
            backoff_base: Duration::from_millis(500),
        }
    }
}

pub struct Pipeline {
    pub env: TestEnv,
    /// The worker function as its `main` builds it.
    pub worker: WorkConsumer,
    /// The token-refresh function as its `main` builds it.
    pub refresher: RetryConsumer,
    pub webhook: WebhookService,
    pub daily: DailyService,
    pub sqs: aws_sdk_sqs::Client,
    pub work_url: String,
    pub dlq_url: String,
    pub retry_url: String,
}

async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: &[(QueueAttributeName, String)],
) -> String {
    let mut request = sqs.create_queue().queue_name(name);
    for (k, v) in attributes {
        request = request.attributes(k.clone(), v.clone());
    }
    request
        .send()
        .await
        .expect("create test queue")
        .queue_url
        .expect("queue url")
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone()
}

impl Pipeline {
    pub async fn start() -> Pipeline {
        Pipeline::start_with(PipelineOptions::default()).await
    }

    pub async fn start_with(options: PipelineOptions) -> Pipeline {
        let mut env = TestEnv::start().await;
        let sqs = aws_sdk_sqs::Client::new(&env.aws);
        let tag = random_user_id().to_lowercase();
        let dlq_url = create_queue(&sqs, &format!("fb-test-{tag}-dlq"), &[]).await;
        let redrive = json!({"deadLetterTargetArn": queue_arn(&sqs, &dlq_url).await,
                             "maxReceiveCount": options.max_receive_count.to_string()});
        let work_url = create_queue(
            &sqs,
            &format!("fb-test-{tag}-work"),
            &[
                (QueueAttributeName::RedrivePolicy, redrive.to_string()),
                (
                    QueueAttributeName::VisibilityTimeout,
                    options.visibility_timeout_secs.to_string(),
                ),
            ],
        )
        .await;
        let retry_url = create_queue(
            &sqs,
            &format!("fb-test-{tag}-retry.fifo"),
            &[(QueueAttributeName::FifoQueue, "true".into())],
        )
        .await;
        // Reconnecting people get their parked work back on this test's queue.
        env.settings.work_queue_url = Some(work_url.clone());
        env.service = wiring::connect_service(&env.ports(), env.settings.clone());
        let settings = PipelineSettings {
            table_name: env.settings.table_name.clone(),
            providers: env.settings.providers.clone(),
            sap: Some(env.settings.sap.clone()),
            queues: fitbridge::config::QueueSettings {
                work_queue_url: work_url.clone(),
                retry_queue_url: Some(retry_url.clone()),
                max_receive_count: options.max_receive_count,
            },
            mappings: env.settings.mappings.clone(),
            signals: Default::default(),
            event_bus: None,
            retention: time::Duration::days(
                fitbridge::use_cases::sync::DEFAULT_RETENTION_DAYS.into(),
            ),
            // These suites run on the machine's clock against real queues and notify a
            // day again within seconds: a minute's wait each time would only slow them.
            // The window itself is proven on the emulator's table (`fetch_log.rs`) and in
            // the in-process suites.
            fetch_coalesce: time::Duration::ZERO,
            budget: fitbridge::config::BudgetSettings::off(),
        };
        let ports = env.ports();
        let mut worker = wiring::work_consumer(&ports, settings.clone()).unwrap();
        worker.backoff_base = options.backoff_base;
        let refresher = wiring::retry_consumer(&ports, settings).unwrap();
        let webhook = wiring::webhook_service(
            &ports,
            &WebhookSettings {
                providers: env.settings.providers.clone(),
                work_queue_url: work_url.clone(),
            },
        );
        let daily = wiring::daily_service(
            &ports,
            &DailySettings {
                table_name: env.settings.table_name.clone(),
                work_queue_url: work_url.clone(),
                segments: 4,
                pacing: None,
            },
        );
        Pipeline {
            env,
            worker,
            refresher,
            webhook,
            daily,
            sqs,
            work_url,
            dlq_url,
            retry_url,
        }
    }

    /// A connected person (as the connect flow leaves them), with these scopes granted.
    pub async fn connected_user(&self, scopes: &[&str]) -> String {
        let fitbit = &self.env.sandbox.fitbit;
        let user = random_user_id();
        fitbit.add_user(fitbridge_sandbox::fitbit::TestUser::new(
            &user, "Pat", "Pipeline",
        ));
        let grant = fitbit.grant_tokens(&user, scopes);
        self.store_connection(
            &user,
            grant.access_token,
            grant.refresh_token,
            scopes,
            8 * 3600,
        )
        .await;
        user
    }

    /// A person connected through Google Health (as the connect flow leaves them), with
    /// these scopes granted.
    pub async fn connected_google_user(&self, scopes: &[&str]) -> String {
        let google = &self.env.sandbox.google_health;
        let user = self.env.new_google_user(None);
        let grant = google.grant_tokens(&user, scopes);
        self.store_connection_for(
            ProviderKind::GoogleHealth,
            &user,
            grant.access_token,
            grant
                .refresh_token
                .expect("the sandbox issues offline grants"),
            scopes,
            3600,
        )
        .await;
        user
    }

    /// A person connected through Polar and registered to the partner (as the connect flow
    /// leaves them): a token for about a year and none to refresh it with.
    pub async fn connected_polar_user(&self) -> String {
        let polar = &self.env.sandbox.polar;
        let user = self.env.new_polar_user();
        let member = fitbridge::provider::polar::users::member_id(
            &polar.config().client_id,
            &ProviderUserId(user.clone()),
        );
        let grant = polar.connect(&user, &member);
        self.store_connection_for(
            ProviderKind::Polar,
            &user,
            grant.access_token,
            String::new(),
            &[fitbridge::provider::polar::scopes::READ_ALL],
            365 * 86_400,
        )
        .await;
        user
    }

    /// Polar's headers for a delivery of `body` (`event`), signed with this test's key.
    pub fn polar_headers(&self, event: &str, body: &[u8]) -> Vec<(String, String)> {
        vec![
            ("polar-webhook-event".to_owned(), event.to_owned()),
            (
                "polar-webhook-signature".to_owned(),
                fitbridge_sandbox::polar::sign_payload(&self.env.polar_webhook_key, body),
            ),
        ]
    }

    /// Stores a Fitbit connection with the given tokens and seconds to expiry.
    pub async fn store_connection(
        &self,
        user: &str,
        access: String,
        refresh: String,
        scopes: &[&str],
        expires_in: i64,
    ) {
        self.store_connection_for(
            ProviderKind::Fitbit,
            user,
            access,
            refresh,
            scopes,
            expires_in,
        )
        .await
    }

    /// Stores a connection to `provider` with the given tokens and seconds to expiry; the
    /// contact is the provider's default origin and the person's id.
    pub async fn store_connection_for(
        &self,
        provider: ProviderKind,
        user: &str,
        access: String,
        refresh: String,
        scopes: &[&str],
        expires_in: i64,
    ) {
        self.env
            .store
            .save_connected(&Connection {
                provider,
                user_id: ProviderUserId(user.into()),
                tokens: TokenSet {
                    access_token: Secret::new(access),
                    refresh_token: Secret::new(refresh),
                    expires_at: self.env.now() + time::Duration::seconds(expires_in),
                    scopes: Scopes::parse(&scopes.join(" ")),
                },
                status: ConnectionStatus::Active,
                contact: ContactKey {
                    origin: Registry.default_mapping(provider).contact_origin,
                    id: user.into(),
                },
                customer_ref: None,
                timezone: Some("Europe/Berlin".into()),
                subscriptions: Default::default(),
                version: 0,
                consented_at: None,
            })
            .await
            .unwrap();
    }

    pub async fn connection(&self, user: &str) -> Option<Connection> {
        self.env
            .store
            .get(&PersonKey::of(
                ProviderKind::Fitbit,
                &ProviderUserId(user.into()),
            ))
            .await
            .unwrap()
    }

    /// `X-Fitbit-Signature` of `body` with this test's client secret.
    pub fn sign(&self, body: &[u8]) -> String {
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(
            format!("{}&", self.env.fitbit_client_secret).as_bytes(),
        )
        .unwrap();
        mac.update(body);
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }

    /// A Google Health notification body: one notification per (person, data type, civil
    /// day), the day's whole civil interval, in an array.
    pub fn google_notification_body(entries: &[(&str, &str, &str)]) -> Vec<u8> {
        let list: Vec<Value> = entries
            .iter()
            .map(|(user, data_type, date)| {
                let d = fitbridge::domain::work::iso_date::parse(date).unwrap();
                let next = d.next_day().unwrap();
                let civil = |d: time::Date| {
                    json!({"date": {"year": d.year(), "month": d.month() as u8, "day": d.day()}})
                };
                json!({"data": {"version": "1", "clientProvidedSubscriptionName": "fitbridge",
                    "healthUserId": user, "operation": "UPSERT", "dataType": data_type,
                    "intervals": [{"civilDateTimeInterval": {"start": civil(d), "end": civil(next)}}]}})
            })
            .collect();
        serde_json::to_vec(&list).unwrap()
    }

    /// The headers Google sends with a body: the registered authorization and the
    /// signature of the sandbox's current key.
    pub fn google_headers(&self, body: &[u8]) -> Vec<(String, String)> {
        vec![
            (
                "authorization".into(),
                self.env.google_webhook_authorization.clone(),
            ),
            (
                "google-health-api-signature".into(),
                self.env.sandbox.google_health.sign(body),
            ),
        ]
    }

    /// POSTs a body to `/webhooks/{provider}` with these headers, as API Gateway
    /// delivers it; returns the status.
    pub async fn post_webhook(
        &self,
        provider: ProviderKind,
        body: &[u8],
        headers: &[(String, String)],
    ) -> u16 {
        self.webhook_request(
            "POST",
            &format!("/webhooks/{provider}"),
            body,
            headers,
            false,
        )
        .await
    }

    /// Sends one API Gateway (payload 2.0) request to the webhook handler; returns the
    /// status. `base64_body`: API Gateway may deliver any body base64-encoded.
    async fn webhook_request(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        headers: &[(String, String)],
        base64_body: bool,
    ) -> u16 {
        let mut event: Value =
            serde_json::from_str(&crate::apigw_v2_event(method, path_and_query)).unwrap();
        event["routeKey"] = json!(format!("{method} /webhooks/{{provider}}"));
        if !body.is_empty() {
            event["headers"]["content-type"] = json!("application/json");
            if base64_body {
                event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
                event["isBase64Encoded"] = json!(true);
            } else {
                event["body"] = json!(String::from_utf8_lossy(body));
            }
        }
        for (name, value) in headers {
            event["headers"][name.as_str()] = json!(value);
        }
        let request = lambda_http::request::from_str(&event.to_string()).unwrap();
        fitbridge::inbound::webhook::handle(&self.webhook, request)
            .await
            .status()
            .as_u16()
    }

    /// Google delivers these notifications (one signed body) and the webhook accepts them.
    pub async fn notify_google(&self, entries: &[(&str, &str, &str)]) {
        let body = Pipeline::google_notification_body(entries);
        assert_eq!(
            self.post_webhook(
                ProviderKind::GoogleHealth,
                &body,
                &self.google_headers(&body)
            )
            .await,
            204,
            "webhook accepts a signed Google notification"
        );
    }

    /// POSTs a notification body to the webhook handler as API Gateway delivers it.
    pub async fn post_notification(
        &self,
        body: &[u8],
        signature: Option<&str>,
        base64_body: bool,
    ) -> u16 {
        let headers: Vec<(String, String)> = signature
            .map(|sig| ("x-fitbit-signature".to_owned(), sig.to_owned()))
            .into_iter()
            .collect();
        self.webhook_request("POST", "/webhooks/fitbit", body, &headers, base64_body)
            .await
    }

    pub async fn get_webhook(&self, query: &str) -> u16 {
        self.webhook_request("GET", &format!("/webhooks/fitbit?{query}"), b"", &[], false)
            .await
    }

    /// Fitbit delivers these notifications (one signed body) and the webhook accepts them.
    pub async fn notify(&self, entries: &[(&str, &str, &str)]) {
        let body = Pipeline::notification_body(entries);
        assert_eq!(
            self.post_notification(&body, Some(&self.sign(&body)), false)
                .await,
            204,
            "webhook accepts a signed notification"
        );
    }

    /// A signed, valid notification body.
    pub fn notification_body(entries: &[(&str, &str, &str)]) -> Vec<u8> {
        let list: Vec<Value> = entries
            .iter()
            .map(|(collection, date, owner)| {
                json!({"collectionType": collection, "date": date, "ownerId": owner,
                       "ownerType": "user", "subscriptionId": format!("{owner}-{collection}")})
            })
            .collect();
        serde_json::to_vec(&list).unwrap()
    }

    async fn receive(&self, url: &str) -> SqsEvent {
        let out = self
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive");
        let records: Vec<Value> = out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let attributes: serde_json::Map<String, Value> = m
                    .attributes
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k.as_str().to_owned(), json!(v)))
                    .collect();
                json!({"messageId": m.message_id, "receiptHandle": m.receipt_handle,
                       "body": m.body, "attributes": attributes, "messageAttributes": {},
                       "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:test",
                       "awsRegion": "us-east-1"})
            })
            .collect();
        serde_json::from_value(json!({"Records": records})).unwrap()
    }

    async fn settle(&self, url: &str, event: &SqsEvent, response: &SqsBatchResponse) {
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        for record in &event.records {
            if !failed.contains(&record.message_id.as_deref().unwrap_or_default()) {
                let deleted = self
                    .sqs
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(record.receipt_handle.clone().unwrap())
                    .send()
                    .await;
                match deleted {
                    Ok(_) => {}
                    // The batch outlived its visibility timeout and another poller holds
                    // the message now: it is delivered again (at least once), as on AWS,
                    // where such a delete succeeds without deleting anything.
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|e| e.is_receipt_handle_is_invalid()) => {}
                    Err(e) => panic!("delete_message: {e:?}"),
                }
            }
        }
    }

    /// One worker invocation, if there is work. Returns (messages, failures).
    pub async fn run_worker(&self) -> Option<(usize, usize)> {
        let event = self.receive(&self.work_url).await;
        if event.records.is_empty() {
            return None;
        }
        let response = self.worker.handle(event.clone()).await;
        self.settle(&self.work_url, &event, &response).await;
        Some((event.records.len(), response.batch_item_failures.len()))
    }

    /// A worker invocation that dies mid-batch: it handles the first `handled` messages
    /// (their imports happen) and then the process is gone before Lambda deletes anything,
    /// so every message of the batch comes back after the visibility timeout. Returns the
    /// batch size, if there was work.
    pub async fn run_worker_and_crash(&self, handled: usize) -> Option<usize> {
        let mut event = self.receive(&self.work_url).await;
        let received = event.records.len();
        if received == 0 {
            return None;
        }
        event.records.truncate(handled.min(received));
        if !event.records.is_empty() {
            self.worker.handle(event).await;
        }
        Some(received)
    }

    /// One token-refresh invocation, if there is work.
    pub async fn run_refresher(&self) -> Option<(usize, usize)> {
        let event = self.receive(&self.retry_url).await;
        if event.records.is_empty() {
            return None;
        }
        let response = self.refresher.handle(event.clone()).await;
        self.settle(&self.retry_url, &event, &response).await;
        Some((event.records.len(), response.batch_item_failures.len()))
    }

    /// Messages in a queue: visible, in flight and delayed.
    pub async fn depth(&self, url: &str) -> u64 {
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap_or_default();
        [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            QueueAttributeName::ApproximateNumberOfMessagesDelayed,
        ]
        .iter()
        .filter_map(|k| attrs.get(k).and_then(|v| v.parse::<u64>().ok()))
        .sum()
    }

    /// Runs workers and refreshers until both queues are empty (or `limit` passes).
    pub async fn drain(&self, limit: Duration) {
        let start = Instant::now();
        loop {
            let worked = self.run_worker().await.is_some();
            let refreshed = self.run_refresher().await.is_some();
            if !worked && !refreshed {
                if self.depth(&self.work_url).await == 0 && self.depth(&self.retry_url).await == 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            assert!(
                start.elapsed() < limit,
                "queues not drained within {limit:?}"
            );
        }
    }
}
