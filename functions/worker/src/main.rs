//! The worker function: a batch from the work queue, with partial batch failures.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    fitbridge::wiring::init_telemetry("worker");
    let consumer = fitbridge::wiring::worker_function().await?;
    let consumer = &consumer;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let answer = consumer.handle(event.payload);
        Ok::<SqsBatchResponse, Error>(fitbridge::telemetry::flushed(answer).await)
    }))
    .await
}
