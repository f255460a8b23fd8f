//! Fitbit's error shape, used everywhere, the token endpoint included (not RFC 6749's):
//! `{"errors":[{"errorType":"…","message":"…"}],"success":false}`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::FitbitSandbox;

/// Fitbit appends this to its OAuth error messages.
pub(super) const OAUTH_DOCS: &str =
    "Visit https://dev.fitbit.com/docs/oauth2 for more information on the Fitbit Web API authorization process.";

#[derive(Debug)]
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    pub(super) error_type: &'static str,
    pub(super) message: String,
    /// Validation errors name the offending field.
    pub(super) field_name: Option<&'static str>,
}

impl ApiError {
    pub(super) fn new(
        status: StatusCode,
        error_type: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            error_type,
            message: message.into(),
            field_name: None,
        }
    }

    pub(super) fn validation(field_name: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            field_name: Some(field_name),
            ..ApiError::new(StatusCode::BAD_REQUEST, "validation", message)
        }
    }

    pub(super) fn invalid_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub(super) fn missing_parameter(name: &str) -> ApiError {
        ApiError::invalid_request(format!("Missing parameters: {name} {OAUTH_DOCS}"))
    }

    pub(super) fn invalid_grant(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_grant", message)
    }

    pub(super) fn invalid_client(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_client", message)
    }

    pub(super) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub(super) fn gone() -> ApiError {
        ApiError::new(
            StatusCode::GONE,
            "gone",
            "The Fitbit Web API has been turned down. Migrate to the Google Health API.",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"errorType": self.error_type, "message": self.message});
        if let Some(field) = self.field_name {
            error["fieldName"] = json!(field);
        }
        let mut response = (
            self.status,
            Json(json!({"errors": [error], "success": false})),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"api.fitbit.com\""),
            );
        }
        response
    }
}

/// In gone mode every Fitbit endpoint answers 410 before doing anything else.
pub(super) async fn gone_guard(
    State(sandbox): State<Arc<FitbitSandbox>>,
    request: Request,
    next: Next,
) -> Response {
    if sandbox.is_gone() {
        return ApiError::gone().into_response();
    }
    next.run(request).await
}
