//! `people list|backfill|disconnect|forget`: the people behind the connections, and the
//! things an operator does for one of them.
//!
//! Invariants:
//! - `list` only reads: the connection summaries (never a token) and, per person, the
//!   newest entry of their contact's import ledger — what was last imported, as the
//!   worker records it anyway; nothing is written to know it.
//! - `backfill` and `disconnect` only queue work, built as the rest of the system builds
//!   it: a backfill's items are the daily job's ([`ProviderCatalog::sync_work`]), a
//!   disconnect is the revocation a provider's notification becomes. The worker does the
//!   rest, with the same idempotence (fetch log, import ledger, tombstone).
//! - Both refuse a person who is not connected, before anything is queued; a backfill
//!   also a person whose work would only be parked, and days that have not begun where
//!   the person lives.
//! - `forget` (an erasure request) works at once, not through the worker: it revokes the
//!   grant at the provider while the tokens exist (best effort, as the disconnect does),
//!   then deletes the connection first (no further work finds the person), then
//!   everything else the table holds under the person's or their contact's key, and
//!   reports each kind as deleted (with a count) or already gone. It writes nothing to
//!   SAP, and names the contact to erase there. A migrated person's contact lives on at
//!   the successor provider, so its data is left to that connection's erasure. OAuth
//!   states and used links are stored by hash, not by person: they only expire. Each step
//!   deletes what is left, so running it again finishes what a failure interrupted.
//!   Without `--yes` it deletes nothing and says what it would delete.

use fitbridge::domain::PersonKey;
use std::collections::BTreeMap;

use fitbridge::domain::{
    Collection, Connection, ConnectionStatus, ContactKey, ProviderKind, Task, WorkItem,
};
use fitbridge::ports::catalog::ProviderCatalog;
use fitbridge::ports::provider::Providers;
use fitbridge::ports::signals::SignalStore;
use fitbridge::ports::store::{ConnectionStore, FetchLog, ImportLedger, ParkedWork};
use fitbridge::ports::store::{ConnectionSummary, Ending, LatestImport, StoreError, Tombstone};
use fitbridge::provider::registry::Registry;
use fitbridge::wiring::{Ports, Table};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::cli::{BackfillOptions, DisconnectOptions, ForgetOptions, PeopleListOptions};
use crate::{refused, usage_error, Failure};

/// Ledger reads in flight at once while listing.
const CONCURRENT_READS: usize = 8;

/// One listed person.
pub struct Listed {
    pub summary: ConnectionSummary,
    pub last_import: Option<LatestImport>,
}

/// A time as the listing prints it: RFC 3339 to the second, UTC.
fn time(t: Option<OffsetDateTime>) -> Option<String> {
    t.map(|t| {
        t.to_offset(time::UtcOffset::UTC)
            .replace_nanosecond(0)
            .expect("0 is a valid nanosecond")
            .format(&Rfc3339)
            .expect("a UTC time formats as RFC 3339")
    })
}

/// A value as one word of the line: as it is, or quoted when it would break the line.
fn field(value: &str) -> String {
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        format!("{value:?}")
    } else {
        value.to_owned()
    }
}

/// The listing: one line per person, sorted, then the summary line.
pub fn report(people: &[Listed]) -> String {
    let mut text = String::new();
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    let dash = || "-".to_owned();
    for Listed {
        summary: person,
        last_import,
    } in people
    {
        *by_status.entry(person.status.as_str()).or_default() += 1;
        let (last_day, last_import) = match last_import {
            Some(latest) => (
                latest.day.to_string(),
                time(latest.imported_at).unwrap_or_else(|| "unconfirmed".to_owned()),
            ),
            None => (dash(), dash()),
        };
        text += &format!(
            "{}/{} status={} contact={}/{} connected={} consented={} last_day={last_day} \
             last_import={last_import}\n",
            person.provider,
            field(&person.user_id.0),
            person.status.as_str(),
            field(&person.contact.origin),
            field(&person.contact.id),
            time(person.connected_at).unwrap_or_else(dash),
            time(person.consented_at).unwrap_or_else(dash),
        );
    }
    text += &crate::people_count_line(&by_status, "");
    text
}

/// The listing as a JSON array.
pub fn report_json(people: &[Listed]) -> String {
    let people: Vec<Value> = people
        .iter()
        .map(
            |Listed {
                 summary: p,
                 last_import,
             }| {
                json!({
                    "provider": p.provider.as_str(),
                    "user_id": p.user_id.0,
                    "status": p.status.as_str(),
                    "contact": { "origin": p.contact.origin, "id": p.contact.id },
                    "connected_at": time(p.connected_at),
                    "consented_at": time(p.consented_at),
                    "updated_at": time(p.updated_at),
                    "last_import": last_import.as_ref().map(|l| json!({
                        "day": l.day.to_string(),
                        "imported_at": time(l.imported_at),
                    })),
                })
            },
        )
        .collect();
    let mut text = serde_json::to_string_pretty(&people).expect("values serialise");
    text.push('\n');
    text
}

