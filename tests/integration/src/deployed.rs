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

/// Registers a sandbox user, connects them through the deployed stack with a signed link
/// carrying `customer_ref`, and returns what landed in the SAP sandbox.
pub async fn connect_person(
    stack: &Value,
    first_name: &str,
    last_name: &str,
    customer_ref: &str,
) -> DeployedConnect {
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
