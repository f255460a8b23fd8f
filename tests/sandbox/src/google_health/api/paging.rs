//! Paging of list answers: page sizes, `nextPageToken`s and the fingerprint that ties a page
//! token to the request it came from.
//!
//! Invariants: a page token is only accepted by the request that produced it (same user,
//! data type, filter, range...); anything else is refused as Google refuses a foreign token.
//! Empty lists are left out of an answer, as proto3 JSON leaves them out.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::QueryParams;
use crate::google_health::error::ApiError;

pub(super) fn fingerprint(parts: &[&str]) -> String {
    let digest = Sha256::digest(parts.join("\u{1f}").as_bytes());
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn page_token(offset: usize, fingerprint: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{offset}|{fingerprint}"))
}

pub(super) fn page_offset(token: Option<&str>, fingerprint: &str) -> Result<usize, ApiError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Ok(0);
    };
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|text| {
            let (offset, fp) = text.split_once('|')?;
            (fp == fingerprint).then(|| offset.parse().ok())?
        })
        .ok_or_else(|| {
            ApiError::bad_request(
                "Invalid page token: it does not belong to this request.",
                Some("page_token"),
            )
        })
}

/// A data point read's `pageSize`: 0 or absent means `default`, more than `max` means `max`,
/// negative is refused.
pub(super) fn data_page_size(
    requested: Option<i64>,
    default: i64,
    max: i64,
) -> Result<usize, ApiError> {
    match requested {
        Some(n) if n < 0 => Err(ApiError::bad_request(
            "page_size must not be negative.",
            Some("page_size"),
        )),
        Some(0) | None => Ok(default as usize),
        Some(n) => Ok(n.min(max) as usize),
    }
}

/// One page of a list answer: the items under `field`, left out when there are none (as
/// proto3 JSON leaves out empty lists), and a `nextPageToken` while items follow.
pub(super) fn page_response(
    field: &str,
    page: Vec<Value>,
    next_offset: usize,
    total: usize,
    print: &str,
) -> serde_json::Map<String, Value> {
    let mut response = serde_json::Map::new();
    if !page.is_empty() {
        response.insert(field.to_owned(), json!(page));
    }
    if next_offset < total {
        response.insert(
            "nextPageToken".to_owned(),
            json!(page_token(next_offset, print)),
        );
    }
    response
}

/// A page of a subscriber or subscription list: `pageSize` 50 unless positive, at most 1000
/// (unlike data reads, a negative size is not refused).
pub(super) fn resource_page(
    field: &str,
    all: &[Value],
    query: &QueryParams<'_>,
    print: &str,
) -> Result<serde_json::Map<String, Value>, ApiError> {
    let page_size = match query.get("pageSize").and_then(|s| s.parse::<i64>().ok()) {
        Some(n) if n > 0 => n.min(1000) as usize,
        _ => 50,
    };
    let offset = page_offset(query.get("pageToken"), print)?;
    let page: Vec<Value> = all.iter().skip(offset).take(page_size).cloned().collect();
    Ok(page_response(
        field,
        page,
        offset + page_size,
        all.len(),
        print,
    ))
}
