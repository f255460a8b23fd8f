//! The OAuth states and used connect links of [`ConnectAttempts`].

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;
use time::OffsetDateTime;

use super::codec::*;
use super::keys::*;
use super::DynamoStore;
use crate::domain::link::VerifiedLink;
use crate::domain::Secret;
use crate::ports::store::{ConnectAttempts, PendingAuthorization, StateError, StoreError};

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
            if let Some(customer_ref) = &link.customer_ref {
                item.insert("customer_ref".into(), s(customer_ref));
            }
            if let Some(legacy) = &link.legacy_user_id {
                item.insert("link_legacy_user_id".into(), s(legacy));
            }
            item.insert("link_id".into(), s(&link.id));
            item.insert(
                "link_expires_at".into(),
                n(link.expires_at.unix_timestamp()),
            );
        }
        self.put_request(item)
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
            .update(key.clone())
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
                let existing = self.read(key).await?;
                return Err(match existing {
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
            link: match opt_s(&item, "link_id") {
                Some(id) => Some(VerifiedLink {
                    customer_ref: opt_s(&item, "customer_ref"),
                    legacy_user_id: opt_s(&item, "link_legacy_user_id"),
                    id,
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
        let out = self.read(Self::link_key(link_id)).await?;
        // TTL deletes lazily: an expired record counts as gone.
        Ok(out.is_some_and(|item| get_n(&item, "ttl").is_ok_and(|ttl| ttl > now.unix_timestamp())))
    }

    async fn use_link(&self, link: &VerifiedLink, holder: &str) -> Result<bool, StoreError> {
        let mut item = Self::link_key(&link.id);
        item.insert("holder".into(), s(holder));
        item.insert("ttl".into(), n(link.expires_at.unix_timestamp()));
        let result = self
            .put_request(item)
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
            .delete(Self::link_key(link_id))
            .condition_expression("holder = :me")
            .expression_attribute_values(":me", s(holder))
            .send()
            .await;
        conditional(result)?;
        Ok(())
    }
}
