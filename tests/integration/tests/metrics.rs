//! The metrics a run writes, read back as CloudWatch reads them: every line an Embedded
//! Metric Format document (a namespace, the `Function` dimension and the labels as
//! dimensions, each metric named in `_aws.CloudWatchMetrics` with its value at the top
//! level), and the figures those documents add up to are what happened in the run.
//!
//! The real webhook and SQS handlers and the real provider and SAP clients against the
//! in-process sandboxes, on in-memory ports; its own test binary, because the recorder is
//! one per process.

use std::collections::BTreeMap;

use fitbridge::domain::{Collection, Priority, ProviderKind, ProviderUserId, WorkItem};
use fitbridge::telemetry::{self, metric};
use fitbridge_integration::in_process::{text, World};
use fitbridge_integration::{location, random_polar_user_id};
use fitbridge_sandbox::polar::{Consent, PolarUser};
use serde_json::Value;
use time::Date;

const NAMESPACE: &str = "fitbridge-test";

/// One metric value with its dimensions, as CloudWatch would store it.
#[derive(Debug)]
struct Datum {
    name: String,
    dimensions: BTreeMap<String, String>,
    /// A counter's value, or a histogram's values.
    values: Vec<f64>,
    unit: Option<String>,
}

/// Parses EMF lines the way the CloudWatch Logs agent does, failing on anything it would
/// not turn into metrics.
fn parse_emf(text: &str) -> Vec<Datum> {
    let mut data = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let doc: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let aws = &doc["_aws"];
        assert!(aws["Timestamp"].is_u64(), "a Timestamp in ms: {line}");
        let directives = aws["CloudWatchMetrics"].as_array().expect("directives");
        assert_eq!(directives.len(), 1, "{line}");
        let directive = &directives[0];
        assert_eq!(directive["Namespace"], NAMESPACE, "{line}");
        let sets = directive["Dimensions"].as_array().expect("dimension sets");
        assert_eq!(sets.len(), 1, "{line}");
        let mut dimensions = BTreeMap::new();
        for key in sets[0].as_array().expect("a dimension set") {
            let key = key.as_str().expect("dimension names are strings");
            let value = doc[key]
                .as_str()
                .unwrap_or_else(|| panic!("dimension {key} has a string value: {line}"));
            assert!(!value.is_empty() && value.len() <= 1024, "{line}");
            dimensions.insert(key.to_owned(), value.to_owned());
        }
        assert!(dimensions.len() <= 30, "{line}");
        assert_eq!(
            dimensions.get("Function").map(String::as_str),
            Some("test"),
            "{line}"
        );
        let metrics = directive["Metrics"].as_array().expect("metrics");
        assert!(!metrics.is_empty() && metrics.len() <= 100, "{line}");
        for m in metrics {
            let name = m["Name"].as_str().expect("a metric name").to_owned();
            let values = match &doc[&name] {
                Value::Number(n) => vec![n.as_f64().unwrap()],
                Value::Array(a) => {
                    assert!(a.len() <= 100, "{line}");
                    a.iter().map(|v| v.as_f64().expect("numbers")).collect()
                }
                other => panic!("{name} has no numeric value ({other}): {line}"),
            };
            data.push(Datum {
                name,
                dimensions: dimensions.clone(),
                values,
                unit: m["Unit"].as_str().map(str::to_owned),
            });
        }
    }
    data
}

/// The sum of a counter over every document whose dimensions include `with`.
fn total(data: &[Datum], name: &str, with: &[(&str, &str)]) -> f64 {
    data.iter()
        .filter(|d| d.name == name)
        .filter(|d| {
            with.iter()
                .all(|(k, v)| d.dimensions.get(*k).map(String::as_str) == Some(*v))
        })
        .flat_map(|d| d.values.iter())
        .sum()
}

fn flush() -> String {
    let mut out = Vec::new();
    telemetry::flush_to(&mut out);
    String::from_utf8(out).expect("EMF is UTF-8")
}

/// `n` days before the in-process world's start.
fn day(n: i64) -> Date {
    fitbridge_integration::in_process::START.date() - time::Duration::days(n)
}

