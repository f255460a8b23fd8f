//! A stateful property test of the connection lifecycle on the in-memory ports.
//!
//! Invariants, checked after every step against a model of what each connection must be:
//! - A connection consented after a revocation was issued is never deleted or parked by
//!   it, however late and however often the revocation is delivered (a redrive gives it a
//!   new send time; the time it was issued stays), and its grant is not revoked at the
//!   provider.
//! - No token outlives a revocation: after one that is not stale, the connection is gone,
//!   a tombstone stays, the provider saw the grant revoked, and no stored connection holds
//!   any token of that grant.
//! - Otherwise a connection is what its last consent, refresh and revocation made it:
//!   active, or parked (`NeedsReconsent`) once a refresh was answered `invalid_grant`.
//!
//! Each case is a random sequence, from a fixed seed, of: connect and reconnect at the
//! legacy provider; migration (the person connects at its successor, which names their
//! legacy id) and reconnect there; a revocation from the webhook (the person ended the
//! grant at the provider; the webhook stamps the time it received it); a disconnect from
//! the admin CLI (stamped by the clock, as `people disconnect` does); the delivery of a
//! queued revocation, and its redrive (the same work item delivered again later); a
//! refresh answered `invalid_grant`; a sync; and time passing. Time is an input: the
//! world's clock is frozen and only the steps move it, each by at least a second, so
//! "consented after issued" is never a tie. A failure prints the seed and the steps.

use fitbridge::domain::PersonKey;
use std::collections::BTreeMap;
use std::fmt;

use fitbridge::domain::{Collection, ConnectionStatus, ProviderKind, ProviderUserId, Task};
use fitbridge::domain::{Outcome, WorkItem};
use fitbridge::ports::provider::{ProviderError, WebhookRequest};
use fitbridge::ports::store::{ConnectionStore, Ending};
use fitbridge::ports::tokens::Tokens;
use fitbridge::provider::memory::{MemoryPerson, MemoryProvider};
use fitbridge::use_cases::connect::CallbackParams;
use fitbridge::use_cases::sync::Work;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use time::{Duration, OffsetDateTime};

use crate::support::*;

/// The fixed seeds: one case each.
const SEEDS: std::ops::Range<u64> = 0..256;
const STEPS: usize = 40;
/// People in a case; each may have a legacy and a successor connection.
const PEOPLE: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    Legacy,
    Successor,
}

#[derive(Clone, Debug)]
enum Step {
    Connect(usize),
    Migrate(usize),
    WebhookRevoke(Side, usize),
    CliDisconnect(Side, usize),
    /// The queued revocation at this index of the pool (its first delivery, or a redrive).
    Deliver(usize),
    RefreshInvalidGrant(Side, usize),
    Sync(Side, usize),
    Wait(i64),
}

fn random_step(rng: &mut StdRng) -> Step {
    let side = if rng.random_bool(0.5) {
        Side::Legacy
    } else {
        Side::Successor
    };
    let person = rng.random_range(0..PEOPLE);
    match rng.random_range(0..100) {
        0..15 => Step::Connect(person),
        15..25 => Step::Migrate(person),
        25..37 => Step::WebhookRevoke(side, person),
        37..47 => Step::CliDisconnect(side, person),
        47..72 => Step::Deliver(rng.random_range(0..16)),
        72..80 => Step::RefreshInvalidGrant(side, person),
        80..92 => Step::Sync(side, person),
        _ => Step::Wait(rng.random_range(1..=7_200)),
    }
}

/// What a connection must be.
#[derive(Clone, Debug)]
struct Expected {
    consented_at: OffsetDateTime,
    status: ConnectionStatus,
    /// The person has not ended the grant at the provider.
    grant_alive: bool,
}

/// A revocation waiting in the queue (or the DLQ), delivered any number of times.
#[derive(Clone, Debug)]
struct Queued {
    item: WorkItem,
    issued_at: OffsetDateTime,
    deliveries: u32,
}

/// What the cases exercised, so that a generator that stopped reaching a path fails.
#[derive(Default, Debug)]
struct Seen {
    stale: usize,
    revoked: usize,
    redriven: usize,
    migrations: usize,
    parked: usize,
}

#[derive(Default)]
struct Model {
    seen: Seen,
    connections: BTreeMap<(Side, usize), Expected>,
    migrated: [bool; PEOPLE],
    pool: Vec<Queued>,
    /// Tokens of grants a revocation ended.
    revoked_tokens: Vec<String>,
}

