//! Polar end to end, in process: the real OAuth, webhook, worker and token-refresh handlers
//! with the real Polar and SAP clients against the in-process Polar and SAP sandboxes, on
//! in-memory ports ([`World`]): no emulator. Our webhook is served over HTTP where the Polar
//! sandbox calls it (its `PING`s and deliveries), exactly as API Gateway would hand it on.
//!
//! What Polar does differently, each shown by what it leaves behind: the connect registers
//! the person with an opaque member id, a replayed callback redeems no code, the `PING`
//! is answered 200 and queues nothing, a signed `ACTIVITY_SUMMARY` becomes interactions
//! once, a 429 waits for the partner's reset and never reaches the dead-letter queue, a
//! 401 parks the person `needs_reconsent` without a refresh, a 403 parks them
//! `consents_missing`, a day without data is done, a disconnect de-registers, and a
//! connect's backfill stays inside the partner's budget.

use fitbridge::domain::PersonKey;
use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use fitbridge::domain::{
    Collection, ConnectionStatus, ProviderKind, ProviderUserId, Task, WorkItem,
};
use fitbridge::inbound::sqs::Decision;
use fitbridge::ports::store::ParkedWork;
use fitbridge::provider::polar::scopes::READ_ALL;
use fitbridge::provider::polar::users::member_id;
use fitbridge::use_cases::webhook::WebhookService;
use fitbridge_integration::in_process::{text, Message, World};
use fitbridge_integration::{location, query_param, random_polar_user_id};
use fitbridge_sandbox::polar::{
    Consent, NotifyRequest, PolarUser, RateLimits, RecordedActivity, WebhookEvent,
};
use serde_json::{json, Value};
use time::Date;

const POLAR: ProviderKind = ProviderKind::Polar;

