//! `GET /connect/{provider}`: what the OAuth function does with a connect request or link
//! that is wrong.

use crate::table::*;
use crate::words::*;

pub fn route() -> Route {
    Route {
        name: "GET /connect/{provider}",
        logs: &["connect completed"],
        cases: cases(),
    }
}

/// The connect route's cases, in the order they run.
fn cases() -> Vec<Case> {
    // A browser nothing happened in asks for this: the page's status, nothing stored.
    let refused = |name, target, status| case(name, Given::Nothing, get(target), page(status));
    let signed = |kind| Some(Link::Signed(kind));
    vec![
        refused("connect: unknown provider", "/connect/strava", 404),
        refused("connect: unknown path", "/connect", 404),
        // The dot segments are resolved before the route is read: a callback without state.
        refused(
            "connect: a path that climbs (../) to the callback",
            "/connect/../oauth/callback/fitbit",
            400,
        ),
        refused("connect: provider in capitals", "/connect/FITBIT", 404),
        case(
            "connect: POST instead of GET",
            Given::Nothing,
            post("/connect/fitbit"),
            page(405),
        ),
        refused(
            "connect: ref without signature",
            "/connect/fitbit?{link:unsigned}",
            403,
        ),
        refused(
            "connect: link signed with another key",
            "/connect/fitbit?{link:forged}",
            403,
        ),
        refused(
            "connect: link with an altered ref",
            "/connect/fitbit?{link:altered}",
            403,
        ),
        refused(
            "connect: expired link",
            "/connect/fitbit?{link:expired}",
            403,
        ),
        refused(
            "connect: link valid for 91 days",
            "/connect/fitbit?{link:too-long-lived}",
            403,
        ),
        refused(
            "connect: link signed for the other provider",
            "/connect/fitbit?{link:other-provider}",
            403,
        ),
        refused(
            "connect: non-numeric expires",
            "/connect/fitbit?{link:non-numeric}",
            403,
        ),
        refused(
            "connect: signed ref of 256 characters",
            "/connect/fitbit?{link:too-long}",
            403,
        ),
        refused(
            "connect: huge query (8 KiB signed ref)",
            "/connect/fitbit?{link:huge}",
            403,
        ),
        case(
            "connect: unicode ref, signed, connects",
            Given::Consented(FITBIT, signed(RefKind::Unicode)),
            get("{callback}"),
            page_connected(200),
        ),
        case(
            "connect: link already used for a connection",
            Given::Connected(FITBIT, signed(RefKind::Plain)),
            get("/connect/fitbit?{link}"),
            page_connected(410),
        ),
    ]
}
