//! OData V2 `$batch` bodies (multipart/mixed, RFC 2046): top-level parts are retrievals
//! (`application/http` GET) or changesets (nested multipart/mixed of `application/http`
//! modifying requests). Lines end in CRLF; the parser also accepts bare LF because clients
//! that build bodies by hand get this wrong, and the point is to test what they send.

use axum::http::StatusCode;

pub(crate) type Headers = Vec<(String, String)>;

/// First value of a header, case-insensitively.
pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The boundary of a `multipart/mixed` content type, if it is one.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let media_type = params.next()?.trim();
    if !media_type.eq_ignore_ascii_case("multipart/mixed") {
        return None;
    }
    params
        .filter_map(|p| p.split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, value)| value.trim().trim_matches('"').to_string())
        .filter(|b| !b.is_empty())
}

/// The parts of a multipart body, each with its lines rejoined by CRLF. The line break before
/// a delimiter belongs to the delimiter (RFC 2046 5.1.1), so a part has no trailing CRLF.
pub(crate) fn split_parts(body: &str, boundary: &str) -> Result<Vec<String>, String> {
    let delimiter = format!("--{boundary}");
    let close = format!("--{boundary}--");
    let mut parts = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in body.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        // Transport padding (trailing whitespace) after a delimiter is allowed.
        let trimmed = line.trim_end();
        if trimmed == close {
            parts.extend(current.take().map(|lines| lines.join("\r\n")));
            return Ok(parts);
        }
        if trimmed == delimiter {
            parts.extend(current.take().map(|lines| lines.join("\r\n")));
            current = Some(Vec::new());
        } else if let Some(lines) = current.as_mut() {
            lines.push(line);
        }
        // Lines before the first delimiter are the preamble and ignored.
    }
    Err(format!(
        "The multipart body has no closing delimiter '{close}'"
    ))
}

/// Splits header lines from the body at the first empty line.
fn split_head(text: &str) -> (&str, &str) {
    if let Some(body) = text.strip_prefix("\r\n") {
        return ("", body);
    }
    match text.find("\r\n\r\n") {
        Some(i) => (&text[..i], &text[i + 4..]),
        None => (text, ""),
    }
}

fn parse_headers(head: &str) -> Result<Headers, String> {
    let mut headers: Headers = Vec::new();
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        if line.starts_with([' ', '\t']) {
            // Obsolete line folding: a continuation of the previous header.
            let (_, value) = headers
                .last_mut()
                .ok_or("Header continuation without a header")?;
            value.push(' ');
            value.push_str(line.trim());
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("Malformed header line '{line}'"))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    Ok(headers)
}

/// An HTTP message embedded in an `application/http` part.
#[derive(Clone, Debug)]
pub(crate) struct HttpMessage {
    pub start_line: String,
    pub headers: Headers,
    pub body: String,
}

fn parse_http(text: &str) -> Result<HttpMessage, String> {
    // Tolerate blank lines between the MIME headers' end and the start line.
    let text = text.trim_start_matches("\r\n");
    let (start_line, rest) = text.split_once("\r\n").unwrap_or((text, ""));
    let (head, body) = split_head(rest);
    if start_line.trim().is_empty() {
        return Err("An application/http part has no request line".to_string());
    }
    Ok(HttpMessage {
        start_line: start_line.trim().to_string(),
        headers: parse_headers(head)?,
        body: body.to_string(),
    })
}

/// One operation of a batch: a request relative to the service root.
#[derive(Clone, Debug)]
pub(crate) struct InnerRequest {
    pub method: String,
    pub url: String,
    pub request_line: String,
    pub headers: Headers,
    pub body: String,
    pub content_id: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) enum BatchPart {
    Retrieval(InnerRequest),
    Changeset(Vec<InnerRequest>),
}

