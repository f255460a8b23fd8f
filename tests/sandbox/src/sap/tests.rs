//! End-to-end tests of the SAP sandbox over HTTP, as a client on the wire sees it.

use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, SET_COOKIE, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::multipart::{parse_batch_response, HttpMessage, ParsedResponsePart};
use super::*;
use crate::{Sandbox, SandboxConfig};

/// Interaction updates, filtered reads, batches of many changesets and their counters.
mod interactions;
/// Marketing attributes of contacts: deep upsert, delete, reads.
mod marketing_attributes;

const USER: &str = "FITBRIDGE_COMM";
const PASSWORD: &str = "sandbox-sap-password";

async fn start() -> Sandbox {
    start_with(SapConfig::default()).await
}

async fn start_with(sap: SapConfig) -> Sandbox {
    let config = SandboxConfig {
        sap,
        ..Default::default()
    };
    Sandbox::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// A minimal OData client that keeps the CSRF token and the session cookies.
struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    cookies: String,
}

impl Client {
    fn new(sandbox: &Sandbox) -> Self {
        Client {
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            base: sandbox.base_url.clone(),
            token: String::new(),
            cookies: String::new(),
        }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .basic_auth(USER, Some(PASSWORD));
        if !self.cookies.is_empty() {
            request = request.header("Cookie", &self.cookies);
        }
        request
    }

    /// Fetches a token from the service root, keeping token and cookies.
    async fn fetch(&mut self, service: &str) -> reqwest::Response {
        let response = self
            .request(Method::GET, &format!("{service}/"))
            .header("x-csrf-token", "Fetch")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        self.token = header(&response, "x-csrf-token").unwrap();
        let new_cookies: Vec<String> = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
            .collect();
        if !new_cookies.is_empty() {
            self.cookies = new_cookies.join("; ");
        }
        response
    }

    fn write(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.request(method, path)
            .header("x-csrf-token", &self.token)
    }

    async fn batch(&self, service: &str, body: String) -> BatchResult {
        let response = self
            .write(Method::POST, &format!("{service}/$batch"))
            .header(CONTENT_TYPE, "multipart/mixed; boundary=batch_test")
            .body(body)
            .send()
            .await
            .unwrap();
        BatchResult::read(response).await
    }
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

struct BatchResult {
    status: StatusCode,
    content_type: String,
    body: String,
}

impl BatchResult {
    async fn read(response: reqwest::Response) -> Self {
        BatchResult {
            status: response.status(),
            content_type: header(&response, "content-type").unwrap_or_default(),
            body: response.text().await.unwrap(),
        }
    }

    fn parts(&self) -> Vec<ParsedResponsePart> {
        assert_eq!(self.status, StatusCode::ACCEPTED, "{}", self.body);
        parse_batch_response(&self.content_type, &self.body).unwrap()
    }

    /// Per top-level part: the statuses of a changeset's operations, or `[status]` of a single
    /// response (a retrieval or a failed changeset, told apart by `failed`).
    fn statuses(&self) -> Vec<(bool, Vec<u16>)> {
        self.parts()
            .iter()
            .map(|part| match part {
                ParsedResponsePart::Changeset(ops) => {
                    (false, ops.iter().map(HttpMessage::status).collect())
                }
                ParsedResponsePart::Single(message) => (true, vec![message.status()]),
            })
            .collect()
    }

