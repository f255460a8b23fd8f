//! Google Health end to end: the real connect, webhook, worker and token-refresh handlers
//! against the emulator's DynamoDB, SQS and Secrets Manager and the in-process Google
//! Health and SAP sandboxes — including the contract check of every request the client
//! makes, and the migration of a legacy person.

use fitbridge::domain::PersonKey;
use std::collections::BTreeMap;
use std::time::Duration;

use fitbridge::domain::{ConnectionStatus, ProviderKind, ProviderUserId};
use fitbridge::ports::store::{ConnectionStore, ParkedWork};
use fitbridge_integration::pipeline::Pipeline;
use fitbridge_integration::{body_text, location, query_param, TestEnv};
use fitbridge_sandbox::google_health::{scopes, Consent, RecordedDay};
use time::macros::date;

const GH: ProviderKind = ProviderKind::GoogleHealth;
const ALL: &[&str] = &[
    scopes::ACTIVITY_AND_FITNESS,
    scopes::SLEEP,
    scopes::HEALTH_METRICS,
];

/// Interactions in the SAP sandbox whose source object starts with `prefix`, by source
/// object → how many.
fn interactions(p: &Pipeline, prefix: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for i in p.env.sandbox.sap.interactions() {
        if let Some(source) = i.field_str("InteractionSourceObject") {
            if source.starts_with(prefix) {
                *counts.entry(source.to_owned()).or_default() += 1;
            }
        }
    }
    counts
}

async fn connection(
    env: &TestEnv,
    kind: ProviderKind,
    user: &str,
) -> Option<fitbridge::domain::Connection> {
    env.store
        .get(&PersonKey::of(kind, &ProviderUserId(user.into())))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_person_connects_with_google_and_becomes_a_contact_keyed_by_their_health_id() {
    let env = TestEnv::start().await;
    let user = env.new_google_user(None);
    let expires = fitbridge_integration::stack_now().unix_timestamp() + 600;
    let query = env.signed_link_query_for(GH, "C-2044", expires);

    let redirect = env.get(&format!("/connect/google-health?{query}")).await;
    assert_eq!(redirect.status(), 302, "{}", body_text(&redirect));
    let consent_url = location(&redirect);
    assert_eq!(query_param(consent_url, "access_type"), "offline");
    assert_eq!(query_param(consent_url, "prompt"), "consent");
    assert_eq!(query_param(consent_url, "code_challenge_method"), "S256");
    let page = env.get(&env.consent(consent_url).await).await;
    assert_eq!(page.status(), 200, "{}", body_text(&page));

    let contact = env
        .sandbox
        .sap
        .contact("GOOGLE_HEALTH", &user)
        .expect("a contact keyed by the health user id");
    // Google's health profile has no name, email or gender: the contact carries the
    // language from the settings and the company's customer id.
    let locale = env
        .sandbox
        .google_health
        .user(&user)
        .unwrap()
        .language_locale;
    assert_eq!(
        contact.field_str("Language"),
        Some(locale[..2].to_uppercase().as_str())
    );
    assert!(contact.field_str("FirstName").is_none());
    assert!(contact.field_str("EmailAddress").is_none());
    assert_eq!(contact.additional_ids.len(), 1);
    assert_eq!(contact.additional_ids[0].origin, "CUSTOMER_ID");
    assert_eq!(contact.additional_ids[0].id, "C-2044");

    let c = connection(&env, GH, &user).await.unwrap();
    assert_eq!(c.status, ConnectionStatus::Active);
    assert!(c.timezone.is_some(), "time zone from the settings");
    assert!(!c.tokens.refresh_token.expose().is_empty());
    assert!(
        c.subscriptions.is_empty(),
        "one project-level subscriber, nothing per person"
    );
    assert!(!env.logs.text().contains(c.tokens.refresh_token.expose()));
}

#[tokio::test]
async fn partial_consent_imports_only_what_was_granted_and_denial_stores_nothing() {
    let p = Pipeline::start().await;
    let env = &p.env;
    let sleeper = env.new_google_user(None);
    env.sandbox.google_health.set_consent(Consent::allow_only(
        &sleeper,
        &[scopes::SLEEP, scopes::SETTINGS],
    ));
    let page = env.connect_to(GH, None).await;
    assert_eq!(page.status(), 200, "{}", body_text(&page));
    let c = connection(env, GH, &sleeper).await.unwrap();
    assert!(!c.tokens.scopes.contains(scopes::ACTIVITY_AND_FITNESS));

    p.notify_google(&[
        (&sleeper, "steps", "2026-11-18"),
        (&sleeper, "sleep", "2026-11-18"),
    ])
    .await;
    p.drain(Duration::from_secs(60)).await;
    let got = interactions(&p, &sleeper);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        [&format!("{sleeper}-2026-11-18-sleep")]
    );

    let refuser = env.new_google_user(None);
    env.sandbox
        .google_health
        .set_consent(Consent::deny(&refuser));
    let page = env.connect_to(GH, None).await;
    assert_eq!(page.status(), 403);
    assert!(connection(env, GH, &refuser).await.is_none());
    assert!(env.sandbox.sap.contact("GOOGLE_HEALTH", &refuser).is_none());
}