fn kind(side: Side) -> ProviderKind {
    match side {
        Side::Legacy => KIND,
        Side::Successor => SUCCESSOR,
    }
}

fn user(side: Side, person: usize) -> ProviderUserId {
    ProviderUserId(match side {
        Side::Legacy => format!("P{person}"),
        Side::Successor => format!("G{person}"),
    })
}

fn provider(w: &World, side: Side) -> &MemoryProvider {
    match side {
        Side::Legacy => &w.provider,
        Side::Successor => &w.successor,
    }
}

fn side_of(kind: ProviderKind) -> Side {
    if kind == KIND {
        Side::Legacy
    } else {
        Side::Successor
    }
}

/// `Err` with a message: the case fails, and prints how to reproduce it.
macro_rules! ensure {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err(format!($($why)+));
        }
    };
}

fn world() -> World {
    let w = World::with_frozen_clock();
    for p in 0..PEOPLE {
        let legacy = user(Side::Legacy, p).0;
        w.provider
            .add_person(&legacy, MemoryPerson::default(), ALL_SCOPES);
        w.successor.add_person(
            &user(Side::Successor, p).0,
            MemoryPerson {
                legacy_user_id: Some(legacy),
                ..Default::default()
            },
            fitbridge::provider::google_health::scopes::ACTIVITY,
        );
    }
    w
}

/// The whole connect flow at `side`'s provider: start, consent, callback.
async fn connect(w: &World, side: Side, person: usize) -> Result<(), String> {
    let kind = kind(side);
    let started = w
        .connect
        .start(kind, &Default::default(), None, None)
        .await
        .map_err(|e| format!("start: {e}"))?;
    let code = provider(w, side).consent(&user(side, person).0, &started.url);
    let state = started
        .url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned());
    w.connect
        .complete(
            kind,
            &CallbackParams {
                state,
                code: Some(code),
                error: None,
                browser: Some(started.browser.expose().to_owned()),
            },
        )
        .await
        .map_err(|e| format!("connect at {kind}: {e}"))?;
    // Resumed parked work is not this test's business.
    w.queue.drain();
    Ok(())
}