/// Our webhook handler on a random local port: `http://127.0.0.1:<port>/webhooks/polar`.
/// The server stops when the sender is dropped.
async fn serve_webhook(w: &World) -> (String, tokio::sync::oneshot::Sender<()>) {
    async fn forward(
        State(service): State<Arc<WebhookService>>,
        request: axum::extract::Request,
    ) -> axum::response::Response {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        let request =
            lambda_http::Request::from_parts(parts, lambda_http::Body::Binary(body.to_vec()));
        let response = fitbridge::inbound::webhook::handle(&service, request).await;
        let (parts, body) = response.into_parts();
        axum::response::Response::from_parts(parts, axum::body::Body::from(body.to_vec()))
    }
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(Arc::new(w.webhook_service()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/polar", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    (url, tx)
}

/// A person at Polar who will consent at the next authorization.
fn new_person(w: &World, first: &str) -> String {
    let user = random_polar_user_id();
    let mut person = PolarUser::new(&user, first, "Polaris");
    person.gender = "FEMALE".into();
    w.sandbox.polar.add_user(person);
    w.sandbox.polar.set_consent(Consent::allow(&user));
    user
}

/// The person opens `/connect/polar`, consents at Polar and comes back: the callback's
/// path and query, and the page it answered.
async fn connect(w: &World) -> (String, lambda_http::Response<lambda_http::Body>) {
    let redirect = w.browser_get("/connect/polar").await;
    assert_eq!(redirect.status(), 302, "{}", text(&redirect));
    let callback = w.consent(location(&redirect)).await;
    let page = w.browser_get(&callback).await;
    (callback, page)
}

/// Interactions in SAP of the person's contact, by source object → how many.
fn interactions(w: &World, user: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for i in w.sandbox.sap.interactions() {
        if i.field_str("InteractionContactId") == Some(user) {
            let source = i.field_str("InteractionSourceObject").unwrap_or_default();
            *counts.entry(source.to_owned()).or_default() += 1;
        }
    }
    counts
}

fn sync(user: &str, date: Date, collections: &[Collection]) -> WorkItem {
    WorkItem::sync(
        POLAR,
        ProviderUserId(user.into()),
        date,
        collections.to_vec(),
    )
}

async fn status(w: &World, user: &str) -> Option<ConnectionStatus> {
    w.connection(POLAR, user).await.map(|c| c.status)
}

async fn parked(w: &World, user: &str) -> usize {
    w.store
        .parked(&PersonKey::of(POLAR, &ProviderUserId(user.into())))
        .await
        .unwrap()
        .len()
}

/// The partner's requests so far on one endpoint.
fn calls(w: &World, endpoint: &str) -> u64 {
    w.sandbox.polar.stats().endpoint_calls(endpoint)
}

/// Every `/v3` request charged to the partner so far.
fn partner_requests(w: &World) -> u64 {
    w.sandbox.polar.stats().requests_by_endpoint.values().sum()
}

#[tokio::test]
async fn a_person_connects_registers_with_an_opaque_member_id_and_becomes_a_contact() {
    let w = World::start().await;
    let user = new_person(&w, "Ada");
    let redirect = w.browser_get("/connect/polar").await;
    assert_eq!(redirect.status(), 302);
    let consent_url = location(&redirect);
    assert!(
        consent_url.contains("/oauth2/authorization?"),
        "{consent_url}"
    );
    assert_eq!(query_param(consent_url, "response_type"), "code");
    assert_eq!(query_param(consent_url, "scope"), READ_ALL);
    assert!(
        !consent_url.contains("code_challenge"),
        "Polar takes no PKCE: {consent_url}"
    );
    let page = w.browser_get(&w.consent(consent_url).await).await;
    assert_eq!(page.status(), 200, "{}", text(&page));

    // Registered once, with the member id the client derives: not the Polar id, not a
    // customer's, the same for the same person.
    let stats = w.sandbox.polar.stats();
    assert_eq!(stats.registrations.get(&user), Some(&1));
    let client_id = &w.sandbox.polar.config().client_id;
    let member = w
        .sandbox
        .polar
        .user(&user)
        .unwrap()
        .registration
        .unwrap()
        .member_id;
    assert_eq!(member, member_id(client_id, &ProviderUserId(user.clone())));
    assert_eq!(member.len(), 32);
    assert!(!member.contains(&user));

    let c = w.connection(POLAR, &user).await.unwrap();
    assert_eq!(c.status, ConnectionStatus::Active);
    assert!(
        c.tokens.refresh_token.expose().is_empty(),
        "Polar issues none"
    );
    assert!(c.tokens.scopes.contains(READ_ALL));
    let lifetime = c.tokens.expires_at - w.now();
    assert!(
        lifetime > time::Duration::days(364) && lifetime <= time::Duration::days(366),
        "{lifetime}"
    );
    assert_eq!(
        c.subscriptions.into_iter().collect::<Vec<_>>(),
        [Collection::Activities, Collection::Sleep],
        "registered: notified about both"
    );
    let contact = w.sandbox.sap.contact("POLAR", &user).expect("a contact");
    assert_eq!(contact.field_str("FirstName"), Some("Ada"));
    assert_eq!(contact.field_str("LastName"), Some("Polaris"));

    // A reconnect: Polar answers 409 "already registered", which is fine; same contact.
    w.sandbox.polar.set_consent(Consent::allow(&user));
    let (_, page) = connect(&w).await;
    assert_eq!(page.status(), 200, "{}", text(&page));
    assert_eq!(w.sandbox.polar.stats().registrations.get(&user), Some(&1));
    assert!(w.connection(POLAR, &user).await.unwrap().version > c.version);
    assert_eq!(
        w.sandbox
            .polar
            .user(&user)
            .unwrap()
            .registration
            .unwrap()
            .member_id,
        member
    );
    assert_eq!(w.sandbox.sap.contacts().len(), 1);
}

#[tokio::test]
async fn a_replayed_callback_is_refused_and_the_code_is_redeemed_once() {
    let w = World::start().await;
    let user = new_person(&w, "Bea");
    let (callback, page) = connect(&w).await;
    assert_eq!(page.status(), 200, "{}", text(&page));
    // The browser (or a proxy) sends the callback again: the state is used up, so the
    // code never reaches Polar a second time, which would delete the person's token.
    let again = w.browser_get(&callback).await;
    assert_eq!(again.status(), 400);
    let stats = w.sandbox.polar.stats();
    assert_eq!(stats.token_requests_with("authorization_code", "ok"), 1);
    assert_eq!(stats.code_replays, 0);
    assert_eq!(stats.tokens_deleted_by_replays, 0);
    // The token still serves the person's data.
    let yesterday = w.yesterday();
    let run = w
        .run(vec![w.message(sync(
            &user,
            yesterday,
            &[Collection::Sleep],
        ))])
        .await;
    assert_eq!(run.decisions, [Decision::Delete], "{}", run.trace());
    assert_eq!(status(&w, &user).await, Some(ConnectionStatus::Active));
    assert_eq!(
        interactions(&w, &user).len(),
        1,
        "{:?}",
        interactions(&w, &user)
    );
}

#[tokio::test]
async fn the_ping_that_creates_the_webhook_is_answered_200_and_queues_nothing() {
    let w = World::start().await;
    let (url, _server) = serve_webhook(&w).await;
    // Created through the API with the client's credentials, as the admin does: Polar
    // pings the URL before anyone holds the key it signs with.
    let config = w.sandbox.polar.config();
    let created = reqwest::Client::new()
        .post(format!("{}/v3/webhooks", w.sandbox.base_url))
        .basic_auth(&config.client_id, Some(&config.client_secret))
        .json(&json!({"events": ["ACTIVITY_SUMMARY", "SLEEP", "EXERCISE"], "url": url}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let body: Value = created.json().await.unwrap();
    assert!(body["data"]["signature_secret_key"].is_string());
    let webhook = w.sandbox.polar.webhook().expect("created");
    assert!(webhook.active);
    let deliveries = w.sandbox.polar.deliveries();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].event, "PING");
    assert_eq!(deliveries[0].status, Some(200));
    assert_eq!(w.sandbox.polar.stats().webhooks_created, 1);
    assert!(w.work_queue.items().is_empty(), "a ping queues nothing");
    // Activating it again pings again: answered the same way.
    let activated = reqwest::Client::new()
        .post(format!("{}/v3/webhooks/activate", w.sandbox.base_url))
        .basic_auth(&config.client_id, Some(&config.client_secret))
        .send()
        .await
        .unwrap();
    assert_eq!(activated.status(), 200);
    assert_eq!(w.sandbox.polar.stats().pings_sent, 2);
    assert!(w.work_queue.items().is_empty());
}

#[tokio::test]
async fn a_signed_activity_summary_is_imported_once_whatever_the_redeliveries() {
    let w = World::start().await;
    let (url, _server) = serve_webhook(&w).await;
    let user = w.connected(POLAR, &[READ_ALL]).await;
    let day = w.yesterday();
    w.sandbox.polar.record_activity(
        &user,
        RecordedActivity {
            steps: Some(8_123),
            distance_from_steps: Some(6_020.5),
            calories: Some(2_345),
            active_minutes: Some(47),
            ..RecordedActivity::on(day)
        },
    );
    // Polar delivers the payload twice (a redelivery), and the night's sleep once.
    let deliver = |event, times| NotifyRequest {
        url: Some(url.clone()),
        signing_key: Some(w.issued.polar_webhook_key.clone()),
        times: Some(times),
        ..NotifyRequest::event(&user, event, day)
    };
    for record in w
        .sandbox
        .polar
        .notify(deliver(WebhookEvent::ActivitySummary, 2))
        .await
        .unwrap()
        .into_iter()
        .chain(
            w.sandbox
                .polar
                .notify(deliver(WebhookEvent::Sleep, 1))
                .await
                .unwrap(),
        )
    {
        assert_eq!(record.status, Some(200), "{record:?}");
    }
    // Each POST queued its work, sent a moment apart, before the worker got any of it.
    let queued = w.work_queue.drain();
    assert_eq!(queued.len(), 3);
    let sent = w.now();
    let messages = queued
        .into_iter()
        .enumerate()
        .map(|(i, item)| Message::new(item, sent - time::Duration::milliseconds(10 - i as i64)))
        .collect();
    let run = w.run(messages).await;
    assert_eq!(run.leftover.dead(), 0, "{}", run.trace());

    let got = interactions(&w, &user);
    let iso = fitbridge::domain::work::iso_date::format(day);
    for metric in ["steps", "distance", "calories", "active_minutes", "sleep"] {
        assert_eq!(
            got.get(&format!("{user}-{iso}-{metric}")),
            Some(&1),
            "{metric}: {got:?}"
        );
    }
    assert_eq!(got.len(), 5, "{got:?}");
    assert_eq!(
        calls(&w, "GET /v3/users/activities/{date}"),
        1,
        "the redelivery fetched nothing again"
    );
    let steps = w
        .sandbox
        .sap
        .interactions_with_source_object(&format!("{user}-{iso}-steps"))
        .remove(0);
    assert_eq!(steps.field_str("InteractionType"), Some("POLAR_STEPS"));
    assert_eq!(steps.field_str("CommunicationMedium"), Some("POLAR"));
    assert!(steps
        .field_str("InteractionContent")
        .unwrap()
        .contains("8123"));
    let distance = w
        .sandbox
        .sap
        .interactions_with_source_object(&format!("{user}-{iso}-distance"))
        .remove(0);
    let content = distance.field_str("InteractionContent").unwrap();
    assert!(
        content.contains("\"value\":6.021"),
        "metres to km, three decimals: {content}"
    );
    let active = w
        .sandbox
        .sap
        .interactions_with_source_object(&format!("{user}-{iso}-active_minutes"))
        .remove(0);
    assert!(active
        .field_str("InteractionContent")
        .unwrap()
        .contains("47"));
}

#[tokio::test]
async fn a_429_over_both_windows_waits_for_the_reset_and_never_reaches_the_dlq() {
    let w = World::start().await;
    let user = w.connected(POLAR, &[READ_ALL]).await;
    let token = w
        .connection(POLAR, &user)
        .await
        .unwrap()
        .tokens
        .access_token;
    // Small windows, and another container (or a partner's other app) uses them up: the
    // short window's 3 and the long window's 4 requests.
    w.sandbox.polar.set_rate_limits(RateLimits {
        short_base: 3,
        short_per_person: 0,
        long_base: 4,
        long_per_person: 0,
    });
    let day = w.yesterday();
    let elsewhere = reqwest::Client::new();
    for _ in 0..4 {
        let answered = elsewhere
            .get(format!("{}/v3/users/sleep/{day}", w.sandbox.base_url))
            .bearer_auth(token.expose())
            .send()
            .await
            .unwrap();
        assert!(answered.headers().contains_key("ratelimit-reset"));
    }
    assert_eq!(
        w.sandbox.polar.stats().throttled,
        1,
        "the fourth was over the short limit"
    );

    let run = w
        .run(vec![w.message(sync(
            &user,
            day,
            &[Collection::Activities, Collection::Sleep],
        ))])
        .await;
    // One 429 reaches the worker's client, which then asks nobody until the later of the
    // two resets (the long window's, a day); the message waits and a fresh copy replaces
    // its last delivery.
    assert_eq!(run.leftover.dead(), 0, "{}", run.trace());
    assert_eq!(run.leftover.delayed.len(), 1, "{}", run.trace());
    for decision in &run.decisions[..run.decisions.len() - 1] {
        let Decision::RedeliverAfter(after) = decision else {
            panic!("{}", run.trace());
        };
        assert!(
            after.as_secs() > 86_000 && after.as_secs() <= 86_400,
            "waits for the long window: {}",
            run.trace()
        );
    }
    let throttled = w.sandbox.polar.stats().throttled;
    assert!(
        (2..=3).contains(&throttled),
        "Polar refused the worker's first requests (the day's two collections run side by \
         side), and the client asked no more: {throttled} refusals in all"
    );
    assert!(interactions(&w, &user).is_empty());
    assert_eq!(status(&w, &user).await, Some(ConnectionStatus::Active));

    // A day later both windows start afresh: the copy imports the day.
    w.ports.clock.advance(time::Duration::days(1));
    w.sandbox.polar.advance_clock(86_401);
    let after = w
        .run(
            run.leftover
                .delayed
                .iter()
                .map(|m| w.message(m.item.clone()))
                .collect(),
        )
        .await;
    assert_eq!(after.decisions, [Decision::Delete], "{}", after.trace());
    assert_eq!(
        interactions(&w, &user).len(),
        5,
        "{:?}",
        interactions(&w, &user)
    );
}

#[tokio::test]
async fn a_401_parks_the_person_needs_reconsent_without_a_refresh_at_polar() {
    let w = World::start().await;
    let user = w.connected(POLAR, &[READ_ALL]).await;
    assert!(w.sandbox.polar.expire_access_token(&user));
    let run = w
        .run(vec![w.message(sync(
            &user,
            w.yesterday(),
            &[Collection::Activities],
        ))])
        .await;
    assert_eq!(run.retries, 1, "{}", run.trace());
    assert_eq!(run.leftover.dead(), 0, "{}", run.trace());
    assert_eq!(
        status(&w, &user).await,
        Some(ConnectionStatus::NeedsReconsent)
    );
    assert_eq!(parked(&w, &user).await, 1);
    let token_requests = w.sandbox.polar.stats().token_requests;
    assert!(
        !token_requests.contains_key("refresh_token"),
        "nothing to refresh, nothing asked: {token_requests:?}"
    );
    // Later work is parked without a call.
    let calls_before = w.sandbox.polar.data_calls(&user);
    w.run(vec![w.message(sync(
        &user,
        w.yesterday(),
        &[Collection::Sleep],
    ))])
    .await;
    assert_eq!(w.sandbox.polar.data_calls(&user), calls_before);
    assert_eq!(parked(&w, &user).await, 2);
}

#[tokio::test]
async fn missing_mandatory_consents_park_the_person_until_they_accept_and_reconnect() {
    let w = World::start().await;
    let user = new_person(&w, "Cleo");
    let (_, page) = connect(&w).await;
    assert_eq!(page.status(), 200, "{}", text(&page));
    // The person withdraws a mandatory consent at account.polar.com.
    w.sandbox.polar.set_mandatory_consents(&user, false);
    let day = w.yesterday();
    let run = w
        .run(vec![w.message(sync(&user, day, &[Collection::Activities]))])
        .await;
    assert_eq!(run.decisions, [Decision::Delete], "{}", run.trace());
    assert_eq!(
        status(&w, &user).await,
        Some(ConnectionStatus::ConsentsMissing)
    );
    assert_eq!(parked(&w, &user).await, 1);
    assert_eq!(
        w.sandbox.polar.stats().consent_refusals.get(&user),
        Some(&1)
    );
    let calls_before = w.sandbox.polar.data_calls(&user);
    w.run(vec![w.message(sync(&user, day, &[Collection::Sleep]))])
        .await;
    assert_eq!(
        w.sandbox.polar.data_calls(&user),
        calls_before,
        "parked without a call"
    );
    assert_eq!(parked(&w, &user).await, 2);

    // They accept again and reconnect: active, and the parked days come back and import.
    w.sandbox.polar.set_mandatory_consents(&user, true);
    w.sandbox.polar.set_consent(Consent::allow(&user));
    let (_, page) = connect(&w).await;
    assert_eq!(page.status(), 200, "{}", text(&page));
    assert_eq!(status(&w, &user).await, Some(ConnectionStatus::Active));
    assert_eq!(parked(&w, &user).await, 0);
    let run = w.run(vec![]).await;
    assert!(
        run.decisions.iter().all(|d| *d == Decision::Delete),
        "{}",
        run.trace()
    );
    assert_eq!(
        interactions(&w, &user).len(),
        5,
        "{:?}",
        interactions(&w, &user)
    );
}

#[tokio::test]
async fn a_day_without_data_imports_nothing_and_the_work_is_done() {
    let w = World::start().await;
    let user = w.connected(POLAR, &[READ_ALL]).await;
    let day = w.yesterday();
    w.sandbox.polar.delete_day(&user, day);
    let run = w
        .run(vec![w.message(sync(
            &user,
            day,
            &[Collection::Activities, Collection::Sleep],
        ))])
        .await;
    assert_eq!(run.decisions, [Decision::Delete], "{}", run.trace());
    assert!(interactions(&w, &user).is_empty());
    assert_eq!(parked(&w, &user).await, 0);
    assert_eq!(status(&w, &user).await, Some(ConnectionStatus::Active));
    assert_eq!(calls(&w, "GET /v3/users/activities/{date}"), 1);
    assert_eq!(calls(&w, "GET /v3/users/sleep/{date}"), 1);
    assert_eq!(
        calls(&w, "GET /v3/exercises"),
        0,
        "no activity, no exercise to list"
    );
}

#[tokio::test]
async fn a_disconnect_de_registers_the_person_at_polar() {
    let w = World::start().await;
    let user = w.connected(POLAR, &[READ_ALL]).await;
    let token = w
        .connection(POLAR, &user)
        .await
        .unwrap()
        .tokens
        .access_token;
    let revoke = WorkItem::revoke(POLAR, ProviderUserId(user.clone()), false, Some(w.now()));
    let run = w.run(vec![w.message(revoke)]).await;
    assert_eq!(run.decisions, [Decision::Delete], "{}", run.trace());
    assert_eq!(w.sandbox.polar.stats().deregistrations.get(&user), Some(&1));
    assert!(w.sandbox.polar.user(&user).unwrap().registration.is_none());
    assert!(
        w.connection(POLAR, &user).await.is_none(),
        "tokens forgotten"
    );
    // The token died with the registration.
    let answered = reqwest::Client::new()
        .get(format!("{}/v3/users/{user}", w.sandbox.base_url))
        .bearer_auth(token.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 401);
    // The contact is flagged in SAP.
    let flagged = w
        .sandbox
        .sap
        .interactions()
        .into_iter()
        .filter(|i| {
            i.field_str("InteractionContactId") == Some(user.as_str())
                && i.field_str("InteractionType") == Some("POLAR_DISCONNECTED")
        })
        .count();
    assert_eq!(flagged, 1);
}

/// What the partner was charged for, by endpoint, and in all.
fn budget_report(w: &World) -> (BTreeMap<String, u64>, u64) {
    let by_endpoint = w.sandbox.polar.stats().requests_by_endpoint;
    let total = by_endpoint.values().sum();
    (by_endpoint, total)
}

#[tokio::test]
async fn a_connects_backfill_stays_inside_the_partners_budget() {
    let mut w = World::start().await;
    w.connect.settings.backfill_days = 30;
    let user = new_person(&w, "Dana");
    let (_, page) = connect(&w).await;
    assert_eq!(page.status(), 200, "{}", text(&page));
    let queued = w.work_queue.items();
    assert_eq!(queued.len(), 30, "a day per item");
    assert!(queued.iter().all(|item| matches!(&item.task,
        Task::Sync { collections, .. } if collections == &[Collection::Activities, Collection::Sleep])));

    let run = w.run(vec![]).await;
    assert!(
        run.decisions.iter().all(|d| *d == Decision::Delete),
        "{}",
        run.trace()
    );
    let (by_endpoint, total) = budget_report(&w);
    println!("a 30-day backfill charged the partner {total} requests: {by_endpoint:?}");
    let stats = w.sandbox.polar.stats();
    assert_eq!(stats.throttled, 0);
    assert_eq!(calls(&w, "GET /v3/users/activities/{date}"), 30);
    assert_eq!(calls(&w, "GET /v3/users/sleep/{date}"), 30);
    // Exercises are listed for the last week's days only (older ones predate the
    // registration, so AccessLink lists none of theirs).
    assert!(calls(&w, "GET /v3/exercises") <= 8);
    // The registration and the user, and the days: far below one short window (520
    // requests for one registered person).
    let (short_limit, _) = RateLimits::default().limits(1);
    assert!(total <= 72 && total < u64::from(short_limit), "{total}");
    assert!(
        interactions(&w, &user).len() >= 30 * 4,
        "{}",
        interactions(&w, &user).len()
    );
}

#[tokio::test]
async fn a_backfill_larger_than_the_short_window_waits_for_its_reset() {
    let mut w = World::start().await;
    w.connect.settings.backfill_days = 30;
    // A short window of 40 requests: the backfill needs about 70.
    w.sandbox.polar.set_rate_limits(RateLimits {
        short_base: 40,
        short_per_person: 0,
        ..RateLimits::default()
    });
    let user = new_person(&w, "Edda");
    let (_, page) = connect(&w).await;
    assert_eq!(page.status(), 200, "{}", text(&page));
    let run = w.run(vec![]).await;
    assert_eq!(run.leftover.dead(), 0, "{}", run.trace());
    let waiting = run.leftover.delayed.len();
    let charged = partner_requests(&w);
    let throttled = w.sandbox.polar.stats().throttled;
    println!(
        "short window of 40: {charged} requests charged, {throttled} refused by Polar, \
         {waiting} days waiting for the reset"
    );
    assert!(waiting > 0, "{}", run.trace());
    // The request budget stops a backfill at its share (half) of the window the headers
    // report; the client itself stops when they say it is used up.
    assert!(charged <= 42, "{charged}");
    assert!(throttled <= 2, "{throttled}");
    for decision in &run.decisions {
        if let Decision::RedeliverAfter(after) = decision {
            assert!(
                after.as_secs() <= 900,
                "the short window's reset: {}",
                run.trace()
            );
        }
    }

    // Fifteen minutes later the window starts afresh: the rest imports, once.
    w.ports.clock.advance(time::Duration::minutes(16));
    w.sandbox.polar.advance_clock(16 * 60);
    let mut left: Vec<_> = run
        .leftover
        .delayed
        .iter()
        .map(|m| w.message(m.item.clone()))
        .collect();
    for _ in 0..4 {
        let after = w.run(std::mem::take(&mut left)).await;
        assert_eq!(after.leftover.dead(), 0, "{}", after.trace());
        if after.leftover.delayed.is_empty() {
            break;
        }
        w.ports.clock.advance(time::Duration::minutes(16));
        w.sandbox.polar.advance_clock(16 * 60);
        left = after
            .leftover
            .delayed
            .iter()
            .map(|m| w.message(m.item.clone()))
            .collect();
    }
    assert!(left.is_empty());
    let got = interactions(&w, &user);
    assert!(got.len() >= 30 * 4, "{}", got.len());
    assert!(got.values().all(|n| *n == 1), "{got:?}");
}

#[tokio::test]
async fn a_backfill_stops_at_its_share_of_the_partners_window_and_notifications_go_on() {
    let mut w = World::start().await;
    w.connect.settings.backfill_days = 30;
    // A short window of 100 requests for the whole partner: backfills may bring it to 50
    // (REQUEST_BUDGET_BACKFILL_PERCENT), the rest is kept for the daily pull and
    // notifications. The backfill alone would need about 70.
    w.sandbox.polar.set_rate_limits(RateLimits {
        short_base: 100,
        short_per_person: 0,
        ..RateLimits::default()
    });
    let notified = w.connected(POLAR, &[READ_ALL]).await;
    new_person(&w, "Frida");
    let (_, page) = connect(&w).await;
    assert_eq!(page.status(), 200, "{}", text(&page));
    let run = w.run(vec![]).await;
    assert_eq!(run.leftover.dead(), 0, "{}", run.trace());
    let charged = partner_requests(&w);
    println!(
        "short window of 100: {charged} requests charged, {} days of the backfill waiting",
        run.leftover.delayed.len()
    );
    assert!(!run.leftover.delayed.is_empty(), "{}", run.trace());
    // What the answers reported stopped it: at most one person's fetches past the half.
    assert!(charged <= 55, "{charged}");
    assert_eq!(
        w.sandbox.polar.stats().throttled,
        0,
        "Polar refused nothing"
    );

    // A notification in the same window is served at once.
    let day = w.yesterday();
    let after = w
        .run(vec![w.message(sync(
            &notified,
            day,
            &[Collection::Activities],
        ))])
        .await;
    assert!(after.leftover.delayed.is_empty(), "{}", after.trace());
    assert!(!interactions(&w, &notified).is_empty());
    assert_eq!(w.sandbox.polar.stats().throttled, 0);
}
