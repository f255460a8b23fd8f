//! `POST /webhooks/fitbit` (and its `GET` verification): what the webhook function does with
//! a Fitbit notification that is wrong, and with a work queue that is down.

use crate::table::*;
use crate::words::*;

pub fn route() -> Route {
    Route {
        name: "POST /webhooks/fitbit (and its GET verification)",
        logs: &["notifications refused"],
        cases: cases(),
    }
}

/// The Fitbit webhook's cases (and one for a provider nobody serves), in the order they
/// run.
fn cases() -> Vec<Case> {
    use Answer as A;
    let person = || Given::Person(FITBIT);
    let entry = FITBIT_ENTRY;
    // The person's one valid notification.
    let notification = format!("[{entry}]");
    let signature = |header| vec![("x-fitbit-signature", header)];
    let signed_octets = || {
        vec![
            ("content-type", Header::Text("application/octet-stream")),
            ("x-fitbit-signature", Header::FitbitSignature),
        ]
    };
    let nothing_but = |method, target| delivery(method, target, vec![], "");
    vec![
        case("fitbit webhook: truncated JSON", person(), signed_fitbit(&format!("[{entry}")[..60]), webhook(400, 0)),
        case(
            "fitbit webhook: wrong types next to a valid entry",
            person(),
            signed_fitbit(&format!(
                r#"[{{"collectionType":["activities"],"date":"{{day}}","ownerId":"{{user}}"}},
                        {{"collectionType":"activities","date":20261120,"ownerId":"{{user}}"}},
                        {{"collectionType":"activities","date":"{{day}}","ownerId":null}},
                        {{"collectionType":"activities","date":"{{day}}","ownerId":{{"id":"{{user}}"}}}},
                        true, 17, "activities", {entry}]"#
            )),
            webhook(204, 1),
        )
        .then(After::Imports(4)),
        case(
            "fitbit webhook: numeric owner id of nobody",
            person(),
            signed_fitbit(r#"[{"collectionType":"activities","date":"{day}","ownerId":18446744073709551615}]"#),
            webhook(204, 1),
        )
        .then(After::Imports(0)),
        case(
            "fitbit webhook: huge body (300 KiB)",
            person(),
            fitbit_post_as(fitbit_signed_json(), Body::Huge(300 * 1024), false),
            webhook(413, 0),
        ),
        case(
            "fitbit webhook: unicode owner id",
            person(),
            signed_fitbit(r#"[{"collectionType":"activities","date":"{day}","ownerId":"Ünï-東京-🙂\u202e"}]"#),
            webhook(204, 1),
        )
        .then(After::Imports(0)),
        case(
            "fitbit webhook: duplicate keys and entries",
            person(),
            signed_fitbit(
                r#"[{"ownerId":"NOBODY","collectionType":"sleep","date":"{day}","ownerId":"{user}","collectionType":"activities"},
                        {"ownerId":"NOBODY","collectionType":"sleep","date":"{day}","ownerId":"{user}","collectionType":"activities"}]"#,
            ),
            webhook(204, 1),
        )
        .then(After::Imports(4)),
        case(
            "fitbit webhook: no signature",
            person(),
            fitbit_post(vec![("content-type", Header::Text("application/json"))], &notification),
            webhook(404, 0),
        ),
        case(
            "fitbit webhook: signed with another secret",
            person(),
            fitbit_post(signature(Header::FitbitSignatureOtherSecret), &notification),
            webhook(404, 0),
        ),
        case(
            "fitbit webhook: body changed after signing",
            person(),
            fitbit_post(signature(Header::FitbitSignatureOfOtherBody), &notification),
            webhook(404, 0),
        ),
        case(
            "fitbit webhook: signature not base64",
            person(),
            fitbit_post(signature(Header::Text("%%%not-base64%%%")), &notification),
            webhook(404, 0),
        ),
        case(
            "fitbit webhook: wrong content type (text/plain)",
            person(),
            fitbit_post(
                vec![("content-type", Header::Text("text/plain; charset=latin1")), ("x-fitbit-signature", Header::FitbitSignature)],
                &notification,
            ),
            webhook(204, 1),
        )
        .then(After::Imports(4)),
        case(
            "fitbit webhook: base64-encoded by API Gateway",
            person(),
            fitbit_post_as(signed_octets(), Body::Text(notification.clone()), true),
            webhook(204, 1),
        )
        .then(After::Imports(4)),
        case(
            "fitbit webhook: bytes that are no text (base64), signed",
            person(),
            fitbit_post_as(signed_octets(), Body::Binary(vec![0xff, 0xfe, b'[', 0x00, 0xc3, 0x28, b']']), true),
            webhook(400, 0),
        ),
        case("fitbit webhook: the work queue is down", person(), signed_fitbit(&notification), webhook(503, 0)).answered(A::WorkQueueDown),
        case(
            "fitbit webhook: no content type",
            person(),
            fitbit_post(signature(Header::FitbitSignature), &notification),
            webhook(204, 1),
        )
        .then(After::Imports(4)),
        case("fitbit webhook: empty body, signed", person(), signed_fitbit(""), webhook(400, 0)),
        case("fitbit webhook: JSON that is no notification", person(), signed_fitbit("\"activities\""), webhook(400, 0)),
        case(
            "fitbit webhook: verify with the right code",
            Given::Nothing,
            nothing_but("GET", "/webhooks/fitbit?verify={verify}"),
            webhook(204, 0),
        ),
        case(
            "fitbit webhook: verify with a wrong code",
            Given::Nothing,
            nothing_but("GET", "/webhooks/fitbit?verify=guessed-code"),
            webhook(404, 0),
        ),
        case("fitbit webhook: GET without a code", Given::Nothing, nothing_but("GET", "/webhooks/fitbit"), webhook(404, 0)),
        case(
            "fitbit webhook: PUT",
            person(),
            delivery("PUT", "/webhooks/fitbit", signature(Header::FitbitSignature), &notification),
            webhook(405, 0),
        ),
        case(
            "webhook: unknown provider",
            person(),
            delivery("POST", "/webhooks/strava", signature(Header::FitbitSignature), &notification),
            webhook(404, 0),
        ),
    ]
}
