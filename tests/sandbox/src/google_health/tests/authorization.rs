use super::*;

#[tokio::test]
async fn consent_flow_with_pkce_offline_access_and_single_use_codes() {
    let sandbox = start(GoogleHealthConfig::default()).await;
    let redirect = authorize(&sandbox, &[]).await;
    assert_eq!(redirect["state"], "st4te");
    assert_eq!(redirect["scope"], scopes::ACTIVITY_AND_FITNESS);
    assert_eq!(redirect["iss"], "https://accounts.google.com");
    let code = redirect["code"].clone();
    assert!(code.starts_with("4/0"), "{code}");

    // A wrong verifier fails and burns the code.
    let (status, body) = token_request(
        &sandbox,
        &code_exchange_form(&code, REDIRECT_URI, &"x".repeat(43)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "Invalid code verifier."})
    );
    let (status, body) = exchange(&sandbox, &code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // A redirect URI differing from the authorize request's.
    let code = authorize(&sandbox, &[]).await["code"].clone();
    let (status, body) = token_request(
        &sandbox,
        &code_exchange_form(&code, "http://localhost:9000/other", VERIFIER),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("redirect_uri_mismatch"))
    );

    // Client authentication with HTTP Basic works too; the code is good once.
    let code = authorize(&sandbox, &[]).await["code"].clone();
    let config = sandbox.google_health.config();
    let response = client()
        .post(format!("{}/token", sandbox.base_url))
        .header(
            "authorization",
            format!(
                "Basic {}",
                STANDARD.encode(format!("{}:{}", config.client_id, config.client_secret))
            ),
        )
        .form(&code_exchange_form(&code, REDIRECT_URI, VERIFIER))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["cache-control"],
        "no-cache, no-store, max-age=0, must-revalidate"
    );
    let grant: Value = response.json().await.unwrap();
    assert_eq!(grant["expires_in"], 3599);
    assert_eq!(grant["token_type"], "Bearer");
    assert_eq!(grant["scope"], scopes::ACTIVITY_AND_FITNESS);
    assert!(grant["access_token"].as_str().unwrap().starts_with("ya29."));
    assert!(grant["refresh_token"].as_str().unwrap().starts_with("1//0"));
    assert!(grant.get("id_token").is_none(), "no openid, no id_token");
    let (status, body) = exchange(&sandbox, &code).await;
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "Bad Request"}),
        "{status}"
    );

    // Wrong client credentials are 401 invalid_client.
    let response = client()
        .post(format!("{}/token", sandbox.base_url))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", &config.client_id),
            ("client_secret", "wrong"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );

    let stats = sandbox.google_health.stats();
    assert_eq!(stats.token_requests_with("authorization_code", "ok"), 1);
    assert_eq!(
        stats.token_requests_with("authorization_code", "invalid_grant"),
        3
    );
    assert_eq!(
        stats.token_requests_with("authorization_code", "redirect_uri_mismatch"),
        1
    );
    assert_eq!(stats.authorizations[USER], 3);
}

#[tokio::test]
async fn refresh_tokens_come_only_with_offline_access_on_the_consent_screen() {
    let sandbox = start(GoogleHealthConfig::default()).await;
    // Online access: no refresh token.
    let code =
        authorize(&sandbox, &[("access_type", "online"), ("prompt", "")]).await["code"].clone();
    let (status, grant) = exchange(&sandbox, &code).await;
    assert_eq!(status, StatusCode::OK);
    assert!(grant.get("refresh_token").is_none(), "{grant}");

    // Offline, scopes already granted, no prompt: the consent screen is skipped and no
    // refresh token comes back... unless the user has none yet.
    let redirect = authorize(&sandbox, &[("prompt", "")]).await;
    assert_eq!(redirect["prompt"], "none");
    let (_, grant) = exchange(&sandbox, &redirect["code"]).await;
    assert!(
        grant["refresh_token"].is_string(),
        "the first refresh token: {grant}"
    );
    let redirect = authorize(&sandbox, &[("prompt", "")]).await;
    let (_, grant) = exchange(&sandbox, &redirect["code"]).await;
    assert!(grant.get("refresh_token").is_none(), "{grant}");

    // prompt=consent shows the screen again: a new refresh token.
    let redirect = authorize(&sandbox, &[]).await;
    assert_eq!(redirect["prompt"], "consent");
    let (_, grant) = exchange(&sandbox, &redirect["code"]).await;
    assert!(grant["refresh_token"].is_string(), "{grant}");

    // A new scope shows the screen too; prompt=none then answers consent_required.
    let redirect = authorize(&sandbox, &[("prompt", "none"), ("scope", scopes::SLEEP)]).await;
    assert_eq!(redirect["error"], "consent_required");
    assert!(!redirect.contains_key("code"));
}

