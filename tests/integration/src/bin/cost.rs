//! What a person costs: runs the standard day of a connected person — 5 notifications
//! (each its own webhook delivery; each of the three activity ones follows a device sync
//! that grew the day's figures, as real notifications do), the 401 of an access token that died early (retry queue,
//! one refresh, the work resent) and the daily job's pull of yesterday — for a cohort of each
//! provider, through the real webhook, worker, token-refresh and daily handlers against the
//! local emulator, with every AWS request passing a metering proxy
//! ([`fitbridge_integration::aws_meter`]). Prints the requests per person-day by service and
//! operation, and prices them: dollars per 1,000 people per month, by service.
//!
//! The people have been connected a while (`--history-months`, default 12): their history
//! is in the table and what it implies settled, so the day reads and writes what a day of
//! a person with that history does, not a first day's.
//!
//!   tests/local/cost.sh [--people N] [--history-months M]   (N per provider, default 20)
//!
//! What is modelled rather than measured, and why:
//! - Lambda's SQS event source mapping polls with long polls whatever the traffic (a fixed
//!   cost per queue, not per person); here the harness receives for it: empty receives and
//!   its queue-depth checks are not billed, each non-empty receive is billed with one
//!   `DeleteMessageBatch` (what the mapping sends) instead of the harness's single deletes.
//! - Lambda duration is the handler's wall time here, against an emulator on loopback.
//! - Lambda's own log lines (start and report records, JSON) are taken as 500 bytes an
//!   invocation.
//! - The HTTP API's access log (the emulator has none) is one line per request in the
//!   template's format, rendered with typical values ([`access_log_line`]).
//! - Secrets are read once per execution environment (cold start), not per person: their
//!   calls are shown, not priced per person.

use fitbridge::domain::PersonKey;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fitbridge::domain::ProviderKind;
use fitbridge_integration::aws_meter::{Meter, Tally};
use fitbridge_integration::pipeline::Pipeline;
use fitbridge_integration::{
    aws_config, aws_endpoint, create_table_like_the_stacks, random_user_id, stack,
};
use fitbridge_sandbox::fitbit::RecordedActivity;
use fitbridge_sandbox::google_health::scopes as google_scopes;
use fitbridge_sandbox::google_health::RecordedDay;

/// List prices, us-east-1, November 2026 (aws.amazon.com/<service>/pricing).
mod price {
    /// Lambda: per request, and per GB-second on arm64 (the template's default).
    pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
    pub const LAMBDA_GB_SECOND_ARM: f64 = 0.000_013_333_4;
    /// API Gateway HTTP API, per request (first 300 million a month).
    pub const HTTP_API_REQUEST: f64 = 1.00 / 1e6;
    /// SQS per request (64 KB chunk): standard, FIFO.
    pub const SQS_STANDARD: f64 = 0.40 / 1e6;
    pub const SQS_FIFO: f64 = 0.50 / 1e6;
    /// DynamoDB on-demand: per write and read request unit.
    pub const DYNAMODB_WRU: f64 = 0.625 / 1e6;
    pub const DYNAMODB_RRU: f64 = 0.125 / 1e6;
    /// Secrets Manager, per API call.
    pub const SECRETS_CALL: f64 = 0.05 / 1e4;
    /// CloudWatch Logs ingestion (standard class), per GB.
    pub const LOGS_GB: f64 = 0.50;
}

/// Memory of each function as `infra/template.yaml` sets it (MB).
const MEMORY_MB: [(&str, f64); 4] = [
    ("webhook", 256.0),
    ("worker", 512.0),
    ("token-refresh", 256.0),
    ("daily-sync", 1024.0),
];
/// Lambda's start and report records per invocation (JSON log format), bytes.
const PLATFORM_LOG_BYTES: usize = 500;

