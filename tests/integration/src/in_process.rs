//! The real handlers with the real provider and SAP clients against in-process sandboxes,
//! on in-memory ports: no emulator, no AWS, a world in milliseconds.
//!
//! The services are assembled by `wiring`'s `*_on` functions with [`MemoryPorts`], so the
//! graph is the one the deployed functions run; only the table, the queues and the secret
//! source are the in-memory adapters. SQS is played by [`World::run`]: deliveries with
//! their receive counts, the redrive to a dead-letter list after `maxReceiveCount`, delayed
//! messages held back, and the retry queue's consumer.

use fitbridge::domain::PersonKey;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use base64::Engine;
use fitbridge::clock::SetClock;
use fitbridge::config::{OAuthSettings, PipelineSettings, QueueSettings, WebhookSettings};
use fitbridge::domain::Secret;
use fitbridge::domain::{
    Connection, ConnectionStatus, ContactKey, ProviderKind, ProviderUserId, Scopes, TokenSet,
    WorkItem,
};
use fitbridge::inbound::sqs::{Decision, Delivery, RetryConsumer, WorkConsumer};
use fitbridge::marketing::sap::settings::{ContactApi, SapSettings};
use fitbridge::ports::catalog::ProviderCatalog;
use fitbridge::ports::clock::Clock;
use fitbridge::ports::queue::RetryRequest;
use fitbridge::ports::store::ConnectionStore;
use fitbridge::provider::fitbit::FitbitSettings;
use fitbridge::provider::google_health::GoogleHealthSettings;
use fitbridge::provider::polar::PolarSettings;
use fitbridge::provider::registry::ProviderSettings;
use fitbridge::provider::registry::Registry;
use fitbridge::queue::memory::MemoryQueue;
use fitbridge::secret_store::MemorySecrets;
use fitbridge::store::memory::MemoryStore;
use fitbridge::use_cases::connect::ConnectService;
use fitbridge::use_cases::connect::ConnectSettings;
use fitbridge::use_cases::webhook::WebhookService;
use fitbridge::wiring::{self, MemoryPorts};
use fitbridge_sandbox::{Sandbox, SandboxConfig};
use hmac::{Hmac, Mac};
use lambda_http::{Body, Response};
use serde_json::{json, Value};
use time::OffsetDateTime;
use url::Url;

use crate::{apigw_v2_event, google_settings, random_user_id, PUBLIC_BASE_URL};

/// The work queue's redrive `maxReceiveCount` (the template's default).
pub const MAX_RECEIVE_COUNT: u32 = 5;
/// Deliveries [`World::run`] makes before it calls the work a circle: enough for a 60-day
/// backfill whose every message waits (each is delivered `MAX_RECEIVE_COUNT` times before
/// the worker sends a delayed copy, and waits are not waited for).
pub const MAX_ROUNDS: usize = 400;
const TABLE: &str = "in-memory-table";
const WORK_QUEUE: &str = "memory://work";
const RETRY_QUEUE: &str = "memory://retry.fifo";

/// The secret and personal values a world issued: none may appear in a log.
#[derive(Clone, Debug, Default)]
pub struct Issued {
    pub link_key: String,
    pub fitbit_client_secret: String,
    pub fitbit_verification_code: String,
    pub google_client_secret: String,
    pub google_webhook_authorization: String,
    pub polar_client_secret: String,
    /// The Polar webhook's signing key, as the secret holds it.
    pub polar_webhook_key: String,
    pub sap_password: String,
}

/// One world: sandboxes, in-memory ports and the services on them.
pub struct World {
    pub sandbox: Sandbox,
    pub ports: MemoryPorts,
    pub store: Arc<MemoryStore>,
    pub work_queue: Arc<MemoryQueue>,
    pub retry_queue: Arc<MemoryQueue>,
    pub connect: ConnectService,
    pub webhook: WebhookService,
    pub worker: WorkConsumer,
    pub refresher: RetryConsumer,
    pub issued: Issued,
    /// The providers' settings every service of the world was built with.
    pub providers: ProviderSettings,
    link_key: Secret,
    /// The person's browser's cookies for our origin (name=value).
    browser_cookies: Mutex<Vec<String>>,
    http: reqwest::Client,
}

/// Messages a run of the pipeline left for later.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leftover {
    /// Messages the redrive moved to the dead-letter queue.
    pub dead_letters: Vec<Message>,
    /// Messages sent with a delay (fresh copies of rate-limited work): visible later.
    pub delayed: Vec<Message>,
    /// Messages in the dead-letter queue that are no work item.
    pub unreadable_dead_letters: usize,
}

