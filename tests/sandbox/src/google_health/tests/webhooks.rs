use std::sync::{Arc, Mutex};

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
use axum::extract::State as AxumState;
use axum::http::HeaderMap;
use axum::routing::post;

use super::*;
use crate::test_support::fetch_json;

const SECRET: &str = "Bearer hook-s3cret";

/// What a test endpoint received.
#[derive(Clone, Debug)]
struct Received {
    authorization: Option<String>,
    signature: Option<String>,
    legacy_signature: Option<String>,
    user_agent: Option<String>,
    body: String,
}

#[derive(Clone)]
struct Endpoint {
    received: Arc<Mutex<Vec<Received>>>,
    /// Answers 201 to both verification probes (does not check `Authorization`).
    careless: bool,
}

/// A subscriber endpoint as the guide asks for: 201 for the authorized probe, 401 without
/// the secret, 204 for notifications.
async fn start_endpoint(careless: bool) -> (String, Arc<Mutex<Vec<Received>>>) {
    async fn receive(
        AxumState(endpoint): AxumState<Endpoint>,
        headers: HeaderMap,
        body: String,
    ) -> StatusCode {
        let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
        let authorization = header("authorization");
        endpoint.received.lock().unwrap().push(Received {
            authorization: authorization.clone(),
            signature: header("google-health-api-signature"),
            legacy_signature: header("x-healthapi-signature"),
            user_agent: header("user-agent"),
            body: body.clone(),
        });
        if authorization.as_deref() != Some(SECRET) && !endpoint.careless {
            return StatusCode::UNAUTHORIZED;
        }
        if body.contains("\"verification\"") {
            StatusCode::CREATED
        } else {
            StatusCode::NO_CONTENT
        }
    }
    let endpoint = Endpoint {
        received: Arc::default(),
        careless,
    };
    let received = endpoint.received.clone();
    let app = Router::new()
        .route("/hooks/google-health", post(receive))
        .with_state(endpoint);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/hooks/google-health",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

/// A service-account access token with the cloud-platform scope, through the JWT bearer grant.
async fn service_account_token(sandbox: &Sandbox) -> String {
    let gh = sandbox.google_health.clone();
    let token_uri = format!("{}/token", sandbox.base_url);
    let key = tokio::task::spawn_blocking(move || gh.create_service_account(&token_uri))
        .await
        .unwrap();
    let assertion = key.sign_assertion(&[scopes::CLOUD_PLATFORM], sandbox.google_health.now());
    let response = client()
        .post(format!("{}/token", sandbox.base_url))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", &assertion),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

fn subscribers_path(sandbox: &Sandbox) -> String {
    format!(
        "/v4/projects/{}/subscribers",
        sandbox.google_health.config().project_number
    )
}

async fn create_subscriber(
    sandbox: &Sandbox,
    token: &str,
    id: &str,
    endpoint: &str,
    configs: Value,
) -> (StatusCode, Value) {
    api(
        sandbox,
        reqwest::Method::POST,
        token,
        &format!("{}?subscriberId={id}", subscribers_path(sandbox)),
        Some(json!({
            "endpointUri": endpoint,
            "subscriberConfigs": configs,
            "endpointAuthorization": { "secret": SECRET },
        })),
    )
    .await
}

/// The operation's `response` without its `@type`, validated as `schema`.
fn operation_response(operation: &Value, schema: &str) -> Value {
    valid("Operation", operation);
    assert_eq!(operation["done"], true, "{operation}");
    let mut response = operation["response"].clone();
    response.as_object_mut().unwrap().remove("@type");
    valid(schema, &response);
    response
}

/// Reads the length-delimited fields of a protobuf message (varints skipped).
fn proto_fields(mut bytes: &[u8]) -> Vec<(u64, Result<Vec<u8>, u64>)> {
    fn varint(bytes: &mut &[u8]) -> u64 {
        let mut value = 0;
        let mut shift = 0;
        loop {
            let b = bytes[0];
            *bytes = &bytes[1..];
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return value;
            }
            shift += 7;
        }
    }
    let mut fields = Vec::new();
    while !bytes.is_empty() {
        let tag = varint(&mut bytes);
        match tag & 7 {
            0 => fields.push((tag >> 3, Err(varint(&mut bytes)))),
            2 => {
                let len = varint(&mut bytes) as usize;
                fields.push((tag >> 3, Ok(bytes[..len].to_vec())));
                bytes = &bytes[len..];
            }
            other => panic!("unexpected wire type {other}"),
        }
    }
    fields
}

/// Verifies a signature header as an integrator without Tink would: find the key by id in
/// the Tink JSON keyset, rebuild the P-256 point from the `EcdsaPublicKey` protobuf, check
/// the DER signature over the exact body bytes. Returns the key id.
fn verify(keyset: &Value, body: &[u8], header: &str) -> Result<u32, String> {
    let (key_id, der) = parse_signature_header(header).ok_or("not a Tink signature")?;
    let key = keyset["key"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["keyId"] == key_id)
        .ok_or(format!("key {key_id} not in the keyset"))?;
    assert_eq!(key["status"], "ENABLED");
    assert_eq!(key["outputPrefixType"], "TINK");
    assert_eq!(key["keyData"]["typeUrl"], TINK_ECDSA_PUBLIC_KEY_TYPE_URL);
    assert_eq!(key["keyData"]["keyMaterialType"], "ASYMMETRIC_PUBLIC");
    let proto = STANDARD
        .decode(key["keyData"]["value"].as_str().unwrap())
        .unwrap();
    let fields = proto_fields(&proto);
    let bytes_of = |n: u64| {
        fields
            .iter()
            .find(|(f, _)| *f == n)
            .unwrap()
            .1
            .clone()
            .unwrap()
    };
    let params = proto_fields(&bytes_of(2));
    // hash_type SHA256 = 3, curve NIST_P256 = 2, encoding DER = 2
    assert_eq!(params, vec![(1, Err(3)), (2, Err(2)), (3, Err(2))]);
    let coordinate = |raw: Vec<u8>| {
        let trimmed: Vec<u8> = raw.into_iter().skip_while(|b| *b == 0).collect();
        let mut padded = vec![0u8; 32 - trimmed.len()];
        padded.extend(trimmed);
        padded
    };
    let mut point = vec![0x04];
    point.extend(coordinate(bytes_of(3)));
    point.extend(coordinate(bytes_of(4)));
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &point)
        .verify(body, &der)
        .map_err(|_| "bad signature".to_owned())?;
    Ok(key_id)
}

