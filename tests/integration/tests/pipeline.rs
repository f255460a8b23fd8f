//! The Fitbit pipeline through the real webhook, worker and token-refresh handlers, against
//! the emulator's SQS and DynamoDB and in-process Fitbit and SAP sandboxes.

use fitbridge::domain::PersonKey;
use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use fitbridge::domain::{ConnectionStatus, ProviderKind, ProviderUserId};
use fitbridge::ports::store::ConnectionStore;
use fitbridge::use_cases::sync::{ACCOUNT_DELETION_GRACE, DEFAULT_RETENTION_DAYS};
use fitbridge_integration::pipeline::Pipeline;
use fitbridge_sandbox::fitbit::{FitbitFaultInjection, RecordedActivity};
use fitbridge_sandbox::sap::FaultInjection;
use time::macros::date;

const ALL: &[&str] = &["profile", "activity", "sleep", "weight"];

/// Interactions in the SAP sandbox by source object (person-day-metric) → how many.
fn interactions_by_source(p: &Pipeline, user: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for i in p.env.sandbox.sap.interactions() {
        if let Some(source) = i.field_str("InteractionSourceObject") {
            if source.starts_with(user) {
                *counts.entry(source.to_owned()).or_default() += 1;
            }
        }
    }
    counts
}

#[tokio::test]
async fn notifications_with_duplicates_arrays_and_bad_ones_import_each_day_once() {
    let p = Pipeline::start().await;
    let alice = p.connected_user(ALL).await;
    let bob = p.connected_user(&["activity"]).await; // no sleep, no weight granted

    // One body with in-body duplicates and junk entries.
    let body = br#"[
      {"collectionType":"activities","date":"2026-11-18","ownerId":"ALICE","ownerType":"user"},
      {"collectionType":"activities","date":"2026-11-18","ownerId":"ALICE","ownerType":"user"},
      {"collectionType":"sleep","date":"2026-11-18","ownerId":"ALICE"},
      {"collectionType":"foods","date":"2026-11-18","ownerId":"ALICE"},
      {"collectionType":"activities","date":"yesterday","ownerId":"ALICE"},
      {"collectionType":"activities","date":"2026-11-18"},
      {"collectionType":"activities","date":"2026-11-18","ownerId":"BOB"},
      {"collectionType":"sleep","date":"2026-11-18","ownerId":"BOB"}
    ]"#;
    let body = String::from_utf8_lossy(body)
        .replace("ALICE", &alice)
        .replace("BOB", &bob)
        .into_bytes();
    assert_eq!(
        p.post_notification(&body, Some(&p.sign(&body)), false)
            .await,
        204
    );
    // The same notifications again, as separate deliveries (Fitbit retries), one base64.
    assert_eq!(
        p.post_notification(&body, Some(&p.sign(&body)), true).await,
        204
    );
    p.notify(&[("body", "2026-11-19", &alice)]).await;
    // Bad ones: wrong signature, no signature, not JSON, an unknown person.
    assert_eq!(
        p.post_notification(&body, Some("bm9wZQ=="), false).await,
        404
    );
    assert_eq!(p.post_notification(&body, None, false).await, 404);
    let junk = b"{not json".to_vec();
    assert_eq!(
        p.post_notification(&junk, Some(&p.sign(&junk)), false)
            .await,
        400
    );
    p.notify(&[("activities", "2026-11-18", "NOBODY")]).await;

    p.drain(Duration::from_secs(60)).await;

    let alice_got = interactions_by_source(&p, &alice);
    let day = "2026-11-18";
    for metric in ["steps", "distance", "calories", "active_minutes", "sleep"] {
        assert_eq!(
            alice_got.get(&format!("{alice}-{day}-{metric}")),
            Some(&1),
            "{metric}: {alice_got:?}"
        );
    }
    assert!(
        alice_got.values().all(|n| *n == 1),
        "nothing twice: {alice_got:?}"
    );
    let bob_got = interactions_by_source(&p, &bob);
    assert_eq!(bob_got.get(&format!("{bob}-{day}-steps")), Some(&1));
    assert!(
        !bob_got.keys().any(|k| k.ends_with("sleep")),
        "no sleep without the scope"
    );
    // Duplicates across deliveries cost no extra provider calls.
    let fitbit = p.env.sandbox.fitbit.stats();
    assert_eq!(
        fitbit.data_calls_of(&alice),
        3,
        "activities, sleep, body: once each"
    );
    assert_eq!(fitbit.data_calls_of(&bob), 1);
    assert_eq!(p.depth(&p.dlq_url).await, 0);
}

