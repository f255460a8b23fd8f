//! `people list|backfill|disconnect`: the people behind the connections, and the two
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

use std::collections::BTreeMap;

use fitbridge::domain::{Collection, Connection, ConnectionStatus, ProviderKind, Task, WorkItem};
use fitbridge::ports::catalog::ProviderCatalog;
use fitbridge::ports::store::{ConnectionSummary, Ending, LatestImport, StoreError};
use fitbridge::provider::registry::Registry;
use fitbridge::wiring::{Ports, Table};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::cli::{BackfillOptions, DisconnectOptions, PeopleListOptions, Person};
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
async fn not_connected(table: &dyn Table, table_name: &str, person: &Person) -> Failure {
    let why = match table
        .tombstone(person.provider, &person.user_id)
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
    person: &Person,
) -> Result<Connection, Failure> {
    let table = ports.table(table_name);
    match table.get(person.provider, &person.user_id).await {
        Ok(Some(connection)) => Ok(connection),
        Ok(None) => Err(not_connected(&*table, table_name, person).await),
        Err(e) => Err(unreadable(table_name, person, e)),
    }
}

fn unreadable(table: &str, person: &Person, e: StoreError) -> Failure {
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
