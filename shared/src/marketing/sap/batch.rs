//! OData V2 `$batch` codec (multipart/mixed, CRLF).
//!
//! Every operation we send travels in a changeset of its own, or with the operations it
//! must not be separated from: a changeset is atomic, so one bad record fails only its
//! own changeset. The outer status (202) says nothing; each changeset's answer is checked.

use rand::RngCore;
use serde_json::Value;

use crate::ports::marketing::MarketingError;

/// One write inside a changeset.
#[derive(Clone, Debug)]
pub struct Operation {
    /// `PUT`, `POST`, `PATCH`, ...
    pub method: &'static str,
    /// Relative to the service root, e.g. `ContactOriginData(ContactOrigin='ORIGIN',ContactID='X')`.
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// The JSON payload; `Value::Null` for none (a `DELETE`).
    pub body: Value,
}

/// Operations that succeed or fail together.
#[derive(Clone, Debug, Default)]
pub struct Changeset(pub Vec<Operation>);

/// The answer to one operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationResponse {
    pub status: u16,
    pub body: String,
}

/// The answer to one changeset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangesetResult {
    /// Every operation succeeded; one response per operation, in order.
    Applied(Vec<OperationResponse>),
    /// Nothing in the changeset was applied; SAP answers the whole changeset with one error.
    Failed { status: u16, message: String },
}

/// A changeset's answer as the port's error, classified by remedy: SAP's 5xx is worth a
/// retry, any other failure rejects what we sent.
pub fn applied(result: Option<ChangesetResult>, what: &str) -> Result<(), MarketingError> {
    match result {
        Some(ChangesetResult::Applied(_)) => Ok(()),
        Some(ChangesetResult::Failed { status, message }) if status >= 500 => Err(
            MarketingError::Unavailable(format!("{what}: HTTP {status}: {message}")),
        ),
        Some(ChangesetResult::Failed { status, message }) => Err(MarketingError::Rejected(
            format!("{what}: HTTP {status}: {message}"),
        )),
        None => Err(MarketingError::Unavailable("empty $batch answer".into())),
    }
}

pub struct EncodedBatch {
    pub content_type: String,
    pub body: String,
}

fn boundary(prefix: &str) -> String {
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}_{hex}")
}

pub fn encode(changesets: &[Changeset]) -> EncodedBatch {
    let batch = boundary("batch");
    let mut body = String::new();
    for changeset in changesets {
        let cs = boundary("changeset");
        body.push_str(&format!(
            "--{batch}\r\nContent-Type: multipart/mixed; boundary={cs}\r\n\r\n"
        ));
        for (i, op) in changeset.0.iter().enumerate() {
            // A DELETE carries no body (`Value::Null`).
            let json = if op.body.is_null() {
                String::new()
            } else {
                op.body.to_string()
            };
            body.push_str(&format!(
                "--{cs}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {}\r\n\r\n",
                i + 1
            ));
            body.push_str(&format!("{} {} HTTP/1.1\r\n", op.method, op.path));
            if !json.is_empty() {
                body.push_str("Content-Type: application/json\r\n");
            }
            body.push_str("Accept: application/json\r\n");
            for (name, value) in &op.headers {
                body.push_str(&format!("{name}: {value}\r\n"));
            }
            body.push_str(&format!("Content-Length: {}\r\n\r\n{json}\r\n", json.len()));
        }
        body.push_str(&format!("--{cs}--\r\n"));
    }
    body.push_str(&format!("--{batch}--\r\n"));
    EncodedBatch {
        content_type: format!("multipart/mixed; boundary={batch}"),
        body,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("no multipart boundary in content type")]
    NoBoundary,
    #[error("malformed part: {0}")]
    Malformed(&'static str),
}

/// The `boundary` parameter of a multipart content type.
fn boundary_of(content_type: &str) -> Option<String> {
    content_type.split(';').map(str::trim).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// Splits a multipart body into its parts (each: header block and content). Tolerates
/// LF-only line endings, which some gateways produce.
fn split_parts<'a>(body: &'a str, boundary: &str) -> Vec<&'a str> {
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    for chunk in body.split(delimiter.as_str()).skip(1) {
        if chunk.starts_with("--") {
            break;
        }
        let chunk = chunk
            .strip_prefix("\r\n")
            .or(chunk.strip_prefix('\n'))
            .unwrap_or(chunk);
        let chunk = chunk
            .strip_suffix("\r\n")
            .or(chunk.strip_suffix('\n'))
            .unwrap_or(chunk);
        parts.push(chunk);
    }
    parts
}

