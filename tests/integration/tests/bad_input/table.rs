//! The table's vocabulary: what a case is made of (what exists before it, the bad answer
//! injected, the input, what is expected, what happens once the answer is gone).

use std::ops::RangeInclusive;

use fitbridge::domain::{ConnectionStatus, ProviderKind};
use fitbridge_sandbox::RawAnswer;
use time::Date;

pub const FITBIT: ProviderKind = ProviderKind::Fitbit;
pub const GOOGLE: ProviderKind = ProviderKind::GoogleHealth;
pub const POLAR: ProviderKind = ProviderKind::Polar;
/// The longest query API Gateway's HTTP APIs deliver is a little under 10 KiB (request line
/// and headers together).
pub const HUGE_QUERY: usize = 8 * 1024;
/// Data answers stay bad this many requests: longer than any case runs.
pub const LASTING: u32 = 1000;

/// The case's day: three days before the in-process world's start.
pub fn day() -> Date {
    fitbridge_integration::in_process::START.date() - time::Duration::days(3)
}

/// A Fitbit notification entry for `{user}` on the case's day.
pub const FITBIT_ENTRY: &str = r#"{"collectionType":"activities","date":"{day}","ownerId":"{user}","ownerType":"user","subscriptionId":"{user}-activities"}"#;
/// Polar's `ACTIVITY_SUMMARY` payload for `{user}` (a number) on the case's day.
pub const POLAR_ENTRY: &str = r#"{"event":"ACTIVITY_SUMMARY","user_id":{user},"date":"{day}","timestamp":"{day}T20:11:04Z","url":"https://www.polaraccesslink.com/v3/users/activities/{day}"}"#;

// ---------------------------------------------------------------------------------------
// The table's vocabulary.

pub struct Case {
    pub name: &'static str,
    pub given: Given,
    /// Injected after `given`, before the input: a provider's or SAP's bad answer.
    pub answer: Option<Answer>,
    pub input: Input,
    pub expect: Expect,
    /// Once the bad answer is gone (faults cleared, rate limits over).
    pub after: After,
}

/// One route's table: the cases one test runs against a world of its own.
pub struct Route {
    /// The route, as the summary and the failures name it.
    pub name: &'static str,
    /// Lines the route's functions log (at `info` or above) while its cases run: that they
    /// are captured says the capture works.
    pub logs: &'static [&'static str],
    pub cases: Vec<Case>,
}

/// What exists before the input.
#[derive(Clone)]
pub enum Given {
    Nothing,
    /// The person's browser opened `/connect/{provider}` (with the link, if any) and came
    /// back from the consent page: `{state}`, `{code}` and the browser's binding cookie.
    Consented(ProviderKind, Option<Link>),
    /// As `Consented`, and the callback finished: the state and the link are used.
    Connected(ProviderKind, Option<Link>),
    /// An attempt whose ten minutes are over, and the browser that started it.
    ExpiredAttempt,
    /// A person connected to the provider (`{user}`), all collections granted.
    Person(ProviderKind),
}

/// A connect link as the company's app would send it, or as somebody bent it.
#[derive(Clone)]
pub enum Link {
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
pub enum RefKind {
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
pub enum Answer {
    /// The provider's data API answers this, as it is, until cleared.
    ProviderRaw(ProviderKind, RawAnswer),
    /// The provider refuses the day with this status in its error shape: Fitbit's one
    /// request, every request of a Google Health day.
    ProviderStatus(ProviderKind, u16),
    /// Google Health refuses one data type of the day (its requests' paths contain it)
    /// with this status; the others are answered.
    GoogleRefusesDataType(&'static str, u16),
    /// The person is over the provider's rate limit for an hour (with its headers).
    ProviderThrottled(ProviderKind),
    /// The person's access token expired early (401).
    TokenExpired(ProviderKind),
    /// The person removed the app at the provider: 401, and the refresh is `invalid_grant`.
    Revoked(ProviderKind),
    /// The Fitbit API is switched off (410 Gone everywhere, OAuth included).
    FitbitGone,
    /// The person has not accepted Polar's mandatory consents (403 from registration on).
    PolarConsentsMissing,
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
pub enum Input {
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
pub enum Browser {
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
pub enum Header {
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
    /// `Polar-Webhook-Signature` of the body with the webhook's signing key.
    PolarSignature,
    /// The same with another key.
    PolarSignatureOtherKey,
    /// The same over another body than the one sent.
    PolarSignatureOfOtherBody,
}

#[derive(Clone)]
pub enum Body {
    Text(String),
    /// Bytes that are no text (delivered base64-encoded, as API Gateway does).
    Binary(Vec<u8>),
    /// A notification body of this many bytes (valid JSON, the person's entry first).
    Huge(usize),
}

#[derive(Clone)]
pub enum Expect {
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
pub struct Work {
    pub fate: Fate,
    /// Interactions of the day in SAP while the answer lasted.
    pub imported: usize,
    /// The person's connection afterwards (`None`: there is none).
    pub status: Option<ConnectionStatus>,
    /// Work items parked for the person.
    pub parked: usize,
}

#[derive(Clone)]
pub enum Fate {
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
pub enum After {
    Nothing,
    /// The work left (dead letters redriven, delayed copies, queued notifications) imports
    /// this many interactions of the day, each exactly once.
    Imports(usize),
    /// The person opens the same link again and connects (it was given back).
    ConnectsAgain,
    /// The person's own callback still connects (their state was not used up).
    CallbackConnects,
}
