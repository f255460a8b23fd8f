//! `polar webhook <action>`: Polar AccessLink's webhook — one per client application,
//! managed with the client's credentials (HTTP Basic), once per deployment.
//!
//! Invariants:
//! - Nothing reaches Polar before every local input is checked and the Polar secret is read
//!   and found to be a JSON object with the client's credentials: a create whose key could
//!   not be stored would lose it (Polar shows it once).
//! - `create` writes the `signature_secret_key` Polar answers into the secret's
//!   `webhook_signature_key` in the same step, keeping every other field; the deployed
//!   webhook reads it from there (and reads the secret again for a delivery its cached
//!   copy does not verify). Polar pings the URL before it answers: our webhook answers a
//!   `PING` 200 before anyone holds the key.
//! - Output is one line per webhook, or one line for the operation's result; neither ever
//!   shows the client secret or the signing key.

use std::time::Duration;

use fitbridge::domain::Secret;
use fitbridge::provider::oauth2::basic_auth;
use fitbridge::provider::polar::PolarCredentials;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

use crate::cli::{PolarWebhookAction, PolarWebhookOptions};
use crate::{refused, usage_error, Context, Failure};

pub const DEFAULT_API_BASE_URL: &str = "https://www.polaraccesslink.com";

/// The webhook as `GET /v3/webhooks` lists it (`webhookInfo.data[]`).
#[derive(Debug, Deserialize)]
pub struct WebhookInfo {
    pub id: String,
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub active: bool,
}

#[derive(Deserialize)]
struct Data<T> {
    data: T,
}

/// `POST /v3/webhooks`'s answer (`createdWebhook.data`).
#[derive(Deserialize)]
struct CreatedWebhook {
    id: String,
    #[serde(default)]
    events: Vec<String>,
    #[serde(default)]
    url: String,
    signature_secret_key: String,
}

/// AccessLink's `/v3/webhooks` with the client's credentials.
struct Webhooks {
    http: reqwest::Client,
    base: String,
    authorization: String,
}

/// What Polar answered when it refused: the status and its `errorType` and `message`
/// (about the request: no secret in it), shortened.
async fn refusal(what: &str, response: reqwest::Response) -> Failure {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let text = |key: &str| body.get(key).and_then(Value::as_str).unwrap_or_default();
    let mut detail = format!("{} {}", text("errorType"), text("message"));
    detail = detail.trim().chars().take(200).collect();
    refused(format!(
        "Polar refused to {what}: HTTP {}{}",
        status.as_u16(),
        if detail.is_empty() {
            String::new()
        } else {
            format!(" ({detail})")
        }
    ))
}

fn unreachable(what: &str, e: reqwest::Error) -> Failure {
    refused(format!("cannot {what}: {}", e.without_url()))
}

impl Webhooks {
    fn endpoint(&self, path: &str) -> String {
        format!("{}/v3/webhooks{path}", self.base)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.endpoint(path))
            .header("Authorization", &self.authorization)
            .header("Accept", "application/json")
    }

    async fn create(&self, url: &Url, events: &[String]) -> Result<CreatedWebhook, Failure> {
        let what = "create the webhook";
        let response = self
            .request(reqwest::Method::POST, "")
            .json(&json!({ "events": events, "url": url.as_str() }))
            .send()
            .await
            .map_err(|e| unreachable(what, e))?;
        match response.status() {
            StatusCode::CREATED | StatusCode::OK => {
                let created: Data<CreatedWebhook> = response
                    .json()
                    .await
                    .map_err(|e| refused(format!("Polar's answer to the create: {e}")))?;
                Ok(created.data)
            }
            StatusCode::CONFLICT => Err(refused(
                "Polar refused to create the webhook: the client has one already (one per \
                 client application); `polar webhook show` lists it, `delete` removes it",
            )),
            _ => Err(refusal(what, response).await),
        }
    }

    async fn list(&self) -> Result<Vec<WebhookInfo>, Failure> {
        let what = "list the webhook";
        let response = self
            .request(reqwest::Method::GET, "")
            .send()
            .await
            .map_err(|e| unreachable(what, e))?;
        match response.status() {
            StatusCode::OK => {
                let listed: Data<Vec<WebhookInfo>> = response
                    .json()
                    .await
                    .map_err(|e| refused(format!("Polar's list of webhooks: {e}")))?;
                Ok(listed.data)
            }
            StatusCode::NO_CONTENT => Ok(Vec::new()),
            _ => Err(refusal(what, response).await),
        }
    }

    /// `activate` or `deactivate`: false when there is no webhook (204).
    async fn switch(&self, on: bool) -> Result<bool, Failure> {
        let verb = if on { "activate" } else { "deactivate" };
        let what = format!("{verb} the webhook");
        let response = self
            .request(reqwest::Method::POST, &format!("/{verb}"))
            .send()
            .await
            .map_err(|e| unreachable(&what, e))?;
        match response.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NO_CONTENT => Ok(false),
            _ => Err(refusal(&what, response).await),
        }
    }

    async fn delete(&self, id: &str) -> Result<(), Failure> {
        let what = format!("delete the webhook {id}");
        let response = self
            .request(reqwest::Method::DELETE, &format!("/{id}"))
            .send()
            .await
            .map_err(|e| unreachable(&what, e))?;
        match response.status() {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND => Err(refused(format!("Polar has no webhook {id}"))),
            _ => Err(refusal(&what, response).await),
        }
    }
}

