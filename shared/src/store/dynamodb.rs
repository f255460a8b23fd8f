//! DynamoDB adapter: one table, `pk`/`sk` string keys, TTL attribute `ttl`.
//!
//! | item        | pk                          | sk           |
//! |-------------|-----------------------------|--------------|
//! | connection  | `CONN#<provider>#<user id>` | `CONNECTION` |
//! | OAuth state | `STATE#<sha256(state)>`     | `STATE`      |
//! | used link   | `LINK#<sha256(signature)>`  | `LINK` (TTL: the link's expiry) |
//! | revocation  | `CONN#<provider>#<user id>` | `REVOKED` (TTL once the account is deleted) |
//! | import      | `IMPORT#<origin>#<contact>` | the day's source-object prefix, e.g. `GGNJL9-2026-11-20-`: one item per day (TTL once the account is deleted); items of the earlier per-metric layout (`GGNJL9-2026-11-20-steps`) are still read |
//! | parked work | `PARKED#<provider>#<user>`  | `<sha256 of the work item>` |
//! | fetch log   | `FETCH#<provider>#<user>`   | `<collection>#<date>` |
//! | history     | `SIGNALS#<origin>#<contact>` | `MONTH#<yyyy-mm>` (one item per month: [`crate::domain::signals::history`]) |
//! | signal state | `SIGNALS#<origin>#<contact>` | `STATE` (fired rules, attribute values) |
//!
//! Imports are grouped by contact so a person's history can be read or erased in one query.
//!
//! The daily job reads the sparse index `Directory` ([`DIRECTORY_INDEX`]), never the table:
//! a connection item carries `directory_key` (its own `pk`) exactly while its status is
//! active — every write that sets a connection's status sets or removes it in the same
//! update, and a revocation deletes the item — so the index holds the active connections
//! and nothing else: no ledger, state or fetch-log item, however many there are. It
//! projects only what the daily job reads (provider, user id, time zone, scopes, status),
//! so a token refresh, which changes none of them, writes nothing to it. Connections
//! written before the index existed have no `directory_key` until
//! [`DynamoStore::backfill_directory`] (`fitbridge-admin directory backfill`) gives it.
//!
//! States are stored by hash, so reading the table does not yield a usable state.
//! Scans project the attributes they return, so a listing never reads a token.
//! DynamoDB deletes TTL-expired items lazily (and emulators never), so every read checks
//! expiry itself — except the import ledger's: an entry set to expire still says truly what
//! the marketing system holds, and a claim makes it permanent again.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::domain::link::VerifiedLink;
use crate::domain::Secret;
use crate::domain::{
    Collection, Connection, ConnectionStatus, ContactKey, DailyInteraction, ProviderKind,
    ProviderUserId, Scopes, TokenSet, WorkItem,
};
use crate::ports::clock::SharedClock;
use crate::ports::store::{
    Claim, ConnectAttempts, ConnectionDirectory, ConnectionStore, ConnectionSummary,
    DirectoryEntry, DirectoryPage, Ending, FetchClaim, FetchKey, FetchLog, ImportLedger,
    ImportRecord, LatestImport, LedgerEntry, ParkedWork, PendingAuthorization, Revocation,
    StateError, StoreError, TokenStore, Tombstone,
};

const CONNECTION_SK: &str = "CONNECTION";
/// The sparse global secondary index of active connections (`infra/template.yaml`).
pub const DIRECTORY_INDEX: &str = "Directory";
const STATE_SK: &str = "STATE";
/// Used states are kept a day past their expiry so a replay is told apart from a forgery.
const USED_STATE_RETENTION_SECS: i64 = 86_400;
const REVOKED_SK: &str = "REVOKED";
/// Fetch log entries only matter while duplicates can still arrive.
const FETCH_LOG_RETENTION_SECS: i64 = 7 * 86_400;
/// Parked work waits this long for the person to consent again.
const PARKED_RETENTION_SECS: i64 = 30 * 86_400;
/// Ledger items updated at once when a contact's ledger is set to expire: a year of a
/// person's days is about 365 items (one a day; more for days from before that layout).
const LEDGER_EXPIRY_CONCURRENCY: usize = 16;
/// Connections updated at once by the directory backfill.
const DIRECTORY_BACKFILL_CONCURRENCY: usize = 16;

