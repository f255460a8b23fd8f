//! The daily job, invoked by its EventBridge schedule.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use fitbridge::config;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    fitbridge::telemetry::init("daily-sync");
    let table = config::table_name()?;
    let queue = config::QueueSettings::from_env()?;
    let segments = config::scan_segments()?;
    let aws = fitbridge::wiring::aws_config().await;
    let service = fitbridge::wiring::daily_service(&aws, &table, &queue.work_queue_url, segments);
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