impl Leftover {
    /// Messages in the dead-letter queue.
    pub fn dead(&self) -> usize {
        self.dead_letters.len() + self.unreadable_dead_letters
    }
}

/// A message of the simulated work queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub item: WorkItem,
    pub receive_count: u32,
    pub sent_at: OffsetDateTime,
}

impl Message {
    /// A message of `item`, sent at `sent_at` ([`World::message`]: now, by the world's clock).
    pub fn new(item: WorkItem, sent_at: OffsetDateTime) -> Message {
        Message {
            item,
            receive_count: 0,
            sent_at,
        }
    }
}

/// What happened in a run: each work delivery's decision (in order), what went to the
/// retry queue, and what is left.
#[derive(Clone, Debug, Default)]
pub struct Run {
    pub decisions: Vec<Decision>,
    pub retries: usize,
    pub leftover: Leftover,
    /// The queues were still busy after [`MAX_ROUNDS`] deliveries: work going round in a
    /// circle.
    pub unsettled: bool,
}

impl Run {
    /// `30s 60s 120s 240s 480s →DLQ`, `ok`, `↪retry ok`, …
    pub fn trace(&self) -> String {
        let mut parts: Vec<String> = self
            .decisions
            .iter()
            .map(|d| match d {
                Decision::Delete => "ok".to_owned(),
                Decision::RedeliverAfter(after) => format!("{}s", after.as_secs()),
            })
            .collect();
        if self.retries > 0 {
            parts.push(format!("retry×{}", self.retries));
        }
        if !self.leftover.delayed.is_empty() {
            parts.push(format!("→copy×{}", self.leftover.delayed.len()));
        }
        if self.leftover.dead() > 0 {
            parts.push(format!("→DLQ×{}", self.leftover.dead()));
        }
        if self.unsettled {
            // A circle: the first few deliveries say how it goes round.
            parts.truncate(6);
            parts.push(format!("… unsettled after {MAX_ROUNDS} rounds"));
        }
        parts.join(" ")
    }
}

/// When an in-process world starts, unless a test says otherwise: a Wednesday in the
/// middle of a month, so that the last 30 days hold no month's first week.
pub const START: OffsetDateTime = time::macros::datetime!(2026-11-18 10:00 UTC);

impl World {
    /// A world whose clock (and the sandboxes') starts at [`START`].
    pub async fn start() -> World {
        World::start_at(START).await
    }

