//! The connect flow through the real OAuth handler, against the emulator's DynamoDB and
//! Secrets Manager and in-process Fitbit and SAP sandboxes.

use fitbridge::domain::pkce;
use fitbridge::domain::PersonKey;
use fitbridge::domain::Secret;
use fitbridge::domain::{Collection, ConnectionStatus, ProviderKind, ProviderUserId};
use fitbridge::marketing::sap::settings::ContactApi;
use fitbridge::ports::store::{ConnectAttempts, PendingAuthorization};
use fitbridge_integration::{body_text, location, query_param, EnvOptions, TestEnv};
use fitbridge_sandbox::fitbit::Consent;
use fitbridge_sandbox::sap::FaultInjection;
use time::Duration;

async fn connection(env: &TestEnv, user: &str) -> Option<fitbridge::domain::Connection> {
    use fitbridge::ports::store::ConnectionStore;
    env.store
        .get(&PersonKey::of(
            ProviderKind::Fitbit,
            &ProviderUserId(user.to_owned()),
        ))
        .await
        .expect("store readable")
}

fn token_exchanges(env: &TestEnv) -> u64 {
    let stats = env.sandbox.fitbit.stats();
    stats
        .token_requests
        .get("authorization_code")
        .map(|m| m.values().sum())
        .unwrap_or(0)
}

#[tokio::test]
async fn happy_path_stores_tokens_creates_contact_and_subscriptions() {
    let env = TestEnv::start().await;
    let user = env.new_user("Alex", "Sandbox");

    let response = env.connect(None).await;
    assert_eq!(response.status(), 200, "{}", body_text(&response));
    assert!(body_text(&response).contains("Your account is connected"));

    let contact = env
        .sandbox
        .sap
        .contact("FITBIT", &user)
        .expect("contact in SAP");
    assert_eq!(contact.field_str("FirstName"), Some("Alex"));
    assert_eq!(contact.field_str("LastName"), Some("Sandbox"));
    assert_eq!(contact.field_str("Country"), Some("DE"));
    assert_eq!(contact.field_str("Language"), Some("DE"));
    assert_eq!(contact.via, "API_MKT_CONTACT_SRV");
    assert_eq!(contact.source_system_id.as_deref(), Some("FITBRIDGE"));
    assert!(
        contact.additional_ids.is_empty(),
        "no ref, no additional id"
    );

    let stored = connection(&env, &user).await.expect("connection stored");
    let active = env
        .sandbox
        .fitbit
        .active_tokens(&user)
        .expect("sandbox issued tokens");
    assert!(
        stored.tokens.access_token.expose() == active.access_token,
        "stored access token is the one the sandbox issued" // values never printed
    );
    assert!(
        stored.tokens.refresh_token.expose() == active.refresh_token,
        "stored refresh token is the one the sandbox issued" // values never printed
    );
    assert_eq!(stored.status, ConnectionStatus::Active);
    assert_eq!(stored.version, 1);
    assert_eq!(stored.timezone.as_deref(), Some("Europe/Berlin"));
    assert!(stored.tokens.expires_at > fitbridge_integration::stack_now() + Duration::hours(7));
    assert_eq!(
        stored.subscriptions.iter().copied().collect::<Vec<_>>(),
        vec![Collection::Activities, Collection::Body, Collection::Sleep]
    );
    assert_eq!(
        env.sandbox
            .fitbit
            .stats()
            .subscriptions
            .get(&user)
            .cloned()
            .unwrap_or_default(),
        vec!["activities", "body", "sleep"],
        "one subscription per granted collection, never also 'all'"
    );
}

#[tokio::test]
async fn signed_ref_attaches_the_customer_id_to_the_contact() {
    let env = TestEnv::start().await;
    let user = env.new_user("Robin", "Kunde");
    let expires = fitbridge_integration::stack_now().unix_timestamp() + 600;
    let query = env.signed_link_query("C-100234", expires);

    let response = env.connect(Some(&query)).await;
    assert_eq!(response.status(), 200, "{}", body_text(&response));

    let contact = env.sandbox.sap.contact("FITBIT", &user).unwrap();
    assert_eq!(contact.additional_ids.len(), 1);
    assert_eq!(contact.additional_ids[0].origin, "CUSTOMER_ID");
    assert_eq!(contact.additional_ids[0].id, "C-100234");
    let stored = connection(&env, &user).await.unwrap();
    assert_eq!(stored.customer_ref.as_deref(), Some("C-100234"));
}

