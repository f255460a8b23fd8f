//! A bounded flood of forged webhook deliveries beside genuine ones, through the local API
//! gateway (which enforces the template's route throttles) to the deployed webhook.
//!
//!   cargo run --release -p fitbridge-integration --bin webhook_flood -- \
//!       [--seconds 30] [--forged-rps 150] [--genuine-rps 5] [--arrivals poisson|even] \
//!       [--target google-health|fitbit|both] [--label after] [--json FILE]
//!
//! Usually run by `tests/local/webhook_flood.sh`, which runs it twice (the old shared route
//! and the template's routes) and prints both side by side.
//!
//! For `--seconds`, at fixed mean rates (open loop: a request is sent on time whether or not
//! the earlier ones were answered), each stream's requests independent of each other
//! (`poisson`, the default: exponential gaps, as many unrelated senders produce) or evenly
//! spaced (`even`: one sender pacing itself, which against an empty token bucket takes
//! nearly every token as it is refilled):
//! - forged deliveries (bad signature, wrong authorization) are POSTed at `--forged-rps` to
//!   the target route (`both`: half to each provider);
//! - genuine deliveries arrive at `--genuine-rps` per provider, sent by the provider
//!   sandboxes themselves (their admin API signs each one as the provider does and POSTs it
//!   to the subscriber URL, the gateway): a Fitbit notification array signed with the
//!   client secret, a Google Health notification with the subscriber's authorization and
//!   an ECDSA signature of the sandbox's keyset.
//!
//! Prints what each stream got (2xx, 429, other 4xx, 5xx, no answer) and the share of
//! genuine deliveries accepted; `--json` also writes it for the report.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fitbridge_integration::deployed::Deployed;
use rand::Rng;
use serde_json::{json, Value};

struct Options {
    seconds: f64,
    forged_rps: f64,
    genuine_rps: f64,
    target: String,
    label: String,
    json: Option<String>,
    poisson: bool,
}

fn options() -> Options {
    let mut o = Options {
        seconds: 30.0,
        forged_rps: 150.0,
        genuine_rps: 5.0,
        target: "google-health".into(),
        label: "run".into(),
        json: None,
        poisson: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| panic!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--seconds" => o.seconds = value().parse().expect("--seconds: a number"),
            "--forged-rps" => o.forged_rps = value().parse().expect("--forged-rps: a number"),
            "--genuine-rps" => o.genuine_rps = value().parse().expect("--genuine-rps: a number"),
            "--target" => o.target = value(),
            "--label" => o.label = value(),
            "--json" => o.json = Some(value()),
            "--arrivals" => {
                o.poisson = match value().as_str() {
                    "poisson" => true,
                    "even" => false,
                    other => panic!("--arrivals: poisson or even, not {other}"),
                }
            }
            other => panic!("unknown argument {other} (see the file's header)"),
        }
    }
    assert!(
        ["google-health", "fitbit", "both"].contains(&o.target.as_str()),
        "--target: google-health, fitbit or both"
    );
    assert!(
        o.seconds > 0.0 && o.seconds <= 600.0,
        "--seconds: more than 0, at most 600 (a bounded run)"
    );
    o
}

/// What one request got.
#[derive(Clone, Copy)]
enum Outcome {
    Status(u16, Duration),
    /// No answer in time (the provider's own timeout for genuine deliveries).
    NoAnswer,
}

#[derive(Default)]
struct Tally {
    sent: u64,
    accepted: u64,
    throttled: u64,
    client_error: u64,
    server_error: u64,
    no_answer: u64,
    latencies: Vec<Duration>,
}

impl Tally {
    fn add(&mut self, outcome: Outcome) {
        self.sent += 1;
        match outcome {
            Outcome::Status(status, latency) => {
                self.latencies.push(latency);
                match status {
                    200..=299 => self.accepted += 1,
                    429 => self.throttled += 1,
                    400..=499 => self.client_error += 1,
                    _ => self.server_error += 1,
                }
            }
            Outcome::NoAnswer => self.no_answer += 1,
        }
    }

    fn percentile(&self, p: f64) -> Option<f64> {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted.get(i).map(|d| d.as_secs_f64() * 1000.0)
    }

