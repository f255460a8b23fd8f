//! The OAuth function: `GET /connect/{provider}` and `GET /oauth/callback/{provider}`.

use fitbridge::wiring::{self, OAuthSettings};
use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    fitbridge::telemetry::init();
    let settings = OAuthSettings::from_env()?;
    let service = wiring::connect_service(&wiring::aws_config().await, settings);
    let service = &service;
    run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(fitbridge::api::oauth::handle(service, request).await)
    }))
    .await
}
