use super::*;

#[tokio::test]
async fn data_calls_wait_for_registration_which_answers_the_user() {
    let sandbox = start_default().await;
    let token = connect_via_oauth(&sandbox).await.access_token;
    let day = format!("/v3/users/activities/{}", TODAY.previous_day().unwrap());
    let response = get(&sandbox, &token, &day).await;
    assert_eq!(
        error_type(response, StatusCode::FORBIDDEN).await,
        "UserNotRegistered"
    );
    // Not registered: the user "is not found" for the partner.
    let response = get(&sandbox, &token, &format!("/v3/users/{USER}")).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let response = register(&sandbox, &token, "member-1").await;
    let user = json_of(response, StatusCode::OK, "user").await;
    assert_eq!(user["polar-user-id"], 2_278_517);
    assert_eq!(user["member-id"], "member-1");
    let registered = user["registration-date"].as_str().unwrap();
    assert!(
        registered.starts_with("2026-11-20T12:00:0") && registered.ends_with('Z'),
        "{registered}"
    );
    assert_eq!(user["first-name"], "Alex");
    assert_eq!(user["gender"], "FEMALE");
    assert!(user["extra-info"].is_null());
    let info: UserInfo = serde_json::from_value(user.clone()).unwrap();
    assert_eq!(info.weight, 64.5);

    let response = get(&sandbox, &token, &format!("/v3/users/{USER}")).await;
    assert_eq!(json_of(response, StatusCode::OK, "user").await, user);
    assert_eq!(get(&sandbox, &token, &day).await.status(), StatusCode::OK);
    assert_eq!(sandbox.polar.stats().unregistered_refusals[USER], 1);
    assert_eq!(sandbox.polar.stats().registrations[USER], 1);
}

#[tokio::test]
async fn registering_twice_or_a_taken_member_id_conflicts() {
    let sandbox = start_default().await;
    let token = connect_via_oauth(&sandbox).await.access_token;
    assert_eq!(
        register(&sandbox, &token, "member-1").await.status(),
        StatusCode::OK
    );
    let response = register(&sandbox, &token, "member-1").await;
    assert_eq!(error_type(response, StatusCode::CONFLICT).await, "Conflict");
    let response = register(&sandbox, &token, "member-2").await;
    assert_eq!(
        response.status(),
        StatusCode::CONFLICT,
        "already registered"
    );

    let other = sandbox.polar.grant_tokens("555", &[SCOPE]).access_token;
    let response = register(&sandbox, &other, "member-1").await;
    assert_eq!(response.status(), StatusCode::CONFLICT, "member-id taken");
    // The page's XML body, sent as the page's examples send it.
    let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<register>\n  <member-id>member-555</member-id>\n</register>";
    let response = client()
        .post(format!("{}/v3/users", sandbox.base_url))
        .bearer_auth(&other)
        .header("content-type", "application/xml")
        .body(xml)
        .send()
        .await
        .unwrap();
    let user = json_of(response, StatusCode::OK, "user").await;
    assert_eq!(
        (user["polar-user-id"].as_u64(), user["member-id"].as_str()),
        (Some(555), Some("member-555"))
    );
    let response = client()
        .post(format!("{}/v3/users", sandbox.base_url))
        .bearer_auth(&other)
        .json(&json!({ "member": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_type(response, StatusCode::BAD_REQUEST).await,
        "BadRequest"
    );
}

#[tokio::test]
async fn deregistration_revokes_the_token() {
    let sandbox = start_default().await;
    let token = connected(&sandbox).await;
    let day = format!("/v3/users/activities/{TODAY}");
    assert_eq!(get(&sandbox, &token, &day).await.status(), StatusCode::OK);
    // Only the token's own person.
    let response = client()
        .delete(format!("{}/v3/users/555", sandbox.base_url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = client()
        .delete(format!("{}/v3/users/{USER}", sandbox.base_url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(sandbox.polar.user(USER).unwrap().registration.is_none());
    let response = get(&sandbox, &token, &day).await;
    assert_eq!(
        error_type(response, StatusCode::UNAUTHORIZED).await,
        "Unauthorized"
    );
    assert_eq!(sandbox.polar.stats().deregistrations[USER], 1);
    // A new authorization and registration start over.
    let token = connect_via_oauth(&sandbox).await.access_token;
    assert_eq!(
        register(&sandbox, &token, "member-1").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn without_polars_mandatory_consents_everything_is_forbidden() {
    let sandbox = start_default().await;
    let token = sandbox.polar.grant_tokens(USER, &[SCOPE]).access_token;
    sandbox.polar.set_mandatory_consents(USER, false);
    let response = register(&sandbox, &token, "member-1").await;
    assert_eq!(
        error_type(response, StatusCode::FORBIDDEN).await,
        "MandatoryConsentsMissing"
    );
    sandbox.polar.register(USER, "member-1");
    for path in [
        format!("/v3/users/{USER}"),
        format!("/v3/users/activities/{TODAY}"),
        format!("/v3/users/sleep/{TODAY}"),
        "/v3/exercises".to_owned(),
    ] {
        let response = get(&sandbox, &token, &path).await;
        assert_eq!(
            error_type(response, StatusCode::FORBIDDEN).await,
            "MandatoryConsentsMissing",
            "{path}"
        );
    }
    assert_eq!(sandbox.polar.stats().consent_refusals[USER], 5);
    sandbox.polar.set_mandatory_consents(USER, true);
    let response = get(&sandbox, &token, &format!("/v3/users/activities/{TODAY}")).await;
    assert_eq!(response.status(), StatusCode::OK);
}
