//! The bad-input matrix: what every HTTP route does with input that is wrong, and what the
//! pipeline does with every wrong answer of a provider or SAP — as one table.
//!
//! Real handlers (`api::oauth::handle`, `api::webhook::handle`, the SQS consumers), real
//! provider and SAP clients against the in-process sandboxes, in-memory table, queues and
//! secrets ([`fitbridge_integration::in_process`]): no emulator, a case in milliseconds.
//! The cases meet one world, as one warm deployment meets its requests (what one case does
//! must not spoil the next); each brings its own people, browser and links, counts what it
//! changed, and says
//! - what goes in (a request, or an answer injected into a provider or SAP and the work
//!   that meets it),
//! - what comes out (the status; or what SQS does with the work: done, parked, waits for a
//!   rate limit, backs off to the dead-letter queue),
//! - that nothing is stored that should not be (connections, contacts, queued work,
//!   interactions, parked work),
//! - and that nothing valid is lost: once a transient bad answer is gone, the same work
//!   (redriven from the dead-letter queue, or its delayed copy) imports exactly once; a
//!   valid notification next to bad entries is queued and imported.
//!
//! The logs of the whole matrix (JSON, `info`, as production writes them) are captured and
//! must not hold any token, client secret, SAP password, code, state, browser binding, link
//! signature, customer ref or name the run issued. `--nocapture` shows the table.

use std::fmt::Write as _;
use std::ops::RangeInclusive;
use std::time::Instant;

use fitbridge::domain::pkce;
use fitbridge::domain::Secret;
use fitbridge::domain::{Collection, ConnectionStatus, ProviderKind, ProviderUserId, WorkItem};
use fitbridge::inbound::oauth::BROWSER_COOKIE;
use fitbridge::inbound::sqs::Decision;
use fitbridge::ports::store::{ConnectAttempts, ParkedWork, PendingAuthorization};
use fitbridge_integration::in_process::{contact_of, text, Message, Run, World};
use fitbridge_integration::{location, random_user_id, LogCapture, PUBLIC_BASE_URL};
use fitbridge_sandbox::fitbit::{Consent, TestUser};
use fitbridge_sandbox::google_health::{Consent as GoogleConsent, GoogleUser};
use fitbridge_sandbox::RawAnswer;
use serde_json::json;
use sha2::{Digest, Sha256};
use time::Date;

const FITBIT: ProviderKind = ProviderKind::Fitbit;
const GOOGLE: ProviderKind = ProviderKind::GoogleHealth;
/// The longest query API Gateway's HTTP APIs deliver is a little under 10 KiB (request line
/// and headers together).
const HUGE_QUERY: usize = 8 * 1024;
/// Data answers stay bad this many requests: longer than any case runs.
const LASTING: u32 = 1000;

// ---------------------------------------------------------------------------------------
// The table's vocabulary.

struct Case {
    name: &'static str,
    given: Given,
    /// Injected after `given`, before the input: a provider's or SAP's bad answer.
    answer: Option<Answer>,
    input: Input,
    expect: Expect,
    /// Once the bad answer is gone (faults cleared, rate limits over).
    after: After,
}

/// What exists before the input.
#[derive(Clone)]
enum Given {
    Nothing,
    /// The person's browser opened `/connect/{provider}` (with the link, if any) and came
    /// back from the consent page: `{state}`, `{code}` and the browser's binding cookie.
    Consented(ProviderKind, Option<Link>),
    /// As `Consented`, and the callback finished: the state and the link are used.
    Connected(Option<Link>),
    /// An attempt whose ten minutes are over, and the browser that started it.
    ExpiredAttempt,
    /// A person connected to the provider (`{user}`), all collections granted.
    Person(ProviderKind),
}

/// A connect link as the company's app would send it, or as somebody bent it.
#[derive(Clone)]
enum Link {
    /// Signed for the path's provider, valid for an hour.
    Signed(RefKind),
    /// A ref without `expires` and `sig`.
    Unsigned,
    /// Signed with another key.
    Forged,
    /// Signed, then the ref changed.
    Altered,
    /// Signed, expired a minute ago.
    Expired,
    /// Signed to expire in 91 days.
    TooLongLived,
    /// Signed for the other provider.
    OtherProvider,
    /// `expires` is not a number.
    NonNumericExpires,
}

#[derive(Clone, Copy)]
enum RefKind {
    Plain,
    /// Umlauts, CJK and an emoji.
    Unicode,
    /// One character over SAP's 255.
    TooLong,
    /// 8 KiB: as huge as a query gets through API Gateway (its HTTP APIs refuse a request
    /// line and headers over 10 KiB together).
    Huge,
}

/// A bad answer of a provider's data API or of SAP.
#[derive(Clone)]
enum Answer {
    /// The provider's data API answers this, as it is, until cleared.
    ProviderRaw(ProviderKind, RawAnswer),
    /// The next data API request answers this status in the provider's error shape.
    ProviderStatus(ProviderKind, u16),
    /// The person is over the provider's rate limit for an hour (with its headers).
    ProviderThrottled(ProviderKind),
    /// The person's access token expired early (401).
    TokenExpired(ProviderKind),
    /// The person removed the app at the provider: 401, and the refresh is `invalid_grant`.
    Revoked(ProviderKind),
    /// The Fitbit API is switched off (410 Gone everywhere, OAuth included).
    FitbitGone,
    /// SAP (or what is in front of it) answers this for requests whose path contains
    /// `matching` (all if `None`); `after_processing`: the tenant applied the request and
    /// the answer got lost on its way back.
    SapRaw {
        matching: Option<&'static str>,
        answer: RawAnswer,
        after_processing: bool,
        requests: u32,
    },
    /// Every `/sap` request answers this status as an OData error.
    SapStatus(u16),
    /// SAP refuses the operations for the person (their id in the request line or body).
    SapRejectsPerson(u16),
    /// SAP ended every session: the cached CSRF token is refused (403 `Required`).
    SapSessionsExpired,
    /// The work queue refuses every message (SQS down).
    WorkQueueDown,
}

