//! The refresh lease and token rotation: [`TokenStore`].

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::ReturnValue;
use time::OffsetDateTime;

use super::codec::*;
use super::DynamoStore;
use crate::domain::PersonKey;
use crate::domain::{ConnectionStatus, TokenSet};
use crate::ports::store::{StoreError, TokenStore};

#[async_trait]
impl TokenStore for DynamoStore {
    async fn acquire_refresh_lease(
        &self,
        person: &PersonKey,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let result = self
            .update(Self::connection_key(person))
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
        person: &PersonKey,
        tokens: &TokenSet,
        expected_version: u64,
        owner: &str,
    ) -> Result<Option<u64>, StoreError> {
        let result = self
            .token_update(person, tokens, " REMOVE lease_owner, lease_until")
            .await?
            .condition_expression("version = :expected AND lease_owner = :owner")
            .expression_attribute_values(":expected", n(expected_version as i64))
            .expression_attribute_values(":owner", s(owner))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        conditional(result)?
            .map(|out| Ok(get_n(&out.attributes.unwrap_or_default(), "version")? as u64))
            .transpose()
    }

    async fn release_refresh_lease(
        &self,
        person: &PersonKey,
        owner: &str,
    ) -> Result<(), StoreError> {
        self.release_hold(
            Self::connection_key(person),
            ["lease_owner", "lease_until"],
            owner,
        )
        .await
    }

    async fn set_status(
        &self,
        person: &PersonKey,
        status: ConnectionStatus,
        if_version: Option<u64>,
    ) -> Result<bool, StoreError> {
        let key = Self::connection_key(person);
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
            .update(key)
            .update_expression(update)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":now", n(self.clock.now().unix_timestamp()));
        request = match if_version {
            Some(version) => request
                .condition_expression("attribute_exists(pk) AND version = :version")
                .expression_attribute_values(":version", n(version as i64)),
            None => request.condition_expression("attribute_exists(pk)"),
        };
        if let Some(directory_key) = directory_key {
            request = request.expression_attribute_values(":directory_key", directory_key);
        }
        Ok(conditional(request.send().await)?.is_some())
    }
}

impl DynamoStore {
    /// An update of the person's connection that writes `tokens` (sealed, when sealing is
    /// on), bumps the version and stamps the time; `tail` follows the `SET` clause (a
    /// `REMOVE`). The caller adds its condition.
    pub(super) async fn token_update(
        &self,
        person: &PersonKey,
        tokens: &TokenSet,
        tail: &str,
    ) -> Result<UpdateItemFluentBuilder, StoreError> {
        let (access, refresh, token_key) = self.stored_pair(&Self::pk_of(person), tokens).await?;
        let (set_key, key_value) = sealing_key(token_key);
        Ok(self
            .update(Self::connection_key(person))
            .update_expression(format!(
                "SET access_token = :a, refresh_token = :r, access_expires_at = :e, scopes = :s, \
                 version = version + :one, updated_at = :now{set_key}{tail}"
            ))
            .set_expression_attribute_values(Some(key_value))
            .expression_attribute_values(":a", s(access))
            .expression_attribute_values(":r", s(refresh))
            .expression_attribute_values(":e", n(tokens.expires_at.unix_timestamp()))
            .expression_attribute_values(":s", s(tokens.scopes.to_space_separated()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(self.clock.now().unix_timestamp())))
    }
}
