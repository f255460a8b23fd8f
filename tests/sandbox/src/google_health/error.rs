//! Google's two error shapes: the API's `{"error":{"code","message","status","details"}}`
//! (health.googleapis.com, openidconnect.googleapis.com) and RFC 6749's
//! `{"error","error_description"}` (oauth2.googleapis.com).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// The canonical gRPC status name Google puts into `error.status` for an HTTP status.
pub(super) fn grpc_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        412 => "FAILED_PRECONDITION",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        502 | 503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        500..=599 => "INTERNAL",
        _ => "UNKNOWN",
    }
}

/// The numeric `google.rpc.Code` of a status name (for `Operation.error.code`).
pub(super) fn grpc_code(status: &str) -> i32 {
    match status {
        "CANCELLED" => 1,
        "UNKNOWN" => 2,
        "INVALID_ARGUMENT" => 3,
        "DEADLINE_EXCEEDED" => 4,
        "NOT_FOUND" => 5,
        "ALREADY_EXISTS" => 6,
        "PERMISSION_DENIED" => 7,
        "RESOURCE_EXHAUSTED" => 8,
        "FAILED_PRECONDITION" => 9,
        "ABORTED" => 10,
        "UNIMPLEMENTED" => 12,
        "INTERNAL" => 13,
        "UNAVAILABLE" => 14,
        "UNAUTHENTICATED" => 16,
        _ => 2,
    }
}

pub(super) const SERVICE: &str = "health.googleapis.com";

/// An error of the REST API, in Google's JSON error shape.
#[derive(Debug)]
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    pub(super) grpc: &'static str,
    pub(super) message: String,
    pub(super) details: Vec<Value>,
    /// Set on 401s, as Google's front end does.
    pub(super) www_authenticate: Option<&'static str>,
}

fn error_info(reason: &str, metadata: Value) -> Value {
    json!({
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": metadata,
    })
}

impl ApiError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            grpc: grpc_status(status),
            message: message.into(),
            details: Vec::new(),
            www_authenticate: None,
        }
    }

    pub(super) fn with_grpc(mut self, grpc: &'static str) -> ApiError {
        self.grpc = grpc;
        self
    }

    pub(super) fn with_detail(mut self, detail: Value) -> ApiError {
        self.details.push(detail);
        self
    }

    pub(super) fn invalid_argument(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// A contract violation: the message also goes into a `google.rpc.BadRequest` detail.
    pub(super) fn bad_request(message: impl Into<String>, field: Option<&str>) -> ApiError {
        let message = message.into();
        let mut violation = json!({ "description": message });
        if let Some(field) = field.filter(|f| !f.is_empty()) {
            violation["field"] = json!(field);
        }
        ApiError::invalid_argument(message.clone()).with_detail(json!({
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [violation],
        }))
    }

    /// A missing, malformed, unknown, expired or revoked bearer token.
    pub(super) fn unauthenticated(reason: &'static str) -> ApiError {
        let mut error = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie \
             or other valid authentication credential. See \
             https://developers.google.com/identity/sign-in/web/devconsole-project.",
        )
        .with_detail(error_info(
            reason,
            json!({ "service": SERVICE, "method": "google.devicesandservices.health.v4" }),
        ));
        error.www_authenticate = Some(if reason == "CREDENTIALS_MISSING" {
            "Bearer realm=\"https://accounts.google.com/\""
        } else {
            "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\""
        });
        error
    }

    /// The token lacks every scope that would authorize the call.
    pub(super) fn insufficient_scopes(method: &str) -> ApiError {
        let mut error = ApiError::new(
            StatusCode::FORBIDDEN,
            "Request had insufficient authentication scopes.",
        )
        .with_detail(error_info(
            "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            json!({ "service": SERVICE, "method": method }),
        ));
        error.www_authenticate =
            Some("Bearer realm=\"https://accounts.google.com/\", error=\"insufficient_scope\"");
        error
    }

    pub(super) fn permission_denied(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    pub(super) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub(super) fn failed_precondition(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message).with_grpc("FAILED_PRECONDITION")
    }

    pub(super) fn already_exists(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message).with_grpc("ALREADY_EXISTS")
    }

    pub(super) fn unimplemented(method: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!(
                "Method {method} is in the contract but not simulated by the fitbridge sandbox."
            ),
        )
    }

    /// Quota exceeded; Google sends no `Retry-After`.
    pub(super) fn quota_exceeded(limit_name: &str, consumer: &str) -> ApiError {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Quota exceeded for quota metric 'Requests' and limit '{limit_name}' of service \
                 '{SERVICE}' for consumer '{consumer}'."
            ),
        )
        .with_detail(error_info(
            "RATE_LIMIT_EXCEEDED",
            json!({
                "service": SERVICE,
                "consumer": consumer,
                "quota_limit": limit_name,
                "quota_metric": "health.googleapis.com/requests",
            }),
        ))
    }

    /// The `google.rpc.Status` JSON of this error (for `Operation.error`).
    pub(super) fn status_json(&self) -> Value {
        let mut status = json!({ "code": grpc_code(self.grpc), "message": self.message });
        if !self.details.is_empty() {
            status["details"] = json!(self.details);
        }
        status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({
            "code": self.status.as_u16(),
            "message": self.message,
            "status": self.grpc,
        });
        if !self.details.is_empty() {
            error["details"] = json!(self.details);
        }
        let mut response = (self.status, Json(json!({ "error": error }))).into_response();
        if let Some(value) = self.www_authenticate {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
        }
        response
    }
}

/// The `Cache-Control` of every answer of Google's token endpoint, errors included.
pub(super) const NEVER_CACHE: &str = "no-cache, no-store, max-age=0, must-revalidate";

/// An error of the token and revocation endpoints (RFC 6749 §5.2).
#[derive(Debug, Clone)]
pub(super) struct OAuthError {
    pub(super) status: StatusCode,
    pub(super) error: &'static str,
    pub(super) description: String,
}

impl OAuthError {
    pub(super) fn new(
        status: StatusCode,
        error: &'static str,
        description: impl Into<String>,
    ) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }

    pub(super) fn invalid_request(description: impl Into<String>) -> Self {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    pub(super) fn invalid_grant(description: impl Into<String>) -> Self {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    pub(super) fn invalid_client(description: impl Into<String>) -> Self {
        OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }

    /// Google's answer for unknown, expired (Testing publishing status) and revoked refresh
    /// tokens alike.
    pub(super) fn expired_or_revoked() -> Self {
        OAuthError::invalid_grant("Token has been expired or revoked.")
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(json!({ "error": self.error, "error_description": self.description })),
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(NEVER_CACHE));
        response
    }
}
