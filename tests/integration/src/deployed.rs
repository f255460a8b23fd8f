//! Drives the stack deployed to the local emulator, as a person's browser would: through
//! the local API gateway to the deployed OAuth function, to the sandbox's consent page
//! and back. Used by the demo and by the deployed-stack tests.

use fitbridge::domain::PersonKey;
use fitbridge::domain::ProviderKind;
use fitbridge::domain::Secret;
use serde_json::{json, Value};

mod polar;
pub use polar::connect_polar_person;

/// What a connect through the deployed stack produced.
pub struct DeployedConnect {
    pub user_id: String,
    pub status: u16,
    pub page: String,
    /// The contact as the SAP sandbox stored it.
    pub contact: Option<Value>,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("HTTP {} without Location", response.status()))
        .to_owned()
}

/// The shared sandbox has one "next consenting person": connects through it run one at a
/// time so each consent goes to the person who started it.
static CONSENT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A Google Health sandbox person who consents to everything and, if `legacy_user_id` is
/// given, was that Fitbit person; connects them through the deployed stack (a plain link:
/// a migrating person keeps the customer record their Fitbit connect was tied to).
/// Returns their health id and the callback's status and page.
pub async fn connect_google_person(stack: &Value, legacy_user_id: Option<&str>) -> DeployedConnect {
    connect_google_person_with_pattern(stack, legacy_user_id, None).await
}

/// [`connect_google_person`], the person's synthetic data following `pattern` (the
/// sandbox's `weekday_runner`, `lapse` or `default`; derived from the id when `None`).
pub async fn connect_google_person_with_pattern(
    stack: &Value,
    legacy_user_id: Option<&str>,
    pattern: Option<&str>,
) -> DeployedConnect {
    let _one_at_a_time = CONSENT.lock().await;
    let http = client();
    let gateway = stack["gatewayUrl"].as_str().expect("gatewayUrl");
    let sandbox = stack["sandboxUrl"].as_str().expect("sandboxUrl");
    let user_id = crate::random_health_user_id();
    for (path, body) in [
        (
            "/_admin/google-health/users",
            json!({"health_user_id": user_id, "legacy_user_id": legacy_user_id,
                   "given_name": "Alex", "family_name": "Sandbox", "pattern": pattern}),
        ),
        (
            "/_admin/google-health/consent",
            json!({"health_user_id": user_id}),
        ),
    ] {
        let r = http
            .post(format!("{sandbox}{path}"))
            .json(&body)
            .send()
            .await
            .expect("sandbox admin API reachable (is the sandbox running?)");
        assert!(r.status().is_success(), "{path}: HTTP {}", r.status());
    }
    let callback = consent_round_trip(&http, &format!("{gateway}/connect/google-health")).await;
    DeployedConnect {
        user_id,
        status: callback.status().as_u16(),
        page: callback.text().await.unwrap_or_default(),
        contact: None,
    }
}

/// The browser binding the connect start set, as the `Cookie` header the person's browser
/// sends back with the callback.
/// A browser's round trip through the deployed connect flow: `/connect/...` redirects to
/// the provider's consent, which redirects back to our callback, sent with the cookie the
/// start set. Returns the callback's answer.
pub(crate) async fn consent_round_trip(http: &reqwest::Client, connect: &str) -> reqwest::Response {
    let start = http.get(connect).send().await.expect("gateway reachable");
    assert_eq!(start.status(), 302, "connect should redirect to consent");
    let consent = http.get(location(&start)).send().await.expect("consent");
    assert_eq!(consent.status(), 302, "consent should redirect back");
    http.get(location(&consent))
        .header("cookie", browser_cookie(&start))
        .send()
        .await
        .expect("callback")
}

fn browser_cookie(start: &reqwest::Response) -> String {
    let set = start
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-fitbridge-connect="))
        .expect("the connect start binds the browser");
    set.split(';').next().unwrap().to_owned()
}

/// Registers a sandbox user, connects them through the deployed stack with a signed link
/// carrying `customer_ref`, and returns what landed in the SAP sandbox.
pub async fn connect_person(
    stack: &Value,
    first_name: &str,
    last_name: &str,
    customer_ref: &str,
) -> DeployedConnect {
    connect_person_with_pattern(stack, first_name, last_name, customer_ref, None).await
}

