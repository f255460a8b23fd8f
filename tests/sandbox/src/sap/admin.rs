//! `/_admin/sap/...`: inspection and fault injection over HTTP, for tests that drive the
//! sandbox running as a separate process (the same operations are methods on [`SapSandbox`]).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::{FaultInjection, SapSandbox};

pub(crate) fn routes() -> Router<Arc<SapSandbox>> {
    Router::new()
        .route(
            "/_admin/sap/contacts",
            get(|State(sap): State<Arc<SapSandbox>>| async move { Json(sap.contacts()) }),
        )
        .route(
            "/_admin/sap/interactions",
            get(|State(sap): State<Arc<SapSandbox>>| async move { Json(sap.interactions()) }),
        )
        .route(
            "/_admin/sap/stats",
            get(|State(sap): State<Arc<SapSandbox>>| async move { Json(sap.stats()) }),
        )
        .route(
            "/_admin/sap/reset",
            post(|State(sap): State<Arc<SapSandbox>>| async move {
                sap.reset();
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/_admin/sap/expire-sessions",
            post(|State(sap): State<Arc<SapSandbox>>| async move {
                sap.expire_sessions();
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/_admin/sap/faults",
            get(|State(sap): State<Arc<SapSandbox>>| async move { Json(sap.faults()) })
                .post(inject_faults)
                .delete(|State(sap): State<Arc<SapSandbox>>| async move {
                    sap.clear_faults();
                    StatusCode::NO_CONTENT
                }),
        )
}

async fn inject_faults(
    State(sap): State<Arc<SapSandbox>>,
    Json(change): Json<FaultInjection>,
) -> Response {
    let is_error_status = |s: Option<u16>| s.is_none_or(|s| (400..=599).contains(&s));
    if !is_error_status(change.status) || !is_error_status(change.part_status) {
        return (
            StatusCode::BAD_REQUEST,
            "status and part_status must be 4xx or 5xx",
        )
            .into_response();
    }
    // A raw answer may have any status (a 200 with a body that is not the tenant's).
    if let Some(problem) = change.raw_answer.as_ref().and_then(|a| a.invalid()) {
        return (StatusCode::BAD_REQUEST, problem).into_response();
    }
    Json(sap.inject_faults(change)).into_response()
}
