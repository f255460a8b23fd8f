//! The subscriber admin CLI (`fitbridge-admin google-health subscriber …`, run in-process)
//! against the Google Health sandbox, with our real webhook handler served over HTTP as
//! the subscriber endpoint: Google's verification probes and notifications reach
//! `fitbridge::inbound::webhook::handle` exactly as they would through API Gateway.
//!
//! All but the last test build the webhook from in-memory ports (queue, secrets) and need
//! no emulator; the last one registers the secret and webhook of a `Pipeline` (Secrets
//! Manager and SQS in the local emulator).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use fitbridge::ports::secrets::SecretSource;
use fitbridge::provider::google_health::scopes;
use fitbridge::provider::google_health::GoogleHealthSettings;
use fitbridge::provider::registry::{self, ProviderSettings};
use fitbridge::queue::memory::MemoryQueue;
use fitbridge::secret_store::{MemorySecrets, SecretCache, SecretsManagerSource};
use fitbridge::use_cases::webhook::WebhookService;
use fitbridge_admin::{Context, EXIT_OK, EXIT_REFUSED, EXIT_USAGE};
use fitbridge_integration::pipeline::Pipeline;
use fitbridge_integration::{google_settings, random_health_user_id, random_user_id, stack_clock};
use fitbridge_sandbox::google_health::{Consent, NotifyRequest};
use fitbridge_sandbox::{Sandbox, SandboxConfig};
use serde_json::json;

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const SECRET_ID: &str = "fitbridge-test/google-health";

/// What our endpoint answered: (had an `Authorization` header, was a verification probe,
/// status).
type Answers = Arc<Mutex<Vec<(bool, bool, u16)>>>;

/// Our webhook handler on a random local port, as the subscriber endpoint.
struct Endpoint {
    /// `http://127.0.0.1:<port>/webhooks/google-health`
    url: String,
    answers: Answers,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl Endpoint {
    fn answers(&self) -> Vec<(bool, bool, u16)> {
        self.answers.lock().unwrap().clone()
    }
}

/// Each request becomes the `lambda_http::Request` (`http::Request<lambda_http::Body>`)
/// the webhook function gets, and its response goes back as it is.
async fn forward(
    State((service, answers)): State<(Arc<WebhookService>, Answers)>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .expect("a small body");
    let authorized = parts.headers.contains_key("authorization");
    let verification = serde_json::from_slice::<serde_json::Value>(&body)
        .is_ok_and(|v| v.get("type").and_then(|t| t.as_str()) == Some("verification"));
    let request = lambda_http::Request::from_parts(parts, lambda_http::Body::Binary(body.to_vec()));
    let response = fitbridge::inbound::webhook::handle(&service, request).await;
    answers
        .lock()
        .unwrap()
        .push((authorized, verification, response.status().as_u16()));
    let (parts, body) = response.into_parts();
    axum::response::Response::from_parts(parts, axum::body::Body::from(body.to_vec()))
}

async fn serve(service: WebhookService) -> Endpoint {
    let answers: Answers = Arc::default();
    let app = axum::Router::new()
        .fallback(forward)
        .with_state((Arc::new(service), answers.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/webhooks/google-health",
        listener.local_addr().unwrap()
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Endpoint {
        url,
        answers,
        _shutdown: tx,
    }
}

/// One test's world without the emulator: the sandbox, our webhook over in-memory
/// ports with the Google Health secret, and a service-account key file.
struct World {
    sandbox: Sandbox,
    endpoint: Endpoint,
    queue: Arc<MemoryQueue>,
    secrets: Arc<dyn SecretSource>,
    /// The webhook's registered `Authorization` value.
    authorization: String,
    key_file: std::path::PathBuf,
    client_email: String,
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.key_file);
    }
}

fn write_key(sandbox: &Sandbox) -> (std::path::PathBuf, String) {
    let key = sandbox
        .google_health
        .create_service_account(&format!("{}/token", sandbox.base_url));
    let path = std::env::temp_dir().join(format!(
        "fitbridge-subscriber-{}-{}.json",
        std::process::id(),
        random_user_id()
    ));
    std::fs::write(&path, key.to_json()).unwrap();
    (path, key.client_email)
}

impl World {
    async fn start() -> World {
        let sandbox = Sandbox::start(SandboxConfig::default(), "127.0.0.1:0".parse().unwrap())
            .await
            .expect("sandbox starts");
        let authorization = format!("Bearer webhook-{}", random_user_id());
        let secrets: Arc<dyn SecretSource> = Arc::new(MemorySecrets::new([(
            SECRET_ID,
            json!({"client_id": sandbox.google_health.config().client_id,
                   "client_secret": "GOCSPX-test",
                   "webhook_authorization": authorization}),
        )]));
        let providers = ProviderSettings {
            fitbit: None,
            google_health: Some(GoogleHealthSettings {
                secret_id: SECRET_ID.to_owned(),
                ..google_settings(&sandbox.base_url)
            }),
            polar: None,
        };
        let queue = Arc::new(MemoryQueue::new());
        let service = WebhookService::new(
            registry::webhooks(
                &providers,
                fitbridge::wiring::http_client(),
                Arc::new(SecretCache::new(secrets.clone())),
            ),
            queue.clone(),
            stack_clock(),
        );
        let endpoint = serve(service).await;
        let (key_file, client_email) = write_key(&sandbox);
        World {
            sandbox,
            endpoint,
            queue,
            secrets,
            authorization,
            key_file,
            client_email,
        }
    }

