//! SAP Marketing Cloud over OData V2: the HTTP session with its CSRF token, the `$batch`
//! codec, and the contact adapters (`API_MKT_CONTACT_SRV` and `CUAN_IMPORT_SRV`).
//! Wire facts: `tests/contracts/FACTS.md` §3; contracts: `tests/contracts/sap-marketing/`.

use std::collections::HashMap;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use settings::SapSettings;
use time::OffsetDateTime;
use tokio::sync::Mutex;

use crate::ports::clock::SharedClock;
use crate::ports::marketing::MarketingError;
use crate::secret_store::{SapCredentials, SecretCache};
use crate::telemetry::metric;

pub mod batch;
mod contact;
mod cuan;
mod interaction;
pub mod settings;
mod signals;

pub use contact::ContactServiceSink;
pub use cuan::CuanImportSink;
pub use interaction::InteractionServiceSink;
pub use signals::SapSignalSink;

pub const CONTACT_SERVICE: &str = "API_MKT_CONTACT_SRV;v=0004";
pub const INTERACTION_SERVICE: &str = "API_MKT_INTERACTION_SRV";
pub const CUAN_SERVICE: &str = "CUAN_IMPORT_SRV";

/// The CSRF token and the cookies of the session it belongs to. SAP checks both on
/// every write, and forgets them after 30 minutes idle.
#[derive(Clone)]
struct CsrfSession {
    token: String,
    cookies: String,
}

/// HTTP access to one tenant. Built once per container; keeps one CSRF session per
/// service so warm invocations skip the fetch.
pub struct SapClient {
    http: reqwest::Client,
    settings: SapSettings,
    secrets: Arc<SecretCache>,
    sessions: Mutex<HashMap<&'static str, CsrfSession>>,
    /// What change times are stamped with.
    clock: SharedClock,
}

impl SapClient {
    pub fn new(
        http: reqwest::Client,
        settings: SapSettings,
        secrets: Arc<SecretCache>,
        clock: SharedClock,
    ) -> Self {
        SapClient {
            http,
            settings,
            secrets,
            sessions: Mutex::new(HashMap::new()),
            clock,
        }
    }

    /// Now, as change times are stamped.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub fn settings(&self) -> &SapSettings {
        &self.settings
    }

    fn service_url(&self, service: &str, path: &str) -> String {
        format!(
            "{}/sap/opu/odata/sap/{service}/{path}",
            self.settings.base_url.as_str().trim_end_matches('/')
        )
    }

    async fn basic_auth(&self) -> Result<String, MarketingError> {
        let c: SapCredentials = self.secrets.get(&self.settings.secret_id).await?;
        Ok(format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", c.username, c.password.expose()))
        ))
    }

    async fn fetch_session(&self, service: &'static str) -> Result<CsrfSession, MarketingError> {
        let response = self
            .http
            .get(self.service_url(service, ""))
            .header("Authorization", self.basic_auth().await?)
            .header("x-csrf-token", "Fetch")
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(transport_error)?;
        if !response.status().is_success() {
            return Err(status_error(response.status(), "CSRF token fetch"));
        }
        let token = response
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case("required"))
            .ok_or_else(|| MarketingError::Unavailable("no CSRF token in fetch answer".into()))?
            .to_owned();
        // Every cookie goes back: SAP ties the token to its session cookie and load
        // balancers add their own.
        let cookies = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        Ok(CsrfSession { token, cookies })
    }

    async fn session(
        &self,
        service: &'static str,
        renew: bool,
    ) -> Result<CsrfSession, MarketingError> {
        let mut sessions = self.sessions.lock().await;
        if !renew {
            if let Some(s) = sessions.get(service) {
                return Ok(s.clone());
            }
        }
        let fresh = self.fetch_session(service).await?;
        sessions.insert(service, fresh.clone());
        Ok(fresh)
    }

    /// Sends a write with the session's CSRF token. On `403` with `x-csrf-token: Required`
    /// (the session expired or was never valid) it fetches a new token and tries once more.
    async fn write(
        &self,
        service: &'static str,
        path: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, MarketingError> {
        let authorization = self.basic_auth().await?;
        let mut renew = false;
        loop {
            let session = self.session(service, renew).await?;
            let request = self
                .http
                .request(Method::POST, self.service_url(service, path))
                .header("Authorization", &authorization)
                .header("x-csrf-token", &session.token)
                .header("Cookie", &session.cookies);
            let response = build(request).send().await.map_err(transport_error)?;
            let csrf_required = response.status() == StatusCode::FORBIDDEN
                && response
                    .headers()
                    .get("x-csrf-token")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.eq_ignore_ascii_case("required"));
            if csrf_required && !renew {
                tracing::info!(service, "SAP CSRF token rejected; fetching a new one");
                renew = true;
                continue;
            }
            if csrf_required {
                return Err(MarketingError::Unavailable(
                    "CSRF token rejected twice in a row".into(),
                ));
            }
            return Ok(response);
        }
    }

    /// POSTs a `$batch` and decodes the per-changeset results.
    pub async fn batch(
        &self,
        service: &'static str,
        changesets: &[batch::Changeset],
    ) -> Result<Vec<batch::ChangesetResult>, MarketingError> {
        timed("batch", self.send_batch(service, changesets)).await
    }

    async fn send_batch(
        &self,
        service: &'static str,
        changesets: &[batch::Changeset],
    ) -> Result<Vec<batch::ChangesetResult>, MarketingError> {
        let encoded = batch::encode(changesets);
        let response = self
            .write(service, "$batch", |r| {
                r.header("Content-Type", &encoded.content_type)
                    .header("Accept", "application/json")
                    .body(encoded.body.clone())
            })
            .await?;
        let status = response.status();
        if !status.is_success() {
            return Err(status_error(status, "$batch"));
        }
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.text().await.map_err(transport_error)?;
        let results = batch::decode(&content_type, &body)
            .map_err(|e| MarketingError::Unavailable(format!("unreadable $batch answer: {e}")))?;
        if results.len() != changesets.len() {
            return Err(MarketingError::Unavailable(format!(
                "$batch answered {} changesets for {} sent",
                results.len(),
                changesets.len()
            )));
        }
        Ok(results)
    }

    /// GETs a resource (reads need no CSRF token) and returns its JSON.
    pub async fn get_json(
        &self,
        service: &'static str,
        path_and_query: &str,
    ) -> Result<serde_json::Value, MarketingError> {
        timed("read", self.read_json(service, path_and_query)).await
    }

    async fn read_json(
        &self,
        service: &'static str,
        path_and_query: &str,
    ) -> Result<serde_json::Value, MarketingError> {
        let response = self
            .http
            .get(self.service_url(service, path_and_query))
            .header("Authorization", self.basic_auth().await?)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        if !status.is_success() {
            return Err(status_error(status, "read"));
        }
        response.json().await.map_err(|e| {
            MarketingError::Unavailable(format!("unreadable answer: {}", e.without_url()))
        })
    }

    /// POSTs one JSON document (CUAN's deep insert).
    pub async fn post_json(
        &self,
        service: &'static str,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(), MarketingError> {
        timed("post", self.send_json(service, path, body)).await
    }

    async fn send_json(
        &self,
        service: &'static str,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(), MarketingError> {
        let response = self
            .write(service, path, |r| {
                r.header("Accept", "application/json").json(body)
            })
            .await?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        if status.is_client_error() {
            return Err(MarketingError::Rejected(format!(
                "HTTP {}: {}",
                status.as_u16(),
                batch::error_message(&text)
            )));
        }
        Err(status_error(status, path))
    }
}

