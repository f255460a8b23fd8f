//! The project's webhook subscriber (`v4/projects/{project}/subscribers`): create, list,
//! patch and delete, each as an administrator with a service account's bearer token
//! (scope [`SCOPE`]). The admin CLI (`fitbridge-admin`) is the one caller; the functions
//! never manage subscribers.
//!
//! Invariants:
//! - Requests are named exactly as the discovery document names them: query parameters
//!   `subscriberId`, `updateMask`, `force`, `pageToken`; bodies
//!   `CreateSubscriberPayload{endpointUri, subscriberConfigs[{dataTypes,
//!   subscriptionCreatePolicy}], endpointAuthorization{secret}}` and, for a patch, the
//!   `Subscriber` fields its `updateMask` names (`endpoint_uri`, `subscriber_configs`,
//!   `endpoint_authorization`, as the document lists them). Every config asks for
//!   `AUTOMATIC` subscriptions: everyone who consents is covered, nothing is per person.
//! - The endpoint authorization is the whole `Authorization` header value Google sends
//!   with its verification probes and notifications, so it must carry its scheme
//!   (`Bearer …`); a value without one is refused before Google is called.
//! - Arguments that Google would refuse for their shape (subscriber id, data types,
//!   project) are refused here first, with the rule in the message.
//! - Create, patch and delete answer a long-running `Operation`. Google answers them
//!   finished (`done: true`, the resource or the error inline) and the discovery
//!   document (revision 20261030) has no `operations.get`; an unfinished one is still
//!   waited for, polling `GET v4/{operation.name}` with a doubling delay until it is
//!   done or [`OperationPolling::timeout`] has passed.
//! - An operation's `error` becomes [`SubscriberError::OperationFailed`] with its code and
//!   message. Errors never carry the bearer token or the endpoint authorization: Google's
//!   messages are kept (they say what to fix, e.g. why the endpoint verification failed)
//!   but any occurrence of either secret is masked, and response bodies are never kept
//!   whole.
//!
//! Data types are kebab-case ids. [`DEFAULT_DATA_TYPES`] are the ones fitbridge imports
//! that Google's webhooks guide lists for notifications. The guide's list grew: the
//! copy of 2026-05 names 28 types, Active Zone Minutes and Total Calories among them,
//! while older copies (and the REST reference's `SubscriberConfig.dataTypes`) name only
//! altitude, distance, floors, sleep, steps and weight. A project on which Google refuses
//! a type passes its own list (`--data-types steps,distance,sleep,weight`). Any activity
//! type's notification re-fetches the whole day of activities, so fewer activity types
//! lose nothing but promptness.

use std::time::Instant;

use serde_json::Value;
use url::Url;

use fitbridge::domain::Secret;

/// The OAuth scope the subscriber methods require.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// What a subscriber asks to be notified of unless told otherwise: the types fitbridge
/// imports (steps, distance, calories and active minutes of a day; sleep; weight).
pub const DEFAULT_DATA_TYPES: [&str; 6] = [
    "steps",
    "distance",
    "total-calories",
    "active-zone-minutes",
    "sleep",
    "weight",
];

/// The subscription policy of every config we register.
const AUTOMATIC: &str = "AUTOMATIC";
/// Pages followed when listing (Google pages by 50; a project has one subscriber).
const MAX_PAGES: usize = 100;
/// Longest piece of a Google message kept in an error.
const MAX_MESSAGE_CHARS: usize = 500;

mod checks;
mod model;

use checks::check_project;
pub use checks::{check_authorization, check_data_types, check_endpoint_uri, check_subscriber_id};
pub use model::{
    EndpointAuthorizationState, OperationPolling, Subscriber, SubscriberChanges, SubscriberConfig,
    SubscriberError,
};
use model::{ErrorBody, ListSubscribersResponse, Operation};

/// The subscribers of one Google Cloud project. Cheap to build; holds no token.
pub struct ProjectSubscribers {
    http: reqwest::Client,
    /// `{api_base_url}/v4/projects/{project}/subscribers`
    collection: String,
    /// `{api_base_url}/v4/`
    v4: String,
    polling: OperationPolling,
}

