//! One case: its input sent, what came out and what was stored checked against what it
//! expects, and, once the bad answer is gone, what was left over.

use fitbridge::domain::pkce;
use fitbridge::domain::PersonKey;
use fitbridge::domain::{ProviderKind, ProviderUserId};
use fitbridge::inbound::oauth::BROWSER_COOKIE;
use fitbridge::inbound::sqs::Decision;
use fitbridge::ports::store::ParkedWork;
use fitbridge_integration::in_process::{contact_of, text, Message, Run, World};
use fitbridge_integration::location;

use crate::fate::{fate_matches, fate_name};
use crate::setup::*;
use crate::table::*;

pub struct Outcome {
    pub got: String,
    pub stored: String,
    pub failures: Vec<String>,
}

/// What a case found wrong.
#[derive(Default)]
struct Failures(Vec<String>);

impl Failures {
    fn check(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            self.fail(what);
        }
    }

    fn fail(&mut self, what: impl Into<String>) {
        self.0.push(what.into());
    }

    /// The run went the way `fate` says.
    fn check_fate(&mut self, fate: &Fate, run: &Run) {
        self.check(
            fate_matches(fate, run),
            format!("{} does not match {:?}", run.trace(), fate_name(fate)),
        );
    }
}

/// What the world held before a case: the case's effects are the differences.
struct Before {
    connections: usize,
    contacts: usize,
    interactions: usize,
    exchanges: u64,
}

impl Before {
    async fn of(world: &World) -> Before {
        Before {
            connections: world.connections().await,
            contacts: world.sandbox.sap.contacts().len(),
            interactions: world.sandbox.sap.interactions().len(),
            exchanges: token_exchanges(world),
        }
    }
}

/// What a case's input came out as (`got`) and left stored, for the summary; and the run
/// of the work, if the input was work, for what is left over.
struct Seen {
    got: String,
    stored: String,
    run: Option<Run>,
}

pub async fn run_case(world: &World, case: &Case, ctx: &mut Ctx) -> Outcome {
    // A new browser; nothing on the queues; no fault left.
    world.new_browser();
    let _ = world.work_queue.drain();
    let _ = world.retry_queue.drain_retries();
    clear(world, ctx);
    let before = Before::of(world).await;
    ctx.day = Some(day());
    prepare(world, &case.given, ctx).await;
    if let Some(answer) = &case.answer {
        inject(world, answer, ctx).await;
    }
    let _ = world.work_queue.drain();
    let mut failures = Failures::default();
    let seen = match &case.input {
        Input::OAuth { .. } => oauth(world, case, ctx, &before, &mut failures).await,
        Input::Webhook { .. } => webhook(world, case, ctx, &before, &mut failures).await,
        Input::Work { .. } => work(world, case, ctx, &before, &mut failures).await,
        Input::Message { .. } => message(world, case, &before, &mut failures).await,
    };
    // Run the "after" with what the run left.
    finish(world, case, ctx, &before, seen.run, &mut failures).await;
    collect_tokens(world, ctx);
    Outcome {
        got: seen.got,
        stored: seen.stored,
        failures: failures.0,
    }
}

fn misfit(case: &Case) -> ! {
    unreachable!("{}: input and expectation do not fit", case.name)
}

