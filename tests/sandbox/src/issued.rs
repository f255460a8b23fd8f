//! Every secret value the provider sandboxes hand out or receive — access and refresh
//! tokens, authorization codes, PKCE verifiers — so that a leak scan of the functions'
//! logs knows what to look for (`GET /_admin/issued-secrets`, as a JSON array).
//!
//! One list per process: the `sandbox` binary is the stack's one sandbox server, and in
//! tests the list only grows (a scan looks for more values than it needs, never fewer).

use std::sync::Mutex;

use axum::routing::get;
use axum::Json;

static ISSUED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remembers a value a sandbox issued or received.
pub(crate) fn record(value: &str) {
    if value.is_empty() {
        return;
    }
    ISSUED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(value.to_owned());
}

/// What the sandboxes of this process issued and received so far.
pub fn issued_secrets() -> Vec<String> {
    ISSUED.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// `GET /_admin/issued-secrets`.
pub(crate) fn router() -> axum::Router {
    axum::Router::new().route(
        "/_admin/issued-secrets",
        get(|| async { Json(issued_secrets()) }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_kept_and_empty_ones_ignored() {
        record("issued-token-for-the-test");
        record("");
        let all = issued_secrets();
        assert!(all.iter().any(|v| v == "issued-token-for-the-test"));
        assert!(all.iter().all(|v| !v.is_empty()));
    }
}
