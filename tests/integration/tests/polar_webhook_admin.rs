//! The Polar webhook admin CLI (`fitbridge-admin polar webhook …`, run in-process) against
//! the Polar sandbox, with our real webhook handler served over HTTP as the webhook's URL:
//! Polar's `PING`s and deliveries reach `fitbridge::inbound::webhook::handle` exactly as
//! they would through API Gateway, and the handler reads the Polar secret the CLI writes.
//! In-memory ports (the secret, the queue): no emulator.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use fitbridge::provider::polar::PolarSettings;
use fitbridge::provider::registry::{self, ProviderSettings};
use fitbridge::queue::memory::MemoryQueue;
use fitbridge::secret_store::SecretCache;
use fitbridge::use_cases::webhook::WebhookService;
use fitbridge_admin::secrets::MemorySecretStore;
use fitbridge_admin::{Context, EXIT_OK, EXIT_REFUSED, EXIT_USAGE};
use fitbridge_integration::random_polar_user_id;
use fitbridge_sandbox::polar::{NotifyRequest, WebhookEvent};
use fitbridge_sandbox::{Sandbox, SandboxConfig};
use serde_json::json;
use url::Url;

const SECRET_ID: &str = "fitbridge-test/polar";

/// One test's world: the sandbox, the Polar secret (without a key yet), our webhook over
/// HTTP on the same secret, and its queue.
struct World {
    sandbox: Sandbox,
    secrets: Arc<MemorySecretStore>,
    queue: Arc<MemoryQueue>,
    url: String,
    _server: tokio::sync::oneshot::Sender<()>,
}

async fn forward(
    State(service): State<Arc<WebhookService>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let request = lambda_http::Request::from_parts(parts, lambda_http::Body::Binary(body.to_vec()));
    let response = fitbridge::inbound::webhook::handle(&service, request).await;
    let (parts, body) = response.into_parts();
    axum::response::Response::from_parts(parts, axum::body::Body::from(body.to_vec()))
}

impl World {
    async fn start() -> World {
        let sandbox = Sandbox::start(SandboxConfig::default(), "127.0.0.1:0".parse().unwrap())
            .await
            .expect("sandbox starts");
        let config = sandbox.polar.config();
        let secrets = Arc::new(MemorySecretStore::new([(
            SECRET_ID,
            json!({"client_id": config.client_id, "client_secret": config.client_secret}),
        )]));
        let base = Url::parse(&sandbox.base_url).unwrap();
        let providers = ProviderSettings {
            fitbit: None,
            google_health: None,
            polar: Some(PolarSettings {
                authorize_url: base.join("/oauth2/authorization").unwrap(),
                token_url: base.join("/v2/oauth2/token").unwrap(),
                api_base_url: base,
                secret_id: SECRET_ID.into(),
            }),
        };
        let queue = Arc::new(MemoryQueue::new());
        let service = WebhookService::new(
            registry::webhooks(
                &providers,
                fitbridge::wiring::http_client(),
                Arc::new(SecretCache::new(secrets.clone())),
            ),
            queue.clone(),
            Arc::new(fitbridge::clock::SetClock::new(
                fitbridge_integration::in_process::START,
            )),
        );
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(Arc::new(service));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhooks/polar", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        World {
            sandbox,
            secrets,
            queue,
            url,
            _server: tx,
        }
    }

    /// Runs `fitbridge-admin polar webhook <args>` with the sandbox as AccessLink and the
    /// in-memory secret; returns (exit code, stdout, stderr).
    async fn admin(&self, args: &[&str]) -> (u8, String, String) {
        let vars: HashMap<String, String> =
            HashMap::from([("POLAR_API_BASE_URL".into(), self.sandbox.base_url.clone())]);
        let mut context = Context::new(Box::new(move |name| vars.get(name).cloned()));
        context.secret_store = Some(self.secrets.clone());
        let args: Vec<String> = ["polar", "webhook"]
            .iter()
            .chain(args)
            .map(|s| s.to_string())
            .collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = fitbridge_admin::run(&args, &context, &mut out, &mut err).await;
        let (out, err) = (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        );
        // Neither the client secret nor the signing key is ever printed.
        let secret = &self.sandbox.polar.config().client_secret;
        for text in [&out, &err] {
            assert!(
                !text.contains(secret.as_str()),
                "client secret printed: {text}"
            );
            if let Some(webhook) = self.sandbox.polar.webhook() {
                assert!(
                    !text.contains(&webhook.signature_secret_key),
                    "signing key printed: {text}"
                );
            }
        }
        (code, out, err)
    }
}