/// Parses a `$batch` request body. Structural errors reject the whole batch, as the gateway
/// does before executing anything.
pub(crate) fn parse_batch(content_type: &str, body: &str) -> Result<Vec<BatchPart>, String> {
    let outer = boundary(content_type)
        .ok_or("The $batch Content-Type must be multipart/mixed with a boundary parameter")?;
    let mut parts = Vec::new();
    for text in split_parts(body, &outer)? {
        let (head, content) = split_head(&text);
        let headers = parse_headers(head)?;
        let content_type =
            header(&headers, "Content-Type").ok_or("A batch part has no Content-Type")?;
        if let Some(changeset_boundary) = boundary(content_type) {
            let mut operations = Vec::new();
            for operation in split_parts(content, &changeset_boundary)? {
                let (head, content) = split_head(&operation);
                let request = http_request(parse_headers(head)?, content)?;
                if request.method == "GET" {
                    return Err(format!(
                        "A changeset must not contain a GET request ('{}')",
                        request.request_line
                    ));
                }
                operations.push(request);
            }
            parts.push(BatchPart::Changeset(operations));
        } else {
            let request = http_request(headers, content)?;
            if request.method != "GET" {
                return Err(format!(
                    "Modifying requests must be inside a changeset ('{}')",
                    request.request_line
                ));
            }
            parts.push(BatchPart::Retrieval(request));
        }
    }
    Ok(parts)
}

/// An `application/http` part carrying one request.
fn http_request(mime_headers: Headers, content: &str) -> Result<InnerRequest, String> {
    let content_type = header(&mime_headers, "Content-Type").unwrap_or_default();
    if !content_type
        .trim()
        .to_ascii_lowercase()
        .starts_with("application/http")
    {
        return Err(format!(
            "Batch parts must be application/http, not '{content_type}'"
        ));
    }
    match header(&mime_headers, "Content-Transfer-Encoding") {
        Some(cte) if cte.eq_ignore_ascii_case("binary") => {}
        Some(cte) => {
            return Err(format!(
                "Unsupported Content-Transfer-Encoding '{cte}', expected 'binary'"
            ))
        }
        None => {
            return Err(
                "An application/http part needs 'Content-Transfer-Encoding: binary'".to_string(),
            )
        }
    }
    let message = parse_http(content)?;
    let mut words = message.start_line.split_whitespace();
    let (Some(method), Some(url), version) = (words.next(), words.next(), words.next()) else {
        return Err(format!("Malformed request line '{}'", message.start_line));
    };
    if version.is_some_and(|v| !v.starts_with("HTTP/")) || words.next().is_some() {
        return Err(format!("Malformed request line '{}'", message.start_line));
    }
    let mut method = method.to_ascii_uppercase();
    // Clients behind proxies that drop MERGE tunnel it through POST.
    if method == "POST" {
        if let Some(tunnelled) = header(&message.headers, "X-HTTP-Method") {
            method = tunnelled.to_ascii_uppercase();
        }
    }
    let content_id = header(&mime_headers, "Content-ID")
        .or_else(|| header(&message.headers, "Content-ID"))
        .map(str::to_string);
    Ok(InnerRequest {
        method,
        url: url.to_string(),
        request_line: message.start_line,
        headers: message.headers,
        body: message.body,
        content_id,
    })
}

/// The response to one operation.
#[derive(Clone, Debug)]
pub(crate) struct InnerResponse {
    pub status: StatusCode,
    pub headers: Headers,
    pub body: String,
    pub content_id: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) enum BatchResponsePart {
    Retrieval(InnerResponse),
    /// Every operation of the changeset succeeded and was applied.
    Changeset(Vec<InnerResponse>),
    /// The changeset was rolled back; the single response is the failing operation's error.
    FailedChangeset(InnerResponse),
}

