//! Freshness on the local stack (`tests/local/freshness.sh`): how long a notification takes
//! from the deployed webhook's acceptance to its interaction stored in the SAP sandbox,
//! through the emulator's queue and the deployed worker, and where that time goes.
//!
//! `--people M` Fitbit people connect through the gateway (activity only), and whatever
//! their connects queued is let drain first (the local stack deploys with `BackfillDays`
//! 0 unless `FB_BACKFILL_DAYS` says otherwise). Then `--notifications N` signed notifications, spread
//! evenly over a minute, each announce a day not imported yet (person `i % M`, a day
//! before the backfill), so each is one fetch and one new `steps` interaction. Per
//! notification, all on this machine's wall clock:
//! - accepted: the Fitbit sandbox's POST to the webhook answered 204;
//! - first provider call: the sandbox's first request for that day's activities;
//! - stored: the SAP sandbox's `received_at` of the day's `steps` interaction.
//!
//! Queue wait is first call − accepted (the emulator's event source mapping polling the
//! queue, and the worker starting); provider call and SAP write is stored − first call
//! (the token, the fetch, the import ledger and the `$batch`).
//!
//!   tests/local/freshness.sh [--notifications 200] [--people 20]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fitbridge_integration::deployed::{self, Deployed};
use fitbridge_integration::{stack, stack_now};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const DRAIN_LIMIT: Duration = Duration::from_secs(600);
const LIMIT: Duration = Duration::from_secs(300);

fn options() -> (usize, usize) {
    let (mut notifications, mut people) = (200, 20);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value: usize = it.next().and_then(|v| v.parse().ok()).expect("a number");
        match flag.as_str() {
            "--notifications" => notifications = value,
            "--people" => people = value,
            other => panic!("unknown flag {other}: --notifications N --people M"),
        }
    }
    (notifications.max(1), people.max(1))
}

fn parse(at: &str) -> OffsetDateTime {
    OffsetDateTime::parse(at, &Rfc3339).expect("an RFC 3339 time")
}

fn seconds(d: time::Duration) -> f64 {
    d.as_seconds_f64()
}

fn percentiles(mut values: Vec<f64>) -> String {
    values.sort_by(f64::total_cmp);
    let at = |p: f64| values[((values.len() - 1) as f64 * p).round() as usize];
    format!(
        "{:.2} s | {:.2} s | {:.2} s",
        at(0.5),
        at(0.99),
        values.last().copied().unwrap_or_default()
    )
}

/// Waits until the SAP sandbox's interaction count has not changed for 10 s.
async fn drained(d: &Deployed) -> usize {
    let start = Instant::now();
    let (mut last, mut since) = (usize::MAX, Instant::now());
    loop {
        let n = d.interactions().await.len();
        if n != last {
            (last, since) = (n, Instant::now());
        } else if since.elapsed() > Duration::from_secs(10) || start.elapsed() > DRAIN_LIMIT {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::main]
async fn main() {
    let (n, m) = options();
    let stack = stack();
    let d = Arc::new(Deployed::new(stack.clone()));
    eprintln!("connecting {m} Fitbit people through the gateway");
    let mut people = Vec::new();
    for i in 0..m {
        let done = deployed::connect_person_with_pattern(
            &stack,
            "Fresh",
            &format!("Ness{i}"),
            &format!("FRESH-{i}"),
            Some("default"),
        )
        .await;
        assert_eq!(done.status, 200, "connect: {}", done.page);
        people.push(done.user_id);
    }
    eprintln!("waiting for what their connects queued to land");
    let before = drained(&d).await;
    eprintln!("{before} interactions in the SAP sandbox; sending {n} notifications over 60 s");

    // Notification i: person i % m, a day before the 30 the backfill brought.
    let today = stack_now().date();
    let plan: Vec<(String, String)> = (0..n)
        .map(|i| {
            let date = today - time::Duration::days(31 + (i / m) as i64);
            (people[i % m].clone(), date.to_string())
        })
        .collect();
    let start = tokio::time::Instant::now();
    let sends: Vec<_> = plan
        .iter()
        .enumerate()
        .map(|(i, (user, date))| {
            let (d, user, date) = (d.clone(), user.clone(), date.clone());
            let at = start + Duration::from_secs_f64(60.0 * i as f64 / n as f64);
            tokio::spawn(async move {
                tokio::time::sleep_until(at).await;
                let status = d.notify(&[("activities", &date, &user)]).await;
                (status, OffsetDateTime::now_utc())
            })
        })
        .collect();
    let mut accepted = Vec::new();
    for send in sends {
        let (status, at) = send.await.expect("a send");
        assert_eq!(status, 204, "the webhook accepted the notification");
        accepted.push(at);
    }

    // Each notification's steps interaction in the SAP sandbox.
    let waited = Instant::now();
    let stored: HashMap<(String, String), OffsetDateTime> = loop {
        let interactions = d.interactions().await;
        let mut found = HashMap::new();
        for i in &interactions {
            let user = i["fields"]["InteractionContactId"].as_str().unwrap_or("");
            let source = i["fields"]["InteractionSourceObject"]
                .as_str()
                .unwrap_or("");
            if let Some(date) = source
                .strip_suffix("-steps")
                .and_then(|s| s.get(s.len().saturating_sub(10)..))
            {
                let at = parse(i["received_at"].as_str().unwrap_or(""));
                found
                    .entry((user.to_owned(), date.to_owned()))
                    .and_modify(|t: &mut OffsetDateTime| *t = (*t).min(at))
                    .or_insert(at);
            }
        }
        if plan.iter().all(|k| found.contains_key(k)) || waited.elapsed() > LIMIT {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let stats: Value = d.fitbit_stats().await;
    eprintln!(
        "{} interactions in the SAP sandbox after the run",
        d.interactions().await.len()
    );

    let (mut total, mut queue, mut work) = (Vec::new(), Vec::new(), Vec::new());
    let mut missing = 0;
    for ((user, date), accepted) in plan.iter().zip(&accepted) {
        let Some(stored) = stored.get(&(user.clone(), date.clone())) else {
            missing += 1;
            continue;
        };
        let first_call = stats["first_api_call_at"][user.as_str()]
            .as_object()
            .into_iter()
            .flatten()
            .find(|(path, _)| path.contains(&format!("/activities/date/{date}")))
            .map(|(_, at)| parse(at.as_str().unwrap_or("")));
        total.push(seconds(*stored - *accepted));
        if let Some(call) = first_call {
            queue.push(seconds(call - *accepted));
            work.push(seconds(*stored - call));
        }
    }
    println!(
        "freshness on the local stack: {n} notifications over 60 s for {m} people \
         (one new day each), {} stored, {missing} missing",
        total.len()
    );
    println!("| from → to | p50 | p99 | max |");
    println!("|---|---:|---:|---:|");
    if !total.is_empty() {
        println!(
            "| webhook accepted → interaction stored | {} |",
            percentiles(total)
        );
    }
    if !queue.is_empty() {
        println!(
            "| accepted → first provider call (queue wait) | {} |",
            percentiles(queue)
        );
        println!(
            "| first provider call → stored (token, fetch, ledger, SAP $batch) | {} |",
            percentiles(work)
        );
    }
    if missing > 0 {
        std::process::exit(1);
    }
}
