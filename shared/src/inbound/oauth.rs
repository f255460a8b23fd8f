//! `GET /connect/{provider}` and `GET /oauth/callback/{provider}`.
//!
//! The connect start sets the browser binding as a cookie that only this origin can set or
//! read (`__Host-`: Secure, no Domain, Path `/`), that scripts cannot read (HttpOnly), and
//! that the browser still sends on the provider's top-level redirect back to the callback
//! (SameSite=Lax). It lives as long as an attempt can.

use lambda_http::{Body, Request, RequestExt, Response};

use super::page;
use crate::domain::link::{LinkError, LinkParams};
use crate::domain::ProviderKind;
use crate::ports::provider::ProviderError;
use crate::ports::store::StateError;
use crate::use_cases::connect::{CallbackParams, ConnectError, ConnectService, STATE_LIFETIME};

/// The one entry point of the OAuth function.
pub async fn handle(service: &ConnectService, request: Request) -> Response<Body> {
    let reference = request
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_default();
    if request.method() != http::Method::GET {
        return page::html(
            405,
            "Not allowed",
            "Only GET is supported here.",
            &reference,
        );
    }
    let path = request.uri().path().to_owned();

    let route = if let Some(p) = path.strip_prefix("/connect/") {
        Some((Route::Connect, p))
    } else {
        path.strip_prefix("/oauth/callback/")
            .map(|p| (Route::Callback, p))
    };
    let Some((route, provider)) = route else {
        return page::html(404, "Not found", "There is nothing here.", &reference);
    };
    let Ok(kind) = provider.parse::<ProviderKind>() else {
        return page::html(
            404,
            "Not found",
            "This data source is not supported.",
            &reference,
        );
    };

    match route {
        Route::Connect => {
            let link = link_params(&request);
            let api_domain = request.request_context_ref().and_then(|c| match c {
                lambda_http::request::RequestContext::ApiGatewayV2(c) => c.domain_name.clone(),
                _ => None,
            });
            let held = browser_binding(&request);
            match service
                .start(kind, &link, api_domain.as_deref(), held.as_deref())
                .await
            {
                Ok(started) => {
                    tracing::info!(provider = %kind, with_ref = link.customer_ref.is_some(),
                        "connect started; redirecting to consent");
                    let mut response = page::redirect(started.url.as_str());
                    let cookie = format!(
                        "{BROWSER_COOKIE}={}; Path=/; Max-Age={}; Secure; HttpOnly; SameSite=Lax",
                        started.browser.expose(),
                        STATE_LIFETIME.whole_seconds()
                    );
                    response.headers_mut().append(
                        http::header::SET_COOKIE,
                        http::HeaderValue::from_str(&cookie)
                            .expect("a base64url value is a valid header"),
                    );
                    response
                }
                Err(e) => refuse(kind, &e, &reference),
            }
        }
        Route::Callback => {
            let params = callback_params(&request);
            match service.complete(kind, &params).await {
                Ok(done) => {
                    let subscriptions: Vec<&str> =
                        done.subscriptions.iter().map(|c| c.as_str()).collect();
                    tracing::info!(provider = %kind, user_id = %done.user_id,
                        reconnected = done.reconnected, subscriptions = ?subscriptions,
                        resumed = done.resumed,
                        migrated_from = done.migrated_from.map(|k| k.as_str()),
                        "connect completed");
                    page::html(
                        200,
                        "Your account is connected",
                        "Thank you. Your activity data will now be shared as you agreed. \
                         You can close this page.",
                        &reference,
                    )
                }
                Err(e) => refuse(kind, &e, &reference),
            }
        }
    }
}

enum Route {
    Connect,
    Callback,
}

/// The first value of a query parameter, as API Gateway's raw query string carries it.
fn query_param(request: &Request, name: &str) -> Option<String> {
    request
        .query_string_parameters_ref()
        .and_then(|query| query.first(name))
        .map(str::to_owned)
}

/// The connect link a `GET /connect/{provider}` request carries (pure: reads the request).
pub fn link_params(request: &Request) -> LinkParams {
    LinkParams {
        customer_ref: query_param(request, "ref"),
        legacy_user_id: query_param(request, "legacy"),
        issued: query_param(request, "issued"),
        expires: query_param(request, "expires"),
        sig: query_param(request, "sig"),
    }
}

/// What a `GET /oauth/callback/{provider}` request carries: its query and the browser
/// binding cookie (pure: reads the request).
pub fn callback_params(request: &Request) -> CallbackParams {
    CallbackParams {
        state: query_param(request, "state"),
        code: query_param(request, "code"),
        error: query_param(request, "error"),
        browser: browser_binding(request),
    }
}

/// The cookie holding the browser binding.
pub const BROWSER_COOKIE: &str = "__Host-fitbridge-connect";

/// The browser binding the request's cookies carry, if any. API Gateway hands cookies
/// over as `cookies`, which the runtime turns into `Cookie` headers.
fn browser_binding(request: &Request) -> Option<String> {
    request
        .headers()
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == BROWSER_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
}

/// Maps a failure to the person's page and the operator's log line.
fn refuse(kind: ProviderKind, error: &ConnectError, reference: &str) -> Response<Body> {
    let (status, title, message) = outcome(error);
    if status >= 500 {
        tracing::error!(provider = %kind, status, error = %error, "connect failed");
    } else {
        tracing::warn!(provider = %kind, status, error = %error, "connect refused");
    }
    page::html(status, title, message, reference)
}

const START_AGAIN: &str =
    "This sign-in link has expired or was already used. Please go back to the app and start again.";
