//! The webhook function: `GET|POST /webhooks/{provider}`. Verifies, queues, answers 204.

use fitbridge::config::FitbitSettings;
use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    fitbridge::telemetry::init();
    let fitbit = FitbitSettings::from_env()?;
    let queue = fitbridge::config::QueueSettings::from_env()?;
    let aws = fitbridge::wiring::aws_config().await;
    let service = fitbridge::wiring::webhook_service(&aws, fitbit.secret_id, &queue.work_queue_url);
    let service = &service;
    run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(fitbridge::api::webhook::handle(service, request).await)
    }))
    .await
}
