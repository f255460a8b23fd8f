//! A notification body as providers with JSON webhooks post it: a JSON array of entries,
//! or a single object (some document one shape and send the other). What an entry means
//! stays in the provider's folder.

use serde_json::Value;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("notification body is not a JSON array or object")]
pub struct MalformedBody;

/// The body's entries: an array's elements, or the one object. Anything else (not JSON, a
/// number, a string) is malformed.
pub fn entries(body: &[u8]) -> Result<Vec<Value>, MalformedBody> {
    match serde_json::from_slice(body).map_err(|_| MalformedBody)? {
        Value::Array(entries) => Ok(entries),
        object @ Value::Object(_) => Ok(vec![object]),
        _ => Err(MalformedBody),
    }
}