/// A request to the OAuth function: its status, and the connections, contacts and token
/// exchanges it made.
async fn oauth(
    world: &World,
    case: &Case,
    ctx: &mut Ctx,
    before: &Before,
    failures: &mut Failures,
) -> Seen {
    let (
        Input::OAuth {
            method,
            target,
            browser,
        },
        Expect::Page {
            status,
            connections,
            contacts,
            exchanges,
        },
    ) = (&case.input, &case.expect)
    else {
        misfit(case)
    };
    let target = ctx.links_in(world, target);
    let target = ctx.fill(&target, world);
    let cookies = match browser {
        Browser::Person => world.browser_cookies(),
        Browser::Fresh => vec![],
        Browser::Other => vec![format!("{BROWSER_COOKIE}={}", pkce::new_state())],
        Browser::Raw(cookie) => vec![(*cookie).to_owned()],
    };
    let response = world.oauth(method, &target, &cookies).await;
    let code = response.status().as_u16();
    // Whatever the page says, it must not echo what came in.
    let body = text(&response);
    for echo in [&ctx.state, &ctx.code, &ctx.link] {
        failures.check(
            echo.is_empty() || !body.contains(echo.as_str()),
            "the page echoes the request",
        );
    }
    if let Some(r) = &ctx.customer_ref {
        failures.check(
            !body.contains(r.as_str()),
            "the page echoes the customer ref",
        );
    }
    for set in response.headers().get_all("set-cookie") {
        if let Some(v) = set
            .to_str()
            .ok()
            .and_then(|c| c.split(';').next())
            .and_then(|c| c.split_once('='))
        {
            ctx.forbidden.push(("browser binding", v.1.to_owned()));
        }
    }
    let n_connections = world.connections().await - before.connections;
    let n_contacts = world.sandbox.sap.contacts().len() - before.contacts;
    let n_exchanges = token_exchanges(world) - before.exchanges;
    failures.check(code == *status, format!("status {code}, expected {status}"));
    failures.check(
        n_connections == *connections,
        format!("{n_connections} connections, expected {connections}"),
    );
    failures.check(
        n_contacts == *contacts,
        format!("{n_contacts} contacts in SAP, expected {contacts}"),
    );
    failures.check(
        n_exchanges == *exchanges,
        format!("{n_exchanges} token exchanges, expected {exchanges}"),
    );
    if code == 200 {
        // A signed ref reached SAP as the contact's customer id, and the connection.
        if let Some(r) = &ctx.customer_ref {
            let contact = world
                .sandbox
                .sap
                .contact(&contact_of(FITBIT, &ctx.user).origin, &ctx.user);
            let ids = contact.map(|c| c.additional_ids).unwrap_or_default();
            failures.check(
                ids.iter().any(|a| a.origin == "CUSTOMER_ID" && &a.id == r),
                "the customer ref is not on the contact",
            );
            let conn = world.connection(FITBIT, &ctx.user).await;
            failures.check(
                conn.and_then(|c| c.customer_ref).as_ref() == Some(r),
                "the customer ref is not on the connection",
            );
        }
    }
    Seen {
        got: format!("{code}"),
        stored: format!("conn={n_connections} contacts={n_contacts} exchanges={n_exchanges}"),
        run: None,
    }
}

/// A request to the webhook function: its status and the work it queued; refused with a
/// 5xx for a fault, delivered again once the fault is gone.
async fn webhook(
    world: &World,
    case: &Case,
    ctx: &mut Ctx,
    before: &Before,
    failures: &mut Failures,
) -> Seen {
    let (
        Input::Webhook {
            method,
            target,
            headers,
            body,
            base64,
        },
        Expect::Webhook { status, queued },
    ) = (&case.input, &case.expect)
    else {
        misfit(case)
    };
    let body = webhook_body(world, ctx, body);
    let other_body = [body.as_slice(), b" "].concat();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| {
            let value = header_value(world, value, &body, &other_body);
            ((*name).to_owned(), value)
        })
        .collect();
    let target = ctx.fill(target, world);
    let code = world
        .webhook_request(method, &target, &headers, &body, *base64)
        .await;
    let items = world.work_queue.items();
    if case.answer.is_some() && code >= 500 {
        // Refused so the provider delivers again: once the fault is gone, it does, and is
        // answered as the provider wants (Polar: 200; the others: 204).
        clear(world, ctx);
        let again = world
            .webhook_request(method, &target, &headers, &body, *base64)
            .await;
        let queued_again = world.work_queue.items().len();
        let ack = if target.starts_with("/webhooks/polar") {
            200
        } else {
            204
        };
        failures.check(
            again == ack && queued_again == 1,
            format!("delivered again: {again}, {queued_again} queued"),
        );
    }
    failures.check(code == *status, format!("status {code}, expected {status}"));
    failures.check(
        items.len() == *queued,
        format!("{} work items queued, expected {queued}", items.len()),
    );
    failures.check(
        world.connections().await - before.connections
            == usize::from(matches!(case.given, Given::Person(_))),
        "connections changed",
    );
    Seen {
        got: format!("{code}"),
        stored: format!("queued={}", items.len()),
        run: None,
    }
}