#[tokio::test]
async fn create_show_deactivate_activate_and_delete_the_webhook_of_our_handler() {
    let w = World::start().await;
    // Create: Polar pings our handler, which answers 200 without a key; the key Polar
    // answers is in the secret afterwards, next to the client's credentials.
    let (code, out, err) = w
        .admin(&["create", "--secret-id", SECRET_ID, "--url", &w.url])
        .await;
    assert_eq!(code, EXIT_OK, "{err}");
    let webhook = w.sandbox.polar.webhook().expect("created");
    assert_eq!(
        out,
        format!(
            "created webhook {} active=true url={} events=ACTIVITY_SUMMARY,SLEEP,EXERCISE; its \
             signing key is stored in the secret {SECRET_ID}\n",
            webhook.id, w.url
        )
    );
    let secret = w.secrets.json(SECRET_ID).unwrap();
    assert_eq!(
        secret["webhook_signature_key"],
        webhook.signature_secret_key.as_str()
    );
    assert_eq!(
        secret["client_id"],
        w.sandbox.polar.config().client_id.as_str()
    );
    let pings = w.sandbox.polar.deliveries();
    assert_eq!(pings.len(), 1);
    assert_eq!(
        (pings[0].event.as_str(), pings[0].status),
        ("PING", Some(200))
    );
    assert!(w.queue.items().is_empty());

    // A delivery signed with the new key verifies: our handler read the key the CLI wrote.
    let user = random_polar_user_id();
    w.sandbox.polar.register(&user, "member-1");
    let day = fitbridge_integration::in_process::START.date();
    let delivered = w
        .sandbox
        .polar
        .notify(NotifyRequest::event(
            &user,
            WebhookEvent::ActivitySummary,
            day,
        ))
        .await
        .unwrap();
    assert_eq!(delivered[0].status, Some(200), "{delivered:?}");
    assert_eq!(w.queue.items().len(), 1);

    // A second create is refused: one webhook per client.
    let (code, _, err) = w
        .admin(&["create", "--secret-id", SECRET_ID, "--url", &w.url])
        .await;
    assert_eq!(code, EXIT_REFUSED);
    assert!(err.contains("has one already"), "{err}");

    let (code, out, _) = w.admin(&["show", "--secret-id", SECRET_ID]).await;
    assert_eq!(code, EXIT_OK);
    assert_eq!(
        out,
        format!(
            "webhook {} active=true url={} events=ACTIVITY_SUMMARY,SLEEP,EXERCISE\n",
            webhook.id, w.url
        )
    );
    let (code, out, _) = w.admin(&["deactivate", "--secret-id", SECRET_ID]).await;
    assert_eq!(code, EXIT_OK);
    assert!(out.starts_with("deactivated"), "{out}");
    assert!(!w.sandbox.polar.webhook().unwrap().active);
    let (code, out, _) = w.admin(&["activate", "--secret-id", SECRET_ID]).await;
    assert_eq!(code, EXIT_OK, "{out}");
    assert!(w.sandbox.polar.webhook().unwrap().active);
    assert_eq!(
        w.sandbox.polar.stats().pings_sent,
        2,
        "activation pinged again"
    );

    let (code, out, _) = w.admin(&["delete", "--secret-id", SECRET_ID]).await;
    assert_eq!(code, EXIT_OK);
    assert_eq!(out, format!("deleted webhook {}\n", webhook.id));
    assert!(w.sandbox.polar.webhook().is_none());
    let (code, out, _) = w.admin(&["show", "--secret-id", SECRET_ID]).await;
    assert_eq!((code, out.as_str()), (EXIT_OK, "no webhook\n"));
    let (code, _, err) = w.admin(&["activate", "--secret-id", SECRET_ID]).await;
    assert_eq!(code, EXIT_REFUSED);
    assert!(err.contains("no webhook"), "{err}");
}

#[tokio::test]
async fn nothing_reaches_polar_with_a_wrong_input_or_secret() {
    let w = World::start().await;
    let (code, _, err) = w
        .admin(&[
            "create",
            "--secret-id",
            SECRET_ID,
            "--url",
            &w.url,
            "--events",
            "STEPS",
        ])
        .await;
    assert_eq!(code, EXIT_USAGE, "{err}");
    let (code, _, err) = w
        .admin(&["create", "--secret-id", "no-such-secret", "--url", &w.url])
        .await;
    assert_eq!(code, EXIT_REFUSED, "{err}");
    let (code, _, err) = w
        .admin(&[
            "create",
            "--secret-id",
            SECRET_ID,
            "--url",
            &w.url,
            "--api-base-url",
            "ftp://x",
        ])
        .await;
    assert_eq!(code, EXIT_USAGE, "{err}");
    assert!(w.sandbox.polar.webhook().is_none());
    assert_eq!(
        w.sandbox
            .polar
            .stats()
            .requests_by_endpoint
            .values()
            .sum::<u64>(),
        0,
        "Polar was not called"
    );
}