/// Splits a header block from what follows the first blank line.
fn split_head(part: &str) -> (&str, &str) {
    if let Some(i) = part.find("\r\n\r\n") {
        (&part[..i], &part[i + 4..])
    } else if let Some(i) = part.find("\n\n") {
        (&part[..i], &part[i + 2..])
    } else {
        (part, "")
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// An embedded `application/http` response: status line, headers, body.
fn parse_http_response(part_content: &str) -> Result<OperationResponse, DecodeError> {
    let (head, body) = split_head(part_content);
    let status_line = head
        .lines()
        .next()
        .ok_or(DecodeError::Malformed("no status line"))?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(DecodeError::Malformed("bad status line"))?;
    Ok(OperationResponse {
        status,
        body: body.trim_end().to_owned(),
    })
}

pub fn decode(content_type: &str, body: &str) -> Result<Vec<ChangesetResult>, DecodeError> {
    let outer = boundary_of(content_type).ok_or(DecodeError::NoBoundary)?;
    let mut results = Vec::new();
    for part in split_parts(body, &outer) {
        let (head, content) = split_head(part);
        let part_type = header(head, "content-type").unwrap_or_default();
        if part_type
            .to_ascii_lowercase()
            .starts_with("multipart/mixed")
        {
            let inner = boundary_of(part_type).ok_or(DecodeError::NoBoundary)?;
            let responses = split_parts(content, &inner)
                .into_iter()
                .map(|p| parse_http_response(split_head(p).1))
                .collect::<Result<Vec<_>, _>>()?;
            // A changeset answered as multipart normally succeeded as a whole; check each
            // status anyway rather than trust the shape.
            match responses.iter().find(|r| !(200..300).contains(&r.status)) {
                Some(failed) => results.push(ChangesetResult::Failed {
                    status: failed.status,
                    message: error_message(&failed.body),
                }),
                None => results.push(ChangesetResult::Applied(responses)),
            }
        } else {
            let response = parse_http_response(content)?;
            if (200..300).contains(&response.status) {
                results.push(ChangesetResult::Applied(vec![response]));
            } else {
                results.push(ChangesetResult::Failed {
                    status: response.status,
                    message: error_message(&response.body),
                });
            }
        }
    }
    Ok(results)
}

/// What may be logged of an SAP OData error body: its codes, the properties it names and
/// the Gateway transaction id (for SAP's error log), never its message texts, which can
/// quote the personal data that was refused.
pub fn error_message(body: &str) -> String {
    // A code or a property name is a short identifier; anything longer is not one.
    fn identifier(v: &Value) -> Option<&str> {
        v.as_str().filter(|s| !s.is_empty() && s.len() <= 64)
    }
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return format!("no SAP error code ({} bytes, not JSON)", body.len());
    };
    let error = &v["error"];
    let inner = &error["innererror"];
    let details = inner["errordetails"].as_array().map(Vec::as_slice);
    let (mut codes, mut targets) = (Vec::new(), Vec::new());
    for e in std::iter::once(error).chain(details.unwrap_or_default()) {
        for (field, seen) in [("code", &mut codes), ("target", &mut targets)] {
            if let Some(v) = identifier(&e[field]).filter(|v| !seen.contains(v)) {
                seen.push(v);
            }
        }
    }
    let mut out = if codes.is_empty() {
        "no SAP error code".to_owned()
    } else {
        codes.join(" ")
    };
    if !targets.is_empty() {
        out.push_str(&format!(" (on {})", targets.join(", ")));
    }
    if let Some(id) = identifier(&inner["transactionid"]) {
        out.push_str(&format!(" [transaction {id}]"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_one_changeset_per_entry_with_crlf() {
        let op = Operation {
            method: "PUT",
            path: "ContactOriginData(ContactOrigin='ORIGIN',ContactID='A')".into(),
            headers: vec![("Sap-Cuan-SourceSystemType".into(), "EXT".into())],
            body: serde_json::json!({"ContactID": "A"}),
        };
        let e = encode(&[Changeset(vec![op.clone()]), Changeset(vec![op])]);
        let b = boundary_of(&e.content_type).unwrap();
        assert_eq!(split_parts(&e.body, &b).len(), 2);
        assert!(e
            .body
            .contains("PUT ContactOriginData(ContactOrigin='ORIGIN',ContactID='A') HTTP/1.1\r\n"));
        assert!(
            !e.body.replace("\r\n", "").contains('\n'),
            "bare LF in body"
        );
    }

    #[test]
    fn an_error_is_logged_by_its_codes_never_its_texts() {
        // SAP's texts can quote what was refused: an e-mail address, a name.
        let body = r#"{"error":{"code":"HPA_CONTACT/012","message":{"lang":"en",
            "value":"E-mail address ada@example.com is not valid"},
            "innererror":{"transactionid":"8D2A1E0C52E0F1B09A4F3D0A1F2C3B4D",
            "errordetails":[{"code":"HPA_CONTACT/012","message":"ada@example.com",
            "target":"EmailAddress"},{"code":"HPA_CONTACT/045","message":"Ada Lovelace",
            "target":"FullName"}]}}}"#;
        let logged = error_message(body);
        assert_eq!(
            logged,
            "HPA_CONTACT/012 HPA_CONTACT/045 (on EmailAddress, FullName) \
             [transaction 8D2A1E0C52E0F1B09A4F3D0A1F2C3B4D]"
        );
        // Not JSON (a proxy's page), or JSON without a code: its size, nothing of it.
        assert_eq!(
            error_message("<html>Ada Lovelace</html>"),
            "no SAP error code (25 bytes, not JSON)"
        );
        assert_eq!(
            error_message(r#"{"error":{"message":"ada@example.com"}}"#),
            "no SAP error code"
        );
    }

    #[test]
    fn decodes_applied_and_failed_changesets() {
        let body = "--batch_1\r\nContent-Type: multipart/mixed; boundary=changeset_a\r\n\r\n\
            --changeset_a\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
            HTTP/1.1 204 No Content\r\nDataServiceVersion: 1.0\r\n\r\n\r\n--changeset_a--\r\n\
            --batch_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
            HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n\
            {\"error\":{\"code\":\"/IWBEP/CM_MGW_RT/020\",\"message\":{\"lang\":\"en\",\"value\":\"Property 'Foo' is invalid\"}}}\r\n\
            --batch_1--\r\n";
        let r = decode("multipart/mixed; boundary=batch_1", body).unwrap();
        assert_eq!(r.len(), 2);
        assert!(matches!(&r[0], ChangesetResult::Applied(v) if v[0].status == 204));
        assert_eq!(
            r[1],
            ChangesetResult::Failed {
                status: 400,
                message: "/IWBEP/CM_MGW_RT/020".into()
            }
        );
    }

    #[test]
    fn decodes_lf_only_bodies() {
        let body = "--b\nContent-Type: application/http\n\nHTTP/1.1 201 Created\n\n{}\n--b--\n";
        let r = decode("multipart/mixed; boundary=\"b\"", body).unwrap();
        assert!(matches!(&r[0], ChangesetResult::Applied(v) if v[0].status == 201));
    }
}
