//! Connections and their tombstones: [`ConnectionStore`].

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use time::OffsetDateTime;

use super::codec::*;
use super::keys::*;
use super::DynamoStore;
use crate::domain::PersonKey;
use crate::domain::{Collection, Connection, ConnectionStatus, TokenSet};
use crate::ports::store::{ConnectionStore, Ending, Erased, Revocation, StoreError, Tombstone};

#[async_trait]
impl ConnectionStore for DynamoStore {
    async fn revoke(
        &self,
        person: &PersonKey,
        ending: Ending,
        issued_at: OffsetDateTime,
    ) -> Result<Revocation, StoreError> {
        let issued = millis(issued_at);
        // Delete only a connection consented to before the revocation was issued (items
        // from before `consented_at` existed count as older).
        let result = self
            .delete(Self::connection_key(person))
            .condition_expression(
                "attribute_exists(pk) AND \
                 (attribute_not_exists(consented_at) OR consented_at <= :issued)",
            )
            .expression_attribute_values(":issued", n(issued))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let Some(removed) = conditional(result)? else {
            let exists = self.read(Self::connection_key(person)).await?.is_some();
            return Ok(if exists {
                Revocation::Stale
            } else {
                Revocation::NotConnected
            });
        };
        let old = removed.attributes.unwrap_or_default();
        let revoked_at = self.clock.now();
        let mut tombstone = Self::connection_key(person);
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

    async fn tombstone(&self, person: &PersonKey) -> Result<Option<Tombstone>, StoreError> {
        let mut key = Self::connection_key(person);
        key.insert("sk".into(), s(REVOKED_SK));
        let out = self.read(key).await?;
        // TTL deletes lazily: an expired tombstone counts as gone.
        let now = self.clock.now().unix_timestamp();
        out.filter(|item| get_n(item, "ttl").map_or(true, |ttl| ttl > now))
            .as_ref()
            .map(tombstone_from_item)
            .transpose()
    }

    async fn forget(
        &self,
        person: &PersonKey,
        at: OffsetDateTime,
    ) -> Result<Option<Tombstone>, StoreError> {
        let mut key = Self::connection_key(person);
        key.insert("sk".into(), s(REVOKED_SK));
        let result = self
            .update(key)
            .update_expression("SET #ttl = :at")
            // Not a migration's, not expired, and not set to expire by `at` already.
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(ending) OR ending = :disconnected) \
                 AND (attribute_not_exists(#ttl) OR (#ttl > :at AND #ttl > :now))",
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
            // No tombstone, a migration's, an expired one — or one that expires by `at`
            // already, which stands as it is.
            None => Ok(self
                .tombstone(person)
                .await?
                .filter(|t| t.ending == Ending::Disconnected && t.forget_at.is_some())),
        }
    }

    async fn erase(&self, person: &PersonKey) -> Result<Erased, StoreError> {
        let connection = Self::connection_key(person);
        let mut tombstone = connection.clone();
        tombstone.insert("sk".into(), s(REVOKED_SK));
        // The connection first: no further work finds the person.
        let mut existed = [false; 2];
        for (i, key) in [connection, tombstone].into_iter().enumerate() {
            let out = self
                .delete(key)
                .return_values(ReturnValue::AllOld)
                .send()
                .await
                .map_err(unavailable)?;
            existed[i] = out.attributes.is_some_and(|old| !old.is_empty());
        }
        Ok(Erased {
            connection: existed[0],
            tombstone: existed[1],
        })
    }

    async fn mark_flagged(
        &self,
        person: &PersonKey,
        revoked_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut key = Self::connection_key(person);
        key.insert("sk".into(), s(REVOKED_SK));
        let result = self
            .update(key)
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
        let pk = Self::pk_of(&c.person());
        let (access, refresh, token_key) = self.stored_pair(&pk, &c.tokens).await?;
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
            (":access_token".into(), s(access)),
            (":refresh_token".into(), s(refresh)),
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
        if let Some(token_key) = token_key {
            set.push("token_key = :token_key");
            values.insert(":token_key".into(), s(token_key));
        }
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
        let key = Self::connection_key(&c.person());
        let leave_directory = if c.status == ConnectionStatus::Active {
            set.push("directory_key = :directory_key");
            values.insert(":directory_key".into(), key["pk"].clone());
            ""
        } else {
            " REMOVE directory_key"
        };
        let out = self
            .update(key)
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
        person: &PersonKey,
        tokens: &TokenSet,
    ) -> Result<bool, StoreError> {
        let result = self
            .token_update(person, tokens, "")
            .await?
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        Ok(conditional(result)?.is_some())
    }

    async fn set_subscriptions(
        &self,
        person: &PersonKey,
        subscriptions: &[Collection],
    ) -> Result<(), StoreError> {
        self.update(Self::connection_key(person))
            .update_expression("SET subscriptions = :subs")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":subs", subscriptions_value(subscriptions))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get(&self, person: &PersonKey) -> Result<Option<Connection>, StoreError> {
        match self.read(Self::connection_key(person)).await? {
            Some(item) => Ok(Some(self.connection_of(&item).await?)),
            None => Ok(None),
        }
    }
}