pub(super) type Item = HashMap<String, AttributeValue>;

/// The DynamoDB table holding connections and OAuth states.
#[derive(Clone)]
pub struct DynamoStore {
    pub(super) client: Client,
    pub(super) table: String,
    /// DynamoDB's `Limit` for scans; `None`: pages of up to 1 MB.
    scan_limit: Option<i32>,
    /// What writes are stamped with and expiries judged by.
    pub(super) clock: SharedClock,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>, clock: SharedClock) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            scan_limit: None,
            clock,
        }
    }

    /// Caps the items each scan page evaluates (before its filter): more, smaller pages.
    /// Tests use it to make a listing span pages on a small table.
    pub fn with_scan_limit(mut self, items_per_page: i32) -> Self {
        self.scan_limit = Some(items_per_page);
        self
    }

    fn connection_key(provider: ProviderKind, user_id: &ProviderUserId) -> Item {
        HashMap::from([
            ("pk".to_owned(), s(format!("CONN#{provider}#{}", user_id.0))),
            ("sk".to_owned(), s(CONNECTION_SK)),
        ])
    }

    /// Writes a whole item, replacing any with the same key.
    async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
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
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(format!("REMOVE {owner_attr}, {until_attr}"))
            .condition_expression(format!("{owner_attr} = :owner"))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        conditional(result)?;
        Ok(())
    }

    fn import_key(contact: &ContactKey, key: &str) -> Item {
        HashMap::from([
            (
                "pk".to_owned(),
                s(format!("IMPORT#{}#{}", contact.origin, contact.id)),
            ),
            ("sk".to_owned(), s(key)),
        ])
    }

    /// The contact's day item and any entries of the day in the per-metric layout
    /// (consistent: an import completed a moment ago must be seen as it is now).
    async fn day_items(&self, contact: &ContactKey, day: &str) -> Result<Vec<Item>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :day)")
            .expression_attribute_values(":pk", Self::import_key(contact, day)["pk"].clone())
            .expression_attribute_values(":day", s(day))
            .consistent_read(true);
        all_items(query).await
    }

    fn link_key(link_id: &str) -> Item {
        HashMap::from([
            ("pk".to_owned(), s(format!("LINK#{link_id}"))),
            ("sk".to_owned(), s("LINK")),
        ])
    }

    fn state_key(state: &str) -> Item {
        let hex = hex_sha256(state.as_bytes());
        HashMap::from([
            ("pk".to_owned(), s(format!("STATE#{hex}"))),
            ("sk".to_owned(), s(STATE_SK)),
        ])
    }

    /// Brings the directory index in line with the connections' statuses: an active
    /// connection without `directory_key` gets it (connections written before the index
    /// existed), any other connection that has one loses it (one parked by a version of
    /// the code that did not know the index). It reads the whole table once, so it is an
    /// operator's one-off after upgrading, not the daily job's; running it again changes
    /// nothing. Each change is conditional on the status it was decided on, so a connection
    /// revoked, parked or reconnected meanwhile is left to the write that changed it.
    pub async fn backfill_directory(&self) -> Result<DirectoryBackfill, StoreError> {
        use futures_util::StreamExt;
        let active = s(ConnectionStatus::Active.as_str());
        let mut report = DirectoryBackfill::default();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .set_limit(self.scan_limit)
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
                let request = self
                    .client
                    .update_item()
                    .table_name(&self.table)
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
                        .condition_expression(
                            "#status <> :active AND attribute_exists(directory_key)",
                        )
                };
                async move {
                    (
                        is_active,
                        conditional(request.set_key(Some(key)).send().await),
                    )
                }
            });
            let results: Vec<_> = futures_util::stream::iter(changes)
                .buffer_unordered(DIRECTORY_BACKFILL_CONCURRENCY)
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
}