async fn step(w: &World, m: &mut Model, s: &Step) -> Result<(), String> {
    match *s {
        Step::Connect(p) if !m.migrated[p] => {
            connect(w, Side::Legacy, p).await?;
            m.connections.insert((Side::Legacy, p), active(w));
        }
        // The legacy API is gone for a person who migrated.
        Step::Connect(_) => {}
        Step::Migrate(p) => {
            connect(w, Side::Successor, p).await?;
            m.connections.insert((Side::Successor, p), active(w));
            m.migrated[p] = true;
            m.seen.migrations += 1;
            // Retired, not revoked: the person goes on at the successor.
            if m.connections.remove(&(Side::Legacy, p)).is_some() {
                let tomb = w
                    .store
                    .tombstone(&PersonKey::of(KIND, &user(Side::Legacy, p)))
                    .await;
                ensure!(
                    tomb.unwrap()
                        .is_some_and(|t| t.ending == Ending::Migrated { to: SUCCESSOR }),
                    "no migration tombstone"
                );
            }
        }
        Step::WebhookRevoke(side, p) => {
            let (kind, user) = (kind(side), user(side, p));
            provider(w, side).revoke_person(&user.0);
            if let Some(c) = m.connections.get_mut(&(side, p)) {
                c.grant_alive = false;
            }
            let body = format!(r#"[{{"user":"{}","revoke":true}}]"#, user.0);
            let headers = [(
                "authorization".to_owned(),
                format!("Bearer {}", provider(w, side).webhook_secret()),
            )];
            let request = WebhookRequest {
                method: "POST",
                query: &[],
                headers: &headers,
                body: body.as_bytes(),
            };
            w.webhook
                .receive(kind, &request)
                .await
                .map_err(|e| format!("webhook: {e:?}"))?;
            let queued = w.queue.drain();
            let [item] = queued.as_slice() else {
                return Err(format!("the webhook queued {queued:?}"));
            };
            let Task::Revoke {
                issued_at: Some(issued_at),
                ..
            } = item.task
            else {
                return Err(format!("not a stamped revocation: {item:?}"));
            };
            ensure!(
                issued_at == w.now(),
                "stamped {issued_at}, received {}",
                w.now()
            );
            m.pool.push(Queued {
                item: item.clone(),
                issued_at,
                deliveries: 0,
            });
        }
        Step::CliDisconnect(side, p) => {
            // `people disconnect` refuses a person it does not find.
            if m.connections.contains_key(&(side, p)) {
                let issued_at = w.now();
                m.pool.push(Queued {
                    item: WorkItem::revoke(kind(side), user(side, p), false, Some(issued_at)),
                    issued_at,
                    deliveries: 0,
                });
            }
        }
        Step::Deliver(i) if !m.pool.is_empty() => {
            let i = i % m.pool.len();
            m.pool[i].deliveries += 1;
            if m.pool[i].deliveries > 1 {
                m.seen.redriven += 1;
            }
            deliver(w, m, m.pool[i].clone()).await?;
        }
        Step::Deliver(_) => {}
        Step::RefreshInvalidGrant(side, p) => {
            let Some(expected) = m.connections.get_mut(&(side, p)) else {
                return Ok(());
            };
            if expected.status != ConnectionStatus::Active {
                return Ok(());
            }
            let (kind, user) = (kind(side), user(side, p));
            let stored = w
                .store
                .get(&PersonKey::of(kind, &user))
                .await
                .unwrap()
                .ok_or("no connection")?;
            let before = provider(w, side).refreshed_at().len();
            provider(w, side).fail_next([ProviderError::InvalidGrant]);
            let result = w
                .tokens
                .after_unauthorized(&PersonKey::of(kind, &user), stored.version)
                .await;
            ensure!(
                provider(w, side).refreshed_at().len() == before + 1,
                "the refresh did not reach the provider: {result:?}"
            );
            expected.status = ConnectionStatus::NeedsReconsent;
            m.seen.parked += 1;
        }
        Step::Sync(side, p) => {
            let (kind, user) = (kind(side), user(side, p));
            let item = WorkItem::sync(kind, user, day(17), vec![Collection::Activities]);
            w.drain_after(&[item]).await;
            if let Some(e) = m.connections.get_mut(&(side, p)) {
                if !e.grant_alive {
                    // The grant ended at the provider: the refresh is answered
                    // `invalid_grant`, and the person is parked until they consent again.
                    e.status = ConnectionStatus::NeedsReconsent;
                }
            }
        }
        Step::Wait(seconds) => w.clock.advance(Duration::seconds(seconds)),
    }
    Ok(())
}

fn active(w: &World) -> Expected {
    Expected {
        consented_at: w.now(),
        status: ConnectionStatus::Active,
        grant_alive: true,
    }
}

/// Delivers a queued revocation now (a new SentTimestamp), and checks what it did.
async fn deliver(w: &World, m: &mut Model, q: Queued) -> Result<(), String> {
    let (kind, user) = (q.item.provider, q.item.user_id.clone());
    let side = side_of(kind);
    let person: usize = user.0[1..].parse().expect("P<n> or G<n>");
    let before = w.store.get(&PersonKey::of(kind, &user)).await.unwrap();
    let revoked_before = provider(w, side).revoked_grants();
    let outcome = w
        .worker
        .sync
        .process(&[Work {
            item: q.item.clone(),
            sent_at: w.now(),
        }])
        .await;
    ensure!(outcome == [Outcome::Done], "outcome {outcome:?}");
    let after = w.store.get(&PersonKey::of(kind, &user)).await.unwrap();
    let revoked_now = provider(w, side).revoked_grants() - revoked_before;
    let Some(before) = before else {
        ensure!(after.is_none(), "a revocation connected someone");
        return Ok(());
    };
    let consented = before
        .consented_at
        .ok_or("a connection without its consent time")?;
    if consented > q.issued_at {
        // Stale: consented after it was issued.
        let after = after.ok_or(format!(
            "deleted a connection consented at {consented}, after the revocation issued at {}",
            q.issued_at
        ))?;
        ensure!(
            after.status == before.status
                && after.version == before.version
                && after.tokens.refresh_token == before.tokens.refresh_token,
            "a stale revocation changed the connection: {:?} → {:?}",
            before.status,
            after.status
        );
        ensure!(revoked_now == 0, "a stale revocation revoked the grant");
        m.seen.stale += 1;
    } else {
        ensure!(
            after.is_none(),
            "the connection outlived a revocation issued after its consent"
        );
        ensure!(
            revoked_now == 1,
            "the provider saw {revoked_now} revocations"
        );
        let tomb = w
            .store
            .tombstone(&PersonKey::of(kind, &user))
            .await
            .unwrap();
        ensure!(
            tomb.is_some_and(|t| t.ending == Ending::Disconnected),
            "no disconnect tombstone"
        );
        m.revoked_tokens
            .push(before.tokens.refresh_token.expose().to_owned());
        m.revoked_tokens
            .push(before.tokens.access_token.expose().to_owned());
        m.connections.remove(&(side, person));
        m.seen.revoked += 1;
    }
    Ok(())
}

/// The store holds exactly the connections the model expects, as it expects them, and
/// no token of a revoked grant.
async fn check(w: &World, m: &Model) -> Result<(), String> {
    for side in [Side::Legacy, Side::Successor] {
        for p in 0..PEOPLE {
            let stored = w
                .store
                .get(&PersonKey::of(kind(side), &user(side, p)))
                .await
                .unwrap();
            match (stored, m.connections.get(&(side, p))) {
                (None, None) => {}
                (Some(c), Some(e)) => {
                    ensure!(
                        c.consented_at == Some(e.consented_at),
                        "{side:?} {p}: consented at {:?}, expected {}",
                        c.consented_at,
                        e.consented_at
                    );
                    ensure!(
                        c.status == e.status,
                        "{side:?} {p}: {:?}, expected {:?}",
                        c.status,
                        e.status
                    );
                    for t in [&c.tokens.refresh_token, &c.tokens.access_token] {
                        ensure!(
                            !m.revoked_tokens.iter().any(|r| r == t.expose()),
                            "{side:?} {p}: a token of a revoked grant is stored"
                        );
                    }
                }
                (Some(_), None) => return Err(format!("{side:?} {p}: connected, expected none")),
                (None, Some(e)) => {
                    return Err(format!("{side:?} {p}: deleted, expected {e:?}"));
                }
            }
        }
    }
    Ok(())
}

/// The steps so far, one a line, as the failure report prints them.
struct Trace<'a>(&'a [(Step, Option<String>)]);

