//! The import ledger, one item per (contact, day): [`ImportLedger`].

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use time::OffsetDateTime;

use super::codec::*;
use super::keys::*;
use super::DynamoStore;
use crate::domain::{ContactKey, DailyInteraction};
use crate::ports::store::{
    Claim, ImportLedger, ImportRecord, LatestImport, LedgerEntry, StoreError,
};

/// The metric a source object of `day` is about: what follows the day's prefix.
fn metric_of<'a>(key: &'a str, day: &str) -> Result<&'a str, StoreError> {
    key.strip_prefix(day)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| StoreError::Corrupt(format!("ledger key {key:?} outside its day")))
}

/// A day item's imported entries not claimed at `now`: source object → content hash.
fn day_entries(item: &Item, day: &str, now: OffsetDateTime) -> Vec<(String, String)> {
    item.iter()
        .filter_map(|(name, value)| {
            let metric = name.strip_prefix("h_")?;
            item.get(&format!("i_{metric}"))?;
            let claimed = get_n(item, &format!("u_{metric}"))
                .is_ok_and(|until| until >= now.unix_timestamp());
            (!claimed).then(|| Some((format!("{day}{metric}"), value.as_s().ok()?.clone())))?
        })
        .collect()
}

impl DynamoStore {
    /// The contact's day item and any entries of the day in the per-metric layout
    /// (consistent: an import completed a moment ago must be seen as it is now).
    pub(super) async fn day_items(
        &self,
        contact: &ContactKey,
        day: &str,
    ) -> Result<Vec<Item>, StoreError> {
        let query = self
            .query()
            .key_condition_expression("pk = :pk AND begins_with(sk, :day)")
            .expression_attribute_values(":pk", Self::import_key(contact, day)["pk"].clone())
            .expression_attribute_values(":day", s(day))
            .consistent_read(true);
        all_items(query).await
    }
}

#[async_trait]
impl ImportLedger for DynamoStore {
    async fn settled(
        &self,
        contact: &ContactKey,
        day: &str,
        now: OffsetDateTime,
    ) -> Result<HashMap<String, String>, StoreError> {
        let mut found = HashMap::new();
        let mut current = Vec::new();
        for item in self.day_items(contact, day).await? {
            let claimed = get_n(&item, "claim_until").is_ok_and(|u| u >= now.unix_timestamp());
            if opt_s(&item, "sk").as_deref() == Some(day) {
                if !item.contains_key("ttl") {
                    current = day_entries(&item, day, now);
                }
                continue;
            }
            // An entry of the per-metric layout (before one item per day).
            if claimed || item.contains_key("ttl") || !item.contains_key("interaction_id") {
                continue;
            }
            if let (Some(key), Some(hash)) = (opt_s(&item, "sk"), opt_s(&item, "hash")) {
                found.insert(key, hash);
            }
        }
        // The day item's entries are newer than the per-metric layout's.
        found.extend(current);
        Ok(found)
    }

    async fn claim(
        &self,
        contact: &ContactKey,
        day: &str,
        keys: &[String],
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Claim, StoreError> {
        let metrics: Vec<String> = keys
            .iter()
            .map(|k| metric_of(k, day).map(str::to_owned))
            .collect::<Result<_, _>>()?;
        if metrics.is_empty() {
            return Ok(Claim::Claimed(HashMap::new()));
        }
        let mut update = self
            .update(Self::import_key(contact, day))
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(until.unix_timestamp()))
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .return_values(ReturnValue::AllOld);
        let mut sets = Vec::new();
        let mut free = Vec::new();
        for (i, metric) in metrics.iter().enumerate() {
            update = update
                .expression_attribute_names(format!("#o{i}"), format!("o_{metric}"))
                .expression_attribute_names(format!("#u{i}"), format!("u_{metric}"));
            sets.push(format!("#o{i} = :owner, #u{i} = :until"));
            free.push(format!("(attribute_not_exists(#u{i}) OR #u{i} < :now)"));
        }
        // A day set to expire is fed again: it is permanent again.
        update = update
            .update_expression(format!(
                "SET {} REMOVE #ttl ADD started :started",
                sets.join(", ")
            ))
            .condition_expression(free.join(" AND "))
            .expression_attribute_values(":started", AttributeValue::Ss(metrics.clone()));
        let Some(out) = conditional(update.send().await)? else {
            return Ok(Claim::Busy);
        };
        let old = out.attributes.unwrap_or_default();
        let started: Vec<String> = old
            .get("started")
            .and_then(|v| v.as_ss().ok())
            .cloned()
            .unwrap_or_default();
        let mut entries: HashMap<String, LedgerEntry> = HashMap::new();
        for (key, metric) in keys.iter().zip(&metrics) {
            let hash = opt_s(&old, &format!("h_{metric}"));
            let id = opt_s(&old, &format!("i_{metric}"));
            let entry = match (hash, id) {
                (Some(hash), Some(interaction_id)) => LedgerEntry::Imported {
                    hash,
                    interaction_id,
                },
                _ if started.contains(metric) => LedgerEntry::CreateUnconfirmed,
                _ => LedgerEntry::New,
            };
            entries.insert(key.clone(), entry);
        }
        // What the day item knows nothing of may be in the per-metric layout.
        if entries.values().any(|e| *e == LedgerEntry::New) {
            for item in self.day_items(contact, day).await? {
                let Some(key) = opt_s(&item, "sk") else {
                    continue;
                };
                let Some(entry) = entries.get_mut(&key).filter(|e| **e == LedgerEntry::New) else {
                    continue;
                };
                *entry = match (opt_s(&item, "hash"), opt_s(&item, "interaction_id")) {
                    (Some(hash), Some(interaction_id)) => LedgerEntry::Imported {
                        hash,
                        interaction_id,
                    },
                    _ => LedgerEntry::CreateUnconfirmed,
                };
            }
        }
        Ok(Claim::Claimed(entries))
    }