/// Renders a `$batch` response body for the given outer boundary.
pub(crate) fn render_batch(boundary: &str, parts: &[BatchResponsePart]) -> String {
    let mut out = String::new();
    for part in parts {
        out.push_str(&format!("--{boundary}\r\n"));
        match part {
            BatchResponsePart::Retrieval(response)
            | BatchResponsePart::FailedChangeset(response) => {
                out.push_str(&render_http_part(response));
            }
            BatchResponsePart::Changeset(responses) => {
                let changeset = format!("changeset_{}", crate::random::hex(16));
                let mut inner = String::new();
                for response in responses {
                    inner.push_str(&format!("--{changeset}\r\n"));
                    inner.push_str(&render_http_part(response));
                    inner.push_str("\r\n");
                }
                inner.push_str(&format!("--{changeset}--\r\n"));
                out.push_str(&format!(
                    "Content-Type: multipart/mixed; boundary={changeset}\r\nContent-Length: {}\r\n\r\n{inner}",
                    inner.len()
                ));
            }
        }
        out.push_str("\r\n");
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out
}

fn render_http_part(response: &InnerResponse) -> String {
    let mut http = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status.as_u16(),
        response.status.canonical_reason().unwrap_or("")
    );
    for (name, value) in &response.headers {
        http.push_str(&format!("{name}: {value}\r\n"));
    }
    http.push_str(&format!(
        "Content-Length: {}\r\n\r\n{}",
        response.body.len(),
        response.body
    ));
    let mut part = format!(
        "Content-Type: application/http\r\nContent-Length: {}\r\nContent-Transfer-Encoding: binary\r\n",
        http.len()
    );
    if let Some(id) = &response.content_id {
        part.push_str(&format!("Content-ID: {id}\r\n"));
    }
    part.push_str("\r\n");
    part.push_str(&http);
    part
}

/// A parsed batch response, for tests: a single response or a changeset's responses.
#[cfg(test)]
#[derive(Clone, Debug)]
pub(crate) enum ParsedResponsePart {
    Single(HttpMessage),
    Changeset(Vec<HttpMessage>),
}

#[cfg(test)]
impl HttpMessage {
    /// The status code of a response's status line.
    pub(crate) fn status(&self) -> u16 {
        self.start_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }
}