impl ProjectSubscribers {
    /// `api_base_url` is [`super::GoogleHealthSettings::api_base_url`]; `project` the
    /// project id or number.
    pub fn new(
        http: reqwest::Client,
        api_base_url: &Url,
        project: &str,
    ) -> Result<Self, SubscriberError> {
        check_project(project)?;
        let v4 = format!("{}/v4/", api_base_url.as_str().trim_end_matches('/'));
        Ok(ProjectSubscribers {
            http,
            collection: format!("{v4}projects/{project}/subscribers"),
            v4,
            polling: OperationPolling::default(),
        })
    }

    pub fn with_polling(mut self, polling: OperationPolling) -> Self {
        self.polling = polling;
        self
    }

    /// `POST v4/projects/{project}/subscribers?subscriberId=…`; Google verifies the
    /// endpoint (two probes) before the operation finishes.
    pub async fn create(
        &self,
        token: &Secret,
        subscriber_id: &str,
        endpoint_uri: &str,
        authorization: &Secret,
        data_types: &[String],
    ) -> Result<Subscriber, SubscriberError> {
        const METHOD: &str = "subscribers.create";
        let request = self.create_request(
            token,
            subscriber_id,
            endpoint_uri,
            authorization,
            data_types,
        )?;
        let secrets = [token, authorization];
        let operation = self.send::<Operation>(METHOD, request, &secrets).await?;
        let response = self.finish(METHOD, token, operation, &secrets).await?;
        subscriber_from(METHOD, response)
    }

