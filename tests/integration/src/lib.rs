//! Test harness: the real handlers, the real AWS SDK against the local emulator (the
//! stack deployed from `infra/template.yaml`), and sandboxes in-process on random ports.
//!
//! [`deployed`] drives the deployed stack end to end, through the local API gateway.
//! [`in_process`] needs no emulator: the real handlers and clients on in-memory ports
//! (`tests/bad_input/`, the bad-input matrix, runs on it).
//!
//! Each [`TestEnv`] has its own sandbox, its own secrets in the emulator's Secrets Manager
//! and random user ids, so tests run in parallel against the one deployed table.

pub mod aws_meter;
pub mod chaos;
pub mod deployed;
pub mod in_process;
pub mod memory;
pub mod pipeline;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use fitbridge::clock::{SetClock, SystemClock};
use fitbridge::config::OAuthSettings;
use fitbridge::domain::ProviderKind;
use fitbridge::domain::Secret;
use fitbridge::marketing::sap::settings::{ContactApi, SapSettings};
use fitbridge::ports::clock::SharedClock;
use fitbridge::provider::fitbit::FitbitSettings;
use fitbridge::provider::google_health::GoogleHealthSettings;
use fitbridge::provider::polar::PolarSettings;
use fitbridge::provider::registry::ProviderSettings;
use fitbridge::store::dynamodb::DynamoStore;
use fitbridge::use_cases::connect::ConnectService;
use fitbridge::use_cases::connect::ConnectSettings;
use fitbridge::wiring::{self, AwsPorts};
use fitbridge_sandbox::fitbit::{Consent, TestUser};
use fitbridge_sandbox::google_health::{Consent as GoogleConsent, GoogleUser};
use fitbridge_sandbox::{Sandbox, SandboxConfig};
use lambda_http::{Body, Response};
use rand::Rng;
use serde_json::{json, Value};
use url::Url;

/// Where the deployed local stack is described (written by `tests/local/deploy.py`).
pub fn stack_file() -> PathBuf {
    std::env::var_os("FITBRIDGE_STACK_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.local/stack.json")
        })
}

/// The deployed stack's clock. Its functions run on the machine's clock, so an end-to-end
/// test that builds an input relative to "now" (a link's expiry, a token's) or waits for
/// "yesterday" asks this: the one wall-clock read of the suites that drive the deployed
/// stack. That they hold on any date is shown by running them under `faketime`
/// (`docs/testing.md`); everything that runs in-process runs on a set clock instead.
pub fn stack_clock() -> SharedClock {
    Arc::new(SystemClock)
}

/// Now, by [`stack_clock`].
pub fn stack_now() -> time::OffsetDateTime {
    fitbridge::ports::clock::Clock::now(&*stack_clock())
}

/// The clock of adapter tests against the emulator (the tests that drive an adapter
/// directly, not a deployed function): set to [`in_process::START`] when the test
/// binary first asks, running on from there, one for the whole binary.
pub fn test_clock() -> Arc<SetClock> {
    static CLOCK: std::sync::OnceLock<Arc<SetClock>> = std::sync::OnceLock::new();
    CLOCK
        .get_or_init(|| Arc::new(SetClock::new(in_process::START)))
        .clone()
}

/// The deployed stack's table (its `TableName` output).
pub fn stack_table(stack: &Value) -> String {
    stack["outputs"]["TableName"]
        .as_str()
        .expect("stack output TableName")
        .to_owned()
}

/// The deployed local stack's description.
pub fn stack() -> Value {
    let path = stack_file();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}): the local stack is not deployed; run tests/local/test.sh",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("stack.json is JSON")
}

