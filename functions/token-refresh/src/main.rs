//! The token-refresh function: a batch from the FIFO retry queue.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    fitbridge::wiring::init_telemetry("token-refresh");
    let consumer = fitbridge::wiring::token_refresh_function().await?;
    let consumer = &consumer;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = fitbridge::inbound::sqs::lambda_deadline(event.context.deadline);
        let answer = consumer.handle_until(event.payload, Some(deadline));
        Ok::<SqsBatchResponse, Error>(fitbridge::telemetry::flushed(answer).await)
    }))
    .await
}
