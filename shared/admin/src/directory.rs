//! `directory backfill`: the daily job's directory index brought in line with the
//! connections' statuses, once after upgrading a table whose connections predate the
//! index. Only the operator runs it, so it lives here, on the table's own key layout
//! ([`fitbridge::store::dynamodb::keys`]) and codec.
//!
//! Invariant: it only sets or removes connections' `directory_key`, never another
//! attribute, and each change is conditional on the status it was decided on.

use aws_sdk_dynamodb::Client;
use fitbridge::domain::ConnectionStatus;
use fitbridge::ports::store::StoreError;
use fitbridge::store::dynamodb::codec::{conditional, s, unavailable, Item};
use fitbridge::store::dynamodb::keys::CONNECTION_SK;
use futures_util::StreamExt;

/// Connections updated at once.
const CONCURRENCY: usize = 16;

/// Brings the directory index in line with the connections' statuses: an active
/// connection without `directory_key` gets it (connections written before the index
/// existed), any other connection that has one loses it (one parked by a version of
/// the code that did not know the index). It reads the whole table once, so it is an
/// operator's one-off after upgrading, not the daily job's; running it again changes
/// nothing. Each change is conditional on the status it was decided on, so a connection
/// revoked, parked or reconnected meanwhile is left to the write that changed it.
pub async fn backfill(
    client: &Client,
    table: &str,
    scan_limit: Option<i32>,
) -> Result<DirectoryBackfill, StoreError> {
    let active = s(ConnectionStatus::Active.as_str());
    let mut report = DirectoryBackfill::default();
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .set_limit(scan_limit)
            .filter_expression(
                "sk = :conn AND ((#status = :active AND attribute_not_exists(directory_key)) \
                 OR (#status <> :active AND attribute_exists(directory_key)))",
            )
            .projection_expression("pk, sk, #status")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":conn", s(CONNECTION_SK))
            .expression_attribute_values(":active", active.clone())
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(unavailable)?;
        report.scanned += out.scanned_count.max(0) as u64;
        let changes = out.items.unwrap_or_default().into_iter().map(|item| {
            let is_active = item.get("status") == Some(&active);
            let key: Item = item
                .into_iter()
                .filter(|(name, _)| name == "pk" || name == "sk")
                .collect();
            let request = client
                .update_item()
                .table_name(table)
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":active", active.clone());
            let request = if is_active {
                request
                    .update_expression("SET directory_key = :directory_key")
                    .condition_expression(
                        "#status = :active AND attribute_not_exists(directory_key)",
                    )
                    .expression_attribute_values(":directory_key", key["pk"].clone())
            } else {
                request
                    .update_expression("REMOVE directory_key")
                    .condition_expression("#status <> :active AND attribute_exists(directory_key)")
            };
            async move {
                (
                    is_active,
                    conditional(request.set_key(Some(key)).send().await),
                )
            }
        });
        let results: Vec<_> = futures_util::stream::iter(changes)
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for (is_active, result) in results {
            match (result?, is_active) {
                (Some(_), true) => report.added += 1,
                (Some(_), false) => report.removed += 1,
                (None, _) => report.changed_meanwhile += 1,
            }
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            return Ok(report);
        }
    }
}

/// What [`backfill`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirectoryBackfill {
    /// Items the scan read (the whole table).
    pub scanned: u64,
    /// Active connections put into the directory.
    pub added: u64,
    /// Connections in another status taken out of it.
    pub removed: u64,
    /// Connections whose status changed between the scan and the update: left alone.
    pub changed_meanwhile: u64,
}

/// `directory backfill`: one line with what it did.
pub(crate) async fn command(
    options: &crate::cli::DirectoryBackfillOptions,
    aws: &aws_config::SdkConfig,
) -> Result<String, crate::Failure> {
    let done = backfill(&Client::new(aws), &options.table, None)
        .await
        .map_err(|e| crate::refused(e.to_string()))?;
    Ok(format!(
        "directory backfill: scanned={} added={} removed={} changed_meanwhile={}\n",
        done.scanned, done.added, done.removed, done.changed_meanwhile
    ))
}