#[tokio::test]
async fn partial_scopes_create_only_the_matching_subscriptions() {
    let env = TestEnv::start().await;
    let user = env.new_user("Sam", "Partial");
    env.sandbox
        .fitbit
        .set_consent(Consent::allow_only(&user, &["activity", "profile"]));

    let response = env.connect(None).await;
    assert_eq!(response.status(), 200, "{}", body_text(&response));

    let stored = connection(&env, &user).await.unwrap();
    assert!(stored.tokens.scopes.contains("activity"));
    assert!(!stored.tokens.scopes.contains("sleep"));
    assert_eq!(
        stored.subscriptions.iter().copied().collect::<Vec<_>>(),
        vec![Collection::Activities]
    );
    assert_eq!(
        env.sandbox
            .fitbit
            .stats()
            .subscriptions
            .get(&user)
            .cloned()
            .unwrap_or_default(),
        vec!["activities"]
    );
    assert!(env.sandbox.sap.contact("FITBIT", &user).is_some());
}

#[tokio::test]
async fn without_profile_scope_the_contact_carries_only_the_provider_id() {
    let env = TestEnv::start().await;
    let user = env.new_user("Nomen", "Nescio");
    env.sandbox
        .fitbit
        .set_consent(Consent::allow_only(&user, &["sleep"]));

    let response = env.connect(None).await;
    assert_eq!(response.status(), 200, "{}", body_text(&response));
    let contact = env.sandbox.sap.contact("FITBIT", &user).expect("contact");
    assert_eq!(contact.field_str("FirstName"), None);
    assert_eq!(contact.field_str("ContactID"), Some(user.as_str()));
}

#[tokio::test]
async fn denied_consent_shows_a_clear_page_and_stores_nothing() {
    let env = TestEnv::start().await;
    let user = env.new_user("Dana", "Declines");
    env.sandbox.fitbit.set_consent(Consent::deny(&user));

    let redirect = env.get("/connect/fitbit").await;
    let callback = env.consent(location(&redirect)).await;
    assert!(callback.contains("error=access_denied"));
    let response = env.get(&callback).await;
    assert_eq!(response.status(), 403);
    assert!(body_text(&response).contains("You chose not to share your data"));
    assert!(connection(&env, &user).await.is_none());
    assert!(env.sandbox.sap.contacts().is_empty());
    assert_eq!(token_exchanges(&env), 0);

    // The state died with the denial: the same callback cannot be replayed either.
    let again = env.get(&callback).await;
    assert_eq!(again.status(), 400);
}

#[tokio::test]
async fn replayed_state_is_refused_and_changes_nothing() {
    let env = TestEnv::start().await;
    let user = env.new_user("Rita", "Replay");
    let redirect = env.get("/connect/fitbit").await;
    let callback = env.consent(location(&redirect)).await;

    assert_eq!(env.get(&callback).await.status(), 200);
    let version_before = connection(&env, &user).await.unwrap().version;

    let replay = env.get(&callback).await;
    assert_eq!(replay.status(), 400);
    assert!(body_text(&replay).contains("already used"));
    assert_eq!(
        token_exchanges(&env),
        1,
        "a replay never reaches the provider"
    );
    assert_eq!(
        connection(&env, &user).await.unwrap().version,
        version_before
    );
    assert_eq!(
        env.sandbox
            .sap
            .contact("FITBIT", &user)
            .unwrap()
            .write_count,
        1
    );
    assert!(env.logs.text().contains("state already used (replay)"));
}