/// Where the AWS clients go: the emulator the stack is deployed to, unless
/// `FITBRIDGE_TEST_AWS_ENDPOINT` names another (the cost benchmark's metering proxy).
pub fn aws_endpoint(stack: &Value) -> String {
    std::env::var("FITBRIDGE_TEST_AWS_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| stack["endpoint"].as_str().expect("endpoint").to_owned())
}

/// Creates `table` in the emulator with the deployed table's keys and indexes (its
/// `Directory` index included), empty: a benchmark's table holding only its own items.
pub async fn create_table_like_the_stacks(
    ddb: &aws_sdk_dynamodb::Client,
    stack: &Value,
    table: &str,
) {
    use aws_sdk_dynamodb::types::{BillingMode, GlobalSecondaryIndex};
    let model = ddb
        .describe_table()
        .table_name(stack_table(stack))
        .send()
        .await
        .expect("describe the stack's table")
        .table
        .expect("a table description");
    let indexes = model
        .global_secondary_indexes()
        .iter()
        .map(|index| {
            GlobalSecondaryIndex::builder()
                .set_index_name(index.index_name.clone())
                .set_key_schema(index.key_schema.clone())
                .set_projection(index.projection.clone())
                .build()
                .expect("an index description has a name and keys")
        })
        .collect::<Vec<_>>();
    ddb.create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(model.attribute_definitions)
        .set_key_schema(model.key_schema)
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .send()
        .await
        .expect("create the table");
}

/// AWS SDK configuration for the emulator the stack is deployed to.
pub async fn aws_config(stack: &Value) -> SdkConfig {
    aws_config_at(stack, &aws_endpoint(stack)).await
}

/// [`aws_config`] through another endpoint, such as a metering proxy in front of it.
pub async fn aws_config_at(stack: &Value, endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(fitbridge::wiring::aws_http_client())
        .endpoint_url(endpoint)
        .region(Region::new(
            stack["region"].as_str().unwrap_or("us-east-1").to_owned(),
        ))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "emulator",
        ))
        .load()
        .await
}

/// A random Google Health-style user id (19 digits).
pub fn random_health_user_id() -> String {
    let mut rng = rand::rng();
    format!("4{:018}", rng.random_range(0..1_000_000_000_000_000_000u64))
}

/// A random Polar user id: a number, as Polar's are.
pub fn random_polar_user_id() -> String {
    let mut rng = rand::rng();
    format!("9{:08}", rng.random_range(0..100_000_000u64))
}

/// Google Health settings pointing at a sandbox (the secret id is the caller's).
pub fn google_settings(sandbox_base_url: &str) -> GoogleHealthSettings {
    let base = Url::parse(sandbox_base_url).unwrap();
    GoogleHealthSettings {
        authorize_url: base.join("/o/oauth2/v2/auth").unwrap(),
        token_url: base.join("/token").unwrap(),
        revoke_url: base.join("/revoke").unwrap(),
        userinfo_url: base.join("/v1/userinfo").unwrap(),
        api_base_url: base.clone(),
        keyset_url: base.join("/google-health/webhook-keyset.json").unwrap(),
        secret_id: String::new(),
        scopes: fitbridge::provider::google_health::scopes::DEFAULT
            .map(String::from)
            .to_vec(),
    }
}

fn config_google_client_id(sandbox: &Sandbox) -> String {
    sandbox.google_health.config().client_id.clone()
}

/// A random 6-character Fitbit-style user id (`[0-9A-Z]`), unique per test.
pub fn random_user_id() -> String {
    const CHARS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut rng = rand::rng();
    (0..6)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// Captured log output of everything the test's thread logs (tokio's current-thread test
/// runtime keeps the handler, the SDK and the sandbox on it).
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

pub struct EnvOptions {
    pub contact_api: ContactApi,
    /// Configure `PUBLIC_BASE_URL`; without it the handler derives it from API Gateway's
    /// domain name (the events here say `fitbridge.test`).
    pub public_base_url: bool,
}

impl Default for EnvOptions {
    fn default() -> Self {
        EnvOptions {
            contact_api: ContactApi::Contact,
            public_base_url: true,
        }
    }
}

/// One test's world.
pub struct TestEnv {
    pub aws: SdkConfig,
    /// The handlers' clock: the stack's ([`stack_clock`]), since SQS stamps the messages
    /// the pipeline's handlers receive with the machine's time.
    pub clock: SharedClock,
    /// What the OAuth function was configured with; the pipeline reuses it.
    pub settings: OAuthSettings,
    pub sandbox: Sandbox,
    pub service: ConnectService,
    pub store: DynamoStore,
    pub link_key: Secret,
    pub fitbit_client_secret: String,
    pub google_client_secret: String,
    /// The `Authorization` value registered with the Google Health subscriber.
    pub google_webhook_authorization: String,
    /// The Polar webhook's signing key, as the Polar secret holds it.
    pub polar_webhook_key: String,
    pub sap_password: String,
    pub logs: LogCapture,
    _log_guard: tracing::subscriber::DefaultGuard,
    http: reqwest::Client,
    /// The person's browser's cookies for our origin (name=value), as a browser keeps them.
    pub browser_cookies: std::sync::Mutex<Vec<String>>,
}

impl Drop for TestEnv {
    /// A failing test shows what the handler logged (the logs hold no secrets: a test
    /// checks exactly that).
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- captured logs ---\n{}", self.logs.text());
        }
    }
}