    fn json(&self, stream: &str) -> Value {
        json!({
            "stream": stream, "sent": self.sent, "accepted": self.accepted,
            "throttled": self.throttled, "client_error": self.client_error,
            "server_error": self.server_error, "no_answer": self.no_answer,
            "accepted_share": if self.sent == 0 { Value::Null }
                else { json!(self.accepted as f64 / self.sent as f64) },
            "p50_ms": self.percentile(0.5), "p99_ms": self.percentile(0.99),
        })
    }
}

/// Sends `make()` at a mean `rps` for `seconds` (exponential or even gaps), on schedule, and
/// tallies the outcomes.
async fn paced<F, Fut>(rps: f64, seconds: f64, poisson: bool, make: F) -> Tally
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Outcome> + Send + 'static,
{
    let tally = Arc::new(Mutex::new(Tally::default()));
    if rps <= 0.0 {
        return Tally::default();
    }
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut at = 0.0;
    loop {
        at += if poisson {
            // 1 - U is in (0, 1]: never ln(0).
            -(1.0 - rand::rng().random::<f64>()).ln() / rps
        } else {
            1.0 / rps
        };
        if at >= seconds {
            break;
        }
        tokio::time::sleep_until(start + Duration::from_secs_f64(at)).await;
        let request = make();
        let tally = tally.clone();
        tasks.spawn(async move {
            let outcome = request.await;
            tally.lock().unwrap().add(outcome);
        });
    }
    while tasks.join_next().await.is_some() {}
    Arc::try_unwrap(tally)
        .ok()
        .expect("every task is done")
        .into_inner()
        .unwrap()
}

