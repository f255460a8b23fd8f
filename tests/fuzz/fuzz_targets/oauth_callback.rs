//! The OAuth function's HTTP adapter end to end: API Gateway v2 events with fuzzed query
//! strings and cookies go through `lambda_http::request::from_str`, the query and cookie
//! extraction of `api::oauth`, and `api::oauth::handle` with a connect service on the
//! in-memory ports (one provider, Fitbit, with one person who consents).
//!
//! Input: a flag byte, then NUL-separated fields: the connect request's raw query, its
//! cookies (one per line), the callback's raw query, its cookies. Flags put real values
//! first (so they win): bit 0 a correctly signed link on the connect request; bits 1, 2,
//! 3 the issued state, the provider's code and the browser-binding cookie on the
//! callback; bit 4 sends the callback to the other provider's path.
//!
//! Properties:
//! - Extraction: `callback_params`/`link_params` give the first value of each query
//!   parameter, as form-urlencoding decodes it, and the binding is the value of the first
//!   cookie pair named exactly `__Host-fitbridge-connect` (trimmed, never holding `;`).
//! - Connect: 302 exactly when the request carries no `ref` or a link that `verify`
//!   accepts, else 403. A 302 sets the binding cookie: 43 base64url characters, the
//!   browser's own binding when it held a well-formed one.
//! - Callback: 200 exactly when it names the issued state, from the browser that holds the
//!   issued binding, with the provider's code and no `error`; then the connection is
//!   stored, and the same callback again is refused (single-use state). Never a 5xx
//!   (nothing here is unavailable) and never a panic.
#![no_main]

use fitbridge::domain::PersonKey;
use std::sync::{Arc, LazyLock};

use fitbridge::clock::SetClock;
use fitbridge::domain::link::{self as connect_link, LinkParams};
use fitbridge::domain::{ProviderKind, ProviderUserId, Secret};
use fitbridge::inbound::oauth::{callback_params, handle, link_params, BROWSER_COOKIE};
use fitbridge::marketing::memory::MemoryMarketing;
use fitbridge::ports::clock::SharedClock;
use fitbridge::ports::provider::{Provider, Providers};
use fitbridge::ports::store::ConnectionStore;
use fitbridge::provider::memory::{MemoryPerson, MemoryProvider};
use fitbridge::provider::registry;
use fitbridge::secret_store::{CachedLinkKeys, MemorySecrets, SecretCache};
use fitbridge::store::memory::MemoryStore;
use fitbridge::use_cases::connect::{ConnectService, ConnectSettings};
use fitbridge_fuzz::nul_fields;
use lambda_http::{Body, Request, Response};
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;

const HOST: &str = "api.fitbridge.test";
const LINK_KEY: &str = "fuzz-link-key";
const USER: &str = "user-1";

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
});

struct World {
    provider: Arc<MemoryProvider>,
    store: Arc<MemoryStore>,
    service: ConnectService,
}

/// The fuzzed world's time: fixed, so every run sees the same expiries.
const NOW: OffsetDateTime = time::macros::datetime!(2026-11-20 12:00 UTC);

fn world() -> World {
    let clock: SharedClock = Arc::new(SetClock::frozen(NOW));
    let provider = Arc::new(MemoryProvider::new(ProviderKind::Fitbit, clock.clone()));
    provider.add_person(
        USER,
        MemoryPerson::default(),
        "profile activity sleep weight",
    );
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let providers: Providers = [(ProviderKind::Fitbit, provider.clone() as Arc<dyn Provider>)]
        .into_iter()
        .collect();
    let secrets = Arc::new(SecretCache::new(Arc::new(MemorySecrets::new([(
        "link",
        serde_json::json!({ "key": LINK_KEY }),
    )]))));
    let service = ConnectService {
        providers,
        attempts: store.clone(),
        connections: store.clone(),
        marketing: Arc::new(MemoryMarketing::new()),
        link_keys: Arc::new(CachedLinkKeys {
            cache: secrets,
            secret_id: "link".into(),
        }),
        settings: ConnectSettings {
            public_base_url: None,
            // The callback alone: no queue is wired, so nothing would be queued anyway.
            backfill_days: 0,
            require_signed_links: false,
        },
        mappings: registry::default_mappings(),
        resume: None,
        catalog: registry::catalog(),
        clock,
    };
    World {
        provider,
        store,
        service,
    }
}

