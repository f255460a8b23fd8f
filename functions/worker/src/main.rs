//! The worker function: a batch from the work queue, with partial batch failures.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use fitbridge::wiring::{self, PipelineSettings};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    fitbridge::telemetry::init();
    let settings = PipelineSettings::worker_from_env()?;
    let consumer = wiring::work_consumer(&wiring::aws_config().await, settings)?;
    let consumer = &consumer;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(consumer.handle(event.payload).await)
    }))
    .await
}