const TRY_LATER: &str =
    "We could not finish connecting your account. Nothing was changed. Please try again in a few minutes.";

fn outcome(error: &ConnectError) -> (u16, &'static str, &'static str) {
    match error {
        ConnectError::UnknownProvider => (404, "Not found", "This data source is not supported."),
        ConnectError::Link(LinkError::Used) => (
            410,
            "This link was already used",
            "This connect link has already been used to connect an account. \
             Please get a new link from the app.",
        ),
        ConnectError::OtherBrowser => (
            403,
            "Please start again",
            "For your security, connecting has to finish in the browser where it started. \
             Please open the link from the app again, in this browser.",
        ),
        ConnectError::Link(LinkError::Required) => (
            403,
            "Please use the link from the app",
            "Accounts are connected through the link the app gives you. \
             Please open it from the app.",
        ),
        ConnectError::Link(LinkError::OtherAccount) => (
            403,
            "This link is for another account",
            "This connect link was made for another account. Nothing was connected. \
             Please sign in with the account the link was sent for, or get a new link.",
        ),
        ConnectError::Link(LinkError::OtherCustomer) => (
            409,
            "This account is connected already",
            "This account is already connected to another customer record, so nothing \
             was changed. Please contact support if this is not right.",
        ),
        ConnectError::Link(_) => (
            403,
            "This link is not valid",
            "This connect link is not valid or has expired. Please open it again from the app.",
        ),
        ConnectError::MissingState
        | ConnectError::StateProviderMismatch
        | ConnectError::State(StateError::Unknown | StateError::Replayed | StateError::Expired) => {
            (400, "Please start again", START_AGAIN)
        }
        ConnectError::Denied => (
            403,
            "Not connected",
            "You chose not to share your data, so nothing was connected. \
             You can connect at any time from the app.",
        ),
        ConnectError::MissingCode | ConnectError::TokenExchange(ProviderError::InvalidGrant) => {
            (400, "Please start again", START_AGAIN)
        }
        ConnectError::TokenExchange(ProviderError::Gone)
        | ConnectError::Profile(ProviderError::Gone)
        | ConnectError::AuthorizeUrl(ProviderError::Gone) => (
            502,
            "This connection is no longer offered",
            "The data source no longer supports this way of connecting. \
             Please use the new connection option in the app.",
        ),
        ConnectError::ProviderRefused(_)
        | ConnectError::TokenExchange(_)
        | ConnectError::Profile(_)
        | ConnectError::Marketing(_) => (502, "Not connected", TRY_LATER),
        ConnectError::AuthorizeUrl(_)
        | ConnectError::NoPublicBaseUrl
        | ConnectError::State(StateError::Store(_))
        | ConnectError::Store(_)
        | ConnectError::Secret(_) => (500, "Not connected", TRY_LATER),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(event: &str) -> Request {
        lambda_http::request::from_str(event).expect("an API Gateway v2 event")
    }

    #[test]
    fn callback_params_come_from_the_raw_query_and_the_binding_cookie() {
        // The shape of events/oauth-callback-*.json, for a provider this module can't name.
        let event = serde_json::json!({
            "version": "2.0",
            "routeKey": "GET /oauth/callback/{provider}",
            "rawPath": "/oauth/callback/acme",
            "rawQueryString": "code=4%2F0AVGzR1Bexample-code&state=Qm9ndXNTdGF0ZUZvckV4YW1wbGVPbmx5MDEyMzQ1Njc4OQ",
            "headers": {"host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"},
            "requestContext": {
                "http": {"method": "GET", "path": "/oauth/callback/acme"},
                "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
            },
            "cookies": ["__Host-fitbridge-connect=QnJvd3NlckJpbmRpbmdGb3JFeGFtcGxlT25seTAxMjM"],
            "pathParameters": {"provider": "acme"},
            "isBase64Encoded": false
        });
        let params = callback_params(&request(&event.to_string()));
        assert_eq!(params.code.as_deref(), Some("4/0AVGzR1Bexample-code"));
        assert_eq!(
            params.state.as_deref(),
            Some("Qm9ndXNTdGF0ZUZvckV4YW1wbGVPbmx5MDEyMzQ1Njc4OQ")
        );
        assert_eq!(params.error, None);
        assert_eq!(
            params.browser.as_deref(),
            Some("QnJvd3NlckJpbmRpbmdGb3JFeGFtcGxlT25seTAxMjM")
        );
    }

    #[test]
    fn the_first_value_counts_and_other_cookies_are_ignored() {
        let event = serde_json::json!({
            "version": "2.0",
            "rawPath": "/oauth/callback/acme",
            "rawQueryString": "state=a%2Bb&state=second&error=access_denied",
            "headers": {"host": "api.test"},
            "requestContext": {"http": {"method": "GET"}, "domainName": "api.test"},
            "cookies": ["other=1", " __Host-fitbridge-connect = x ; __Host-fitbridge-connect=y"],
            "isBase64Encoded": false
        });
        let params = callback_params(&request(&event.to_string()));
        assert_eq!(params.state.as_deref(), Some("a+b"));
        assert_eq!(params.error.as_deref(), Some("access_denied"));
        assert_eq!(params.code, None);
        // A space before `=` makes another name; the first pair named exactly wins.
        assert_eq!(params.browser.as_deref(), Some("y"));
        let link = link_params(&request(&event.to_string()));
        assert_eq!(
            (link.customer_ref, link.expires, link.sig),
            (None, None, None)
        );
    }
}
