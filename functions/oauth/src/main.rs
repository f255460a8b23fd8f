//! The OAuth function: `GET /connect/{provider}` and `GET /oauth/callback/{provider}`.

use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    fitbridge::telemetry::init();
    let service = fitbridge::wiring::oauth_function().await?;
    let service = &service;
    run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(fitbridge::api::oauth::handle(service, request).await)
    }))
    .await
}
