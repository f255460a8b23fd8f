//! A table run against one in-process world: each case, the summary table, and the check
//! that the captured logs hold nothing the run issued.

use std::fmt::Write as _;
use std::time::Instant;

use fitbridge::domain::ConnectionStatus;
use fitbridge_integration::in_process::World;
use fitbridge_integration::LogCapture;

use crate::fate::fate_name;
use crate::run_case::*;
use crate::setup::*;
use crate::table::*;

/// Runs a route's table against a world of its own, as one warm deployment meets its
/// requests: what one case does must not spoil the next. Each case brings its own people,
/// browser and links, and counts what it changed. Then no case may have failed, and the
/// logs of the whole run must hold nothing it issued.
pub async fn run_route(route: Route) {
    let (logs, _guard) = capture_logs();
    let Route {
        name,
        logs: logged,
        cases,
    } = route;
    assert!(!cases.is_empty(), "{name}: no cases");

    let started = Instant::now();
    let world = World::start().await;
    let mut forbidden = issued(&world);
    let mut table = String::new();
    let mut failed = Vec::new();
    writeln!(
        table,
        "{:<4} {:<16} {:<66} {:<38} {:<38} stored",
        "", "area", "case", "expected", "got"
    )
    .unwrap();
    for case in &cases {
        let mut ctx = Ctx::default();
        let case_started = Instant::now();
        let outcome = run_case(&world, case, &mut ctx).await;
        let ms = case_started.elapsed().as_millis();
        forbidden.append(&mut ctx.forbidden);
        let mark = if outcome.failures.is_empty() {
            "ok"
        } else {
            "FAIL"
        };
        writeln!(
            table,
            "{mark:<4} {:<16} {:<66} {:<38} {:<38} {} ({ms} ms)",
            area(case),
            case.name,
            expected_text(case),
            outcome.got,
            outcome.stored
        )
        .unwrap();
        if !outcome.failures.is_empty() {
            failed.push(format!("{}: {}", case.name, outcome.failures.join("; ")));
        }
    }
    let took = started.elapsed();
    eprintln!(
        "{name}\n{table}\n{} cases in {:.1} s",
        cases.len(),
        took.as_secs_f64()
    );

    verdict(name, &logs, logged, &forbidden, &failed, cases.len());
}

/// The capture works (the route's own lines are in it), every value checked is long enough
/// to be checked, no case failed, and the logs hold none of the values the run issued.
fn verdict(
    name: &str,
    logs: &LogCapture,
    logged: &[&str],
    forbidden: &[(&'static str, String)],
    failed: &[String],
    cases: usize,
) {
    let text = logs.text();
    for line in logged {
        assert!(
            text.contains(line),
            "the capture works: {name} logs {line:?}"
        );
    }
    // Every value is distinctive (random, or with a random part) and at least 8 long.
    assert!(
        forbidden.iter().all(|(_, v)| v.len() >= 8),
        "short values cannot be checked"
    );
    let mut leaked: Vec<&str> = forbidden
        .iter()
        .filter(|(_, v)| text.contains(v.as_str()))
        .map(|(kind, _)| *kind)
        .collect();
    leaked.dedup();
    assert!(
        failed.is_empty(),
        "{name}: {} of {} cases failed:\n{}",
        failed.len(),
        cases,
        failed.join("\n")
    );
    assert!(
        leaked.is_empty(),
        "{name}: the logs hold {} kinds of issued secret or personal values: {leaked:?}",
        leaked.len()
    );
}

/// Logs as production writes them (JSON, `info`), captured while the guard lives.
///
/// The subscriber is the default of the current thread only: each route's test runs on a
/// thread of its own, on a current-thread runtime (`#[tokio::test]`'s default; on a
/// multi-thread one, lines logged on its workers would be lost), and everything its world
/// does (the handlers, the sandboxes' servers the world spawns) runs on that thread; so
/// each test captures its own world's lines and no other test's.
fn capture_logs() -> (LogCapture, tracing::subscriber::DefaultGuard) {
    let logs = LogCapture::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(logs.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    (logs, guard)
}

/// The secrets a world issued at its start.
fn issued(world: &World) -> Vec<(&'static str, String)> {
    let issued = &world.issued;
    vec![
        ("link key", issued.link_key.clone()),
        ("fitbit client secret", issued.fitbit_client_secret.clone()),
        (
            "fitbit verification code",
            issued.fitbit_verification_code.clone(),
        ),
        ("google client secret", issued.google_client_secret.clone()),
        (
            "google webhook authorization",
            issued.google_webhook_authorization.clone(),
        ),
        ("polar client secret", issued.polar_client_secret.clone()),
        ("polar webhook key", issued.polar_webhook_key.clone()),
        ("SAP password", issued.sap_password.clone()),
    ]
}

/// What the case expects, as the summary shows it.
fn expected_text(case: &Case) -> String {
    let after = match &case.after {
        After::Nothing => String::new(),
        After::Imports(0) => ", then none arrives".into(),
        After::Imports(n) => format!(", then {n} once"),
        After::ConnectsAgain => ", then connects".into(),
        After::CallbackConnects => ", then the person's connects".into(),
    };
    let main = match &case.expect {
        Expect::Page { status, .. } => format!("{status}"),
        Expect::Webhook { status, queued } => format!("{status}, {queued} queued"),
        Expect::Work(w) => {
            let mut s = fate_name(&w.fate);
            if w.parked > 0 {
                write!(s, ", parked").unwrap();
            }
            if let Some(status) = w.status.filter(|s| *s != ConnectionStatus::Active) {
                write!(s, ", {}", status.as_str()).unwrap();
            }
            s
        }
    };
    format!("{main}{after}")
}

/// Which function (and which answer) a case is about, as the summary shows it.
fn area(case: &Case) -> &'static str {
    match (&case.input, &case.answer) {
        (
            Input::OAuth { .. },
            Some(Answer::SapRaw { .. } | Answer::SapRejectsPerson(_) | Answer::SapStatus(_)),
        ) => "oauth/SAP",
        (Input::OAuth { .. }, Some(_)) => "oauth/provider",
        (Input::OAuth { .. }, None) => "oauth",
        (Input::Webhook { .. }, _) => "webhook",
        (
            Input::Work { .. },
            Some(
                Answer::SapRaw { .. }
                | Answer::SapRejectsPerson(_)
                | Answer::SapStatus(_)
                | Answer::SapSessionsExpired,
            ),
        ) => "worker/SAP",
        (Input::Work { .. }, _) => "worker/provider",
        (
            Input::Message {
                retry_queue: false, ..
            },
            _,
        ) => "worker",
        (
            Input::Message {
                retry_queue: true, ..
            },
            _,
        ) => "token-refresh",
    }
}