#[tokio::test]
async fn notifications_with_duplicates_import_each_day_once_with_one_fetch() {
    let p = Pipeline::start().await;
    let ann = p.connected_google_user(ALL).await;
    let gh = &p.env.sandbox.google_health;
    gh.record_day(
        &ann,
        RecordedDay::on(date!(2026 - 11 - 17))
            .steps(8123)
            .active_minutes(20, 12),
    );

    // Steps, distance and calories of the same day: one activity fetch. The same body
    // again (Google retries) and once as an array of duplicates.
    let entries = [
        (ann.as_str(), "steps", "2026-11-17"),
        (ann.as_str(), "distance", "2026-11-17"),
        (ann.as_str(), "total-calories", "2026-11-17"),
        (ann.as_str(), "sleep", "2026-11-17"),
        (ann.as_str(), "weight", "2026-11-17"),
        (ann.as_str(), "heart-rate", "2026-11-17"),
    ];
    p.notify_google(&entries).await;
    p.notify_google(&entries).await;
    p.notify_google(&entries[..2]).await;
    p.drain(Duration::from_secs(60)).await;

    let got = interactions(&p, &ann);
    assert!(got.values().all(|n| *n == 1), "nothing twice: {got:?}");
    for metric in ["steps", "distance", "calories", "active_minutes", "sleep"] {
        assert!(
            got.contains_key(&format!("{ann}-2026-11-17-{metric}")),
            "{metric}: {got:?}"
        );
    }
    let steps = p
        .env
        .sandbox
        .sap
        .interactions()
        .into_iter()
        .find(|i| {
            i.field_str("InteractionSourceObject") == Some(&format!("{ann}-2026-11-17-steps"))
        })
        .unwrap();
    assert_eq!(
        steps.field_str("CommunicationMedium"),
        Some("GOOGLE_HEALTH")
    );
    assert_eq!(steps.field_str("InteractionType"), Some("GH_STEPS"));
    assert!(steps
        .field_str("InteractionContent")
        .unwrap()
        .contains("8123"));
    let active = p
        .env
        .sandbox
        .sap
        .interactions()
        .into_iter()
        .find(|i| {
            i.field_str("InteractionSourceObject")
                == Some(&format!("{ann}-2026-11-17-active_minutes"))
        })
        .unwrap();
    assert!(active
        .field_str("InteractionContent")
        .unwrap()
        .contains("\"value\":32"));
    // Four roll-ups and the exercise list for the activity day (the send hour), one list
    // each for sleep and weight.
    assert_eq!(gh.data_calls(&ann), 7);
    assert_eq!(p.depth(&p.dlq_url).await, 0);
}

#[tokio::test]
async fn an_expired_token_goes_through_the_retry_queue_with_one_refresh_and_the_same_refresh_token()
{
    let p = Pipeline::start().await;
    let bo = p.connected_google_user(ALL).await;
    let before = connection(&p.env, GH, &bo).await.unwrap();
    let gh = &p.env.sandbox.google_health;
    gh.expire_access_token(&bo);
    let days: Vec<String> = (10..16).map(|d| format!("2026-11-{d}")).collect();
    let entries: Vec<(&str, &str, &str)> = days
        .iter()
        .map(|d| (bo.as_str(), "steps", d.as_str()))
        .collect();
    p.notify_google(&entries).await;
    p.drain(Duration::from_secs(60)).await;

    let stats = gh.stats();
    assert_eq!(stats.refreshes_of(&bo), 1);
    assert_eq!(
        stats.token_requests_with("refresh_token", "invalid_grant"),
        0
    );
    let after = connection(&p.env, GH, &bo).await.unwrap();
    assert_eq!(
        after.tokens.refresh_token, before.tokens.refresh_token,
        "Google's refresh tokens are reusable: the stored one is kept"
    );
    assert_ne!(after.tokens.access_token, before.tokens.access_token);
    let got = interactions(&p, &bo);
    assert_eq!(
        got.keys().filter(|k| k.ends_with("-steps")).count(),
        6,
        "{got:?}"
    );
}