async fn fetch_keyset(sandbox: &Sandbox) -> Value {
    let response = client()
        .get(format!(
            "{}/google-health/webhook-keyset.json",
            sandbox.base_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn service_accounts_get_tokens_with_the_jwt_bearer_grant() {
    let sandbox = start_default().await;
    let gh = sandbox.google_health.clone();
    let token_uri = format!("{}/token", sandbox.base_url);
    let key = tokio::task::spawn_blocking(move || gh.create_service_account(&token_uri))
        .await
        .unwrap();
    let file: Value = serde_json::from_str(&key.to_json()).unwrap();
    assert_eq!(file["type"], "service_account");
    assert_eq!(file["project_id"], "fitbridge-sandbox");
    assert!(file["private_key"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(file["client_email"]
        .as_str()
        .unwrap()
        .ends_with("@fitbridge-sandbox.iam.gserviceaccount.com"));
    assert_eq!(file["token_uri"], format!("{}/token", sandbox.base_url));
    let gh = &sandbox.google_health;

    let grant = |assertion: String| {
        client()
            .post(format!("{}/token", sandbox.base_url))
            .form(&[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned(),
                ),
                ("assertion", assertion),
            ])
            .send()
    };
    let response = grant(key.sign_assertion(&[scopes::CLOUD_PLATFORM], gh.now()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert!(body.get("refresh_token").is_none());
    let token = body["access_token"].as_str().unwrap();
    let (status, list) = get(&sandbox, token, &subscribers_path(&sandbox)).await;
    assert_eq!((status, list), (StatusCode::OK, json!({})));

    let good = key.sign_assertion(&[scopes::CLOUD_PLATFORM], gh.now());
    let mut tampered = good.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let expired = key.sign_assertion(&[scopes::CLOUD_PLATFORM], gh.now() - TimeDuration::hours(2));
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": key.private_key_id});
    let now = gh.now().unix_timestamp();
    let claims = |iss: &str, scope: &str, aud: &str| json!({"iss": iss, "scope": scope, "aud": aud, "iat": now, "exp": now + 3600});
    let stranger = oauth::service_accounts::sign_rs256(
        &key.private_key,
        &header,
        &claims(
            "nobody@elsewhere.iam.gserviceaccount.com",
            scopes::CLOUD_PLATFORM,
            GOOGLE_TOKEN_URI,
        ),
    );
    let no_scope = oauth::service_accounts::sign_rs256(
        &key.private_key,
        &header,
        &claims(&key.client_email, "", GOOGLE_TOKEN_URI),
    );
    let wrong_audience = oauth::service_accounts::sign_rs256(
        &key.private_key,
        &header,
        &claims(
            &key.client_email,
            scopes::CLOUD_PLATFORM,
            "https://example.com/token",
        ),
    );
    let real_audience = oauth::service_accounts::sign_rs256(
        &key.private_key,
        &header,
        &claims(&key.client_email, scopes::CLOUD_PLATFORM, GOOGLE_TOKEN_URI),
    );
    for (assertion, error, description) in [
        (tampered, "invalid_grant", "Invalid JWT Signature."),
        (
            expired,
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token",
        ),
        (
            stranger,
            "invalid_grant",
            "Invalid grant: account not found",
        ),
        (
            no_scope,
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.",
        ),
        (
            wrong_audience,
            "invalid_grant",
            "Invalid JWT: Failed audience check.",
        ),
        ("not.a.jwt".to_owned(), "invalid_grant", "Invalid JWT"),
    ] {
        let response = grant(assertion).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{description}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], error, "{body}");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .starts_with(description),
            "{body}"
        );
    }
    assert_eq!(grant(real_audience).await.unwrap().status(), StatusCode::OK);
    let stats = gh.stats();
    assert_eq!(stats.service_account_tokens[&key.client_email], 2);
    assert_eq!(
        stats.token_requests_with(
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "invalid_grant"
        ),
        5
    );

    // User tokens cannot manage subscribers; service accounts cannot read user data.
    let user_token = gh
        .grant_tokens(USER, &[scopes::ACTIVITY_AND_FITNESS])
        .access_token;
    let (status, body) = get(&sandbox, &user_token, &subscribers_path(&sandbox)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body["error"]["details"][0]["reason"],
        "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    );
    assert_eq!(
        get(&sandbox, token, "/v4/users/me/identity").await.0,
        StatusCode::FORBIDDEN
    );
    let (status, _) = get(&sandbox, token, "/v4/projects/someone-else/subscribers").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn subscribers_are_created_only_for_endpoints_that_pass_verification() {
    let sandbox = start_default().await;
    let gh = &sandbox.google_health;
    let token = service_account_token(&sandbox).await;
    let (good_url, good) = start_endpoint(false).await;
    let (careless_url, careless) = start_endpoint(true).await;
    let configs =
        json!([{ "dataTypes": ["steps", "sleep"], "subscriptionCreatePolicy": "AUTOMATIC" }]);

    let (status, operation) = create_subscriber(
        &sandbox,
        &token,
        "fitbridge-hooks",
        &good_url,
        configs.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{operation}");
    assert!(operation["name"].as_str().unwrap().contains("/operations/"));
    assert_eq!(
        operation["response"]["@type"],
        "type.googleapis.com/google.devicesandservices.health.v4.Subscriber"
    );
    let subscriber = operation_response(&operation, "Subscriber");
    let name = format!(
        "projects/{}/subscribers/fitbridge-hooks",
        gh.config().project_number
    );
    assert_eq!(subscriber["name"], name);
    assert_eq!(subscriber["state"], "ACTIVE");
    assert_eq!(
        subscriber["endpointAuthorization"],
        json!({"secretSet": true}),
        "the secret is input only"
    );
    assert_eq!(subscriber["subscriberConfigs"], configs);
    {
        let probes = good.lock().unwrap();
        assert_eq!(probes.len(), 2);
        assert_eq!(probes[0].authorization.as_deref(), Some(SECRET));
        assert_eq!(probes[1].authorization, None);
        assert_eq!(
            probes[0].user_agent.as_deref(),
            Some("Google-Health-API-Webhooks-Verifier")
        );
        let body: Value = serde_json::from_str(&probes[0].body).unwrap();
        assert_eq!(body, json!({"type": "verification"}));
    }

    // An endpoint that answers 201 without the secret fails; nothing is created.
    let (status, operation) = create_subscriber(
        &sandbox,
        &token,
        "careless-hooks",
        &careless_url,
        configs.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    valid("Operation", &operation);
    assert_eq!(operation["done"], true);
    assert_eq!(
        operation["error"]["code"], 9,
        "FAILED_PRECONDITION: {operation}"
    );
    assert!(operation["error"]["message"]
        .as_str()
        .unwrap()
        .contains("without the Authorization header"));
    assert!(operation.get("response").is_none());
    assert_eq!(careless.lock().unwrap().len(), 2);

    // Conflicts and bad input.
    let (status, body) = create_subscriber(
        &sandbox,
        &token,
        "fitbridge-hooks",
        &good_url,
        configs.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    google_error(&body, 409, "ALREADY_EXISTS");
    for (id, configs) in [
        ("X", configs.clone()),
        (
            "other-hooks",
            json!([{ "dataTypes": ["stepz"], "subscriptionCreatePolicy": "AUTOMATIC" }]),
        ),
        ("other-hooks", json!([{ "dataTypes": ["steps"] }])),
    ] {
        let (status, body) = create_subscriber(&sandbox, &token, id, &good_url, configs).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }

    let (status, list) = get(&sandbox, &token, &subscribers_path(&sandbox)).await;
    assert_eq!(status, StatusCode::OK);
    valid("ListSubscribersResponse", &list);
    assert_eq!(list["totalSize"], 1);
    assert_eq!(list["subscribers"][0]["name"], name);

    // Updating the data types needs no verification; it replaces the list.
    let patch = |mask: &str, body: Value| {
        let path = format!("/v4/{name}?updateMask={mask}");
        let (sandbox, token) = (&sandbox, &token);
        async move { api(sandbox, reqwest::Method::PATCH, token, &path, Some(body)).await }
    };
    let probes_before = gh.stats().verification_probes;
    let new_configs = json!([{ "dataTypes": ["weight"], "subscriptionCreatePolicy": "AUTOMATIC" }]);
    let (status, operation) = patch(
        "subscriberConfigs",
        json!({ "subscriberConfigs": new_configs }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        operation_response(&operation, "Subscriber")["subscriberConfigs"],
        new_configs
    );
    assert_eq!(gh.stats().verification_probes, probes_before);
    // Moving to the careless endpoint is verified and refused; nothing changes.
    let (status, operation) = patch("endpointUri", json!({ "endpointUri": careless_url })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(operation["error"]["code"], 9);
    assert_eq!(gh.subscribers()[0]["endpointUri"], good_url);
    let (status, _) = patch("endpoint_uri,state", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Manual subscriptions live under the subscriber.
    let (status, subscription) = api(
        &sandbox,
        reqwest::Method::POST,
        &token,
        &format!("/v4/{name}/subscriptions?subscriptionId=alex-weight"),
        Some(json!({ "user": format!("users/{USER}"), "dataTypes": [format!("users/{USER}/dataTypes/weight")] })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{subscription}");
    valid("Subscription", &subscription);
    let (status, _) = api(
        &sandbox,
        reqwest::Method::DELETE,
        &token,
        &format!("/v4/{name}"),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "subscriptions exist and force is not set"
    );
    let (status, operation) = api(
        &sandbox,
        reqwest::Method::DELETE,
        &token,
        &format!("/v4/{name}?force=true"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    valid("Operation", &operation);
    assert_eq!(
        operation["response"],
        json!({"@type": "type.googleapis.com/google.protobuf.Empty"})
    );
    assert!(gh.subscribers().is_empty());
    let stats = gh.stats();
    assert_eq!(stats.subscribers_created, 1);
    assert_eq!(stats.verification_failures, 2);
    assert_eq!(stats.verification_probes, 6);
}

#[tokio::test]
async fn verification_failures_can_be_http_errors_and_200_can_be_accepted() {
    let sandbox = start(GoogleHealthConfig {
        verification_failure_as_http_error: true,
        ..Default::default()
    })
    .await;
    let token = service_account_token(&sandbox).await;
    let (careless_url, _) = start_endpoint(true).await;
    let configs = json!([{ "dataTypes": ["steps"], "subscriptionCreatePolicy": "AUTOMATIC" }]);
    let (status, body) =
        create_subscriber(&sandbox, &token, "careless-hooks", &careless_url, configs).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    google_error(&body, 400, "FAILED_PRECONDITION");

    let outcome = sandbox
        .google_health
        .verify_endpoint("http://127.0.0.1:9/nothing-listens", SECRET)
        .await;
    assert!(!outcome.verified && outcome.authorized_status.is_none());
    let (good_url, _) = start_endpoint(false).await;
    let outcome = sandbox
        .google_health
        .verify_endpoint(&good_url, SECRET)
        .await;
    assert_eq!(
        (
            outcome.authorized_status,
            outcome.unauthorized_status,
            outcome.verified
        ),
        (Some(201), Some(401), true)
    );

    // An endpoint answering 200 (which the webhooks guide allows) passes only when lenient.
    async fn ok_200(headers: HeaderMap) -> StatusCode {
        if headers.get("authorization").is_some_and(|v| v == SECRET) {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, Router::new().route("/hook", post(ok_200)))
            .await
            .unwrap()
    });
    let outcome = sandbox.google_health.verify_endpoint(&url, SECRET).await;
    assert!(!outcome.verified);
    assert!(outcome.error.unwrap().contains("expected 201 Created"));
    let lenient = start(GoogleHealthConfig {
        lenient_verification: true,
        ..Default::default()
    })
    .await;
    let outcome = lenient.google_health.verify_endpoint(&url, SECRET).await;
    assert_eq!(
        (
            outcome.authorized_status,
            outcome.unauthorized_status,
            outcome.verified
        ),
        (Some(200), Some(403), true)
    );
}

#[tokio::test]
async fn notifications_are_signed_and_verifiable_against_the_served_keyset() {
    let sandbox = start_default().await;
    let gh = &sandbox.google_health;
    let token = service_account_token(&sandbox).await;
    let (url, received) = start_endpoint(false).await;
    let configs = json!([
        { "dataTypes": ["steps", "sleep"], "subscriptionCreatePolicy": "AUTOMATIC" },
        { "dataTypes": ["weight"], "subscriptionCreatePolicy": "MANUAL" },
    ]);
    let (status, _) = create_subscriber(&sandbox, &token, "fitbridge-hooks", &url, configs).await;
    assert_eq!(status, StatusCode::OK);
    received.lock().unwrap().clear();
    gh.grant_tokens(USER, &[scopes::ACTIVITY_AND_FITNESS]);

    let day = days_ago(2);
    let deliveries = gh
        .notify(NotifyRequest::upsert(USER, "steps", day))
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status, 204);
    let keyset = fetch_keyset(&sandbox).await;
    assert_eq!(keyset["primaryKeyId"], gh.primary_key_id());
    let got = received.lock().unwrap()[0].clone();
    assert_eq!(got.authorization.as_deref(), Some(SECRET));
    assert_eq!(
        got.user_agent.as_deref(),
        Some("Google-Health-API-Webhooks")
    );
    assert_eq!(got.body, deliveries[0].request_body);
    let key_id = verify(
        &keyset,
        got.body.as_bytes(),
        got.signature.as_deref().unwrap(),
    )
    .unwrap();
    assert_eq!(key_id, gh.primary_key_id());
    let body: Value = serde_json::from_str(&got.body).unwrap();
    let data = &body["data"];
    assert_eq!(data["version"], "1");
    assert_eq!(data["healthUserId"], USER);
    assert_eq!(data["operation"], "UPSERT");
    assert_eq!(data["dataType"], "steps");
    assert_eq!(
        data["clientProvidedSubscriptionName"]
            .as_str()
            .unwrap()
            .len(),
        36,
        "a UUID"
    );
    let interval = &data["intervals"][0];
    assert_eq!(
        interval["civilIso8601TimeInterval"]["startTime"],
        format!("{day}T00:00:00")
    );
    assert_eq!(
        interval["civilIso8601TimeInterval"]["endTime"],
        format!("{}T00:00:00", day.next_day().unwrap())
    );
    assert_eq!(
        interval["civilDateTimeInterval"]["startDateTime"],
        json!({"date": date_json(day), "time": {}})
    );
    let physical_start = interval["physicalTimeInterval"]["startTime"]
        .as_str()
        .unwrap();
    assert!(
        physical_start.starts_with(&day.previous_day().unwrap().to_string())
            && physical_start.ends_with(":00:00Z"),
        "Berlin midnight in UTC: {physical_start}"
    );

    // No consent to sleep, no weight subscription for the user: nothing is sent.
    assert!(gh
        .notify(NotifyRequest::upsert(USER, "sleep", day))
        .await
        .unwrap()
        .is_empty());
    gh.grant_tokens(USER, &[scopes::HEALTH_METRICS]);
    assert!(gh
        .notify(NotifyRequest::upsert(USER, "weight", day))
        .await
        .unwrap()
        .is_empty());
    let name = format!(
        "projects/{}/subscribers/fitbridge-hooks",
        gh.config().project_number
    );
    let (status, _) = api(
        &sandbox,
        reqwest::Method::POST,
        &token,
        &format!("/v4/{name}/subscriptions?subscriptionId=alex-weight"),
        Some(json!({ "user": format!("users/{USER}"), "dataTypes": [format!("users/{USER}/dataTypes/weight")] })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let deliveries = gh
        .notify(NotifyRequest::delete(USER, "weight", day))
        .await
        .unwrap();
    let body: Value = serde_json::from_str(&deliveries[0].request_body).unwrap();
    assert_eq!(
        body["data"]["clientProvidedSubscriptionName"],
        "alex-weight"
    );
    assert_eq!(body["data"]["operation"], "DELETE");

    // Delivery modes.
    received.lock().unwrap().clear();
    let upsert = NotifyRequest::upsert(USER, "steps", day);
    let twice = gh
        .notify(upsert.clone().mode(NotifyMode::Duplicate))
        .await
        .unwrap();
    assert_eq!(twice.len(), 2);
    assert_eq!(twice[0].request_body, twice[1].request_body);
    let two_intervals = NotifyRequest {
        intervals: vec![
            NotificationInterval::new(
                data::local_midnight(&gh.user(USER).unwrap(), day),
                data::local_midnight(&gh.user(USER).unwrap(), day) + TimeDuration::minutes(5),
            ),
            NotificationInterval::new(
                data::local_midnight(&gh.user(USER).unwrap(), day) + TimeDuration::hours(9),
                data::local_midnight(&gh.user(USER).unwrap(), day) + TimeDuration::hours(10),
            ),
        ],
        ..upsert.clone()
    };
    let array = gh
        .notify(two_intervals.clone().mode(NotifyMode::Array))
        .await
        .unwrap();
    let parsed: Vec<Value> = serde_json::from_str(&array[0].request_body).unwrap();
    assert_eq!(parsed.len(), 2);
    assert_eq!(
        parsed[1]["data"]["intervals"][0]["civilIso8601TimeInterval"]["startTime"],
        format!("{day}T09:00:00")
    );
    let single = gh.notify(two_intervals).await.unwrap();
    let parsed: Value = serde_json::from_str(&single[0].request_body).unwrap();
    assert_eq!(parsed["data"]["intervals"].as_array().unwrap().len(), 2);
    gh.notify(upsert.clone().mode(NotifyMode::CorruptSignature))
        .await
        .unwrap();
    gh.notify(upsert.clone().mode(NotifyMode::UnknownKey))
        .await
        .unwrap();
    gh.notify(upsert.clone().mode(NotifyMode::Unsigned))
        .await
        .unwrap();
    gh.notify(NotifyRequest {
        legacy_signature_header: true,
        omit_authorization: true,
        ..upsert.clone()
    })
    .await
    .unwrap();
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 8);
    for duplicate in &got[..2] {
        assert!(verify(
            &keyset,
            duplicate.body.as_bytes(),
            duplicate.signature.as_deref().unwrap()
        )
        .is_ok());
    }
    assert_eq!(
        verify(
            &keyset,
            got[4].body.as_bytes(),
            got[4].signature.as_deref().unwrap()
        ),
        Err("bad signature".to_owned())
    );
    assert!(verify(
        &keyset,
        got[5].body.as_bytes(),
        got[5].signature.as_deref().unwrap()
    )
    .unwrap_err()
    .contains("not in the keyset"));
    assert!(got[6].signature.is_none() && got[6].legacy_signature.is_none());
    assert!(got[7].signature.is_none());
    assert!(verify(
        &keyset,
        got[7].body.as_bytes(),
        got[7].legacy_signature.as_deref().unwrap()
    )
    .is_ok());
    assert_eq!(got[7].authorization, None);

    // Rotation: the new key signs, the old one stays in the set until retired.
    let old_signature = gh.sign(b"{\"data\":{}}");
    let old_id = gh.primary_key_id();
    let new_id = gh.rotate_key();
    assert_ne!(old_id, new_id);
    let keyset = fetch_keyset(&sandbox).await;
    assert_eq!(keyset["key"].as_array().unwrap().len(), 2);
    assert_eq!(keyset["primaryKeyId"], new_id);
    let deliveries = gh.notify(upsert.clone()).await.unwrap();
    let signature = deliveries[0].signature_header.clone().unwrap().1;
    assert_eq!(
        verify(&keyset, deliveries[0].request_body.as_bytes(), &signature),
        Ok(new_id)
    );
    assert_eq!(
        verify(&keyset, b"{\"data\":{}}", &old_signature),
        Ok(old_id)
    );
    assert_eq!(gh.retire_old_keys(), 1);
    let keyset = fetch_keyset(&sandbox).await;
    assert!(verify(&keyset, b"{\"data\":{}}", &old_signature)
        .unwrap_err()
        .contains("not in the keyset"));
    assert_eq!(gh.keyset_fetches(), 3);

    // After revocation nothing is sent for the user.
    assert!(gh.revoke_user(USER));
    assert!(gh.notify(upsert).await.unwrap().is_empty());
    assert_eq!(gh.stats().notifications_sent, 11);
}

#[tokio::test]
async fn notify_through_the_admin_api() {
    let sandbox = start_default().await;
    let gh = &sandbox.google_health;
    let token = service_account_token(&sandbox).await;
    let (url, received) = start_endpoint(false).await;
    let configs = json!([{ "dataTypes": ["sleep"], "subscriptionCreatePolicy": "AUTOMATIC" }]);
    assert_eq!(
        create_subscriber(&sandbox, &token, "fitbridge-hooks", &url, configs)
            .await
            .0,
        StatusCode::OK
    );
    gh.grant_tokens(USER, &[scopes::SLEEP]);
    let day = days_ago(1);
    let response = client()
        .post(format!("{}/_admin/google-health/notify", sandbox.base_url))
        .json(&json!({"health_user_id": USER, "data_type": "sleep", "operation": "DELETE", "date": day.to_string(), "mode": "duplicate"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let deliveries: Vec<Delivery> = serde_json::from_value(body["deliveries"].clone()).unwrap();
    assert_eq!(
        deliveries.iter().map(|d| d.status).collect::<Vec<_>>(),
        [204, 204]
    );
    assert_eq!(
        received.lock().unwrap().len(),
        4,
        "two probes, two notifications"
    );
    let response = client()
        .post(format!("{}/_admin/google-health/notify", sandbox.base_url))
        .json(&json!({"health_user_id": USER, "data_type": "sleep"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "no date, no intervals"
    );

    let keys: Value = fetch_json(client().post(format!(
        "{}/_admin/google-health/keys/rotate",
        sandbox.base_url
    )))
    .await;
    assert_eq!(keys["primary_key_id"], gh.primary_key_id());
    let key_file: ServiceAccountKey = fetch_json(client().post(format!(
        "{}/_admin/google-health/service-accounts",
        sandbox.base_url
    )))
    .await;
    assert_eq!(key_file.token_uri, format!("{}/token", sandbox.base_url));
}
