//! The signal store on the table: a person's history and signal state under one partition
//! key, `SIGNALS#<origin>#<contact>`, so one `Query` reads both and one erases both.
//! Each item carries a version `v`; a write succeeds only at the version it was read at.
//! A disconnect gives the items a `ttl`; an item past it counts as absent (TTL deletes
//! lazily), and a write replaces the whole item, so what is written again has none.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use super::codec::{all_items, conditional, get_n, get_s, n, s, unavailable, Item};
use super::DynamoStore;
use crate::domain::signals::history::{History, MonthHistory, MonthKey};
use crate::domain::signals::SignalState;
use crate::domain::ContactKey;
use crate::ports::signals::SignalStore;
use crate::ports::store::StoreError;

const MONTH_PREFIX: &str = "MONTH#";
const STATE_SK: &str = "STATE";
/// Deletes (or expiry updates) in flight when a person's history is erased (set to expire).
const DELETE_CONCURRENCY: usize = 8;

fn pk(contact: &ContactKey) -> AttributeValue {
    s(format!("SIGNALS#{}#{}", contact.origin, contact.id))
}

fn json_map<T: serde::de::DeserializeOwned + Default>(
    item: &Item,
    name: &str,
) -> Result<T, StoreError> {
    match item.get(name).and_then(|v| v.as_s().ok()) {
        Some(text) => serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string())),
        None => Ok(T::default()),
    }
}

impl DynamoStore {
    /// Every item of the contact's signals partition (only `projection`'s attributes if
    /// given), every page.
    async fn signal_items(
        &self,
        contact: &ContactKey,
        projection: Option<&str>,
    ) -> Result<Vec<Item>, StoreError> {
        let query = self
            .query()
            .key_condition_expression("pk = :pk")
            .set_projection_expression(projection.map(str::to_owned))
            .expression_attribute_values(":pk", pk(contact));
        all_items(query).await
    }

    /// Puts `item` at version `version + 1` if the stored one is still at `version` (0: none
    /// is stored, or it has expired).
    async fn put_versioned(&self, mut item: Item, version: u64) -> Result<bool, StoreError> {
        item.insert("v".into(), n(version as i64 + 1));
        let put = self.put_request(item);
        let put = if version == 0 {
            put.condition_expression("attribute_not_exists(pk) OR #ttl <= :now")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":now", n(self.clock.now().unix_timestamp()))
        } else {
            put.condition_expression("v = :v")
                .expression_attribute_values(":v", n(version as i64))
        };
        Ok(conditional(put.send().await)?.is_some())
    }
}

#[async_trait]
impl SignalStore for DynamoStore {
    async fn load(&self, contact: &ContactKey) -> Result<(History, SignalState), StoreError> {
        let mut history = History::default();
        let mut state = SignalState::default();
        let now = self.clock.now().unix_timestamp();
        for item in self.signal_items(contact, None).await? {
            // TTL deletes lazily: an expired item counts as gone.
            if get_n(&item, "ttl").is_ok_and(|ttl| ttl <= now) {
                continue;
            }
            let sk = get_s(&item, "sk")?;
            let version = get_n(&item, "v")? as u64;
            if sk == STATE_SK {
                state = SignalState {
                    fired: json_map(&item, "fired")?,
                    attributes: json_map(&item, "attributes")?,
                    writing_until: get_n(&item, "writing_until").ok(),
                    version,
                };
            } else if let Some(key) = sk.strip_prefix(MONTH_PREFIX).and_then(MonthKey::parse) {
                // Packed (binary) since the form changed; a month not written since is
                // still in the earlier JSON form, and is rewritten packed with its next day.
                let month = match item.get("days") {
                    Some(AttributeValue::B(packed)) => {
                        MonthHistory::decode(packed.as_ref(), version).map_err(|e| e.to_string())
                    }
                    _ => MonthHistory::decode_json(get_s(&item, "days")?, version)
                        .map_err(|e| e.to_string()),
                }
                .map_err(StoreError::Corrupt)?;
                history.months.insert(key, month);
            }
        }
        Ok((history, state))
    }

    async fn save_month(
        &self,
        contact: &ContactKey,
        key: MonthKey,
        month: &MonthHistory,
    ) -> Result<bool, StoreError> {
        let item: Item = [
            ("pk".to_owned(), pk(contact)),
            ("sk".to_owned(), s(format!("{MONTH_PREFIX}{key}"))),
            (
                "days".to_owned(),
                AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(month.encode())),
            ),
        ]
        .into_iter()
        .collect();
        self.put_versioned(item, month.version).await
    }

    async fn save_state(
        &self,
        contact: &ContactKey,
        state: &SignalState,
    ) -> Result<bool, StoreError> {
        let item: Item = [
            ("pk".to_owned(), pk(contact)),
            ("sk".to_owned(), s(STATE_SK)),
            (
                "fired".to_owned(),
                s(serde_json::to_string(&state.fired).expect("plain data")),
            ),
            (
                "attributes".to_owned(),
                s(serde_json::to_string(&state.attributes).expect("plain data")),
            ),
        ]
        .into_iter()
        .chain(
            state
                .writing_until
                .map(|until| ("writing_until".to_owned(), n(until))),
        )
        .collect();
        self.put_versioned(item, state.version).await
    }

    async fn expire(&self, contact: &ContactKey, at: OffsetDateTime) -> Result<usize, StoreError> {
        // Only items not yet set to expire by `at`: a repeat sets none, an earlier time
        // stays.
        let query = self
            .query()
            .key_condition_expression("pk = :pk")
            .filter_expression("attribute_not_exists(#ttl) OR #ttl > :at")
            .projection_expression("pk, sk")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":pk", pk(contact))
            .expression_attribute_values(":at", n(at.unix_timestamp()));
        let keys = all_items(query).await?;
        self.expire_keys(keys, at, DELETE_CONCURRENCY).await
    }

    async fn forget(&self, contact: &ContactKey) -> Result<usize, StoreError> {
        let keys = self.signal_items(contact, Some("pk, sk")).await?;
        // A person has one item per month of history: a few dozen deletes.
        use futures_util::{StreamExt, TryStreamExt};
        let deleted = keys.len();
        futures_util::stream::iter(keys)
            .map(|key| {
                let delete = self.delete(key);
                async move { delete.send().await.map_err(unavailable) }
            })
            .buffer_unordered(DELETE_CONCURRENCY)
            .try_for_each(|_| async { Ok(()) })
            .await?;
        Ok(deleted)
    }
}