#[tokio::test]
async fn a_rate_limit_waits_for_the_window_without_nearing_the_dlq() {
    let p = Pipeline::start().await;
    let cy = p.connected_google_user(ALL).await;
    p.env.sandbox.google_health.throttle_user(&cy, 2);
    p.notify_google(&[(&cy, "weight", "2026-11-16")]).await;
    let (messages, failures) = p.run_worker().await.expect("one message");
    assert_eq!((messages, failures), (1, 1), "429: left on the queue");
    assert!(p.run_worker().await.is_none(), "invisible while it waits");
    // Google's 429 has no Retry-After: the message waits out the limit's minute on the
    // queue (the use-case tests show a wait on the last delivery is re-sent, not failed).
    assert_eq!(p.depth(&p.work_url).await, 1, "waiting, not lost");
    assert_eq!(
        p.env.sandbox.google_health.stats().throttled.get(&cy),
        Some(&1)
    );
    assert_eq!(p.depth(&p.dlq_url).await, 0);
}

#[tokio::test]
async fn a_delete_fetches_the_day_again_and_leaves_what_sap_has() {
    let p = Pipeline::start().await;
    let di = p.connected_google_user(ALL).await;
    let gh = &p.env.sandbox.google_health;
    gh.record_day(&di, RecordedDay::on(date!(2026 - 11 - 15)).steps(5000));
    p.notify_google(&[(&di, "steps", "2026-11-15")]).await;
    p.drain(Duration::from_secs(60)).await;
    let before = interactions(&p, &di);
    let calls = gh.data_calls(&di);

    gh.delete_day(&di, date!(2026 - 11 - 15));
    let body = String::from_utf8(Pipeline::google_notification_body(&[(
        &di,
        "steps",
        "2026-11-15",
    )]))
    .unwrap()
    .replace("UPSERT", "DELETE")
    .into_bytes();
    assert_eq!(
        p.post_webhook(GH, &body, &p.google_headers(&body)).await,
        204
    );
    p.drain(Duration::from_secs(60)).await;
    assert!(
        gh.data_calls(&di) > calls,
        "the deleted day was fetched again"
    );
    assert_eq!(
        interactions(&p, &di),
        before,
        "interactions stay as last imported"
    );
}

#[tokio::test]
async fn a_revoked_grant_parks_the_person_until_they_consent_again() {
    let p = Pipeline::start().await;
    let ed = p.connected_google_user(ALL).await;
    let gh = &p.env.sandbox.google_health;
    gh.revoke_user(&ed);
    p.notify_google(&[(&ed, "steps", "2026-11-14")]).await;
    p.drain(Duration::from_secs(60)).await;

    assert_eq!(
        connection(&p.env, GH, &ed).await.unwrap().status,
        ConnectionStatus::NeedsReconsent
    );
    assert_eq!(
        gh.stats()
            .token_requests_with("refresh_token", "invalid_grant"),
        1
    );
    let parked = p
        .env
        .store
        .parked(&PersonKey::of(GH, &ProviderUserId(ed.clone())))
        .await
        .unwrap();
    assert_eq!(parked.len(), 1);
    assert!(interactions(&p, &ed).is_empty());

    // They consent again: the parked day is imported.
    gh.set_consent(Consent::allow_all(&ed));
    let page = p.env.connect_to(GH, None).await;
    assert_eq!(page.status(), 200, "{}", body_text(&page));
    p.drain(Duration::from_secs(60)).await;
    assert!(interactions(&p, &ed).contains_key(&format!("{ed}-2026-11-14-steps")));
    assert_eq!(
        connection(&p.env, GH, &ed).await.unwrap().status,
        ConnectionStatus::Active
    );
}

/// Tink framing (`0x01 ‖ key id ‖ DER signature`) with a key of the test's own.
fn foreign_signature(key_id: u32, body: &[u8]) -> String {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
    use base64::Engine;
    let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
    let der = key.sign(&SystemRandom::new(), body).unwrap();
    let mut framed = vec![0x01];
    framed.extend_from_slice(&key_id.to_be_bytes());
    framed.extend_from_slice(der.as_ref());
    base64::engine::general_purpose::STANDARD.encode(framed)
}

