use super::*;

#[tokio::test]
async fn authorization_code_flow_checks_pkce_and_single_use() {
    let sandbox = start(FitbitConfig::default()).await;
    let redirect = authorize(&sandbox, "activity sleep profile", VERIFIER).await;
    assert_eq!(redirect["state"], "st4te");
    let code = &redirect["code"];

    // A wrong verifier fails and burns the code.
    let wrong = "x".repeat(43);
    let (status, body) = exchange(&sandbox, code, &wrong).await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    let (status, body) = exchange(&sandbox, code, VERIFIER).await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );

    let code = authorize(&sandbox, "activity sleep profile", VERIFIER).await["code"].clone();
    let (status, body) = token_request(
        &sandbox,
        &code_exchange_form(&code, "http://evil/", VERIFIER),
    )
    .await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );

    let code = authorize(&sandbox, "activity sleep profile", VERIFIER).await["code"].clone();
    let (status, grant) = exchange(&sandbox, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{grant}");
    assert_eq!(grant["expires_in"], 28_800);
    assert_eq!(grant["token_type"], "Bearer");
    assert_eq!(grant["user_id"], DEFAULT_USER_ID);
    assert_eq!(grant["scope"], "activity profile sleep");
    // Reuse of a redeemed code.
    let (status, body) = exchange(&sandbox, &code, VERIFIER).await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );

    let profile = api_get(
        &sandbox,
        grant["access_token"].as_str().unwrap(),
        "/1/user/-/profile.json",
    )
    .await;
    assert_eq!(profile.status(), StatusCode::OK);
    let profile: Value = profile.json().await.unwrap();
    assert_eq!(profile["user"]["encodedId"], DEFAULT_USER_ID);
    assert_eq!(profile["user"]["fullName"], "Alex Sandbox");

    let issued = sandbox.fitbit.tokens_issued(DEFAULT_USER_ID);
    assert!(issued.contains(&grant["access_token"].as_str().unwrap().to_owned()));
    assert!(issued.contains(&grant["refresh_token"].as_str().unwrap().to_owned()));
    let stats = sandbox.fitbit.stats();
    assert_eq!(stats.token_requests_with("authorization_code", "ok"), 1);
    assert_eq!(
        stats.token_requests_with("authorization_code", "invalid_grant"),
        4
    );
}

#[tokio::test]
async fn token_endpoint_requires_client_authentication() {
    let sandbox = start(FitbitConfig::default()).await;
    let url = format!("{}/oauth2/token", sandbox.base_url);
    let form = [("grant_type", "refresh_token"), ("refresh_token", "abc")];
    for authorization in [None, Some("Basic MjNTQk9YOndyb25n")] {
        let mut request = client().post(&url).form(&form);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            error_type(&response.json().await.unwrap()),
            "invalid_client"
        );
    }
}

