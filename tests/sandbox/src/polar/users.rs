//! `POST /v3/users`, `GET /v3/users/{user-id}` and `DELETE /v3/users/{user-id}`: the
//! partner's registration of the person the token speaks for.
//!
//! Invariants: a person is registered to the partner at most once, and a `member-id` names at
//! most one registered person (409 otherwise); de-registration ends the registration and
//! revokes the person's tokens; only the token's own person can be read or de-registered.

use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use time::macros::format_description;
use time::OffsetDateTime;

use super::api::{empty, ok_json};
use super::error::ApiError;
use super::wire::UserInfo;
use super::{PolarUser, Registration, State};
use crate::counters;

/// The `register` schema, in JSON.
#[derive(Deserialize)]
struct Register {
    #[serde(rename = "member-id")]
    member_id: String,
}

/// The `member-id` of a registration body: JSON, or the page's XML
/// (`<register><member-id>…</member-id></register>`), whatever the `Content-Type` says (the
/// page's own examples send JSON as `application/xml`).
fn member_id(body: &[u8]) -> Result<String, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("Registration body is not UTF-8"))?
        .trim();
    let member_id = if text.starts_with('<') {
        let doc = roxmltree::Document::parse(text)
            .map_err(|e| ApiError::bad_request(format!("Malformed XML: {e}")))?;
        let root = doc.root_element();
        if root.tag_name().name() != "register" {
            return Err(ApiError::bad_request("Expected a <register> element"));
        }
        root.children()
            .find(|n| n.has_tag_name("member-id"))
            .and_then(|n| n.text())
            .unwrap_or_default()
            .trim()
            .to_owned()
    } else {
        serde_json::from_str::<Register>(text)
            .map_err(|e| ApiError::bad_request(format!("Malformed registration: {e}")))?
            .member_id
    };
    if member_id.is_empty() {
        return Err(ApiError::bad_request("member-id is required"));
    }
    Ok(member_id)
}

/// The `user` schema for a registered person.
pub(super) fn user_info(user: &PolarUser, registration: &Registration) -> UserInfo {
    UserInfo {
        polar_user_id: user.numeric_id(),
        member_id: registration.member_id.clone(),
        registration_date: registration
            .registered_at
            .to_offset(time::UtcOffset::UTC)
            .format(format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            ))
            .expect("formattable timestamp"),
        first_name: user.first_name.clone(),
        last_name: user.last_name.clone(),
        birthdate: user.birthdate.clone(),
        gender: user.gender.clone(),
        weight: user.weight_kg,
        height: user.height_cm,
        extra_info: None,
    }
}

pub(super) fn register(
    st: &mut State,
    user: &PolarUser,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<Response, ApiError> {
    let member_id = member_id(body)?;
    if user.registration.is_some() {
        return Err(ApiError::conflict("User already registered to partner"));
    }
    let taken = st.users.values().any(|other| {
        other
            .registration
            .as_ref()
            .is_some_and(|r| r.member_id == member_id)
    });
    if taken {
        return Err(ApiError::conflict("Duplicated member-id"));
    }
    let registration = Registration::new(&member_id, now);
    let info = user_info(user, &registration);
    if let Some(stored) = st.users.get_mut(&user.polar_user_id) {
        stored.registration = Some(registration);
    }
    counters::bump(&mut st.stats.registrations, &user.polar_user_id);
    tracing::debug!(polar_user_id = %user.polar_user_id, "polar sandbox: user registered");
    Ok(ok_json(info))
}

fn own_id(user: &PolarUser, user_id: &str) -> Result<(), ApiError> {
    if user_id == user.polar_user_id {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "Forbidden",
            "The user-id is not the access token's user",
        ))
    }
}

/// 200 with the user, or 204 when the person is not registered to the partner.
pub(super) fn get(user: &PolarUser, user_id: &str) -> Result<Response, ApiError> {
    own_id(user, user_id)?;
    Ok(match &user.registration {
        Some(registration) => ok_json(user_info(user, registration)),
        None => empty(StatusCode::NO_CONTENT),
    })
}

/// De-registers the person and revokes their tokens: 204.
pub(super) fn delete(
    st: &mut State,
    user: &PolarUser,
    user_id: &str,
) -> Result<Response, ApiError> {
    own_id(user, user_id)?;
    if let Some(stored) = st.users.get_mut(user_id) {
        stored.registration = None;
    }
    st.revoke_user(user_id);
    counters::bump(&mut st.stats.deregistrations, user_id);
    tracing::debug!(polar_user_id = %user_id, "polar sandbox: user de-registered");
    Ok(empty(StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_bodies_are_json_or_xml() {
        assert_eq!(
            member_id(br#"{ "member-id" :  "User_id_999" }"#).unwrap(),
            "User_id_999"
        );
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<register>\n  <member-id> User_id_999</member-id>\n</register>";
        assert_eq!(member_id(xml.as_bytes()).unwrap(), "User_id_999");
        for bad in [&b"{}"[..], b"<user/>", b"{\"member-id\":\"\"}", b"not json"] {
            assert_eq!(member_id(bad).unwrap_err().status, StatusCode::BAD_REQUEST);
        }
    }
}