/// What [`DynamoStore::backfill_directory`] did.
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

pub(super) fn is_condition_failure<E, R>(e: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|se| se.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

/// A conditional write's result: `Some(output)` when it was written, `None` when its
/// condition did not hold; any other failure is an error.
pub(super) fn conditional<T, E, R>(
    result: Result<T, SdkError<E, R>>,
) -> Result<Option<T>, StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(out) => Ok(Some(out)),
        Err(e) if is_condition_failure(&e) => Ok(None),
        Err(e) => Err(unavailable(e)),
    }
}

/// Every item `query` finds, over all its pages.
pub(super) async fn all_items(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
) -> Result<Vec<Item>, StoreError> {
    query
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(unavailable)
}

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

fn hex_sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn unavailable<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(DisplayErrorContext(e).to_string())
}

pub(super) fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("attribute {name} missing")))
}

fn opt_s(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

pub(super) fn get_n(item: &Item, name: &str) -> Result<i64, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("attribute {name} missing")))
}

fn timestamp(secs: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(secs).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn collection_from_str(s: &str) -> Option<Collection> {
    Collection::ALL.into_iter().find(|c| c.as_str() == s)
}

fn subscriptions_value(subscriptions: &[Collection]) -> AttributeValue {
    AttributeValue::L(subscriptions.iter().map(|c| s(c.as_str())).collect())
}

fn provider_of(item: &Item) -> Result<ProviderKind, StoreError> {
    get_s(item, "provider")?
        .parse::<ProviderKind>()
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn status_of(item: &Item) -> Result<ConnectionStatus, StoreError> {
    ConnectionStatus::parse(get_s(item, "status")?)
        .ok_or_else(|| StoreError::Corrupt("unknown status".into()))
}

fn contact_of(item: &Item) -> Result<ContactKey, StoreError> {
    Ok(ContactKey {
        origin: get_s(item, "contact_origin")?.to_owned(),
        id: get_s(item, "contact_id")?.to_owned(),
    })
}

fn connection_from_item(item: &Item) -> Result<Connection, StoreError> {
    let provider = provider_of(item)?;
    let status = status_of(item)?;
    let subscriptions: BTreeSet<Collection> = item
        .get("subscriptions")
        .and_then(|v| v.as_l().ok())
        .map(|l| {
            l.iter()
                .filter_map(|v| v.as_s().ok())
                .filter_map(|v| collection_from_str(v))
                .collect()
        })
        .unwrap_or_default();
    Ok(Connection {
        provider,
        user_id: ProviderUserId(get_s(item, "user_id")?.to_owned()),
        tokens: TokenSet {
            access_token: Secret::new(get_s(item, "access_token")?),
            refresh_token: Secret::new(get_s(item, "refresh_token")?),
            expires_at: timestamp(get_n(item, "access_expires_at")?)?,
            scopes: Scopes::parse(&opt_s(item, "scopes").unwrap_or_default()),
        },
        status,
        contact: contact_of(item)?,
        customer_ref: opt_s(item, "customer_ref"),
        timezone: opt_s(item, "timezone"),
        subscriptions,
        version: get_n(item, "version")? as u64,
        consented_at: get_n(item, "consented_at")
            .ok()
            .and_then(|ms| from_millis(ms).ok()),
    })
}

#[async_trait]
impl ConnectAttempts for DynamoStore {
    async fn put(&self, state: &str, pending: &PendingAuthorization) -> Result<(), StoreError> {
        let mut item = Self::state_key(state);
        item.insert("provider".into(), s(pending.provider.as_str()));
        item.insert("code_verifier".into(), s(pending.code_verifier.expose()));
        item.insert("redirect_uri".into(), s(&pending.redirect_uri));
        let expires = pending.expires_at.unix_timestamp();
        item.insert("expires_at".into(), n(expires));
        item.insert("ttl".into(), n(expires + USED_STATE_RETENTION_SECS));
        item.insert("browser_hash".into(), s(&pending.browser_hash));
        if let Some(link) = &pending.link {
            item.insert("customer_ref".into(), s(&link.customer_ref));
            item.insert("link_id".into(), s(&link.id));
            item.insert(
                "link_expires_at".into(),
                n(link.expires_at.unix_timestamp()),
            );
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            // A 256-bit random state never collides; if it ever did, refuse rather than
            // overwrite somebody else's attempt.
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn take(
        &self,
        state: &str,
        now: OffsetDateTime,
    ) -> Result<PendingAuthorization, StateError> {
        let key = Self::state_key(state);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.clone()))
            .update_expression("SET used_at = :now")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(used_at)")
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let item = match conditional(result)? {
            Some(out) => out.attributes.unwrap_or_default(),
            None => {
                // Tell a replay from a forgery: only a replayed state is still there.
                let existing = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(unavailable)?;
                return Err(match existing.item {
                    Some(_) => StateError::Replayed,
                    None => StateError::Unknown,
                });
            }
        };
        let expires_at = timestamp(get_n(&item, "expires_at")?)?;
        if now >= expires_at {
            return Err(StateError::Expired);
        }
        Ok(PendingAuthorization {
            provider: get_s(&item, "provider")?
                .parse()
                .map_err(|_| StoreError::Corrupt("unknown provider".into()))?,
            code_verifier: Secret::new(get_s(&item, "code_verifier")?),
            link: match opt_s(&item, "customer_ref") {
                Some(customer_ref) => Some(VerifiedLink {
                    customer_ref,
                    id: get_s(&item, "link_id")?.to_owned(),
                    expires_at: timestamp(get_n(&item, "link_expires_at")?)?,
                }),
                None => None,
            },
            redirect_uri: get_s(&item, "redirect_uri")?.to_owned(),
            expires_at,
            // An attempt stored without one cannot be finished by any browser.
            browser_hash: opt_s(&item, "browser_hash").unwrap_or_default(),
        })
    }

    async fn link_used(&self, link_id: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::link_key(link_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        // TTL deletes lazily: an expired record counts as gone.
        Ok(out
            .item
            .is_some_and(|item| get_n(&item, "ttl").is_ok_and(|ttl| ttl > now.unix_timestamp())))
    }

    async fn use_link(&self, link: &VerifiedLink, holder: &str) -> Result<bool, StoreError> {
        let mut item = Self::link_key(&link.id);
        item.insert("holder".into(), s(holder));
        item.insert("ttl".into(), n(link.expires_at.unix_timestamp()));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR holder = :me OR #ttl <= :now")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":me", s(holder))
            .expression_attribute_values(":now", n(self.clock.now().unix_timestamp()))
            .send()
            .await;
        Ok(conditional(result)?.is_some())
    }

    async fn give_back_link(&self, link_id: &str, holder: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::link_key(link_id)))
            .condition_expression("holder = :me")
            .expression_attribute_values(":me", s(holder))
            .send()
            .await;
        conditional(result)?;
        Ok(())
    }
}

#[async_trait]
impl ConnectionStore for DynamoStore {
    async fn revoke(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
        ending: Ending,
        issued_at: OffsetDateTime,
    ) -> Result<Revocation, StoreError> {
        let issued = millis(issued_at);
        // Delete only a connection consented to before the revocation was issued (items
        // from before `consented_at` existed count as older).
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::connection_key(provider, user_id)))
            .condition_expression(
                "attribute_exists(pk) AND \
                 (attribute_not_exists(consented_at) OR consented_at <= :issued)",
            )
            .expression_attribute_values(":issued", n(issued))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let Some(removed) = conditional(result)? else {
            let exists = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(Self::connection_key(provider, user_id)))
                .consistent_read(true)
                .send()
                .await
                .map_err(unavailable)?
                .item
                .is_some();
            return Ok(if exists {
                Revocation::Stale
            } else {
                Revocation::NotConnected
            });
        };
        let old = removed.attributes.unwrap_or_default();
        let revoked_at = self.clock.now();
        let mut tombstone = Self::connection_key(provider, user_id);
        tombstone.insert("sk".into(), s(REVOKED_SK));
        tombstone.insert("reason".into(), s(ending.to_string()));
        match ending {
            Ending::Disconnected => tombstone.insert("ending".into(), s("disconnected")),
            Ending::Migrated { to } => {
                tombstone.insert("migrated_to".into(), s(to.as_str()));
                tombstone.insert("ending".into(), s("migrated"))
            }
        };
        tombstone.insert("revoked_at".into(), n(millis(revoked_at)));
        tombstone.insert(
            "flag_pending".into(),
            AttributeValue::Bool(ending == Ending::Disconnected),
        );
        for name in ["contact_origin", "contact_id", "customer_ref"] {
            if let Some(v) = old.get(name) {
                tombstone.insert(name.into(), v.clone());
            }
        }
        // The connection is gone first (no further work finds the person); a crash before
        // this put loses only the tombstone and its flag, never a token.
        self.put(tombstone.clone()).await?;
        Ok(Revocation::Revoked(tombstone_from_item(&tombstone)?))
    }

    async fn tombstone(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
    ) -> Result<Option<Tombstone>, StoreError> {
        let mut key = Self::connection_key(provider, user_id);
        key.insert("sk".into(), s(REVOKED_SK));
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        // TTL deletes lazily: an expired tombstone counts as gone.
        let now = self.clock.now().unix_timestamp();
        out.item
            .filter(|item| get_n(item, "ttl").map_or(true, |ttl| ttl > now))
            .as_ref()
            .map(tombstone_from_item)
            .transpose()
    }

    async fn forget(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
        at: OffsetDateTime,
    ) -> Result<Option<Tombstone>, StoreError> {
        let mut key = Self::connection_key(provider, user_id);
        key.insert("sk".into(), s(REVOKED_SK));
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            // A time already set is the earlier one: it stays.
            .update_expression("SET #ttl = if_not_exists(#ttl, :at)")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(ending) OR ending = :disconnected) \
                 AND (attribute_not_exists(#ttl) OR #ttl > :now)",
            )
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":at", n(at.unix_timestamp()))
            .expression_attribute_values(":disconnected", s("disconnected"))
            .expression_attribute_values(":now", n(self.clock.now().unix_timestamp()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match conditional(result)? {
            Some(out) => Ok(Some(tombstone_from_item(
                &out.attributes.unwrap_or_default(),
            )?)),
            None => Ok(None),
        }
    }

    async fn mark_flagged(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
        revoked_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut key = Self::connection_key(provider, user_id);
        key.insert("sk".into(), s(REVOKED_SK));
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression("SET flag_pending = :no")
            // A newer revocation's flag is its own business.
            .condition_expression("revoked_at = :at")
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .expression_attribute_values(":at", n(millis(revoked_at)))
            .send()
            .await;
        conditional(result)?;
        Ok(())
    }

    async fn save_connected(&self, c: &Connection) -> Result<u64, StoreError> {
        let now = self.clock.now().unix_timestamp();
        let mut set = vec![
            "provider = :provider",
            "user_id = :user_id",
            "access_token = :access_token",
            "refresh_token = :refresh_token",
            "access_expires_at = :expires",
            "scopes = :scopes",
            "#status = :status",
            "contact_origin = :contact_origin",
            "contact_id = :contact_id",
            "subscriptions = if_not_exists(subscriptions, :no_subscriptions)",
            "version = if_not_exists(version, :zero) + :one",
            "connected_at = if_not_exists(connected_at, :now)",
            "updated_at = :now",
            "consented_at = :consented",
        ];
        let mut values: Item = HashMap::from([
            (":provider".into(), s(c.provider.as_str())),
            (":user_id".into(), s(&c.user_id.0)),
            (":access_token".into(), s(c.tokens.access_token.expose())),
            (":refresh_token".into(), s(c.tokens.refresh_token.expose())),
            (":expires".into(), n(c.tokens.expires_at.unix_timestamp())),
            (":scopes".into(), s(c.tokens.scopes.to_space_separated())),
            (":status".into(), s(c.status.as_str())),
            (":contact_origin".into(), s(&c.contact.origin)),
            (":contact_id".into(), s(&c.contact.id)),
            (":no_subscriptions".into(), AttributeValue::L(vec![])),
            (":zero".into(), n(0)),
            (":one".into(), n(1)),
            (":now".into(), n(now)),
            (":consented".into(), n(millis(self.clock.now()))),
        ]);
        // A reconnect through a plain link keeps the customer id an earlier signed link
        // verified; a new signed link replaces it.
        if let Some(r) = &c.customer_ref {
            set.push("customer_ref = :customer_ref");
            values.insert(":customer_ref".into(), s(r));
        }
        // `status` and `timezone` are DynamoDB reserved words.
        let mut names = HashMap::from([("#status".to_owned(), "status".to_owned())]);
        if let Some(tz) = &c.timezone {
            names.insert("#timezone".into(), "timezone".into());
            set.push("#timezone = :timezone");
            values.insert(":timezone".into(), s(tz));
        }
        // In the directory exactly while active (module docs). Its key is the item's own
        // `pk`: one index partition key per person, so the index spreads like the table.
        let key = Self::connection_key(c.provider, &c.user_id);
        let leave_directory = if c.status == ConnectionStatus::Active {
            set.push("directory_key = :directory_key");
            values.insert(":directory_key".into(), key["pk"].clone());
            ""
        } else {
            " REMOVE directory_key"
        };
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(format!("SET {}{leave_directory}", set.join(", ")))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(unavailable)?;
        let attributes = out.attributes.unwrap_or_default();
        Ok(get_n(&attributes, "version")? as u64)
    }

    async fn replace_tokens_if_connected(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
        tokens: &TokenSet,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::connection_key(provider, user_id)))
            .update_expression(
                "SET access_token = :a, refresh_token = :r, access_expires_at = :e, \
                 scopes = :s, version = version + :one, updated_at = :now",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":a", s(tokens.access_token.expose()))
            .expression_attribute_values(":r", s(tokens.refresh_token.expose()))
            .expression_attribute_values(":e", n(tokens.expires_at.unix_timestamp()))
            .expression_attribute_values(":s", s(tokens.scopes.to_space_separated()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(self.clock.now().unix_timestamp()))
            .send()
            .await;
        Ok(conditional(result)?.is_some())
    }

    async fn set_subscriptions(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
        subscriptions: &[Collection],
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::connection_key(provider, user_id)))
            .update_expression("SET subscriptions = :subs")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":subs", subscriptions_value(subscriptions))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
    ) -> Result<Option<Connection>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::connection_key(provider, user_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item.as_ref().map(connection_from_item).transpose()
    }
}