    /// `GET v4/projects/{project}/subscribers`, every page.
    pub async fn list(&self, token: &Secret) -> Result<Vec<Subscriber>, SubscriberError> {
        const METHOD: &str = "subscribers.list";
        let mut subscribers = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let request = self.list_request(token, page_token.as_deref());
            let page: ListSubscribersResponse = self.send(METHOD, request, &[token]).await?;
            subscribers.extend(page.subscribers);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) if page_token.as_deref() == Some(next.as_str()) => {
                    return Err(SubscriberError::Malformed(
                        "the list repeats its page token".into(),
                    ))
                }
                Some(next) => page_token = Some(next),
                None => return Ok(subscribers),
            }
        }
        Err(SubscriberError::Malformed(format!(
            "more than {MAX_PAGES} pages of subscribers"
        )))
    }

    /// `PATCH v4/projects/{project}/subscribers/{id}?updateMask=…`
    pub async fn patch(
        &self,
        token: &Secret,
        subscriber_id: &str,
        changes: &SubscriberChanges,
    ) -> Result<Subscriber, SubscriberError> {
        const METHOD: &str = "subscribers.patch";
        let request = self.patch_request(token, subscriber_id, changes)?;
        let mut secrets = vec![token];
        secrets.extend(changes.authorization.as_ref());
        let operation = self.send::<Operation>(METHOD, request, &secrets).await?;
        let response = self.finish(METHOD, token, operation, &secrets).await?;
        subscriber_from(METHOD, response)
    }

    /// `DELETE v4/projects/{project}/subscribers/{id}[?force=true]`; `force` deletes its
    /// manual subscriptions too (an `AUTOMATIC` subscriber has none).
    pub async fn delete(
        &self,
        token: &Secret,
        subscriber_id: &str,
        force: bool,
    ) -> Result<(), SubscriberError> {
        const METHOD: &str = "subscribers.delete";
        let request = self.delete_request(token, subscriber_id, force)?;
        let operation = self.send::<Operation>(METHOD, request, &[token]).await?;
        self.finish(METHOD, token, operation, &[token]).await?;
        Ok(())
    }

    fn create_request(
        &self,
        token: &Secret,
        subscriber_id: &str,
        endpoint_uri: &str,
        authorization: &Secret,
        data_types: &[String],
    ) -> Result<reqwest::RequestBuilder, SubscriberError> {
        check_subscriber_id(subscriber_id)?;
        check_endpoint_uri(endpoint_uri)?;
        check_authorization(authorization)?;
        check_data_types(data_types)?;
        let body = serde_json::json!({
            "endpointUri": endpoint_uri,
            "subscriberConfigs": automatic_configs(data_types),
            "endpointAuthorization": { "secret": authorization.expose() },
        });
        Ok(self
            .http
            .post(&self.collection)
            .query(&[("subscriberId", subscriber_id)])
            .bearer_auth(token.expose())
            .json(&body))
    }

    fn list_request(&self, token: &Secret, page_token: Option<&str>) -> reqwest::RequestBuilder {
        let mut request = self.http.get(&self.collection).bearer_auth(token.expose());
        if let Some(page_token) = page_token {
            request = request.query(&[("pageToken", page_token)]);
        }
        request
    }

    fn patch_request(
        &self,
        token: &Secret,
        subscriber_id: &str,
        changes: &SubscriberChanges,
    ) -> Result<reqwest::RequestBuilder, SubscriberError> {
        check_subscriber_id(subscriber_id)?;
        if changes.is_empty() {
            return Err(SubscriberError::InvalidArgument(
                "nothing to change: give an endpoint, an authorization or data types".into(),
            ));
        }
        let mut body = serde_json::Map::new();
        if let Some(uri) = &changes.endpoint_uri {
            check_endpoint_uri(uri)?;
            body.insert("endpointUri".into(), Value::from(uri.as_str()));
        }
        if let Some(data_types) = &changes.data_types {
            check_data_types(data_types)?;
            body.insert("subscriberConfigs".into(), automatic_configs(data_types));
        }
        if let Some(authorization) = &changes.authorization {
            check_authorization(authorization)?;
            body.insert(
                "endpointAuthorization".into(),
                serde_json::json!({ "secret": authorization.expose() }),
            );
        }
        Ok(self
            .http
            .patch(format!("{}/{subscriber_id}", self.collection))
            .query(&[("updateMask", changes.update_mask())])
            .bearer_auth(token.expose())
            .json(&body))
    }

    fn delete_request(
        &self,
        token: &Secret,
        subscriber_id: &str,
        force: bool,
    ) -> Result<reqwest::RequestBuilder, SubscriberError> {
        check_subscriber_id(subscriber_id)?;
        let mut request = self
            .http
            .delete(format!("{}/{subscriber_id}", self.collection))
            .bearer_auth(token.expose());
        if force {
            request = request.query(&[("force", "true")]);
        }
        Ok(request)
    }

    /// Sends a request and reads a JSON answer; a non-success answer becomes
    /// [`SubscriberError::Refused`] with Google's status word and (masked) message.
    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        method: &'static str,
        request: reqwest::RequestBuilder,
        secrets: &[&Secret],
    ) -> Result<T, SubscriberError> {
        let response = request
            .send()
            .await
            .map_err(|e| SubscriberError::Unavailable(e.without_url().to_string()))?;
        let status = response.status();
        if !status.is_success() {
            let error = response
                .json::<ErrorBody>()
                .await
                .map(|b| b.error)
                .unwrap_or_default();
            return Err(SubscriberError::Refused {
                method,
                status: status.as_u16(),
                status_word: mask(&error.status, secrets),
                message: mask(&error.message, secrets),
            });
        }
        response
            .json()
            .await
            .map_err(|e| SubscriberError::Malformed(format!("{method}: {}", e.without_url())))
    }

    /// Waits for the operation (see the module docs) and returns its `response`.
    async fn finish(
        &self,
        method: &'static str,
        token: &Secret,
        mut operation: Operation,
        secrets: &[&Secret],
    ) -> Result<Value, SubscriberError> {
        let started = Instant::now();
        let mut delay = self.polling.first_delay;
        while !operation.done {
            let waited = started.elapsed();
            if operation.name.is_empty() || !is_operation_name(&operation.name) {
                return Err(SubscriberError::Malformed(format!(
                    "{method}: an unfinished operation without a usable name"
                )));
            }
            if waited >= self.polling.timeout {
                return Err(SubscriberError::OperationTimeout {
                    method,
                    operation: operation.name,
                    waited,
                });
            }
            tokio::time::sleep(delay.min(self.polling.timeout - waited)).await;
            delay = (delay * 2).min(self.polling.max_delay);
            let request = self
                .http
                .get(format!("{}{}", self.v4, operation.name))
                .bearer_auth(token.expose());
            operation = self.send("operations.get", request, secrets).await?;
        }
        if let Some(error) = operation.error {
            return Err(SubscriberError::OperationFailed {
                method,
                operation: operation.name,
                code: error.code,
                code_name: code_name(error.code),
                message: mask(&error.message, secrets),
            });
        }
        Ok(operation.response.unwrap_or(Value::Null))
    }
}