/// One line of the HTTP API's access log: the template's `AccessLogSettings.Format` (a
/// folded YAML scalar) with each `$context` variable replaced by a typical value.
fn access_log_line() -> String {
    const SAMPLE: [(&str, &str); 9] = [
        ("$context.requestId", "Pq3kZgR7IAMEbcQ="),
        ("$context.identity.sourceIp", "203.0.113.195"),
        ("$context.requestTime", "01/Dec/2026:03:01:34 +0000"),
        ("$context.httpMethod", "POST"),
        ("$context.routeKey", "POST /webhooks/{provider}"),
        ("$context.status", "204"),
        ("$context.responseLength", "0"),
        ("$context.integrationLatency", "15"),
        ("$context.integrationErrorMessage", "-"),
    ];
    let template = include_str!("../../../../infra/template.yaml");
    let mut lines = template.lines().skip_while(|l| l.trim() != "Format: >-");
    let indent = |l: &str| l.len() - l.trim_start().len();
    let key_indent = indent(
        lines
            .next()
            .expect("AccessLogSettings.Format in the template"),
    );
    let mut line = lines
        .take_while(|l| !l.trim().is_empty() && indent(l) > key_indent)
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    for (variable, value) in SAMPLE {
        line = line.replace(variable, value);
    }
    assert!(
        !line.contains("$context"),
        "a sample for every variable: {line}"
    );
    line
}
const DAYS_PER_MONTH: f64 = 30.4;

#[derive(Default)]
struct Day {
    tally: Tally,
    /// Function → (invocations, total duration).
    invocations: BTreeMap<&'static str, (u64, Duration)>,
    webhook_requests: u64,
    log_bytes: usize,
    emf_bytes: usize,
    access_log_bytes: usize,
}

impl Day {
    fn all_log_bytes(&self) -> usize {
        self.log_bytes + self.emf_bytes + self.access_log_bytes
    }

    fn invoked(&mut self, function: &'static str, took: Duration) {
        let e = self.invocations.entry(function).or_default();
        e.0 += 1;
        e.1 += took;
        self.log_bytes += PLATFORM_LOG_BYTES;
        let mut emf = Vec::new();
        fitbridge::telemetry::flush_to(&mut emf);
        self.emf_bytes += emf.len();
    }
}

