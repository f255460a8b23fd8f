//! Work from the queues: what the worker (and the token refresher) do when a provider or
//! SAP answers the queued work badly, and with messages nothing of ours sends.

use fitbridge::domain::ConnectionStatus;
use fitbridge_sandbox::RawAnswer;

use crate::table::*;
use crate::words::*;

pub fn route() -> Route {
    Route {
        name: "work from the queues",
        logs: &["interactions imported", "unreadable work message"],
        cases: cases(),
    }
}

/// The queued work's cases, in the order they run.
fn cases() -> Vec<Case> {
    use Answer as A;
    use ConnectionStatus::{Active, ConsentsMissing, NeedsReconsent, ProviderGone};
    let person = || Given::Person(FITBIT);
    let gperson = || Given::Person(GOOGLE);
    let pperson = || Given::Person(POLAR);
    // The given person's work of the day meets the answer.
    let with = |name, answer: Answer, given: Given, expect: Expect, after: After| {
        case(name, given, Input::Work { nobody: false }, expect)
            .answered(answer)
            .then(after)
    };
    // A transient bad answer: the work backs off to the dead-letter queue, nothing imported,
    // the connection kept; redriven once the answer is gone, the day imports once.
    let transient = |name, answer, given| {
        with(
            name,
            answer,
            given,
            work(Fate::DeadLetter, 0, Active, 0),
            After::Imports(4),
        )
    };
    let fitbit = |answer| A::ProviderRaw(FITBIT, answer);
    let google = |answer| A::ProviderRaw(GOOGLE, answer);
    let polar = |answer| A::ProviderRaw(POLAR, answer);
    let polar_error = |status: u16, error_type: &str| {
        json(
            status,
            format!(
                r#"{{"timestamp":"2026-11-18T10:00:00Z","status":{status},"errorType":"{error_type}","message":"refused","corrId":"c0ffee"}}"#
            ),
        )
    };
    let google_403 = |message: &str, reason: &str| {
        RawAnswer::new(
            403,
            "application/json; charset=UTF-8",
            format!(
                r#"{{"error":{{"code":403,"message":"{message}","status":"PERMISSION_DENIED","details":[{{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"{reason}","domain":"googleapis.com"}}]}}}}"#
            ),
        )
    };
    // A message nothing of ours sends: poison, kept in the dead-letter queue for a person.
    let message = |name, retry_queue, body| {
        let dead = Expect::Work(Work {
            fate: Fate::DeadLetter,
            imported: 0,
            status: None,
            parked: 0,
        });
        case(
            name,
            Given::Nothing,
            Input::Message { retry_queue, body },
            dead,
        )
    };
    vec![
        // ---- Provider answers, met by the worker
        transient("fitbit answers a proxy's HTML 502", fitbit(html(502, "Bad Gateway")), person()),
        transient("fitbit answers truncated JSON with 200", fitbit(json(200, r#"{"activities":[],"summary":{"steps":80"#)), person()),
        transient("fitbit answers a string where a number is", fitbit(json(200, r#"{"summary":{"steps":"8012","caloriesOut":2301}}"#)), person()),
        transient(
            "fitbit answers 200 with a captive portal's HTML",
            fitbit(RawAnswer::new(200, "text/html", "<html><body>Please log in to the Wi-Fi</body></html>")),
            person(),
        ),
        with(
            "fitbit answers a huge valid day (2 MiB)",
            fitbit(json(
                200,
                format!(
                    r#"{{"summary":{{"steps":8012,"caloriesOut":2301,"distances":[{{"activity":"total","distance":5.83}}],"fairlyActiveMinutes":12,"veryActiveMinutes":30}},"activities":[{}]}}"#,
                    vec![r#"{"name":"walk","steps":1}"#; 80_000].join(",")
                ),
            )),
            person(),
            work(Fate::Done, 4, Active, 0),
            After::Nothing,
        ),
        with("fitbit answers 404", A::ProviderStatus(FITBIT, 404), person(), work(Fate::Done, 0, Active, 1), After::Nothing),
        with("fitbit answers 410 Gone", A::ProviderStatus(FITBIT, 410), person(), work(Fate::Done, 0, ProviderGone, 1), After::Nothing),
        with(
            "fitbit answers 429 with its rate-limit headers",
            A::ProviderThrottled(FITBIT),
            person(),
            work(Fate::WaitsForReset(3600..=3605), 0, Active, 0),
            After::Imports(4),
        ),
        with(
            "fitbit answers 429 without rate-limit headers",
            fitbit(json(429, r#"{"errors":[{"errorType":"request_throttled"}]}"#)),
            person(),
            work(Fate::WaitsForReset(3605..=3605), 0, Active, 0),
            After::Imports(4),
        ),
        with("fitbit answers 401 (token expired): refresh, then import", A::TokenExpired(FITBIT), person(), work(Fate::ViaRetryQueue, 4, Active, 0), After::Nothing),
        with(
            "fitbit keeps answering 401 after the refresh",
            fitbit(json(401, r#"{"errors":[{"errorType":"invalid_token","message":"Access token invalid"}],"success":false}"#)),
            person(),
            work(Fate::RefreshedThenDeadLetter, 0, Active, 0),
            After::Imports(4),
        ),
        with(
            "fitbit: person revoked (401, refresh invalid_grant)",
            A::Revoked(FITBIT),
            person(),
            work(Fate::ViaRetryQueue, 0, NeedsReconsent, 1),
            After::Nothing,
        ),
        case(
            "work for a person nobody knows",
            person(),
            Input::Work { nobody: true },
            Expect::Work(Work { fate: Fate::Done, imported: 0, status: None, parked: 0 }),
        ),
        transient("google answers a proxy's HTML 502", google(html(502, "Bad Gateway")), gperson()),
        transient(
            "google answers an object where an int64 is",
            google(json(200, r#"{"rollupDataPoints":[{"steps":{"countSum":{"value":"12"}}}]}"#)),
            gperson(),
        ),
        transient(
            "google answers 403: the Health API is disabled",
            google(google_403(
                "Google Health API has not been used in project 123456789012 before or it is disabled.",
                "SERVICE_DISABLED",
            )),
            gperson(),
        ),
        with(
            "google answers 403: a scope was withdrawn",
            google(
                google_403("Request had insufficient authentication scopes.", "ACCESS_TOKEN_SCOPE_INSUFFICIENT")
                    .with_header("www-authenticate", r#"Bearer realm="https://accounts.google.com/", error="insufficient_scope""#),
            ),
            gperson(),
            work(Fate::Done, 0, Active, 0),
            After::Nothing,
        ),
        with(
            "fitbit answers 403 insufficient_scope (a scope was withdrawn)",
            fitbit(json(
                403,
                r#"{"errors":[{"errorType":"insufficient_scope","message":"This application does not have permission to access activity data."}],"success":false}"#,
            )),
            person(),
            work(Fate::Done, 0, Active, 0),
            After::Nothing,
        ),
        transient("fitbit answers a proxy's HTML 403", fitbit(html(403, "Forbidden")), person()),
        with("google answers 429 (no Retry-After)", A::ProviderThrottled(GOOGLE), gperson(), work(Fate::WaitsForReset(60..=60), 0, Active, 0), After::Imports(4)),
        with("google answers 401: refresh, then import", A::TokenExpired(GOOGLE), gperson(), work(Fate::ViaRetryQueue, 4, Active, 0), After::Nothing),
        with(
            "google: person revoked (401, refresh invalid_grant)",
            A::Revoked(GOOGLE),
            gperson(),
            work(Fate::ViaRetryQueue, 0, NeedsReconsent, 1),
            After::Nothing,
        ),
        with("google answers 404", A::ProviderStatus(GOOGLE, 404), gperson(), work(Fate::Done, 0, Active, 1), After::Nothing),
        with(
            "google refuses one data type for good (403 on active minutes): the rest imports",
            A::GoogleRefusesDataType("active-minutes", 403),
            gperson(),
            work(Fate::Done, 3, Active, 0),
            After::Nothing,
        ),
        transient("polar answers a proxy's HTML 502", polar(html(502, "Bad Gateway")), pperson()),
        transient("polar answers a string where a number is", polar(json(200, r#"{"steps":"8823","calories":2500}"#)), pperson()),
        with(
            "polar answers 204: a day without data",
            polar(RawAnswer::new(204, "application/json", "")),
            pperson(),
            work(Fate::Done, 0, Active, 0),
            After::Nothing,
        ),
        with(
            "polar answers 400: the date is over 365 days old",
            polar(polar_error(400, "BadRequest")),
            pperson(),
            work(Fate::Done, 0, Active, 1),
            After::Nothing,
        ),
        with(
            "polar answers 403: mandatory consents not accepted",
            polar(polar_error(403, "MandatoryConsentsMissing")),
            pperson(),
            work(Fate::Done, 0, ConsentsMissing, 1),
            After::Nothing,
        ),
        with(
            "polar answers 401: no refresh, the person must consent again",
            A::TokenExpired(POLAR),
            pperson(),
            work(Fate::ViaRetryQueue, 0, NeedsReconsent, 1),
            After::Nothing,
        ),
        with(
            "polar: person removed the partner (401)",
            A::Revoked(POLAR),
            pperson(),
            work(Fate::ViaRetryQueue, 0, NeedsReconsent, 1),
            After::Nothing,
        ),
        // Last of Polar's: the worker's client then waits for the partner's reset (an hour
        // of this world's clock), whoever the work is for.
        with(
            "polar answers 429 for the partner (short window used up)",
            A::ProviderThrottled(POLAR),
            pperson(),
            work(Fate::WaitsForReset(3599..=3600), 0, Active, 0),
            After::Nothing,
        ),
        // ---- SAP answers, met by the worker's import
        transient("SAP answers a proxy's HTML 503", sap_answers(None, html(503, "Service Temporarily Unavailable")), person()),
        transient("SAP answers 503 (its own error)", A::SapStatus(503), person()),
        transient("SAP answers 401 (its password was rotated)", A::SapStatus(401), person()),
        with("SAP ended the session: CSRF 403, fetched again", A::SapSessionsExpired, person(), work(Fate::Done, 4, Active, 0), After::Nothing),
        transient(
            "SAP keeps answering CSRF 403 Required",
            sap_answers(
                Some("$batch"),
                RawAnswer::new(403, "text/plain", "CSRF token validation failed").with_header("x-csrf-token", "Required"),
            ),
            person(),
        ),
        transient("SAP refuses the interactions (400 per changeset)", A::SapRejectsPerson(400), person()),
        // Applied, and the answer lost on its way back: the import is tried again, and
        // nothing arrives twice.
        with(
            "SAP's $batch answer is cut short (after applying it)",
            sap_applies_batch_then_answers(RawAnswer::new(
                202,
                "multipart/mixed; boundary=batch_0a1b",
                "--batch_0a1b\r\nContent-Type: multipart/mixed; boundary=changeset_77\r\n\r\n--changeset_77\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 201 Crea",
            )),
            person(),
            work(Fate::BackoffThenDone(1), 4, Active, 0),
            After::Nothing,
        ),
        with(
            "SAP answers 200 with a body that is no multipart (after applying it)",
            sap_applies_batch_then_answers(json(200, r#"{"d":{"results":[]}}"#)),
            person(),
            work(Fate::BackoffThenDone(1), 4, Active, 0),
            After::Nothing,
        ),
        with(
            "SAP answers a gateway's HTML 504 (after applying it)",
            sap_applies_batch_then_answers(html(504, "Gateway Time-out")),
            person(),
            work(Fate::BackoffThenDone(1), 4, Active, 0),
            After::Nothing,
        ),
        // ---- Messages nothing of ours sends: poison, kept in the dead-letter queue for a person
        message("work message that is no JSON", false, "sync GGNJL9 2026-11-20"),
        message("work message for a provider nobody serves", false, r#"{"provider":"strava","user_id":"A1","task":"sync","date":"2026-11-20","collections":["activities"]}"#),
        message("work message with an impossible date", false, r#"{"provider":"fitbit","user_id":"A1","task":"sync","date":"2026-02-30","collections":["activities"]}"#),
        message("retry message that is no JSON", true, "{\"work\": "),
    ]
}