    /// Runs `fitbridge-admin google-health subscriber <args>` with the key and the
    /// sandbox in its environment (plus `env`); returns (exit code, stdout, stderr).
    async fn admin(&self, args: &[&str], env: &[(&str, &str)]) -> (u8, String, String) {
        admin(
            &self.sandbox,
            &self.key_file,
            Some(self.secrets.clone()),
            args,
            env,
        )
        .await
    }

    /// Everything the CLI printed must be free of the secrets.
    fn assert_no_secret(&self, text: &str) {
        let credentials = self.authorization.trim_start_matches("Bearer ");
        assert!(!text.contains(credentials), "authorization leaked: {text}");
        assert!(!text.contains("ya29."), "access token leaked: {text}");
        assert!(!text.contains("PRIVATE KEY"), "key leaked: {text}");
    }
}

async fn admin(
    sandbox: &Sandbox,
    key_file: &std::path::Path,
    secrets: Option<Arc<dyn SecretSource>>,
    args: &[&str],
    env: &[(&str, &str)],
) -> (u8, String, String) {
    let mut vars: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    vars.insert(
        "GOOGLE_APPLICATION_CREDENTIALS".into(),
        key_file.display().to_string(),
    );
    vars.insert(
        "GOOGLE_HEALTH_API_BASE_URL".into(),
        sandbox.base_url.clone(),
    );
    let mut context = Context::new(Box::new(move |name| vars.get(name).cloned()));
    if let Some(secrets) = secrets {
        // The secrets given; the rest of the ports unused by the subscriber commands.
        let clock = Arc::new(fitbridge::clock::SetClock::new(
            fitbridge_integration::in_process::START,
        ));
        context.ports = Some(Arc::new(fitbridge::wiring::MemoryPorts::new(
            secrets, clock,
        )));
    }
    let args: Vec<String> = ["google-health", "subscriber"]
        .iter()
        .chain(args)
        .map(|s| s.to_string())
        .collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = fitbridge_admin::run(&args, &context, &mut out, &mut err).await;
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

const ALL_TYPES: &str = "AUTOMATIC:steps,distance,total-calories,active-zone-minutes,sleep,weight";

#[tokio::test]
async fn create_list_patch_and_delete_the_subscriber_of_our_webhook() {
    let w = World::start().await;
    let name = "projects/fitbridge-sandbox/subscribers/fitbridge";

    // Create: Google's two probes reach our handler, which passes them.
    let (code, out, err) = w
        .admin(
            &[
                "create",
                "--endpoint",
                &w.endpoint.url,
                "--secret-id",
                SECRET_ID,
            ],
            &[],
        )
        .await;
    assert_eq!(code, EXIT_OK, "{err}");
    assert_eq!(
        out,
        format!(
            "created {name} state=ACTIVE endpoint={} data-types={ALL_TYPES} secret=set\n",
            w.endpoint.url
        )
    );
    assert_eq!(
        w.endpoint.answers(),
        [(true, true, 201), (false, true, 401)],
        "201 with the authorization, 401 without"
    );
    assert!(w.queue.items().is_empty(), "probes queue nothing");
    let stats = w.sandbox.google_health.stats();
    assert_eq!(stats.subscribers_created, 1);
    assert_eq!(stats.verification_probes, 2);
    let registered = w.sandbox.google_health.subscribers();
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0]["endpointUri"], w.endpoint.url.as_str());

    // List: the one subscriber, one line.
    let (code, listed, err) = w.admin(&["list"], &[]).await;
    assert_eq!(code, EXIT_OK, "{err}");
    assert_eq!(listed, out.trim_start_matches("created "));

