//! Logging: JSON lines on stdout, which Lambda ships to CloudWatch Logs.

use tracing_subscriber::EnvFilter;

/// Installs the JSON log subscriber once per process. The level comes from `RUST_LOG`
/// (default `info`). Call it first in `main`.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .without_time() // CloudWatch stamps every line already.
        .try_init();
}
