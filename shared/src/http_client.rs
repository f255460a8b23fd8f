//! The process's HTTP clients. One HTTP stack for everything: reqwest over rustls
//! (aws-lc-rs), trusting the Mozilla root programme's CAs compiled into the binary.
//!
//! - [`outbound`]: providers and SAP.
//! - [`aws`]: every AWS SDK client of the process (one connection pool, one TLS
//!   configuration), put into the `SdkConfig` by [`crate::wiring::aws_config`].
//!
//! Why compiled-in roots: loading the system's (rustls-native-certs) reads and parses the
//! CA bundle and every file of the certificate directory, once for each client that is
//! built, on every cold start. The compiled-in list costs nothing to read and is the same
//! on every image; a function never needs a private CA (AWS, the providers and SAP's cloud
//! hosts all have public certificates).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

/// The trusted roots: Mozilla's, as webpki-root-certs ships them.
fn roots() -> impl Iterator<Item = reqwest::Certificate> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|der| reqwest::Certificate::from_der(der).expect("webpki-root-certs are DER"))
}

/// A client builder with the settings every client of ours has: compiled-in roots, no
/// redirects followed (a redirect is the peer's answer), HTTP/1.1.
fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .tls_certs_only(roots())
        .redirect(reqwest::redirect::Policy::none())
}

/// The outbound HTTP client for providers and SAP. Timeouts stay well inside the Lambda
/// timeout so a slow peer produces a clear error instead of a killed invocation.
pub fn outbound() -> reqwest::Client {
    builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(8))
        .user_agent(concat!("fitbridge/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("static client configuration is valid")
}

/// The HTTP client of the AWS SDK. `connect_timeout` is the one the SDK's timeout
/// configuration asks for: its client is built here, before the first request.
pub fn aws(connect_timeout: Duration) -> SharedHttpClient {
    let client = AwsHttpClient::default();
    client.connector(Some(connect_timeout), None);
    SharedHttpClient::new(client)
}

/// The AWS SDK's HTTP client over reqwest: one reqwest client per (connect, read) timeout
/// pair the SDK asks for — in practice one, shared by every SDK client of the process.
/// The SDK's own attempt and operation timeouts, retries and signing are unchanged: this is
/// only the transport.
#[derive(Debug, Default)]
struct AwsHttpClient {
    connectors: Mutex<HashMap<Timeouts, SharedHttpConnector>>,
}

/// The SDK's connect and read timeouts.
type Timeouts = (Option<Duration>, Option<Duration>);

impl AwsHttpClient {
    fn connector(
        &self,
        connect_timeout: Option<Duration>,
        read_timeout: Option<Duration>,
    ) -> SharedHttpConnector {
        let mut connectors = self.connectors.lock().unwrap_or_else(|e| e.into_inner());
        connectors
            .entry((connect_timeout, read_timeout))
            .or_insert_with(|| {
                let mut builder = builder();
                if let Some(t) = connect_timeout {
                    builder = builder.connect_timeout(t);
                }
                if let Some(t) = read_timeout {
                    builder = builder.read_timeout(t);
                }
                SharedHttpConnector::new(ReqwestConnector(
                    builder
                        .build()
                        .expect("static client configuration is valid"),
                ))
            })
            .clone()
    }
}

impl HttpClient for AwsHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.connector(settings.connect_timeout(), settings.read_timeout())
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("reqwest", Some("0.13".into())))
    }
}

#[derive(Debug)]
struct ReqwestConnector(reqwest::Client);

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.0.clone();
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::user(e.into()))?
                // The SDK's requests here are in memory; a streaming one streams.
                .map(|body| match body.bytes() {
                    Some(bytes) => reqwest::Body::from(bytes.to_vec()),
                    None => reqwest::Body::wrap(body),
                });
            let request =
                reqwest::Request::try_from(request).map_err(|e| ConnectorError::user(e.into()))?;
            let response = client.execute(request).await.map_err(connector_error)?;
            let response = http::Response::from(response).map(SdkBody::from_body_1_x);
            HttpResponse::try_from(response).map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// How the SDK's retry policy sees a transport failure: timeouts and I/O failures (refused,
/// reset, closed) are transient and retried, as with the SDK's own hyper client.
fn connector_error(e: reqwest::Error) -> ConnectorError {
    if e.is_timeout() {
        ConnectorError::timeout(e.into())
    } else if e.is_connect() || e.is_request() || e.is_body() {
        ConnectorError::io(e.into())
    } else if e.is_builder() {
        ConnectorError::user(e.into())
    } else {
        ConnectorError::other(e.into(), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_roots_are_usable() {
        assert!(roots().count() > 100);
        let _ = outbound();
        let _ = aws(Duration::from_secs(1));
    }

    #[test]
    fn one_connector_per_timeout_pair() {
        let client = AwsHttpClient::default();
        let a = client.connector(Some(Duration::from_secs(1)), None);
        let b = client.connector(Some(Duration::from_secs(1)), None);
        let c = client.connector(Some(Duration::from_secs(2)), None);
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert_eq!(client.connectors.lock().unwrap().len(), 2);
        drop(c);
    }

    #[tokio::test]
    async fn a_request_goes_through_and_a_refused_connection_is_transient() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await.unwrap();
            socket
                .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
        });
        let client = AwsHttpClient::default();
        let connector = client.connector(Some(Duration::from_secs(1)), None);
        let response = connector
            .call(HttpRequest::get(format!("http://{addr}/")).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 204);

        // Nothing listens there any more: a transient I/O failure, which the SDK retries.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", closed.local_addr().unwrap());
        drop(closed);
        let err = connector
            .call(HttpRequest::get(url.as_str()).unwrap())
            .await
            .unwrap_err();
        assert!(err.is_io() || err.is_timeout(), "{err:?}");
    }
}