#[async_trait]
impl TokenStore for DynamoStore {
    async fn acquire_refresh_lease(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::connection_key(provider, user_id)))
            .update_expression("SET lease_owner = :owner, lease_until = :until")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(lease_until) OR lease_until < :now)",
            )
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(until.unix_timestamp()))
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .send()
            .await;
        Ok(conditional(result)?.is_some())
    }

    async fn store_rotated_tokens(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
        tokens: &TokenSet,
        expected_version: u64,
        owner: &str,
    ) -> Result<Option<u64>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::connection_key(provider, user_id)))
            .update_expression(
                "SET access_token = :a, refresh_token = :r, access_expires_at = :e, scopes = :s, \
                 version = version + :one, updated_at = :now REMOVE lease_owner, lease_until",
            )
            .condition_expression("version = :expected AND lease_owner = :owner")
            .expression_attribute_values(":a", s(tokens.access_token.expose()))
            .expression_attribute_values(":r", s(tokens.refresh_token.expose()))
            .expression_attribute_values(":e", n(tokens.expires_at.unix_timestamp()))
            .expression_attribute_values(":s", s(tokens.scopes.to_space_separated()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expected", n(expected_version as i64))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":now", n(self.clock.now().unix_timestamp()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        conditional(result)?
            .map(|out| Ok(get_n(&out.attributes.unwrap_or_default(), "version")? as u64))
            .transpose()
    }

    async fn release_refresh_lease(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
        owner: &str,
    ) -> Result<(), StoreError> {
        self.release_hold(
            Self::connection_key(provider, user_id),
            ["lease_owner", "lease_until"],
            owner,
        )
        .await
    }

    async fn set_status(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
        status: ConnectionStatus,
    ) -> Result<(), StoreError> {
        let key = Self::connection_key(provider, user_id);
        // In the directory exactly while active (module docs).
        let (update, directory_key) = if status == ConnectionStatus::Active {
            (
                "SET #status = :status, updated_at = :now, directory_key = :directory_key",
                Some(key["pk"].clone()),
            )
        } else {
            (
                "SET #status = :status, updated_at = :now REMOVE directory_key",
                None,
            )
        };
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(update)
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":now", n(self.clock.now().unix_timestamp()));
        if let Some(directory_key) = directory_key {
            request = request.expression_attribute_values(":directory_key", directory_key);
        }
        request.send().await.map_err(unavailable)?;
        Ok(())
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
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::import_key(contact, day)))
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
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::import_key(contact, day)))
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
        use futures_util::{StreamExt, TryStreamExt};
        let pk = Self::import_key(contact, "")["pk"].clone();
        let mut newly = 0;
        let mut start = None;
        loop {
            // Only entries not yet set to expire: a retry after a timeout goes on where
            // the last attempt stopped.
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .filter_expression("attribute_not_exists(#ttl)")
                .projection_expression("pk, sk")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":pk", pk.clone())
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            let keys = out.items.unwrap_or_default();
            newly += futures_util::stream::iter(keys)
                .map(|key| {
                    let update = self
                        .client
                        .update_item()
                        .table_name(&self.table)
                        .set_key(Some(key))
                        .update_expression("SET #ttl = :at")
                        // Never recreate an entry deleted meanwhile.
                        .condition_expression("attribute_exists(pk)")
                        .expression_attribute_names("#ttl", "ttl")
                        .expression_attribute_values(":at", n(at.unix_timestamp()));
                    async move { conditional(update.send().await) }
                })
                .buffer_unordered(LEDGER_EXPIRY_CONCURRENCY)
                .try_fold(0, |count, updated| async move {
                    Ok(count + usize::from(updated.is_some()))
                })
                .await?;
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(newly);
            }
        }
    }

    async fn latest(&self, contact: &ContactKey) -> Result<Option<LatestImport>, StoreError> {
        // A contact's entries sort by day (`<contact>-<date>-<metric>`): the last is the
        // newest day, read alone.
        let out = self
            .client
            .query()
            .table_name(&self.table)
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

impl DynamoStore {
    fn parked_pk(provider: ProviderKind, user_id: &ProviderUserId) -> String {
        format!("PARKED#{provider}#{user_id}")
    }
}

#[async_trait]
impl ParkedWork for DynamoStore {
    async fn parked(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
    ) -> Result<Vec<(String, WorkItem)>, StoreError> {
        let now = self.clock.now().unix_timestamp();
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(Self::parked_pk(provider, user_id)))
            .consistent_read(true);
        let mut found = Vec::new();
        for item in all_items(query).await? {
            // TTL deletes lazily: an expired item counts as gone.
            if get_n(&item, "ttl").is_ok_and(|ttl| ttl < now) {
                continue;
            }
            let work = serde_json::from_str(get_s(&item, "work")?)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            found.push((get_s(&item, "sk")?.to_owned(), work));
        }
        Ok(found)
    }

    async fn unpark(
        &self,
        provider: ProviderKind,
        user_id: &ProviderUserId,
        ids: &[String],
    ) -> Result<(), StoreError> {
        for id in ids {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(Self::parked_pk(provider, user_id)))
                .key("sk", s(id))
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    async fn park(&self, item: &WorkItem, reason: &str) -> Result<(), StoreError> {
        let body = serde_json::to_string(item).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let now = self.clock.now().unix_timestamp();
        let mut record: Item = HashMap::from([
            (
                "pk".to_owned(),
                s(Self::parked_pk(item.provider, &item.user_id)),
            ),
            ("sk".to_owned(), s(hex_sha256(body.as_bytes()))),
        ]);
        record.insert("work".into(), s(body));
        record.insert("reason".into(), s(reason));
        record.insert("parked_at".into(), n(now));
        record.insert("ttl".into(), n(now + PARKED_RETENTION_SECS));
        self.put(record).await
    }
}

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
            .client
            .scan()
            .table_name(&self.table)
            .index_name(DIRECTORY_INDEX)
            .segment(segment as i32)
            .total_segments(total_segments as i32)
            .set_limit(self.scan_limit)
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
                .client
                .scan()
                .table_name(&self.table)
                .set_limit(self.scan_limit)
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

fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn from_millis(ms: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn tombstone_from_item(item: &Item) -> Result<Tombstone, StoreError> {
    Ok(Tombstone {
        contact: ContactKey {
            origin: get_s(item, "contact_origin")?.to_owned(),
            id: get_s(item, "contact_id")?.to_owned(),
        },
        ending: match opt_s(item, "ending").as_deref() {
            Some("migrated") => Ending::Migrated {
                to: get_s(item, "migrated_to")?
                    .parse()
                    .map_err(|_| StoreError::Corrupt("tombstone: unknown provider".into()))?,
            },
            _ => Ending::Disconnected,
        },
        revoked_at: from_millis(get_n(item, "revoked_at")?)?,
        flag_pending: item
            .get("flag_pending")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        forget_at: get_n(item, "ttl").ok().map(timestamp).transpose()?,
    })
}

impl DynamoStore {
    fn fetch_key(key: &FetchKey) -> Item {
        HashMap::from([
            (
                "pk".to_owned(),
                s(format!("FETCH#{}#{}", key.provider, key.user_id)),
            ),
            (
                "sk".to_owned(),
                s(format!(
                    "{}#{}",
                    key.collection,
                    crate::domain::work::iso_date::format(key.date)
                )),
            ),
        ])
    }
}

#[async_trait]
impl FetchLog for DynamoStore {
    async fn begin(
        &self,
        key: &FetchKey,
        sent_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<FetchClaim, StoreError> {
        let (sent, now_ms) = (millis(sent_at), millis(now));
        // Proceed unless a fetch that started after `sent` answers it — one begun for
        // another notification (`started_for`), or one that completed under the log's
        // earlier form (`completed_since`, which expires with its item).
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::fetch_key(key)))
            .update_expression("SET started = :now, started_for = :sent, #ttl = :ttl")
            .condition_expression(
                "(attribute_not_exists(completed_since) OR completed_since < :sent) AND \
                 (attribute_not_exists(started) OR started < :sent OR started_for = :sent)",
            )
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":sent", n(sent))
            .expression_attribute_values(":ttl", n(now.unix_timestamp() + FETCH_LOG_RETENTION_SECS))
            .send()
            .await;
        Ok(match conditional(result)? {
            Some(_) => FetchClaim::Proceed(now_ms.to_string()),
            None => FetchClaim::AlreadyFetched,
        })
    }

    async fn abandon(&self, key: &FetchKey, token: &str) -> Result<(), StoreError> {
        let started: i64 = token
            .parse()
            .map_err(|_| StoreError::Corrupt("fetch token".into()))?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::fetch_key(key)))
            .update_expression("REMOVE started, started_for")
            // A later fetch replaced this one: it stands.
            .condition_expression("started = :started")
            .expression_attribute_values(":started", n(started))
            .send()
            .await;
        conditional(result)?;
        Ok(())
    }
}
