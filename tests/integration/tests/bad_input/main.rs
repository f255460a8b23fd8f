//! The bad-input matrix: what every HTTP route does with input that is wrong, and what the
//! pipeline does with every wrong answer of a provider or SAP — as a table per route.
//!
//! Every case says
//! - what goes in (a request, or an answer injected into a provider or SAP and the work
//!   that meets it),
//! - what comes out (the status; or what SQS does with the work: done, parked, waits for a
//!   rate limit, backs off to the dead-letter queue),
//! - that nothing is stored that should not be (connections, contacts, queued work,
//!   interactions, parked work),
//! - and that nothing valid is lost: once a transient bad answer is gone, the same work
//!   (redriven from the dead-letter queue, or its delayed copy) imports exactly once; a
//!   valid notification next to bad entries is queued and imported.
//!
//! The logs of each route's run (JSON, `info`, as production writes them) are captured and
//! must not hold any token, client secret, SAP password, code, state, browser binding, link
//! signature, customer ref or name the run issued.
//!
//! Real handlers (`inbound::oauth::handle`, `inbound::webhook::handle`, the SQS consumers), real
//! provider and SAP clients against the in-process sandboxes, in-memory table, queues and
//! secrets ([`fitbridge_integration::in_process`]): no emulator, a case in milliseconds.
//! Each route is one test with a world and a log capture of its own (the tests run in
//! parallel). A route's cases meet its world one after the other, as one warm deployment
//! meets its requests (what one case does must not spoil the next); each brings its own
//! people, browser and links, and counts what it changed. `--nocapture` shows each route's
//! table.
//!
//! - `table`: what a case is made of;
//! - `words`: the words the tables are written in (cases, requests, answers);
//! - `cases`: the tables, one module per route;
//! - `setup`: what a case meets (its people, browser and links; the bad answer injected);
//! - `run_case`: one case run and checked, and what is left once the bad answer is gone;
//! - `fate`: what SQS did with a case's work, against what the case expects;
//! - `runner`: a route's table against its world, the summary, and the log check.

mod cases;
mod fate;
mod run_case;
mod runner;
mod setup;
mod table;
mod words;

use runner::run_route;

/// The table as a whole: big enough to mean something, and every case's name its own
/// (failures and the summary name cases).
#[test]
fn the_table() {
    let names: Vec<&str> = cases::all()
        .iter()
        .flat_map(|route| route.cases.iter().map(|c| c.name))
        .collect();
    assert!(names.len() >= 40, "{} cases", names.len());
    let unique: std::collections::BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len(), "case names are unique");
}

#[tokio::test]
async fn connect_route() {
    run_route(cases::connect::route()).await;
}

#[tokio::test]
async fn callback_route() {
    run_route(cases::callback::route()).await;
}

#[tokio::test]
async fn fitbit_webhook_route() {
    run_route(cases::fitbit_webhook::route()).await;
}

#[tokio::test]
async fn google_health_webhook_route() {
    run_route(cases::google_health_webhook::route()).await;
}

#[tokio::test]
async fn polar_webhook_route() {
    run_route(cases::polar_webhook::route()).await;
}

#[tokio::test]
async fn work_from_the_queues() {
    run_route(cases::work::route()).await;
}