#[tokio::test]
async fn a_changed_day_updates_its_interaction_instead_of_adding_one() {
    let p = Pipeline::start().await;
    let user = p.connected_user(&["activity"]).await;
    let day = date!(2026 - 11 - 17);
    p.env
        .sandbox
        .fitbit
        .record_activity(&user, RecordedActivity::on(day).steps(4000));
    let body = Pipeline::notification_body(&[("activities", "2026-11-17", &user)]);
    assert_eq!(
        p.post_notification(&body, Some(&p.sign(&body)), false)
            .await,
        204
    );
    p.drain(Duration::from_secs(30)).await;

    p.env
        .sandbox
        .fitbit
        .record_activity(&user, RecordedActivity::on(day).steps(12345));
    assert_eq!(
        p.post_notification(&body, Some(&p.sign(&body)), false)
            .await,
        204
    );
    p.drain(Duration::from_secs(30)).await;

    let steps: Vec<_> = p
        .env
        .sandbox
        .sap
        .interactions_with_source_object(&format!("{user}-2026-11-17-steps"));
    assert_eq!(steps.len(), 1, "one interaction per person, day and metric");
    assert_eq!(steps[0].update_count, 1);
    assert_eq!(
        steps[0].field_str("YY1_FitbitNumberofStep_MIA"),
        Some("12345")
    );
}

#[tokio::test]
async fn fifty_concurrent_workers_hitting_401_cause_exactly_one_refresh() {
    let p = Pipeline::start().await;
    let user = p.connected_user(&["activity"]).await;
    p.env.sandbox.fitbit.expire_access_token(&user);

    // 50 different days, each its own message, processed by 50 concurrent workers.
    let bodies: Vec<Vec<u8>> = (0..50)
        .map(|d| {
            let date = (date!(2026 - 09 - 01) + time::Duration::days(d)).to_string();
            Pipeline::notification_body(&[("activities", &date, &user)])
        })
        .collect();
    for b in &bodies {
        assert_eq!(p.post_notification(b, Some(&p.sign(b)), false).await, 204);
    }
    let deliveries: Vec<fitbridge::inbound::sqs::Delivery> = bodies
        .iter()
        .map(|b| {
            let v: serde_json::Value = serde_json::from_slice(b).unwrap();
            let item = fitbridge::domain::WorkItem::sync(
                fitbridge::domain::ProviderKind::Fitbit,
                fitbridge::domain::ProviderUserId(user.clone()),
                fitbridge::domain::work::iso_date::parse(v[0]["date"].as_str().unwrap()).unwrap(),
                vec![fitbridge::domain::Collection::Activities],
            );
            fitbridge::inbound::sqs::Delivery {
                body: serde_json::to_string(&item).unwrap(),
                receive_count: 1,
                sent_at: fitbridge_integration::stack_now(),
            }
        })
        .collect();
    // The queued copies are the ones the concurrent workers below stand for.
    p.sqs
        .purge_queue()
        .queue_url(&p.work_url)
        .send()
        .await
        .unwrap();
    let outcomes = futures_util::future::join_all(
        deliveries
            .iter()
            .map(|d| p.worker.decide(std::slice::from_ref(d))),
    )
    .await;
    assert!(
        outcomes
            .iter()
            .all(|o| o == &[fitbridge::inbound::sqs::Decision::Delete]),
        "all handed to the retry queue"
    );

    // Several refresher invocations at once, as Lambda scales them.
    for _ in 0..20 {
        let _ = futures_util::future::join_all((0..5).map(|_| p.run_refresher())).await;
        if p.depth(&p.retry_url).await == 0 {
            break;
        }
    }
    p.drain(Duration::from_secs(60)).await;

    let stats = p.env.sandbox.fitbit.stats();
    assert_eq!(
        stats.refreshes_of(&user),
        1,
        "exactly one refresh at the sandbox"
    );
    assert_eq!(
        stats.token_requests_with("refresh_token", "invalid_grant"),
        0
    );
    assert_eq!(
        interactions_by_source(&p, &user).len(),
        50 * 4,
        "every day imported"
    );
    assert_eq!(
        p.connection(&user).await.unwrap().status,
        ConnectionStatus::Active
    );
}