#[tokio::test]
async fn authorize_rejects_bad_requests_and_follows_consent() {
    let sandbox = start(FitbitConfig {
        redirect_uris: vec![REDIRECT_URI.to_owned()],
        ..Default::default()
    })
    .await;
    let challenge = pkce_s256(VERIFIER);
    let url = format!("{}/oauth2/authorize", sandbox.base_url);
    let good = [
        ("client_id", "23SBOX"),
        ("response_type", "code"),
        ("scope", "activity"),
        ("redirect_uri", REDIRECT_URI),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let with = |name: &str, value: &'static str| {
        good.iter()
            .map(|&(n, v)| if n == name { (n, value) } else { (n, v) })
            .collect::<Vec<_>>()
    };
    for params in [
        with("client_id", "OTHER1"),
        with("response_type", "token"),
        with("redirect_uri", "http://localhost:9000/other"),
        with("code_challenge_method", "plain"),
        with("scope", "activity teleport"),
        good.iter()
            .copied()
            .filter(|(n, _)| *n != "code_challenge")
            .collect(),
    ] {
        let response = client().get(&url).query(&params).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{params:?}");
        assert!(response.headers().get("location").is_none());
    }

    sandbox.fitbit.set_consent(Consent::deny(DEFAULT_USER_ID));
    let redirect = authorize(&sandbox, "activity", VERIFIER).await;
    assert_eq!(redirect["error"], "access_denied");
    assert_eq!(
        redirect["error_description"],
        "The user denied the request."
    );
    assert_eq!(redirect["state"], "st4te");
    assert!(!redirect.contains_key("code"));

    sandbox
        .fitbit
        .set_consent(Consent::allow_only("B4KXYZ", &["activity", "weight"]));
    let code = authorize(&sandbox, "activity sleep profile", VERIFIER).await["code"].clone();
    let (status, grant) = exchange(&sandbox, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (grant["user_id"].as_str(), grant["scope"].as_str()),
        (Some("B4KXYZ"), Some("activity"))
    );
    let token = grant["access_token"].as_str().unwrap();
    let sleep = api_get(&sandbox, token, "/1.2/user/-/sleep/date/2026-10-01.json").await;
    assert_eq!(sleep.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        error_type(&sleep.json().await.unwrap()),
        "insufficient_scope"
    );
    let other_user = api_get(
        &sandbox,
        token,
        &format!("/1/user/{DEFAULT_USER_ID}/activities/date/2026-10-01.json"),
    )
    .await;
    assert_eq!(other_user.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn refresh_tokens_are_single_use_with_a_grace_window() {
    let sandbox = start(FitbitConfig::default()).await;
    let first = sandbox
        .fitbit
        .grant_tokens(DEFAULT_USER_ID, &["activity", "profile"]);

    let (status, second) = refresh(&sandbox, &first.refresh_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["scope"], "activity profile");
    assert_ne!(second["refresh_token"], first.refresh_token.as_str());
    // An identical request (say, a retry after a lost response) gets the same answer...
    let (status, replay) = refresh(&sandbox, &first.refresh_token).await;
    assert_eq!((status, &replay), (StatusCode::OK, &second));
    // ...the old access token is dead...
    let old = api_get(&sandbox, &first.access_token, "/1/user/-/profile.json").await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_type(&old.json().await.unwrap()), "invalid_token");
    // ...and once the new pair is used, the old refresh token is too.
    let new = api_get(
        &sandbox,
        second["access_token"].as_str().unwrap(),
        "/1/user/-/profile.json",
    )
    .await;
    assert_eq!(new.status(), StatusCode::OK);
    let (status, body) = refresh(&sandbox, &first.refresh_token).await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );

    // Outside the window, a replay fails even if the new pair is unused.
    let (status, third) = refresh(&sandbox, second["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    sandbox.fitbit.advance_clock(121);
    let (status, body) = refresh(&sandbox, second["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );

    // Using the successor refresh token also ends the window.
    let (status, fourth) = refresh(&sandbox, third["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = refresh(&sandbox, fourth["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = refresh(&sandbox, third["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );

    let stats = sandbox.fitbit.stats();
    assert_eq!(stats.refreshes_of(DEFAULT_USER_ID), 4);
    assert_eq!(stats.token_requests_with("refresh_token", "replayed"), 1);
    assert_eq!(
        stats.token_requests_with("refresh_token", "invalid_grant"),
        3
    );
}

#[tokio::test]
async fn expired_and_revoked_tokens() {
    let sandbox = start(FitbitConfig::default()).await;
    let grant = sandbox.fitbit.grant_tokens(DEFAULT_USER_ID, &["profile"]);
    assert!(sandbox.fitbit.expire_access_token(DEFAULT_USER_ID));
    let response = api_get(&sandbox, &grant.access_token, "/1/user/-/profile.json").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"api.fitbit.com\""
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_type(&body), "expired_token");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("Access token expired: "));

    let grant = sandbox.fitbit.grant_tokens(DEFAULT_USER_ID, &["profile"]);
    sandbox.fitbit.advance_clock(28_800);
    let response = api_get(&sandbox, &grant.access_token, "/1/user/-/profile.json").await;
    assert_eq!(error_type(&response.json().await.unwrap()), "expired_token");

    let response = client()
        .post(format!("{}/oauth2/revoke", sandbox.base_url))
        .header("authorization", basic_auth(sandbox.fitbit.config()))
        .form(&[("token", grant.access_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        serde_json::json!({})
    );
    let (status, body) = refresh(&sandbox, &grant.refresh_token).await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    let response = api_get(&sandbox, &grant.access_token, "/1/user/-/profile.json").await;
    assert_eq!(error_type(&response.json().await.unwrap()), "invalid_token");
    assert_eq!(sandbox.fitbit.stats().revocations[DEFAULT_USER_ID], 1);
}
