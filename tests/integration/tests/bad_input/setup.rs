//! What a case meets: the world prepared as `given` says (people, browsers, links), the
//! bad answer injected, and everything cleared again; `Ctx` keeps what the case learned on
//! its way.

use fitbridge::domain::pkce;
use fitbridge::domain::Secret;
use fitbridge::domain::{Collection, ProviderKind, ProviderUserId, WorkItem};
use fitbridge::inbound::oauth::BROWSER_COOKIE;
use fitbridge::inbound::sqs::Decision;
use fitbridge::ports::store::{ConnectAttempts, PendingAuthorization};
use fitbridge_integration::in_process::{text, World};
use fitbridge_integration::{location, random_user_id, PUBLIC_BASE_URL};
use fitbridge_sandbox::fitbit::{Consent, TestUser};
use fitbridge_sandbox::google_health::{Consent as GoogleConsent, GoogleUser};
use fitbridge_sandbox::polar::{Consent as PolarConsent, PolarUser};
use sha2::{Digest, Sha256};
use time::Date;

use crate::table::*;

/// What a case learned on its way: the values templates are filled with, and everything
/// secret or personal it saw issued.
#[derive(Default)]
pub struct Ctx {
    pub user: String,
    pub state: String,
    pub code: String,
    pub callback: String,
    pub link: String,
    pub customer_ref: Option<String>,
    pub day: Option<Date>,
    /// (what it is, the value)
    pub forbidden: Vec<(&'static str, String)>,
    /// Users whose tokens the sandboxes issued.
    pub fitbit_users: Vec<String>,
    pub google_users: Vec<String>,
    pub polar_users: Vec<String>,
}

pub fn hex_sha256(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A distinctive value that cannot be in a log by chance.
pub fn marker(prefix: &str) -> String {
    format!("{prefix}{}", random_user_id())
}

impl Ctx {
    /// The case's person (`{user}`), whose tokens the provider's sandbox issues.
    pub fn person(&mut self, provider: ProviderKind, user: String) {
        match provider {
            FITBIT => self.fitbit_users.push(user.clone()),
            GOOGLE => self.google_users.push(user.clone()),
            POLAR => self.polar_users.push(user.clone()),
        }
        self.user = user;
    }

    pub fn fill(&self, template: &str, world: &World) -> String {
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
    pub fn link_query(&mut self, world: &World, provider: ProviderKind, link: &Link) -> String {
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
            GOOGLE | POLAR => FITBIT,
        };
        let query = match link {
            Link::Signed(_) => world.signed_link_query(provider, &customer_ref, now + 3600),
            Link::Unsigned => format!("ref={customer_ref}"),
            Link::Forged => fitbridge::domain::link::LinkClaims {
                customer_ref: Some(customer_ref.clone()),
                legacy_user_id: None,
                issued: now,
                expires: now + 3600,
            }
            .query(&Secret::new("not-the-key"), provider),
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
    pub fn links_in(&mut self, world: &World, template: &str) -> String {
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

pub async fn prepare(world: &World, given: &Given, ctx: &mut Ctx) {
    match given {
        Given::Nothing => {}
        Given::Consented(provider, link) => consent(world, *provider, link.as_ref(), ctx).await,
        Given::Connected(provider, link) => {
            consent(world, *provider, link.as_ref(), ctx).await;
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
                POLAR => {
                    world
                        .connected(POLAR, &[fitbridge::provider::polar::scopes::READ_ALL])
                        .await
                }
            };
            ctx.person(*provider, user);
        }
    }
}

/// The person opens `/connect/{provider}` (with the link) and consents.
pub async fn consent(world: &World, provider: ProviderKind, link: Option<&Link>, ctx: &mut Ctx) {
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
            ctx.person(FITBIT, id);
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
            ctx.person(GOOGLE, id);
        }
        POLAR => {
            let id = fitbridge_integration::random_polar_user_id();
            world
                .sandbox
                .polar
                .add_user(PolarUser::new(&id, &first, &last));
            world.sandbox.polar.set_consent(PolarConsent::allow(&id));
            ctx.person(POLAR, id);
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
    for (k, v) in state_and_code(&ctx.callback) {
        match k {
            "state" => ctx.state = v,
            _ => ctx.code = v,
        }
    }
    ctx.forbidden
        .extend([("state", ctx.state.clone()), ("code", ctx.code.clone())]);
}

pub async fn inject(world: &World, answer: &Answer, ctx: &Ctx) {
    let sandbox = &world.sandbox;
    match answer {
        Answer::ProviderRaw(FITBIT, raw) => {
            sandbox.fitbit.answer_next_requests(LASTING, raw.clone())
        }
        Answer::ProviderRaw(GOOGLE, raw) => sandbox
            .google_health
            .answer_next_requests(LASTING, raw.clone()),
        Answer::ProviderRaw(POLAR, raw) => sandbox.polar.answer_next_requests(LASTING, raw.clone()),
        Answer::ProviderStatus(FITBIT, status) => sandbox.fitbit.fail_next_requests(1, *status),
        Answer::ProviderStatus(GOOGLE, status) => {
            sandbox.google_health.fail_next_requests(LASTING, *status)
        }
        Answer::GoogleRefusesDataType(data_type, status) => sandbox
            .google_health
            .fail_next_requests_to(&format!("dataTypes/{data_type}/"), LASTING, *status),
        Answer::ProviderStatus(POLAR, status) => sandbox.polar.fail_next_requests(1, *status),
        Answer::ProviderThrottled(FITBIT) => sandbox.fitbit.throttle_user(&ctx.user, 3600),
        Answer::ProviderThrottled(GOOGLE) => sandbox.google_health.throttle_user(&ctx.user, 3600),
        // Polar limits the partner, not the person.
        Answer::ProviderThrottled(POLAR) => sandbox.polar.throttle(3600),
        Answer::TokenExpired(FITBIT) => assert!(sandbox.fitbit.expire_access_token(&ctx.user)),
        Answer::TokenExpired(GOOGLE) => {
            assert!(sandbox.google_health.expire_access_token(&ctx.user))
        }
        Answer::TokenExpired(POLAR) => assert!(sandbox.polar.expire_access_token(&ctx.user)),
        Answer::Revoked(FITBIT) => assert!(sandbox.fitbit.revoke_user(&ctx.user)),
        Answer::Revoked(GOOGLE) => assert!(sandbox.google_health.revoke_user(&ctx.user)),
        Answer::Revoked(POLAR) => assert!(sandbox.polar.revoke_user(&ctx.user)),
        Answer::FitbitGone => sandbox.fitbit.set_gone(true),
        Answer::PolarConsentsMissing => sandbox.polar.set_mandatory_consents(&ctx.user, false),
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

pub fn clear(world: &World, ctx: &Ctx) {
    let sandbox = &world.sandbox;
    sandbox.fitbit.clear_faults();
    sandbox.google_health.clear_faults();
    sandbox.polar.clear_faults();
    sandbox.polar.unthrottle();
    sandbox.sap.clear_faults();
    sandbox.fitbit.set_gone(false);
    world.work_queue.set_down(false);
    if !ctx.user.is_empty() {
        sandbox.fitbit.unthrottle_user(&ctx.user);
        sandbox.google_health.unthrottle_user(&ctx.user);
        if sandbox.polar.user(&ctx.user).is_some() {
            sandbox.polar.set_mandatory_consents(&ctx.user, true);
        }
    }
}

pub fn sync(provider: ProviderKind, user: &str, date: Date) -> WorkItem {
    WorkItem::sync(
        provider,
        ProviderUserId(user.into()),
        date,
        vec![Collection::Activities],
    )
}

pub fn collect_tokens(world: &World, ctx: &mut Ctx) {
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
    for user in ctx.polar_users.drain(..) {
        ctx.forbidden.extend(
            world
                .sandbox
                .polar
                .tokens_issued(&user)
                .into_iter()
                .map(|t| ("polar token", t)),
        );
    }
}

/// The states and codes in a provider's redirect back (path and query), as the secrets
/// they are.
pub fn state_and_code(callback: &str) -> Vec<(&'static str, String)> {
    let url = url::Url::parse(&format!("{PUBLIC_BASE_URL}{callback}")).unwrap();
    url.query_pairs()
        .filter_map(|(k, v)| match k.as_ref() {
            "state" => Some(("state", v.into_owned())),
            "code" => Some(("code", v.into_owned())),
            _ => None,
        })
        .collect()
}
