//! The webhook function: `GET|POST /webhooks/{provider}`. Verifies, queues, answers.

use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    fitbridge::wiring::init_telemetry("webhook");
    let service = fitbridge::wiring::webhook_function().await?;
    let service = &service;
    run(service_fn(move |request: Request| async move {
        let answer = fitbridge::inbound::webhook::handle(service, request);
        Ok::<_, Error>(fitbridge::telemetry::flushed(answer).await)
    }))
    .await
}
