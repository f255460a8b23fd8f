//! Drives the stack deployed to the local emulator, as a person's browser would: through
//! the local API gateway to the deployed OAuth function, to the sandbox's consent page
//! and back. Used by the demo and by the deployed-stack tests.

use fitbridge::domain::ProviderKind;
use fitbridge::secret::Secret;
use serde_json::{json, Value};

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

/// Registers a sandbox user, connects them through the deployed stack with a signed link
/// carrying `customer_ref`, and returns what landed in the SAP sandbox.
pub async fn connect_person(
    stack: &Value,
    first_name: &str,
    last_name: &str,
    customer_ref: &str,
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
    for (path, body) in [
        ("/_admin/fitbit/users", user),
        ("/_admin/fitbit/consent", json!({"user_id": user_id})),
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
    let expires = time::OffsetDateTime::now_utc().unix_timestamp() + 600;
    let sig = fitbridge::connect_link::sign(&key, ProviderKind::Fitbit, customer_ref, expires);
    let connect =
        format!("{gateway}/connect/fitbit?ref={customer_ref}&expires={expires}&sig={sig}");

    let start = http.get(&connect).send().await.expect("gateway reachable");
    assert_eq!(start.status(), 302, "connect should redirect to consent");
    let consent = http.get(location(&start)).send().await.expect("consent");
    assert_eq!(consent.status(), 302, "consent should redirect back");
    let callback = http.get(location(&consent)).send().await.expect("callback");
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

    /// The person's interactions, by source object.
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
        let now = time::OffsetDateTime::now_utc()
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