#[tokio::test]
async fn a_run_writes_embedded_metric_format_that_adds_up_to_what_happened() {
    telemetry::init_metrics(NAMESPACE.into(), "test");
    let world = World::start().await;
    let _ = flush(); // whatever starting the world counted

    // Sign-ups: a person connects, then connects again; only the first counts.
    let polar_user = random_polar_user_id();
    world
        .sandbox
        .polar
        .add_user(PolarUser::new(&polar_user, "Signe", "Up"));
    for _ in 0..2 {
        world.sandbox.polar.set_consent(Consent::allow(&polar_user));
        world.new_browser();
        let redirect = world.browser_get("/connect/polar").await;
        assert_eq!(redirect.status(), 302, "{}", text(&redirect));
        let callback = world.consent(location(&redirect)).await;
        let page = world.browser_get(&callback).await;
        assert_eq!(page.status(), 200, "{}", text(&page));
    }
    let connects = parse_emf(&flush());
    assert_eq!(
        total(&connects, metric::SIGN_UPS, &[("Provider", "polar")]),
        1.0,
        "{connects:?}"
    );

    // The webhook: two signed deliveries (3 notifications), one forged, one not JSON, one
    // while the queue is down.
    let user = world
        .connected(ProviderKind::Fitbit, &["profile", "activity", "sleep"])
        .await;
    let entry = |date: Date, collection: &str| {
        format!(
            r#"{{"collectionType":"{collection}","date":"{date}","ownerId":"{user}","ownerType":"user","subscriptionId":"{user}-{collection}"}}"#
        )
    };
    let first = format!(
        "[{},{}]",
        entry(day(2), "activities"),
        entry(day(2), "sleep")
    );
    let second = format!("[{}]", entry(day(3), "activities"));
    let secret = world.issued.fitbit_client_secret.clone();
    let signed = |body: &str| {
        vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            (
                "x-fitbit-signature".to_owned(),
                World::fitbit_signature(&secret, body.as_bytes()),
            ),
        ]
    };
    for body in [&first, &second] {
        let status = world
            .webhook_request(
                "POST",
                "/webhooks/fitbit",
                &signed(body),
                body.as_bytes(),
                false,
            )
            .await;
        assert_eq!(status, 204);
    }
    let forged = vec![("x-fitbit-signature".to_owned(), "AAAA".to_owned())];
    let status = world
        .webhook_request("POST", "/webhooks/fitbit", &forged, first.as_bytes(), false)
        .await;
    assert_eq!(status, 404, "Fitbit wants 404 for a wrong signature");
    let status = world
        .webhook_request(
            "POST",
            "/webhooks/fitbit",
            &signed("{oops"),
            b"{oops",
            false,
        )
        .await;
    assert_eq!(status, 400);
    world.work_queue.set_down(true);
    let status = world
        .webhook_request(
            "POST",
            "/webhooks/fitbit",
            &signed(&second),
            second.as_bytes(),
            false,
        )
        .await;
    assert_eq!(status, 503, "the provider delivers it again");
    world.work_queue.set_down(false);
    let webhook = parse_emf(&flush());
    let queued = world.work_queue.sent();
    assert_eq!(
        queued.len(),
        3,
        "one item per (person, collection, day): {queued:?}"
    );
    assert_eq!(total(&webhook, metric::NOTIFICATIONS_ACCEPTED, &[]), 3.0);
    assert_eq!(total(&webhook, metric::WORK_QUEUED, &[]), 3.0);
    assert_eq!(
        total(
            &webhook,
            metric::NOTIFICATIONS_REJECTED,
            &[("Reason", "signature")]
        ),
        1.0
    );
    assert_eq!(
        total(
            &webhook,
            metric::NOTIFICATIONS_REJECTED,
            &[("Reason", "malformed")]
        ),
        1.0
    );
    assert_eq!(total(&webhook, metric::WEBHOOK_UNAVAILABLE, &[]), 1.0);

    // The worker: the three queued items.
    let items: Vec<WorkItem> = queued.into_iter().map(|(item, _)| item).collect();
    let _ = world.work_queue.drain();
    let run = world
        .run(items.iter().cloned().map(|i| world.message(i)).collect())
        .await;
    assert!(
        run.leftover.dead() == 0 && !run.unsettled,
        "{}",
        run.trace()
    );
    let worker = parse_emf(&flush());
    let fitbit = ProviderKind::Fitbit.to_string();
    let fetched = total(&worker, metric::DAYS_FETCHED, &[("Provider", &fitbit)]);
    assert_eq!(
        fetched, 3.0,
        "activities and sleep of one day, activities of another"
    );
    assert_eq!(
        total(
            &worker,
            metric::PROVIDER_CALLS,
            &[("Provider", &fitbit), ("Status", "2xx")]
        ),
        fetched
    );
    let created = total(&worker, metric::INTERACTIONS, &[("Result", "created")]);
    let in_sap = world.sandbox.sap.interactions().len() as f64;
    assert!(created > 0.0);
    assert_eq!(
        created, in_sap,
        "every created interaction is in the SAP sandbox"
    );
    assert_eq!(total(&worker, metric::WORK_FAILED, &[]), 0.0);
    let latencies: Vec<&Datum> = worker
        .iter()
        .filter(|d| d.name == metric::SAP_LATENCY)
        .collect();
    assert!(!latencies.is_empty(), "SAP round trips are timed");
    assert!(latencies
        .iter()
        .all(|d| d.unit.as_deref() == Some("Milliseconds") && d.values.iter().all(|v| *v >= 0.0)));

    // Delivered again (a fresh notification for the same days, once the fetch log's
    // coalescing window is over): fetched again, and nothing changes in SAP.
    world.advance(fitbridge::ports::store::FETCH_COALESCE_WINDOW);
    world
        .run(items.iter().cloned().map(|i| world.message(i)).collect())
        .await;
    let repeat = parse_emf(&flush());
    assert_eq!(total(&repeat, metric::DAYS_FETCHED, &[]), 3.0);
    assert_eq!(
        total(&repeat, metric::INTERACTIONS, &[("Result", "created")]),
        0.0
    );
    assert_eq!(
        total(&repeat, metric::INTERACTIONS, &[("Result", "unchanged")]),
        created
    );
    assert_eq!(world.sandbox.sap.interactions().len() as f64, in_sap);

    // The daily pull of a day: how long after the person's local midnight it landed.
    let daily = WorkItem::sync(
        ProviderKind::Fitbit,
        ProviderUserId(user.clone()),
        day(5),
        vec![Collection::Activities],
    )
    .at(Priority::Daily);
    world.run(vec![world.message(daily)]).await;
    let landed = parse_emf(&flush());
    let values: Vec<f64> = landed
        .iter()
        .filter(|d| d.name == metric::DAILY_PULL_LANDED)
        .flat_map(|d| d.values.clone())
        .collect();
    let timezone = world
        .connection(ProviderKind::Fitbit, &user)
        .await
        .expect("connected")
        .timezone;
    let ended = fitbridge::domain::local_day::end_of(timezone.as_deref(), day(5));
    let expected = (world.now().unix_timestamp() - ended.as_second()) as f64 / 60.0;
    assert_eq!(values.len(), 1, "{landed:?}");
    assert!(
        (values[0] - expected).abs() < 1.0,
        "landed {} minutes after the day ended, not {expected}",
        values[0]
    );
    assert!(
        expected > 3.0 * 24.0 * 60.0,
        "day(5) ended days ago: {expected}"
    );

    // A provider answering 500 for a person's day: a failed item, counted by status.
    world.sandbox.fitbit.fail_next_requests(1, 500);
    let failing = WorkItem::sync(
        ProviderKind::Fitbit,
        ProviderUserId(user.clone()),
        day(4),
        vec![Collection::Activities],
    );
    world.run(vec![world.message(failing)]).await;
    let failure = parse_emf(&flush());
    assert_eq!(
        total(&failure, metric::PROVIDER_CALLS, &[("Status", "5xx")])
            + total(
                &failure,
                metric::PROVIDER_CALLS,
                &[("Status", "unavailable")]
            ),
        1.0
    );
    assert_eq!(
        total(&failure, metric::WORK_FAILED, &[]),
        1.0,
        "then delivered again"
    );
    assert_eq!(
        total(&failure, metric::PROVIDER_CALLS, &[("Status", "2xx")]),
        1.0
    );
    assert_eq!(total(&failure, metric::WORK_DEAD_LETTERED, &[]), 0.0);
}