    async fn complete(
        &self,
        contact: &ContactKey,
        day: &str,
        owner: &str,
        keys: &[String],
        imported: &[ImportRecord],
    ) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut update = self
            .update(Self::import_key(contact, day))
            .expression_attribute_values(":owner", s(owner));
        let mut held = Vec::new();
        let mut removes = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let metric = metric_of(key, day)?;
            update = update
                .expression_attribute_names(format!("#o{i}"), format!("o_{metric}"))
                .expression_attribute_names(format!("#u{i}"), format!("u_{metric}"));
            held.push(format!("#o{i} = :owner"));
            removes.push(format!("#o{i}, #u{i}"));
        }
        let mut expression = format!("REMOVE {}", removes.join(", "));
        if !imported.is_empty() {
            let mut sets = vec!["imported_at = :now".to_owned()];
            let mut done = Vec::new();
            for (i, record) in imported.iter().enumerate() {
                let metric = metric_of(&record.key, day)?;
                sets.push(format!("#h{i} = :h{i}, #i{i} = :i{i}"));
                update = update
                    .expression_attribute_names(format!("#h{i}"), format!("h_{metric}"))
                    .expression_attribute_names(format!("#i{i}"), format!("i_{metric}"))
                    .expression_attribute_values(format!(":h{i}"), s(&record.hash))
                    .expression_attribute_values(format!(":i{i}"), s(&record.interaction_id));
                done.push(metric.to_owned());
            }
            expression = format!("SET {} {expression} DELETE started :done", sets.join(", "));
            update = update
                .expression_attribute_values(":done", AttributeValue::Ss(done))
                .expression_attribute_values(":now", n(self.clock.now().unix_timestamp()));
        }
        update
            .update_expression(expression)
            .condition_expression(held.join(" AND "))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn expire(&self, contact: &ContactKey, at: OffsetDateTime) -> Result<usize, StoreError> {
        let pk = Self::import_key(contact, "")["pk"].clone();
        let mut newly = 0;
        let mut start = None;
        loop {
            // Only entries not yet set to expire by `at`: a retry after a timeout goes on
            // where the last attempt stopped, and an earlier time stays.
            let out = self
                .query()
                .key_condition_expression("pk = :pk")
                .filter_expression("attribute_not_exists(#ttl) OR #ttl > :at")
                .projection_expression("pk, sk")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":pk", pk.clone())
                .expression_attribute_values(":at", n(at.unix_timestamp()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            let keys = out.items.unwrap_or_default();
            newly += self
                .expire_keys(keys, at, LEDGER_EXPIRY_CONCURRENCY)
                .await?;
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(newly);
            }
        }
    }

    async fn erase(&self, contact: &ContactKey) -> Result<usize, StoreError> {
        let deleted = self
            .delete_partition(Self::import_key(contact, "")["pk"].clone())
            .await?;
        // Items of the per-metric layout are several to a day: count days.
        let days: std::collections::BTreeSet<_> = deleted
            .iter()
            .map(|key| opt_s(key, "sk").and_then(|sk| DailyInteraction::day_of_source_object(&sk)))
            .collect();
        Ok(days.len())
    }

    async fn latest(&self, contact: &ContactKey) -> Result<Option<LatestImport>, StoreError> {
        // A contact's entries sort by day (`<contact>-<date>-<metric>`): the last is the
        // newest day, read alone.
        let out = self
            .query()
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", Self::import_key(contact, "")["pk"].clone())
            .scan_index_forward(false)
            .limit(1)
            .projection_expression("sk, imported_at")
            .send()
            .await
            .map_err(unavailable)?;
        let Some(item) = out.items.unwrap_or_default().into_iter().next() else {
            return Ok(None);
        };
        let key = get_s(&item, "sk")?;
        let day = DailyInteraction::day_of_source_object(key)
            .ok_or_else(|| StoreError::Corrupt(format!("import ledger key {key:?}")))?;
        let imported_at = item
            .contains_key("imported_at")
            .then(|| get_n(&item, "imported_at").and_then(timestamp))
            .transpose()?;
        Ok(Some(LatestImport { day, imported_at }))
    }
}