    // It works: a consenting person's steps arrive signed at our endpoint and are queued.
    let person = random_health_user_id();
    w.sandbox
        .google_health
        .set_consent(Consent::allow_all(&person));
    w.sandbox
        .google_health
        .grant_tokens(&person, &[scopes::ACTIVITY, scopes::SLEEP]);
    let today = fitbridge_integration::stack_clock().now().date();
    let deliveries = w
        .sandbox
        .google_health
        .notify(NotifyRequest::upsert(&person, "steps", today))
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status, 204, "{}", deliveries[0].response_body);
    let queued = w.queue.items();
    assert!(!queued.is_empty());
    assert!(
        queued.iter().all(|item| item.user_id.0 == person),
        "{queued:?}"
    );
    assert_eq!(
        w.endpoint.answers()[2],
        (true, false, 204),
        "a notification, with the authorization and a valid signature"
    );

    // Patch the data types: a config change, no new verification.
    let (code, out, err) = w
        .admin(&["patch", "--data-types", "steps,sleep"], &[])
        .await;
    assert_eq!(code, EXIT_OK, "{err}");
    assert_eq!(
        out,
        format!(
            "updated {name} state=ACTIVE endpoint={} data-types=AUTOMATIC:steps,sleep secret=set\n",
            w.endpoint.url
        )
    );
    assert_eq!(w.sandbox.google_health.stats().verification_probes, 2);
    let registered = w.sandbox.google_health.subscribers();
    assert_eq!(
        registered[0]["subscriberConfigs"],
        json!([{"dataTypes": ["steps", "sleep"], "subscriptionCreatePolicy": "AUTOMATIC"}])
    );
    // Weight is no longer subscribed: nothing is delivered for it.
    let none = w
        .sandbox
        .google_health
        .notify(NotifyRequest::upsert(&person, "weight", today))
        .await
        .unwrap();
    assert!(none.is_empty());

    // Patch the authorization (as after a rotation): verified again, and passed.
    let (code, _, err) = w.admin(&["patch", "--secret-id", SECRET_ID], &[]).await;
    assert_eq!(code, EXIT_OK, "{err}");
    assert_eq!(
        w.endpoint.answers()[3..],
        [(true, true, 201), (false, true, 401)]
    );

    // Delete: gone, and the list is empty.
    let (code, out, err) = w.admin(&["delete"], &[]).await;
    assert_eq!(code, EXIT_OK, "{err}");
    assert_eq!(out, format!("deleted {name}\n"));
    assert!(w.sandbox.google_health.subscribers().is_empty());
    let (code, listed, err) = w.admin(&["list"], &[]).await;
    assert_eq!((code, listed.as_str()), (EXIT_OK, ""), "{err}");

    // Every token came from the JWT-bearer grant of the key, one per run; every request
    // followed the discovery document.
    let stats = w.sandbox.google_health.stats();
    assert_eq!(stats.service_account_tokens[&w.client_email], 6);
    assert_eq!(stats.token_requests[JWT_BEARER]["ok"], 6);
    assert_eq!(stats.token_requests.len(), 1, "{:?}", stats.token_requests);
    assert!(stats.contract_violations.is_empty(), "{stats:?}");
    assert_eq!(stats.unmatched_requests, 0);
    for method in [
        "health.projects.subscribers.create",
        "health.projects.subscribers.list",
        "health.projects.subscribers.patch",
        "health.projects.subscribers.delete",
    ] {
        assert!(stats.requests_by_method.contains_key(method), "{method}");
    }
}

#[tokio::test]
async fn a_wrong_authorization_fails_with_the_operations_error() {
    let w = World::start().await;
    let wrong = format!("Bearer not-the-registered-{}", random_user_id());
    let (code, out, err) = w
        .admin(
            &[
                "create",
                "--endpoint",
                &w.endpoint.url,
                "--authorization-env",
                "FB_WRONG_AUTHORIZATION",
            ],
            &[("FB_WRONG_AUTHORIZATION", &wrong)],
        )
        .await;
    assert_eq!(code, EXIT_REFUSED);
    assert!(out.is_empty());
    assert!(err.contains("code 9 (FAILED_PRECONDITION)"), "{err}");
    assert!(err.contains("Endpoint verification failed"), "{err}");
    assert!(err.contains("answered 401"), "{err}");
    assert!(!err.contains(wrong.trim_start_matches("Bearer ")), "{err}");
    w.assert_no_secret(&err);
    // Our handler refused the wrong value as it refuses a missing one.
    assert_eq!(
        w.endpoint.answers(),
        [(true, true, 401), (false, true, 401)]
    );
    assert!(w.sandbox.google_health.subscribers().is_empty());
    assert_eq!(w.sandbox.google_health.stats().verification_failures, 1);
}