#[tokio::test]
async fn fifty_workers_refreshing_ahead_of_expiry_refresh_once() {
    let p = Pipeline::start().await;
    let fitbit = &p.env.sandbox.fitbit;
    let user = fitbridge_integration::random_user_id();
    fitbit.add_user(fitbridge_sandbox::fitbit::TestUser::new(
        &user, "Ada", "Ahead",
    ));
    let grant = fitbit.grant_tokens(&user, &["activity"]);
    // Two minutes left: inside the 5-minute margin, so every worker wants to refresh.
    p.store_connection(
        &user,
        grant.access_token,
        grant.refresh_token,
        &["activity"],
        120,
    )
    .await;

    let person = PersonKey::new(fitbridge::domain::ProviderKind::Fitbit, user.clone());
    let tokens =
        futures_util::future::join_all((0..50).map(|_| p.worker.sync.tokens.fresh(&person))).await;
    assert!(
        tokens.iter().all(|t| t.is_ok()),
        "{:?}",
        tokens.iter().find(|t| t.is_err())
    );
    let stats = fitbit.stats();
    assert_eq!(stats.refreshes_of(&user), 1);
    assert_eq!(
        stats.token_requests_with("refresh_token", "invalid_grant"),
        0
    );
    let first = tokens[0]
        .as_ref()
        .unwrap()
        .tokens
        .access_token
        .expose()
        .to_owned();
    assert!(tokens
        .iter()
        .all(|t| t.as_ref().unwrap().tokens.access_token.expose() == first));
}

#[tokio::test]
async fn rate_limited_work_is_delivered_after_the_reset_without_nearing_the_dlq() {
    let p = Pipeline::start().await;
    let user = p.connected_user(&["activity"]).await;
    p.env.sandbox.fitbit.throttle_user(&user, 2);
    p.notify(&[("activities", "2026-11-16", &user)]).await;

    let (messages, failures) = p.run_worker().await.expect("one message");
    assert_eq!(
        (messages, failures),
        (1, 1),
        "429: left on the queue for after the reset"
    );
    assert!(
        p.run_worker().await.is_none(),
        "invisible until the reset (+ skew)"
    );
    p.drain(Duration::from_secs(30)).await;

    assert_eq!(interactions_by_source(&p, &user).len(), 4);
    assert_eq!(p.depth(&p.dlq_url).await, 0);
}

#[tokio::test]
async fn rate_limit_waits_never_push_work_into_the_dlq() {
    let p = Pipeline::start().await;
    let user = p.connected_user(&["activity"]).await;
    let item = fitbridge::domain::WorkItem::sync(
        fitbridge::domain::ProviderKind::Fitbit,
        fitbridge::domain::ProviderUserId(user.clone()),
        date!(2026 - 11 - 15),
        vec![fitbridge::domain::Collection::Activities],
    );
    p.env.sandbox.fitbit.throttle_user(&user, 1);
    // The message's last delivery before the redrive would move it to the DLQ.
    let last = fitbridge::inbound::sqs::Delivery {
        body: serde_json::to_string(&item).unwrap(),
        receive_count: fitbridge_integration::pipeline::MAX_RECEIVE_COUNT,
        sent_at: fitbridge_integration::stack_now(),
    };
    let outcome = p.worker.decide(&[last]).await;
    assert_eq!(
        outcome,
        vec![fitbridge::inbound::sqs::Decision::Delete],
        "re-sent as a fresh copy instead"
    );
    assert_eq!(
        p.depth(&p.work_url).await,
        1,
        "the fresh copy waits on the queue"
    );
    p.drain(Duration::from_secs(30)).await;
    assert_eq!(interactions_by_source(&p, &user).len(), 4);
}

