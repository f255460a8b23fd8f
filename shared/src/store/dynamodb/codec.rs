//! Items as DynamoDB holds them: attribute values and the domain's records, both ways, and
//! what a failed request means.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::domain::{
    Collection, Connection, ConnectionStatus, ContactKey, ProviderKind, ProviderUserId, Scopes,
    Secret, TokenSet,
};
use crate::ports::store::{Ending, StoreError, Tombstone};

/// One item of the table.
pub type Item = HashMap<String, AttributeValue>;

pub fn is_condition_failure<E, R>(e: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|se| se.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

/// A conditional write's result: `Some(output)` when it was written, `None` when its
/// condition did not hold; any other failure is an error.
pub fn conditional<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<Option<T>, StoreError>
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

pub fn hex_sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn unavailable<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(DisplayErrorContext(e).to_string())
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("attribute {name} missing")))
}

pub fn opt_s(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

pub fn get_n(item: &Item, name: &str) -> Result<i64, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("attribute {name} missing")))
}

pub fn timestamp(secs: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(secs).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub fn collection_from_str(s: &str) -> Option<Collection> {
    Collection::ALL.into_iter().find(|c| c.as_str() == s)
}

pub fn subscriptions_value(subscriptions: &[Collection]) -> AttributeValue {
    AttributeValue::L(subscriptions.iter().map(|c| s(c.as_str())).collect())
}

pub fn provider_of(item: &Item) -> Result<ProviderKind, StoreError> {
    get_s(item, "provider")?
        .parse::<ProviderKind>()
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub fn status_of(item: &Item) -> Result<ConnectionStatus, StoreError> {
    ConnectionStatus::parse(get_s(item, "status")?)
        .ok_or_else(|| StoreError::Corrupt("unknown status".into()))
}

pub fn contact_of(item: &Item) -> Result<ContactKey, StoreError> {
    Ok(ContactKey {
        origin: get_s(item, "contact_origin")?.to_owned(),
        id: get_s(item, "contact_id")?.to_owned(),
    })
}

pub fn connection_from_item(item: &Item) -> Result<Connection, StoreError> {
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

pub fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub fn from_millis(ms: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub fn tombstone_from_item(item: &Item) -> Result<Tombstone, StoreError> {
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

/// The `SET` clause and value of a sealed pair's data key: nothing for a pair written as it
/// is. (The values map seeds an update's attribute values; the rest are added after it.)
pub fn sealing_key(token_key: Option<String>) -> (&'static str, Item) {
    match token_key {
        Some(key) => (
            ", token_key = :token_key",
            HashMap::from([(":token_key".to_owned(), s(key))]),
        ),
        None => ("", HashMap::new()),
    }
}
