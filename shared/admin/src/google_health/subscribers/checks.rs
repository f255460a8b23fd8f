//! What Google would refuse for its shape, refused here first, with the rule in the
//! message: nothing reaches Google with an input it cannot take.

use url::Url;

use super::SubscriberError;
use fitbridge::domain::Secret;

/// The whole `Authorization` value, scheme included: `<scheme> <credentials>`, one
/// header line.
pub fn check_authorization(authorization: &Secret) -> Result<(), SubscriberError> {
    let value = authorization.expose();
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    let well_formed = match value.split_once(' ') {
        Some((scheme, credentials)) => {
            !scheme.is_empty()
                && scheme.chars().all(is_token_char)
                && !credentials.trim().is_empty()
        }
        None => false,
    };
    if !well_formed {
        return Err(SubscriberError::InvalidArgument(
            "the endpoint authorization must be the whole Authorization header value, scheme \
             included (e.g. \"Bearer <token>\"): Google sends it verbatim"
                .into(),
        ));
    }
    if value.chars().any(|c| c.is_ascii_control()) {
        return Err(SubscriberError::InvalidArgument(
            "the endpoint authorization must be one line without control characters".into(),
        ));
    }
    Ok(())
}

/// `[a-z]([a-z0-9-]{2,34}[a-z0-9])`, as the discovery document says.
pub fn check_subscriber_id(id: &str) -> Result<(), SubscriberError> {
    let bytes = id.as_bytes();
    let valid = (4..=36).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes[1..]
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[bytes.len() - 1] != b'-';
    if valid {
        Ok(())
    } else {
        Err(SubscriberError::InvalidArgument(format!(
            "subscriber id {id:?} must be 4-36 characters: a lowercase letter, then lowercase \
             letters, digits or hyphens, not ending in a hyphen"
        )))
    }
}

/// A project id (`my-project`, or the legacy `example.com:my-project`) or number.
pub(super) fn check_project(project: &str) -> Result<(), SubscriberError> {
    let valid = !project.is_empty()
        && project
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.:".contains(c));
    if valid {
        Ok(())
    } else {
        Err(SubscriberError::InvalidArgument(format!(
            "project {project:?} is not a project id or number"
        )))
    }
}

pub fn check_endpoint_uri(uri: &str) -> Result<(), SubscriberError> {
    match Url::parse(uri) {
        Ok(url) if matches!(url.scheme(), "https" | "http") && url.host().is_some() => Ok(()),
        _ => Err(SubscriberError::InvalidArgument(format!(
            "endpoint {uri:?} is not an absolute HTTPS URL (Google requires HTTPS)"
        ))),
    }
}

/// At least one type, each kebab-case (`total-calories`), none twice.
pub fn check_data_types(data_types: &[String]) -> Result<(), SubscriberError> {
    if data_types.is_empty() {
        return Err(SubscriberError::InvalidArgument(
            "at least one data type is needed".into(),
        ));
    }
    for (i, data_type) in data_types.iter().enumerate() {
        let kebab = !data_type.is_empty()
            && data_type.as_bytes()[0].is_ascii_lowercase()
            && data_type
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !kebab {
            return Err(SubscriberError::InvalidArgument(format!(
                "data type {data_type:?} is not a kebab-case id such as total-calories"
            )));
        }
        if data_types[..i].contains(data_type) {
            return Err(SubscriberError::InvalidArgument(format!(
                "data type {data_type:?} is given twice"
            )));
        }
    }
    Ok(())
}