#[tokio::test]
async fn authorize_refuses_bad_requests_with_an_error_page() {
    let sandbox = start(GoogleHealthConfig {
        redirect_uris: vec![REDIRECT_URI.to_owned()],
        ..Default::default()
    })
    .await;
    for (overrides, status, error) in [
        (
            vec![("client_id", "other.apps.googleusercontent.com")],
            401,
            "invalid_client",
        ),
        (
            vec![("redirect_uri", "http://localhost:9000/elsewhere")],
            400,
            "redirect_uri_mismatch",
        ),
        (
            vec![(
                "scope",
                "https://www.googleapis.com/auth/googlehealth.teleport.readonly",
            )],
            400,
            "invalid_scope",
        ),
        (
            vec![("scope", scopes::CLOUD_PLATFORM)],
            400,
            "invalid_scope",
        ),
        (vec![("scope", "")], 400, "invalid_request"),
        (
            vec![("code_challenge_method", "plain")],
            400,
            "invalid_request",
        ),
        (vec![("code_challenge", "")], 400, "invalid_request"),
        (
            vec![("response_type", "token")],
            400,
            "unsupported_response_type",
        ),
        (vec![("access_type", "forever")], 400, "invalid_request"),
    ] {
        let response = authorize_with(&sandbox, &overrides).await;
        assert_eq!(response.status().as_u16(), status, "{overrides:?}");
        assert!(response.headers().get("location").is_none());
        let page = response.text().await.unwrap();
        assert!(
            page.contains(&format!("Error {status}: {error}")),
            "{overrides:?}: {page}"
        );
    }
}

#[tokio::test]
async fn denial_and_partial_consent() {
    let sandbox = start(GoogleHealthConfig::default()).await;
    let gh = &sandbox.google_health;
    gh.set_consent(Consent::deny(USER));
    let redirect = authorize(&sandbox, &[]).await;
    assert_eq!(redirect["error"], "access_denied");
    assert_eq!(redirect["state"], "st4te");
    assert!(!redirect.contains_key("code"));
    assert_eq!(gh.stats().consent_denials, 1);

    // A second person unticks sleep; sign-in scopes cannot be unticked.
    gh.add_user(GoogleUser::new("7700000000000000001", "Kim", "Partial"));
    gh.set_consent(Consent::allow_only(
        "7700000000000000001",
        &[scopes::ACTIVITY_AND_FITNESS],
    ));
    let requested = format!(
        "{} {} openid email",
        scopes::ACTIVITY_AND_FITNESS,
        scopes::SLEEP
    );
    let redirect = authorize(&sandbox, &[("scope", &requested), ("nonce", "n-1")]).await;
    let granted = format!(
        "{} openid {}",
        scopes::ACTIVITY_AND_FITNESS,
        scopes::USERINFO_EMAIL
    );
    let granted_sorted = {
        let mut s: Vec<&str> = granted.split(' ').collect();
        s.sort();
        s.join(" ")
    };
    assert_eq!(redirect["scope"], granted_sorted);
    let (status, grant) = exchange(&sandbox, &redirect["code"]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(grant["scope"], granted_sorted);
    let id_token = grant["id_token"].as_str().unwrap();
    let claims = jwt_claims(id_token);
    assert_eq!(claims["email"], "kim.partial@example.com");
    assert_eq!(claims["nonce"], "n-1");
    assert_eq!(claims["aud"], gh.config().client_id);
    assert!(claims.get("name").is_none(), "no profile scope, no name");
    assert_eq!(
        gh.consented_scopes("7700000000000000001"),
        granted_sorted.split(' ').map(str::to_owned).collect()
    );

    let token = grant["access_token"].as_str().unwrap();
    let (status, body) = get(&sandbox, token, "/v4/users/me/dataTypes/sleep/dataPoints").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        google_error(&body, 403, "PERMISSION_DENIED"),
        "Request had insufficient authentication scopes."
    );
    let (status, _) = roll_up(&sandbox, token, "steps", range(days_ago(3), days_ago(2))).await;
    assert_eq!(status, StatusCode::OK);

    // A login hint signs in that person, with their own answer.
    gh.set_consent(Consent::allow_all(USER));
    gh.set_consent(Consent::allow_only(
        "7700000000000000001",
        &[scopes::ACTIVITY_AND_FITNESS],
    ));
    let redirect = authorize(&sandbox, &[("login_hint", "alex.sandbox@example.com")]).await;
    let (_, grant) = exchange(&sandbox, &redirect["code"]).await;
    let token = grant["access_token"].as_str().unwrap();
    let (_, identity) = get(&sandbox, token, "/v4/users/me/identity").await;
    assert_eq!(identity["healthUserId"], USER);
}

