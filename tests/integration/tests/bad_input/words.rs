//! The words the routes' tables are written in: cases, requests, expectations and bad
//! answers of the shapes that come back again and again.

use fitbridge::domain::ConnectionStatus;
use fitbridge_sandbox::RawAnswer;
use serde_json::json;
use time::Date;

use crate::table::*;

/// A case without a bad answer, and nothing to check once it is over.
pub fn case(name: &'static str, given: Given, input: Input, expect: Expect) -> Case {
    Case {
        name,
        given,
        answer: None,
        input,
        expect,
        after: After::Nothing,
    }
}

impl Case {
    /// The case, with this bad answer injected after `given`.
    pub fn answered(self, answer: Answer) -> Case {
        Case {
            answer: Some(answer),
            ..self
        }
    }

    /// The case, and what must hold once the bad answer is gone.
    pub fn then(self, after: After) -> Case {
        Case { after, ..self }
    }
}

pub fn iso(date: Date) -> String {
    fitbridge::domain::work::iso_date::format(date)
}

// ---------------------------------------------------------------------------------------
// The OAuth function.

/// A `GET` from the person's browser.
pub fn get(target: &str) -> Input {
    get_from(target, Browser::Person)
}

pub fn get_from(target: &str, browser: Browser) -> Input {
    Input::OAuth {
        method: "GET",
        target: target.to_owned(),
        browser,
    }
}

/// A `POST` from the person's browser.
pub fn post(target: &str) -> Input {
    Input::OAuth {
        method: "POST",
        target: target.to_owned(),
        browser: Browser::Person,
    }
}

/// The page's status; nothing stored, no code exchanged.
pub fn page(status: u16) -> Expect {
    page_with(status, 0, 0)
}

/// The page's status; nothing stored, the code exchanged.
pub fn page_after_exchange(status: u16) -> Expect {
    page_with(status, 0, 1)
}

/// The page's status, and one person connected on the way: a connection, a contact, a
/// code exchanged.
pub fn page_connected(status: u16) -> Expect {
    page_with(status, 1, 1)
}

fn page_with(status: u16, connected: usize, exchanges: u64) -> Expect {
    Expect::Page {
        status,
        connections: connected,
        contacts: connected,
        exchanges,
    }
}

// ---------------------------------------------------------------------------------------
// The webhook function.

pub type Headers = Vec<(&'static str, Header)>;

/// A request to the webhook function, its body as it is.
pub fn delivery(method: &'static str, target: &'static str, headers: Headers, body: &str) -> Input {
    Input::Webhook {
        method,
        target,
        headers,
        body: Body::Text(body.to_owned()),
        base64: false,
    }
}

pub fn fitbit_post(headers: Headers, body: &str) -> Input {
    fitbit_post_as(headers, Body::Text(body.to_owned()), false)
}

/// A Fitbit notification with this body, base64-encoded (as API Gateway delivers what it
/// does not take for text) if `base64`.
pub fn fitbit_post_as(headers: Headers, body: Body, base64: bool) -> Input {
    Input::Webhook {
        method: "POST",
        target: "/webhooks/fitbit",
        headers,
        body,
        base64,
    }
}

/// `Content-Type: application/json`, and Fitbit's signature of the body.
pub fn fitbit_signed_json() -> Headers {
    vec![
        ("content-type", Header::Text("application/json")),
        ("x-fitbit-signature", Header::FitbitSignature),
    ]
}

pub fn signed_fitbit(body: &str) -> Input {
    fitbit_post(fitbit_signed_json(), body)
}

pub fn google_post(headers: Headers, body: &str) -> Input {
    delivery("POST", "/webhooks/google-health", headers, body)
}

pub fn signed_google(body: &str) -> Input {
    google_post(
        vec![
            ("content-type", Header::Text("application/json")),
            ("authorization", Header::GoogleAuthorization),
            ("google-health-api-signature", Header::GoogleSignature),
        ],
        body,
    )
}

pub fn polar_post(headers: Headers, body: &str) -> Input {
    delivery("POST", "/webhooks/polar", headers, body)
}

/// As Polar delivers: JSON, the event named, signed with the webhook's key.
pub fn signed_polar(body: &str) -> Input {
    polar_post(
        vec![
            ("content-type", Header::Text("application/json")),
            ("polar-webhook-event", Header::Text("ACTIVITY_SUMMARY")),
            ("polar-webhook-signature", Header::PolarSignature),
        ],
        body,
    )
}

/// The webhook's status and the work items it queued.
pub fn webhook(status: u16, queued: usize) -> Expect {
    Expect::Webhook { status, queued }
}

pub fn google_entry(user: &str, data_type: &str, start: &str, end: &str) -> String {
    json!({"data": {"version": "1", "clientProvidedSubscriptionName": "fitbridge",
        "healthUserId": user, "operation": "UPSERT", "dataType": data_type,
        "intervals": [{"civilDateTimeInterval": {"start": {"date": civil(start)}, "end": {"date": civil(end)}}}]}})
    .to_string()
}

/// Google's civil date message of `yyyy-mm-dd` (which may be no real day).
pub fn civil(date: &str) -> serde_json::Value {
    let part = |i: usize| date.split('-').nth(i).and_then(|p| p.parse::<i64>().ok());
    json!({"year": part(0), "month": part(1), "day": part(2)})
}

// ---------------------------------------------------------------------------------------
// Work, and the answers it meets.

pub fn work(fate: Fate, imported: usize, status: ConnectionStatus, parked: usize) -> Expect {
    Expect::Work(Work {
        fate,
        imported,
        status: Some(status),
        parked,
    })
}

/// A proxy's (or gateway's) HTML error page.
pub fn html(status: u16, title: &str) -> RawAnswer {
    RawAnswer::new(
        status,
        "text/html",
        format!(
            "<html><head><title>{status} {title}</title></head><body><center><h1>{status} {title}</h1></center><hr><center>nginx</center></body></html>"
        ),
    )
}

pub fn json(status: u16, body: impl Into<String>) -> RawAnswer {
    RawAnswer::new(status, "application/json", body)
}

/// SAP (or what is in front of it) answers this to requests whose path contains `matching`
/// (all if `None`), until cleared.
pub fn sap_answers(matching: Option<&'static str>, answer: RawAnswer) -> Answer {
    Answer::SapRaw {
        matching,
        answer,
        after_processing: false,
        requests: LASTING,
    }
}

/// SAP applies the next `$batch`, and this answer comes back instead of its own.
pub fn sap_applies_batch_then_answers(answer: RawAnswer) -> Answer {
    Answer::SapRaw {
        matching: Some("$batch"),
        answer,
        after_processing: true,
        requests: 1,
    }
}
