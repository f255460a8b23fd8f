//! Polar's error shapes: the `/v3` API's `error` schema (`timestamp`, `status`, `errorType`,
//! `message`, `corrId`), and the token endpoint's `{"error": "..."}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::wire::ErrorBody;
use crate::random;

/// A refused `/v3` request, rendered with the sandbox clock's time.
#[derive(Debug)]
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    pub(super) error_type: &'static str,
    pub(super) message: String,
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
        }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub(super) fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
    }

    pub(super) fn forbidden(error_type: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, error_type, message)
    }

    pub(super) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NotFound", message)
    }

    pub(super) fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "Conflict", message)
    }

    pub(super) fn body(&self, now: OffsetDateTime) -> ErrorBody {
        ErrorBody {
            timestamp: now.format(&Rfc3339).expect("formattable timestamp"),
            status: self.status.as_u16(),
            error_type: self.error_type.to_owned(),
            message: self.message.clone(),
            corr_id: random::uuid_v4(),
        }
    }

    pub(super) fn render(&self, now: OffsetDateTime) -> Response {
        (self.status, Json(self.body(now))).into_response()
    }
}

/// A refused token request: always 400, as the page's status codes list only 200 and 400.
#[derive(Debug)]
pub(super) struct OAuthError {
    pub(super) error: &'static str,
}

impl OAuthError {
    pub(super) fn new(error: &'static str) -> OAuthError {
        OAuthError { error }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": self.error })),
        )
            .into_response()
    }
}
