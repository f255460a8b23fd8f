//! `GET /oauth/callback/{provider}`: what the OAuth function does with a provider's redirect
//! back that is wrong, and with a provider or SAP that answers badly while it completes.

use crate::table::*;
use crate::words::*;

pub fn route() -> Route {
    Route {
        name: "GET /oauth/callback/{provider}",
        logs: &["connect completed"],
        cases: cases(),
    }
}

/// The callback route's cases, in the order they run.
fn cases() -> Vec<Case> {
    use Answer as A;
    let consented = || Given::Consented(FITBIT, None);
    // The person consented at Fitbit; this comes back: the page's status, nothing stored.
    let refused = |name, input, status| case(name, consented(), input, page(status));
    vec![
        refused("callback: unknown provider", get("/oauth/callback/strava?state={state}&code={code}"), 404),
        refused("callback: POST instead of GET", post("{callback}"), 405),
        refused("callback: no state", get("/oauth/callback/fitbit?code={code}"), 400),
        refused("callback: forged state", get("/oauth/callback/fitbit?state=Zm9yZ2VkLXN0YXRlLW5vYm9keS1pc3N1ZWQtdGhpcw&code={code}"), 400),
        case("callback: replayed state", Given::Connected(FITBIT, None), get("{callback}"), page_connected(400)),
        case("callback: expired state", Given::ExpiredAttempt, get("{callback}"), page(400)),
        refused("callback: state issued for the other provider", get("/oauth/callback/google-health?state={state}&code={code}"), 400),
        refused("callback: without the browser cookie", get_from("{callback}", Browser::Fresh), 403),
        refused("callback: another browser's cookie", get_from("{callback}", Browser::Other), 403),
        refused("callback: a cookie that is no binding", get_from("{callback}", Browser::Raw("__Host-fitbridge-connect=\u{1F36A}; theme=dark")), 403),
        refused("callback: access_denied", get("/oauth/callback/fitbit?state={state}&error=access_denied&error_description=The+user+denied"), 403),
        refused("callback: another provider error", get("/oauth/callback/fitbit?state={state}&error=server_error%0A%3Cscript%3E&error_description=x"), 502),
        case("callback: google access_denied", Given::Consented(GOOGLE, None), get("/oauth/callback/google-health?state={state}&error=access_denied"), page(403)),
        refused("callback: no code", get("/oauth/callback/fitbit?state={state}"), 400),
        refused("callback: empty code", get("/oauth/callback/fitbit?state={state}&code="), 400),
        refused("callback: forged code", get("/oauth/callback/fitbit?state={state}&code=forged-code-0123456789"), 400),
        refused("callback: huge query (8 KiB state)", get("/oauth/callback/fitbit?state={huge}&code={code}"), 400),
        refused(
            "callback: a forged state before the real one",
            get("/oauth/callback/fitbit?state=Zm9yZ2VkLXN0YXRlLW5vYm9keS1pc3N1ZWQtdGhpcw&state={state}&code={code}"),
            400,
        )
        .then(After::CallbackConnects),
        // ---- The provider or SAP answers badly while the callback completes.
        case(
            "callback: SAP answers a proxy's HTML 503",
            Given::Consented(FITBIT, Some(Link::Signed(RefKind::Plain))),
            get("{callback}"),
            page_after_exchange(502),
        )
        .answered(sap_answers(None, html(503, "Service Temporarily Unavailable")))
        .then(After::ConnectsAgain),
        case("callback: SAP refuses the contact (400 in its changeset)", consented(), get("{callback}"), page_after_exchange(502))
            .answered(A::SapRejectsPerson(400)),
        refused("callback: Fitbit answers 410 Gone", get("{callback}"), 502).answered(A::FitbitGone),
        case("callback: the profile is a proxy's HTML 502", consented(), get("{callback}"), page_after_exchange(502))
            .answered(A::ProviderRaw(FITBIT, html(502, "Bad Gateway"))),
        case(
            "callback: Google's identity is truncated JSON",
            Given::Consented(GOOGLE, None),
            get("{callback}"),
            page_after_exchange(502),
        )
        .answered(A::ProviderRaw(GOOGLE, json(200, r#"{"healthUserId": 4711"#))),
        // ---- Polar: no PKCE, and a code redeemed twice deletes the tokens issued for it.
        case(
            "callback: polar access_denied",
            Given::Consented(POLAR, None),
            get("/oauth/callback/polar?state={state}&error=access_denied"),
            page(403),
        ),
        // The state is taken before the one exchange: a replayed callback redeems nothing.
        case("callback: polar callback replayed", Given::Connected(POLAR, None), get("{callback}"), page_connected(400)),
        case(
            "callback: polar forged code",
            Given::Consented(POLAR, None),
            get("/oauth/callback/polar?state={state}&code=forged-code-0123456789"),
            page(400),
        ),
        case(
            "callback: polar state issued for fitbit",
            Given::Consented(FITBIT, None),
            get("/oauth/callback/polar?state={state}&code={code}"),
            page(400),
        ),
        case(
            "callback: polar person without Polar's mandatory consents",
            Given::Consented(POLAR, None),
            get("{callback}"),
            page_after_exchange(502),
        )
        .answered(A::PolarConsentsMissing),
        case(
            "callback: polar registration answers a proxy's HTML 502",
            Given::Consented(POLAR, None),
            get("{callback}"),
            page_after_exchange(502),
        )
        .answered(A::ProviderRaw(POLAR, html(502, "Bad Gateway"))),
    ]
}