/// [`connect_person`], the person's synthetic data following `pattern` (the Fitbit
/// sandbox's `weekday_runner`, `lapse` or `default`), granting activity only.
pub async fn connect_person_with_pattern(
    stack: &Value,
    first_name: &str,
    last_name: &str,
    customer_ref: &str,
    pattern: Option<&str>,
) -> DeployedConnect {
    let _one_at_a_time = CONSENT.lock().await;
    let http = client();
    let gateway = stack["gatewayUrl"].as_str().expect("gatewayUrl");
    let sandbox = stack["sandboxUrl"].as_str().expect("sandboxUrl");
    let user_id = crate::random_user_id();
    let mut user = serde_json::to_value(fitbridge_sandbox::fitbit::TestUser::new(
        &user_id, first_name, last_name,
    ))
    .unwrap();
    user["gender"] = json!("FEMALE");
    if let Some(pattern) = pattern {
        user["pattern"] = json!(pattern);
    }
    for (path, body) in [
        ("/_admin/fitbit/users", user),
        (
            "/_admin/fitbit/consent",
            match pattern {
                // Activity only: a backfill of many days stays within the 150 requests
                // an hour Fitbit allows a person.
                Some(_) => json!({"user_id": user_id, "grant_scopes": ["profile", "activity"]}),
                None => json!({"user_id": user_id}),
            },
        ),
    ] {
        let r = http
            .post(format!("{sandbox}{path}"))
            .json(&body)
            .send()
            .await
            .expect("sandbox admin API reachable (is the sandbox running?)");
        assert!(r.status().is_success(), "{path}: HTTP {}", r.status());
    }

    let key = Secret::new(stack["connectLinkKey"].as_str().expect("connectLinkKey"));
    let now = crate::stack_now().unix_timestamp();
    let claims = fitbridge::domain::link::LinkClaims {
        customer_ref: Some(customer_ref.to_owned()),
        legacy_user_id: None,
        issued: now,
        expires: now + 600,
    };
    let connect = format!(
        "{gateway}/connect/fitbit?{}",
        claims.query(&key, ProviderKind::Fitbit)
    );

    let callback = consent_round_trip(&http, &connect).await;
    let status = callback.status().as_u16();
    let page = callback.text().await.unwrap_or_default();

    let contacts: Value = http
        .get(format!("{sandbox}/_admin/sap/contacts"))
        .send()
        .await
        .expect("SAP inspection API")
        .json()
        .await
        .expect("contacts JSON");
    let contact = contacts
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["origin"] == "FITBIT" && c["id"] == user_id.as_str())
        .cloned();
    DeployedConnect {
        user_id,
        status,
        page,
        contact,
    }
}

/// The deployed stack's sandbox and functions, for the pipeline flows.
pub struct Deployed {
    pub stack: Value,
    http: reqwest::Client,
}

impl Deployed {
    pub fn new(stack: Value) -> Deployed {
        Deployed {
            stack,
            http: client(),
        }
    }

