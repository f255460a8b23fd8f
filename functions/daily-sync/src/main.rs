//! The daily job, invoked by its EventBridge schedule.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    fitbridge::wiring::init_telemetry("daily-sync");
    let service = fitbridge::wiring::daily_function().await?;
    let service = &service;
    run(service_fn(
        move |_: LambdaEvent<EventBridgeEvent<serde_json::Value>>| async move {
            let report = fitbridge::telemetry::flushed(service.run()).await?;
            Ok::<_, Error>(serde_json::json!({
                "people": report.people, "queued": report.queued,
                "without_scopes": report.without_scopes,
            }))
        },
    ))
    .await
}