    fn single(&self, index: usize) -> HttpMessage {
        match &self.parts()[index] {
            ParsedResponsePart::Single(message) => message.clone(),
            other => panic!("part {index} is {other:?}"),
        }
    }
}

struct Op {
    method: &'static str,
    url: String,
    body: Option<Value>,
}

fn op(method: &'static str, url: &str, body: Value) -> Op {
    Op {
        method,
        url: url.to_string(),
        body: Some(body),
    }
}

fn contact(id: &str) -> Value {
    json!({
        "ContactOrigin": "FITBIT",
        "ContactID": id,
        "OriginDataLastChgUTCDateTime": "/Date(1763596800000+0000)/",
        "FirstName": "Ann",
        "LastName": "Lee",
        "EmailAddress": "ann@example.com",
        "Country": "DE",
        "GenderCode": "2",
        "BirthDate": "1990-05-17T00:00:00",
    })
}

fn put_contact(id: &str, body: Value) -> Op {
    op(
        "PUT",
        &format!("ContactOriginData(ContactOrigin='FITBIT',ContactID='{id}')"),
        body,
    )
}

fn put_additional_id(id: &str, email: &str) -> Op {
    let url = format!(
        "AdditionalIDs(ContactOrigin='FITBIT',ContactID='{id}',InteractionContactAdditionalOrigin='EMAIL',InteractionContactAdditionalExternalID='{}')",
        email.replace('@', "%40")
    );
    op("PUT", &url, json!({}))
}

fn interaction(user: &str, date: &str) -> Value {
    json!({
        "InteractionContactOrigin": "FITBIT",
        "InteractionContactId": user,
        "CommunicationMedium": "FITBIT",
        "InteractionType": "FITBIT_DAILY",
        "InteractionTimeStampUTC": format!("{date}T00:00:00"),
        "InteractionSourceObjectType": "FITBIT_DAY",
        "InteractionSourceObject": format!("{user}-{date}-steps"),
        "YY1_FitbitNumberofStep_MIA": "10432",
        "YY1_FitbitAmountofCalo_MIA": 2311,
    })
}

/// A `$batch` body with one changeset per entry, CRLF line endings as on the wire.
fn batch_body(changesets: &[Vec<Op>]) -> String {
    let mut body = String::new();
    for (i, ops) in changesets.iter().enumerate() {
        body.push_str(&format!(
            "--batch_test\r\nContent-Type: multipart/mixed; boundary=changeset_{i}\r\n\r\n"
        ));
        for (n, op) in ops.iter().enumerate() {
            body.push_str(&format!(
                "--changeset_{i}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {n}\r\n\r\n"
            ));
            body.push_str(&format!(
                "{} {} HTTP/1.1\r\nContent-Type: application/json\r\nAccept: application/json\r\n\
                 Sap-Cuan-SourceSystemType: EXT\r\nSap-Cuan-SourceSystemId: FITBRIDGE\r\n\r\n",
                op.method, op.url
            ));
            if let Some(json) = &op.body {
                body.push_str(&json.to_string());
            }
            body.push_str("\r\n");
        }
        body.push_str(&format!("--changeset_{i}--\r\n\r\n"));
    }
    body.push_str("--batch_test--\r\n");
    body
}

fn error_of(message: &HttpMessage) -> (String, String) {
    let body: Value = serde_json::from_str(&message.body).unwrap();
    (
        body["error"]["code"].as_str().unwrap().to_string(),
        body["error"]["message"]["value"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

#[tokio::test]
async fn basic_auth_is_required() {
    let sandbox = start().await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("{}{CONTACT_SERVICE_PATH}/", sandbox.base_url);
    let response = http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = header(&response, WWW_AUTHENTICATE.as_str()).unwrap();
    assert!(
        challenge.starts_with("Basic realm=\"SAP NetWeaver Application Server ["),
        "{challenge}"
    );
    let response = http
        .get(&url)
        .basic_auth(USER, Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = http
        .get(&url)
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(sandbox.sap.stats().auth_failures, 2);
}

#[tokio::test]
async fn csrf_token_fetch_and_validation() {
    let sandbox = start().await;
    let mut client = Client::new(&sandbox);
    let response = client.fetch(CONTACT_SERVICE_PATH).await;
    let cookies: Vec<String> = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("SAP_SESSIONID_FBS_100=") && c.contains("HttpOnly")),
        "{cookies:?}"
    );
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("sap-usercontext=sap-client=100")),
        "{cookies:?}"
    );
    assert!(!client.token.is_empty() && client.token != "Fetch");
    // The service document (AtomPub by default) lists the entity sets.
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("<app:collection href=\"ContactOriginData\">"));

