//! Serves the Fitbit, Google Health, Polar and SAP sandboxes on one port, for the functions
//! deployed to the local emulator and for the demo.
//!
//! `SANDBOX_ADDR` (default `127.0.0.1:9090`); `SANDBOX_REDIRECT_URI` registers the app's
//! callback as Fitbit would (exact match); `SANDBOX_SUBSCRIBER_URL` is where notifications
//! go. `SANDBOX_GOOGLE_REDIRECT_URI` registers the app's Google callback (exact match);
//! `SANDBOX_GOOGLE_TESTING_MODE=true` puts the Google app in the "Testing" publishing status
//! (refresh tokens die after 7 days of the sandbox clock). Google subscribers are registered
//! through the API itself (`/v4/projects/.../subscribers`, with a service account from
//! `POST /_admin/google-health/service-accounts`). `SANDBOX_POLAR_REDIRECT_URI` registers the
//! app's Polar callback (its default redirect URL); `SANDBOX_POLAR_PUBLIC_URL` is the base
//! URL Polar webhook payloads point at when the sandbox is reached under another address.
//! The Polar webhook is created through the API itself (`/v3/webhooks`, client
//! credentials). Credentials are the sandbox defaults, which the local deploy puts in the
//! secrets.

use fitbridge_sandbox::{Sandbox, SandboxConfig};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let addr = std::env::var("SANDBOX_ADDR").unwrap_or_else(|_| "127.0.0.1:9090".into());
    let mut config = SandboxConfig::default();
    if let Ok(uri) = std::env::var("SANDBOX_REDIRECT_URI") {
        config.fitbit.redirect_uris = vec![uri];
    }
    config.fitbit.subscriber_url = std::env::var("SANDBOX_SUBSCRIBER_URL").ok();
    if let Ok(uri) = std::env::var("SANDBOX_GOOGLE_REDIRECT_URI") {
        config.google_health.redirect_uris = vec![uri];
    }
    config.google_health.testing_mode = std::env::var("SANDBOX_GOOGLE_TESTING_MODE")
        .is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "yes"));
    if let Ok(uri) = std::env::var("SANDBOX_POLAR_REDIRECT_URI") {
        config.polar.redirect_uris = vec![uri];
    }
    config.polar.public_base_url = std::env::var("SANDBOX_POLAR_PUBLIC_URL").ok();
    let sandbox = Sandbox::start(
        config,
        addr.parse()
            .map_err(|e| std::io::Error::other(format!("SANDBOX_ADDR: {e}")))?,
    )
    .await?;
    tracing::info!(base_url = %sandbox.base_url, "Fitbit, Google Health, Polar and SAP sandboxes listening");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
