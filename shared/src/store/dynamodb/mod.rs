//! DynamoDB adapter: one table, `pk`/`sk` string keys, TTL attribute `ttl`.
//!
//! | item        | pk                          | sk           |
//! |-------------|-----------------------------|--------------|
//! | connection  | `CONN#<provider>#<user id>` | `CONNECTION` |
//! | OAuth state | `STATE#<sha256(state)>`     | `STATE`      |
//! | used link   | `LINK#<sha256(signature)>`  | `LINK` (TTL: the link's expiry) |
//! | revocation  | `CONN#<provider>#<user id>` | `REVOKED` (TTL once the person disconnected) |
//! | import      | `IMPORT#<origin>#<contact>` | the day's source-object prefix, e.g. `GGNJL9-2026-11-20-`: one item per day (TTL once the person disconnected); items of the earlier per-metric layout (`GGNJL9-2026-11-20-steps`) are still read |
//! | parked work | `PARKED#<provider>#<user>`  | `<sha256 of the work item>` |
//! | fetch log   | `FETCH#<provider>#<user>`   | `<collection>#<date>` |
//! | history     | `SIGNALS#<origin>#<contact>` | `MONTH#<yyyy-mm>` (one item per month: [`crate::domain::signals::history`]; TTL once the person disconnected) |
//! | signal state | `SIGNALS#<origin>#<contact>` | `STATE` (fired rules, attribute values; TTL once the person disconnected) |
//!
//! Imports are grouped by contact so a person's history can be read or erased in one query.
//! A disconnect sets the `ttl` of the tombstone (sort key `REVOKED`, beside the connection
//! under the person's `pk`) and of the contact's import and signal items; the connection
//! item itself never carries one, so a person who connects again is untouched by it, and
//! an import or signal item written again loses its `ttl`. Everything keyed by person or
//! contact can be erased by key (`fitbridge-admin people forget`); OAuth states and used
//! links are keyed by hash and only expire.
//!
//! The daily job reads the sparse index `Directory` ([`DIRECTORY_INDEX`]), never the table:
//! a connection item carries `directory_key` (its own `pk`) exactly while its status is
//! active — every write that sets a connection's status sets or removes it in the same
//! update, and a revocation deletes the item — so the index holds the active connections
//! and nothing else: no ledger, state or fetch-log item, however many there are. It
//! projects only what the daily job reads (provider, user id, time zone, scopes, status),
//! so a token refresh, which changes none of them, writes nothing to it. Connections
//! written before the index existed have no `directory_key` until
//! `fitbridge-admin directory backfill` (in the admin crate) gives it.
//!
//! States are stored by hash, so reading the table does not yield a usable state.
//! Scans project the attributes they return, so a listing never reads a token.
//! DynamoDB deletes TTL-expired items lazily (and emulators never), so every read checks
//! expiry itself — except the import ledger's: an entry set to expire still says truly what
//! the marketing system holds, and a claim makes it permanent again.

use aws_sdk_dynamodb::operation::delete_item::builders::DeleteItemFluentBuilder;
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::Client;

use std::sync::Arc;

use crate::ports::clock::SharedClock;
use crate::ports::store::StoreError;

mod attempts;
pub mod codec;
mod connections;
mod directory;
mod fetch_log;
pub mod keys;
mod ledger;
mod parked;
pub mod sealed;
mod signals;
mod tokens;

use codec::{conditional, s, unavailable, Item};