#[tokio::test]
async fn signatures_are_checked_against_googles_keyset() {
    let p = Pipeline::start().await;
    let gh = &p.env.sandbox.google_health;
    let user = p.connected_google_user(ALL).await;
    let body = Pipeline::google_notification_body(&[(&user, "steps", "2026-11-13")]);
    let auth = (
        "authorization".to_owned(),
        p.env.google_webhook_authorization.clone(),
    );
    let with = |name: &str, value: String| vec![auth.clone(), (name.to_owned(), value)];
    let sig = "google-health-api-signature";

    // Google rotates its key: both the new key and the old one (still in the keyset)
    // verify. (A key id unknown to a container's cached keyset re-fetches it, at most once
    // a minute: the unit tests of `signature` drive that with their own clock.)
    let old = gh.sign(&body);
    gh.rotate_key();
    assert_eq!(
        p.post_webhook(GH, &body, &with(sig, gh.sign(&body))).await,
        204
    );
    assert_eq!(p.post_webhook(GH, &body, &with(sig, old)).await, 204);
    // Either header name.
    assert_eq!(
        p.post_webhook(GH, &body, &with("x-healthapi-signature", gh.sign(&body)))
            .await,
        204
    );
    let queued = p.depth(&p.work_url).await;
    assert_eq!(gh.keyset_fetches(), 1);

    // Refused, nothing queued: a wrong key under a known id, a truncated or non-base64
    // header, one changed byte, no signature, a wrong authorization; and a key id the
    // keyset does not hold, which must wait for the next allowed re-fetch (503: Google
    // retries, so a key it just introduced is not lost) and costs no fetch now.
    let before = p.depth(&p.work_url).await;
    let primary = gh.primary_key_id();
    let good = gh.sign(&body);
    let mut changed = body.clone();
    // A '2' is always there (the year), whatever the random user id holds.
    let at = changed.iter().position(|b| *b == b'2').unwrap();
    changed[at] = b'3';
    let refusals = [
        (
            body.clone(),
            with(sig, foreign_signature(primary, &body)),
            403,
        ),
        (
            body.clone(),
            with(sig, foreign_signature(primary ^ 0x5a5a, &body)),
            503,
        ),
        (body.clone(), with(sig, good[..20].to_owned()), 403),
        (body.clone(), with(sig, "not base64!".to_owned()), 403),
        (changed.clone(), with(sig, good.clone()), 403),
        (body.clone(), vec![auth.clone()], 401),
        (
            body.clone(),
            vec![
                ("authorization".to_owned(), "Bearer guess".to_owned()),
                (sig.to_owned(), good.clone()),
            ],
            401,
        ),
    ];
    for (n, (b, headers, status)) in refusals.iter().enumerate() {
        assert_eq!(p.post_webhook(GH, b, headers).await, *status, "case {n}");
    }
    assert_eq!(
        p.depth(&p.work_url).await,
        before,
        "nothing refused was queued"
    );
    assert!(queued >= 1);
    assert_eq!(
        gh.keyset_fetches(),
        1,
        "forged key ids cannot make us hammer Google"
    );
}

#[tokio::test]
async fn verification_probes_and_an_unreachable_keyset() {
    let p = Pipeline::start().await;
    let probe = br#"{"type":"verification"}"#;
    let auth = vec![(
        "authorization".to_owned(),
        p.env.google_webhook_authorization.clone(),
    )];
    assert_eq!(p.post_webhook(GH, probe, &auth).await, 201);
    assert_eq!(p.post_webhook(GH, probe, &[]).await, 401);
    let wrong = vec![("authorization".to_owned(), "Bearer wrong".to_owned())];
    assert_eq!(p.post_webhook(GH, probe, &wrong).await, 401);
    assert_eq!(p.depth(&p.work_url).await, 0);

    // Google's keys unreachable: 503, so Google delivers again; nothing is lost or queued.
    let mut providers = p.env.settings.providers.clone();
    providers.google_health.as_mut().unwrap().keyset_url =
        "http://127.0.0.1:9/keyset.json".parse().unwrap();
    let blind = fitbridge::wiring::webhook_service(
        &p.env.ports(),
        &fitbridge::config::WebhookSettings {
            providers: providers.clone(),
            work_queue_url: p.work_url.clone(),
        },
    );
    let body = Pipeline::google_notification_body(&[("4000", "steps", "2026-11-12")]);
    let mut event: serde_json::Value = serde_json::from_str(
        &fitbridge_integration::apigw_v2_event("POST", "/webhooks/google-health"),
    )
    .unwrap();
    event["body"] = serde_json::json!(String::from_utf8_lossy(&body));
    for (k, v) in p.google_headers(&body) {
        event["headers"][k] = serde_json::json!(v);
    }
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    assert_eq!(
        fitbridge::inbound::webhook::handle(&blind, request)
            .await
            .status(),
        503
    );
    assert_eq!(p.depth(&p.work_url).await, 0);
}

