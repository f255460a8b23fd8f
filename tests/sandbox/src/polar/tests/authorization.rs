use super::*;

#[tokio::test]
async fn the_code_flow_needs_no_pkce_and_answers_x_user_id() {
    let sandbox = start_default().await;
    let query = authorize(&sandbox, &[]).await;
    assert_eq!(query["state"], "st4te");
    assert!(!query.contains_key("error"));
    let (status, body) = exchange(
        &sandbox,
        &[
            ("grant_type", "authorization_code"),
            ("code", &query["code"]),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let grant: TokenGrant = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(grant.token_type, "bearer");
    assert_eq!(grant.expires_in, 31_535_999);
    assert_eq!(grant.x_user_id, 2_278_517);
    assert!(body["x_user_id"].is_u64(), "a number, not a string: {body}");
    assert!(
        body.get("refresh_token").is_none(),
        "Polar has no refresh tokens"
    );
    assert_eq!(
        sandbox.polar.tokens_issued(USER),
        vec![grant.access_token.clone()]
    );
    let stats = sandbox.polar.stats();
    assert_eq!(stats.token_requests_with("authorization_code", "ok"), 1);
    assert_eq!(stats.authorizations[USER], 1);
}

#[tokio::test]
async fn the_default_redirect_url_is_used_and_a_named_one_must_be_the_clients() {
    let sandbox = start(PolarConfig {
        redirect_uris: vec![
            REDIRECT_URI.to_owned(),
            "http://localhost:9000/other".to_owned(),
        ],
        ..Default::default()
    })
    .await;
    // No redirect_uri: the default (first) one, and the token request need not repeat it.
    let query = authorize(&sandbox, &[]).await;
    let (status, _) = exchange(
        &sandbox,
        &[
            ("grant_type", "authorization_code"),
            ("code", &query["code"]),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // A named one must be repeated at the token endpoint.
    let query = authorize(&sandbox, &[("redirect_uri", REDIRECT_URI)]).await;
    let (status, body) = exchange(
        &sandbox,
        &[
            ("grant_type", "authorization_code"),
            ("code", &query["code"]),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // An unknown one gets an error page, never a redirect.
    let response = client()
        .get(format!("{}/oauth2/authorization", sandbox.base_url))
        .query(&[
            ("response_type", "code"),
            ("client_id", sandbox.polar.config().client_id.as_str()),
            ("redirect_uri", "http://evil.example/cb"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("location").is_none());
    // An unknown client too.
    let response = client()
        .get(format!("{}/oauth2/authorization", sandbox.base_url))
        .query(&[("response_type", "code"), ("client_id", "someone-else")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn refusals_after_the_redirect_target_is_known_come_back_as_error() {
    let sandbox = start_default().await;
    let query = authorize(&sandbox, &[("scope", "accesslink.write_all")]).await;
    assert_eq!(query["error"], "invalid_scope");
    assert_eq!(query["state"], "st4te");
    assert!(!query.contains_key("code"));
    let query = authorize(&sandbox, &[("response_type", "token")]).await;
    assert_eq!(query["error"], "unsupported_response_type");
    sandbox.polar.set_consent(Consent::deny(USER));
    let query = authorize(&sandbox, &[]).await;
    assert_eq!(query["error"], "access_denied");
    assert_eq!(sandbox.polar.stats().consent_denials, 1);
    // A person the consent names is created on the way.
    sandbox.polar.set_consent(Consent::allow("1234567"));
    let grant = connect_via_oauth(&sandbox).await;
    assert_eq!(grant.x_user_id, 1_234_567);
    assert!(sandbox.polar.user("1234567").is_some());
}

#[tokio::test]
async fn a_code_redeemed_twice_deletes_the_token_it_issued() {
    let sandbox = start_default().await;
    let query = authorize(&sandbox, &[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", query["code"].as_str()),
    ];
    let (status, first) = exchange(&sandbox, &form).await;
    assert_eq!(status, StatusCode::OK);
    let token = first["access_token"].as_str().unwrap().to_owned();
    sandbox.polar.register(USER, "member-1");
    let path = format!("/v3/users/{USER}");
    assert_eq!(get(&sandbox, &token, &path).await.status(), StatusCode::OK);
    // Another grant of the same person, from another code, is not touched.
    let other = connect_via_oauth(&sandbox).await.access_token;

    // The retried callback redeems the same code again.
    let (status, second) = exchange(&sandbox, &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(second, json!({ "error": "invalid_grant" }));
    let response = get(&sandbox, &token, &path).await;
    assert_eq!(
        error_type(response, StatusCode::UNAUTHORIZED).await,
        "Unauthorized"
    );
    assert_eq!(get(&sandbox, &other, &path).await.status(), StatusCode::OK);
    let stats = sandbox.polar.stats();
    assert_eq!(
        (stats.code_replays, stats.tokens_deleted_by_replays),
        (1, 1)
    );
    assert_eq!(
        stats.token_requests_with("authorization_code", "invalid_grant"),
        1
    );
}

#[tokio::test]
async fn token_requests_need_basic_client_credentials_and_a_fresh_code() {
    let sandbox = start_default().await;
    let query = authorize(&sandbox, &[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", query["code"].as_str()),
    ];
    let token_url = format!("{}/v2/oauth2/token", sandbox.base_url);
    for authorization in [None, Some("Basic bm9ib2R5Om5vdGhpbmc="), Some("Bearer x")] {
        let mut request = client().post(&token_url).form(&form);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client", "{authorization:?}");
    }
    let (_, body) = exchange(&sandbox, &[("grant_type", "refresh_token"), ("code", "x")]).await;
    assert_eq!(body["error"], "unsupported_grant_type");
    let (_, body) = exchange(&sandbox, &[("grant_type", "authorization_code")]).await;
    assert_eq!(body["error"], "invalid_request");
    let (_, body) = exchange(
        &sandbox,
        &[("grant_type", "authorization_code"), ("code", "nope")],
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");
    // A code lives ten minutes of the sandbox clock.
    sandbox.polar.advance_clock(601);
    let (status, body) = exchange(&sandbox, &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn tokens_last_until_revoked_or_their_year_is_over() {
    let sandbox = start_default().await;
    let token = connect_via_oauth(&sandbox).await.access_token;
    sandbox.polar.register(USER, "member-1");
    let path = format!("/v3/users/{USER}");
    sandbox.polar.advance_clock(300 * 24 * 3600);
    assert_eq!(get(&sandbox, &token, &path).await.status(), StatusCode::OK);
    sandbox.polar.advance_clock(66 * 24 * 3600);
    assert_eq!(
        get(&sandbox, &token, &path).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let token = sandbox.polar.grant_tokens(USER, &[SCOPE]).access_token;
    assert_eq!(get(&sandbox, &token, &path).await.status(), StatusCode::OK);
    assert!(sandbox.polar.expire_access_token(USER));
    assert!(!sandbox.polar.expire_access_token(USER), "none left");
    assert_eq!(
        get(&sandbox, &token, &path).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let token = sandbox.polar.grant_tokens(USER, &[SCOPE]).access_token;
    assert!(sandbox.polar.revoke_user(USER));
    assert_eq!(
        get(&sandbox, &token, &path).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&sandbox, "never-issued", &path).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(
        sandbox.polar.user(USER).unwrap().registration.is_some(),
        "revoking keeps it"
    );
}