#[tokio::test]
async fn forged_state_is_refused_before_any_token_exchange() {
    let env = TestEnv::start().await;
    env.new_user("Fay", "Forged");
    let redirect = env.get("/connect/fitbit").await;
    let callback = env.consent(location(&redirect)).await;
    // Keep the real code, swap in a state we never issued.
    let code = query_param(&callback, "code");
    let forged = format!(
        "/oauth/callback/fitbit?code={code}&state={}",
        pkce::new_state()
    );

    let response = env.get(&forged).await;
    assert_eq!(response.status(), 400);
    assert_eq!(token_exchanges(&env), 0);
    assert!(env.sandbox.sap.contacts().is_empty());
    assert!(env.logs.text().contains("state unknown"));

    let missing = env
        .get(&format!("/oauth/callback/fitbit?code={code}"))
        .await;
    assert_eq!(missing.status(), 400);
}

#[tokio::test]
async fn expired_state_is_refused() {
    let env = TestEnv::start().await;
    env.new_user("Eve", "Expired");
    let state = pkce::new_state();
    env.store
        .put(
            &state,
            &PendingAuthorization {
                provider: ProviderKind::Fitbit,
                code_verifier: Secret::new("v".repeat(43)),
                link: None,
                redirect_uri: format!(
                    "{}/oauth/callback/fitbit",
                    fitbridge_integration::PUBLIC_BASE_URL
                ),
                expires_at: fitbridge_integration::stack_now() - Duration::seconds(1),
                browser_hash: String::new(),
            },
        )
        .await
        .unwrap();

    let response = env
        .get(&format!("/oauth/callback/fitbit?code=abc&state={state}"))
        .await;
    assert_eq!(response.status(), 400);
    assert!(body_text(&response).contains("Please start again"));
    assert_eq!(token_exchanges(&env), 0);
    assert!(env.logs.text().contains("state expired"));
}

#[tokio::test]
async fn reconnect_updates_one_contact_and_replaces_tokens() {
    let env = TestEnv::start().await;
    let user = env.new_user("Ray", "Connect");
    assert_eq!(env.connect(None).await.status(), 200);
    let first = connection(&env, &user).await.unwrap();

    assert_eq!(env.connect(None).await.status(), 200);
    let second = connection(&env, &user).await.unwrap();

    let contacts: Vec<_> = env
        .sandbox
        .sap
        .contacts()
        .into_iter()
        .filter(|c| c.id == user)
        .collect();
    assert_eq!(
        contacts.len(),
        1,
        "reconnecting never duplicates the contact"
    );
    assert_eq!(contacts[0].write_count, 2);
    // Two writes, each a new version: the new tokens as soon as the person is identified
    // (so they survive anything slower failing), then the connection with its contact.
    assert_eq!(second.version, first.version + 2);
    assert_ne!(second.tokens.access_token, first.tokens.access_token);
    let active = env.sandbox.fitbit.active_tokens(&user).unwrap();
    assert!(
        second.tokens.refresh_token.expose() == active.refresh_token,
        "stored refresh token is the one the sandbox issued" // values never printed
    );
    assert_eq!(
        env.sandbox
            .fitbit
            .stats()
            .subscriptions
            .get(&user)
            .map(Vec::len),
        Some(3),
        "subscriptions answered 200 the second time, not duplicated"
    );
}

#[tokio::test]
async fn sap_csrf_token_expiring_mid_flow_is_fetched_again() {
    let env = TestEnv::start().await;
    let first = env.new_user("Cora", "First");
    assert_eq!(env.connect(None).await.status(), 200);
    // The container's cached CSRF session dies (30 min idle in a real tenant).
    env.sandbox.sap.expire_sessions();
    let second = env.new_user("Cid", "Second");
    let response = env.connect(None).await;
    assert_eq!(response.status(), 200, "{}", body_text(&response));

    assert!(env.sandbox.sap.contact("FITBIT", &first).is_some());
    assert!(env.sandbox.sap.contact("FITBIT", &second).is_some());
    let stats = env.sandbox.sap.stats();
    assert_eq!(stats.csrf_rejections, 1, "one 403 Required");
    assert_eq!(
        stats.csrf_fetches, 2,
        "fetched once at start, once after the 403"
    );
}