async fn drain(p: &Pipeline, day: &mut Day) {
    let start = Instant::now();
    loop {
        let t = Instant::now();
        let worked = p.run_worker().await.is_some();
        if worked {
            day.invoked("worker", t.elapsed());
        }
        let t = Instant::now();
        let refreshed = p.run_refresher().await.is_some();
        if refreshed {
            day.invoked("token-refresh", t.elapsed());
        }
        if !worked && !refreshed {
            if p.depth(&p.work_url).await == 0 && p.depth(&p.retry_url).await == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(start.elapsed() < Duration::from_secs(600), "queues drain");
    }
}

/// The standard day of `users` of one provider.
async fn standard_day(p: &Pipeline, meter: &Meter, kind: ProviderKind, users: &[String]) -> Day {
    let mut day = Day::default();
    let _ = meter.take();
    let logs_before = p.env.logs.text().len();
    let date = fitbridge_integration::stack_now().date();
    let today = date.to_string();
    let access_log_bytes = access_log_line().len() + 1;
    let collections: [&str; 5] = match kind {
        ProviderKind::Fitbit => ["activities", "activities", "sleep", "body", "activities"],
        ProviderKind::GoogleHealth => ["steps", "steps", "sleep", "weight", "steps"],
        ProviderKind::Polar => unreachable!("the cost run has no Polar cohort yet"),
    };
    for (round, collection) in collections.iter().enumerate() {
        if round == 2 {
            // The access token dies early: the next fetch answers 401.
            for user in users {
                match kind {
                    ProviderKind::Fitbit => p.env.sandbox.fitbit.expire_access_token(user),
                    ProviderKind::GoogleHealth => {
                        p.env.sandbox.google_health.expire_access_token(user)
                    }
                    ProviderKind::Polar => unreachable!("the cost run has no Polar cohort yet"),
                };
            }
        }
        if matches!(*collection, "activities" | "steps") {
            // A device sync: the day so far has grown, every activity figure with it.
            let n = round as u64 + 1;
            for user in users {
                match kind {
                    ProviderKind::Fitbit => p.env.sandbox.fitbit.record_activity(
                        user,
                        RecordedActivity {
                            steps: Some(2_000 * n),
                            distance_km: Some(1.5 * n as f64),
                            calories_out: Some(1_600 + 100 * n),
                            very_active_minutes: Some(5 * n),
                            fairly_active_minutes: Some(5 * n),
                            ..RecordedActivity::on(date)
                        },
                    ),
                    ProviderKind::GoogleHealth => p.env.sandbox.google_health.record_day(
                        user,
                        RecordedDay::on(date)
                            .steps(2_000 * n)
                            .distance_mm(1_500_000 * n)
                            .calories_kcal(1_600.0 + 100.0 * n as f64)
                            .active_minutes(5 * n, 5 * n),
                    ),
                    ProviderKind::Polar => unreachable!("the cost run has no Polar cohort yet"),
                }
            }
        }
        for user in users {
            let t = Instant::now();
            match kind {
                ProviderKind::Fitbit => p.notify(&[(collection, &today, user)]).await,
                ProviderKind::GoogleHealth => p.notify_google(&[(user, collection, &today)]).await,
                ProviderKind::Polar => unreachable!("the cost run has no Polar cohort yet"),
            }
            day.invoked("webhook", t.elapsed());
            day.webhook_requests += 1;
            day.access_log_bytes += access_log_bytes;
        }
        drain(p, &mut day).await;
    }
    let t = Instant::now();
    let report = p.daily.run().await.expect("the daily job runs");
    day.invoked("daily-sync", t.elapsed());
    assert_eq!(
        report.people as usize,
        users.len(),
        "the table holds this cohort only"
    );
    drain(p, &mut day).await;
    day.tally = meter.take();
    day.log_bytes += p.env.logs.text().len() - logs_before;
    day
}

fn print_day(kind: ProviderKind, people: usize, day: &Day) -> BTreeMap<&'static str, f64> {
    let n = people as f64;
    println!("\n## {kind}: {people} people, one standard day\n");
    println!("| service | operation | requests per person-day |");
    println!("|---|---|---|");
    for ((service, operation), count) in &day.tally.requests {
        println!("| {service} | {operation} | {:.2} |", *count as f64 / n);
    }
    let mut lambda_requests = 0u64;
    let mut gb_seconds = 0.0;
    for (function, (count, took)) in &day.invocations {
        let memory = MEMORY_MB
            .iter()
            .find(|(f, _)| f == function)
            .map(|(_, m)| *m)
            .unwrap();
        lambda_requests += count;
        gb_seconds += took.as_secs_f64() * memory / 1024.0;
        println!(
            "| lambda | {function} invocations (mean {:.0} ms) | {:.2} |",
            took.as_secs_f64() * 1000.0 / *count as f64,
            *count as f64 / n
        );
    }
    println!(
        "\nDynamoDB: {:.2} write units, {:.2} read units per person-day; SQS {:.2} standard + {:.2} FIFO billable requests; logs {:.0} bytes (EMF {:.0}, API access log {:.0}).",
        day.tally.write_units / n,
        day.tally.read_units / n,
        day.tally.sqs_standard as f64 / n,
        day.tally.sqs_fifo as f64 / n,
        day.all_log_bytes() as f64 / n,
        day.emf_bytes as f64 / n,
        day.access_log_bytes as f64 / n,
    );
    let by_kind: Vec<String> = day
        .tally
        .writes_by_kind
        .iter()
        .map(|(kind, units)| format!("{kind} {:.2}", units / n))
        .collect();
    println!("Write units by kind of item: {}.", by_kind.join(", "));
    let per_month = 1000.0 * DAYS_PER_MONTH / n;
    let mut cost = BTreeMap::new();
    cost.insert(
        "Lambda",
        (lambda_requests as f64 * price::LAMBDA_REQUEST + gb_seconds * price::LAMBDA_GB_SECOND_ARM)
            * per_month,
    );
    cost.insert(
        "API Gateway",
        day.webhook_requests as f64 * price::HTTP_API_REQUEST * per_month,
    );
    cost.insert(
        "SQS",
        (day.tally.sqs_standard as f64 * price::SQS_STANDARD
            + day.tally.sqs_fifo as f64 * price::SQS_FIFO)
            * per_month,
    );
    cost.insert(
        "DynamoDB",
        (day.tally.write_units * price::DYNAMODB_WRU + day.tally.read_units * price::DYNAMODB_RRU)
            * per_month,
    );
    // Secrets are read once per execution environment (init, then cached), so their calls
    // follow cold starts, not people: reported, not priced per person.
    println!(
        "Secrets Manager: {} GetSecretValue calls in the run (cold caches of this process; {:.4} $ per 10,000 cold starts of a function reading 3 secrets).",
        day.tally.service("secretsmanager"),
        3.0 * 1e4 * price::SECRETS_CALL
    );
    cost.insert(
        "CloudWatch Logs",
        day.all_log_bytes() as f64 / 1e9 * price::LOGS_GB * per_month,
    );
    cost
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: cost [--people N] [--history-months M]";
    let (mut people, mut history_months) = (20usize, 12u32);
    for pair in args.chunks(2) {
        match pair {
            [flag, n] if flag == "--people" => people = n.parse().expect("--people N"),
            [flag, m] if flag == "--history-months" => {
                history_months = m.parse().expect("--history-months M")
            }
            _ => panic!("{usage}"),
        }
    }
    println!(
        "{people} people per provider, each with {history_months} months of history before the day"
    );
    fitbridge::telemetry::init_metrics("fitbridge".into(), "cost");
    let stack = stack();
    let meter = Meter::start(&aws_endpoint(&stack)).await;
    // Single-threaded, before any client exists: nothing reads the environment meanwhile.
    std::env::set_var("FITBRIDGE_TEST_AWS_ENDPOINT", &meter.url);
    let aws = aws_config(&stack).await;
    let table = format!("fb-cost-{}", random_user_id().to_lowercase());
    create_table_like_the_stacks(&aws_sdk_dynamodb::Client::new(&aws), &stack, &table).await;
    std::env::set_var("FITBRIDGE_TEST_TABLE", &table);

    let mut total: BTreeMap<&'static str, f64> = BTreeMap::new();
    for kind in [ProviderKind::Fitbit, ProviderKind::GoogleHealth] {
        // A pipeline (queues, table rows) per provider: the daily job sees one cohort.
        let p = Pipeline::start().await;
        let mut users = Vec::new();
        for _ in 0..people {
            users.push(match kind {
                ProviderKind::Fitbit => {
                    p.connected_user(&["profile", "activity", "sleep", "weight"])
                        .await
                }
                ProviderKind::GoogleHealth => {
                    p.connected_google_user(&[
                        google_scopes::ACTIVITY_AND_FITNESS,
                        google_scopes::SLEEP,
                        google_scopes::HEALTH_METRICS,
                    ])
                    .await
                }
                ProviderKind::Polar => unreachable!("the cost run has no Polar cohort yet"),
            });
        }
        settle_in(&p, kind, &users, history_months).await;
        let day = standard_day(&p, &meter, kind, &users).await;
        let cost = print_day(kind, people, &day);
        println!("\n| service | $ per 1,000 people per month |");
        println!("|---|---|");
        for (service, dollars) in &cost {
            println!("| {service} | {dollars:.4} |");
            *total.entry(service).or_default() += dollars / 2.0;
        }
        println!("| **total** | **{:.4}** |", cost.values().sum::<f64>());
        // Empty the table for the next cohort's daily job.
        clear_table(&aws_sdk_dynamodb::Client::new(&aws), &table).await;
    }
    println!("\n## Half of each provider: $ per 1,000 people per month\n");
    println!("| service | $ |");
    println!("|---|---|");
    for (service, dollars) in &total {
        println!("| {service} | {dollars:.4} |");
    }
    println!("| **total** | **{:.4}** |", total.values().sum::<f64>());
}

