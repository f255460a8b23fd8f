//! The partner's registration of a person: `POST /v3/users` with our own member id before
//! any data call, `GET /v3/users/{user-id}` for who they are, `DELETE /v3/users/{user-id}`
//! when they leave (which also revokes their token).
//!
//! The member id is derived, not stored: HMAC-SHA256 of the Polar user id keyed by the
//! client id, 32 hex characters. It is opaque (it names no customer and no contact, and
//! tells Polar nothing it does not know), stable for the client application (a reconnect
//! registers the same member, or gets 409 "already registered"), and different between
//! client applications (a staging client and production do not share member ids).

use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use sha2::Sha256;

use super::api::read_json;
use super::model::User;
use super::PolarClient;
use crate::domain::{ProviderUserId, Secret};
use crate::ports::provider::ProviderError;

/// The member id we register a Polar user with.
pub fn member_id(client_id: &str, user_id: &ProviderUserId) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(client_id.as_bytes()).expect("HMAC takes any key length");
    mac.update(b"fitbridge member id\0");
    mac.update(user_id.0.as_bytes());
    mac.finalize().into_bytes()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a registration found.
pub(super) enum Registration {
    /// Registered now: the person as Polar knows them.
    New(User),
    /// 409: registered before (a reconnect), or the member id is somebody else's.
    Existing,
}

impl PolarClient {
    /// `POST /v3/users` with the person's member id.
    pub(super) async fn register(
        &self,
        access_token: &Secret,
        member_id: &str,
    ) -> Result<Registration, ProviderError> {
        let request = self
            .http
            .post(self.endpoint("users"))
            .bearer_auth(access_token.expose())
            .header("Accept", "application/json")
            .json(&serde_json::json!({ "member-id": member_id }));
        let response = self.call(request, &[StatusCode::CONFLICT]).await?;
        match response.status() {
            StatusCode::CONFLICT => Ok(Registration::Existing),
            // "No content when user with given userId is not found": not for a token's
            // own person; read them instead.
            StatusCode::NO_CONTENT => Ok(Registration::Existing),
            _ => Ok(Registration::New(read_json(response, "user").await?)),
        }
    }

    /// `GET /v3/users/{user-id}`; `None` when the person is not registered (204).
    pub(super) async fn registered_user(
        &self,
        access_token: &Secret,
        user_id: &ProviderUserId,
    ) -> Result<Option<User>, ProviderError> {
        let request = self
            .http
            .get(self.endpoint(&format!("users/{}", user_id.0)))
            .bearer_auth(access_token.expose())
            .header("Accept", "application/json");
        let response = self.call(request, &[]).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        Ok(Some(read_json(response, "user").await?))
    }

    /// Registers the person (a repeat answers 409, which is fine) and reads who they are.
    pub(super) async fn ensure_registered(
        &self,
        access_token: &Secret,
        user_id: &ProviderUserId,
    ) -> Result<User, ProviderError> {
        let credentials = self.credentials().await?;
        let member = member_id(&credentials.client_id, user_id);
        match self.register(access_token, &member).await? {
            Registration::New(user) => Ok(user),
            Registration::Existing => self
                .registered_user(access_token, user_id)
                .await?
                // 409, yet not registered: another person holds the member id.
                .ok_or_else(|| ProviderError::Rejected {
                    status: 409,
                    error_type: "member id registered to another person".into(),
                }),
        }
    }

    /// `DELETE /v3/users/{user-id}`: the person is no longer the partner's, and their token
    /// is revoked. 204, and 404 (not registered), are both done.
    pub(super) async fn deregister(
        &self,
        access_token: &Secret,
        user_id: &ProviderUserId,
    ) -> Result<(), ProviderError> {
        let request = self
            .http
            .delete(self.endpoint(&format!("users/{}", user_id.0)))
            .bearer_auth(access_token.expose());
        self.call(request, &[StatusCode::NOT_FOUND]).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_ids_are_opaque_stable_and_per_client() {
        let user = ProviderUserId("2278517".into());
        let id = member_id("client-a", &user);
        assert_eq!(id.len(), 32);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert!(!id.contains("2278517"));
        assert_eq!(id, member_id("client-a", &user), "stable");
        assert_ne!(id, member_id("client-b", &user), "per client application");
        assert_ne!(id, member_id("client-a", &ProviderUserId("2278518".into())));
    }
}