/// `webhook <id> active=<bool> url=<url> events=<list>`
pub fn describe(webhook: &WebhookInfo) -> String {
    format!(
        "webhook {} active={} url={} events={}",
        webhook.id,
        webhook.active,
        if webhook.url.is_empty() {
            "-"
        } else {
            &webhook.url
        },
        if webhook.events.is_empty() {
            "-".to_owned()
        } else {
            webhook.events.join(",")
        },
    )
}

/// Polar creates, changes and activates a webhook only once the URL answered its ping:
/// a cold Lambda behind it takes seconds, so the timeout is generous.
fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(90))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("fitbridge-admin/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("static client configuration is valid")
}

/// `polar webhook <action>`: its result, one line per webhook or one line.
pub(crate) async fn webhook(
    options: &PolarWebhookOptions,
    context: &Context,
) -> Result<String, Failure> {
    let base = match &options.api_base_url {
        Some(url) => url.clone(),
        None => {
            let text = (context.env)("POLAR_API_BASE_URL")
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| DEFAULT_API_BASE_URL.to_owned());
            Url::parse(&text)
                .ok()
                .filter(|u| matches!(u.scheme(), "https" | "http"))
                .ok_or_else(|| {
                    usage_error(format!(
                        "$POLAR_API_BASE_URL {text:?} is not an http(s) URL"
                    ))
                })?
        }
    };
    // The secret first: a create must be able to store the key before Polar shows it.
    let store = context.secret_store().await;
    let raw = store.read(&options.secret_id).await.map_err(refused)?;
    let mut document: Value = serde_json::from_str(raw.expose())
        .map_err(|_| refused(format!("the secret {} is not JSON", options.secret_id)))?;
    let credentials: PolarCredentials = serde_json::from_value(document.clone()).map_err(|_| {
        refused(format!(
            "the secret {} is not a Polar secret ({{client_id, client_secret, \
                 webhook_signature_key}})",
            options.secret_id
        ))
    })?;
    let webhooks = Webhooks {
        http: http_client(),
        base: base.as_str().trim_end_matches('/').to_owned(),
        authorization: basic_auth(&credentials.client_id, &credentials.client_secret),
    };
    let line = match options.action {
        PolarWebhookAction::Create => {
            let url = options
                .url
                .as_ref()
                .ok_or_else(|| usage_error("create needs --url"))?;
            let created = webhooks.create(url, &options.events).await?;
            document["webhook_signature_key"] = Value::String(created.signature_secret_key);
            let stored = store
                .write(&options.secret_id, &Secret::new(document.to_string()))
                .await;
            let described = describe(&WebhookInfo {
                id: created.id.clone(),
                events: created.events,
                url: created.url,
                active: true,
            });
            if let Err(e) = stored {
                // Polar will not show the key again: without it no delivery verifies.
                return Err(Failure {
                    code: crate::EXIT_REFUSED,
                    message: format!(
                        "the webhook {} was created but its signing key could not be stored \
                         ({e}); Polar shows it only once: delete the webhook (`polar webhook \
                         delete`) and create it again",
                        created.id
                    ),
                    output: format!("created {described}\n"),
                });
            }
            format!(
                "created {described}; its signing key is stored in the secret {}",
                options.secret_id
            )
        }
        PolarWebhookAction::Show => {
            let listed = webhooks.list().await?;
            if listed.is_empty() {
                "no webhook".to_owned()
            } else {
                listed.iter().map(describe).collect::<Vec<_>>().join("\n")
            }
        }
        PolarWebhookAction::Activate | PolarWebhookAction::Deactivate => {
            let on = options.action == PolarWebhookAction::Activate;
            if !webhooks.switch(on).await? {
                return Err(refused("Polar has no webhook for this client: create one"));
            }
            if on {
                "activated the webhook (Polar pinged it and it answered 200)".to_owned()
            } else {
                "deactivated the webhook: no deliveries until it is activated".to_owned()
            }
        }
        PolarWebhookAction::Delete => {
            let id = match &options.webhook_id {
                Some(id) => id.clone(),
                None => webhooks
                    .list()
                    .await?
                    .into_iter()
                    .next()
                    .map(|w| w.id)
                    .ok_or_else(|| refused("Polar has no webhook for this client"))?,
            };
            webhooks.delete(&id).await?;
            format!("deleted webhook {id}")
        }
    };
    Ok(line + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_is_one_line_without_its_key() {
        let webhook = WebhookInfo {
            id: "abdf33".into(),
            events: vec!["ACTIVITY_SUMMARY".into(), "SLEEP".into()],
            url: "https://x.example/webhooks/polar".into(),
            active: true,
        };
        assert_eq!(
            describe(&webhook),
            "webhook abdf33 active=true url=https://x.example/webhooks/polar \
             events=ACTIVITY_SUMMARY,SLEEP"
        );
        let listed: Data<Vec<WebhookInfo>> = serde_json::from_str(
            r#"{"data":[{"id":"abdf33","events":["EXERCISE"],"url":"https://myapp.example.com/acl_webhook","active":false}]}"#,
        )
        .unwrap();
        assert_eq!(
            describe(&listed.data[0]),
            "webhook abdf33 active=false url=https://myapp.example.com/acl_webhook events=EXERCISE"
        );
    }
}