/// The bytes of a webhook request's body.
fn webhook_body(world: &World, ctx: &Ctx, body: &Body) -> Vec<u8> {
    match body {
        Body::Text(t) => ctx.fill(t, world).into_bytes(),
        Body::Binary(bytes) => bytes.clone(),
        Body::Huge(size) => {
            let entry = ctx.fill(FITBIT_ENTRY, world);
            let filler = format!(
                r#"{{"collectionType":"foods","date":"{}","ownerId":"x"}}"#,
                "2026-01-01"
            );
            let mut body = format!("[{entry}");
            while body.len() < *size {
                body.push(',');
                body.push_str(&filler);
            }
            body.push(']');
            body.into_bytes()
        }
    }
}

/// A webhook request header's value, signatures made over `body` (or `other_body`).
fn header_value(world: &World, header: &Header, body: &[u8], other_body: &[u8]) -> String {
    match header {
        Header::Text(t) => (*t).to_owned(),
        Header::FitbitSignature => {
            World::fitbit_signature(&world.issued.fitbit_client_secret, body)
        }
        Header::FitbitSignatureOtherSecret => World::fitbit_signature("another-secret", body),
        Header::FitbitSignatureOfOtherBody => {
            World::fitbit_signature(&world.issued.fitbit_client_secret, other_body)
        }
        Header::GoogleSignature => world.sandbox.google_health.sign(body),
        Header::GoogleSignatureOfOtherBody => world.sandbox.google_health.sign(other_body),
        Header::GoogleAuthorization => world.issued.google_webhook_authorization.clone(),
        Header::PolarSignature => world.polar_signature(body),
        Header::PolarSignatureOtherKey => {
            fitbridge_sandbox::polar::sign_payload("another-polar-key", body)
        }
        Header::PolarSignatureOfOtherBody => world.polar_signature(other_body),
    }
}

/// One work message for the given person (or nobody): what SQS did with it, what reached
/// SAP, the connection and the parked work.
async fn work(
    world: &World,
    case: &Case,
    ctx: &Ctx,
    before: &Before,
    failures: &mut Failures,
) -> Seen {
    let (Input::Work { nobody }, Expect::Work(expected)) = (&case.input, &case.expect) else {
        misfit(case)
    };
    let (provider, user) = match case.given {
        Given::Person(p) => (p, ctx.user.clone()),
        _ => unreachable!("work needs a person"),
    };
    let user = if *nobody { marker("NOBODY") } else { user };
    let calls_before = data_calls(world, provider, &user);
    let run = world
        .run(vec![world.message(sync(provider, &user, day()))])
        .await;
    let during = interactions_of_day(world, provider, &user);
    let imported: usize = during.iter().map(|(_, n)| n).sum();
    let connection = world.connection(provider, &user).await;
    let parked = world
        .store
        .parked(&PersonKey::of(provider, &ProviderUserId(user.clone())))
        .await
        .unwrap()
        .len();
    let stored = format!(
        "in SAP={imported} parked={parked} {}",
        connection
            .as_ref()
            .map(|c| c.status.as_str())
            .unwrap_or("no connection")
    );
    failures.check_fate(&expected.fate, &run);
    failures.check(
        imported == expected.imported,
        format!(
            "{imported} interactions of the day in SAP, expected {}",
            expected.imported
        ),
    );
    failures.check(
        during.iter().all(|(_, n)| *n == 1),
        format!("an interaction twice in SAP: {during:?}"),
    );
    failures.check(
        connection.as_ref().map(|c| c.status) == expected.status,
        format!(
            "connection {:?}, expected {:?}",
            connection.map(|c| c.status),
            expected.status
        ),
    );
    failures.check(
        parked == expected.parked,
        format!("{parked} parked, expected {}", expected.parked),
    );
    if *nobody {
        failures.check(
            data_calls(world, provider, &user) == calls_before,
            "the provider was asked about nobody",
        );
        failures.check(
            world.sandbox.sap.interactions().len() == before.interactions,
            "something reached SAP",
        );
    }
    Seen {
        got: run.trace(),
        stored,
        run: Some(run),
    }
}

/// A message nothing of ours sends, on the work queue or the retry queue: what SQS did
/// with it, and that nothing was stored or queued.
async fn message(world: &World, case: &Case, before: &Before, failures: &mut Failures) -> Seen {
    let (Input::Message { retry_queue, body }, Expect::Work(expected)) =
        (&case.input, &case.expect)
    else {
        misfit(case)
    };
    let run = world.run_raw(*retry_queue, body).await;
    let interactions = world.sandbox.sap.interactions().len() - before.interactions;
    let connections = world.connections().await - before.connections;
    failures.check_fate(&expected.fate, &run);
    failures.check(
        interactions == 0 && connections == 0,
        "something was stored",
    );
    failures.check(
        world.work_queue.items().is_empty() && world.retry_queue.drain_retries().is_empty(),
        "something was queued",
    );
    Seen {
        got: run.trace(),
        stored: format!("in SAP={interactions} conn={connections}"),
        run: None,
    }
}

