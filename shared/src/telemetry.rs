//! Logs and metrics: JSON lines on stdout, which Lambda ships to CloudWatch Logs.
//!
//! Invariants:
//! - Whatever `RUST_LOG` says, the Lambda runtime's own crates log at `info` at most. At
//!   `trace` they log raw events — OAuth codes and states in query strings, notification
//!   bodies — which must never reach CloudWatch.
//! - Metrics are counted with the `metrics` facade anywhere in the library (a no-op where
//!   no recorder is installed, as in the use-case tests) and written once per invocation
//!   in CloudWatch's Embedded Metric Format ([`flushed`]): namespace `METRICS_NAMESPACE`
//!   (default `fitbridge`), dimension `Function`, plus the metric's labels. Label values
//!   are a small fixed set (never a person, a token or an id), so the dimensions stay few.

use std::future::Future;
use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

/// Crates capped at `info` whatever `RUST_LOG` asks (later directives override earlier
/// ones; a target matches a directive it starts with): at `debug` and `trace` they log what
/// goes over the wire — the Lambda runtime its events (OAuth codes, states), the AWS SDK
/// its request and response bodies (DynamoDB items hold tokens and PKCE verifiers; only
/// operations marked sensitive are redacted), the HTTP stack its headers and frames.
const RUNTIME_CAP: &str = "lambda_runtime=info,lambda_runtime_api_client=info,lambda_http=info,\
aws=info,hyper=info,h2=info,reqwest=info,rustls=info,tower=info";

/// The metrics' namespace unless `METRICS_NAMESPACE` says otherwise.
pub const DEFAULT_NAMESPACE: &str = "fitbridge";

/// The metrics the functions write: names, their labels and units. The alarms and the
/// dashboard in `infra/template.yaml` use these names.
pub mod metric {
    /// Webhook: notifications in deliveries that were accepted (count).
    pub const NOTIFICATIONS_ACCEPTED: &str = "NotificationsAccepted";
    /// Webhook: deliveries refused, label `Reason` (signature, malformed, too_large,
    /// method, unknown_provider).
    pub const NOTIFICATIONS_REJECTED: &str = "NotificationsRejected";
    /// Webhook: deliveries answered 503 (queue or secret unavailable; the provider retries).
    pub const WEBHOOK_UNAVAILABLE: &str = "WebhookUnavailable";
    /// Webhook and token-refresh: work items sent to the work queue.
    pub const WORK_QUEUED: &str = "WorkQueued";
    /// Worker: provider data calls, labels `Provider` and `Status` (2xx, or the error's
    /// class: [`crate::ports::provider::ProviderError::status_class`]).
    pub const PROVIDER_CALLS: &str = "ProviderCalls";
    /// Worker: a data type of a day the provider did not answer while the rest of the day
    /// came, labels `Provider`, `DataType` and `Status` (the error's class). Alarmed: a
    /// tenant or a person that keeps refusing one data type loses that metric.
    pub const DATA_TYPES_UNANSWERED: &str = "DataTypesUnanswered";
    /// Worker: data points a provider answered for a day they do not state, labels
    /// `Provider`, `DataType` and `Reason` (`other_date`, `undated`): refused, never booked
    /// on the asked day.
    pub const DATA_POINTS_OUTSIDE_WINDOW: &str = "DataPointsOutsideWindow";
    /// Worker: days fetched from a provider, label `Provider`.
    pub const DAYS_FETCHED: &str = "DaysFetched";
    /// Worker: interactions by `Result` (created, updated, unchanged, failed).
    pub const INTERACTIONS: &str = "Interactions";
    /// Token refreshes by `Result` (refreshed, failed).
    pub const TOKEN_REFRESHES: &str = "TokenRefreshes";
    /// Work set aside until the person acts, label `Reason` (needs_reconsent,
    /// provider_gone, rejected, ...).
    pub const WORK_PARKED: &str = "WorkParked";
    /// Worker and token-refresh: queue messages reported failed (SQS delivers them again).
    pub const WORK_FAILED: &str = "WorkFailed";
    /// Messages that failed on their last allowed receive: SQS moves them to the DLQ.
    pub const WORK_DEAD_LETTERED: &str = "WorkDeadLettered";
    /// SAP round trips' duration, milliseconds, label `Call` (batch, read, post).
    pub const SAP_LATENCY: &str = "SapLatency";
    /// Campaign signals written to the marketing system, by `Kind` (`rule`, `attribute`).
    pub const SIGNALS: &str = "Signals";
    /// Campaign signals refused for good, by `Kind` (`rule`, `attribute` by SAP; `event` by
    /// the event bus): a tenant or bus set up wrong. Alarmed.
    pub const SIGNALS_REFUSED: &str = "SignalsRefused";
    /// Worker: provider calls and SAP writes held back by the shared request budget, by
    /// `Scope` and `Priority`: lower priorities yielding to higher ones, or everyone
    /// waiting out a quota-wide 429. Waits, not failures.
    pub const BUDGET_WAITS: &str = "BudgetWaits";
    /// Minutes after the person's local midnight at which the daily pull of their
    /// yesterday reached SAP: the day's `Maximum` is when the last person's landed.
    pub const DAILY_PULL_LANDED: &str = "DailyPullLandedMinutes";
    /// People connected for the first time, by `Provider` (a reconnect is not one):
    /// Google asks for a quota increase in advance of more than 10,000 sign-ups a day.
    pub const SIGN_UPS: &str = "SignUps";
}

