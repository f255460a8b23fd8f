//! The provider and SAP endpoints: the sandboxes of tests/sandbox (Fitbit, Google Health,
//! SAP Marketing Cloud), served here on one loopback port. Served by the harness rather than
//! with `Sandbox::start` so that, like every server of the harness and like the real
//! endpoints, it answers without Nagle's delay (`TCP_NODELAY`).

use std::sync::Arc;

use axum::serve::ListenerExt;
use fitbridge_sandbox::{fitbit, google_health, sap};

pub struct Stubs {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub base_url: String,
    pub fitbit: Arc<fitbit::FitbitSandbox>,
    pub google_health: Arc<google_health::GoogleHealthSandbox>,
    pub sap: Arc<sap::SapSandbox>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Stubs {
    pub async fn start() -> std::io::Result<Stubs> {
        let fitbit = Arc::new(fitbit::FitbitSandbox::new(Default::default()));
        let google_health = Arc::new(google_health::GoogleHealthSandbox::new(Default::default()));
        let sap = Arc::new(sap::SapSandbox::new(Default::default()));
        let app = axum::Router::new()
            .merge(fitbit::router(fitbit.clone()))
            .merge(google_health::router(google_health.clone()))
            .merge(sap::router(sap.clone()));
        let (base_url, shutdown) = serve(app).await?;
        Ok(Stubs {
            base_url: format!("http://{base_url}"),
            fitbit,
            google_health,
            sap,
            shutdown: Some(shutdown),
        })
    }
}

impl Drop for Stubs {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Serves `app` on a random loopback port with `TCP_NODELAY` until the sender is used or
/// dropped. Returns the address.
pub async fn serve(
    app: axum::Router,
) -> std::io::Result<(std::net::SocketAddr, tokio::sync::oneshot::Sender<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Ok((addr, tx))
}