/// Runs `people list`.
pub(crate) async fn list(
    options: &PeopleListOptions,
    ports: &dyn Ports,
) -> Result<String, Failure> {
    let table = ports.table(&options.table);
    let providers = match options.provider {
        Some(provider) => vec![provider],
        None => ProviderKind::ALL.to_vec(),
    };
    let mut people = Vec::new();
    for provider in providers {
        let summaries = table.connections_of(provider).await.map_err(|e| {
            refused(format!(
                "cannot list the connections in table {}: {e}",
                options.table
            ))
        })?;
        people.extend(
            summaries
                .into_iter()
                .filter(|c| options.status.is_none_or(|s| c.status == s)),
        );
    }
    people
        .sort_by(|a, b| (a.provider.as_str(), &a.user_id).cmp(&(b.provider.as_str(), &b.user_id)));
    let table = &table;
    let listed: Vec<Listed> = stream::iter(people)
        .map(|summary| async move {
            let last_import = table.latest(&summary.contact).await.map_err(|e| {
                refused(format!(
                    "cannot read the import ledger of contact {}/{} in table {}: {e}",
                    summary.contact.origin, summary.contact.id, options.table
                ))
            })?;
            Ok::<_, Failure>(Listed {
                summary,
                last_import,
            })
        })
        .buffered(CONCURRENT_READS)
        .try_collect()
        .await?;
    Ok(if options.json {
        report_json(&listed)
    } else {
        report(&listed)
    })
}

/// Why a person who is asked for is not connected, for the refusal.
async fn not_connected(table: &dyn Table, table_name: &str, person: &PersonKey) -> Failure {
    let why = match table
        .tombstone(&PersonKey::of(person.provider, &person.user_id))
        .await
        .ok()
        .flatten()
    {
        Some(tombstone) => format!(
            "its connection ended at {} ({})",
            time(Some(tombstone.revoked_at)).unwrap_or_default(),
            match tombstone.ending {
                Ending::Disconnected => "disconnected".to_owned(),
                Ending::Migrated { to } => format!("migrated to {to}"),
            }
        ),
        None => format!("table {table_name} holds no connection for it"),
    };
    refused(format!("{person} is not connected: {why}"))
}

/// The person's connection, or why there is none to act on.
async fn connection_of(
    ports: &dyn Ports,
    table_name: &str,
    person: &PersonKey,
) -> Result<Connection, Failure> {
    let table = ports.table(table_name);
    match table
        .get(&PersonKey::of(person.provider, &person.user_id))
        .await
    {
        Ok(Some(connection)) => Ok(connection),
        Ok(None) => Err(not_connected(&*table, table_name, person).await),
        Err(e) => Err(unreadable(table_name, person, e)),
    }
}

fn unreadable(table: &str, person: &PersonKey, e: StoreError) -> Failure {
    refused(format!(
        "cannot read the connection of {person} in table {table}: {e}"
    ))
}

/// Runs `people backfill`.
pub(crate) async fn backfill(
    options: &BackfillOptions,
    ports: &dyn Ports,
    now: jiff::Timestamp,
) -> Result<String, Failure> {
    let person = &options.person;
    let connection = connection_of(ports, &options.table, person).await?;
    if connection.status != ConnectionStatus::Active {
        return Err(refused(format!(
            "{person} is {}: the worker would only park the work; the person must connect \
             again first",
            connection.status.as_str()
        )));
    }
    let today = fitbridge::domain::local_day::today(connection.timezone.as_deref(), now);
    if options.to > today {
        return Err(usage_error(format!(
            "--to {} has not begun for {person} yet: their today is {today} (time zone {})",
            options.to,
            connection.timezone.as_deref().unwrap_or("unknown, so UTC"),
        )));
    }
    let mut work = Vec::new();
    let mut day = options.from;
    while day <= options.to {
        work.extend(Registry.sync_work(
            person.provider,
            &person.user_id,
            &connection.tokens.scopes,
            day,
        ));
        day = day.next_day().expect("not the last day of time");
    }
    let Some(WorkItem {
        task: Task::Sync { collections, .. },
        ..
    }) = work.first()
    else {
        return Err(refused(format!(
            "{person} granted no data scope: there is nothing to sync"
        )));
    };
    let collections: Vec<&str> = collections
        .iter()
        .map(|c: &Collection| c.as_str())
        .collect();
    ports
        .queue(&options.work_queue_url)
        .enqueue(&work)
        .await
        .map_err(|e| {
            refused(format!(
                "cannot queue the backfill of {person} on {}: {e} (running it again is safe: \
                 the worker imports each day once)",
                options.work_queue_url
            ))
        })?;
    let noun = if work.len() == 1 { "item" } else { "items" };
    Ok(format!(
        "queued {} sync work {noun} for {person}, {} to {} ({}): the worker imports them\n",
        work.len(),
        options.from,
        options.to,
        collections.join(","),
    ))
}