/// The filter directives for a `RUST_LOG` value (`info` when unset or empty). A
/// directive of the value that names a capped crate (or a module of one) is dropped: the
/// most specific directive wins in a filter, so it would lift the cap.
pub fn directives(rust_log: Option<&str>) -> String {
    let capped: Vec<&str> = RUNTIME_CAP
        .split(',')
        .filter_map(|d| d.split('=').next())
        .collect();
    let names_capped = |directive: &str| {
        let target = directive
            .split(['=', '['])
            .next()
            .unwrap_or_default()
            .trim();
        capped.iter().any(|c| target.starts_with(c))
    };
    let wanted: Vec<&str> = rust_log
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty() && !names_capped(d))
        .collect();
    let wanted = if wanted.is_empty() {
        "info".to_owned()
    } else {
        wanted.join(",")
    };
    format!("{wanted},{RUNTIME_CAP}")
}

static COLLECTOR: OnceLock<&'static metrics_cloudwatch_embedded::Collector> = OnceLock::new();

/// What logs and metrics are configured with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TelemetrySettings {
    /// `RUST_LOG`: filter directives (`info` when unset).
    pub rust_log: Option<String>,
    /// `METRICS_NAMESPACE` ([`DEFAULT_NAMESPACE`] when unset).
    pub namespace: Option<String>,
}

/// Installs the JSON log subscriber and the metrics recorder once per process, for the
/// function named `function` (the metrics' `Function` dimension). Call it first in `main`.
pub fn init(function: &'static str, settings: &TelemetrySettings) {
    let filter = EnvFilter::try_new(directives(settings.rust_log.as_deref()))
        .unwrap_or_else(|_| EnvFilter::new(directives(None)));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .without_time() // CloudWatch stamps every line already.
        .try_init();
    let namespace = settings
        .namespace
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    init_metrics(namespace, function);
}

/// Installs the metrics recorder (once per process; later calls change nothing).
pub fn init_metrics(namespace: String, function: &'static str) {
    if COLLECTOR.get().is_some() {
        return;
    }
    let installed = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(namespace)
        .with_dimension("Function", function)
        .init();
    match installed {
        Ok(collector) => {
            let _ = COLLECTOR.set(collector);
            metrics::describe_histogram!(metric::SAP_LATENCY, metrics::Unit::Milliseconds, "");
        }
        // Another recorder is installed (a test harness): metrics go there.
        Err(e) => tracing::warn!(error = %e, "metrics recorder not installed"),
    }
}

/// Writes what was counted since the last flush as EMF documents, one line per label set.
pub fn flush_to(writer: impl std::io::Write) {
    if let Some(collector) = COLLECTOR.get() {
        if let Err(e) = collector.flush(writer) {
            tracing::warn!(error = %e, "metrics not written");
        }
    }
}

/// Runs one invocation, then writes its metrics to stdout (before the answer goes back,
/// so a frozen or ended execution environment loses none).
pub async fn flushed<T>(invocation: impl Future<Output = T>) -> T {
    let answer = invocation.await;
    flush_to(std::io::stdout().lock());
    answer
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
    fn a_directive_naming_a_capped_crate_is_dropped() {
        let d = directives(Some(
            "fitbridge=trace, aws_smithy_runtime=trace,hyper[x]=debug",
        ));
        assert!(d.starts_with("fitbridge=trace,lambda_runtime=info"), "{d}");
        assert!(
            !d.contains("=trace,aws_smithy") && !d.contains("hyper[x]"),
            "{d}"
        );
        assert!(directives(None).starts_with("info,"));
        assert!(directives(Some(" ")).starts_with("info,"));
    }

    #[test]
    fn trace_never_reaches_the_runtime_crates() {
        for rust_log in [
            "trace",
            "lambda_runtime=trace,trace",
            "lambda_http=trace",
            "aws_smithy_runtime=trace,trace",
        ] {
            let out = Captured::default();
            let writer = out.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_env_filter(EnvFilter::try_new(directives(Some(rust_log))).unwrap())
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::with_default(subscriber, || {
                tracing::trace!(target: "lambda_runtime", "raw event with a code");
                tracing::trace!(target: "lambda_http", "raw request with a state");
                tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "raw item with a token");
                tracing::debug!(target: "aws_sigv4::http_request::sign", "raw canonical request");
                tracing::trace!(target: "hyper_util::client::legacy", "raw frame");
                tracing::trace!(target: "reqwest::connect", "raw connection");
                tracing::info!(target: "lambda_runtime", "runtime info");
                tracing::trace!(target: "fitbridge::sync", "our own trace");
            });
            let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
            assert!(!text.contains("raw "), "{rust_log}: {text}");
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