    fn sandbox(&self) -> &str {
        self.stack["sandboxUrl"].as_str().expect("sandboxUrl")
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.sandbox()));
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request.send().await.expect("sandbox reachable");
        assert!(
            response.status().is_success(),
            "{path}: HTTP {}",
            response.status()
        );
        response.json().await.unwrap_or(Value::Null)
    }

    /// Fitbit delivers these notifications (one signed array) to the deployed webhook;
    /// returns the webhook's status.
    pub async fn notify(&self, notifications: &[(&str, &str, &str)]) -> u16 {
        let list: Vec<Value> = notifications
            .iter()
            .map(|(c, d, o)| json!({"collectionType": c, "date": d, "ownerId": o}))
            .collect();
        let out = self
            .admin(
                reqwest::Method::POST,
                "/_admin/fitbit/notify",
                Some(json!({"notifications": list, "mode": "array"})),
            )
            .await;
        out["statuses"][0].as_u64().unwrap_or(0) as u16
    }

    /// The legacy Fitbit API answers 410 Gone from now on (`false` brings it back).
    pub async fn set_fitbit_gone(&self, gone: bool) {
        self.admin(
            reqwest::Method::POST,
            "/_admin/fitbit/gone",
            Some(json!({"enabled": gone})),
        )
        .await;
    }

    /// Registers the project's Google Health subscriber for the deployed webhook, as an
    /// operator does: `fitbridge-admin google-health subscriber create` with a
    /// service-account key and the authorization from the deployed Google Health secret.
    /// Google (the sandbox) verifies the endpoint with its two probes first. Returns the
    /// CLI's output line.
    /// `fitbridge-admin people backfill` of the person's last `days` days (to yesterday in
    /// their time zone); returns the CLI's output.
    pub async fn backfill(&self, provider: &str, user: &str, days: i64) -> String {
        let yesterday = fitbridge::domain::local_day::yesterday(
            Some("Europe/Berlin"),
            crate::stack_clock().timestamp(),
        );
        let from = yesterday - time::Duration::days(days - 1);
        let args: Vec<String> = [
            "people",
            "backfill",
            "--table",
            self.stack["outputs"]["TableName"]
                .as_str()
                .expect("TableName output"),
            "--work-queue-url",
            self.stack["outputs"]["WorkQueueUrl"]
                .as_str()
                .expect("WorkQueueUrl output"),
            "--provider",
            provider,
            "--user",
            user,
            "--from",
            &from.to_string(),
            "--to",
            &yesterday.to_string(),
        ]
        .map(str::to_owned)
        .to_vec();
        let context =
            fitbridge_admin::Context::from_process().on_aws(&crate::aws_config(&self.stack).await);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = fitbridge_admin::run(&args, &context, &mut out, &mut err).await;
        assert_eq!(
            code,
            fitbridge_admin::EXIT_OK,
            "backfill: {}",
            String::from_utf8_lossy(&err)
        );
        String::from_utf8_lossy(&out).trim().to_owned()
    }

    pub async fn create_google_subscriber(&self) -> String {
        let key = self
            .admin(
                reqwest::Method::POST,
                "/_admin/google-health/service-accounts",
                None,
            )
            .await;
        let key_file =
            std::env::temp_dir().join(format!("fitbridge-demo-key-{}.json", std::process::id()));
        std::fs::write(&key_file, key.to_string()).expect("write the demo key file");
        let gateway = self.stack["gatewayUrl"].as_str().expect("gatewayUrl");
        let endpoint = format!("{gateway}/webhooks/google-health");
        let aws = crate::aws_config(&self.stack).await;
        let context = fitbridge_admin::Context::from_process().on_aws(&aws);
        let run = |action: &'static str| {
            let args: Vec<String> = [
                "google-health",
                "subscriber",
                action,
                "--key-file",
                key_file.to_str().unwrap(),
                "--endpoint",
                &endpoint,
                "--secret-id",
                self.stack["outputs"]["GoogleHealthSecretArn"]
                    .as_str()
                    .expect("GoogleHealthSecretArn output"),
                "--api-base-url",
                self.sandbox(),
            ]
            .map(str::to_owned)
            .to_vec();
            let context = &context;
            async move {
                let (mut out, mut err) = (Vec::new(), Vec::new());
                let code = fitbridge_admin::run(&args, context, &mut out, &mut err).await;
                (
                    code,
                    String::from_utf8_lossy(&out).trim().to_owned(),
                    String::from_utf8_lossy(&err).into_owned(),
                )
            }
        };
        // A stack kept from an earlier demo already has one: update it instead.
        let (mut code, mut out, mut err) = run("create").await;
        if code != fitbridge_admin::EXIT_OK && err.contains("ALREADY_EXISTS") {
            (code, out, err) = run("patch").await;
        }
        let _ = std::fs::remove_file(&key_file);
        assert_eq!(code, fitbridge_admin::EXIT_OK, "subscriber: {err}");
        out
    }

    /// Google announces a day of the person's data to every subscriber (signed, with the
    /// registered authorization); returns what the deployed webhook answered.
    pub async fn notify_google(&self, health_user_id: &str, data_type: &str, date: &str) -> u16 {
        let out = self
            .admin(
                reqwest::Method::POST,
                "/_admin/google-health/notify",
                Some(
                    json!({"health_user_id": health_user_id, "data_type": data_type, "date": date}),
                ),
            )
            .await;
        out["deliveries"][0]["status"].as_u64().unwrap_or(0) as u16
    }

    /// Waits until the person's connection has this status (the worker runs on the
    /// emulator's trigger), or `limit` passes; returns whether it did.
    pub async fn wait_for_status(
        &self,
        provider: ProviderKind,
        user_id: &str,
        status: fitbridge::domain::ConnectionStatus,
        limit: std::time::Duration,
    ) -> bool {
        use fitbridge::ports::store::ConnectionStore;
        let aws = crate::aws_config(&self.stack).await;
        let store = fitbridge::store::dynamodb::DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&aws),
            self.stack["outputs"]["TableName"]
                .as_str()
                .expect("TableName"),
            crate::stack_clock(),
        );
        let user = fitbridge::domain::ProviderUserId(user_id.to_owned());
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(c)) = store.get(&PersonKey::of(provider, &user)).await {
                if c.status == status {
                    return true;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        false
    }

    pub async fn google_stats(&self) -> Value {
        self.admin(reqwest::Method::GET, "/_admin/google-health/stats", None)
            .await
    }

    /// The person's access token dies early, as when it is revoked or rotated elsewhere.
    pub async fn expire_token(&self, user_id: &str) {
        self.admin(
            reqwest::Method::POST,
            &format!("/_admin/fitbit/users/{user_id}/expire-token"),
            None,
        )
        .await;
    }

    pub async fn fitbit_stats(&self) -> Value {
        self.admin(reqwest::Method::GET, "/_admin/fitbit/stats", None)
            .await
    }

    pub async fn interactions(&self) -> Vec<Value> {
        let v = self
            .admin(reqwest::Method::GET, "/_admin/sap/interactions", None)
            .await;
        v.as_array().cloned().unwrap_or_default()
    }

    pub async fn contacts(&self) -> Vec<Value> {
        let v = self
            .admin(reqwest::Method::GET, "/_admin/sap/contacts", None)
            .await;
        v.as_array().cloned().unwrap_or_default()
    }

    /// The interactions of the person's contact (`user_id` is the contact id).
    pub async fn interactions_of(&self, user_id: &str) -> Vec<Value> {
        self.interactions()
            .await
            .into_iter()
            .filter(|i| i["fields"]["InteractionContactId"] == user_id)
            .collect()
    }

    /// Waits until the person has at least `n` interactions (the emulator's event source
    /// mappings run the worker and the refresher), or `limit` passes.
    pub async fn wait_for_interactions(
        &self,
        user_id: &str,
        n: usize,
        limit: std::time::Duration,
    ) -> Vec<Value> {
        let start = std::time::Instant::now();
        loop {
            let got = self.interactions_of(user_id).await;
            if got.len() >= n || start.elapsed() > limit {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }

    /// Invokes the daily-sync function as its EventBridge schedule does (a Scheduled
    /// Event), through the emulator's Lambda Invoke API.
    pub async fn run_daily_job(&self) -> Value {
        let function = self.stack["functions"]["DailySyncFunction"]["name"]
            .as_str()
            .expect("DailySyncFunction deployed");
        let endpoint = self.stack["endpoint"].as_str().unwrap();
        let now = crate::stack_now()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let event = json!({
            "version": "0", "id": "fitbridge-demo", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "000000000000", "time": now,
            "region": self.stack["region"], "detail": {},
            "resources": ["arn:aws:events:us-east-1:000000000000:rule/fitbridge-daily-sync"],
        });
        let response = self
            .http
            .post(format!(
                "{endpoint}/2015-03-31/functions/{function}/invocations"
            ))
            .json(&event)
            .send()
            .await
            .expect("Lambda Invoke API");
        response.json().await.unwrap_or(Value::Null)
    }
}
