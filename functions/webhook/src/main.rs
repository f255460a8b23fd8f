//! The webhook function: `GET|POST /webhooks/{provider}`. Verifies, queues, answers.

use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    fitbridge::telemetry::init("webhook");
    let service = fitbridge::wiring::webhook_function().await?;
    let service = &service;
    run(service_fn(move |request: Request| async move {
        let answer = fitbridge::api::webhook::handle(service, request);
        Ok::<_, Error>(fitbridge::telemetry::flushed(answer).await)
    }))
    .await
}
