//! Polar through the deployed stack: a person connects at the gateway and consents at the
//! Polar sandbox, the operator creates the client's one webhook with the admin CLI (which
//! stores its signing key in the deployed secret), and the sandbox delivers to it.

use fitbridge::domain::{ProviderKind, Secret};
use serde_json::{json, Value};

use super::{client, consent_round_trip, Deployed, DeployedConnect, CONSENT};

/// A Polar sandbox person (synthetic days following `pattern`: the sandbox's
/// `weekday_runner`, `lapse` or `default`) who consents at the next authorization,
/// connected through the deployed stack, with a signed link carrying `customer_ref` if
/// given. Returns their Polar user id, the callback's status and page, and their contact
/// as the SAP sandbox stored it.
pub async fn connect_polar_person(
    stack: &Value,
    first_name: &str,
    customer_ref: Option<&str>,
    pattern: Option<&str>,
) -> DeployedConnect {
    let _one_at_a_time = CONSENT.lock().await;
    let http = client();
    let gateway = stack["gatewayUrl"].as_str().expect("gatewayUrl");
    let sandbox = stack["sandboxUrl"].as_str().expect("sandboxUrl");
    let user_id = crate::random_polar_user_id();
    let mut user = json!({"polar_user_id": user_id, "first_name": first_name,
                          "last_name": "Polaris", "gender": "FEMALE",
                          "timezone": "Europe/Berlin"});
    if let Some(pattern) = pattern {
        user["pattern"] = json!(pattern);
    }
    for (path, body) in [
        ("/_admin/polar/users", user),
        ("/_admin/polar/consent", json!({"polar_user_id": user_id})),
    ] {
        let r = http
            .post(format!("{sandbox}{path}"))
            .json(&body)
            .send()
            .await
            .expect("sandbox admin API reachable (is the sandbox running?)");
        assert!(r.status().is_success(), "{path}: HTTP {}", r.status());
    }
    let query = match customer_ref {
        Some(customer_ref) => {
            let key = Secret::new(stack["connectLinkKey"].as_str().expect("connectLinkKey"));
            let now = crate::stack_now().unix_timestamp();
            let claims = fitbridge::domain::link::LinkClaims {
                customer_ref: Some(customer_ref.to_owned()),
                legacy_user_id: None,
                issued: now,
                expires: now + 600,
            };
            format!("?{}", claims.query(&key, ProviderKind::Polar))
        }
        None => String::new(),
    };
    let callback = consent_round_trip(&http, &format!("{gateway}/connect/polar{query}")).await;
    let status = callback.status().as_u16();
    let page = callback.text().await.unwrap_or_default();
    let contact = Deployed::new(stack.clone())
        .contacts()
        .await
        .into_iter()
        .find(|c| c["origin"] == "POLAR" && c["id"] == user_id.as_str());
    DeployedConnect {
        user_id,
        status,
        page,
        contact,
    }
}

impl Deployed {
    /// Creates the client's one Polar webhook for the deployed `/webhooks/polar`, as an
    /// operator does: `fitbridge-admin polar webhook create`, which writes the signing key
    /// Polar (the sandbox) shows once into the deployed Polar secret. Polar pings the URL
    /// first. A webhook left by an earlier run on a kept sandbox is deleted first (its key
    /// is lost: Polar shows it only once). Returns the CLI's output line.
    pub async fn create_polar_webhook(&self) -> String {
        let gateway = self.stack["gatewayUrl"].as_str().expect("gatewayUrl");
        let url = format!("{gateway}/webhooks/polar");
        let secret_id = self.stack["outputs"]["PolarSecretArn"]
            .as_str()
            .expect("PolarSecretArn output")
            .to_owned();
        let aws = crate::aws_config(&self.stack).await;
        let context = fitbridge_admin::Context::from_process().on_aws(&aws);
        let run = |action: &'static str| {
            let mut args: Vec<String> = [
                "polar",
                "webhook",
                action,
                "--secret-id",
                &secret_id,
                "--api-base-url",
                self.sandbox(),
            ]
            .map(str::to_owned)
            .to_vec();
            if action == "create" {
                args.extend(["--url".to_owned(), url.clone()]);
            }
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
        let (mut code, mut out, mut err) = run("create").await;
        if code != fitbridge_admin::EXIT_OK && err.contains("has one already") {
            let (deleted, _, why) = run("delete").await;
            assert_eq!(deleted, fitbridge_admin::EXIT_OK, "webhook delete: {why}");
            (code, out, err) = run("create").await;
        }
        assert_eq!(
            code,
            fitbridge_admin::EXIT_OK,
            "polar webhook create: {err}"
        );
        out
    }

    /// Records the person's activity for `date` at the Polar sandbox (steps, metres from
    /// steps, kcal, active minutes), replacing the synthetic day.
    pub async fn record_polar_day(&self, user_id: &str, date: &str, day: [u64; 4]) {
        let [steps, metres, calories, active_minutes] = day;
        self.admin(
            reqwest::Method::POST,
            &format!("/_admin/polar/users/{user_id}/days"),
            Some(
                json!({"date": date, "steps": steps, "distance_from_steps": metres as f64,
                        "calories": calories, "active_minutes": active_minutes}),
            ),
        )
        .await;
    }

    /// Polar delivers `event` (`ACTIVITY_SUMMARY`, `SLEEP`, `PING`, ...) for the person's
    /// `date` to the webhook, signed with the webhook's key, or with a wrong one when
    /// `forged`; returns the status of each POST.
    pub async fn notify_polar(
        &self,
        user_id: &str,
        event: &str,
        date: &str,
        forged: bool,
    ) -> Vec<u16> {
        let out = self
            .admin(
                reqwest::Method::POST,
                "/_admin/polar/notify",
                Some(
                    json!({"polar_user_id": user_id, "event": event, "date": date,
                            "bad_signature": forged}),
                ),
            )
            .await;
        statuses(&out)
    }

    /// Polar sends a `PING` to the webhook, unsigned (as before anyone holds the key);
    /// returns the status of each POST.
    pub async fn ping_polar(&self) -> Vec<u16> {
        let ping = json!({"timestamp": "2026-11-21T19:58:00Z", "event": "PING"}).to_string();
        let out = self
            .admin(
                reqwest::Method::POST,
                "/_admin/polar/notify",
                Some(json!({"event": "PING", "raw_body": ping, "omit_signature": true})),
            )
            .await;
        statuses(&out)
    }

    /// The data requests Polar answered the person so far (their token, data endpoints).
    pub async fn polar_data_calls(&self, user_id: &str) -> u64 {
        self.admin(
            reqwest::Method::GET,
            &format!("/_admin/polar/users/{user_id}/data-calls"),
            None,
        )
        .await["data_calls"]
            .as_u64()
            .expect("data_calls")
    }

    /// Polar's webhook as the sandbox holds it (URL, events, active, delivery record).
    pub async fn polar_webhook(&self) -> Value {
        self.admin(reqwest::Method::GET, "/_admin/polar/webhook", None)
            .await["webhook"]
            .clone()
    }

    pub async fn polar_stats(&self) -> Value {
        self.admin(reqwest::Method::GET, "/_admin/polar/stats", None)
            .await
    }
}

/// The status of each POST in the sandbox's answer to a notify.
fn statuses(out: &Value) -> Vec<u16> {
    out["deliveries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| d["status"].as_u64().unwrap_or(0) as u16)
        .collect()
}