#[tokio::test]
async fn sap_per_part_error_fails_cleanly_and_a_retry_succeeds() {
    let env = TestEnv::start().await;
    let user = env.new_user("Pia", "Part");
    env.sandbox.sap.inject_faults(FaultInjection {
        fail_parts_matching: Some(user.clone()),
        part_status: Some(400),
        ..Default::default()
    });

    let response = env.connect(None).await;
    assert_eq!(response.status(), 502);
    assert!(body_text(&response).contains("Nothing was changed"));
    assert!(
        connection(&env, &user).await.is_none(),
        "nothing half-stored"
    );
    assert!(env.sandbox.sap.contact("FITBIT", &user).is_none());
    assert!(!env.sandbox.fitbit.stats().subscriptions.contains_key(&user));
    assert!(env.logs.text().contains("contact upsert failed"));

    // Nothing blocks the person's retry.
    env.sandbox.sap.inject_faults(FaultInjection {
        fail_parts_matching: Some(String::new()),
        ..Default::default()
    });
    let retry = env.connect(None).await;
    assert_eq!(retry.status(), 200, "{}", body_text(&retry));
    assert!(env.sandbox.sap.contact("FITBIT", &user).is_some());
    assert!(connection(&env, &user).await.is_some());
}

#[tokio::test]
async fn sap_outage_during_reconnect_keeps_the_new_tokens() {
    let env = TestEnv::start().await;
    let user = env.new_user("Otto", "Outage");
    assert_eq!(env.connect(None).await.status(), 200);
    env.sandbox.sap.inject_faults(FaultInjection {
        fail_next_requests: Some(100),
        status: Some(503),
        ..Default::default()
    });
    let response = env.connect(None).await;
    assert_eq!(response.status(), 502);
    // Fitbit invalidated the old pair when it issued the new one: the stored connection
    // must hold the new pair or it would be dead.
    let stored = connection(&env, &user).await.unwrap();
    let active = env.sandbox.fitbit.active_tokens(&user).unwrap();
    assert!(
        stored.tokens.refresh_token.expose() == active.refresh_token,
        "stored refresh token is the one the sandbox issued" // values never printed
    );
}

#[tokio::test]
async fn provider_gone_shows_a_migration_page_and_stores_nothing() {
    let env = TestEnv::start().await;
    let user = env.new_user("Gina", "Gone");
    let redirect = env.get("/connect/fitbit").await;
    let callback = env.consent(location(&redirect)).await;
    env.sandbox.fitbit.set_gone(true);

    let response = env.get(&callback).await;
    assert_eq!(response.status(), 502);
    assert!(body_text(&response).contains("no longer supports"));
    assert!(connection(&env, &user).await.is_none());
    assert!(env.sandbox.sap.contacts().is_empty());
    assert!(env.logs.text().contains("provider API is gone (410)"));
}

#[tokio::test]
async fn forged_altered_or_expired_links_are_refused_before_any_redirect() {
    let env = TestEnv::start().await;
    env.new_user("Lia", "Link");
    let now = fitbridge_integration::stack_now().unix_timestamp();
    let valid = env.signed_link_query("C-7", now + 600);
    let altered = valid.replace("ref=C-7", "ref=C-8");
    let forged = fitbridge::domain::link::LinkClaims {
        customer_ref: Some("C-7".into()),
        legacy_user_id: None,
        issued: now,
        expires: now + 600,
    }
    .query(&Secret::new("not-the-key"), ProviderKind::Fitbit);
    let expired = env.signed_link_query("C-7", now - 1);
    let unsigned = "ref=C-7".to_owned();
    // Signed correctly, but valid for longer than any link may be.
    let too_long = env.signed_link_query("C-7", now + 91 * 86_400);

    for query in [altered, forged, expired, unsigned, too_long] {
        let response = env.get(&format!("/connect/fitbit?{query}")).await;
        assert_eq!(response.status(), 403, "{query}");
        assert!(response.headers().get("location").is_none(), "{query}");
        assert!(body_text(&response).contains("not valid"));
    }
    assert!(env.sandbox.fitbit.stats().authorizations.is_empty());
    assert_eq!(
        env.get(&format!("/connect/fitbit?{valid}")).await.status(),
        302
    );
}