/// Makes the cohort people who have been connected for `months`: their history in the
/// table (the months before this one, and this month's days before today), yesterday at the
/// provider as the history has it, and one daily job run (not measured) that imports
/// yesterday and settles what the history says — milestones reached long ago, score and
/// send hour — so the measured day fires and writes what a day of such a person does.
async fn settle_in(p: &Pipeline, kind: ProviderKind, users: &[String], months: u32) {
    use fitbridge::domain::signals::history::{MonthHistory, MonthKey};
    use fitbridge::ports::signals::SignalStore;
    use fitbridge::ports::store::ConnectionStore;

    let today = fitbridge_integration::stack_now().date();
    let yesterday = today.previous_day().expect("a date before today");
    let mut first = today.replace_day(1).expect("the first of the month");
    for _ in 0..months {
        first = first
            .previous_day()
            .expect("a date")
            .replace_day(1)
            .expect("the first of the month");
    }
    for (person, user) in users.iter().enumerate() {
        let contact = p
            .env
            .store
            .get(&PersonKey::of(
                kind,
                &fitbridge::domain::ProviderUserId(user.clone()),
            ))
            .await
            .expect("the store answers")
            .expect("a connected person")
            .contact;
        let mut history: BTreeMap<MonthKey, MonthHistory> = BTreeMap::new();
        let mut day = first;
        while day < today {
            history
                .entry(MonthKey::of(day))
                .or_default()
                .days
                .insert(day.day(), settled_day(kind, day, person));
            day = day.next_day().expect("a date");
        }
        for (key, month) in &history {
            assert!(p
                .env
                .store
                .save_month(&contact, *key, month)
                .await
                .expect("the store answers"));
        }
        let yesterday_record = settled_day(kind, yesterday, person);
        let (steps, active) = (
            yesterday_record.steps.expect("steps"),
            yesterday_record.active_minutes.expect("active minutes"),
        );
        match kind {
            ProviderKind::Fitbit => p.env.sandbox.fitbit.record_activity(
                user,
                RecordedActivity {
                    steps: Some(steps),
                    distance_km: yesterday_record.distance_km,
                    calories_out: yesterday_record.calories,
                    very_active_minutes: Some(active / 2),
                    fairly_active_minutes: Some(active - active / 2),
                    ..RecordedActivity::on(yesterday)
                },
            ),
            ProviderKind::GoogleHealth => p.env.sandbox.google_health.record_day(
                user,
                RecordedDay::on(yesterday)
                    .steps(steps)
                    .distance_mm((yesterday_record.distance_km.expect("distance") * 1e6) as u64)
                    .calories_kcal(yesterday_record.calories.expect("calories") as f64)
                    .active_minutes(active / 2, active - active / 2),
            ),
            ProviderKind::Polar => unreachable!("the cost run has no Polar cohort yet"),
        }
    }
    p.daily.run().await.expect("the daily job runs");
    let mut unmeasured = Day::default();
    drain(p, &mut unmeasured).await;
    // What the settling run counted is not the day's.
    fitbridge::telemetry::flush_to(std::io::sink());
}