#[derive(Clone)]
enum Input {
    /// A request to the OAuth function. `{state}`, `{code}`, `{link}` and `{callback}` (the
    /// provider's redirect back, path and query) are filled in from `given`.
    OAuth {
        method: &'static str,
        target: String,
        browser: Browser,
    },
    /// A request to the webhook function; `{user}` in the body is the given person.
    Webhook {
        method: &'static str,
        target: &'static str,
        headers: Vec<(&'static str, Header)>,
        body: Body,
        base64: bool,
    },
    /// One work message: the given person's activities (or someone nobody knows) of the
    /// case's day.
    Work { nobody: bool },
    /// A message with this body on the work queue (or the retry queue).
    Message {
        retry_queue: bool,
        body: &'static str,
    },
}

/// The browser a request comes from.
#[derive(Clone)]
enum Browser {
    /// The person's own, with the cookies it got.
    Person,
    /// One without cookies.
    Fresh,
    /// One holding another attempt's well-formed binding.
    Other,
    /// One holding this cookie header value.
    Raw(&'static str),
}

#[derive(Clone)]
enum Header {
    Text(&'static str),
    /// `X-Fitbit-Signature` of the body with the client secret.
    FitbitSignature,
    /// The same with another secret.
    FitbitSignatureOtherSecret,
    /// The same over another body than the one sent.
    FitbitSignatureOfOtherBody,
    /// Google's ECDSA signature of the body with the sandbox's key.
    GoogleSignature,
    GoogleSignatureOfOtherBody,
    /// The `Authorization` registered with the Google subscriber.
    GoogleAuthorization,
}

#[derive(Clone)]
enum Body {
    Text(String),
    /// Bytes that are no text (delivered base64-encoded, as API Gateway does).
    Binary(Vec<u8>),
    /// A notification body of this many bytes (valid JSON, the person's entry first).
    Huge(usize),
}

#[derive(Clone)]
enum Expect {
    /// The OAuth function's status; connections stored and contacts in SAP afterwards, and
    /// the token exchanges the provider saw.
    Page {
        status: u16,
        connections: usize,
        contacts: usize,
        exchanges: u64,
    },
    /// The webhook's status and the work items it queued.
    Webhook { status: u16, queued: usize },
    /// What became of the work while the answer lasted.
    Work(Work),
}

#[derive(Clone)]
struct Work {
    fate: Fate,
    /// Interactions of the day in SAP while the answer lasted.
    imported: usize,
    /// The person's connection afterwards (`None`: there is none).
    status: Option<ConnectionStatus>,
    /// Work items parked for the person.
    parked: usize,
}

#[derive(Clone)]
enum Fate {
    /// Deleted at its first delivery.
    Done,
    /// Handed back with backoff (30 s, 60 s, …) until SQS moved it to the dead-letter queue.
    DeadLetter,
    /// Handed back this many times with backoff, then done.
    BackoffThenDone(usize),
    /// Waited for the rate limit's reset (seconds) at every delivery and never reached the
    /// dead-letter queue: a fresh copy replaced its last delivery.
    WaitsForReset(RangeInclusive<u64>),
    /// Went to the retry queue, whose consumer sent it back after a refresh: done.
    ViaRetryQueue,
    /// Went to the retry queue once; refused again with the refreshed token, it backed off
    /// until the dead-letter queue (no second refresh).
    RefreshedThenDeadLetter,
}

#[derive(Clone)]
enum After {
    Nothing,
    /// The work left (dead letters redriven, delayed copies, queued notifications) imports
    /// this many interactions of the day, each exactly once.
    Imports(usize),
    /// The person opens the same link again and connects (it was given back).
    ConnectsAgain,
    /// The person's own callback still connects (their state was not used up).
    CallbackConnects,
}

// ---------------------------------------------------------------------------------------
// The cases.

fn get(target: &str) -> Input {
    Input::OAuth {
        method: "GET",
        target: target.to_owned(),
        browser: Browser::Person,
    }
}

fn get_from(target: &str, browser: Browser) -> Input {
    Input::OAuth {
        method: "GET",
        target: target.to_owned(),
        browser,
    }
}

fn page(status: u16) -> Expect {
    Expect::Page {
        status,
        connections: 0,
        contacts: 0,
        exchanges: 0,
    }
}

fn page_after_exchange(status: u16) -> Expect {
    Expect::Page {
        status,
        connections: 0,
        contacts: 0,
        exchanges: 1,
    }
}

fn fitbit_post(headers: Vec<(&'static str, Header)>, body: &str) -> Input {
    Input::Webhook {
        method: "POST",
        target: "/webhooks/fitbit",
        headers,
        body: Body::Text(body.to_owned()),
        base64: false,
    }
}

fn signed_fitbit(body: &str) -> Input {
    fitbit_post(
        vec![
            ("content-type", Header::Text("application/json")),
            ("x-fitbit-signature", Header::FitbitSignature),
        ],
        body,
    )
}

fn google_post(headers: Vec<(&'static str, Header)>, body: &str) -> Input {
    Input::Webhook {
        method: "POST",
        target: "/webhooks/google-health",
        headers,
        body: Body::Text(body.to_owned()),
        base64: false,
    }
}

fn signed_google(body: &str) -> Input {
    google_post(
        vec![
            ("content-type", Header::Text("application/json")),
            ("authorization", Header::GoogleAuthorization),
            ("google-health-api-signature", Header::GoogleSignature),
        ],
        body,
    )
}

fn webhook(status: u16, queued: usize) -> Expect {
    Expect::Webhook { status, queued }
}

fn work(fate: Fate, imported: usize, status: ConnectionStatus, parked: usize) -> Expect {
    Expect::Work(Work {
        fate,
        imported,
        status: Some(status),
        parked,
    })
}

fn html(status: u16, title: &str) -> RawAnswer {
    RawAnswer::new(
        status,
        "text/html",
        format!(
            "<html><head><title>{status} {title}</title></head><body><center><h1>{status} {title}</h1></center><hr><center>nginx</center></body></html>"
        ),
    )
}

/// A Fitbit notification entry for `{user}` on the case's day.
const FITBIT_ENTRY: &str = r#"{"collectionType":"activities","date":"{day}","ownerId":"{user}","ownerType":"user","subscriptionId":"{user}-activities"}"#;

fn google_entry(user: &str, data_type: &str, start: &str, end: &str) -> String {
    json!({"data": {"version": "1", "clientProvidedSubscriptionName": "fitbridge",
        "healthUserId": user, "operation": "UPSERT", "dataType": data_type,
        "intervals": [{"civilDateTimeInterval": {"start": {"date": civil(start)}, "end": {"date": civil(end)}}}]}})
    .to_string()
}

/// Google's civil date message of `yyyy-mm-dd` (which may be no real day).
fn civil(date: &str) -> serde_json::Value {
    let part = |i: usize| date.split('-').nth(i).and_then(|p| p.parse::<i64>().ok());
    json!({"year": part(0), "month": part(1), "day": part(2)})
}

fn iso(date: Date) -> String {
    fitbridge::domain::work::iso_date::format(date)
}

fn cases() -> Vec<Case> {
    use Answer as A;
    let none = Given::Nothing;
    let consented = || Given::Consented(FITBIT, None);
    let case = |name, given, input, expect| Case {
        name,
        given,
        answer: None,
        input,
        expect,
        after: After::Nothing,
    };
    let mut cases = vec![
        // ---- OAuth: connect
        case("connect: unknown provider", none.clone(), get("/connect/strava"), page(404)),
        case("connect: unknown path", none.clone(), get("/connect"), page(404)),
        // The dot segments are resolved before the route is read: a callback without state.
        case("connect: a path that climbs (../) to the callback", none.clone(), get("/connect/../oauth/callback/fitbit"), page(400)),
        case("connect: provider in capitals", none.clone(), get("/connect/FITBIT"), page(404)),
        Case {
            input: Input::OAuth {
                method: "POST",
                target: "/connect/fitbit".into(),
                browser: Browser::Person,
            },
            ..case("connect: POST instead of GET", none.clone(), get(""), page(405))
        },
        case("connect: ref without signature", none.clone(), get("/connect/fitbit?{link:unsigned}"), page(403)),
        case("connect: link signed with another key", none.clone(), get("/connect/fitbit?{link:forged}"), page(403)),
        case("connect: link with an altered ref", none.clone(), get("/connect/fitbit?{link:altered}"), page(403)),
        case("connect: expired link", none.clone(), get("/connect/fitbit?{link:expired}"), page(403)),
        case("connect: link valid for 91 days", none.clone(), get("/connect/fitbit?{link:too-long-lived}"), page(403)),
        case("connect: link signed for the other provider", none.clone(), get("/connect/fitbit?{link:other-provider}"), page(403)),
        case("connect: non-numeric expires", none.clone(), get("/connect/fitbit?{link:non-numeric}"), page(403)),
        case("connect: signed ref of 256 characters", none.clone(), get("/connect/fitbit?{link:too-long}"), page(403)),
        case("connect: huge query (8 KiB signed ref)", none.clone(), get("/connect/fitbit?{link:huge}"), page(403)),
        case(
            "connect: unicode ref, signed, connects",
            Given::Consented(FITBIT, Some(Link::Signed(RefKind::Unicode))),
            get("{callback}"),
            Expect::Page { status: 200, connections: 1, contacts: 1, exchanges: 1 },
        ),
        case(
            "connect: link already used for a connection",
            Given::Connected(Some(Link::Signed(RefKind::Plain))),
            get("/connect/fitbit?{link}"),
            Expect::Page { status: 410, connections: 1, contacts: 1, exchanges: 1 },
        ),
        // ---- OAuth: callback
        case("callback: unknown provider", consented(), get("/oauth/callback/strava?state={state}&code={code}"), page(404)),
        case("callback: POST instead of GET", consented(), Input::OAuth { method: "POST", target: "{callback}".into(), browser: Browser::Person }, page(405)),
        case("callback: no state", consented(), get("/oauth/callback/fitbit?code={code}"), page(400)),
        case("callback: forged state", consented(), get("/oauth/callback/fitbit?state=Zm9yZ2VkLXN0YXRlLW5vYm9keS1pc3N1ZWQtdGhpcw&code={code}"), page(400)),
        case(
            "callback: replayed state",
            Given::Connected(None),
            get("{callback}"),
            Expect::Page { status: 400, connections: 1, contacts: 1, exchanges: 1 },
        ),
        case("callback: expired state", Given::ExpiredAttempt, get("{callback}"), page(400)),
        case("callback: state issued for the other provider", consented(), get("/oauth/callback/google-health?state={state}&code={code}"), page(400)),
        case("callback: without the browser cookie", consented(), get_from("{callback}", Browser::Fresh), page(403)),
        case("callback: another browser's cookie", consented(), get_from("{callback}", Browser::Other), page(403)),
        case("callback: a cookie that is no binding", consented(), get_from("{callback}", Browser::Raw("__Host-fitbridge-connect=\u{1F36A}; theme=dark")), page(403)),
        case("callback: access_denied", consented(), get("/oauth/callback/fitbit?state={state}&error=access_denied&error_description=The+user+denied"), page(403)),
        case("callback: another provider error", consented(), get("/oauth/callback/fitbit?state={state}&error=server_error%0A%3Cscript%3E&error_description=x"), page(502)),
        case("callback: google access_denied", Given::Consented(GOOGLE, None), get("/oauth/callback/google-health?state={state}&error=access_denied"), page(403)),
        case("callback: no code", consented(), get("/oauth/callback/fitbit?state={state}"), page(400)),
        case("callback: empty code", consented(), get("/oauth/callback/fitbit?state={state}&code="), page(400)),
        case("callback: forged code", consented(), get("/oauth/callback/fitbit?state={state}&code=forged-code-0123456789"), page(400)),
        case("callback: huge query (8 KiB state)", consented(), get("/oauth/callback/fitbit?state={huge}&code={code}"), page(400)),
        Case {
            after: After::CallbackConnects,
            ..case(
                "callback: a forged state before the real one",
                consented(),
                get("/oauth/callback/fitbit?state=Zm9yZ2VkLXN0YXRlLW5vYm9keS1pc3N1ZWQtdGhpcw&state={state}&code={code}"),
                page(400),
            )
        },
    ];
    cases.extend([
        Case {
            answer: Some(A::SapRaw {
                matching: None,
                answer: html(503, "Service Temporarily Unavailable"),
                after_processing: false,
                requests: LASTING,
            }),
            after: After::ConnectsAgain,
            ..case(
                "callback: SAP answers a proxy's HTML 503",
                Given::Consented(FITBIT, Some(Link::Signed(RefKind::Plain))),
                get("{callback}"),
                page_after_exchange(502),
            )
        },
        Case {
            answer: Some(A::SapRejectsPerson(400)),
            ..case(
                "callback: SAP refuses the contact (400 in its changeset)",
                consented(),
                get("{callback}"),
                page_after_exchange(502),
            )
        },
        Case {
            answer: Some(A::FitbitGone),
            ..case(
                "callback: Fitbit answers 410 Gone",
                consented(),
                get("{callback}"),
                page(502),
            )
        },
        Case {
            answer: Some(A::ProviderRaw(FITBIT, html(502, "Bad Gateway"))),
            ..case(
                "callback: the profile is a proxy's HTML 502",
                consented(),
                get("{callback}"),
                page_after_exchange(502),
            )
        },
        Case {
            answer: Some(A::ProviderRaw(
                GOOGLE,
                RawAnswer::new(200, "application/json", r#"{"healthUserId": 4711"#),
            )),
            ..case(
                "callback: Google's identity is truncated JSON",
                Given::Consented(GOOGLE, None),
                get("{callback}"),
                page_after_exchange(502),
            )
        },
    ]);

    // ---- Webhooks: Fitbit
    let person = || Given::Person(FITBIT);
    let entry = FITBIT_ENTRY;
    cases.extend([
        case("fitbit webhook: truncated JSON", person(), signed_fitbit(&format!("[{entry}")[..60]), webhook(400, 0)),
        Case {
            after: After::Imports(4),
            ..case(
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
        },
        Case {
            after: After::Imports(0),
            ..case(
                "fitbit webhook: numeric owner id of nobody",
                person(),
                signed_fitbit(r#"[{"collectionType":"activities","date":"{day}","ownerId":18446744073709551615}]"#),
                webhook(204, 1),
            )
        },
        case(
            "fitbit webhook: huge body (300 KiB)",
            person(),
            Input::Webhook {
                method: "POST",
                target: "/webhooks/fitbit",
                headers: vec![("content-type", Header::Text("application/json")), ("x-fitbit-signature", Header::FitbitSignature)],
                body: Body::Huge(300 * 1024),
                base64: false,
            },
            webhook(413, 0),
        ),
        Case {
            after: After::Imports(0),
            ..case(
                "fitbit webhook: unicode owner id",
                person(),
                signed_fitbit(r#"[{"collectionType":"activities","date":"{day}","ownerId":"Ünï-東京-🙂\u202e"}]"#),
                webhook(204, 1),
            )
        },
        Case {
            after: After::Imports(4),
            ..case(
                "fitbit webhook: duplicate keys and entries",
                person(),
                signed_fitbit(
                    r#"[{"ownerId":"NOBODY","collectionType":"sleep","date":"{day}","ownerId":"{user}","collectionType":"activities"},
                        {"ownerId":"NOBODY","collectionType":"sleep","date":"{day}","ownerId":"{user}","collectionType":"activities"}]"#,
                ),
                webhook(204, 1),
            )
        },
        case("fitbit webhook: no signature", person(), fitbit_post(vec![("content-type", Header::Text("application/json"))], &format!("[{entry}]")), webhook(404, 0)),
        case(
            "fitbit webhook: signed with another secret",
            person(),
            fitbit_post(vec![("x-fitbit-signature", Header::FitbitSignatureOtherSecret)], &format!("[{entry}]")),
            webhook(404, 0),
        ),
        case(
            "fitbit webhook: body changed after signing",
            person(),
            fitbit_post(vec![("x-fitbit-signature", Header::FitbitSignatureOfOtherBody)], &format!("[{entry}]")),
            webhook(404, 0),
        ),
        case(
            "fitbit webhook: signature not base64",
            person(),
            fitbit_post(vec![("x-fitbit-signature", Header::Text("%%%not-base64%%%"))], &format!("[{entry}]")),
            webhook(404, 0),
        ),
        Case {
            after: After::Imports(4),
            ..case(
                "fitbit webhook: wrong content type (text/plain)",
                person(),
                fitbit_post(
                    vec![("content-type", Header::Text("text/plain; charset=latin1")), ("x-fitbit-signature", Header::FitbitSignature)],
                    &format!("[{entry}]"),
                ),
                webhook(204, 1),
            )
        },
        Case {
            after: After::Imports(4),
            ..case(
                "fitbit webhook: base64-encoded by API Gateway",
                person(),
                Input::Webhook {
                    method: "POST",
                    target: "/webhooks/fitbit",
                    headers: vec![("content-type", Header::Text("application/octet-stream")), ("x-fitbit-signature", Header::FitbitSignature)],
                    body: Body::Text(format!("[{entry}]")),
                    base64: true,
                },
                webhook(204, 1),
            )
        },
        case(
            "fitbit webhook: bytes that are no text (base64), signed",
            person(),
            Input::Webhook {
                method: "POST",
                target: "/webhooks/fitbit",
                headers: vec![("content-type", Header::Text("application/octet-stream")), ("x-fitbit-signature", Header::FitbitSignature)],
                body: Body::Binary(vec![0xff, 0xfe, b'[', 0x00, 0xc3, 0x28, b']']),
                base64: true,
            },
            webhook(400, 0),
        ),
        Case {
            answer: Some(A::WorkQueueDown),
            ..case("fitbit webhook: the work queue is down", person(), signed_fitbit(&format!("[{entry}]")), webhook(503, 0))
        },
        Case {
            after: After::Imports(4),
            ..case(
                "fitbit webhook: no content type",
                person(),
                fitbit_post(vec![("x-fitbit-signature", Header::FitbitSignature)], &format!("[{entry}]")),
                webhook(204, 1),
            )
        },
        case("fitbit webhook: empty body, signed", person(), signed_fitbit(""), webhook(400, 0)),
        case("fitbit webhook: JSON that is no notification", person(), signed_fitbit("\"activities\""), webhook(400, 0)),
        case(
            "fitbit webhook: verify with the right code",
            none.clone(),
            Input::Webhook { method: "GET", target: "/webhooks/fitbit?verify={verify}", headers: vec![], body: Body::Text(String::new()), base64: false },
            webhook(204, 0),
        ),
        case(
            "fitbit webhook: verify with a wrong code",
            none.clone(),
            Input::Webhook { method: "GET", target: "/webhooks/fitbit?verify=guessed-code", headers: vec![], body: Body::Text(String::new()), base64: false },
            webhook(404, 0),
        ),
        case(
            "fitbit webhook: GET without a code",
            none.clone(),
            Input::Webhook { method: "GET", target: "/webhooks/fitbit", headers: vec![], body: Body::Text(String::new()), base64: false },
            webhook(404, 0),
        ),
        case(
            "fitbit webhook: PUT",
            person(),
            Input::Webhook { method: "PUT", target: "/webhooks/fitbit", headers: vec![("x-fitbit-signature", Header::FitbitSignature)], body: Body::Text(format!("[{entry}]")), base64: false },
            webhook(405, 0),
        ),
        case(
            "webhook: unknown provider",
            person(),
            Input::Webhook { method: "POST", target: "/webhooks/strava", headers: vec![("x-fitbit-signature", Header::FitbitSignature)], body: Body::Text(format!("[{entry}]")), base64: false },
            webhook(404, 0),
        ),
    ]);

    // ---- Webhooks: Google Health
    let gperson = || Given::Person(GOOGLE);
    let (today, tomorrow) = (iso(day()), iso(day().next_day().unwrap()));
    let gentry = google_entry("{user}", "steps", &today, &tomorrow);
    cases.extend([
        case(
            "google webhook: no signature",
            gperson(),
            google_post(vec![("authorization", Header::GoogleAuthorization)], &gentry),
            webhook(401, 0),
        ),
        case(
            "google webhook: signature of another body",
            gperson(),
            google_post(vec![("google-health-api-signature", Header::GoogleSignatureOfOtherBody)], &gentry),
            webhook(403, 0),
        ),
        case(
            "google webhook: signature that is no signature",
            gperson(),
            google_post(vec![("google-health-api-signature", Header::Text("AQAAAAB=garbage"))], &gentry),
            webhook(403, 0),
        ),
        case("google webhook: not JSON", gperson(), signed_google("data=steps&user={user}"), webhook(400, 0)),
        case(
            "google webhook: probe with the authorization",
            none.clone(),
            google_post(vec![("authorization", Header::GoogleAuthorization)], r#"{"type":"verification"}"#),
            webhook(201, 0),
        ),
        case("google webhook: probe without authorization", none.clone(), google_post(vec![], r#"{"type":"verification"}"#), webhook(401, 0)),
        case(
            "google webhook: probe with a wrong authorization",
            none.clone(),
            google_post(vec![("authorization", Header::Text("Bearer guessed"))], r#"{"type":"verification"}"#),
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
        Case {
            after: After::Imports(4),
            ..case(
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
        },
        case(
            "google webhook: an interval of ten years",
            gperson(),
            signed_google(&google_entry("{user}", "sleep", "2016-01-01", &tomorrow)),
            webhook(204, 31),
        ),
        case("google webhook: GET", none.clone(), Input::Webhook { method: "GET", target: "/webhooks/google-health", headers: vec![], body: Body::Text(String::new()), base64: false }, webhook(405, 0)),
    ]);

    // ---- Provider answers, met by the worker
    let with = |name, answer: Answer, given: Given, expect: Expect, after: After| Case {
        name,
        given,
        answer: Some(answer),
        input: Input::Work { nobody: false },
        expect,
        after,
    };
    use ConnectionStatus::{Active, NeedsReconsent, ProviderGone};
    cases.extend([
        with("fitbit answers a proxy's HTML 502", A::ProviderRaw(FITBIT, html(502, "Bad Gateway")), person(), work(Fate::DeadLetter, 0, Active, 0), After::Imports(4)),
        with(
            "fitbit answers truncated JSON with 200",
            A::ProviderRaw(FITBIT, RawAnswer::new(200, "application/json", r#"{"activities":[],"summary":{"steps":80"#)),
            person(),
            work(Fate::DeadLetter, 0, Active, 0),
            After::Imports(4),
        ),
        with(
            "fitbit answers a string where a number is",
            A::ProviderRaw(FITBIT, RawAnswer::new(200, "application/json", r#"{"summary":{"steps":"8012","caloriesOut":2301}}"#)),
            person(),
            work(Fate::DeadLetter, 0, Active, 0),
            After::Imports(4),
        ),
        with(
            "fitbit answers 200 with a captive portal's HTML",
            A::ProviderRaw(FITBIT, RawAnswer::new(200, "text/html", "<html><body>Please log in to the Wi-Fi</body></html>")),
            person(),
            work(Fate::DeadLetter, 0, Active, 0),
            After::Imports(4),
        ),
        with(
            "fitbit answers a huge valid day (2 MiB)",
            A::ProviderRaw(
                FITBIT,
                RawAnswer::new(
                    200,
                    "application/json",
                    format!(
                        r#"{{"summary":{{"steps":8012,"caloriesOut":2301,"distances":[{{"activity":"total","distance":5.83}}],"fairlyActiveMinutes":12,"veryActiveMinutes":30}},"activities":[{}]}}"#,
                        vec![r#"{"name":"walk","steps":1}"#; 80_000].join(",")
                    ),
                ),
            ),
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
            A::ProviderRaw(FITBIT, RawAnswer::new(429, "application/json", r#"{"errors":[{"errorType":"request_throttled"}]}"#)),
            person(),
            work(Fate::WaitsForReset(3605..=3605), 0, Active, 0),
            After::Imports(4),
        ),
        with("fitbit answers 401 (token expired): refresh, then import", A::TokenExpired(FITBIT), person(), work(Fate::ViaRetryQueue, 4, Active, 0), After::Nothing),
        with(
            "fitbit keeps answering 401 after the refresh",
            A::ProviderRaw(FITBIT, RawAnswer::new(401, "application/json", r#"{"errors":[{"errorType":"invalid_token","message":"Access token invalid"}],"success":false}"#)),
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
        Case {
            name: "work for a person nobody knows",
            given: person(),
            answer: None,
            input: Input::Work { nobody: true },
            expect: Expect::Work(Work { fate: Fate::Done, imported: 0, status: None, parked: 0 }),
            after: After::Nothing,
        },
        with("google answers a proxy's HTML 502", A::ProviderRaw(GOOGLE, html(502, "Bad Gateway")), gperson(), work(Fate::DeadLetter, 0, Active, 0), After::Imports(4)),
        with(
            "google answers an object where an int64 is",
            A::ProviderRaw(GOOGLE, RawAnswer::new(200, "application/json", r#"{"rollupDataPoints":[{"steps":{"countSum":{"value":"12"}}}]}"#)),
            gperson(),
            work(Fate::DeadLetter, 0, Active, 0),
            After::Imports(4),
        ),
        with(
            "google answers 403: the Health API is disabled",
            A::ProviderRaw(
                GOOGLE,
                RawAnswer::new(
                    403,
                    "application/json; charset=UTF-8",
                    r#"{"error":{"code":403,"message":"Google Health API has not been used in project 123456789012 before or it is disabled.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"SERVICE_DISABLED","domain":"googleapis.com"}]}}"#,
                ),
            ),
            gperson(),
            work(Fate::DeadLetter, 0, Active, 0),
            After::Imports(4),
        ),
        with(
            "google answers 403: a scope was withdrawn",
            A::ProviderRaw(
                GOOGLE,
                RawAnswer::new(
                    403,
                    "application/json; charset=UTF-8",
                    r#"{"error":{"code":403,"message":"Request had insufficient authentication scopes.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"ACCESS_TOKEN_SCOPE_INSUFFICIENT","domain":"googleapis.com"}]}}"#,
                )
                .with_header("www-authenticate", r#"Bearer realm="https://accounts.google.com/", error="insufficient_scope""#),
            ),
            gperson(),
            work(Fate::Done, 0, Active, 0),
            After::Nothing,
        ),
        with(
            "fitbit answers 403 insufficient_scope (a scope was withdrawn)",
            A::ProviderRaw(
                FITBIT,
                RawAnswer::new(403, "application/json", r#"{"errors":[{"errorType":"insufficient_scope","message":"This application does not have permission to access activity data."}],"success":false}"#),
            ),
            person(),
            work(Fate::Done, 0, Active, 0),
            After::Nothing,
        ),
        with(
            "fitbit answers a proxy's HTML 403",
            A::ProviderRaw(FITBIT, html(403, "Forbidden")),
            person(),
            work(Fate::DeadLetter, 0, Active, 0),
            After::Imports(4),
        ),
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
    ]);

    // ---- SAP answers, met by the worker's import
    cases.extend([
        with(
            "SAP answers a proxy's HTML 503",
            A::SapRaw { matching: None, answer: html(503, "Service Temporarily Unavailable"), after_processing: false, requests: LASTING },
            person(),
            work(Fate::DeadLetter, 0, Active, 0),
            After::Imports(4),
        ),
        with("SAP answers 503 (its own error)", A::SapStatus(503), person(), work(Fate::DeadLetter, 0, Active, 0), After::Imports(4)),
        with("SAP answers 401 (its password was rotated)", A::SapStatus(401), person(), work(Fate::DeadLetter, 0, Active, 0), After::Imports(4)),
        with("SAP ended the session: CSRF 403, fetched again", A::SapSessionsExpired, person(), work(Fate::Done, 4, Active, 0), After::Nothing),
        with(
            "SAP keeps answering CSRF 403 Required",
            A::SapRaw {
                matching: Some("$batch"),
                answer: RawAnswer::new(403, "text/plain", "CSRF token validation failed").with_header("x-csrf-token", "Required"),
                after_processing: false,
                requests: LASTING,
            },
            person(),
            work(Fate::DeadLetter, 0, Active, 0),
            After::Imports(4),
        ),
        with("SAP refuses the interactions (400 per changeset)", A::SapRejectsPerson(400), person(), work(Fate::DeadLetter, 0, Active, 0), After::Imports(4)),
        with(
            "SAP's $batch answer is cut short (after applying it)",
            A::SapRaw {
                matching: Some("$batch"),
                answer: RawAnswer::new(
                    202,
                    "multipart/mixed; boundary=batch_0a1b",
                    "--batch_0a1b\r\nContent-Type: multipart/mixed; boundary=changeset_77\r\n\r\n--changeset_77\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 201 Crea",
                ),
                after_processing: true,
                requests: 1,
            },
            person(),
            work(Fate::BackoffThenDone(1), 4, Active, 0),
            After::Nothing,
        ),
        with(
            "SAP answers 200 with a body that is no multipart (after applying it)",
            A::SapRaw {
                matching: Some("$batch"),
                answer: RawAnswer::new(200, "application/json", r#"{"d":{"results":[]}}"#),
                after_processing: true,
                requests: 1,
            },
            person(),
            work(Fate::BackoffThenDone(1), 4, Active, 0),
            After::Nothing,
        ),
        with(
            "SAP answers a gateway's HTML 504 (after applying it)",
            A::SapRaw { matching: Some("$batch"), answer: html(504, "Gateway Time-out"), after_processing: true, requests: 1 },
            person(),
            work(Fate::BackoffThenDone(1), 4, Active, 0),
            After::Nothing,
        ),
    ]);
    // ---- Messages nothing of ours sends: poison, kept in the dead-letter queue for a person
    let dead = || {
        Expect::Work(Work {
            fate: Fate::DeadLetter,
            imported: 0,
            status: None,
            parked: 0,
        })
    };
    let message = |name, retry_queue, body| Case {
        name,
        given: Given::Nothing,
        answer: None,
        input: Input::Message { retry_queue, body },
        expect: dead(),
        after: After::Nothing,
    };
    cases.extend([
        message("work message that is no JSON", false, "sync GGNJL9 2026-11-20"),
        message("work message for a provider nobody serves", false, r#"{"provider":"strava","user_id":"A1","task":"sync","date":"2026-11-20","collections":["activities"]}"#),
        message("work message with an impossible date", false, r#"{"provider":"fitbit","user_id":"A1","task":"sync","date":"2026-02-30","collections":["activities"]}"#),
        message("retry message that is no JSON", true, "{\"work\": "),
    ]);
    cases
}

// ---------------------------------------------------------------------------------------
// The runner.

/// What a case learned on its way: the values templates are filled with, and everything
/// secret or personal it saw issued.
#[derive(Default)]
struct Ctx {
    user: String,
    state: String,
    code: String,
    callback: String,
    link: String,
    customer_ref: Option<String>,
    day: Option<Date>,
    /// (what it is, the value)
    forbidden: Vec<(&'static str, String)>,
    /// Users whose tokens the sandboxes issued.
    fitbit_users: Vec<String>,
    google_users: Vec<String>,
}

struct Outcome {
    got: String,
    stored: String,
    failures: Vec<String>,
}

/// Three days before the in-process world's start.
fn day() -> Date {
    fitbridge_integration::in_process::START.date() - time::Duration::days(3)
}

fn hex_sha256(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A distinctive value that cannot be in a log by chance.
fn marker(prefix: &str) -> String {
    format!("{prefix}{}", random_user_id())
}

impl Ctx {
    fn fill(&self, template: &str, world: &World) -> String {
        let day = self.day.unwrap_or_else(day);
        template
            .replace("{state}", &self.state)
            .replace("{code}", &self.code)
            .replace("{callback}", &self.callback)
            .replace("{link}", &self.link)
            .replace("{user}", &self.user)
            .replace("{day}", &fitbridge::domain::work::iso_date::format(day))
            .replace(
                "{next}",
                &fitbridge::domain::work::iso_date::format(day.next_day().unwrap()),
            )
            .replace("{verify}", &world.issued.fitbit_verification_code)
            .replace("{huge}", &"S".repeat(HUGE_QUERY))
    }

    /// `ref=…&expires=…&sig=…` of a link, the ref and signature noted as secret.
    fn link_query(&mut self, world: &World, provider: ProviderKind, link: &Link) -> String {
        let now = world.now().unix_timestamp();
        let customer_ref = match link {
            Link::Signed(RefKind::Unicode) => marker("Kundin-Ä-東京-🙂-"),
            Link::Signed(RefKind::TooLong) => format!("{}{}", marker("C-"), "x".repeat(248)),
            Link::Signed(RefKind::Huge) => format!("{}{}", marker("C-"), "h".repeat(HUGE_QUERY)),
            _ => marker("C-REF-"),
        };
        self.forbidden.push(("customer ref", customer_ref.clone()));
        let other = match provider {
            FITBIT => GOOGLE,
            GOOGLE => FITBIT,
        };
        let query = match link {
            Link::Signed(_) => world.signed_link_query(provider, &customer_ref, now + 3600),
            Link::Unsigned => format!("ref={customer_ref}"),
            Link::Forged => {
                let sig = fitbridge::domain::link::sign(
                    &Secret::new("not-the-key"),
                    provider,
                    &customer_ref,
                    now + 3600,
                );
                format!("ref={customer_ref}&expires={}&sig={sig}", now + 3600)
            }
            Link::Altered => world
                .signed_link_query(provider, &customer_ref, now + 3600)
                .replacen("ref=C-REF-", "ref=C-REG-", 1),
            Link::Expired => world.signed_link_query(provider, &customer_ref, now - 60),
            Link::TooLongLived => {
                world.signed_link_query(provider, &customer_ref, now + 91 * 86_400)
            }
            Link::OtherProvider => world.signed_link_query(other, &customer_ref, now + 3600),
            Link::NonNumericExpires => {
                let signed = world.signed_link_query(provider, &customer_ref, now + 3600);
                signed.replacen("&expires=", "&expires=tomorrow", 1)
            }
        };
        if let Some(sig) = query.split("&sig=").nth(1) {
            self.forbidden.push(("link signature", sig.to_owned()));
        }
        self.customer_ref = Some(customer_ref);
        query
    }

    /// Links in a template: `{link:<kind>}`.
    fn links_in(&mut self, world: &World, template: &str) -> String {
        let kinds = [
            ("{link:unsigned}", Link::Unsigned),
            ("{link:forged}", Link::Forged),
            ("{link:altered}", Link::Altered),
            ("{link:expired}", Link::Expired),
            ("{link:too-long-lived}", Link::TooLongLived),
            ("{link:other-provider}", Link::OtherProvider),
            ("{link:non-numeric}", Link::NonNumericExpires),
            ("{link:too-long}", Link::Signed(RefKind::TooLong)),
            ("{link:huge}", Link::Signed(RefKind::Huge)),
        ];
        let mut out = template.to_owned();
        for (placeholder, link) in kinds {
            if out.contains(placeholder) {
                let query = self.link_query(world, FITBIT, &link);
                out = out.replace(placeholder, &query);
            }
        }
        out
    }
}

async fn prepare(world: &World, given: &Given, ctx: &mut Ctx) {
    match given {
        Given::Nothing => {}
        Given::Consented(provider, link) => consent(world, *provider, link.as_ref(), ctx).await,
        Given::Connected(link) => {
            consent(world, FITBIT, link.as_ref(), ctx).await;
            let done = world.browser_get(&ctx.callback).await;
            assert_eq!(done.status(), 200, "the person connects: {}", text(&done));
        }
        Given::ExpiredAttempt => {
            let state = pkce::new_state();
            let binding = pkce::new_state();
            world
                .store
                .put(
                    &state,
                    &PendingAuthorization {
                        provider: FITBIT,
                        code_verifier: pkce::new_verifier(),
                        link: None,
                        redirect_uri: format!("{PUBLIC_BASE_URL}/oauth/callback/fitbit"),
                        expires_at: world.now() - time::Duration::minutes(1),
                        browser_hash: hex_sha256(&binding),
                    },
                )
                .await
                .unwrap();
            world.set_browser_cookie(&format!("{BROWSER_COOKIE}={binding}"));
            ctx.code = marker("code-");
            ctx.callback = format!("/oauth/callback/fitbit?code={}&state={state}", ctx.code);
            ctx.forbidden
                .extend([("state", state.clone()), ("browser binding", binding)]);
            ctx.state = state;
        }
        Given::Person(provider) => {
            let user = match *provider {
                FITBIT => {
                    world
                        .connected(FITBIT, &["activity", "sleep", "weight", "profile"])
                        .await
                }
                GOOGLE => {
                    world
                        .connected(GOOGLE, &fitbridge::provider::google_health::scopes::DEFAULT)
                        .await
                }
            };
            match *provider {
                FITBIT => ctx.fitbit_users.push(user.clone()),
                GOOGLE => ctx.google_users.push(user.clone()),
            }
            ctx.user = user;
        }
    }
}

/// The person opens `/connect/{provider}` (with the link) and consents.
async fn consent(world: &World, provider: ProviderKind, link: Option<&Link>, ctx: &mut Ctx) {
    let first = marker("Zora");
    let last = marker("Quellmalz");
    match provider {
        FITBIT => {
            let id = random_user_id();
            world
                .sandbox
                .fitbit
                .add_user(TestUser::new(&id, &first, &last));
            world.sandbox.fitbit.set_consent(Consent::allow_all(&id));
            ctx.fitbit_users.push(id.clone());
            ctx.user = id;
        }
        GOOGLE => {
            let id = fitbridge_integration::random_health_user_id();
            let user = GoogleUser::new(&id, &first, &last);
            ctx.forbidden.push(("email", user.email.clone()));
            world.sandbox.google_health.add_user(user);
            world
                .sandbox
                .google_health
                .set_consent(GoogleConsent::allow_all(&id));
            ctx.google_users.push(id.clone());
            ctx.user = id;
        }
    }
    ctx.forbidden
        .extend([("first name", first), ("last name", last)]);
    let mut start = format!("/connect/{provider}");
    if let Some(link) = link {
        let query = ctx.link_query(world, provider, link);
        start = format!("{start}?{query}");
        ctx.link = query;
    }
    let redirect = world.browser_get(&start).await;
    assert_eq!(
        redirect.status(),
        302,
        "connect redirects: {}",
        text(&redirect)
    );
    ctx.forbidden
        .extend(world.browser_cookies().iter().filter_map(|c| {
            c.split_once('=')
                .map(|(_, v)| ("browser binding", v.to_owned()))
        }));
    ctx.callback = world.consent(location(&redirect)).await;
    let url = url::Url::parse(&format!("{PUBLIC_BASE_URL}{}", ctx.callback)).unwrap();
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "state" => ctx.state = v.into_owned(),
            "code" => ctx.code = v.into_owned(),
            _ => {}
        }
    }
    ctx.forbidden
        .extend([("state", ctx.state.clone()), ("code", ctx.code.clone())]);
}

async fn inject(world: &World, answer: &Answer, ctx: &Ctx) {
    let sandbox = &world.sandbox;
    match answer {
        Answer::ProviderRaw(FITBIT, raw) => {
            sandbox.fitbit.answer_next_requests(LASTING, raw.clone())
        }
        Answer::ProviderRaw(GOOGLE, raw) => sandbox
            .google_health
            .answer_next_requests(LASTING, raw.clone()),
        Answer::ProviderStatus(FITBIT, status) => sandbox.fitbit.fail_next_requests(1, *status),
        Answer::ProviderStatus(GOOGLE, status) => {
            sandbox.google_health.fail_next_requests(1, *status)
        }
        Answer::ProviderThrottled(FITBIT) => sandbox.fitbit.throttle_user(&ctx.user, 3600),
        Answer::ProviderThrottled(GOOGLE) => sandbox.google_health.throttle_user(&ctx.user, 3600),
        Answer::TokenExpired(FITBIT) => assert!(sandbox.fitbit.expire_access_token(&ctx.user)),
        Answer::TokenExpired(GOOGLE) => {
            assert!(sandbox.google_health.expire_access_token(&ctx.user))
        }
        Answer::Revoked(FITBIT) => assert!(sandbox.fitbit.revoke_user(&ctx.user)),
        Answer::Revoked(GOOGLE) => assert!(sandbox.google_health.revoke_user(&ctx.user)),
        Answer::FitbitGone => sandbox.fitbit.set_gone(true),
        Answer::SapRaw {
            matching,
            answer,
            after_processing,
            requests,
        } => sandbox.sap.answer_next_requests(
            *requests,
            *matching,
            answer.clone(),
            *after_processing,
        ),
        Answer::SapStatus(status) => sandbox.sap.fail_next_requests(LASTING, *status),
        Answer::SapRejectsPerson(status) => sandbox.sap.fail_parts_matching(&ctx.user, *status),
        Answer::WorkQueueDown => world.work_queue.set_down(true),
        Answer::SapSessionsExpired => {
            // A session to lose: an earlier day imported (its four interactions are not
            // the case's).
            let earlier = day() - time::Duration::days(1);
            let run = world
                .run(vec![world.message(sync(FITBIT, &ctx.user, earlier))])
                .await;
            assert_eq!(run.decisions, [Decision::Delete], "warm-up import");
            sandbox.sap.expire_sessions();
        }
    }
}

fn clear(world: &World, ctx: &Ctx) {
    let sandbox = &world.sandbox;
    sandbox.fitbit.clear_faults();
    sandbox.google_health.clear_faults();
    sandbox.sap.clear_faults();
    sandbox.fitbit.set_gone(false);
    world.work_queue.set_down(false);
    if !ctx.user.is_empty() {
        sandbox.fitbit.unthrottle_user(&ctx.user);
        sandbox.google_health.unthrottle_user(&ctx.user);
    }
}

fn sync(provider: ProviderKind, user: &str, date: Date) -> WorkItem {
    WorkItem::sync(
        provider,
        ProviderUserId(user.into()),
        date,
        vec![Collection::Activities],
    )
}

/// Interactions in SAP of the person's day, by source object.
fn interactions_of_day(world: &World, provider: ProviderKind, user: &str) -> Vec<(String, usize)> {
    let day = fitbridge::domain::work::iso_date::format(day());
    let contact = contact_of(provider, user);
    let mut by_source: std::collections::BTreeMap<String, usize> = Default::default();
    for i in world.sandbox.sap.interactions() {
        let source = i
            .field_str("InteractionSourceObject")
            .unwrap_or_default()
            .to_owned();
        if i.field_str("InteractionContactId") == Some(contact.id.as_str()) && source.contains(&day)
        {
            *by_source.entry(source).or_default() += 1;
        }
    }
    by_source.into_iter().collect()
}

/// What the world held before a case: the case's effects are the differences.
struct Before {
    connections: usize,
    contacts: usize,
    interactions: usize,
    exchanges: u64,
}

async fn run_case(world: &World, case: &Case, ctx: &mut Ctx) -> Outcome {
    // A new browser; nothing on the queues; no fault left.
    world.new_browser();
    let _ = world.work_queue.drain();
    let _ = world.retry_queue.drain_retries();
    clear(world, ctx);
    let before = Before {
        connections: world.connections().await,
        contacts: world.sandbox.sap.contacts().len(),
        interactions: world.sandbox.sap.interactions().len(),
        exchanges: token_exchanges(world),
    };
    ctx.day = Some(day());
    prepare(world, &case.given, ctx).await;
    if let Some(answer) = &case.answer {
        inject(world, answer, ctx).await;
    }
    let _ = world.work_queue.drain();
    let mut failures = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failures.push(what);
        }
    };
    let (got, stored);
    match (&case.input, &case.expect) {
        (
            Input::OAuth {
                method,
                target,
                browser,
            },
            Expect::Page {
                status,
                connections,
                contacts,
                exchanges,
            },
        ) => {
            let target = ctx.links_in(world, target);
            let target = ctx.fill(&target, world);
            let cookies = match browser {
                Browser::Person => world.browser_cookies(),
                Browser::Fresh => vec![],
                Browser::Other => vec![format!("{BROWSER_COOKIE}={}", pkce::new_state())],
                Browser::Raw(cookie) => vec![(*cookie).to_owned()],
            };
            let response = world.oauth(method, &target, &cookies).await;
            let code = response.status().as_u16();
            // Whatever the page says, it must not echo what came in.
            let body = text(&response);
            for echo in [&ctx.state, &ctx.code, &ctx.link] {
                check(
                    echo.is_empty() || !body.contains(echo.as_str()),
                    "the page echoes the request".into(),
                );
            }
            if let Some(r) = &ctx.customer_ref {
                check(
                    !body.contains(r.as_str()),
                    "the page echoes the customer ref".into(),
                );
            }
            for set in response.headers().get_all("set-cookie") {
                if let Some(v) = set
                    .to_str()
                    .ok()
                    .and_then(|c| c.split(';').next())
                    .and_then(|c| c.split_once('='))
                {
                    ctx.forbidden.push(("browser binding", v.1.to_owned()));
                }
            }
            let n_connections = world.connections().await - before.connections;
            let n_contacts = world.sandbox.sap.contacts().len() - before.contacts;
            let n_exchanges = token_exchanges(world) - before.exchanges;
            got = format!("{code}");
            stored = format!("conn={n_connections} contacts={n_contacts} exchanges={n_exchanges}");
            check(code == *status, format!("status {code}, expected {status}"));
            check(
                n_connections == *connections,
                format!("{n_connections} connections, expected {connections}"),
            );
            check(
                n_contacts == *contacts,
                format!("{n_contacts} contacts in SAP, expected {contacts}"),
            );
            check(
                n_exchanges == *exchanges,
                format!("{n_exchanges} token exchanges, expected {exchanges}"),
            );
            if code == 200 {
                // A signed ref reached SAP as the contact's customer id, and the connection.
                if let Some(r) = &ctx.customer_ref {
                    let contact = world
                        .sandbox
                        .sap
                        .contact(&contact_of(FITBIT, &ctx.user).origin, &ctx.user);
                    let ids = contact.map(|c| c.additional_ids).unwrap_or_default();
                    check(
                        ids.iter().any(|a| a.origin == "CUSTOMER_ID" && &a.id == r),
                        "the customer ref is not on the contact".into(),
                    );
                    let conn = world.connection(FITBIT, &ctx.user).await;
                    check(
                        conn.and_then(|c| c.customer_ref).as_ref() == Some(r),
                        "the customer ref is not on the connection".into(),
                    );
                }
            }
        }
        (
            Input::Webhook {
                method,
                target,
                headers,
                body,
                base64,
            },
            Expect::Webhook { status, queued },
        ) => {
            let body: Vec<u8> = match body {
                Body::Text(t) => ctx.fill(t, world).into_bytes(),
                Body::Binary(bytes) => bytes.clone(),
                Body::Huge(size) => {
                    let entry = ctx.fill(FITBIT_ENTRY, world);
                    let filler = format!(
                        r#"{{"collectionType":"foods","date":"{}","ownerId":"x"}}"#,
                        "2026-01-01"
                    );
                    let mut body = format!("[{entry}");
                    while body.len() < *size {
                        body.push(',');
                        body.push_str(&filler);
                    }
                    body.push(']');
                    body.into_bytes()
                }
            };
            let other_body = [body.as_slice(), b" "].concat();
            let headers: Vec<(String, String)> = headers
                .iter()
                .map(|(name, value)| {
                    let value = match value {
                        Header::Text(t) => (*t).to_owned(),
                        Header::FitbitSignature => {
                            World::fitbit_signature(&world.issued.fitbit_client_secret, &body)
                        }
                        Header::FitbitSignatureOtherSecret => {
                            World::fitbit_signature("another-secret", &body)
                        }
                        Header::FitbitSignatureOfOtherBody => {
                            World::fitbit_signature(&world.issued.fitbit_client_secret, &other_body)
                        }
                        Header::GoogleSignature => world.sandbox.google_health.sign(&body),
                        Header::GoogleSignatureOfOtherBody => {
                            world.sandbox.google_health.sign(&other_body)
                        }
                        Header::GoogleAuthorization => {
                            world.issued.google_webhook_authorization.clone()
                        }
                    };
                    ((*name).to_owned(), value)
                })
                .collect();
            let target = ctx.fill(target, world);
            let code = world
                .webhook_request(method, &target, &headers, &body, *base64)
                .await;
            let items = world.work_queue.items();
            if case.answer.is_some() && code >= 500 {
                // Refused so the provider delivers again: once the fault is gone, it does.
                clear(world, ctx);
                let again = world
                    .webhook_request(method, &target, &headers, &body, *base64)
                    .await;
                let queued_again = world.work_queue.items().len();
                check(
                    again == 204 && queued_again == 1,
                    format!("delivered again: {again}, {queued_again} queued"),
                );
            }
            got = format!("{code}");
            stored = format!("queued={}", items.len());
            check(code == *status, format!("status {code}, expected {status}"));
            check(
                items.len() == *queued,
                format!("{} work items queued, expected {queued}", items.len()),
            );
            check(
                world.connections().await - before.connections
                    == usize::from(matches!(case.given, Given::Person(_))),
                "connections changed".into(),
            );
        }
        (Input::Work { nobody }, Expect::Work(expected)) => {
            let (provider, user) = match case.given {
                Given::Person(p) => (p, ctx.user.clone()),
                _ => unreachable!("work needs a person"),
            };
            let user = if *nobody { marker("NOBODY") } else { user };
            let calls_before = data_calls(world, provider, &user);
            let run = world
                .run(vec![world.message(sync(provider, &user, day()))])
                .await;
            let during = interactions_of_day(world, provider, &user);
            let imported: usize = during.iter().map(|(_, n)| n).sum();
            let connection = world.connection(provider, &user).await;
            let parked = world
                .store
                .parked(provider, &ProviderUserId(user.clone()))
                .await
                .unwrap()
                .len();
            got = run.trace();
            stored = format!(
                "in SAP={imported} parked={parked} {}",
                connection
                    .as_ref()
                    .map(|c| c.status.as_str())
                    .unwrap_or("no connection")
            );
            check(
                fate_matches(&expected.fate, &run),
                format!(
                    "{} does not match {:?}",
                    run.trace(),
                    fate_name(&expected.fate)
                ),
            );
            check(
                imported == expected.imported,
                format!(
                    "{imported} interactions of the day in SAP, expected {}",
                    expected.imported
                ),
            );
            check(
                during.iter().all(|(_, n)| *n == 1),
                format!("an interaction twice in SAP: {during:?}"),
            );
            check(
                connection.as_ref().map(|c| c.status) == expected.status,
                format!(
                    "connection {:?}, expected {:?}",
                    connection.map(|c| c.status),
                    expected.status
                ),
            );
            check(
                parked == expected.parked,
                format!("{parked} parked, expected {}", expected.parked),
            );
            if *nobody {
                check(
                    data_calls(world, provider, &user) == calls_before,
                    "the provider was asked about nobody".into(),
                );
                check(
                    world.sandbox.sap.interactions().len() == before.interactions,
                    "something reached SAP".into(),
                );
            }
            // Run the "after" with what the run left.
            finish(world, case, ctx, &before, Some(run), &mut failures).await;
            collect_tokens(world, ctx);
            return Outcome {
                got,
                stored,
                failures,
            };
        }
        (Input::Message { retry_queue, body }, Expect::Work(expected)) => {
            let run = world.run_raw(*retry_queue, body).await;
            got = run.trace();
            let interactions = world.sandbox.sap.interactions().len() - before.interactions;
            let connections = world.connections().await - before.connections;
            stored = format!("in SAP={interactions} conn={connections}");
            check(
                fate_matches(&expected.fate, &run),
                format!(
                    "{} does not match {:?}",
                    run.trace(),
                    fate_name(&expected.fate)
                ),
            );
            check(
                interactions == 0 && connections == 0,
                "something was stored".into(),
            );
            check(
                world.work_queue.items().is_empty() && world.retry_queue.drain_retries().is_empty(),
                "something was queued".into(),
            );
        }
        _ => unreachable!("{}: input and expectation do not fit", case.name),
    }
    finish(world, case, ctx, &before, None, &mut failures).await;
    collect_tokens(world, ctx);
    Outcome {
        got,
        stored,
        failures,
    }
}

/// Once the bad answer is gone: what was left over must arrive, exactly once.
async fn finish(
    world: &World,
    case: &Case,
    ctx: &mut Ctx,
    before: &Before,
    run: Option<Run>,
    failures: &mut Vec<String>,
) {
    clear(world, ctx);
    match &case.after {
        After::Nothing => {}
        After::Imports(n) => {
            let mut left: Vec<Message> = Vec::new();
            if let Some(run) = run {
                // A redrive from the dead-letter queue, and the delayed copies coming due.
                left.extend(
                    run.leftover
                        .dead_letters
                        .into_iter()
                        .map(|m| world.message(m.item)),
                );
                left.extend(run.leftover.delayed);
            }
            let after = world.run(left).await;
            if after.unsettled
                || after.decisions.iter().any(|d| *d != Decision::Delete)
                || after.leftover.dead() > 0
            {
                failures.push(format!("after: {}", after.trace()));
            }
            let provider = match case.given {
                Given::Person(p) => p,
                _ => FITBIT,
            };
            let got = interactions_of_day(world, provider, &ctx.user);
            let total: usize = got.iter().map(|(_, n)| n).sum();
            if total != *n || got.iter().any(|(_, c)| *c != 1) {
                failures.push(format!(
                    "after: {got:?} in SAP, expected {n} interactions once each"
                ));
            }
        }
        After::CallbackConnects => {
            let done = world.browser_get(&ctx.callback).await;
            if done.status() != 200 || world.connections().await != before.connections + 1 {
                failures.push(format!(
                    "after: the person's own callback answered {}",
                    done.status()
                ));
            }
        }
        After::ConnectsAgain => {
            let start = format!("/connect/fitbit?{}", ctx.link);
            let redirect = world.browser_get(&start).await;
            if redirect.status() != 302 {
                failures.push(format!(
                    "after: the link was not given back ({})",
                    redirect.status()
                ));
                return;
            }
            let callback = world.consent(location(&redirect)).await;
            for (k, v) in url::Url::parse(&format!("{PUBLIC_BASE_URL}{callback}"))
                .unwrap()
                .query_pairs()
            {
                match k.as_ref() {
                    "state" => ctx.forbidden.push(("state", v.into_owned())),
                    "code" => ctx.forbidden.push(("code", v.into_owned())),
                    _ => {}
                }
            }
            let done = world.browser_get(&callback).await;
            if done.status() != 200
                || world.connections().await != before.connections + 1
                || world.sandbox.sap.contacts().len() != before.contacts + 1
            {
                failures.push(format!(
                    "after: connecting again with the link answered {}",
                    done.status()
                ));
            }
        }
    }
}

fn collect_tokens(world: &World, ctx: &mut Ctx) {
    for user in ctx.fitbit_users.drain(..) {
        ctx.forbidden.extend(
            world
                .sandbox
                .fitbit
                .tokens_issued(&user)
                .into_iter()
                .map(|t| ("fitbit token", t)),
        );
    }
    for user in ctx.google_users.drain(..) {
        ctx.forbidden.extend(
            world
                .sandbox
                .google_health
                .tokens_issued(&user)
                .into_iter()
                .map(|t| ("google token", t)),
        );
    }
}

fn token_exchanges(world: &World) -> u64 {
    world
        .sandbox
        .fitbit
        .stats()
        .token_requests_with("authorization_code", "ok")
        + world
            .sandbox
            .fitbit
            .stats()
            .token_requests_with("authorization_code", "error")
        + world
            .sandbox
            .google_health
            .stats()
            .token_requests_with("authorization_code", "ok")
        + world
            .sandbox
            .google_health
            .stats()
            .token_requests_with("authorization_code", "error")
}

fn data_calls(world: &World, provider: ProviderKind, user: &str) -> u64 {
    match provider {
        FITBIT => world.sandbox.fitbit.data_calls(user),
        GOOGLE => world.sandbox.google_health.data_calls(user),
    }
}

fn fate_matches(fate: &Fate, run: &Run) -> bool {
    if run.unsettled {
        return false;
    }
    let d = &run.decisions;
    let backoffs = |n: usize| {
        d.len() >= n
            && d[..n].iter().enumerate().all(|(i, x)| {
                *x == Decision::RedeliverAfter(fitbridge::inbound::sqs::backoff(
                    fitbridge::inbound::sqs::BACKOFF_BASE,
                    i as u32 + 1,
                ))
            })
    };
    let clean = run.leftover.dead() == 0 && run.leftover.delayed.is_empty();
    match fate {
        Fate::Done => d.as_slice() == [Decision::Delete] && clean && run.retries == 0,
        Fate::DeadLetter => {
            d.len() == fitbridge_integration::in_process::MAX_RECEIVE_COUNT as usize
                && backoffs(d.len())
                && run.leftover.dead() == 1
                && run.retries == 0
        }
        Fate::BackoffThenDone(n) => {
            d.len() == n + 1 && backoffs(*n) && d[*n] == Decision::Delete && clean
        }
        Fate::WaitsForReset(range) => {
            let (last, waits) = d.split_last().unwrap();
            d.len() == fitbridge_integration::in_process::MAX_RECEIVE_COUNT as usize
                && *last == Decision::Delete
                && waits.iter().all(
                    |w| matches!(w, Decision::RedeliverAfter(a) if range.contains(&a.as_secs())),
                )
                && run.leftover.delayed.len() == 1
                && run.leftover.dead() == 0
        }
        Fate::ViaRetryQueue => {
            d.iter().all(|x| *x == Decision::Delete) && run.retries == 1 && clean
        }
        Fate::RefreshedThenDeadLetter => {
            let max = fitbridge_integration::in_process::MAX_RECEIVE_COUNT as usize;
            d.len() == max + 1
                && d[0] == Decision::Delete
                && d[1..].iter().enumerate().all(|(i, x)| {
                    *x == Decision::RedeliverAfter(fitbridge::inbound::sqs::backoff(
                        fitbridge::inbound::sqs::BACKOFF_BASE,
                        i as u32 + 1,
                    ))
                })
                && run.retries == 1
                && run.leftover.dead() == 1
        }
    }
}

fn fate_name(fate: &Fate) -> String {
    match fate {
        Fate::Done => "done".into(),
        Fate::DeadLetter => "backoff to the DLQ".into(),
        Fate::BackoffThenDone(n) => format!("{n} backoff(s), then done"),
        Fate::WaitsForReset(r) => format!("waits {r:?} s, never the DLQ"),
        Fate::ViaRetryQueue => "via the retry queue".into(),
        Fate::RefreshedThenDeadLetter => "one refresh, then backoff to the DLQ".into(),
    }
}

fn expected_text(case: &Case) -> String {
    let after = match &case.after {
        After::Nothing => String::new(),
        After::Imports(0) => ", then none arrives".into(),
        After::Imports(n) => format!(", then {n} once"),
        After::ConnectsAgain => ", then connects".into(),
        After::CallbackConnects => ", then the person's connects".into(),
    };
    let main = match &case.expect {
        Expect::Page { status, .. } => format!("{status}"),
        Expect::Webhook { status, queued } => format!("{status}, {queued} queued"),
        Expect::Work(w) => {
            let mut s = fate_name(&w.fate);
            if w.parked > 0 {
                write!(s, ", parked").unwrap();
            }
            if let Some(status) = w.status.filter(|s| *s != ConnectionStatus::Active) {
                write!(s, ", {}", status.as_str()).unwrap();
            }
            s
        }
    };
    format!("{main}{after}")
}

fn area(case: &Case) -> &'static str {
    match (&case.input, &case.answer) {
        (
            Input::OAuth { .. },
            Some(Answer::SapRaw { .. } | Answer::SapRejectsPerson(_) | Answer::SapStatus(_)),
        ) => "oauth/SAP",
        (Input::OAuth { .. }, Some(_)) => "oauth/provider",
        (Input::OAuth { .. }, None) => "oauth",
        (Input::Webhook { .. }, _) => "webhook",
        (
            Input::Work { .. },
            Some(
                Answer::SapRaw { .. }
                | Answer::SapRejectsPerson(_)
                | Answer::SapStatus(_)
                | Answer::SapSessionsExpired,
            ),
        ) => "worker/SAP",
        (Input::Work { .. }, _) => "worker/provider",
        (
            Input::Message {
                retry_queue: false, ..
            },
            _,
        ) => "worker",
        (
            Input::Message {
                retry_queue: true, ..
            },
            _,
        ) => "token-refresh",
    }
}

#[tokio::test]
async fn bad_input_matrix() {
    // Logs as production writes them (JSON, info), for the whole matrix.
    let logs = LogCapture::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(logs.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let names: std::collections::BTreeSet<&str> = cases.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), cases.len(), "case names are unique");

    // One world for the whole matrix, as one warm deployment meets them: what one case does
    // must not spoil the next. Each case brings its own people, browser and links, and
    // counts what it changed.
    let started = Instant::now();
    let world = World::start().await;
    let mut forbidden = vec![
        ("link key", world.issued.link_key.clone()),
        (
            "fitbit client secret",
            world.issued.fitbit_client_secret.clone(),
        ),
        (
            "fitbit verification code",
            world.issued.fitbit_verification_code.clone(),
        ),
        (
            "google client secret",
            world.issued.google_client_secret.clone(),
        ),
        (
            "google webhook authorization",
            world.issued.google_webhook_authorization.clone(),
        ),
        ("SAP password", world.issued.sap_password.clone()),
    ];
    let mut table = String::new();
    let mut failed = Vec::new();
    writeln!(
        table,
        "{:<4} {:<16} {:<66} {:<38} {:<38} stored",
        "", "area", "case", "expected", "got"
    )
    .unwrap();
    for case in &cases {
        let mut ctx = Ctx::default();
        let case_started = Instant::now();
        let outcome = run_case(&world, case, &mut ctx).await;
        let ms = case_started.elapsed().as_millis();
        forbidden.append(&mut ctx.forbidden);
        let mark = if outcome.failures.is_empty() {
            "ok"
        } else {
            "FAIL"
        };
        writeln!(
            table,
            "{mark:<4} {:<16} {:<66} {:<38} {:<38} {} ({ms} ms)",
            area(case),
            case.name,
            expected_text(case),
            outcome.got,
            outcome.stored
        )
        .unwrap();
        if !outcome.failures.is_empty() {
            failed.push(format!("{}: {}", case.name, outcome.failures.join("; ")));
        }
    }
    let took = started.elapsed();
    eprintln!(
        "{table}\n{} cases in {:.1} s",
        cases.len(),
        took.as_secs_f64()
    );

    let text = logs.text();
    assert!(
        text.contains("connect completed") && text.contains("notifications refused"),
        "the capture works (the OAuth and the webhook functions' lines)"
    );
    // Every value is distinctive (random, or with a random part) and at least 8 long.
    assert!(
        forbidden.iter().all(|(_, v)| v.len() >= 8),
        "short values cannot be checked"
    );
    let mut leaked: Vec<&str> = forbidden
        .iter()
        .filter(|(_, v)| text.contains(v.as_str()))
        .map(|(kind, _)| *kind)
        .collect();
    leaked.dedup();
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
    assert!(
        leaked.is_empty(),
        "the logs hold {} kinds of issued secret or personal values: {leaked:?}",
        leaked.len()
    );
}