/// A raw query as a browser sends it: the WHATWG query percent-encode set (controls,
/// space, `"`, `#`, `<`, `>`, non-ASCII) percent-encoded, everything else as is, `%`
/// included (so malformed escapes get through). lambda_http 1.3 panics ("failed to build
/// request: InvalidUriChar") on a raw `"`, `<` or `>` before fitbridge's code runs (known
/// upstream: aws-lambda-rust-runtime#461, #515), so those are not fed to it.
fn raw_query(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        if (0x21..=0x7e).contains(&b) && !matches!(b, b'"' | b'#' | b'<' | b'>') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn cookies(bytes: Option<&[u8]>) -> Vec<String> {
    bytes
        .map(|b| {
            String::from_utf8_lossy(b)
                .split('\n')
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn event(path: &str, query: &str, cookies: &[String]) -> Request {
    // The fields lambda_http and the handler read; the rest of a real event is ignored.
    let mut event = serde_json::json!({
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"host": HOST},
        "requestContext": {
            "domainName": HOST,
            "http": {"method": "GET", "path": path},
            "requestId": "fuzz-request",
            "stage": "$default"
        },
        "isBase64Encoded": false
    });
    if !cookies.is_empty() {
        event["cookies"] = serde_json::json!(cookies);
    }
    lambda_http::request::from_str(&event.to_string()).expect("a well-formed API Gateway v2 event")
}

/// The oracle for the query: the first value, form-urlencoded.
fn first(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The oracle for the cookie: API Gateway's cookies joined as one `Cookie` header.
fn binding(cookies: &[String]) -> Option<String> {
    let joined = cookies.join("; ");
    if !joined
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        return None; // not a header value `to_str` reads
    }
    joined
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == BROWSER_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
}

fn check_extraction(request: &Request, query: &str, cookies: &[String]) {
    let params = callback_params(request);
    assert_eq!(params.state, first(query, "state"));
    assert_eq!(params.code, first(query, "code"));
    assert_eq!(params.error, first(query, "error"));
    assert_eq!(params.browser, binding(cookies));
    if let Some(b) = &params.browser {
        assert!(!b.contains(';') && b.trim() == b);
    }
    let link = link_params(request);
    assert_eq!(link.customer_ref, first(query, "ref"));
    assert_eq!(link.expires, first(query, "expires"));
    assert_eq!(link.sig, first(query, "sig"));
}

fn header<'a>(response: &'a Response<Body>, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

fn well_formed_binding(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let fields = nul_fields(rest, 4);
    let w = world();
    let now = NOW;

    // GET /connect/fitbit
    let mut start_query = raw_query(fields[0].unwrap_or_default());
    if flags & 1 != 0 {
        let link = connect_link::LinkClaims {
            customer_ref: Some("C-1".into()),
            legacy_user_id: None,
            issued: now.unix_timestamp(),
            expires: now.unix_timestamp() + 600,
        };
        let query = link.query(&Secret::new(LINK_KEY), ProviderKind::Fitbit);
        start_query = format!("{query}&{start_query}");
    }
    let start_cookies = cookies(fields[1]);
    let request = event("/connect/fitbit", &start_query, &start_cookies);
    check_extraction(&request, &start_query, &start_cookies);
    let link: LinkParams = link_params(&request);
    let held = callback_params(&request).browser;
    let link_ok = link.is_empty()
        || connect_link::verify(&Secret::new(LINK_KEY), ProviderKind::Fitbit, &link, now).is_ok();
    let response = RUNTIME.block_on(handle(&w.service, request));
    let status = response.status().as_u16();
    let issued = if link_ok {
        assert_eq!(status, 302, "connect refused a good request");
        let location: url::Url = header(&response, "location")
            .expect("a redirect has a Location")
            .parse()
            .expect("an absolute URL");
        let state = location
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .expect("the consent URL carries the state");
        let cookie = header(&response, "set-cookie").expect("the binding cookie is set");
        let value = cookie
            .strip_prefix(&format!("{BROWSER_COOKIE}="))
            .and_then(|c| c.split_once(';'))
            .map(|(v, _)| v.to_owned())
            .expect("a __Host- cookie");
        assert!(well_formed_binding(&value), "binding {value:?}");
        if let Some(held) = held.filter(|h| well_formed_binding(h)) {
            assert_eq!(
                value, held,
                "a well-formed binding the browser holds is kept"
            );
        }
        let code = w.provider.consent(USER, &location);
        Some((state, code, value))
    } else {
        assert_eq!(status, 403, "connect with a bad link");
        None
    };

    // GET /oauth/callback/{provider}
    let mut query = raw_query(fields[2].unwrap_or_default());
    let mut callback_cookies = cookies(fields[3]);
    if let Some((state, code, binding)) = &issued {
        if flags & 4 != 0 {
            query = format!("code={code}&{query}");
        }
        if flags & 2 != 0 {
            query = format!("state={state}&{query}");
        }
        if flags & 8 != 0 {
            callback_cookies.insert(0, format!("{BROWSER_COOKIE}={binding}"));
        }
    }
    let path = if flags & 16 != 0 {
        "/oauth/callback/google-health"
    } else {
        "/oauth/callback/fitbit"
    };
    let request = event(path, &query, &callback_cookies);
    check_extraction(&request, &query, &callback_cookies);
    let params = callback_params(&request);
    let should_connect = flags & 16 == 0
        && issued.as_ref().is_some_and(|(state, code, binding)| {
            params.state.as_ref() == Some(state)
                && params.browser.as_ref() == Some(binding)
                && params.code.as_ref() == Some(code)
                && params.error.is_none()
        });
    let replay = event(path, &query, &callback_cookies);
    let status = RUNTIME
        .block_on(handle(&w.service, request))
        .status()
        .as_u16();
    assert!(status < 500 || status == 502, "callback answered {status}");
    if should_connect {
        assert_eq!(status, 200, "a good callback did not connect");
        let stored = RUNTIME
            .block_on(
                w.store
                    .get(&PersonKey::of(ProviderKind::Fitbit, &ProviderUserId(USER.into()))),
            )
            .expect("the memory store answers");
        assert!(stored.is_some(), "connected but nothing stored");
        let again = RUNTIME
            .block_on(handle(&w.service, replay))
            .status()
            .as_u16();
        assert_eq!(again, 400, "a state was used twice");
    } else {
        assert_ne!(
            status, 200,
            "connected without the issued state, binding and code"
        );
    }
});
