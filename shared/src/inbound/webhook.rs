//! `GET|POST /webhooks/{provider}`: API Gateway requests in, status-only responses out.

use lambda_http::{Body, Request, RequestExt, Response};

use crate::domain::ProviderKind;
use crate::ports::provider::WebhookRequest;
use crate::use_cases::webhook::{Accepted, WebhookError, WebhookService};

fn status(code: u16) -> Response<Body> {
    Response::builder()
        .status(code)
        .body(Body::Empty)
        .expect("a status-only response is valid")
}

/// The one entry point of the webhook function.
pub async fn handle(service: &WebhookService, request: Request) -> Response<Body> {
    let Some(kind) = request
        .uri()
        .path()
        .strip_prefix("/webhooks/")
        .and_then(|p| p.parse::<ProviderKind>().ok())
    else {
        return status(404);
    };
    let query: Vec<(String, String)> = request
        .query_string_parameters()
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    // lambda_http has already undone API Gateway's base64: these are the bytes the
    // provider signed.
    let body: &[u8] = request.body().as_ref();
    let delivery = WebhookRequest {
        method: request.method().as_str(),
        query: &query,
        headers: &headers,
        body,
    };
    match service.receive(kind, &delivery).await {
        Ok(accepted) => {
            match &accepted {
                Accepted::Handshake { status } => {
                    tracing::info!(provider = %kind, status, "webhook handshake answered")
                }
                Accepted::Notifications {
                    received,
                    queued,
                    skipped,
                    ignored,
                    ..
                // Debug, not info: a delivery's outcome is already in the access log
                // (status) and the metrics (by reason), and this line, one per delivery, was
                // most of a person's log bytes. `LogLevel: debug` brings it back.
                } => tracing::debug!(
                    provider = %kind,
                    received,
                    queued,
                    skipped,
                    ignored,
                    "notifications queued"
                ),
            }
            status(accepted.status())
        }
        Err(e) => {
            let code = e.status();
            if code >= 500 {
                tracing::error!(provider = %kind, status = code, error = %e,
                    "notifications not accepted");
            } else if !matches!(e, WebhookError::UnknownProvider) {
                tracing::warn!(provider = %kind, status = code, error = %e, bytes = body.len(),
                    "notifications refused");
            }
            status(code)
        }
    }
}