/// Once the bad answer is gone: what was left over must arrive, exactly once.
async fn finish(
    world: &World,
    case: &Case,
    ctx: &mut Ctx,
    before: &Before,
    run: Option<Run>,
    failures: &mut Failures,
) {
    clear(world, ctx);
    match &case.after {
        After::Nothing => {}
        After::Imports(n) => {
            let mut left: Vec<Message> = Vec::new();
            if let Some(run) = run {
                // A redrive from the dead-letter queue, and the delayed copies coming due.
                left.extend(
                    run.leftover
                        .dead_letters
                        .into_iter()
                        .map(|m| world.message(m.item)),
                );
                left.extend(run.leftover.delayed);
            }
            let after = world.run(left).await;
            if after.unsettled
                || after.decisions.iter().any(|d| *d != Decision::Delete)
                || after.leftover.dead() > 0
            {
                failures.fail(format!("after: {}", after.trace()));
            }
            let provider = match case.given {
                Given::Person(p) => p,
                _ => FITBIT,
            };
            let got = interactions_of_day(world, provider, &ctx.user);
            let total: usize = got.iter().map(|(_, n)| n).sum();
            if total != *n || got.iter().any(|(_, c)| *c != 1) {
                failures.fail(format!(
                    "after: {got:?} in SAP, expected {n} interactions once each"
                ));
            }
        }
        After::CallbackConnects => {
            let done = world.browser_get(&ctx.callback).await;
            if done.status() != 200 || world.connections().await != before.connections + 1 {
                failures.fail(format!(
                    "after: the person's own callback answered {}",
                    done.status()
                ));
            }
        }
        After::ConnectsAgain => {
            let start = format!("/connect/fitbit?{}", ctx.link);
            let redirect = world.browser_get(&start).await;
            if redirect.status() != 302 {
                failures.fail(format!(
                    "after: the link was not given back ({})",
                    redirect.status()
                ));
                return;
            }
            let callback = world.consent(location(&redirect)).await;
            ctx.forbidden.extend(state_and_code(&callback));
            let done = world.browser_get(&callback).await;
            if done.status() != 200
                || world.connections().await != before.connections + 1
                || world.sandbox.sap.contacts().len() != before.contacts + 1
            {
                failures.fail(format!(
                    "after: connecting again with the link answered {}",
                    done.status()
                ));
            }
        }
    }
}

/// Authorization codes the providers were asked to exchange, granted or not.
fn token_exchanges(world: &World) -> u64 {
    let (fitbit, google, polar) = (
        world.sandbox.fitbit.stats(),
        world.sandbox.google_health.stats(),
        world.sandbox.polar.stats(),
    );
    ["ok", "error"]
        .into_iter()
        .map(|outcome| {
            fitbit.token_requests_with("authorization_code", outcome)
                + google.token_requests_with("authorization_code", outcome)
                + polar.token_requests_with("authorization_code", outcome)
        })
        .sum()
}

fn data_calls(world: &World, provider: ProviderKind, user: &str) -> u64 {
    match provider {
        FITBIT => world.sandbox.fitbit.data_calls(user),
        GOOGLE => world.sandbox.google_health.data_calls(user),
        POLAR => world.sandbox.polar.data_calls(user),
    }
}

/// Interactions in SAP of the person's day, by source object.
fn interactions_of_day(world: &World, provider: ProviderKind, user: &str) -> Vec<(String, usize)> {
    let day = fitbridge::domain::work::iso_date::format(day());
    let contact = contact_of(provider, user);
    let mut by_source: std::collections::BTreeMap<String, usize> = Default::default();
    for i in world.sandbox.sap.interactions() {
        let source = i
            .field_str("InteractionSourceObject")
            .unwrap_or_default()
            .to_owned();
        if i.field_str("InteractionContactId") == Some(contact.id.as_str()) && source.contains(&day)
        {
            *by_source.entry(source).or_default() += 1;
        }
    }
    by_source.into_iter().collect()
}