/// Measures one SAP call (CSRF token fetches and the retry after a rejected token
/// included: what the caller waits for) as the `SapLatency` metric.
async fn timed<T>(call: &'static str, f: impl std::future::Future<Output = T>) -> T {
    let started = std::time::Instant::now();
    let answer = f.await;
    metrics::histogram!(metric::SAP_LATENCY, "Call" => call)
        .record(started.elapsed().as_secs_f64() * 1000.0);
    answer
}

fn transport_error(e: reqwest::Error) -> MarketingError {
    MarketingError::Unavailable(e.without_url().to_string())
}

fn status_error(status: StatusCode, what: &str) -> MarketingError {
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        MarketingError::Unavailable(format!("{what}: HTTP {}", status.as_u16()))
    } else {
        MarketingError::Rejected(format!("{what}: HTTP {}", status.as_u16()))
    }
}

/// OData V2 JSON date: `/Date(<ms since epoch>)/`.
pub fn odata_date(at: OffsetDateTime) -> String {
    format!("/Date({})/", at.unix_timestamp_nanos() / 1_000_000)
}

/// A string key inside an OData resource path: quotes doubled, then percent-encoded.
pub fn odata_key(value: &str) -> String {
    const KEY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    format!(
        "'{}'",
        percent_encoding::utf8_percent_encode(&value.replace('\'', "''"), KEY)
    )
}

/// Cuts a string to SAP's MaxLength (counted in characters) rather than failing the
/// whole contact over a long name.
pub fn fit(value: &str, max_chars: usize) -> String {
    value.chars().take(max_chars).collect()
}

/// A contact entity's fields, for the contact API and the CUAN import alike. A field the
/// profile lacks is left out rather than sent empty: an empty field would overwrite what
/// the tenant already holds.
#[derive(Default)]
pub(super) struct ContactFields(serde_json::Map<String, serde_json::Value>);

impl ContactFields {
    pub(super) fn set(&mut self, name: &str, value: serde_json::Value) {
        self.0.insert(name.into(), value);
    }

    /// A text field, cut to its MaxLength.
    pub(super) fn text(&mut self, name: &str, value: &Option<String>, max_chars: usize) {
        if let Some(v) = value {
            self.set(name, serde_json::json!(fit(v, max_chars)));
        }
    }

    /// A date field, as an OData date at midnight UTC.
    pub(super) fn date(&mut self, name: &str, value: Option<time::Date>) {
        if let Some(d) = value {
            self.set(
                name,
                serde_json::json!(odata_date(d.midnight().assume_utc())),
            );
        }
    }

    /// What both contact APIs name alike: a consumer and their names, each cut to the
    /// MaxLength both give it.
    pub(super) fn consumer_names(&mut self, p: &crate::domain::Profile) {
        self.set("IsConsumer", serde_json::json!(true));
        self.text("FullName", &p.full_name, 80);
        self.text("FirstName", &p.first_name, 40);
        self.text("LastName", &p.last_name, 40);
    }

    pub(super) fn into_value(self) -> serde_json::Value {
        serde_json::Value::Object(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_dates_are_odata_literals() {
        assert_eq!(odata_key("GGNJL9"), "'GGNJL9'");
        assert_eq!(odata_key("O'Brien 7"), "'O%27%27Brien%207'");
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert_eq!(odata_date(at), "/Date(1700000000000)/");
        assert_eq!(fit("Ünïcødé", 3), "Ünï");
    }
}