/// Runs `people disconnect`.
pub(crate) async fn disconnect(
    options: &DisconnectOptions,
    ports: &dyn Ports,
) -> Result<String, Failure> {
    let person = &options.person;
    let connection = connection_of(ports, &options.table, person).await?;
    let revoke = WorkItem::revoke(
        person.provider,
        person.user_id.clone(),
        false,
        Some(ports.clock().now()),
    );
    ports
        .queue(&options.work_queue_url)
        .enqueue(&[revoke])
        .await
        .map_err(|e| {
            refused(format!(
                "cannot queue the disconnect of {person} on {}: {e}",
                options.work_queue_url
            ))
        })?;
    Ok(format!(
        "queued the disconnect of {person} (status {}, contact {}/{}): the worker completes \
         it — removes the subscriptions, revokes the grant at {}, deletes the tokens and \
         flags the contact in SAP\n",
        connection.status.as_str(),
        field(&connection.contact.origin),
        field(&connection.contact.id),
        person.provider,
    ))
}

/// A contact as the output names it.
fn contact_name(contact: &ContactKey) -> String {
    format!("{}/{}", field(&contact.origin), field(&contact.id))
}

/// How a tombstone's connection ended, for the output.
fn ended(tombstone: &Tombstone) -> String {
    let how = match tombstone.ending {
        Ending::Disconnected => "disconnected".to_owned(),
        Ending::Migrated { to } => format!("migrated to {to}"),
    };
    format!(
        "{how} at {}",
        time(Some(tombstone.revoked_at)).unwrap_or_default()
    )
}

/// A kind of data and what became of it: `<kind>: deleted <n> <noun>`, or already gone.
fn deleted(kind: &str, n: usize, noun: (&str, &str)) -> String {
    match n {
        0 => format!("{kind}: already gone\n"),
        1 => format!("{kind}: deleted 1 {}\n", noun.0),
        n => format!("{kind}: deleted {n} {}\n", noun.1),
    }
}

/// Revokes the person's grant at the provider (best effort, as the disconnect does:
/// subscriptions first, while the token may still work). Says how it went.
async fn revoke_grant(providers: &Providers, connection: &Connection) -> String {
    let Some(provider) = providers.get(connection.provider) else {
        return format!(
            "not revoked: this environment does not configure {} (its settings as the \
             functions have them); the tokens are deleted anyway, and the person can remove \
             the grant in their account",
            connection.provider
        );
    };
    let subscribed: Vec<Collection> = connection.subscriptions.iter().copied().collect();
    provider
        .unsubscribe(
            &connection.tokens.access_token,
            &connection.user_id,
            &subscribed,
        )
        .await;
    match provider.revoke(&connection.tokens).await {
        Ok(()) => "revoked".to_owned(),
        Err(e) => format!("not revoked ({e}); the tokens are deleted anyway"),
    }
}

/// What `people forget` cannot find by the person's key: it only expires.
const NOT_BY_PERSON: &str = "connect attempts and used links: stored by hash, not by person, \
    so not deleted here; they expire on their own (an attempt a day after its 10 minutes, a \
    used link with the link, within 90 days)\n";

