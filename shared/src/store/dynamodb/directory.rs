//! The daily job's directory index, and operators' listings: [`ConnectionDirectory`].

use std::collections::HashMap;

use async_trait::async_trait;

use super::codec::*;
use super::keys::*;
use super::DynamoStore;
use crate::domain::{ConnectionStatus, ProviderKind, ProviderUserId, Scopes};
use crate::ports::store::{
    ConnectionDirectory, ConnectionSummary, DirectoryEntry, DirectoryPage, StoreError,
};

#[async_trait]
impl ConnectionDirectory for DynamoStore {
    async fn scan_active(
        &self,
        segment: u32,
        total_segments: u32,
        start: Option<HashMap<String, String>>,
    ) -> Result<DirectoryPage, StoreError> {
        // The sparse index holds only active connections, so the scan reads nothing else
        // (no ledger, however long the history). The status filter is a defence, nearly
        // free: a connection that an older version of the code parked while it still had
        // its key is skipped, not synced.
        let out = self
            .scan()
            .index_name(DIRECTORY_INDEX)
            .segment(segment as i32)
            .total_segments(total_segments as i32)
            .filter_expression("#status = :active")
            .projection_expression("provider, user_id, #timezone, scopes")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#timezone", "timezone")
            .expression_attribute_values(":active", s(ConnectionStatus::Active.as_str()))
            .set_exclusive_start_key(start.map(|k| k.into_iter().map(|(k, v)| (k, s(v))).collect()))
            .send()
            .await
            .map_err(unavailable)?;
        let entries = out
            .items
            .unwrap_or_default()
            .iter()
            .map(|item| {
                Ok(DirectoryEntry {
                    provider: get_s(item, "provider")?
                        .parse()
                        .map_err(|_| StoreError::Corrupt("unknown provider".into()))?,
                    user_id: ProviderUserId(get_s(item, "user_id")?.to_owned()),
                    timezone: opt_s(item, "timezone"),
                    scopes: Scopes::parse(&opt_s(item, "scopes").unwrap_or_default()),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let next = out.last_evaluated_key.map(|k| {
            k.into_iter()
                .filter_map(|(k, v)| v.as_s().ok().map(|v| (k, v.clone())))
                .collect()
        });
        Ok(DirectoryPage { entries, next })
    }

    async fn connections_of(
        &self,
        provider: ProviderKind,
    ) -> Result<Vec<ConnectionSummary>, StoreError> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .scan()
                .filter_expression("sk = :conn AND #provider = :provider")
                // Exactly what a summary holds: the tokens never leave the table.
                .projection_expression(SUMMARY_ATTRIBUTES)
                .expression_attribute_names("#provider", "provider")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":conn", s(CONNECTION_SK))
                .expression_attribute_values(":provider", s(provider.as_str()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items.unwrap_or_default() {
                found.push(summary_from_item(&item)?);
            }
            // A filtered page may hold nothing and still not be the last.
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(found);
            }
        }
    }
}

/// The attributes [`ConnectionDirectory::connections_of`] reads (`status` is a reserved
/// word).
const SUMMARY_ATTRIBUTES: &str = "#provider, user_id, #status, contact_origin, contact_id, \
     customer_ref, updated_at, connected_at, consented_at";

fn summary_from_item(item: &Item) -> Result<ConnectionSummary, StoreError> {
    Ok(ConnectionSummary {
        provider: provider_of(item)?,
        user_id: ProviderUserId(get_s(item, "user_id")?.to_owned()),
        status: status_of(item)?,
        contact: contact_of(item)?,
        customer_ref: opt_s(item, "customer_ref"),
        updated_at: item
            .contains_key("updated_at")
            .then(|| get_n(item, "updated_at").and_then(timestamp))
            .transpose()?,
        connected_at: item
            .contains_key("connected_at")
            .then(|| get_n(item, "connected_at").and_then(timestamp))
            .transpose()?,
        consented_at: item
            .contains_key("consented_at")
            .then(|| get_n(item, "consented_at").and_then(from_millis))
            .transpose()?,
    })
}