    let body = || batch_body(&[vec![put_contact("A1", contact("A1"))]]);
    let batch_url = format!("{CONTACT_SERVICE_PATH}/$batch");
    let with_cookie_without_token = client
        .request(Method::POST, &batch_url)
        .header(CONTENT_TYPE, "multipart/mixed; boundary=batch_test")
        .body(body());
    let with_token_without_cookie = client
        .http
        .post(format!("{}{batch_url}", client.base))
        .basic_auth(USER, Some(PASSWORD))
        .header("x-csrf-token", &client.token)
        .header(CONTENT_TYPE, "multipart/mixed; boundary=batch_test")
        .body(body());
    let with_wrong_token = client
        .request(Method::POST, &batch_url)
        .header("x-csrf-token", "d3JvbmcgdG9rZW4=")
        .header(CONTENT_TYPE, "multipart/mixed; boundary=batch_test")
        .body(body());
    for request in [
        with_cookie_without_token,
        with_token_without_cookie,
        with_wrong_token,
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            header(&response, "x-csrf-token").as_deref(),
            Some("Required")
        );
        assert_eq!(
            response.text().await.unwrap(),
            "CSRF token validation failed"
        );
    }
    assert!(sandbox.sap.contacts().is_empty());

    let result = client.batch(CONTACT_SERVICE_PATH, body()).await;
    assert_eq!(result.statuses(), [(false, vec![204])]);

    // A second fetch in the same session returns the same token and sets no new cookie.
    let token = client.token.clone();
    let response = client.fetch(CONTACT_SERVICE_PATH).await;
    assert_eq!(client.token, token);
    assert!(response.headers().get(SET_COOKIE).is_none());

    // Writes to a direct entity URL need the token as well.
    let response = client
        .request(
            Method::PUT,
            &format!(
                "{CONTACT_SERVICE_PATH}/ContactOriginData(ContactOrigin='FITBIT',ContactID='A2')"
            ),
        )
        .json(&contact("A2"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let stats = sandbox.sap.stats();
    assert_eq!(
        (
            stats.csrf_fetches,
            stats.sessions_created,
            stats.csrf_rejections
        ),
        (2, 1, 4)
    );
}

#[tokio::test]
async fn expired_sessions_require_a_new_token() {
    let sandbox = start().await;
    let mut client = Client::new(&sandbox);
    client.fetch(CONTACT_SERVICE_PATH).await;
    let body = || batch_body(&[vec![put_contact("A1", contact("A1"))]]);
    assert_eq!(
        client.batch(CONTACT_SERVICE_PATH, body()).await.status,
        StatusCode::ACCEPTED
    );

    sandbox.sap.expire_sessions();
    let result = client.batch(CONTACT_SERVICE_PATH, body()).await;
    assert_eq!(result.status, StatusCode::FORBIDDEN);
    assert_eq!(result.body, "CSRF token validation failed");

    // Fetching again opens a new session with a new cookie.
    let old_cookies = client.cookies.clone();
    client.fetch(CONTACT_SERVICE_PATH).await;
    assert_ne!(client.cookies, old_cookies);
    assert_eq!(
        client.batch(CONTACT_SERVICE_PATH, body()).await.status,
        StatusCode::ACCEPTED
    );

    // The same through the admin API.
    let admin = reqwest::Client::builder().no_proxy().build().unwrap();
    let response = admin
        .post(format!("{}/_admin/sap/expire-sessions", sandbox.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        client.batch(CONTACT_SERVICE_PATH, body()).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn idle_sessions_expire_and_requests_keep_them_alive() {
    let sandbox = start_with(SapConfig {
        session_idle_secs: 1,
        ..SapConfig::default()
    })
    .await;
    let mut client = Client::new(&sandbox);
    client.fetch(INTERACTION_SERVICE_PATH).await;
    let body = || {
        batch_body(&[vec![op(
            "POST",
            "Interactions",
            interaction("U1", "2026-11-20"),
        )]])
    };

    // Any request with the session cookie refreshes the idle time.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let response = client
        .request(
            Method::GET,
            &format!("{INTERACTION_SERVICE_PATH}/$metadata"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        client.batch(INTERACTION_SERVICE_PATH, body()).await.status,
        StatusCode::ACCEPTED
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let result = client.batch(INTERACTION_SERVICE_PATH, body()).await;
    assert_eq!(result.status, StatusCode::FORBIDDEN);
    assert_eq!(sandbox.sap.interactions().len(), 1);
}

#[tokio::test]
async fn services_metadata_and_versions() {
    let sandbox = start().await;
    let client = Client::new(&sandbox);
    let get = |path: String| client.request(Method::GET, &path).send();

    let metadata = get(format!("{INTERACTION_SERVICE_PATH}/$metadata"))
        .await
        .unwrap();
    assert_eq!(metadata.status(), StatusCode::OK);
    let metadata = metadata.text().await.unwrap();
    assert!(metadata.contains("<Property Name=\"YY1_FitbitNumberofStep_MIA\" Type=\"Edm.Decimal\""));
    assert!(roxmltree::Document::parse(&metadata).is_ok());

    let document = client
        .request(
            Method::GET,
            "/sap/opu/odata/sap/API_MKT_CONTACT_SRV;v=0002/",
        )
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(document.status(), StatusCode::OK);
    let document: Value = document.json().await.unwrap();
    assert!(document["d"]["EntitySets"]
        .as_array()
        .unwrap()
        .contains(&json!("AdditionalIDs")));

    for missing in [
        "/sap/opu/odata/sap/API_MKT_CONTACT_SRV/",
        "/sap/opu/odata/sap/NOPE_SRV/$metadata",
    ] {
        let response = get(missing.to_string()).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{missing}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "/IWFND/MED/170");
    }
    let response = get(format!("{CONTACT_SERVICE_PATH}/Nope")).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn contact_upsert_never_duplicates() {
    let sandbox = start().await;
    let mut client = Client::new(&sandbox);
    client.fetch(CONTACT_SERVICE_PATH).await;

    let first = client
        .batch(
            CONTACT_SERVICE_PATH,
            batch_body(&[vec![
                put_contact("GGNJL9", contact("GGNJL9")),
                put_additional_id("GGNJL9", "ann@example.com"),
            ]]),
        )
        .await;
    assert!(
        first
            .content_type
            .starts_with("multipart/mixed; boundary=batch_"),
        "{}",
        first.content_type
    );
    assert!(first.body.contains("\r\nHTTP/1.1 204 No Content\r\n"));
    assert_eq!(first.statuses(), [(false, vec![204, 204])]);

    // Reconnecting sends the same contact again, with a changed name and without the email.
    let mut again = contact("GGNJL9");
    again["FirstName"] = json!("Anna");
    again.as_object_mut().unwrap().remove("EmailAddress");
    let second = client
        .batch(
            CONTACT_SERVICE_PATH,
            batch_body(&[vec![
                put_contact("GGNJL9", again),
                put_additional_id("GGNJL9", "ann@example.com"),
            ]]),
        )
        .await;
    assert_eq!(second.statuses(), [(false, vec![204, 204])]);

    let contacts = sandbox.sap.contacts();
    assert_eq!(contacts.len(), 1);
    let stored = &contacts[0];
    assert_eq!(
        (stored.origin.as_str(), stored.id.as_str()),
        ("FITBIT", "GGNJL9")
    );
    assert_eq!(stored.write_count, 2);
    assert_eq!(stored.field_str("FirstName"), Some("Anna"));
    assert_eq!(stored.field_str("EmailAddress"), Some("ann@example.com"));
    assert_eq!(
        stored.additional_ids,
        [AdditionalId {
            origin: "EMAIL".into(),
            id: "ann@example.com".into()
        }]
    );
    assert_eq!(stored.source_system_type.as_deref(), Some("EXT"));
    assert_eq!(stored.source_system_id.as_deref(), Some("FITBRIDGE"));
    assert_eq!(stored.via, "API_MKT_CONTACT_SRV");

    // MERGE (tunnelled through POST) and PATCH update an existing contact only.
    let response = client
        .write(Method::POST, &format!("{CONTACT_SERVICE_PATH}/ContactOriginData(ContactOrigin='FITBIT',ContactID='GGNJL9')"))
        .header("X-HTTP-Method", "MERGE")
        .json(&json!({"LastName": "Li"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = client
        .write(
            Method::PATCH,
            &format!(
                "{CONTACT_SERVICE_PATH}/ContactOriginData(ContactOrigin='FITBIT',ContactID='NOPE')"
            ),
        )
        .json(&json!({"LastName": "Li"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(sandbox.sap.contacts().len(), 1);

    // The stored contact reads back in OData V2 JSON.
    let read: Value = client
        .request(Method::GET, &format!("{CONTACT_SERVICE_PATH}/ContactOriginData(ContactOrigin='FITBIT',ContactID='GGNJL9')"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["d"]["LastName"], "Li");
    assert_eq!(
        read["d"]["__metadata"]["type"],
        "API_MKT_CONTACT_SRV.ContactOriginData"
    );
}

#[tokio::test]
async fn failed_changeset_is_rolled_back_and_others_apply() {
    let sandbox = start().await;
    let mut client = Client::new(&sandbox);
    client.fetch(CONTACT_SERVICE_PATH).await;
    let mut invalid = contact("B2");
    invalid["Foo"] = json!("bar");
    let result = client
        .batch(
            CONTACT_SERVICE_PATH,
            batch_body(&[
                vec![put_contact("A1", contact("A1")), put_contact("B2", invalid)],
                vec![put_contact("C3", contact("C3"))],
            ]),
        )
        .await;
    assert_eq!(result.statuses(), [(true, vec![400]), (false, vec![204])]);
    let (code, message) = error_of(&result.single(0));
    assert_eq!(code, "/IWBEP/CM_MGW_RT/020");
    assert_eq!(message, "Property 'Foo' is invalid");
    let body: Value = serde_json::from_str(&result.single(0).body).unwrap();
    assert_eq!(
        body["error"]["innererror"]["errordetails"][0]["target"],
        "Foo"
    );
    assert_eq!(body["error"]["message"]["lang"], "en");

    let ids: Vec<String> = sandbox.sap.contacts().into_iter().map(|c| c.id).collect();
    assert_eq!(ids, ["C3"]);
    let stats = sandbox.sap.stats();
    assert_eq!(
        (
            stats.batches,
            stats.changesets_ok,
            stats.changesets_failed,
            stats.parts_ok,
            stats.parts_failed,
            stats.parts_rolled_back
        ),
        (1, 1, 1, 1, 1, 1)
    );
}

#[tokio::test]
async fn every_kind_of_validation_error_fails_its_part() {
    let sandbox = start().await;
    let mut client = Client::new(&sandbox);
    client.fetch(CONTACT_SERVICE_PATH).await;
    let with = |key: &str, value: Value| {
        let mut body = contact("A1");
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = contact("A1");
        body.as_object_mut().unwrap().remove(key);
        body
    };
    let cases: Vec<(Op, u16, &str, &str)> = vec![
        (
            put_contact("A1", with("Foo", json!(1))),
            400,
            "/IWBEP/CM_MGW_RT/020",
            "Property 'Foo' is invalid",
        ),
        (
            put_contact("A1", with("ContactID", json!("OTHER"))),
            400,
            "/IWBEP/CM_MGW_RT/020",
            "differs from the key in the URI",
        ),
        (
            op(
                "PUT",
                "ContactOriginData(ContactOrigin='FITBIT')",
                contact("A1"),
            ),
            400,
            "/IWBEP/CM_MGW_RT/020",
            "'ContactID' is missing",
        ),
        (
            put_contact("A1", with("FirstName", json!("x".repeat(41)))),
            400,
            "/IWBEP/CM_MGW_RT/020",
            "maximum length is 40",
        ),
        (
            put_contact("A1", with("IsConsumer", json!("yes"))),
            400,
            "/IWBEP/CM_MGW_RT/020",
            "'IsConsumer' of type Edm.Boolean",
        ),
        (
            put_contact("A1", with("FirstName", json!(7))),
            400,
            "/IWBEP/CM_MGW_RT/020",
            "'FirstName' of type Edm.String",
        ),
        (
            put_contact("A1", with("Latitude", json!("north"))),
            400,
            "/IWBEP/CM_MGW_RT/020",
            "'Latitude' of type Edm.Decimal",
        ),
        (
            put_contact("A1", with("BirthDate", json!("17.05.1990"))),
            400,
            "/IWBEP/CM_MGW_RT/020",
            "'BirthDate' of type Edm.DateTime",
        ),
        (
            put_contact("A1", without("OriginDataLastChgUTCDateTime")),
            400,
            "SY/530",
            "'OriginDataLastChgUTCDateTime' of entity type 'ContactOriginData' is mandatory",
        ),
        (
            put_additional_id("NOBODY", "x@example.com"),
            400,
            "SY/530",
            "does not exist",
        ),
        (
            op("POST", "ContactOriginData", contact("A1")),
            405,
            "/IWBEP/CM_MGW_RT/049",
            "not creatable",
        ),
        (
            op("PUT", "Nope(ContactID='1')", json!({})),
            404,
            "/IWBEP/CM_MGW_RT/021",
            "Resource not found for segment 'Nope'",
        ),
    ];
    let changesets: Vec<Vec<Op>> = cases
        .iter()
        .map(|(op, ..)| {
            vec![Op {
                method: op.method,
                url: op.url.clone(),
                body: op.body.clone(),
            }]
        })
        .collect();
    let result = client
        .batch(CONTACT_SERVICE_PATH, batch_body(&changesets))
        .await;
    for (i, (op, status, code, message)) in cases.iter().enumerate() {
        let part = result.single(i);
        assert_eq!(
            part.status(),
            *status,
            "{} {}: {}",
            op.method,
            op.url,
            part.body
        );
        let (actual_code, actual_message) = error_of(&part);
        assert_eq!(actual_code, *code, "{actual_message}");
        assert!(actual_message.contains(message), "{actual_message}");
    }
    assert!(sandbox.sap.contacts().is_empty());

    // Interaction types are checked too, including the tenant's extension fields.
    client.fetch(INTERACTION_SERVICE_PATH).await;
    let mut steps = interaction("U1", "2026-11-20");
    steps["YY1_FitbitNumberofStep_MIA"] = json!("ten thousand");
    let mut guid = interaction("U1", "2026-11-20");
    guid["InteractionUUID"] = json!("1234");
    let mut unknown_extension = interaction("U1", "2026-11-20");
    unknown_extension["YY1_Unknown_MIA"] = json!("1");
    let result = client
        .batch(
            INTERACTION_SERVICE_PATH,
            batch_body(&[
                vec![op("POST", "Interactions", steps)],
                vec![op("POST", "Interactions", guid)],
                vec![op("POST", "Interactions", unknown_extension)],
            ]),
        )
        .await;
    assert_eq!(
        result.statuses(),
        [(true, vec![400]), (true, vec![400]), (true, vec![400])]
    );
    assert!(error_of(&result.single(0))
        .1
        .contains("YY1_FitbitNumberofStep_MIA"));
    assert!(error_of(&result.single(1)).1.contains("Edm.Guid"));
    assert!(error_of(&result.single(2))
        .1
        .contains("Property 'YY1_Unknown_MIA' is invalid"));
    assert!(sandbox.sap.interactions().is_empty());
}

#[tokio::test]
async fn interaction_posts_are_not_idempotent() {
    let sandbox = start().await;
    let mut client = Client::new(&sandbox);
    client.fetch(INTERACTION_SERVICE_PATH).await;
    let day = interaction("GGNJL9", "2026-11-20");
    let result = client
        .batch(
            INTERACTION_SERVICE_PATH,
            batch_body(&[
                vec![op("POST", "Interactions", day.clone())],
                vec![op("POST", "Interactions", day.clone())],
            ]),
        )
        .await;
    assert_eq!(result.statuses(), [(false, vec![201]), (false, vec![201])]);
    let ParsedResponsePart::Changeset(ops) = &result.parts()[0] else {
        panic!()
    };
    let created: Value = serde_json::from_str(&ops[0].body).unwrap();
    let uuid = created["d"]["InteractionUUID"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(validate::is_guid(&uuid), "{uuid}");
    assert_eq!(
        created["d"]["InteractionSourceObject"],
        "GGNJL9-2026-11-20-steps"
    );
    assert_eq!(
        created["d"]["__metadata"]["type"],
        "API_MKT_INTERACTION_SRV.Interaction"
    );

    // Outside a batch as well.
    let response = client
        .write(
            Method::POST,
            &format!("{INTERACTION_SERVICE_PATH}/Interactions"),
        )
        .json(&day)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(header(&response, "location")
        .unwrap()
        .contains("/Interactions(guid'"));

    let interactions = sandbox.sap.interactions();
    assert_eq!(interactions.len(), 3);
    assert_eq!(interactions[0].uuid, uuid);
    assert!(interactions
        .iter()
        .all(|i| i.field_str("InteractionSourceObject") == Some("GGNJL9-2026-11-20-steps")));
    assert_ne!(interactions[0].uuid, interactions[1].uuid);
    assert_eq!(
        interactions[0].fields["YY1_FitbitAmountofCalo_MIA"],
        json!(2311)
    );
    assert_eq!(
        interactions[0].source_system_id.as_deref(),
        Some("FITBRIDGE")
    );
    assert_eq!(interactions[0].via, "API_MKT_INTERACTION_SRV");
}

#[tokio::test]
async fn cuan_import_upserts_contacts_and_appends_interactions() {
    let sandbox = start().await;
    let mut client = Client::new(&sandbox);
    client.fetch(IMPORT_SERVICE_PATH).await;
    let import = json!({
        "Id": "",
        "Timestamp": "/Date(1763596800000)/",
        "UserName": "FITBRIDGE",
        "SourceSystemType": "EXT",
        "SourceSystemId": "FITBRIDGE",
        "Contacts": [{
            "Id": "GGNJL9", "IdOrigin": "FITBIT", "Timestamp": "/Date(1763596800000)/",
            "FirstName": "Ann", "EMailAddress": "ann@example.com", "DateOfBirth": "/Date(643420800000)/",
            "CountryDescription": "DE", "LanguageDescription": "DE",
            "Facets": [{"Id": "ann@example.com", "IdOrigin": "EMAIL", "Timestamp": "/Date(1763596800000)/"}],
        }],
        "Interactions": [{
            "ContactId": "GGNJL9", "ContactIdOrigin": "FITBIT", "CommunicationMedium": "FITBIT",
            "InteractionType": "FITBIT_DAILY", "Timestamp": "/Date(1763596800000)/",
            "SourceObjectId": "GGNJL9-2026-11-20-steps", "YY1_FitbitNumberofStep_MIA": "10432",
        }],
    });
    let post = |body: &Value| {
        client
            .write(
                Method::POST,
                &format!("{IMPORT_SERVICE_PATH}/ImportHeaders"),
            )
            .json(body)
            .send()
    };
    let response = post(&import).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    assert!(!created["d"]["Id"].as_str().unwrap().is_empty());
    assert_eq!(created["d"]["Contacts"]["results"][0]["Id"], "GGNJL9");

    let mut again = import.clone();
    again["Contacts"][0]["FirstName"] = json!("Anna");
    assert_eq!(post(&again).await.unwrap().status(), StatusCode::CREATED);

    let contacts = sandbox.sap.contacts();
    assert_eq!(contacts.len(), 1);
    let stored = &contacts[0];
    assert_eq!(
        (
            stored.origin.as_str(),
            stored.id.as_str(),
            stored.write_count
        ),
        ("FITBIT", "GGNJL9", 2)
    );
    assert_eq!(stored.via, "CUAN_IMPORT_SRV");
    assert_eq!(stored.field_str("FirstName"), Some("Anna"));
    assert_eq!(stored.field_str("EMailAddress"), Some("ann@example.com"));
    assert_eq!(stored.field_str("EmailAddress"), Some("ann@example.com"));
    assert_eq!(stored.field_str("BirthDate"), Some("/Date(643420800000)/"));
    assert_eq!(stored.field_str("Country"), Some("DE"));
    assert_eq!(stored.field_str("Language"), Some("DE"));
    assert_eq!(
        stored.additional_ids,
        [AdditionalId {
            origin: "EMAIL".into(),
            id: "ann@example.com".into()
        }]
    );
    assert_eq!(stored.source_system_type.as_deref(), Some("EXT"));

    let interactions = sandbox.sap.interactions();
    assert_eq!(interactions.len(), 2);
    assert_eq!(interactions[0].via, "CUAN_IMPORT_SRV");
    assert_eq!(
        interactions[0].field_str("SourceObjectId"),
        Some("GGNJL9-2026-11-20-steps")
    );
    assert_eq!(
        interactions[0].field_str("InteractionSourceObject"),
        Some("GGNJL9-2026-11-20-steps")
    );
    assert_eq!(
        interactions[0].field_str("InteractionContactId"),
        Some("GGNJL9")
    );
    assert_eq!(
        interactions[0].import_header_id.as_deref(),
        created["d"]["Id"].as_str()
    );
    assert_eq!(sandbox.sap.stats().imports, 2);

    // An invalid deep insert stores nothing at all.
    let mut invalid = import.clone();
    invalid["Contacts"][0]["Id"] = json!("NEW");
    invalid["Interactions"][0]["Quantifier"] = json!("many");
    let response = post(&invalid).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error: Value = response.json().await.unwrap();
    assert!(error["error"]["message"]["value"]
        .as_str()
        .unwrap()
        .contains("'Quantifier'"));
    assert_eq!(
        (
            sandbox.sap.contacts().len(),
            sandbox.sap.interactions().len()
        ),
        (1, 2)
    );

    // It is a write like any other: no token, no import.
    let response = client
        .request(
            Method::POST,
            &format!("{IMPORT_SERVICE_PATH}/ImportHeaders"),
        )
        .json(&import)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

/// A batch written out literally, as a client builds it, in CRLF and in bare LF.
const LITERAL_BATCH: &str = "--batch_test\r
Content-Type: multipart/mixed; boundary=changeset_7f3a\r
\r
--changeset_7f3a\r
Content-Type: application/http\r
Content-Transfer-Encoding: binary\r
\r
PUT ContactOriginData(ContactOrigin='FITBIT',ContactID='O''Neil%2F7') HTTP/1.1\r
Content-Type: application/json\r
Sap-Cuan-SourceSystemType: EXT\r
Sap-Cuan-SourceSystemId: FITBRIDGE\r
\r
{\"ContactOrigin\":\"FITBIT\",\"ContactID\":\"O'Neil/7\",\"OriginDataLastChgUTCDateTime\":\"2026-11-20T08:00:00Z\"}\r
--changeset_7f3a--\r
\r
--batch_test\r
Content-Type: application/http\r
Content-Transfer-Encoding: binary\r
\r
GET ContactOriginData HTTP/1.1\r
Accept: application/json\r
\r
\r
--batch_test--\r
";

#[tokio::test]
async fn literal_multipart_with_crlf_or_lf() {
    let sandbox = start().await;
    let mut client = Client::new(&sandbox);
    client.fetch(CONTACT_SERVICE_PATH).await;
    for body in [
        LITERAL_BATCH.to_string(),
        LITERAL_BATCH.replace("\r\n", "\n"),
    ] {
        let result = client.batch(CONTACT_SERVICE_PATH, body).await;
        assert_eq!(
            result.statuses(),
            [(false, vec![204]), (true, vec![200])],
            "{}",
            result.body
        );
        // The response is strictly CRLF.
        assert!(
            !result.body.replace("\r\n", "").contains('\n'),
            "{}",
            result.body
        );
        let read: Value = serde_json::from_str(&result.single(1).body).unwrap();
        assert_eq!(read["d"]["results"][0]["ContactID"], "O'Neil/7");
    }
    let contacts = sandbox.sap.contacts();
    assert_eq!(contacts.len(), 1);
    assert_eq!(
        (contacts[0].id.as_str(), contacts[0].write_count),
        ("O'Neil/7", 2)
    );

    // A batch that is not well-formed is rejected as a whole.
    let result = client
        .batch(
            CONTACT_SERVICE_PATH,
            LITERAL_BATCH.replace("--batch_test--", ""),
        )
        .await;
    assert_eq!(result.status, StatusCode::BAD_REQUEST);
    let error: Value = serde_json::from_str(&result.body).unwrap();
    assert!(error["error"]["message"]["value"]
        .as_str()
        .unwrap()
        .contains("closing delimiter"));
}

#[tokio::test]
async fn injected_faults() {
    let sandbox = start().await;
    let admin = reqwest::Client::builder().no_proxy().build().unwrap();
    let faults_url = format!("{}/_admin/sap/faults", sandbox.base_url);
    let mut client = Client::new(&sandbox);

    let response = admin
        .post(&faults_url)
        .json(&json!({"fail_next_requests": 2, "status": 503}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    for _ in 0..2 {
        let response = client
            .request(Method::GET, &format!("{CONTACT_SERVICE_PATH}/"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "SANDBOX/INJECTED");
    }
    client.fetch(CONTACT_SERVICE_PATH).await;
    assert_eq!(sandbox.sap.stats().injected_failures, 2);

    let response = admin
        .post(&faults_url)
        .json(&json!({"fail_parts_matching": "GGNJL9", "part_status": 500}))
        .send()
        .await
        .unwrap();
    let faults: SapFaults = response.json().await.unwrap();
    assert_eq!(
        (faults.fail_parts_matching.as_deref(), faults.part_status),
        (Some("GGNJL9"), 500)
    );
    let result = client
        .batch(
            CONTACT_SERVICE_PATH,
            batch_body(&[
                vec![put_contact("GGNJL9", contact("GGNJL9"))],
                vec![put_contact("OTHER", contact("OTHER"))],
            ]),
        )
        .await;
    assert_eq!(result.statuses(), [(true, vec![500]), (false, vec![204])]);
    assert_eq!(error_of(&result.single(0)).0, "SANDBOX/INJECTED");
    assert_eq!(sandbox.sap.contacts().len(), 1);

    let response = admin
        .post(&faults_url)
        .json(&json!({"statuz": 500}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());

    let response = admin
        .post(&faults_url)
        .json(&json!({"latency_ms": 300}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let started = Instant::now();
    client
        .request(Method::GET, &format!("{CONTACT_SERVICE_PATH}/$metadata"))
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));

    let response = admin.delete(&faults_url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(sandbox.sap.faults(), SapFaults::default());
    let result = client
        .batch(
            CONTACT_SERVICE_PATH,
            batch_body(&[vec![put_contact("GGNJL9", contact("GGNJL9"))]]),
        )
        .await;
    assert_eq!(result.statuses(), [(false, vec![204])]);

    // The same through methods.
    sandbox.sap.fail_next_requests(1, 502);
    let response = client
        .request(Method::GET, &format!("{CONTACT_SERVICE_PATH}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    sandbox.sap.fail_parts_matching("OTHER", 400);
    let result = client
        .batch(
            CONTACT_SERVICE_PATH,
            batch_body(&[vec![put_contact("OTHER", contact("OTHER"))]]),
        )
        .await;
    assert_eq!(result.statuses(), [(true, vec![400])]);
}

#[tokio::test]
async fn raw_answers_replace_the_tenants_answers() {
    let sandbox = start().await;
    let admin = reqwest::Client::builder().no_proxy().build().unwrap();
    let faults_url = format!("{}/_admin/sap/faults", sandbox.base_url);
    let mut client = Client::new(&sandbox);

    // A proxy's HTML page for every request, the token fetch included.
    let page =
        "<html><head><title>503 Service Unavailable</title></head><body>Maintenance</body></html>";
    let response = admin
        .post(&faults_url)
        .json(&json!({"fail_next_requests": 1,
            "raw_answer": {"status": 503, "content_type": "text/html", "body": page}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = client
        .request(Method::GET, &format!("{CONTACT_SERVICE_PATH}/"))
        .header("x-csrf-token", "Fetch")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(header(&response, "x-csrf-token").is_none());
    assert_eq!(response.text().await.unwrap(), page);
    assert_eq!(sandbox.sap.faults(), SapFaults::default(), "used up");

    // Only `$batch` takes them: the token fetch before it goes through. Instead of
    // processing, nothing is applied.
    client.fetch(CONTACT_SERVICE_PATH).await;
    sandbox.sap.answer_next_requests(
        1,
        Some("$batch"),
        RawAnswer::new(200, "application/json", r#"{"d":{}}"#),
        false,
    );
    client.fetch(CONTACT_SERVICE_PATH).await;
    let result = client
        .batch(
            CONTACT_SERVICE_PATH,
            batch_body(&[vec![put_contact("RAW1", contact("RAW1"))]]),
        )
        .await;
    assert_eq!(
        (
            result.status,
            result.content_type.as_str(),
            result.body.as_str()
        ),
        (StatusCode::OK, "application/json", r#"{"d":{}}"#)
    );
    assert!(sandbox.sap.contacts().is_empty(), "not processed");

    // After processing: applied, and the answer cut short on its way back.
    let cut = "--batch_x\r\nContent-Type: multipart/mixed; boundary=changeset_y\r\n\r\n--changeset_y\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 201 Cre";
    sandbox.sap.answer_next_requests(
        1,
        Some("$batch"),
        RawAnswer::new(202, "multipart/mixed; boundary=batch_x", cut),
        true,
    );
    let result = client
        .batch(
            CONTACT_SERVICE_PATH,
            batch_body(&[vec![put_contact("RAW1", contact("RAW1"))]]),
        )
        .await;
    assert_eq!(
        (result.status, result.body.as_str()),
        (StatusCode::ACCEPTED, cut)
    );
    assert_eq!(sandbox.sap.contacts().len(), 1, "processed");
    assert_eq!(sandbox.sap.faults(), SapFaults::default());
    let result = client
        .batch(
            CONTACT_SERVICE_PATH,
            batch_body(&[vec![put_contact("RAW2", contact("RAW2"))]]),
        )
        .await;
    assert_eq!(result.statuses(), [(false, vec![204])]);

    // A CSRF rejection as a proxy in front would repeat it, with the tenant's header.
    sandbox.sap.answer_next_requests(
        1,
        Some("$batch"),
        RawAnswer::new(403, "text/plain", "CSRF token validation failed")
            .with_header("x-csrf-token", "Required"),
        false,
    );
    let result = client
        .batch(
            CONTACT_SERVICE_PATH,
            batch_body(&[vec![put_contact("RAW3", contact("RAW3"))]]),
        )
        .await;
    assert_eq!(result.status, StatusCode::FORBIDDEN);
    assert_eq!(sandbox.sap.stats().injected_failures, 4);

    // Answers that are no valid HTTP response are refused; statuses stay 4xx/5xx.
    for bad in [
        json!({"raw_answer": {"status": 1000, "content_type": "text/html", "body": ""}}),
        json!({"raw_answer": {"status": 502, "content_type": "a\nb", "body": ""}}),
        json!({"fail_requests_matching": "$batch", "status": 200}),
        json!({"answer_after_processing": "yes"}),
    ] {
        let response = admin.post(&faults_url).json(&bad).send().await.unwrap();
        assert!(response.status().is_client_error(), "{bad}");
    }
    // Without failures to answer, nothing is kept.
    let response = admin
        .post(&faults_url)
        .json(&json!({"fail_requests_matching": "$batch",
            "raw_answer": {"status": 502, "content_type": "text/html", "body": ""}}))
        .send()
        .await
        .unwrap();
    let faults: SapFaults = response.json().await.unwrap();
    assert_eq!(faults, SapFaults::default());
}

#[tokio::test]
async fn admin_api_inspects_and_resets() {
    let sandbox = start().await;
    let mut client = Client::new(&sandbox);
    client.fetch(CONTACT_SERVICE_PATH).await;
    client
        .batch(
            CONTACT_SERVICE_PATH,
            batch_body(&[vec![put_contact("A1", contact("A1"))]]),
        )
        .await;
    client.fetch(INTERACTION_SERVICE_PATH).await;
    client
        .batch(
            INTERACTION_SERVICE_PATH,
            batch_body(&[vec![op(
                "POST",
                "Interactions",
                interaction("A1", "2026-11-20"),
            )]]),
        )
        .await;

    let admin = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = |path: &str| {
        admin
            .get(format!("{}/_admin/sap/{path}", sandbox.base_url))
            .send()
    };
    let contacts: Value = get("contacts").await.unwrap().json().await.unwrap();
    assert_eq!(contacts[0]["origin"], "FITBIT");
    assert_eq!(contacts[0]["id"], "A1");
    assert_eq!(contacts[0]["fields"]["FirstName"], "Ann");
    assert_eq!(contacts[0]["via"], "API_MKT_CONTACT_SRV");
    assert_eq!(contacts[0]["write_count"], 1);
    let interactions: Value = get("interactions").await.unwrap().json().await.unwrap();
    assert_eq!(interactions[0]["fields"]["InteractionContactId"], "A1");
    assert!(interactions[0]["uuid"].is_string() && interactions[0]["received_at"].is_string());
    let stats: SapStats = get("stats").await.unwrap().json().await.unwrap();
    assert_eq!(
        (stats.batches, stats.parts_ok, stats.csrf_fetches),
        (2, 2, 2)
    );

    let response = admin
        .post(format!("{}/_admin/sap/reset", sandbox.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(sandbox.sap.contacts().is_empty() && sandbox.sap.interactions().is_empty());
    assert_eq!(sandbox.sap.stats(), SapStats::default());
    // Reset also ends the sessions.
    let result = client
        .batch(
            CONTACT_SERVICE_PATH,
            batch_body(&[vec![put_contact("A1", contact("A1"))]]),
        )
        .await;
    assert_eq!(result.status, StatusCode::FORBIDDEN);
}