#[tokio::test]
async fn refresh_tokens_are_reusable_and_the_answer_has_no_new_one() {
    let sandbox = start(GoogleHealthConfig::default()).await;
    let gh = &sandbox.google_health;
    let first = gh.grant_tokens(USER, &[scopes::ACTIVITY_AND_FITNESS, "openid"]);
    let refresh_token = first.refresh_token.clone().unwrap();
    let (status, second) = refresh(&sandbox, &refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert!(second.get("refresh_token").is_none(), "{second}");
    assert_eq!(second["expires_in"], 3599);
    assert_eq!(second["scope"], first.scope);
    assert!(
        second["id_token"].is_string(),
        "openid grants carry an id_token on refresh"
    );
    let (status, third) = refresh(&sandbox, &refresh_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(second["access_token"], third["access_token"]);
    // Earlier access tokens stay valid until their hour is over.
    for token in [
        first.access_token.as_str(),
        second["access_token"].as_str().unwrap(),
    ] {
        let (status, _) = get(&sandbox, token, "/v4/users/me/identity").await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(gh.stats().refreshes_of(USER), 2);
    // A month later the refresh token still works (the app is in production).
    gh.advance_clock(30 * 86_400);
    assert_eq!(refresh(&sandbox, &refresh_token).await.0, StatusCode::OK);
    let (status, body) = refresh(&sandbox, "1//0-not-a-token").await;
    assert_eq!(
        (status, body["error_description"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            Some("Token has been expired or revoked.")
        )
    );
}

#[tokio::test]
async fn testing_mode_refresh_tokens_die_after_seven_days() {
    let sandbox = start(GoogleHealthConfig {
        testing_mode: true,
        ..Default::default()
    })
    .await;
    let gh = &sandbox.google_health;
    let grant = gh.grant_tokens(USER, &[scopes::SLEEP]);
    let refresh_token = grant.refresh_token.unwrap();
    gh.advance_clock(6 * 86_400 + 23 * 3600);
    assert_eq!(refresh(&sandbox, &refresh_token).await.0, StatusCode::OK);
    gh.advance_clock(3600);
    let (status, body) = refresh(&sandbox, &refresh_token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
    );
    // Re-consent gives a fresh one (the old is dead, so even without prompt=consent).
    let redirect = authorize(&sandbox, &[("prompt", ""), ("scope", scopes::SLEEP)]).await;
    let (_, grant) = exchange(&sandbox, &redirect["code"]).await;
    assert!(grant["refresh_token"].is_string(), "{grant}");
}

#[tokio::test]
async fn revocation_and_expiry() {
    let sandbox = start(GoogleHealthConfig::default()).await;
    let gh = &sandbox.google_health;
    let grant = gh.grant_tokens(USER, &[scopes::PROFILE]);
    assert!(gh.expire_access_token(USER));
    let response = client()
        .get(format!("{}/v4/users/me/profile", sandbox.base_url))
        .bearer_auth(&grant.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
    google_error(&response.json().await.unwrap(), 401, "UNAUTHENTICATED");

    let grant = gh.grant_tokens(USER, &[scopes::PROFILE]);
    gh.advance_clock(3599);
    assert_eq!(
        get(&sandbox, &grant.access_token, "/v4/users/me/profile")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    let grant = gh.grant_tokens(USER, &[scopes::PROFILE]);
    assert_eq!(
        get(&sandbox, &grant.access_token, "/v4/users/me/profile")
            .await
            .0,
        StatusCode::OK
    );
    let refresh_token = grant.refresh_token.unwrap();
    let revoke = |token: String| {
        client()
            .post(format!("{}/revoke?token={token}", sandbox.base_url))
            .send()
    };
    assert_eq!(
        revoke(refresh_token.clone()).await.unwrap().status(),
        StatusCode::OK
    );
    let (status, body) = refresh(&sandbox, &refresh_token).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, body) = get(&sandbox, &grant.access_token, "/v4/users/me/profile").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    google_error(&body, 401, "UNAUTHENTICATED");
    let again = revoke(refresh_token).await.unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        again.json::<Value>().await.unwrap()["error"],
        "invalid_token"
    );
    assert!(gh.consented_scopes(USER).is_empty());
    assert_eq!(gh.stats().revocations[USER], 1);

    // Revoking by form body, through an access token.
    let grant = gh.grant_tokens(USER, &[scopes::PROFILE]);
    let response = client()
        .post(format!("{}/revoke", sandbox.base_url))
        .form(&[("token", grant.access_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        refresh(&sandbox, &grant.refresh_token.unwrap()).await.0,
        StatusCode::BAD_REQUEST
    );
    let (status, body) = get(&sandbox, "ya29.unknown", "/v4/users/me/profile").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    google_error(&body, 401, "UNAUTHENTICATED");
    let (status, body) = get(&sandbox, "", "/v4/users/me/profile").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(google_error(&body, 401, "UNAUTHENTICATED")
        .starts_with("Request is missing required authentication credential"));
}
