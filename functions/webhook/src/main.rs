//! The webhook function: `GET|POST /webhooks/{provider}`. Verifies, queues, answers.

use fitbridge::config::QueueSettings;
use fitbridge::provider::registry::ProviderSettings;
use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    fitbridge::telemetry::init();
    let providers = ProviderSettings::from_env()?;
    let queue = QueueSettings::from_env()?;
    let aws = fitbridge::wiring::aws_config().await;
    let service = fitbridge::wiring::webhook_service(&aws, &providers, &queue.work_queue_url);
    let service = &service;
    run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(fitbridge::api::webhook::handle(service, request).await)
    }))
    .await
}