#[tokio::test]
async fn sap_failing_for_a_while_delivers_afterwards_exactly_once() {
    let p = Pipeline::start().await;
    let user = p.connected_user(&["activity", "sleep"]).await;
    p.env.sandbox.sap.inject_faults(FaultInjection {
        fail_next_requests: Some(2),
        status: Some(503),
        ..Default::default()
    });
    p.notify(&[
        ("activities", "2026-11-14", &user),
        ("sleep", "2026-11-14", &user),
    ])
    .await;
    p.drain(Duration::from_secs(60)).await;

    let got = interactions_by_source(&p, &user);
    assert_eq!(got.len(), 5, "{got:?}");
    assert!(
        got.values().all(|n| *n == 1),
        "no duplicates after the retries: {got:?}"
    );
    assert!(p.env.sandbox.sap.stats().injected_failures >= 2);
}

#[tokio::test]
async fn provider_5xx_is_retried_with_backoff() {
    let p = Pipeline::start().await;
    let user = p.connected_user(&["activity"]).await;
    p.env.sandbox.fitbit.inject_faults(FitbitFaultInjection {
        fail_next_requests: Some(1),
        status: Some(503),
        ..Default::default()
    });
    p.notify(&[("activities", "2026-11-13", &user)]).await;
    p.drain(Duration::from_secs(30)).await;
    assert_eq!(interactions_by_source(&p, &user).len(), 4);
}

#[tokio::test]
async fn a_poison_message_ends_in_the_dlq() {
    let p = Pipeline::start().await;
    p.sqs
        .send_message()
        .queue_url(&p.work_url)
        .message_body("{\"this is\": \"not a work item\"}")
        .send()
        .await
        .unwrap();
    let start = std::time::Instant::now();
    while p.depth(&p.dlq_url).await == 0 {
        let _ = p.run_worker().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "poison never reached the DLQ"
        );
    }
    assert_eq!(p.depth(&p.work_url).await, 0);
}

#[tokio::test]
async fn revocation_forgets_the_tokens_flags_the_contact_and_stops_all_calls() {
    let p = Pipeline::start().await;
    let user = p.connected_user(ALL).await;
    p.env.sandbox.fitbit.revoke_user(&user);
    p.notify(&[("userRevokedAccess", "2026-11-20", &user)])
        .await;
    p.drain(Duration::from_secs(30)).await;

    assert!(p.connection(&user).await.is_none(), "tokens gone");
    let flagged = p
        .env
        .sandbox
        .sap
        .interactions()
        .into_iter()
        .filter(|i| i.field_str("InteractionContactId") == Some(user.as_str()))
        .filter(|i| i.field_str("InteractionType") == Some("FITBIT_DISCONNECTED"))
        .count();
    assert_eq!(flagged, 1, "the contact is flagged in SAP");
    // What is kept about the person expires after the retention (the worker's default).
    let tomb = p
        .env
        .store
        .tombstone(&PersonKey::of(
            ProviderKind::Fitbit,
            &ProviderUserId(user.clone()),
        ))
        .await
        .unwrap()
        .expect("the tombstone is kept through the retention");
    let retention = time::Duration::days(DEFAULT_RETENTION_DAYS.into());
    assert_eq!(
        tomb.forget_at.map(|at| at.unix_timestamp()),
        Some((tomb.revoked_at + retention).unix_timestamp())
    );

    let calls_before = p.env.sandbox.fitbit.stats().api_calls_of(&user);
    p.notify(&[("activities", "2026-11-20", &user)]).await;
    p.drain(Duration::from_secs(30)).await;
    assert_eq!(
        p.env.sandbox.fitbit.stats().api_calls_of(&user),
        calls_before,
        "no more calls"
    );
    assert_eq!(p.depth(&p.dlq_url).await, 0);
}

