//! The OData `$batch` response decoder SAP's answers go through, and the error-message
//! extraction.
//!
//! Input: `<Content-Type header>\n<body>` (the body as `reqwest` hands it over: text,
//! invalid UTF-8 replaced).
//!
//! Properties:
//! - Never more results than the body has parts (occurrences of `--boundary`).
//! - `Applied` holds only 2xx answers, `Failed` only others; every answer body is a piece
//!   of the input body.
//! - `error_message` logs codes, never texts: what it returns for an SAP error is the
//!   same with every `message` text (which SAP may fill with the refused personal data)
//!   replaced; and it stays short (its own words plus what it quotes from the body).
//! - Round trip: the decoded results, written back as a well-formed `$batch` answer (one
//!   changeset each, failures as SAP error JSON), decode to the same results.
#![no_main]

use std::fmt::Write;

use fitbridge::marketing::sap::batch::{decode, error_message, ChangesetResult};
use fitbridge_fuzz::split_line;
use libfuzzer_sys::fuzz_target;

const BATCH: &str = "batchresponse_7f3a9c0e5b1d";
const CHANGESET: &str = "changesetresponse_0c4e8a2f6b1d";

fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').map(str::trim).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn part(out: &mut String, status: u16, body: &str) {
    write!(
        out,
        "--{CHANGESET}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
         HTTP/1.1 {status} Whatever\r\nContent-Type: application/json\r\n\r\n{body}\r\n"
    )
    .unwrap();
}

/// The results as SAP would write them; `None` if a body holds one of our boundaries.
fn rewrite(results: &[ChangesetResult]) -> Option<(String, Vec<ChangesetResult>)> {
    let mut out = String::new();
    let mut expected = Vec::new();
    for result in results {
        write!(
            out,
            "--{BATCH}\r\nContent-Type: multipart/mixed; boundary={CHANGESET}\r\n\r\n"
        )
        .unwrap();
        match result {
            ChangesetResult::Applied(responses) => {
                for r in responses {
                    if r.body.contains(BATCH) || r.body.contains(CHANGESET) {
                        return None;
                    }
                    part(&mut out, r.status, &r.body);
                }
                expected.push(result.clone());
            }
            ChangesetResult::Failed { status, message } => {
                let body = serde_json::json!({"error": {"code": "E1", "message": {"lang": "en", "value": message}}})
                    .to_string();
                if body.contains(BATCH) || body.contains(CHANGESET) {
                    return None;
                }
                part(&mut out, *status, &body);
                expected.push(ChangesetResult::Failed {
                    status: *status,
                    message: "E1".to_owned(),
                });
            }
        }
        writeln!(out, "--{CHANGESET}--\r").unwrap();
    }
    writeln!(out, "--{BATCH}--\r").unwrap();
    Some((out, expected))
}

fuzz_target!(|data: &[u8]| {
    let (content_type, body) = split_line(data);
    let content_type = String::from_utf8_lossy(content_type);
    let body = String::from_utf8_lossy(body);

    let message = error_message(&body);
    // Codes, targets and the transaction id are at most 64 bytes each and each quoted
    // once; the rest is the function's own words.
    assert!(message.len() <= 64 + 3 * body.len(), "{message}");
    // The texts never matter: with every message text replaced, the same is logged.
    if let Ok(mut json) = serde_json::from_str::<serde_json::Value>(&body) {
        let replaced = || serde_json::Value::String("\u{E000}".into());
        if let Some(error) = json.get_mut("error").and_then(|e| e.as_object_mut()) {
            match error.get_mut("message") {
                Some(serde_json::Value::Object(m)) if m.contains_key("value") => {
                    m.insert("value".into(), replaced());
                }
                Some(m @ serde_json::Value::String(_)) => *m = replaced(),
                _ => {}
            }
            let details = error
                .get_mut("innererror")
                .and_then(|i| i.get_mut("errordetails"))
                .and_then(|d| d.as_array_mut());
            for detail in details.into_iter().flatten() {
                if let Some(d) = detail.as_object_mut().filter(|d| d.contains_key("message")) {
                    d.insert("message".into(), replaced());
                }
            }
        }
        assert_eq!(error_message(&json.to_string()), message, "a message text was logged");
    }

    let Ok(results) = decode(&content_type, &body) else {
        return;
    };
    let outer = boundary(&content_type).expect("decoded, so there was a boundary");
    let parts = body.matches(&format!("--{outer}")).count();
    assert!(
        results.len() <= parts,
        "{} results from {parts} delimiters",
        results.len()
    );
    for result in &results {
        match result {
            ChangesetResult::Applied(responses) => {
                for r in responses {
                    assert!((200..300).contains(&r.status), "applied with {}", r.status);
                    assert!(body.contains(&r.body), "an answer body not in the input");
                }
            }
            ChangesetResult::Failed { status, message } => {
                assert!(!(200..300).contains(status), "failed with {status}");
                assert!(message.len() <= 64 + 3 * body.len());
            }
        }
    }

    if let Some((rewritten, expected)) = rewrite(&results) {
        let again = decode(&format!("multipart/mixed; boundary={BATCH}"), &rewritten)
            .expect("a well-formed answer decodes");
        assert_eq!(again, expected, "round trip of\n{rewritten}");
    }
});
