//! Benchmarks of the pipeline. Each prints the figure it measures.
//!
//!   cargo run --release -p fitbridge-integration --bin bench -- webhook|duplicates|worker|daily|signals|all
//!
//! `webhook`, `duplicates` and `worker` need the local stack (tests/local/up.sh); `daily`
//! and `signals` run on in-memory ports and need nothing.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fitbridge::domain::{Collection, ProviderKind, ProviderUserId, WorkItem};
use fitbridge::inbound::sqs::{Decision, Delivery};
use fitbridge::ports::signals::Signals;
use fitbridge::provider::fitbit::FitbitSettings;
use fitbridge::provider::polar::PolarSettings;
use fitbridge::provider::registry::{self, ProviderSettings};
use fitbridge::secret_store::{MemorySecrets, SecretCache};
use fitbridge::use_cases::daily::DailyService;
use fitbridge::use_cases::webhook::WebhookService;
use fitbridge_integration::memory::{CountingQueue, MemoryDirectory};
use fitbridge_integration::pipeline::Pipeline;
use serde_json::json;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ten_notifications() -> Vec<u8> {
    let entries: Vec<(String, String, String)> = (0..10)
        .map(|i| {
            (
                ["activities", "sleep", "body"][i % 3].to_owned(),
                format!("2026-11-{:02}", 10 + i),
                format!("U{:05}", i),
            )
        })
        .collect();
    let refs: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    Pipeline::notification_body(&refs)
}

fn signed_event(body: &[u8], signature: &str) -> String {
    webhook_event(
        "/webhooks/fitbit",
        body,
        &[("x-fitbit-signature", signature)],
    )
}

/// A webhook POST as API Gateway delivers it.
fn webhook_event(path: &str, body: &[u8], headers: &[(&str, &str)]) -> String {
    let mut event: serde_json::Value =
        serde_json::from_str(&fitbridge_integration::apigw_v2_event("POST", path)).unwrap();
    event["routeKey"] = json!("POST /webhooks/{provider}");
    event["body"] = json!(String::from_utf8_lossy(body));
    for (name, value) in headers {
        event["headers"][*name] = json!(value);
    }
    event.to_string()
}

/// What Google POSTs for ten people's steps: an array of signed-body notifications.
fn ten_google_notifications() -> Vec<u8> {
    let list: Vec<serde_json::Value> = (0..10)
        .map(|i| {
            let data_type = ["steps", "sleep", "weight"][i % 3];
            json!({"data": {"version": "1", "clientProvidedSubscriptionName": "fitbridge",
                "healthUserId": format!("40000000000000000{i:02}"), "operation": "UPSERT",
                "dataType": data_type,
                "intervals": [{"civilDateTimeInterval": {
                    "start": {"date": {"year": 2026, "month": 11, "day": 10 + i}, "time": {"hours": 7}},
                    "end": {"date": {"year": 2026, "month": 11, "day": 10 + i}, "time": {"hours": 8}}}}]}})
        })
        .collect();
    serde_json::to_vec(&list).unwrap()
}

/// Times the handler on `event` (which it must answer `want`: 204, or Polar's 200).
async fn time_webhook(
    service: &WebhookService,
    event: &str,
    want: u16,
    warmup: usize,
    runs: usize,
) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(runs);
    for n in 0..warmup + runs {
        let start = Instant::now();
        // Parsing the API Gateway event is part of what the function does per request.
        let request = lambda_http::request::from_str(event).unwrap();
        let status = fitbridge::inbound::webhook::handle(service, request)
            .await
            .status();
        let elapsed = start.elapsed();
        assert_eq!(status, want);
        if n >= warmup {
            samples.push(elapsed);
        }
    }
    samples.sort();
    samples
}