#[tokio::test]
async fn the_connect_start_binds_the_browser_with_a_host_only_cookie() {
    let env = TestEnv::start().await;
    env.new_user("Bea", "Binding");
    let redirect = env.get("/connect/fitbit").await;
    assert_eq!(redirect.status(), 302);
    let cookie = redirect.headers()["set-cookie"].to_str().unwrap();
    let (pair, attributes) = cookie.split_once(';').unwrap();
    let (name, value) = pair.split_once('=').unwrap();
    assert_eq!(name, "__Host-fitbridge-connect");
    assert_eq!(value.len(), 43);
    let mut attributes: Vec<&str> = attributes.split(';').map(str::trim).collect();
    attributes.sort_unstable();
    assert_eq!(
        attributes,
        [
            "HttpOnly",
            "Max-Age=600",
            "Path=/",
            "SameSite=Lax",
            "Secure"
        ],
        "no Domain: only this origin may set or read it"
    );
    // The binding a browser holds is kept, so two tabs do not undo each other.
    let again = env.get("/connect/fitbit").await;
    assert_eq!(
        again.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next(),
        Some(pair)
    );
    assert!(
        !env.logs.text().contains(value),
        "the binding is never logged"
    );
}

#[tokio::test]
async fn a_consent_url_opened_in_another_browser_connects_nothing() {
    // Login CSRF: someone starts with their own signed link and sends the consent URL to
    // somebody else; that person's consent must not land on the sender's customer record.
    let env = TestEnv::start().await;
    let user = env.new_user("Vic", "Victim");
    let now = fitbridge_integration::stack_now().unix_timestamp();
    for other_browser in [
        vec![],
        vec![format!("__Host-fitbridge-connect={}", "A".repeat(43))],
    ] {
        let start = env
            .get(&format!(
                "/connect/fitbit?{}",
                env.signed_link_query("C-ATTACKER", now + 600)
            ))
            .await;
        let callback = env.consent(location(&start)).await;
        let response = env.get_with_cookies(&callback, &other_browser).await;
        assert_eq!(response.status(), 403, "{}", body_text(&response));
        assert!(body_text(&response).contains("in the browser where it started"));
    }
    assert!(connection(&env, &user).await.is_none());
    assert!(env.sandbox.sap.contacts().is_empty());
    assert_eq!(token_exchanges(&env), 0, "the code was never redeemed");
    assert!(env.logs.text().contains("browser other than the one"));
}

#[tokio::test]
async fn a_signed_link_connects_once() {
    let env = TestEnv::start().await;
    let user = env.new_user("Una", "Once");
    let link = env.signed_link_query(
        "C-ONCE",
        fitbridge_integration::stack_now().unix_timestamp() + 600,
    );
    assert_eq!(env.connect(Some(&link)).await.status(), 200);
    assert!(connection(&env, &user).await.is_some());

    let again = env.get(&format!("/connect/fitbit?{link}")).await;
    assert_eq!(again.status(), 410, "{}", body_text(&again));
    assert!(body_text(&again).contains("already been used"));
    assert!(again.headers().get("location").is_none());
    // Without the link the person can still reconnect (their customer id stays).
    assert_eq!(env.connect(None).await.status(), 200);
    let stored = connection(&env, &user).await.unwrap();
    assert_eq!(stored.customer_ref.as_deref(), Some("C-ONCE"));
}

#[tokio::test]
async fn unknown_provider_and_missing_code_get_clear_answers() {
    let env = TestEnv::start().await;
    let response = env.get("/connect/garmin").await;
    assert_eq!(response.status(), 404);

    env.new_user("Mo", "Missing");
    let redirect = env.get("/connect/fitbit").await;
    let callback = env.consent(location(&redirect)).await;
    let state = query_param(&callback, "state");
    let response = env
        .get(&format!("/oauth/callback/fitbit?state={state}"))
        .await;
    assert_eq!(response.status(), 400);
    assert!(env.logs.text().contains("callback without code"));
}