#[tokio::test]
async fn every_request_of_the_client_follows_the_discovery_document() {
    let p = Pipeline::start().await;
    let env = &p.env;
    let user = env.new_google_user(None);
    let page = env.connect_to(GH, None).await;
    assert_eq!(page.status(), 200, "{}", body_text(&page));
    p.notify_google(&[
        (&user, "steps", "2026-11-11"),
        (&user, "sleep", "2026-11-11"),
        (&user, "weight", "2026-11-11"),
    ])
    .await;
    p.drain(Duration::from_secs(60)).await;
    env.sandbox.google_health.expire_access_token(&user);
    p.notify_google(&[(&user, "steps", "2026-11-10")]).await;
    p.drain(Duration::from_secs(60)).await;

    let stats = env.sandbox.google_health.stats();
    // The sandbox matches each request against the discovery document (method, path
    // template, query parameter names, body fields) and refuses what does not fit.
    assert!(
        stats.contract_violations.is_empty(),
        "{:?}",
        stats.contract_violations
    );
    assert_eq!(stats.unmatched_requests, 0);
    let used: Vec<&str> = stats
        .requests_by_method
        .keys()
        .map(String::as_str)
        .collect();
    for method in [
        "health.users.getIdentity",
        "health.users.getProfile",
        "health.users.getSettings",
        "health.users.dataTypes.dataPoints.dailyRollUp",
        "health.users.dataTypes.dataPoints.list",
    ] {
        assert!(used.contains(&method), "{method} not used: {used:?}");
    }
    assert!(!interactions(&p, &user).is_empty());
}

#[tokio::test]
async fn a_legacy_person_migrates_keeping_their_contact_days_and_parked_work() {
    let p = Pipeline::start().await;
    let env = &p.env;
    // A Fitbit person with an imported day.
    let fitbit_id = p.connected_user(&["activity"]).await;
    p.notify(&[("activities", "2026-11-09", &fitbit_id)]).await;
    p.drain(Duration::from_secs(60)).await;
    let imported = interactions(&p, &fitbit_id);
    assert_eq!(imported.len(), 4);

    // The legacy API goes away: their next day is parked, the person provider_gone.
    env.sandbox.fitbit.set_gone(true);
    p.notify(&[("activities", "2026-11-10", &fitbit_id)]).await;
    p.drain(Duration::from_secs(60)).await;
    assert_eq!(
        connection(env, ProviderKind::Fitbit, &fitbit_id)
            .await
            .unwrap()
            .status,
        ConnectionStatus::ProviderGone
    );

    // They connect through Google, whose identity names their Fitbit id.
    let health_id = env.new_google_user(Some(&fitbit_id));
    let page = env.connect_to(GH, None).await;
    assert_eq!(page.status(), 200, "{}", body_text(&page));
    assert!(env.logs.text().contains("\"migrated_from\":\"fitbit\""));

    let migrated = connection(env, GH, &health_id).await.unwrap();
    assert_eq!(migrated.contact.origin, "FITBIT");
    assert_eq!(migrated.contact.id, fitbit_id, "the same SAP contact");
    assert!(
        env.sandbox
            .sap
            .contact("GOOGLE_HEALTH", &health_id)
            .is_none(),
        "no duplicate contact"
    );
    assert!(
        connection(env, ProviderKind::Fitbit, &fitbit_id)
            .await
            .is_none(),
        "retired"
    );

    // The parked day arrives through Google; the imported one is not written again.
    p.drain(Duration::from_secs(60)).await;
    p.notify_google(&[(&health_id, "steps", "2026-11-09")])
        .await;
    p.drain(Duration::from_secs(60)).await;
    let after = interactions(&p, &fitbit_id);
    assert!(
        after.values().all(|n| *n == 1),
        "no duplicate interaction: {after:?}"
    );
    for metric in ["steps", "distance", "calories", "active_minutes"] {
        assert!(
            after.contains_key(&format!("{fitbit_id}-2026-11-10-{metric}")),
            "{after:?}"
        );
    }
    assert!(p
        .env
        .store
        .parked(&PersonKey::of(
            ProviderKind::Fitbit,
            &ProviderUserId(fitbit_id.clone())
        ))
        .await
        .unwrap()
        .is_empty());
}