async fn webhook() {
    println!("== webhook handler, one POST with 10 notifications (warm) ==");
    // CPU only: in-memory secrets (cached as in a warm container) and a constant-time queue.
    let secret = "bench-client-secret";
    let secrets = Arc::new(SecretCache::new(Arc::new(MemorySecrets::new([(
        "fitbit",
        json!({"client_id": "X", "client_secret": secret}),
    )]))));
    let providers = ProviderSettings {
        fitbit: Some(FitbitSettings {
            authorize_url: "https://www.fitbit.com/oauth2/authorize".parse().unwrap(),
            api_base_url: "https://api.fitbit.com".parse().unwrap(),
            secret_id: "fitbit".into(),
            scopes: vec![],
        }),
        google_health: None,
        polar: None,
    };
    let queue = Arc::new(CountingQueue::default());
    let cpu = WebhookService::new(
        registry::webhooks(&providers, fitbridge::wiring::http_client(), secrets),
        queue.clone(),
        Arc::new(fitbridge::clock::SystemClock),
    );
    let body = ten_notifications();
    let signature = {
        use base64::Engine;
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(format!("{secret}&").as_bytes()).unwrap();
        mac.update(&body);
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    };
    let samples = time_webhook(&cpu, &signed_event(&body, &signature), 204, 2_000, 20_000).await;
    println!(
        "cpu-only (event parse, HMAC-SHA1 check, parse, dedupe, serialise; constant-time queue): p50 {:.1} µs  p99 {:.1} µs  ({} runs)",
        percentile(&samples, 0.5).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
        samples.len()
    );

    // Google Health: ECDSA P-256 verification against the keyset (fetched once from an
    // in-process sandbox, then cached as in a warm container), the parse into civil days.
    let sandbox = fitbridge_sandbox::Sandbox::start(
        fitbridge_sandbox::SandboxConfig::default(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let authorization = "Bearer bench-webhook";
    let secrets = Arc::new(SecretCache::new(Arc::new(MemorySecrets::new([(
        "google-health",
        json!({"client_id": "X", "client_secret": "Y", "webhook_authorization": authorization}),
    )]))));
    let mut google = fitbridge_integration::google_settings(&sandbox.base_url);
    google.secret_id = "google-health".into();
    let providers = ProviderSettings {
        fitbit: None,
        google_health: Some(google),
        polar: None,
    };
    let cpu = WebhookService::new(
        registry::webhooks(&providers, fitbridge::wiring::http_client(), secrets),
        queue.clone(),
        Arc::new(fitbridge::clock::SystemClock),
    );
    let body = ten_google_notifications();
    let signature = sandbox.google_health.sign(&body);
    let event = webhook_event(
        "/webhooks/google-health",
        &body,
        &[
            ("google-health-api-signature", &signature),
            ("authorization", authorization),
        ],
    );
    let samples = time_webhook(&cpu, &event, 204, 2_000, 20_000).await;
    println!(
        "google-health, cpu-only (event parse, ECDSA P-256 verify, parse into civil days, dedupe, serialise; cached keyset, constant-time queue): p50 {:.1} µs  p99 {:.1} µs  ({} runs)",
        percentile(&samples, 0.5).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
        samples.len()
    );

    // Polar: one event per POST (its deliveries carry one person's day each), hex
    // HMAC-SHA256 of the raw body against the cached signing key, answered 200.
    let key = "bench-polar-signing-key";
    let secrets = Arc::new(SecretCache::new(Arc::new(MemorySecrets::new([(
        "polar",
        json!({"client_id": "X", "client_secret": "Y", "webhook_signature_key": key}),
    )]))));
    let providers = ProviderSettings {
        fitbit: None,
        google_health: None,
        polar: Some(PolarSettings {
            authorize_url: "https://flow.polar.com/oauth2/authorization"
                .parse()
                .unwrap(),
            token_url: "https://polarremote.com/v2/oauth2/token".parse().unwrap(),
            api_base_url: "https://www.polaraccesslink.com".parse().unwrap(),
            secret_id: "polar".into(),
        }),
    };
    let cpu = WebhookService::new(
        registry::webhooks(&providers, fitbridge::wiring::http_client(), secrets),
        queue.clone(),
        Arc::new(fitbridge::clock::SystemClock),
    );
    let body = json!({"event": "ACTIVITY_SUMMARY", "user_id": 2278517, "date": "2026-11-20",
        "timestamp": "2026-11-21T19:58:12Z",
        "url": "https://www.polaraccesslink.com/v3/users/activities/2026-11-20"})
    .to_string();
    let signature = {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let event = webhook_event(
        "/webhooks/polar",
        body.as_bytes(),
        &[
            ("polar-webhook-event", "ACTIVITY_SUMMARY"),
            ("polar-webhook-signature", &signature),
        ],
    );
    let samples = time_webhook(&cpu, &event, 200, 2_000, 20_000).await;
    println!(
        "polar, one delivery, cpu-only (event parse, HMAC-SHA256 check, parse, serialise; constant-time queue): p50 {:.1} µs  p99 {:.1} µs  ({} runs)",
        percentile(&samples, 0.5).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
        samples.len()
    );

    // Against the local stack: Secrets Manager (cached after the first call) and the
    // emulator's SQS SendMessageBatch, the one I/O on this path.
    let p = Pipeline::start().await;
    let body = ten_notifications();
    let event = signed_event(&body, &p.sign(&body));
    let samples = time_webhook(&p.webhook, &event, 204, 50, 500).await;
    println!(
        "against the local stack (includes one SendMessageBatch round trip to the emulator): p50 {:.2} ms  p99 {:.2} ms  ({} runs)",
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.len()
    );
    let _ = p.sqs.purge_queue().queue_url(&p.work_url).send().await;
}

async fn duplicates() {
    println!("== provider calls per unique (user, collection, day), burst with 5x duplicates ==");
    let p = Pipeline::start().await;
    let users: Vec<String> = futures_util::future::join_all(
        (0..20).map(|_| p.connected_user(&["activity", "sleep", "weight"])),
    )
    .await;
    let mut bodies = Vec::new();
    for copy in 0..5 {
        for (u, user) in users.iter().enumerate() {
            for day in ["2026-11-18", "2026-11-19"] {
                // Each copy arrives as its own delivery, in a different order each time.
                let mut entries = vec![
                    ("activities", day, user.as_str()),
                    ("sleep", day, user.as_str()),
                    ("body", day, user.as_str()),
                ];
                entries.rotate_left((copy + u) % 3);
                bodies.push(Pipeline::notification_body(&entries));
            }
        }
    }
    let unique = users.len() * 2 * 3;
    for b in &bodies {
        assert_eq!(p.post_notification(b, Some(&p.sign(b)), false).await, 204);
    }
    let start = Instant::now();
    // Four workers at a time, as Lambda would scale out on a burst.
    loop {
        let ran = futures_util::future::join_all((0..4).map(|_| p.run_worker())).await;
        if ran.iter().all(Option::is_none) {
            if p.depth(&p.work_url).await == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "burst not drained"
        );
    }
    let calls: u64 = users
        .iter()
        .map(|u| p.env.sandbox.fitbit.data_calls(u))
        .sum();
    let interactions = p.env.sandbox.sap.interactions().len();
    let duplicates = {
        let mut seen = std::collections::HashSet::new();
        p.env
            .sandbox
            .sap
            .interactions()
            .iter()
            .filter(|i| {
                !seen.insert(
                    i.field_str("InteractionSourceObject")
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .count()
    };
    println!(
        "{} notifications ({} unique x 5) -> {} provider calls = {:.2} per unique (target 1.0); {} interactions, {} duplicates; drained in {:.1} s",
        bodies.len() * 3,
        unique,
        calls,
        calls as f64 / unique as f64,
        interactions,
        duplicates,
        start.elapsed().as_secs_f64()
    );
}

async fn worker() {
    println!("== worker: one batch of 10 messages, 200 ms provider latency ==");
    let p = Pipeline::start().await;
    let users: Vec<String> =
        futures_util::future::join_all((0..10).map(|_| p.connected_user(&["activity"]))).await;
    p.env.sandbox.fitbit.set_latency(Duration::from_millis(200));
    let mut timings = Vec::new();
    for round in 0..5 {
        let date = time::Date::from_calendar_date(2026, time::Month::October, 1 + round).unwrap();
        let deliveries: Vec<Delivery> = users
            .iter()
            .map(|u| Delivery {
                body: serde_json::to_string(&WorkItem::sync(
                    ProviderKind::Fitbit,
                    ProviderUserId(u.clone()),
                    date,
                    vec![Collection::Activities],
                ))
                .unwrap(),
                receive_count: 1,
                sent_at: fitbridge_integration::stack_now(),
            })
            .collect();
        let start = Instant::now();
        let decisions = p.worker.decide(&deliveries).await;
        timings.push(start.elapsed());
        assert!(decisions.iter().all(|d| *d == Decision::Delete));
    }
    timings.sort();
    println!(
        "10 messages (10 people, 10 fetches at 200 ms each; sequential would be >= 2000 ms): median {:.0} ms, best {:.0} ms, worst {:.0} ms over {} batches (includes the emulator's DynamoDB and the SAP sandbox)",
        timings[timings.len() / 2].as_secs_f64() * 1e3,
        timings[0].as_secs_f64() * 1e3,
        timings[timings.len() - 1].as_secs_f64() * 1e3,
        timings.len()
    );
}

async fn daily() {
    println!("== daily fan-out, 100,000 connected people ==");
    let queue = Arc::new(CountingQueue::default());
    let directory = Arc::new(MemoryDirectory {
        people: 100_000,
        page_size: 3_000,
        scans: Default::default(),
    });
    let service = DailyService {
        directory: directory.clone(),
        queue: queue.clone(),
        segments: 8,
        catalog: fitbridge::provider::registry::catalog(),
        pacing: None,
        clock: Arc::new(fitbridge::clock::SystemClock),
    };
    let start = Instant::now();
    let report = service.run().await.unwrap();
    let elapsed = start.elapsed();
    println!(
        "{} people -> {} work items in {:.0} ms of our code (constant-time directory and queue); {} scan pages, {} SendMessageBatch calls it would make",
        report.people,
        report.queued,
        elapsed.as_secs_f64() * 1e3,
        directory.scans.load(Ordering::Relaxed),
        queue.batch_calls.load(Ordering::Relaxed),
    );
}

/// Rule evaluation per worker batch: 10 people, each with two years of history, each
/// observing three changed days (the default rules, score and send hour), on in-memory
/// storage and marketing: our code's CPU time, plus the sizes that set its DynamoDB cost.
async fn signals() {
    use fitbridge::domain::signals::history::{DayRecord, History, MonthKey};
    use fitbridge::domain::{ContactKey, DaySummary};
    use fitbridge::events::NoEvents;
    use fitbridge::marketing::memory::MemoryMarketing;
    use fitbridge::ports::signals::{Observed, SignalStore};
    use fitbridge::store::memory::MemoryStore;
    use fitbridge::use_cases::signals::SignalService;

    println!(
        "== rule evaluation per batch: 10 people x 3 changed days, 2 years of history each =="
    );
    let clock = Arc::new(fitbridge::clock::SystemClock);
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let service = SignalService {
        store: store.clone(),
        sink: Arc::new(MemoryMarketing::new()),
        events: Arc::new(NoEvents),
        settings: Default::default(),
        clock: clock.clone(),
    };
    let today = fitbridge::ports::clock::Clock::now(&*clock).date();
    let people: Vec<ContactKey> = (0..10)
        .map(|i| ContactKey {
            origin: "FITBIT".into(),
            id: format!("BENCH{i:03}"),
        })
        .collect();
    let mut month_bytes = 0;
    for (n, contact) in people.iter().enumerate() {
        let mut history = History::default();
        for back in 1..730 {
            let steps = 4_000 + (back * 37 + n as u64 * 101) % 9_000;
            history.set(
                today - time::Duration::days(back as i64),
                DayRecord {
                    steps: Some(steps),
                    distance_km: Some(steps as f64 / 1_300.0),
                    calories: Some(2_000 + steps / 20),
                    active_minutes: Some(steps / 400),
                    sleep_minutes: Some(380 + back % 120),
                    workout_ends: if back % 2 == 0 { vec![1_100] } else { vec![] },
                },
            );
        }
        for (key, month) in &history.months {
            store.save_month(contact, *key, month).await.unwrap();
        }
        month_bytes = history.months[&MonthKey::of(today - time::Duration::days(40))]
            .encode()
            .len();
    }
    let batch = |round: u64| -> Vec<Observed> {
        people
            .iter()
            .map(|contact| Observed {
                provider: ProviderKind::Fitbit,
                user_id: ProviderUserId(contact.id.clone()),
                contact: contact.clone(),
                timezone: None,
                days: (0..3)
                    .map(|d| {
                        (
                            today - time::Duration::days(d),
                            Collection::Activities,
                            DaySummary {
                                steps: Some(6_000 + round * 10 + d as u64),
                                distance_km: Some(4.6),
                                active_minutes: Some(25),
                                workout_ends: vec![1_110],
                                ..Default::default()
                            },
                        )
                    })
                    .collect(),
            })
            .collect()
    };
    let mut timings = Vec::new();
    for round in 0..300 {
        let observed = batch(round);
        let start = Instant::now();
        for o in &observed {
            service.observe(o).await.unwrap();
        }
        timings.push(start.elapsed());
    }
    timings.sort();
    println!(
        "p50 {:.2} ms, p99 {:.2} ms per batch of 10 people ({} batches; our code on in-memory ports: \
         read 24 months, apply, write the changed month, evaluate 5 rules on 3 days, score, send hour)",
        percentile(&timings, 0.5).as_secs_f64() * 1e3,
        percentile(&timings, 0.99).as_secs_f64() * 1e3,
        timings.len()
    );
    println!(
        "a full month of history is {month_bytes} bytes stored: 1 month write = {} WRU; \
         reading 24 months = {:.1} RCU (eventually consistent, 4 KB units)",
        month_bytes.div_ceil(1024),
        (24 * month_bytes).div_ceil(4096) as f64 / 2.0
    );
}

#[tokio::main]
async fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    match which.as_str() {
        "webhook" => webhook().await,
        "duplicates" => duplicates().await,
        "worker" => worker().await,
        "daily" => daily().await,
        "signals" => signals().await,
        "all" => {
            daily().await;
            signals().await;
            webhook().await;
            worker().await;
            duplicates().await;
        }
        other => {
            eprintln!("unknown benchmark {other}: webhook|duplicates|worker|daily|signals|all");
            std::process::exit(2);
        }
    }
}