fn subscriber_from(method: &str, response: Value) -> Result<Subscriber, SubscriberError> {
    serde_json::from_value(response).map_err(|e| {
        SubscriberError::Malformed(format!("{method}: the operation's subscriber: {e}"))
    })
}

fn automatic_configs(data_types: &[String]) -> Value {
    serde_json::json!([{ "dataTypes": data_types, "subscriptionCreatePolicy": AUTOMATIC }])
}

/// `projects/…/operations/…`-like: resource segments only, nothing that would leave the
/// `v4/` path.
fn is_operation_name(name: &str) -> bool {
    name.split('/').all(|segment| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.~:".contains(c))
    })
}

/// Masks every secret in `text` and keeps at most [`MAX_MESSAGE_CHARS`] of it.
fn mask(text: &str, secrets: &[&Secret]) -> String {
    let mut masked = text.to_owned();
    for secret in secrets {
        let value = secret.expose();
        if !value.is_empty() {
            masked = masked.replace(value, "[redacted]");
        }
        // The credentials alone, without the scheme, are as secret.
        if let Some((_, credentials)) = value.split_once(' ') {
            let credentials = credentials.trim();
            if credentials.len() >= 4 {
                masked = masked.replace(credentials, "[redacted]");
            }
        }
    }
    if masked.chars().count() > MAX_MESSAGE_CHARS {
        masked = masked.chars().take(MAX_MESSAGE_CHARS).collect::<String>() + "…";
    }
    masked
}

