//! `POST /webhooks/google-health`: what the webhook function does with a Google Health
//! notification or verification probe that is wrong.

use crate::table::*;
use crate::words::*;

pub fn route() -> Route {
    Route {
        name: "POST /webhooks/google-health",
        logs: &["notifications refused"],
        cases: cases(),
    }
}

/// The Google Health webhook's cases, in the order they run.
fn cases() -> Vec<Case> {
    let gperson = || Given::Person(GOOGLE);
    let (today, tomorrow) = (iso(day()), iso(day().next_day().unwrap()));
    let gentry = google_entry("{user}", "steps", &today, &tomorrow);
    let probe = r#"{"type":"verification"}"#;
    let signature = |header| vec![("google-health-api-signature", header)];
    let authorization = |header| vec![("authorization", header)];
    vec![
        case(
            "google webhook: no signature",
            gperson(),
            google_post(authorization(Header::GoogleAuthorization), &gentry),
            webhook(401, 0),
        ),
        case(
            "google webhook: signature of another body",
            gperson(),
            google_post(signature(Header::GoogleSignatureOfOtherBody), &gentry),
            webhook(403, 0),
        ),
        case(
            "google webhook: signature that is no signature",
            gperson(),
            google_post(signature(Header::Text("AQAAAAB=garbage")), &gentry),
            webhook(403, 0),
        ),
        case("google webhook: not JSON", gperson(), signed_google("data=steps&user={user}"), webhook(400, 0)),
        case(
            "google webhook: probe with the authorization",
            Given::Nothing,
            google_post(authorization(Header::GoogleAuthorization), probe),
            webhook(201, 0),
        ),
        case("google webhook: probe without authorization", Given::Nothing, google_post(vec![], probe), webhook(401, 0)),
        case(
            "google webhook: probe with a wrong authorization",
            Given::Nothing,
            google_post(authorization(Header::Text("Bearer guessed")), probe),
            webhook(401, 0),
        ),
        case(
            "google webhook: signed, wrong authorization",
            gperson(),
            google_post(
                vec![("authorization", Header::Text("Bearer guessed")), ("google-health-api-signature", Header::GoogleSignature)],
                &gentry,
            ),
            webhook(401, 0),
        ),
        case(
            "google webhook: a valid notification among bad ones",
            gperson(),
            signed_google(&format!(
                r#"[{{"data":{{"healthUserId":"{{user}}"}}}}, {{"data":{{"dataType":"steps","healthUserId":["{{user}}"]}}}},
                        {}, {}, {}, "steps", null, {gentry}]"#,
                google_entry("{user}", "steps", "2026-02-30", &tomorrow),
                google_entry("{user}", "heart-rate", &today, &tomorrow),
                google_entry("", "steps", &today, &tomorrow),
            )),
            webhook(204, 1),
        )
        .then(After::Imports(4)),
        case(
            "google webhook: an interval of ten years",
            gperson(),
            signed_google(&google_entry("{user}", "sleep", "2016-01-01", &tomorrow)),
            webhook(204, 31),
        ),
        case(
            "google webhook: GET",
            Given::Nothing,
            delivery("GET", "/webhooks/google-health", vec![], ""),
            webhook(405, 0),
        ),
    ]
}