/// Runs `people forget`: an erasure request (module docs).
pub(crate) async fn forget(
    options: &ForgetOptions,
    ports: &dyn Ports,
    providers: &Providers,
) -> Result<String, Failure> {
    let (person, table_name) = (&options.person, &options.table);
    let provider = person.provider;
    let table = ports.table(table_name);
    let connection = table
        .get(person)
        .await
        .map_err(|e| unreadable(table_name, person, e))?;
    let tombstone = table
        .tombstone(person)
        .await
        .map_err(|e| unreadable(table_name, person, e))?;
    let contact = connection
        .as_ref()
        .map(|c| c.contact.clone())
        .or_else(|| tombstone.as_ref().map(|t| t.contact.clone()));
    // A migrated person's contact goes on at the successor: its data is that person's.
    let lives_on = match (&connection, &tombstone) {
        (None, Some(t)) => match t.ending {
            Ending::Migrated { to } => Some(to),
            Ending::Disconnected => None,
        },
        _ => None,
    };

    if !options.yes {
        let state = match (&connection, &tombstone) {
            (Some(c), _) => format!("connected (status {})", c.status.as_str()),
            (None, Some(t)) => format!("not connected ({})", ended(t)),
            (None, None) => {
                return Err(refused(format!(
                    "table {table_name} holds no connection and no tombstone for {person}: \
                     no contact is known for it (with --yes, its parked work and fetch log, \
                     if any, are deleted all the same)"
                )))
            }
        };
        let contact = contact
            .as_ref()
            .expect("known with a connection or tombstone");
        let revoke = match (&connection, providers.get(provider)) {
            (Some(_), Some(_)) => format!("revokes the grant at {provider}, then "),
            (Some(_), None) => format!(
                "cannot revoke the grant at {provider} (this environment does not configure \
                 it), then "
            ),
            (None, _) => String::new(),
        };
        let of_contact = match lives_on {
            Some(to) => format!(
                "; the contact lives on at {to}, so its import ledger and history are that \
                 connection's to forget"
            ),
            None => format!(
                ", and the import ledger, signal history and signal state of contact {}",
                contact_name(contact)
            ),
        };
        return Ok(format!(
            "{person}: {state}, contact {}\n\
             with --yes, people forget {revoke}deletes the connection, the tombstone, parked \
             work, the fetch log{of_contact}; nothing in SAP\n\
             nothing was deleted: run it again with --yes to delete\n",
            contact_name(contact),
        ));
    }

    let mut text = match &contact {
        Some(contact) => format!("forgot {person} (contact {}):\n", contact_name(contact)),
        None => format!("forgot {person} (no contact known: no connection or tombstone):\n"),
    };
    text += &format!(
        "grant at {provider}: {}\n",
        match &connection {
            Some(c) => revoke_grant(providers, c).await,
            None => "none (not connected)".to_owned(),
        }
    );
    let stopped = |text: &str, what: &str, e: StoreError| Failure {
        code: crate::EXIT_REFUSED,
        message: format!(
            "cannot delete the {what} of {person} in table {table_name}: {e} (running it \
             again is safe: it deletes what is left)"
        ),
        output: text.to_owned(),
    };
    // The connection first: no further work finds the person.
    let erased = ConnectionStore::erase(&*table, person)
        .await
        .map_err(|e| stopped(&text, "connection and tombstone", e))?;
    for (kind, was) in [
        ("connection", erased.connection),
        ("tombstone", erased.tombstone),
    ] {
        text += &format!("{kind}: {}\n", if was { "deleted" } else { "already gone" });
    }
    let parked = ParkedWork::erase(&*table, person)
        .await
        .map_err(|e| stopped(&text, "parked work", e))?;
    text += &deleted("parked work", parked, ("item", "items"));
    let fetches = FetchLog::erase(&*table, person)
        .await
        .map_err(|e| stopped(&text, "fetch log", e))?;
    text += &deleted("fetch log", fetches, ("entry", "entries"));
    match (&contact, lives_on) {
        (Some(contact), None) => {
            let name = contact_name(contact);
            let days = ImportLedger::erase(&*table, contact)
                .await
                .map_err(|e| stopped(&text, "import ledger", e))?;
            text += &deleted(
                &format!("import ledger of contact {name}"),
                days,
                ("day", "days"),
            );
            let items = SignalStore::forget(&*table, contact)
                .await
                .map_err(|e| stopped(&text, "signal history", e))?;
            text += &deleted(
                &format!("signal history and state of contact {name}"),
                items,
                ("item", "items"),
            );
        }
        (Some(contact), Some(to)) => {
            text += &format!(
                "import ledger, signal history and state of contact {name}: kept, the contact \
                 lives on at {to}: forget that person too (people list --provider {to} shows \
                 who feeds contact {name})\n",
                name = contact_name(contact)
            );
        }
        (None, _) => {
            text += "import ledger, signal history and state: no contact known; what a \
                     disconnect left expired with its tombstone\n";
        }
    }
    text += NOT_BY_PERSON;
    if let (Some(predecessor), Some(_)) = (Registry.predecessor(provider), &contact) {
        text += &format!(
            "{predecessor}: if the person migrated from there, the tombstone of their \
             {predecessor} user id holds this contact too: forget that id as well\n"
        );
    }
    text += &match &contact {
        Some(contact) => format!(
            "SAP: nothing deleted; erase contact {} there with the tenant's own \
             data-protection tooling\n",
            contact_name(contact)
        ),
        None => "SAP: nothing deleted, and no contact known here\n".to_owned(),
    };
    if contact.is_none() && !erased.connection && !erased.tombstone && parked + fetches == 0 {
        return Err(refused(format!(
            "table {table_name} holds nothing about {person}: no connection, tombstone, \
             parked work or fetch log (nothing was deleted)"
        )));
    }
    Ok(text)
}