/// The DynamoDB table holding connections and OAuth states.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// DynamoDB's `Limit` for scans; `None`: pages of up to 1 MB.
    scan_limit: Option<i32>,
    /// What writes are stamped with and expiries judged by.
    clock: SharedClock,
    /// Seals tokens before they are written and opens them when read; `None`: they pass
    /// through as stored ([`sealed`]).
    seal: Option<Arc<sealed::TokenSeal>>,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>, clock: SharedClock) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            scan_limit: None,
            clock,
            seal: None,
        }
    }

    /// Caps the items each scan page evaluates (before its filter): more, smaller pages.
    /// Tests use it to make a listing span pages on a small table.
    pub fn with_scan_limit(mut self, items_per_page: i32) -> Self {
        self.scan_limit = Some(items_per_page);
        self
    }

    /// Sets each item of `keys` to expire at `at` (`concurrency` at a time) unless it
    /// expires sooner already; an item deleted meanwhile is never recreated. Returns how
    /// many were newly set.
    async fn expire_keys(
        &self,
        keys: Vec<Item>,
        at: time::OffsetDateTime,
        concurrency: usize,
    ) -> Result<usize, StoreError> {
        use futures_util::{StreamExt, TryStreamExt};
        futures_util::stream::iter(keys)
            .map(|key| {
                let update = self
                    .update(key)
                    .update_expression("SET #ttl = :at")
                    .condition_expression(
                        "attribute_exists(pk) AND (attribute_not_exists(#ttl) OR #ttl > :at)",
                    )
                    .expression_attribute_names("#ttl", "ttl")
                    .expression_attribute_values(":at", codec::n(at.unix_timestamp()));
                async move { conditional(update.send().await) }
            })
            .buffer_unordered(concurrency)
            .try_fold(0, |count, updated| async move {
                Ok(count + usize::from(updated.is_some()))
            })
            .await
    }

    /// Tokens sealed with `seal` before they are written, and opened when read.
    pub fn with_seal(mut self, seal: Arc<sealed::TokenSeal>) -> Self {
        self.seal = Some(seal);
        self
    }

    /// A pair as this store writes it: `(access, refresh, token_key)`, sealed when it seals.
    async fn stored_pair(
        &self,
        pk: &str,
        tokens: &crate::domain::TokenSet,
    ) -> Result<(String, String, Option<String>), StoreError> {
        match &self.seal {
            Some(seal) => {
                let pair = seal
                    .seal(pk, &tokens.access_token, &tokens.refresh_token)
                    .await?;
                Ok((pair.access_token, pair.refresh_token, Some(pair.token_key)))
            }
            None => Ok((
                tokens.access_token.expose().to_owned(),
                tokens.refresh_token.expose().to_owned(),
                None,
            )),
        }
    }

    /// A connection item read back, its tokens opened when this store seals.
    async fn connection_of(&self, item: &Item) -> Result<crate::domain::Connection, StoreError> {
        let mut connection = codec::connection_from_item(item)?;
        if let Some(seal) = &self.seal {
            let pk = codec::get_s(item, "pk")?;
            let key = codec::opt_s(item, "token_key");
            let tokens = &mut connection.tokens;
            let sealed = [
                ("access_token", &mut tokens.access_token),
                ("refresh_token", &mut tokens.refresh_token),
            ];
            for (attribute, token) in sealed {
                *token = seal
                    .open(pk, attribute, token.expose(), key.as_deref())
                    .await?;
            }
        }
        Ok(connection)
    }

    /// `UpdateItem` of `key` in this table.
    fn update(&self, key: Item) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
    }

    /// `DeleteItem` of `key` in this table.
    fn delete(&self, key: Item) -> DeleteItemFluentBuilder {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key))
    }

    /// A `Query` of this table.
    fn query(&self) -> QueryFluentBuilder {
        self.client.query().table_name(&self.table)
    }

    /// A `Scan` of this table, in pages of the configured size.
    fn scan(&self) -> ScanFluentBuilder {
        self.client
            .scan()
            .table_name(&self.table)
            .set_limit(self.scan_limit)
    }

    /// The item at `key`, read consistently (a write a moment ago is seen as it is now).
    async fn read(&self, key: Item) -> Result<Option<Item>, StoreError> {
        Ok(self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?
            .item)
    }
    /// `PutItem` of a whole `item` in this table.
    fn put_request(&self, item: Item) -> PutItemFluentBuilder {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
    }

    /// Writes a whole item, replacing any with the same key.
    async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.put_request(item).send().await.map_err(unavailable)?;
        Ok(())
    }

    /// Deletes every item of the partition `pk` (an erasure): its keys in one consistent
    /// query, then the deletes, a few at a time. Returns the keys of what it deleted.
    async fn delete_partition(
        &self,
        pk: aws_sdk_dynamodb::types::AttributeValue,
    ) -> Result<Vec<Item>, StoreError> {
        use futures_util::{StreamExt, TryStreamExt};
        let query = self
            .query()
            .key_condition_expression("pk = :pk")
            .projection_expression("pk, sk")
            .expression_attribute_values(":pk", pk)
            .consistent_read(true);
        let keys = codec::all_items(query).await?;
        futures_util::stream::iter(keys.clone())
            .map(|key| {
                let delete = self.delete(key);
                async move { delete.send().await.map_err(unavailable) }
            })
            .buffer_unordered(keys::ERASE_CONCURRENCY)
            .try_for_each(|_| async { Ok(()) })
            .await?;
        Ok(keys)
    }

    /// Releases a hold (a refresh lease, an import claim): removes its owner and expiry
    /// attributes if `owner` still holds it. A hold that is not ours (any more) needs no
    /// release.
    async fn release_hold(
        &self,
        key: Item,
        [owner_attr, until_attr]: [&str; 2],
        owner: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .update(key)
            .update_expression(format!("REMOVE {owner_attr}, {until_attr}"))
            .condition_expression(format!("{owner_attr} = :owner"))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        conditional(result)?;
        Ok(())
    }
}