/// The `ttl` of each of the contact's import-ledger items, read from the table itself.
async fn ledger_ttls(p: &Pipeline, user: &str) -> Vec<Option<i64>> {
    let out = aws_sdk_dynamodb::Client::new(&p.env.aws)
        .query()
        .table_name(&p.env.settings.table_name)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(format!("IMPORT#FITBIT#{user}")))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    out.items
        .unwrap_or_default()
        .iter()
        .map(|item| {
            item.get("ttl")
                .and_then(|v| v.as_n().ok())
                .map(|n| n.parse().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn a_deleted_account_sets_its_tombstone_and_ledger_to_expire() {
    let p = Pipeline::start().await;
    let user = p.connected_user(ALL).await;
    p.notify(&[("activities", "2026-11-20", &user)]).await;
    p.drain(Duration::from_secs(30)).await;
    let before = ledger_ttls(&p, &user).await;
    assert!(!before.is_empty(), "the day was imported");
    assert!(before.iter().all(Option::is_none), "kept while connected");

    p.notify(&[("deleteUser", "2026-11-20", &user)]).await;
    p.drain(Duration::from_secs(30)).await;

    assert!(p.connection(&user).await.is_none(), "tokens gone");
    let tomb = p
        .env
        .store
        .tombstone(&PersonKey::of(
            ProviderKind::Fitbit,
            &ProviderUserId(user.clone()),
        ))
        .await
        .unwrap()
        .expect("tombstone kept through the grace period");
    let forget_at = tomb.forget_at.expect("the tombstone expires");
    let from_now = forget_at - fitbridge_integration::stack_now();
    assert!(
        from_now > ACCOUNT_DELETION_GRACE - time::Duration::hours(1)
            && from_now <= ACCOUNT_DELETION_GRACE,
        "{from_now}"
    );
    let after = ledger_ttls(&p, &user).await;
    assert_eq!(after.len(), before.len());
    assert!(
        after
            .iter()
            .all(|ttl| *ttl == Some(forget_at.unix_timestamp())),
        "{after:?}"
    );
    assert_eq!(p.depth(&p.dlq_url).await, 0);
}

#[tokio::test]
async fn provider_gone_parks_the_person_with_one_clear_log_line() {
    let p = Pipeline::start().await;
    let user = p.connected_user(&["activity"]).await;
    p.env.sandbox.fitbit.set_gone(true);
    p.notify(&[("activities", "2026-11-12", &user)]).await;
    p.drain(Duration::from_secs(30)).await;

    assert_eq!(
        p.connection(&user).await.unwrap().status,
        ConnectionStatus::ProviderGone
    );
    assert_eq!(p.depth(&p.dlq_url).await, 0, "parked, not retried");
    let logs = p.env.logs.text();
    assert_eq!(logs.matches("provider answered 410 Gone").count(), 1);
}

#[tokio::test]
async fn invalid_grant_after_rereading_parks_the_person_as_needs_reconsent() {
    let p = Pipeline::start().await;
    let user = p.connected_user(&["activity"]).await;
    p.env.sandbox.fitbit.revoke_user(&user); // refresh now answers invalid_grant
    p.notify(&[("activities", "2026-11-11", &user)]).await;
    p.drain(Duration::from_secs(30)).await;

    assert_eq!(
        p.connection(&user).await.unwrap().status,
        ConnectionStatus::NeedsReconsent
    );
    assert_eq!(p.env.sandbox.fitbit.stats().refreshes_of(&user), 0);
    assert_eq!(p.depth(&p.dlq_url).await, 0);
    assert_eq!(p.depth(&p.retry_url).await, 0, "not retried forever");
}

#[tokio::test]
async fn parked_work_is_imported_once_the_person_reconnects() {
    let p = Pipeline::start().await;
    let user = p.connected_user(&["activity", "profile"]).await;
    p.env.sandbox.fitbit.revoke_user(&user);
    p.notify(&[("activities", "2026-11-09", &user)]).await;
    p.drain(Duration::from_secs(30)).await;
    assert_eq!(
        p.connection(&user).await.unwrap().status,
        ConnectionStatus::NeedsReconsent
    );
    assert!(interactions_by_source(&p, &user).is_empty());

    // The person consents again through the connect flow.
    p.env
        .sandbox
        .fitbit
        .set_consent(fitbridge_sandbox::fitbit::Consent::allow_all(&user));
    let page = p.env.connect(None).await;
    assert_eq!(page.status(), 200);
    assert_eq!(
        p.connection(&user).await.unwrap().status,
        ConnectionStatus::Active
    );
    assert!(p.env.logs.text().contains("\"resumed\":1"));

    p.drain(Duration::from_secs(30)).await;
    assert_eq!(
        interactions_by_source(&p, &user).len(),
        4,
        "the missed day arrived"
    );
    use fitbridge::ports::store::ParkedWork;
    let left = p
        .env
        .store
        .parked(&fitbridge::domain::PersonKey::new(
            fitbridge::domain::ProviderKind::Fitbit,
            user.clone(),
        ))
        .await
        .unwrap();
    assert!(left.is_empty(), "nothing stays parked");
}

#[tokio::test]
async fn daily_job_queues_one_item_per_connected_person_and_none_for_parked_ones() {
    let p = Pipeline::start().await;
    let active: Vec<String> =
        futures_util::future::join_all((0..5).map(|_| p.connected_user(ALL))).await;
    let parked = p.connected_user(ALL).await;
    // Park one the way the worker does.
    use fitbridge::ports::store::TokenStore;
    p.env
        .store
        .set_status(
            &fitbridge::domain::PersonKey::new(
                fitbridge::domain::ProviderKind::Fitbit,
                parked.clone(),
            ),
            ConnectionStatus::NeedsReconsent,
            None,
        )
        .await
        .unwrap();

    // The daily job at 02:15 UTC on the 21st: already the 21st in Berlin.
    let at = std::sync::Arc::new(fitbridge::clock::SetClock::frozen(
        time::macros::datetime!(2026-11-21 02:15 UTC),
    ));
    let daily = fitbridge::wiring::daily_service(
        &fitbridge::wiring::AwsPorts::with_clock(&p.env.aws, at),
        &fitbridge::config::DailySettings {
            table_name: p.env.settings.table_name.clone(),
            work_queue_url: p.work_url.clone(),
            segments: 4,
            pacing: None,
        },
    );
    let report = daily.run().await.unwrap();
    assert!(report.queued >= 5);

    // The table is shared with other tests: look at this test's people only.
    let mut queued: BTreeMap<String, Vec<String>> = BTreeMap::new();
    loop {
        let out = p
            .sqs
            .receive_message()
            .queue_url(&p.work_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let item: fitbridge::domain::WorkItem =
                serde_json::from_str(m.body.as_deref().unwrap()).unwrap();
            if let fitbridge::domain::Task::Sync { date, collections } = item.task {
                if active.contains(&item.user_id.0) {
                    assert_eq!(
                        collections.len(),
                        3,
                        "one item with every granted collection"
                    );
                }
                queued
                    .entry(item.user_id.0)
                    .or_default()
                    .push(date.to_string());
            }
            p.sqs
                .delete_message()
                .queue_url(&p.work_url)
                .receipt_handle(m.receipt_handle.unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    for user in &active {
        assert_eq!(
            queued.get(user),
            Some(&vec!["2026-11-20".to_owned()]),
            "{user}: yesterday in Berlin"
        );
    }
    assert!(!queued.contains_key(&parked), "none for parked people");
}

#[tokio::test]
async fn webhook_verification_and_refusals() {
    let p = Pipeline::start().await;
    assert_eq!(p.get_webhook("verify=verify-me").await, 204);
    assert_eq!(p.get_webhook("verify=wrong").await, 404);
    assert_eq!(p.get_webhook("").await, 404);

    let huge = vec![b' '; fitbridge::use_cases::webhook::MAX_BODY_BYTES + 1];
    assert_eq!(
        p.post_notification(&huge, Some(&p.sign(&huge)), false)
            .await,
        413
    );
    let not_array = b"42".to_vec();
    assert_eq!(
        p.post_notification(&not_array, Some(&p.sign(&not_array)), false)
            .await,
        400
    );
    assert_eq!(p.depth(&p.work_url).await, 0, "nothing refused was queued");

    // The queue is down: 503, so Fitbit retries; never 204 for something not queued.
    let broken = fitbridge::wiring::webhook_service(
        &p.env.ports(),
        &fitbridge::config::WebhookSettings {
            providers: p.env.settings.providers.clone(),
            work_queue_url: "http://127.0.0.1:4566/000000000000/no-such-queue".into(),
        },
    );
    let body = Pipeline::notification_body(&[("activities", "2026-11-20", "ANYONE")]);
    let mut event: serde_json::Value = serde_json::from_str(
        &fitbridge_integration::apigw_v2_event("POST", "/webhooks/fitbit"),
    )
    .unwrap();
    event["body"] = serde_json::json!(String::from_utf8_lossy(&body));
    event["headers"]["x-fitbit-signature"] = serde_json::json!(p.sign(&body));
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    assert_eq!(
        fitbridge::inbound::webhook::handle(&broken, request)
            .await
            .status(),
        503
    );
    assert!(p.env.logs.text().contains("notifications not accepted"));
}

#[tokio::test]
async fn each_imported_day_lands_in_the_persons_monthly_history_in_the_table() {
    use fitbridge::domain::ContactKey;
    use fitbridge::ports::signals::SignalStore;

    let p = Pipeline::start().await;
    let user = p.connected_user(ALL).await;
    p.notify(&[
        ("activities", "2026-11-18", &user),
        ("sleep", "2026-11-18", &user),
        ("activities", "2026-10-31", &user),
    ])
    .await;
    p.drain(Duration::from_secs(60)).await;

    let contact = ContactKey {
        origin: "FITBIT".into(),
        id: user.clone(),
    };
    let (history, _) = p.env.store.load(&contact).await.unwrap();
    assert_eq!(history.months.len(), 2, "one item per month");
    let day = history.day(date!(2026 - 11 - 18)).unwrap();
    assert!(
        day.sleep_minutes.is_some(),
        "the sleep fetch kept the steps: {day:?}"
    );
    let steps_in_sap = p
        .env
        .sandbox
        .sap
        .interactions_with_source_object(&format!("{user}-2026-11-18-steps"));
    assert_eq!(steps_in_sap.len(), 1);
    assert_eq!(
        steps_in_sap[0]
            .field_str("YY1_FitbitNumberofStep_MIA")
            .map(|v| v.parse::<u64>().unwrap()),
        day.steps,
        "the history holds what SAP got"
    );
    let versions: Vec<u64> = history.months.values().map(|m| m.version).collect();

    // The same day again (a redelivery after the fetch log's window) writes nothing.
    tokio::time::sleep(Duration::from_millis(5)).await;
    p.notify(&[("activities", "2026-11-18", &user)]).await;
    p.drain(Duration::from_secs(60)).await;
    let (again, _) = p.env.store.load(&contact).await.unwrap();
    let after: Vec<u64> = again.months.values().map(|m| m.version).collect();
    assert_eq!(after, versions, "an unchanged day is not written again");

    // Forgetting the person deletes every item of their history.
    assert!(SignalStore::forget(&p.env.store, &contact).await.unwrap() >= 2);
    let (gone, state) = p.env.store.load(&contact).await.unwrap();
    assert!(gone.months.is_empty());
    assert_eq!(state.version, 0);
}
