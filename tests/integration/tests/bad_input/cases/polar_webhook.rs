//! `POST /webhooks/polar`: what the webhook function does with a Polar delivery that is
//! wrong — a `PING` (answered 200 whatever its signature), forged or altered signatures,
//! bodies that are no payload, events we do not import — and with a work queue that is
//! down. Accepted deliveries are answered 200, as Polar expects.

use crate::table::*;
use crate::words::*;

pub fn route() -> Route {
    Route {
        name: "POST /webhooks/polar",
        logs: &["notifications refused", "webhook handshake answered"],
        cases: cases(),
    }
}

/// The Polar webhook's cases, in the order they run.
fn cases() -> Vec<Case> {
    use Answer as A;
    let person = || Given::Person(POLAR);
    let entry = POLAR_ENTRY;
    let ping = r#"{"timestamp":"2026-11-18T09:58:01Z","event":"PING"}"#;
    let signature = |header| {
        vec![
            ("content-type", Header::Text("application/json")),
            ("polar-webhook-signature", header),
        ]
    };
    let signed_as = |event: &'static str| {
        vec![
            ("content-type", Header::Text("application/json")),
            ("polar-webhook-event", Header::Text(event)),
            ("polar-webhook-signature", Header::PolarSignature),
        ]
    };
    vec![
        case("polar webhook: PING without a signature", Given::Nothing, polar_post(vec![("polar-webhook-event", Header::Text("PING"))], ping), webhook(200, 0)),
        case(
            "polar webhook: PING signed with a key nobody holds yet",
            Given::Nothing,
            polar_post(signature(Header::PolarSignatureOtherKey), ping),
            webhook(200, 0),
        ),
        case("polar webhook: signed ACTIVITY_SUMMARY", person(), signed_polar(entry), webhook(200, 1)).then(After::Imports(4)),
        case("polar webhook: no signature", person(), polar_post(vec![("content-type", Header::Text("application/json"))], entry), webhook(401, 0)),
        case(
            "polar webhook: the event header says PING, the body is no ping",
            person(),
            polar_post(vec![("polar-webhook-event", Header::Text("PING"))], entry),
            webhook(401, 0),
        ),
        case("polar webhook: signed with another key", person(), polar_post(signature(Header::PolarSignatureOtherKey), entry), webhook(403, 0)),
        case("polar webhook: body changed after signing", person(), polar_post(signature(Header::PolarSignatureOfOtherBody), entry), webhook(403, 0)),
        case("polar webhook: signature not hex", person(), polar_post(signature(Header::Text("sha256=%%not-hex%%")), entry), webhook(403, 0)),
        case("polar webhook: truncated JSON, signed", person(), signed_polar(&entry[..50]), webhook(400, 0)),
        case("polar webhook: JSON that is no payload, signed", person(), signed_polar("\"ACTIVITY_SUMMARY\""), webhook(400, 0)),
        case(
            "polar webhook: a valid payload among bad ones",
            person(),
            signed_polar(&format!(
                r#"[{{"event":"ACTIVITY_SUMMARY","user_id":"{{user}}x","date":"{{day}}"}},
                    {{"event":"ACTIVITY_SUMMARY","user_id":{{user}},"date":"2026-02-30"}},
                    {{"event":"SLEEP","user_id":null,"date":"{{day}}"}},
                    {{"event":["SLEEP"],"user_id":{{user}},"date":"{{day}}"}},
                    {{"event":"EXERCISE","user_id":{{user}},"entity_id":"aQlC83"}},
                    17, "SLEEP", {entry}]"#
            )),
            webhook(200, 1),
        )
        .then(After::Imports(4)),
        case(
            "polar webhook: events we do not import",
            person(),
            signed_polar(
                r#"[{"event":"CONTINUOUS_HEART_RATE","user_id":{user},"date":"{day}"},
                    {"event":"SLEEP_WISE_ALERTNESS","user_id":{user},"from":"{day}","to":"{next}"},
                    {"event":"SOMETHING_NEW","user_id":{user},"date":"{day}"}]"#,
            ),
            webhook(200, 0),
        ),
        case(
            "polar webhook: EXERCISE, synced as its day's activities",
            person(),
            polar_post(
                signed_as("EXERCISE"),
                r#"{"event":"EXERCISE","user_id":{user},"entity_id":"aQlC83","timestamp":"{day}T18:42:10Z","url":"https://www.polaraccesslink.com/v3/exercises/aQlC83"}"#,
            ),
            webhook(200, 1),
        )
        .then(After::Imports(4)),
        case("polar webhook: the same payload twice in one body", person(), signed_polar(&format!("[{entry},{entry}]")), webhook(200, 1)),
        case(
            "polar webhook: a user id of nobody",
            person(),
            signed_polar(r#"{"event":"SLEEP","user_id":9223372036854775807,"date":"{day}"}"#),
            webhook(200, 1),
        )
        .then(After::Imports(0)),
        case(
            "polar webhook: base64-encoded by API Gateway",
            person(),
            Input::Webhook {
                method: "POST",
                target: "/webhooks/polar",
                headers: signed_as("ACTIVITY_SUMMARY"),
                body: Body::Text(entry.to_owned()),
                base64: true,
            },
            webhook(200, 1),
        ),
        case("polar webhook: the work queue is down", person(), signed_polar(entry), webhook(503, 0)).answered(A::WorkQueueDown),
        case("polar webhook: empty body, signed", person(), signed_polar(""), webhook(400, 0)),
        case("polar webhook: GET", Given::Nothing, delivery("GET", "/webhooks/polar", vec![], ""), webhook(405, 0)),
    ]
}