fn random_b64(bytes: usize) -> String {
    use base64::Engine as _;
    let mut raw = vec![0u8; bytes];
    rand::rng().fill(&mut raw[..]);
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// A forged delivery to `/webhooks/{provider}`: the shape of the real thing, a signature
/// and authorization nobody issued.
async fn forged(http: reqwest::Client, gateway: String, provider: &'static str) -> Outcome {
    let (body, headers) = if provider == "fitbit" {
        (
            json!([{"collectionType": "activities", "date": "2026-12-06", "ownerId": "FORGED",
                    "ownerType": "user", "subscriptionId": "FORGED-activities"}]),
            vec![("X-Fitbit-Signature", random_b64(20))],
        )
    } else {
        (
            json!({"data": {"version": "1", "healthUserId": "4000000000000000000",
                   "operation": "UPSERT", "dataType": "steps",
                   "clientProvidedSubscriptionName": "forged", "intervals": []}}),
            vec![
                ("Authorization", format!("Bearer {}", random_b64(24))),
                ("Google-Health-API-Signature", random_b64(72)),
            ],
        )
    };
    let mut request = http
        .post(format!("{gateway}/webhooks/{provider}"))
        .header("Content-Type", "application/json")
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let t0 = Instant::now();
    match request.send().await {
        Ok(r) => Outcome::Status(r.status().as_u16(), t0.elapsed()),
        Err(_) => Outcome::NoAnswer,
    }
}

/// A genuine delivery: the provider sandbox signs it and POSTs it to the webhook, and says
/// what the webhook answered (no answer within the provider's timeout: `NoAnswer`).
async fn genuine(
    http: reqwest::Client,
    sandbox: String,
    provider: &'static str,
    user: String,
) -> Outcome {
    let (path, body) = if provider == "fitbit" {
        (
            "/_admin/fitbit/notify",
            json!({"notifications": [{"collectionType": "activities", "date": "2026-12-06",
                   "ownerId": user}], "mode": "array"}),
        )
    } else {
        (
            "/_admin/google-health/notify",
            json!({"health_user_id": user, "data_type": "steps", "date": "2026-12-06"}),
        )
    };
    let t0 = Instant::now();
    let Ok(response) = http
        .post(format!("{sandbox}{path}"))
        .json(&body)
        .send()
        .await
    else {
        return Outcome::NoAnswer;
    };
    let elapsed = t0.elapsed();
    if !response.status().is_success() {
        // The sandbox could not deliver: no answer within the provider's timeout.
        return Outcome::NoAnswer;
    }
    let out: Value = response.json().await.unwrap_or(Value::Null);
    let status = if provider == "fitbit" {
        out["statuses"][0].as_u64()
    } else {
        out["deliveries"][0]["status"].as_u64()
    };
    match status {
        Some(s) => Outcome::Status(s as u16, elapsed),
        None => panic!("{path}: no delivery made ({out}); is the subscriber registered?"),
    }
}

async fn admin(http: &reqwest::Client, sandbox: &str, path: &str, body: Value) {
    let r = http
        .post(format!("{sandbox}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(r.status().is_success(), "{path}: HTTP {}", r.status());
}

#[tokio::main]
async fn main() {
    let o = options();
    let stack = fitbridge_integration::stack();
    let gateway = stack["gatewayUrl"].as_str().expect("gatewayUrl").to_owned();
    let sandbox = stack["sandboxUrl"].as_str().expect("sandboxUrl").to_owned();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");

    // Google delivers only to a registered subscriber, and only for a person who consented
    // to the data type's scope.
    let deployed = Deployed::new(stack.clone());
    eprintln!(
        "google subscriber: {}",
        deployed.create_google_subscriber().await
    );
    let google_user = fitbridge_integration::random_health_user_id();
    admin(
        &http,
        &sandbox,
        "/_admin/google-health/users",
        json!({"health_user_id": google_user}),
    )
    .await;
    admin(
        &http,
        &sandbox,
        &format!("/_admin/google-health/users/{google_user}/tokens"),
        json!({"scopes": [fitbridge::provider::google_health::scopes::ACTIVITY]}),
    )
    .await;
    let fitbit_user = fitbridge_integration::random_user_id();
    // Let the subscriber verification's requests leave the route buckets.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let forged_targets: Vec<&'static str> = match o.target.as_str() {
        "fitbit" => vec!["fitbit"],
        "both" => vec!["fitbit", "google-health"],
        _ => vec!["google-health"],
    };
    let forged_rps = o.forged_rps / forged_targets.len() as f64;
    eprintln!(
        "{}: {} s, forged {:.0}/s at {}, genuine {:.1}/s per provider, {} arrivals, via {gateway}",
        o.label,
        o.seconds,
        o.forged_rps,
        forged_targets.join(" + "),
        o.genuine_rps,
        if o.poisson { "poisson" } else { "even" },
    );

    let run_forged = |provider: &'static str| {
        let (http, gateway) = (http.clone(), gateway.clone());
        paced(forged_rps, o.seconds, o.poisson, move || {
            forged(http.clone(), gateway.clone(), provider)
        })
    };
    let run_genuine = |provider: &'static str, user: String| {
        let (http, sandbox) = (http.clone(), sandbox.clone());
        paced(o.genuine_rps, o.seconds, o.poisson, move || {
            genuine(http.clone(), sandbox.clone(), provider, user.clone())
        })
    };
    let t0 = Instant::now();
    let (forged_fitbit, forged_google, genuine_fitbit, genuine_google) = tokio::join!(
        async {
            match forged_targets.contains(&"fitbit") {
                true => run_forged("fitbit").await,
                false => Tally::default(),
            }
        },
        async {
            match forged_targets.contains(&"google-health") {
                true => run_forged("google-health").await,
                false => Tally::default(),
            }
        },
        run_genuine("fitbit", fitbit_user),
        run_genuine("google-health", google_user),
    );
    let elapsed = t0.elapsed().as_secs_f64();

    let streams = [
        ("genuine fitbit", &genuine_fitbit),
        ("genuine google-health", &genuine_google),
        ("forged fitbit", &forged_fitbit),
        ("forged google-health", &forged_google),
    ];
    println!(
        "\n{} ({elapsed:.1} s including the last answers)\n",
        o.label
    );
    println!(
        "| stream | sent | 2xx | 429 | other 4xx | 5xx | no answer | accepted | p50 ms | p99 ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, t) in streams.iter().filter(|(_, t)| t.sent > 0) {
        let share = 100.0 * t.accepted as f64 / t.sent as f64;
        let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.0}"));
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {share:.1}% | {} | {} |",
            t.sent,
            t.accepted,
            t.throttled,
            t.client_error,
            t.server_error,
            t.no_answer,
            ms(t.percentile(0.5)),
            ms(t.percentile(0.99)),
        );
    }
    if let Some(path) = &o.json {
        let doc = json!({
            "label": o.label, "seconds": o.seconds, "forged_rps": o.forged_rps,
            "genuine_rps": o.genuine_rps, "target": o.target, "elapsed": elapsed,
            "arrivals": if o.poisson { "poisson" } else { "even" },
            "gateway": gateway,
            "streams": streams.iter().filter(|(_, t)| t.sent > 0)
                .map(|(name, t)| t.json(name)).collect::<Vec<_>>(),
        });
        std::fs::write(path, format!("{doc:#}\n")).expect("write --json");
    }
}