#[cfg(test)]
pub(crate) fn parse_batch_response(
    content_type: &str,
    body: &str,
) -> Result<Vec<ParsedResponsePart>, String> {
    let outer = boundary(content_type).ok_or("not multipart/mixed")?;
    split_parts(body, &outer)?
        .iter()
        .map(|text| {
            let (head, content) = split_head(text);
            let headers = parse_headers(head)?;
            let content_type = header(&headers, "Content-Type").unwrap_or_default();
            match boundary(content_type) {
                Some(inner) => split_parts(content, &inner)?
                    .iter()
                    .map(|t| parse_http(split_head(t).1))
                    .collect::<Result<_, _>>()
                    .map(ParsedResponsePart::Changeset),
                None => parse_http(content).map(ParsedResponsePart::Single),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "preamble\r\n\
--batch_1\r\n\
Content-Type: multipart/mixed; boundary=changeset_a\r\n\
\r\n\
--changeset_a\r\n\
Content-Type: application/http\r\n\
Content-Transfer-Encoding: binary\r\n\
Content-ID: 1\r\n\
\r\n\
PUT ContactOriginData(ContactOrigin='FITBIT',ContactID='A1') HTTP/1.1\r\n\
Content-Type: application/json\r\n\
Sap-Cuan-SourceSystemType: EXT\r\n\
\r\n\
{\"FirstName\":\"Ann\"}\r\n\
--changeset_a\r\n\
Content-Type: application/http\r\n\
Content-Transfer-Encoding: binary\r\n\
\r\n\
POST Interactions HTTP/1.1\r\n\
X-HTTP-Method: MERGE\r\n\
\r\n\
\r\n\
--changeset_a--\r\n\
\r\n\
--batch_1\r\n\
Content-Type: application/http\r\n\
Content-Transfer-Encoding: binary\r\n\
\r\n\
GET ContactOriginData HTTP/1.1\r\n\
Accept: application/json\r\n\
\r\n\
\r\n\
--batch_1--\r\n\
epilogue";

    fn check(parts: &[BatchPart]) {
        let [BatchPart::Changeset(ops), BatchPart::Retrieval(get)] = parts else {
            panic!("unexpected structure {parts:?}");
        };
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].method, "PUT");
        assert_eq!(
            ops[0].url,
            "ContactOriginData(ContactOrigin='FITBIT',ContactID='A1')"
        );
        assert_eq!(
            header(&ops[0].headers, "sap-cuan-sourcesystemtype"),
            Some("EXT")
        );
        assert_eq!(ops[0].body.trim(), "{\"FirstName\":\"Ann\"}");
        assert_eq!(ops[0].content_id.as_deref(), Some("1"));
        assert_eq!(ops[1].method, "MERGE");
        assert_eq!(ops[1].body.trim(), "");
        assert_eq!(
            (get.method.as_str(), get.url.as_str()),
            ("GET", "ContactOriginData")
        );
    }

    #[test]
    fn parses_crlf_and_lf_bodies() {
        let content_type = "multipart/mixed; boundary=batch_1";
        check(&parse_batch(content_type, BODY).unwrap());
        check(&parse_batch(content_type, &BODY.replace("\r\n", "\n")).unwrap());
        check(&parse_batch("multipart/mixed;boundary=\"batch_1\"", BODY).unwrap());
    }

    #[test]
    fn rejects_malformed_batches() {
        let ct = "multipart/mixed; boundary=batch_1";
        assert!(parse_batch("application/json", BODY).is_err());
        let broken = |from: &str, to: &str| {
            assert!(BODY.contains(from), "{from}");
            parse_batch(ct, &BODY.replace(from, to))
        };
        assert!(broken("--batch_1--", "").is_err());
        assert!(broken(
            "Content-Transfer-Encoding: binary\r\nContent-ID",
            "Content-ID"
        )
        .is_err());
        assert!(broken("GET ContactOriginData", "DELETE ContactOriginData").is_err());
        assert!(broken("POST Interactions", "GET Interactions").is_err());
        assert!(broken("POST Interactions HTTP/1.1", "POST").is_err());
        assert!(broken(
            "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nPOST",
            "Content-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n\r\nPOST"
        )
        .is_err());
    }

    #[test]
    fn renders_what_it_parses() {
        let ok = |status: StatusCode, body: &str| InnerResponse {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into(),
            content_id: Some("7".into()),
        };
        let rendered = render_batch(
            "batch_x",
            &[
                BatchResponsePart::Changeset(vec![
                    ok(StatusCode::NO_CONTENT, ""),
                    ok(StatusCode::CREATED, "{\"d\":{}}"),
                ]),
                BatchResponsePart::FailedChangeset(ok(StatusCode::BAD_REQUEST, "{\"error\":{}}")),
                BatchResponsePart::Changeset(vec![]),
            ],
        );
        assert!(rendered.contains("\r\nHTTP/1.1 204 No Content\r\n"));
        assert!(rendered.ends_with("--batch_x--\r\n"));
        let parsed = parse_batch_response("multipart/mixed; boundary=batch_x", &rendered).unwrap();
        let [ParsedResponsePart::Changeset(ok), ParsedResponsePart::Single(failed), ParsedResponsePart::Changeset(empty)] =
            parsed.as_slice()
        else {
            panic!("{parsed:?}");
        };
        assert_eq!(
            ok.iter().map(HttpMessage::status).collect::<Vec<_>>(),
            [204, 201]
        );
        assert_eq!(
            (ok[0].body.as_str(), ok[1].body.as_str()),
            ("", "{\"d\":{}}")
        );
        assert_eq!(
            (failed.status(), failed.body.as_str()),
            (400, "{\"error\":{}}")
        );
        assert!(empty.is_empty());
    }
}
