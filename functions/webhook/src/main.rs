//! The webhook function: `GET|POST /webhooks/{provider}`. Verifies, queues, answers.

use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    fitbridge::telemetry::init();
    let service = fitbridge::wiring::webhook_function().await?;
    let service = &service;
    run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(fitbridge::api::webhook::handle(service, request).await)
    }))
    .await
}