#[tokio::test]
async fn cuan_import_is_selectable_for_contacts() {
    let env = TestEnv::with(EnvOptions {
        contact_api: ContactApi::Cuan,
        ..Default::default()
    })
    .await;
    let user = env.new_user("Cuan", "Import");
    let expires = fitbridge_integration::stack_now().unix_timestamp() + 600;
    let response = env
        .connect(Some(&env.signed_link_query("C-55", expires)))
        .await;
    assert_eq!(response.status(), 200, "{}", body_text(&response));
    let contact = env
        .sandbox
        .sap
        .contact("FITBIT", &user)
        .expect("contact via CUAN");
    assert_eq!(contact.via, "CUAN_IMPORT_SRV");
    assert_eq!(contact.field_str("FirstName"), Some("Cuan"));
    // The same data as through the contact API, country and language included.
    assert_eq!(contact.field_str("CountryDescription"), Some("DE"));
    assert_eq!(contact.field_str("LanguageDescription"), Some("DE"));
    assert_eq!(contact.additional_ids.len(), 1);
    assert_eq!(contact.additional_ids[0].id, "C-55");
}

#[tokio::test]
async fn logs_of_a_full_connect_hold_no_tokens_secrets_or_personal_data() {
    let env = TestEnv::start().await;
    let user = env.new_user("Zelda", "Privatperson");
    let expires = fitbridge_integration::stack_now().unix_timestamp() + 600;
    let response = env
        .connect(Some(&env.signed_link_query("C-SECRET-REF-991", expires)))
        .await;
    assert_eq!(response.status(), 200);
    // A second connect exercises the reconnect path's logging too.
    assert_eq!(env.connect(None).await.status(), 200);

    let logs = env.logs.text();
    assert!(
        logs.contains("connect completed"),
        "the capture works: {logs}"
    );
    assert!(logs.contains(&user), "user ids are fine to log");
    let mut forbidden = env.sandbox.fitbit.tokens_issued(&user);
    assert!(
        forbidden.len() >= 4,
        "two access and two refresh tokens issued"
    );
    forbidden.extend([
        env.fitbit_client_secret.clone(),
        env.sap_password.clone(),
        env.link_key.expose().to_owned(),
        "Zelda".into(),
        "Privatperson".into(),
        "C-SECRET-REF-991".into(),
    ]);
    for value in forbidden {
        assert!(
            !logs.contains(&value),
            "log leaks a secret or personal value"
        );
    }
}

#[tokio::test]
async fn without_public_base_url_the_redirect_uri_uses_api_gateways_domain() {
    let env = TestEnv::with(EnvOptions {
        public_base_url: false,
        ..Default::default()
    })
    .await;
    env.new_user("Dom", "Ain");
    let response = env.get("/connect/fitbit").await;
    assert_eq!(response.status(), 302);
    let redirect_uri = query_param(location(&response), "redirect_uri");
    // The test events' requestContext.domainName, not anything the client sent.
    assert_eq!(redirect_uri, "https://fitbridge.test/oauth/callback/fitbit");
    let done = env.get(&env.consent(location(&response)).await).await;
    assert_eq!(done.status(), 200, "{}", body_text(&done));
}

#[tokio::test]
async fn a_google_person_connects_without_the_profile_or_settings_google_refused() {
    // The identity is the connection; profile and settings only fill the contact in.
    let env = TestEnv::start().await;
    for (part, status) in [("users/me/settings", 403), ("users/me/profile", 500)] {
        let user = env.new_google_user(None);
        env.sandbox
            .google_health
            .fail_next_requests_to(part, 1, status);
        let response = env.connect_to(ProviderKind::GoogleHealth, None).await;
        assert_eq!(response.status(), 200, "{part}: {}", body_text(&response));
        use fitbridge::ports::store::ConnectionStore;
        let connection = env
            .store
            .get(&PersonKey::of(
                ProviderKind::GoogleHealth,
                &ProviderUserId(user.clone()),
            ))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{part} refused: connected anyway"));
        assert_eq!(connection.status, ConnectionStatus::Active);
        if part.ends_with("settings") {
            assert_eq!(
                connection.timezone, None,
                "the time zone came with the settings"
            );
        }
        assert!(
            env.sandbox.google_health.faults().fail_next_requests == 0,
            "{part} was asked for and refused"
        );
        assert!(
            env.sandbox.sap.contact("GOOGLE_HEALTH", &user).is_some(),
            "{part} refused: the contact is there"
        );
    }
}
