//! Logging: JSON lines on stdout, which Lambda ships to CloudWatch Logs.
//!
//! Invariant: whatever `RUST_LOG` says, the Lambda runtime's own crates log at `info` at
//! most. At `trace` they log raw events — OAuth codes and states in query strings,
//! notification bodies — which must never reach CloudWatch.

use tracing_subscriber::EnvFilter;

/// The runtime crates capped at `info` (later directives override earlier ones).
const RUNTIME_CAP: &str = "lambda_runtime=info,lambda_runtime_api_client=info,lambda_http=info";

/// The filter directives for a `RUST_LOG` value (`info` when unset or empty).
pub fn directives(rust_log: Option<&str>) -> String {
    let wanted = rust_log
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or("info");
    format!("{wanted},{RUNTIME_CAP}")
}

/// Installs the JSON log subscriber once per process. Call it first in `main`.
pub fn init() {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = EnvFilter::try_new(directives(rust_log.as_deref()))
        .unwrap_or_else(|_| EnvFilter::new(directives(None)));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .without_time() // CloudWatch stamps every line already.
        .try_init();
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn trace_never_reaches_the_runtime_crates() {
        for rust_log in ["trace", "lambda_runtime=trace,trace", "lambda_http=trace"] {
            let out = Captured::default();
            let writer = out.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_env_filter(EnvFilter::try_new(directives(Some(rust_log))).unwrap())
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::with_default(subscriber, || {
                tracing::trace!(target: "lambda_runtime", "raw event with a code");
                tracing::trace!(target: "lambda_http", "raw request with a state");
                tracing::info!(target: "lambda_runtime", "runtime info");
                tracing::trace!(target: "fitbridge::sync", "our own trace");
            });
            let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
            assert!(
                !text.contains("raw event") && !text.contains("raw request"),
                "{rust_log}: {text}"
            );
            assert!(text.contains("runtime info"), "{rust_log}: {text}");
            assert_eq!(
                text.contains("our own trace"),
                rust_log.contains(",trace") || rust_log == "trace",
                "{rust_log}: {text}"
            );
        }
        assert_eq!(directives(None), directives(Some(" ")));
    }
}