    /// A world whose clock, and the sandboxes', starts at `at` and runs on from there.
    pub async fn start_at(at: OffsetDateTime) -> World {
        let tag = random_user_id().to_lowercase();
        let issued = Issued {
            link_key: format!("link-key-{tag}-{}", random_user_id()),
            fitbit_client_secret: format!("client-secret-{tag}-{}", random_user_id()),
            fitbit_verification_code: format!("verify-{tag}-{}", random_user_id()),
            google_client_secret: format!("GOCSPX-{tag}-{}", random_user_id()),
            google_webhook_authorization: format!("Bearer webhook-{tag}-{}", random_user_id()),
            polar_client_secret: format!("polar-secret-{tag}-{}", random_user_id()),
            polar_webhook_key: format!("polar-key-{tag}-{}", random_user_id()),
            sap_password: format!("sap-password-{tag}-{}", random_user_id()),
        };
        let mut config = SandboxConfig::default();
        config.google_health.client_secret = issued.google_client_secret.clone();
        config.google_health.redirect_uris =
            vec![format!("{PUBLIC_BASE_URL}/oauth/callback/google-health")];
        config.fitbit.client_id = format!("23{}", &tag[..4]).to_uppercase();
        config.fitbit.client_secret = issued.fitbit_client_secret.clone();
        config.fitbit.redirect_uris = vec![format!("{PUBLIC_BASE_URL}/oauth/callback/fitbit")];
        config.polar.client_secret = issued.polar_client_secret.clone();
        config.polar.redirect_uris = vec![format!("{PUBLIC_BASE_URL}/oauth/callback/polar")];
        config.sap.password = issued.sap_password.clone();
        let fitbit_client_id = config.fitbit.client_id.clone();
        let google_client_id = config.google_health.client_id.clone();
        let polar_client_id = config.polar.client_id.clone();
        let sandbox = Sandbox::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("sandbox starts");
        sandbox.set_clock(at);
        let clock = Arc::new(SetClock::new(at));

        let ports = MemoryPorts::new(
            Arc::new(MemorySecrets::new([
                (
                    "fitbit",
                    json!({"client_id": fitbit_client_id, "client_secret": issued.fitbit_client_secret,
                       "subscriber_verification_code": issued.fitbit_verification_code}),
                ),
                (
                    "google-health",
                    json!({"client_id": google_client_id,
                       "client_secret": issued.google_client_secret,
                       "webhook_authorization": issued.google_webhook_authorization}),
                ),
                (
                    "polar",
                    json!({"client_id": polar_client_id,
                       "client_secret": issued.polar_client_secret,
                       "webhook_signature_key": issued.polar_webhook_key}),
                ),
                (
                    "sap",
                    json!({"username": "FITBRIDGE_COMM", "password": issued.sap_password}),
                ),
                ("link", json!({"key": issued.link_key})),
            ])),
            clock,
        );
        let base = Url::parse(&sandbox.base_url).unwrap();
        let providers = ProviderSettings {
            fitbit: Some(FitbitSettings {
                authorize_url: base.join("/oauth2/authorize").unwrap(),
                api_base_url: base.clone(),
                secret_id: "fitbit".into(),
                scopes: ["profile", "activity", "sleep", "weight"]
                    .map(String::from)
                    .to_vec(),
            }),
            google_health: Some(GoogleHealthSettings {
                secret_id: "google-health".into(),
                ..google_settings(&sandbox.base_url)
            }),
            polar: Some(PolarSettings {
                authorize_url: base.join("/oauth2/authorization").unwrap(),
                token_url: base.join("/v2/oauth2/token").unwrap(),
                api_base_url: base.clone(),
                secret_id: "polar".into(),
            }),
        };
        let sap = SapSettings {
            base_url: base,
            secret_id: "sap".into(),
            contact_api: ContactApi::Contact,
            customer_id_origin: "CUSTOMER_ID".into(),
            source_system_type: "EXT".into(),
            source_system_id: "FITBRIDGE".into(),
        };
        let connect = wiring::connect_service(
            &ports,
            OAuthSettings {
                table_name: TABLE.into(),
                work_queue_url: Some(WORK_QUEUE.into()),
                connect: ConnectSettings {
                    public_base_url: Some(Url::parse(PUBLIC_BASE_URL).unwrap()),
                    backfill_days: 0,
                    require_signed_links: false,
                },
                link_secret_id: "link".into(),
                providers: providers.clone(),
                sap: sap.clone(),
                mappings: fitbridge::provider::registry::default_mappings(),
            },
        );
        let pipeline = PipelineSettings {
            table_name: TABLE.into(),
            providers: providers.clone(),
            sap: Some(sap),
            queues: QueueSettings {
                work_queue_url: WORK_QUEUE.into(),
                retry_queue_url: Some(RETRY_QUEUE.into()),
                max_receive_count: MAX_RECEIVE_COUNT,
            },
            mappings: fitbridge::provider::registry::default_mappings(),
            signals: Default::default(),
            event_bus: Some("fitbridge-test".into()),
            retention: time::Duration::days(
                fitbridge::use_cases::sync::DEFAULT_RETENTION_DAYS.into(),
            ),
            fetch_coalesce: fitbridge::ports::store::FETCH_COALESCE_WINDOW,
            budget: fitbridge::config::BudgetSettings::off(),
        };
        let worker = wiring::work_consumer(&ports, pipeline.clone()).unwrap();
        let refresher = wiring::retry_consumer(&ports, pipeline).unwrap();
        let webhook = wiring::webhook_service(
            &ports,
            &WebhookSettings {
                providers: providers.clone(),
                work_queue_url: WORK_QUEUE.into(),
            },
        );
        World {
            store: ports.store.clone(),
            work_queue: ports.memory_queue(WORK_QUEUE),
            retry_queue: ports.memory_queue(RETRY_QUEUE),
            link_key: Secret::new(issued.link_key.clone()),
            sandbox,
            ports,
            connect,
            webhook,
            worker,
            refresher,
            issued,
            providers,
            browser_cookies: Mutex::default(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .build()
                .unwrap(),
        }
    }

    /// Now, by the world's clock.
    pub fn now(&self) -> OffsetDateTime {
        self.ports.clock.now()
    }

    /// Moves the world's clock, and the sandboxes', on by `by`.
    pub fn advance(&self, by: time::Duration) {
        self.ports.clock.advance(by);
        self.sandbox.set_clock(self.now());
    }

    /// The person's yesterday in Europe/Berlin (where the world's people live), by the
    /// world's clock.
    pub fn yesterday(&self) -> time::Date {
        fitbridge::domain::local_day::yesterday(Some("Europe/Berlin"), self.ports.clock.timestamp())
    }

    /// A message of `item`, sent now.
    pub fn message(&self, item: WorkItem) -> Message {
        Message::new(item, self.now())
    }

    /// `ref=..&issued=..&expires=..&sig=..` signed now with this world's link key for
    /// `provider`.
    pub fn signed_link_query(
        &self,
        provider: ProviderKind,
        customer_ref: &str,
        expires: i64,
    ) -> String {
        let claims = fitbridge::domain::link::LinkClaims {
            customer_ref: Some(customer_ref.to_owned()),
            legacy_user_id: None,
            issued: self.now().unix_timestamp(),
            expires,
        };
        claims.query(&self.link_key, provider)
    }

    /// A request to the OAuth function's handler as API Gateway (payload 2.0) delivers it,
    /// from a browser holding exactly `cookies`.
    pub async fn oauth(
        &self,
        method: &str,
        path_and_query: &str,
        cookies: &[String],
    ) -> Response<Body> {
        let mut event: Value =
            serde_json::from_str(&apigw_v2_event(method, path_and_query)).unwrap();
        event["requestContext"]["http"]["method"] = json!(method);
        if !cookies.is_empty() {
            event["cookies"] = json!(cookies);
        }
        let request = lambda_http::request::from_str(&event.to_string())
            .expect("a valid API Gateway v2 event");
        fitbridge::inbound::oauth::handle(&self.connect, request).await
    }

    /// A GET from the person's browser: sends the cookies it holds, keeps the ones set.
    pub async fn browser_get(&self, path_and_query: &str) -> Response<Body> {
        let cookies = self.browser_cookies();
        let response = self.oauth("GET", path_and_query, &cookies).await;
        let mut jar = self.browser_cookies.lock().unwrap();
        for set in response.headers().get_all("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            let name = pair.split('=').next().unwrap().to_owned();
            jar.retain(|c| !c.starts_with(&format!("{name}=")));
            jar.push(pair);
        }
        response
    }

    /// The person's browser is a new one: no cookies.
    pub fn new_browser(&self) {
        self.browser_cookies.lock().unwrap().clear();
    }

    /// Puts a cookie (`name=value`) into the person's browser.
    pub fn set_browser_cookie(&self, pair: &str) {
        let name = pair.split('=').next().unwrap_or_default().to_owned();
        let mut jar = self.browser_cookies.lock().unwrap();
        jar.retain(|c| !c.starts_with(&format!("{name}=")));
        jar.push(pair.to_owned());
    }

    pub fn browser_cookies(&self) -> Vec<String> {
        self.browser_cookies.lock().unwrap().clone()
    }

    /// Plays the person at the provider's consent page: where the provider sends them back
    /// to (path and query).
    pub async fn consent(&self, authorize_url: &str) -> String {
        crate::consent_at_provider(&self.http, authorize_url)
            .await
            .1
    }

    /// A request to the webhook handler as API Gateway (payload 2.0) delivers it; `base64`:
    /// API Gateway may deliver any body base64-encoded.
    pub async fn webhook_request(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(String, String)],
        body: &[u8],
        base64_body: bool,
    ) -> u16 {
        let mut event: Value =
            serde_json::from_str(&apigw_v2_event(method, path_and_query)).unwrap();
        event["routeKey"] = json!(format!("{method} /webhooks/{{provider}}"));
        event["requestContext"]["routeKey"] = event["routeKey"].clone();
        event["requestContext"]["http"]["method"] = json!(method);
        if !body.is_empty() || base64_body {
            if base64_body {
                event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
                event["isBase64Encoded"] = json!(true);
            } else {
                event["body"] = json!(String::from_utf8(body.to_vec()).expect("a text body"));
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

    /// Another webhook service on the world's ports (its queue, its secrets): for serving
    /// the webhook over HTTP, where a provider's sandbox calls it.
    pub fn webhook_service(&self) -> WebhookService {
        wiring::webhook_service(
            &self.ports,
            &WebhookSettings {
                providers: self.providers.clone(),
                work_queue_url: WORK_QUEUE.into(),
            },
        )
    }

    /// `Polar-Webhook-Signature` of `body` with this world's signing key.
    pub fn polar_signature(&self, body: &[u8]) -> String {
        fitbridge_sandbox::polar::sign_payload(&self.issued.polar_webhook_key, body)
    }

    /// `X-Fitbit-Signature` of `body` with `client_secret`.
    pub fn fitbit_signature(client_secret: &str, body: &[u8]) -> String {
        let mut mac =
            Hmac::<sha1::Sha1>::new_from_slice(format!("{client_secret}&").as_bytes()).unwrap();
        mac.update(body);
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }

    /// A person connected to `provider` (as the connect flow leaves them) with these
    /// scopes; returns their id.
    pub async fn connected(&self, provider: ProviderKind, scopes: &[&str]) -> String {
        self.connected_with(provider, scopes, None).await
    }

    /// [`Self::connected`], the person's synthetic data following `pattern`.
    pub async fn connected_with(
        &self,
        provider: ProviderKind,
        scopes: &[&str],
        pattern: Option<fitbridge_sandbox::fitbit::ActivityPattern>,
    ) -> String {
        let (user, access, refresh, expires_in) = match provider {
            ProviderKind::Fitbit => {
                let user = random_user_id();
                if let Some(pattern) = pattern {
                    self.sandbox.fitbit.add_user(
                        fitbridge_sandbox::fitbit::TestUser::new(&user, "Pat", "Tern")
                            .with_pattern(pattern),
                    );
                }
                let grant = self.sandbox.fitbit.grant_tokens(&user, scopes);
                (user, grant.access_token, grant.refresh_token, 8 * 3600)
            }
            ProviderKind::GoogleHealth => {
                let user = crate::random_health_user_id();
                let mut person =
                    fitbridge_sandbox::google_health::GoogleUser::new(&user, "Gale", "Health");

                // The default pattern unless asked: a random id would pick one itself,
                // and the tests that count a day's interactions need the usual day.
                person = person.with_pattern(
                    pattern.unwrap_or(fitbridge_sandbox::fitbit::ActivityPattern::Default),
                );
                self.sandbox.google_health.add_user(person);
                let grant = self.sandbox.google_health.grant_tokens(&user, scopes);
                let refresh = grant.refresh_token.expect("offline grants");
                (user, grant.access_token, refresh, 3600)
            }
            ProviderKind::Polar => {
                let user = crate::random_polar_user_id();
                // The default pattern unless asked, as for Google: the usual day.
                let person = fitbridge_sandbox::polar::PolarUser::new(&user, "Pola", "Ris")
                    .with_pattern(
                        pattern.unwrap_or(fitbridge_sandbox::fitbit::ActivityPattern::Default),
                    );
                self.sandbox.polar.add_user(person);
                // Registered with the member id the client derives, as a connect leaves them.
                let member = fitbridge::provider::polar::users::member_id(
                    &self.sandbox.polar.config().client_id,
                    &ProviderUserId(user.clone()),
                );
                let grant = self.sandbox.polar.connect(&user, &member);
                (user, grant.access_token, String::new(), grant.expires_in)
            }
        };
        self.store
            .save_connected(&Connection {
                provider,
                user_id: ProviderUserId(user.clone()),
                tokens: TokenSet {
                    access_token: Secret::new(access),
                    refresh_token: Secret::new(refresh),
                    expires_at: self.now() + time::Duration::seconds(expires_in),
                    scopes: Scopes::parse(&scopes.join(" ")),
                },
                status: ConnectionStatus::Active,
                contact: contact_of(provider, &user),
                customer_ref: None,
                timezone: Some("Europe/Berlin".into()),
                subscriptions: Default::default(),
                version: 0,
                consented_at: None,
            })
            .await
            .unwrap();
        user
    }

    pub async fn connection(&self, provider: ProviderKind, user: &str) -> Option<Connection> {
        self.store
            .get(&PersonKey::of(provider, &ProviderUserId(user.into())))
            .await
            .unwrap()
    }

    /// Every connection stored, of either provider.
    pub async fn connections(&self) -> usize {
        let mut n = 0;
        for kind in ProviderKind::ALL {
            n += fitbridge::ports::store::ConnectionDirectory::connections_of(&*self.store, kind)
                .await
                .unwrap()
                .len();
        }
        n
    }

    /// Plays SQS for `messages` on the work queue and the retry queue until nothing is
    /// visible: each delivery counts, a message the worker hands back is delivered again
    /// (after `maxReceiveCount` deliveries it goes to the dead-letter list), what the
    /// worker or the refresher send without a delay is delivered next, what is sent with
    /// one is held back. Waits are not waited for.
    pub async fn run(&self, messages: Vec<Message>) -> Run {
        let mut run = Run::default();
        let mut visible = messages;
        let mut retries: Vec<(RetryRequest, u32)> = Vec::new();
        for _ in 0..MAX_ROUNDS {
            for (item, delay) in self.take_sent_work() {
                let message = self.message(item);
                if delay.is_zero() {
                    visible.push(message);
                } else {
                    run.leftover.delayed.push(message);
                }
            }
            for request in self.retry_queue.drain_retries() {
                run.retries += 1;
                retries.push((request, 0));
            }
            if visible.is_empty() && retries.is_empty() {
                return run;
            }
            if let Some(mut message) = (!visible.is_empty()).then(|| visible.remove(0)) {
                message.receive_count += 1;
                let delivery = Delivery {
                    body: serde_json::to_string(&message.item).unwrap(),
                    receive_count: message.receive_count,
                    sent_at: message.sent_at,
                };
                let decision = self.worker.decide(&[delivery]).await.remove(0);
                run.decisions.push(decision.clone());
                if decision != Decision::Delete {
                    if message.receive_count >= MAX_RECEIVE_COUNT {
                        run.leftover.dead_letters.push(message);
                    } else {
                        visible.push(message);
                    }
                }
            }
            let mut again = Vec::new();
            for (request, count) in std::mem::take(&mut retries) {
                let count = count + 1;
                let record = json!({"messageId": "m-1", "receiptHandle": "r-1",
                    "body": serde_json::to_string(&request).unwrap(),
                    "attributes": {"ApproximateReceiveCount": count.to_string(),
                                   "MessageGroupId": format!("{}#{}", request.work.provider, request.work.user_id)},
                    "messageAttributes": {}, "eventSource": "aws:sqs"});
                let event: SqsEvent = serde_json::from_value(json!({"Records": [record]})).unwrap();
                let response = self.refresher.handle(event).await;
                if !response.batch_item_failures.is_empty() && count < MAX_RECEIVE_COUNT {
                    again.push((request, count));
                }
            }
            retries = again;
        }
        run.unsettled = true;
        run
    }

    /// Plays SQS for one message whose body is `body` as it is (say, one nothing we sent
    /// can be) on the work queue or the retry queue: delivered until its consumer deletes
    /// it or the redrive moves it to the dead-letter list.
    pub async fn run_raw(&self, on_retry_queue: bool, body: &str) -> Run {
        let mut run = Run::default();
        for receive_count in 1..=MAX_RECEIVE_COUNT {
            let decision = if on_retry_queue {
                let record = json!({"messageId": "m-raw", "receiptHandle": "r-raw", "body": body,
                    "attributes": {"ApproximateReceiveCount": receive_count.to_string(),
                                   "MessageGroupId": "raw"},
                    "messageAttributes": {}, "eventSource": "aws:sqs"});
                let event: SqsEvent = serde_json::from_value(json!({"Records": [record]})).unwrap();
                let failed = !self
                    .refresher
                    .handle(event)
                    .await
                    .batch_item_failures
                    .is_empty();
                match self.retry_queue.redeliveries().last() {
                    Some((_, delay)) if failed => Decision::RedeliverAfter(*delay),
                    _ if failed => Decision::RedeliverAfter(Duration::ZERO),
                    _ => Decision::Delete,
                }
            } else {
                let delivery = Delivery {
                    body: body.to_owned(),
                    receive_count,
                    sent_at: self.now(),
                };
                self.worker.decide(&[delivery]).await.remove(0)
            };
            run.decisions.push(decision.clone());
            if decision == Decision::Delete {
                return run;
            }
        }
        run.leftover.unreadable_dead_letters += 1;
        run
    }

    /// Takes what was sent to the work queue, with each message's delay.
    fn take_sent_work(&self) -> Vec<(WorkItem, Duration)> {
        let sent = self.work_queue.sent();
        let _ = self.work_queue.drain();
        sent
    }
}

/// The contact a connection of `provider` and `user` feeds by default.
pub fn contact_of(provider: ProviderKind, user: &str) -> ContactKey {
    ContactKey {
        origin: Registry.default_mapping(provider).contact_origin,
        id: user.into(),
    }
}

/// The body of a `Response` as text.
pub fn text(response: &Response<Body>) -> String {
    crate::body_text(response)
}