/// The public base URL the handlers build redirect URIs with; the test plays the browser
/// and routes that host back into the handler itself.
pub const PUBLIC_BASE_URL: &str = "https://fitbridge.test";

impl TestEnv {
    pub async fn start() -> TestEnv {
        TestEnv::with(EnvOptions::default()).await
    }

    pub async fn with(options: EnvOptions) -> TestEnv {
        // Logs as production writes them (JSON) at the most a deployment can ask for
        // (`LogLevel=trace`, with the wire-logging crates capped as in production),
        // captured for leak checks.
        let logs = LogCapture::default();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                fitbridge::telemetry::directives(Some("trace")),
            ))
            .with_writer(logs.clone())
            .finish();
        let log_guard = tracing::subscriber::set_default(subscriber);

        let suffix = random_user_id().to_lowercase();
        let fitbit_client_secret = format!("client-secret-{suffix}-{}", random_user_id());
        let sap_password = format!("sap-password-{suffix}-{}", random_user_id());
        let google_client_secret = format!("GOCSPX-{suffix}-{}", random_user_id());
        let google_webhook_authorization = format!("Bearer webhook-{suffix}-{}", random_user_id());
        let mut config = SandboxConfig::default();
        config.google_health.client_secret = google_client_secret.clone();
        config.google_health.redirect_uris =
            vec![format!("{PUBLIC_BASE_URL}/oauth/callback/google-health")];
        config.fitbit.client_id = format!("23{}", &suffix[..4]).to_uppercase();
        config.fitbit.client_secret = fitbit_client_secret.clone();
        config.fitbit.redirect_uris = vec![format!("{PUBLIC_BASE_URL}/oauth/callback/fitbit")];
        let polar_client_secret = format!("polar-secret-{suffix}-{}", random_user_id());
        let polar_webhook_key = format!("polar-key-{suffix}-{}", random_user_id());
        config.polar.client_secret = polar_client_secret.clone();
        config.polar.redirect_uris = vec![format!("{PUBLIC_BASE_URL}/oauth/callback/polar")];
        let polar_client_id = config.polar.client_id.clone();
        config.sap.password = sap_password.clone();
        let client_id = config.fitbit.client_id.clone();
        let sandbox = Sandbox::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("sandbox starts");
        let clock = stack_clock();

        let stack = stack();
        let aws = aws_config(&stack).await;
        let secrets = aws_sdk_secretsmanager::Client::new(&aws);
        let link_key = Secret::new(format!("link-key-{suffix}-{}", random_user_id()));
        let prefix = format!("fitbridge-test/{suffix}-{}", random_user_id());
        let put = |name: &str, value: Value| {
            let secrets = secrets.clone();
            let name = format!("{prefix}/{name}");
            async move {
                secrets
                    .create_secret()
                    .name(&name)
                    .secret_string(value.to_string())
                    .send()
                    .await
                    .expect("create test secret");
                name
            }
        };
        let fitbit_secret = put(
            "fitbit",
            json!({"client_id": client_id, "client_secret": fitbit_client_secret,
                   "subscriber_verification_code": "verify-me"}),
        )
        .await;
        let google_secret = put(
            "google-health",
            json!({"client_id": config_google_client_id(&sandbox),
                   "client_secret": google_client_secret,
                   "webhook_authorization": google_webhook_authorization}),
        )
        .await;
        let polar_secret = put(
            "polar",
            json!({"client_id": polar_client_id, "client_secret": polar_client_secret,
                   "webhook_signature_key": polar_webhook_key}),
        )
        .await;
        let sap_secret = put(
            "sap",
            json!({"username": "FITBRIDGE_COMM", "password": sap_password}),
        )
        .await;
        let link_secret = put("link", json!({"key": link_key.expose()})).await;

        // `FITBRIDGE_TEST_TABLE`: a table of the same shape holding only what one run
        // puts there (the cost benchmark's daily job scans it).
        let table = std::env::var("FITBRIDGE_TEST_TABLE")
            .ok()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| stack_table(&stack));
        let base = Url::parse(&sandbox.base_url).unwrap();
        let settings = OAuthSettings {
            table_name: table.clone(),
            work_queue_url: None,
            connect: ConnectSettings {
                public_base_url: options
                    .public_base_url
                    .then(|| Url::parse(PUBLIC_BASE_URL).unwrap()),
                backfill_days: 0,
                require_signed_links: false,
            },
            link_secret_id: link_secret,
            providers: ProviderSettings {
                fitbit: Some(FitbitSettings {
                    authorize_url: base.join("/oauth2/authorize").unwrap(),
                    api_base_url: base.clone(),
                    secret_id: fitbit_secret,
                    scopes: ["profile", "activity", "sleep", "weight"]
                        .map(String::from)
                        .to_vec(),
                }),
                google_health: Some(GoogleHealthSettings {
                    secret_id: google_secret,
                    ..google_settings(&sandbox.base_url)
                }),
                polar: Some(PolarSettings {
                    authorize_url: base.join("/oauth2/authorization").unwrap(),
                    token_url: base.join("/v2/oauth2/token").unwrap(),
                    api_base_url: base.clone(),
                    secret_id: polar_secret,
                }),
            },
            mappings: fitbridge::provider::registry::default_mappings(),
            sap: SapSettings {
                base_url: base,
                secret_id: sap_secret,
                contact_api: options.contact_api,
                customer_id_origin: "CUSTOMER_ID".into(),
                source_system_type: "EXT".into(),
                source_system_id: "FITBRIDGE".into(),
            },
        };
        TestEnv {
            service: wiring::connect_service(
                &AwsPorts::with_clock(&aws, clock.clone()),
                settings.clone(),
            ),
            store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table, clock.clone()),
            aws,
            clock,
            settings,
            sandbox,
            link_key,
            fitbit_client_secret,
            google_client_secret,
            google_webhook_authorization,
            polar_webhook_key,
            sap_password,
            logs,
            _log_guard: log_guard,
            browser_cookies: Default::default(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    /// Now, by the handlers' clock.
    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    /// The AWS ports of this environment: the emulator, on its clock.
    pub fn ports(&self) -> AwsPorts {
        AwsPorts::with_clock(&self.aws, self.clock.clone())
    }

    /// A new sandbox user who will allow everything at the consent screen.
    pub fn new_user(&self, first_name: &str, last_name: &str) -> String {
        let id = random_user_id();
        self.sandbox
            .fitbit
            .add_user(TestUser::new(&id, first_name, last_name));
        self.sandbox.fitbit.set_consent(Consent::allow_all(&id));
        id
    }

    /// A new Google Health sandbox person (a numeric health id, and their id at the
    /// legacy API if they had one) who will allow everything at the consent screen.
    pub fn new_google_user(&self, legacy_user_id: Option<&str>) -> String {
        let id = random_health_user_id();
        let mut user = GoogleUser::new(&id, "Gale", "Health");
        user.legacy_user_id = legacy_user_id.map(str::to_owned);
        self.sandbox.google_health.add_user(user);
        self.sandbox
            .google_health
            .set_consent(GoogleConsent::allow_all(&id));
        id
    }

    /// A new Polar sandbox person who will allow the partner at the consent screen.
    pub fn new_polar_user(&self) -> String {
        use fitbridge_sandbox::polar::{Consent as PolarConsent, PolarUser};
        let id = random_polar_user_id();
        self.sandbox
            .polar
            .add_user(PolarUser::new(&id, "Pola", "Ris"));
        self.sandbox.polar.set_consent(PolarConsent::allow(&id));
        id
    }

    /// `?ref=..&expires=..&sig=..` signed with this env's link key.
    pub fn signed_link_query(&self, customer_ref: &str, expires: i64) -> String {
        self.signed_link_query_for(ProviderKind::Fitbit, customer_ref, expires)
    }

    /// The same for another provider's connect link.
    pub fn signed_link_query_for(
        &self,
        provider: ProviderKind,
        customer_ref: &str,
        expires: i64,
    ) -> String {
        let claims = fitbridge::domain::link::LinkClaims {
            customer_ref: Some(customer_ref.to_owned()),
            legacy_user_id: None,
            issued: stack_now().unix_timestamp(),
            expires,
        };
        claims.query(&self.link_key, provider)
    }

    /// Sends `GET path?query` to the OAuth function's handler as API Gateway (HTTP API,
    /// payload 2.0) would deliver it.
    /// A GET from the person's browser: sends the cookies it holds and keeps the ones the
    /// response sets.
    pub async fn get(&self, path_and_query: &str) -> Response<Body> {
        let cookies = self.browser_cookies.lock().unwrap().clone();
        let response = self.get_with_cookies(path_and_query, &cookies).await;
        let mut jar = self.browser_cookies.lock().unwrap();
        for set in response.headers().get_all("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            let name = pair.split('=').next().unwrap().to_owned();
            jar.retain(|c| !c.starts_with(&format!("{name}=")));
            jar.push(pair);
        }
        response
    }

    /// A GET from a browser holding exactly `cookies` (another browser than the person's).
    pub async fn get_with_cookies(
        &self,
        path_and_query: &str,
        cookies: &[String],
    ) -> Response<Body> {
        let mut event: Value =
            serde_json::from_str(&apigw_v2_event("GET", path_and_query)).unwrap();
        if !cookies.is_empty() {
            event["cookies"] = json!(cookies);
        }
        let request = lambda_http::request::from_str(&event.to_string())
            .expect("a valid API Gateway v2 event");
        fitbridge::inbound::oauth::handle(&self.service, request).await
    }

    /// Plays the person's browser at the consent page: follows the redirect to the
    /// provider and returns where the provider sends the person back to (path and query).
    pub async fn consent(&self, authorize_url: &str) -> String {
        let (location, back) = consent_at_provider(&self.http, authorize_url).await;
        assert!(
            location.starts_with(PUBLIC_BASE_URL),
            "provider redirects back to our callback"
        );
        back
    }

    /// The whole connect: `/connect/fitbit[?query]` → consent → callback. Returns the
    /// callback's response.
    pub async fn connect(&self, connect_query: Option<&str>) -> Response<Body> {
        self.connect_to(ProviderKind::Fitbit, connect_query).await
    }

    /// The whole connect to a provider: `/connect/{provider}[?query]` → consent → callback.
    pub async fn connect_to(
        &self,
        provider: ProviderKind,
        connect_query: Option<&str>,
    ) -> Response<Body> {
        let start = match connect_query {
            Some(q) => format!("/connect/{provider}?{q}"),
            None => format!("/connect/{provider}"),
        };
        let redirect = self.get(&start).await;
        assert_eq!(
            redirect.status(),
            302,
            "connect redirects to consent: {}",
            body_text(&redirect)
        );
        let callback = self.consent(location(&redirect)).await;
        self.get(&callback).await
    }
}