/// `google.rpc.Code` names.
fn code_name(code: i32) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "UNKNOWN_CODE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const TOKEN: &str = "ya29.service-account-token";
    const AUTHORIZATION: &str = "Bearer webhook-secret-value";

    fn client(base: &str) -> ProjectSubscribers {
        ProjectSubscribers::new(
            reqwest::Client::new(),
            &Url::parse(base).unwrap(),
            "my-project",
        )
        .unwrap()
    }

    fn types(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn body_json(request: &reqwest::Request) -> Value {
        serde_json::from_slice(request.body().unwrap().as_bytes().unwrap()).unwrap()
    }

    #[test]
    fn create_posts_the_payload_with_the_subscriber_id_and_automatic_policy() {
        let request = client("https://health.googleapis.com/")
            .create_request(
                &Secret::new(TOKEN),
                "fitbridge",
                "https://hooks.example.com/webhooks/x",
                &Secret::new(AUTHORIZATION),
                &types(&DEFAULT_DATA_TYPES),
            )
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(request.method(), "POST");
        assert_eq!(
            request.url().as_str(),
            "https://health.googleapis.com/v4/projects/my-project/subscribers?subscriberId=fitbridge"
        );
        assert_eq!(
            request.headers()["authorization"],
            format!("Bearer {TOKEN}")
        );
        assert_eq!(request.headers()["content-type"], "application/json");
        assert_eq!(
            body_json(&request),
            serde_json::json!({
                "endpointUri": "https://hooks.example.com/webhooks/x",
                "subscriberConfigs": [{
                    "dataTypes": ["steps", "distance", "total-calories", "active-zone-minutes",
                                  "sleep", "weight"],
                    "subscriptionCreatePolicy": "AUTOMATIC",
                }],
                "endpointAuthorization": { "secret": AUTHORIZATION },
            })
        );
    }

    #[test]
    fn patch_sends_only_the_masked_fields() {
        let subscribers = client("https://health.googleapis.com");
        let changes = SubscriberChanges {
            data_types: Some(types(&["steps", "sleep"])),
            ..SubscriberChanges::default()
        };
        let request = subscribers
            .patch_request(&Secret::new(TOKEN), "fitbridge", &changes)
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(request.method(), "PATCH");
        assert_eq!(
            request.url().as_str(),
            "https://health.googleapis.com/v4/projects/my-project/subscribers/fitbridge?updateMask=subscriber_configs"
        );
        assert_eq!(
            body_json(&request),
            serde_json::json!({"subscriberConfigs": [
                {"dataTypes": ["steps", "sleep"], "subscriptionCreatePolicy": "AUTOMATIC"}]})
        );

        let all = SubscriberChanges {
            endpoint_uri: Some("https://new.example.com/hook".into()),
            authorization: Some(Secret::new("Basic dXNlcjpwYXNz")),
            data_types: Some(types(&["weight"])),
        };
        let request = subscribers
            .patch_request(&Secret::new(TOKEN), "fitbridge", &all)
            .unwrap()
            .build()
            .unwrap();
        let query: Vec<(String, String)> = request.url().query_pairs().into_owned().collect();
        assert_eq!(
            query,
            [(
                "updateMask".to_owned(),
                "endpoint_uri,subscriber_configs,endpoint_authorization".to_owned()
            )]
        );
        let body = body_json(&request);
        assert_eq!(body["endpointUri"], "https://new.example.com/hook");
        assert_eq!(
            body["endpointAuthorization"],
            serde_json::json!({"secret": "Basic dXNlcjpwYXNz"})
        );

        let nothing = subscribers.patch_request(
            &Secret::new(TOKEN),
            "fitbridge",
            &SubscriberChanges::default(),
        );
        assert!(matches!(nothing, Err(SubscriberError::InvalidArgument(_))));
    }

    #[test]
    fn delete_and_list_name_their_parameters_as_the_discovery_document() {
        let subscribers = client("https://health.googleapis.com");
        let token = Secret::new(TOKEN);
        let forced = subscribers
            .delete_request(&token, "fitbridge", true)
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(forced.method(), "DELETE");
        assert_eq!(
            forced.url().as_str(),
            "https://health.googleapis.com/v4/projects/my-project/subscribers/fitbridge?force=true"
        );
        assert!(forced.body().is_none());
        let plain = subscribers
            .delete_request(&token, "fitbridge", false)
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(plain.url().query(), None);

        let first = subscribers.list_request(&token, None).build().unwrap();
        assert_eq!(first.method(), "GET");
        assert_eq!(
            first.url().as_str(),
            "https://health.googleapis.com/v4/projects/my-project/subscribers"
        );
        let next = subscribers
            .list_request(&token, Some("page 2"))
            .build()
            .unwrap();
        assert_eq!(next.url().query(), Some("pageToken=page+2"));
        assert_eq!(next.headers()["authorization"], format!("Bearer {TOKEN}"));
    }

    #[test]
    fn an_authorization_without_its_scheme_is_refused_before_any_request() {
        let subscribers = client("https://health.googleapis.com");
        for bad in [
            "webhook-secret-value",
            "Bearer",
            "Bearer ",
            "Bearer   ",
            " secret",
            "Be@rer x",
            "Bearer a\nb",
        ] {
            let result = subscribers.create_request(
                &Secret::new(TOKEN),
                "fitbridge",
                "https://hooks.example.com/x",
                &Secret::new(bad),
                &types(&["steps"]),
            );
            let Err(error) = result else {
                panic!("{bad:?} accepted");
            };
            assert!(error.is_invalid_argument());
            let text = error.to_string();
            assert!(
                text.contains("scheme") || text.contains("one line"),
                "{text}"
            );
            assert!(!text.contains("webhook-secret-value"), "{text}");
        }
        for good in ["Bearer x", "Basic dXNlcjpwYXNz", "Bearer abc.def-ghi_~+/="] {
            check_authorization(&Secret::new(good)).unwrap();
        }
    }

    #[test]
    fn arguments_google_would_refuse_are_refused_with_the_rule() {
        let subscribers = client("https://health.googleapis.com");
        let token = Secret::new(TOKEN);
        let authorization = Secret::new(AUTHORIZATION);
        let create = |id: &str, uri: &str, data_types: &[&str]| {
            subscribers
                .create_request(&token, id, uri, &authorization, &types(data_types))
                .map(|_| ())
        };
        assert!(create("fitbridge", "https://x.example/h", &["steps"]).is_ok());
        for id in [
            "fb",
            "Fitbridge",
            "9fitbridge",
            "fitbridge-",
            "fit_bridge",
            "a/b/c/d",
        ] {
            let error = create(id, "https://x.example/h", &["steps"]).unwrap_err();
            assert!(
                error.to_string().contains("4-36 characters"),
                "{id}: {error}"
            );
        }
        assert!(create("fitbridge", "not a url", &["steps"]).is_err());
        assert!(create("fitbridge", "ftp://x.example/h", &["steps"]).is_err());
        assert!(create("fitbridge", "https://x.example/h", &[]).is_err());
        let error = create("fitbridge", "https://x.example/h", &["total_calories"]).unwrap_err();
        assert!(error.to_string().contains("kebab-case"), "{error}");
        assert!(create("fitbridge", "https://x.example/h", &["steps", "steps"]).is_err());
        for project in ["", "my/project", "My-Project", "p?x"] {
            assert!(ProjectSubscribers::new(
                reqwest::Client::new(),
                &Url::parse("https://health.googleapis.com").unwrap(),
                project
            )
            .is_err());
        }
    }

    #[test]
    fn messages_keep_googles_words_without_the_secrets() {
        let token = Secret::new(TOKEN);
        let authorization = Secret::new(AUTHORIZATION);
        let message =
            format!("header was {AUTHORIZATION}; credentials webhook-secret-value; token {TOKEN}");
        let masked = mask(&message, &[&token, &authorization]);
        assert_eq!(
            masked,
            "header was [redacted]; credentials [redacted]; token [redacted]"
        );
        assert!(mask(&"x".repeat(2000), &[]).chars().count() <= MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn operation_names_that_would_leave_the_api_are_not_polled() {
        assert!(is_operation_name("projects/my-project/operations/3f1c-9a"));
        assert!(!is_operation_name("projects/../../evil"));
        assert!(!is_operation_name("https://evil.example/x"));
        assert!(!is_operation_name("projects/p/operations/x?y=1"));
        assert!(!is_operation_name("/projects/p"));
    }

    /// One recorded request: method, path with query, authorization, body.
    type Seen = Arc<Mutex<Vec<(String, String, String, String)>>>;

    /// A minimal HTTP/1.1 server answering each request with the next canned
    /// `(status, JSON body)`, recording what it received.
    async fn serve(answers: Vec<(u16, Value)>) -> (String, Seen) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen: Seen = Arc::default();
        let record = seen.clone();
        tokio::spawn(async move {
            for (status, body) in answers {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let mut raw = Vec::new();
                let mut buf = [0u8; 4096];
                let (head, body_start) = loop {
                    let n = stream.read(&mut buf).await.unwrap();
                    raw.extend_from_slice(&buf[..n]);
                    if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                        break (String::from_utf8_lossy(&raw[..end]).into_owned(), end + 4);
                    }
                };
                let header = |name: &str| {
                    head.lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                        })
                        .unwrap_or_default()
                };
                let length: usize = header("content-length").parse().unwrap_or(0);
                while raw.len() < body_start + length {
                    let n = stream.read(&mut buf).await.unwrap();
                    raw.extend_from_slice(&buf[..n]);
                }
                let mut request_line = head.lines().next().unwrap().split(' ');
                let method = request_line.next().unwrap().to_owned();
                let target = request_line.next().unwrap().to_owned();
                record.lock().unwrap().push((
                    method,
                    target,
                    header("authorization"),
                    String::from_utf8_lossy(&raw[body_start..body_start + length]).into_owned(),
                ));
                let text = body.to_string();
                let response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
                stream.write_all(response.as_bytes()).await.unwrap();
                let _ = stream.shutdown().await;
            }
        });
        (base, seen)
    }

    fn quick() -> OperationPolling {
        OperationPolling {
            first_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
            timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn an_unfinished_operation_is_polled_until_done() {
        let subscriber = serde_json::json!({
            "@type": "type.googleapis.com/google.devicesandservices.health.v4.Subscriber",
            "name": "projects/my-project/subscribers/fitbridge",
            "endpointUri": "https://hooks.example.com/x",
            "endpointAuthorization": {"secretSet": true},
            "state": "ACTIVE",
            "subscriberConfigs": [{"dataTypes": ["steps"], "subscriptionCreatePolicy": "AUTOMATIC"}],
        });
        let (base, seen) = serve(vec![
            (
                200,
                serde_json::json!({"name": "projects/my-project/operations/op-1", "done": false}),
            ),
            (
                200,
                serde_json::json!({"name": "projects/my-project/operations/op-1"}),
            ),
            (
                200,
                serde_json::json!({"name": "projects/my-project/operations/op-1", "done": true,
                                     "response": subscriber}),
            ),
        ])
        .await;
        let created = client(&base)
            .with_polling(quick())
            .create(
                &Secret::new(TOKEN),
                "fitbridge",
                "https://hooks.example.com/x",
                &Secret::new(AUTHORIZATION),
                &types(&["steps"]),
            )
            .await
            .unwrap();
        assert_eq!(created.id(), "fitbridge");
        assert_eq!(created.state, "ACTIVE");
        assert!(created.secret_set());
        assert_eq!(created.subscriber_configs[0].data_types, ["steps"]);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0].0, "POST");
        assert_eq!(
            seen[0].1,
            "/v4/projects/my-project/subscribers?subscriberId=fitbridge"
        );
        for poll in &seen[1..] {
            assert_eq!(poll.0, "GET");
            assert_eq!(poll.1, "/v4/projects/my-project/operations/op-1");
            assert_eq!(poll.2, format!("Bearer {TOKEN}"));
        }
    }

    #[tokio::test]
    async fn an_operation_that_never_finishes_times_out() {
        let pending =
            serde_json::json!({"name": "projects/my-project/operations/op-2", "done": false});
        let (base, _) = serve(vec![(200, pending.clone()); 50]).await;
        let polling = OperationPolling {
            timeout: Duration::from_millis(100),
            ..quick()
        };
        let error = client(&base)
            .with_polling(polling)
            .delete(&Secret::new(TOKEN), "fitbridge", false)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, SubscriberError::OperationTimeout { operation, .. } if operation == "projects/my-project/operations/op-2"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_failed_operation_and_a_refusal_say_code_and_message_without_the_secret() {
        let failed = serde_json::json!({
            "name": "projects/my-project/operations/op-3", "done": true,
            "error": {"code": 9, "message": format!("Endpoint verification failed: sent {AUTHORIZATION}, got 200")},
        });
        let refused = serde_json::json!({"error": {"code": 409, "status": "ALREADY_EXISTS",
            "message": "Subscriber projects/my-project/subscribers/fitbridge already exists."}});
        let (base, _) = serve(vec![(200, failed), (409, refused)]).await;
        let subscribers = client(&base).with_polling(quick());
        let (token, authorization) = (Secret::new(TOKEN), Secret::new(AUTHORIZATION));
        let data_types = [String::from("steps")];
        let create = || {
            subscribers.create(
                &token,
                "fitbridge",
                "https://hooks.example.com/x",
                &authorization,
                &data_types,
            )
        };
        let error = create().await.unwrap_err();
        let text = error.to_string();
        assert!(
            matches!(
                error,
                SubscriberError::OperationFailed {
                    code: 9,
                    code_name: "FAILED_PRECONDITION",
                    ..
                }
            ),
            "{text}"
        );
        assert!(text.contains("Endpoint verification failed"), "{text}");
        assert!(!text.contains("webhook-secret-value"), "{text}");

        let error = create().await.unwrap_err();
        let text = error.to_string();
        assert!(
            matches!(&error, SubscriberError::Refused { status: 409, status_word, .. } if status_word == "ALREADY_EXISTS"),
            "{text}"
        );
        assert!(text.contains("already exists"), "{text}");
    }

    #[tokio::test]
    async fn list_follows_every_page() {
        let one =
            |id: &str| serde_json::json!({"name": format!("projects/my-project/subscribers/{id}")});
        let (base, seen) = serve(vec![
            (200, serde_json::json!({"subscribers": [one("first")], "nextPageToken": "t2", "totalSize": 2})),
            (200, serde_json::json!({"subscribers": [one("second")], "totalSize": 2})),
        ])
        .await;
        let all = client(&base).list(&Secret::new(TOKEN)).await.unwrap();
        let ids: Vec<&str> = all.iter().map(Subscriber::id).collect();
        assert_eq!(ids, ["first", "second"]);
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0].1, "/v4/projects/my-project/subscribers");
        assert_eq!(
            seen[1].1,
            "/v4/projects/my-project/subscribers?pageToken=t2"
        );
    }
}
