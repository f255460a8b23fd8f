//! `GET|POST /webhooks/{provider}`.

use lambda_http::{Body, Request, RequestExt, Response};

use crate::webhook::{WebhookError, WebhookService};

fn status(code: u16) -> Response<Body> {
    Response::builder()
        .status(code)
        .body(Body::Empty)
        .expect("a status-only response is valid")
}

/// The one entry point of the webhook function.
pub async fn handle(service: &WebhookService, request: Request) -> Response<Body> {
    // Only Fitbit notifies us today.
    if request.uri().path() != "/webhooks/fitbit" {
        return status(404);
    }
    match *request.method() {
        http::Method::GET => {
            let query = request.query_string_parameters();
            let Some(code) = query.first("verify") else {
                return status(404);
            };
            match service.verify_subscriber(code).await {
                Ok(true) => {
                    tracing::info!("subscriber verification answered");
                    status(204)
                }
                Ok(false) => {
                    tracing::warn!("subscriber verification with a wrong code");
                    status(404)
                }
                Err(e) => {
                    tracing::error!(error = %e, "subscriber verification failed");
                    status(503)
                }
            }
        }
        http::Method::POST => {
            // lambda_http has already undone API Gateway's base64: these are the bytes
            // Fitbit signed.
            let body: &[u8] = request.body().as_ref();
            let signature = request
                .headers()
                .get("x-fitbit-signature")
                .and_then(|v| v.to_str().ok());
            match service.accept(body, signature).await {
                Ok(accepted) => {
                    tracing::info!(
                        received = accepted.received,
                        queued = accepted.queued,
                        skipped = accepted.skipped,
                        ignored = accepted.ignored,
                        "notifications queued"
                    );
                    status(204)
                }
                Err(e) => {
                    let code = match &e {
                        // Fitbit's rule: a bad signature answers 404.
                        WebhookError::BadSignature => 404,
                        WebhookError::Malformed => 400,
                        WebhookError::TooLarge(_) => 413,
                        // Not queued: make Fitbit retry rather than lose the notification.
                        WebhookError::Queue(_) | WebhookError::Secret(_) => 503,
                    };
                    if code >= 500 {
                        tracing::error!(status = code, error = %e, "notifications not accepted");
                    } else {
                        tracing::warn!(status = code, error = %e, bytes = body.len(),
                            "notifications refused");
                    }
                    status(code)
                }
            }
        }
        _ => status(405),
    }
}