/// The `Location` header of a response.
/// Plays the person at the provider's consent page: the absolute URL the provider
/// redirects to, and its path and query.
pub async fn consent_at_provider(http: &reqwest::Client, authorize_url: &str) -> (String, String) {
    let response = http
        .get(authorize_url)
        .send()
        .await
        .expect("authorize request");
    assert_eq!(response.status(), 302, "consent page should redirect back");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let back = Url::parse(&location).expect("absolute redirect");
    let path_and_query = match back.query() {
        Some(q) => format!("{}?{q}", back.path()),
        None => back.path().to_owned(),
    };
    (location, path_and_query)
}

pub fn location(response: &Response<Body>) -> &str {
    response
        .headers()
        .get("location")
        .expect("Location header")
        .to_str()
        .unwrap()
}

/// A query parameter of an absolute URL or of a path with a query.
pub fn query_param(url_or_path: &str, name: &str) -> String {
    let url = Url::parse(url_or_path)
        .or_else(|_| Url::parse(&format!("https://local{url_or_path}")))
        .expect("a URL or a path");
    url.query_pairs()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no {name} parameter"))
        .1
        .into_owned()
}

pub fn body_text(response: &Response<Body>) -> String {
    match response.body() {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}

/// An API Gateway HTTP API payload-2.0 event for a request without a body.
pub fn apigw_v2_event(method: &str, path_and_query: &str) -> String {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    // API Gateway joins repeated parameters with commas and hands over decoded values.
    let mut params = serde_json::Map::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let entry = params
            .entry(k.into_owned())
            .or_insert_with(|| Value::String(String::new()));
        let joined = match entry.as_str() {
            Some("") => v.into_owned(),
            Some(existing) => format!("{existing},{v}"),
            None => v.into_owned(),
        };
        *entry = Value::String(joined);
    }
    let route = if path.starts_with("/connect/") {
        "GET /connect/{provider}"
    } else {
        "GET /oauth/callback/{provider}"
    };
    let mut event = json!({
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": query,
        // A Host header an attacker chose; only requestContext.domainName may be trusted.
        "headers": {"host": "attacker.example", "user-agent": "integration-test"},
        "requestContext": {
            "accountId": "000000000000", "apiId": "local", "domainName": "fitbridge.test",
            "domainPrefix": "fitbridge", "requestId": "test-request",
            "routeKey": route, "stage": "$default", "time": "21/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1_795_000_000_000i64,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "integration-test"}
        },
        "isBase64Encoded": false
    });
    if !params.is_empty() {
        event["queryStringParameters"] = Value::Object(params);
    }
    event.to_string()
}
