//! The OAuth function: `GET /connect/{provider}` and `GET /oauth/callback/{provider}`.

use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    fitbridge::wiring::init_telemetry("oauth");
    let service = fitbridge::wiring::oauth_function().await?;
    let service = &service;
    run(service_fn(move |request: Request| async move {
        let answer = fitbridge::inbound::oauth::handle(service, request);
        Ok::<_, Error>(fitbridge::telemetry::flushed(answer).await)
    }))
    .await
}