#[tokio::test]
async fn an_authorization_without_scheme_is_refused_before_any_call() {
    let w = World::start().await;
    let bare = w.authorization.trim_start_matches("Bearer ").to_owned();
    let (code, out, err) = w
        .admin(
            &[
                "create",
                "--endpoint",
                &w.endpoint.url,
                "--authorization-env",
                "FB_BARE_AUTHORIZATION",
            ],
            &[("FB_BARE_AUTHORIZATION", &bare)],
        )
        .await;
    assert_eq!(code, EXIT_USAGE);
    assert!(out.is_empty());
    assert!(err.contains("scheme included"), "{err}");
    w.assert_no_secret(&err);
    let stats = w.sandbox.google_health.stats();
    assert!(stats.token_requests.is_empty(), "no token: {stats:?}");
    assert!(
        stats.requests_by_method.is_empty(),
        "no API call: {stats:?}"
    );
    assert_eq!(stats.verification_probes, 0);
    assert!(w.endpoint.answers().is_empty());

    // The same for a patch.
    let (code, _, err) = w
        .admin(
            &["patch", "--authorization-env", "FB_BARE_AUTHORIZATION"],
            &[("FB_BARE_AUTHORIZATION", &bare)],
        )
        .await;
    assert_eq!(code, EXIT_USAGE, "{err}");
    assert!(w.sandbox.google_health.stats().token_requests.is_empty());
}

#[tokio::test]
async fn google_refusals_exit_1_with_googles_words() {
    let w = World::start().await;
    let create = [
        "create",
        "--endpoint",
        w.endpoint.url.as_str(),
        "--secret-id",
        SECRET_ID,
    ];
    assert_eq!(w.admin(&create, &[]).await.0, EXIT_OK);
    let (code, _, err) = w.admin(&create, &[]).await;
    assert_eq!(code, EXIT_REFUSED);
    assert!(err.contains("HTTP 409 ALREADY_EXISTS"), "{err}");
    assert!(err.contains("already exists"), "{err}");

    // A data type Google does not know.
    let (code, _, err) = w
        .admin(&["patch", "--data-types", "steps,heartbeats"], &[])
        .await;
    assert_eq!(code, EXIT_REFUSED);
    assert!(err.contains("INVALID_ARGUMENT"), "{err}");
    assert!(err.contains("heartbeats"), "{err}");
    w.assert_no_secret(&err);
}

/// Needs the local emulator (`tests/local/test.sh` deploys it): the Google Health secret
/// in Secrets Manager, read by the CLI as by the functions, and the webhook the
/// pipeline's `main` would build (SQS work queue).
#[tokio::test]
async fn the_deployed_secret_registers_with_the_pipelines_webhook() {
    let p = Pipeline::start().await;
    let env = &p.env;
    let service = fitbridge::wiring::webhook_service(
        &env.ports(),
        &fitbridge::config::WebhookSettings {
            providers: env.settings.providers.clone(),
            work_queue_url: p.work_url.clone(),
        },
    );
    let endpoint = serve(service).await;
    let secret_id = env
        .settings
        .providers
        .google_health
        .as_ref()
        .expect("the test env serves Google Health")
        .secret_id
        .clone();
    let (key_file, client_email) = write_key(&env.sandbox);
    let secrets: Arc<dyn SecretSource> = Arc::new(SecretsManagerSource::new(
        aws_sdk_secretsmanager::Client::new(&env.aws),
    ));
    let (code, out, err) = admin(
        &env.sandbox,
        &key_file,
        Some(secrets.clone()),
        &[
            "create",
            "--endpoint",
            &endpoint.url,
            "--secret-id",
            &secret_id,
        ],
        &[],
    )
    .await;
    assert_eq!(code, EXIT_OK, "{err}");
    assert!(out.starts_with("created projects/"), "{out}");
    assert!(!out.contains(&env.google_webhook_authorization));
    assert_eq!(endpoint.answers(), [(true, true, 201), (false, true, 401)]);
    let (code, out, err) = admin(&env.sandbox, &key_file, Some(secrets), &["delete"], &[]).await;
    assert_eq!(code, EXIT_OK, "{err}");
    assert!(out.starts_with("deleted "), "{out}");
    assert_eq!(
        env.sandbox.google_health.stats().service_account_tokens[&client_email],
        2
    );
    let _ = std::fs::remove_file(key_file);
}
