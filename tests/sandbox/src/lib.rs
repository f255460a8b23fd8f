//! Sandboxes for the services fitbridge talks to, speaking their real wire formats:
//! the Fitbit Web API ([`fitbit`]), the Google Health API with Google OAuth
//! ([`google_health`]), the Polar AccessLink API v3 with Polar's OAuth ([`polar`]) and SAP
//! Marketing Cloud ([`sap`]).
//!
//! One server serves them all (their paths do not collide, as on the real hosts), either as the
//! `sandbox` binary on a fixed port (for the functions deployed to the local emulator) or
//! in-process on a random port (for tests, one independent instance per test).
//! Each sandbox has an admin API under `/_admin/<name>/...` and the same operations as
//! methods on its state type, so in-process tests can drive and inspect it directly.
//!
//! The provider sandboxes (Fitbit, Google, Polar) are built on a shared kernel, so that what
//! is the same at all of them is written once and only what differs is the provider's:
//! OAuth 2.0 (`oauth2`: PKCE where the provider has it, authorization codes and consent, the
//! ledger of issued tokens, the token endpoint), the admin API's shared operations
//! (`admin_api`), the sandbox clock and forced throttles, fault injection (`faults`) and the
//! stats' counters (`counters`).

use std::net::SocketAddr;
use std::sync::Arc;

pub mod fitbit;
pub mod google_health;
pub mod polar;
pub mod sap;

mod admin_api;
mod civil_time;
mod clock;
mod counters;
mod faults;
mod forced_throttles;
pub mod issued;
mod oauth2;
mod random;
mod synthetic;

pub use faults::RawAnswer;
pub use synthetic::ActivityPattern;
#[cfg(test)]
mod test_support;

#[derive(Clone, Debug, Default)]
pub struct SandboxConfig {
    pub fitbit: fitbit::FitbitConfig,
    pub google_health: google_health::GoogleHealthConfig,
    pub polar: polar::PolarConfig,
    pub sap: sap::SapConfig,
}

/// A running sandbox server.
pub struct Sandbox {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub base_url: String,
    pub fitbit: Arc<fitbit::FitbitSandbox>,
    pub google_health: Arc<google_health::GoogleHealthSandbox>,
    pub polar: Arc<polar::PolarSandbox>,
    pub sap: Arc<sap::SapSandbox>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Sandbox {
    /// Binds `addr` (port 0 for a random port) and serves until dropped.
    pub async fn start(config: SandboxConfig, addr: SocketAddr) -> std::io::Result<Sandbox> {
        let fitbit = Arc::new(fitbit::FitbitSandbox::new(config.fitbit));
        let google_health = Arc::new(google_health::GoogleHealthSandbox::new(
            config.google_health,
        ));
        let polar = Arc::new(polar::PolarSandbox::new(config.polar));
        let sap = Arc::new(sap::SapSandbox::new(config.sap));
        let app = axum::Router::new()
            .merge(fitbit::router(fitbit.clone()))
            .merge(google_health::router(google_health.clone()))
            .merge(polar::router(polar.clone()))
            .merge(sap::router(sap.clone()))
            .merge(issued::router());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        polar.serve_at(&base_url);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Sandbox {
            base_url,
            fitbit,
            google_health,
            polar,
            sap,
            shutdown: Some(tx),
        })
    }
}

impl Sandbox {
    /// Sets the providers' clocks to `at`, from where they run on: tokens, codes, rate
    /// windows and the synthetic people's "today" follow it. SAP's stamps stay real.
    pub fn set_clock(&self, at: time::OffsetDateTime) {
        self.fitbit.set_clock(at);
        self.google_health.set_clock(at);
        self.polar.set_clock(at);
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The client a provider sandbox calls subscriber endpoints with, giving up after `timeout`.
/// Endpoints are local (in-process test servers, the local emulator), so no proxy from the
/// environment may get in between; a redirect is the endpoint's answer, not followed (Google
/// does not follow them either).
fn subscriber_client(timeout: std::time::Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client for subscriber calls")
}