impl fmt::Display for Trace<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, (s, note)) in self.0.iter().enumerate() {
            write!(f, "  {n:>2}. {s:?}")?;
            if let Some(note) = note {
                write!(f, "  [{note}]")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

async fn run_case(seed: u64, seen: &mut Seen) -> Result<usize, String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let w = world();
    let mut m = Model::default();
    let mut trace: Vec<(Step, Option<String>)> = Vec::new();
    for _ in 0..STEPS {
        w.clock
            .advance(Duration::seconds(rng.random_range(1..=600)));
        let s = random_step(&mut rng);
        // Which message a delivery takes, so the trace reads on its own.
        let note = match s {
            Step::Deliver(i) if !m.pool.is_empty() => {
                let q = &m.pool[i % m.pool.len()];
                Some(format!(
                    "{} {} issued {}, delivery {}",
                    q.item.provider,
                    q.item.user_id,
                    q.issued_at,
                    q.deliveries + 1
                ))
            }
            _ => None,
        };
        trace.push((s.clone(), note));
        let result = match step(&w, &mut m, &s).await {
            Ok(()) => check(&w, &m).await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            return Err(format!(
                "seed {seed}, step {}: {e}\n{}",
                trace.len() - 1,
                Trace(&trace)
            ));
        }
    }
    seen.stale += m.seen.stale;
    seen.revoked += m.seen.revoked;
    seen.redriven += m.seen.redriven;
    seen.migrations += m.seen.migrations;
    seen.parked += m.seen.parked;
    Ok(trace.len())
}

#[tokio::test]
async fn revocations_never_touch_a_later_consent_and_no_token_outlives_one() {
    let mut steps = 0;
    let mut failures = Vec::new();
    let mut seen = Seen::default();
    for seed in SEEDS {
        match run_case(seed, &mut seen).await {
            Ok(n) => steps += n,
            Err(e) => failures.push(e),
        }
    }
    let cases = SEEDS.end - SEEDS.start;
    println!("lifecycle: {cases} cases × {STEPS} steps = {steps} steps; {seen:?}");
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed; the first:\n{}",
        failures.len(),
        failures[0]
    );
    assert_eq!(steps, cases as usize * STEPS);
    // Each path the invariants speak of was taken, many times over.
    for (path, n) in [
        ("stale revocations", seen.stale),
        ("revocations", seen.revoked),
        ("redrives", seen.redriven),
        ("migrations", seen.migrations),
        ("refreshes answered invalid_grant", seen.parked),
    ] {
        assert!(n >= 100, "only {n} {path}: {seen:?}");
    }
}