/// A day of a moderately active person (6,500 steps on average, a workout ending after 18:00
/// three days a week), below every default rule's threshold: a day of theirs fires nothing by
/// itself. Distances as each provider reports them: Fitbit in km to two decimals, Google
/// Health in millimetres.
fn settled_day(
    kind: ProviderKind,
    date: time::Date,
    person: usize,
) -> fitbridge::domain::signals::history::DayRecord {
    let h = (date.to_julian_day() as u64 * 7_919 + person as u64 * 104_729) % 2_000;
    let steps = 5_500 + h;
    let distance_km = match kind {
        ProviderKind::Fitbit => (steps as f64 * 0.042).round() / 100.0,
        ProviderKind::GoogleHealth => (steps * 420 + h % 1_000) as f64 / 1e6,
        ProviderKind::Polar => unreachable!("the cost run has no Polar cohort yet"),
    };
    let workout = matches!(
        date.weekday(),
        time::Weekday::Tuesday | time::Weekday::Thursday | time::Weekday::Saturday
    );
    fitbridge::domain::signals::history::DayRecord {
        steps: Some(steps),
        distance_km: Some(distance_km),
        calories: Some(1_900 + h / 4),
        active_minutes: Some(15 + h % 30),
        sleep_minutes: Some(360 + h % 120),
        workout_ends: if workout {
            vec![1_080 + (h % 60) as u16]
        } else {
            vec![]
        },
    }
}

async fn clear_table(ddb: &aws_sdk_dynamodb::Client, table: &str) {
    let mut start = None;
    loop {
        let page = ddb
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        for item in page.items() {
            ddb.delete_item()
                .table_name(table)
                .key("pk", item["pk"].clone())
                .key("sk", item["sk"].clone())
                .send()
                .await
                .expect("delete");
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            return;
        }
    }
}
