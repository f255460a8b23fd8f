//! `fitbridge-admin migration pending` in-process against the emulator's table (the real
//! DynamoDB adapter) and Secrets Manager: the people still at
//! Fitbit are listed with their status and contact, the printed link is accepted by the
//! real connect route, and a person who migrates through it leaves the list.
//!
//! The table is shared with every other test: only this test's (random) users are
//! looked at.

use fitbridge::domain::PersonKey;
use std::sync::Arc;

use fitbridge::domain::link as connect_link;
use fitbridge::domain::link::{LinkError, LinkParams};
use fitbridge::domain::Secret;
use fitbridge::domain::{
    Connection, ConnectionStatus, ContactKey, ProviderKind, ProviderUserId, Scopes, TokenSet,
};
use fitbridge::ports::catalog::ProviderCatalog;
use fitbridge::ports::store::{ConnectionDirectory, ConnectionStore, TokenStore};
use fitbridge::provider::registry::Registry;
use fitbridge_admin::{Context, EXIT_OK};
use fitbridge_integration::{
    body_text, random_health_user_id, random_user_id, TestEnv, PUBLIC_BASE_URL,
};
use time::Duration;
use url::Url;

const FITBIT: ProviderKind = ProviderKind::Fitbit;
const GH: ProviderKind = ProviderKind::GoogleHealth;

/// Small scan pages, so the store query only finds everyone if it follows every page
/// (even on a fresh table holding little more than this test's items).
const ITEMS_PER_PAGE: i32 = 3;

async fn store_connection(
    env: &TestEnv,
    provider: ProviderKind,
    user: &str,
    customer_ref: Option<&str>,
    status: ConnectionStatus,
) {
    let connection = Connection {
        provider,
        user_id: ProviderUserId(user.into()),
        tokens: TokenSet {
            access_token: Secret::new(format!("access-{user}")),
            refresh_token: Secret::new(format!("refresh-{user}")),
            expires_at: fitbridge_integration::stack_now() + Duration::hours(8),
            scopes: Scopes::parse("profile activity"),
        },
        status: ConnectionStatus::Active,
        contact: ContactKey {
            origin: Registry.default_mapping(provider).contact_origin,
            id: user.into(),
        },
        customer_ref: customer_ref.map(str::to_owned),
        timezone: None,
        subscriptions: Default::default(),
        version: 0,
        consented_at: None,
    };
    env.store.save_connected(&connection).await.unwrap();
    env.store
        .set_status(&PersonKey::of(provider, &connection.user_id), status, None)
        .await
        .unwrap();
}

/// Runs `fitbridge-admin migration pending <args>` against this env's table and secrets.
async fn pending(env: &TestEnv, args: &[&str]) -> String {
    let mut context = Context::from_process();
    context.ports = Some(Arc::new(env.ports()));
    let args: Vec<String> = ["migration", "pending", "--table", &env.settings.table_name]
        .iter()
        .chain(args)
        .map(|a| a.to_string())
        .collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = fitbridge_admin::run(&args, &context, &mut out, &mut err).await;
    let (out, err) = (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    );
    assert_eq!(code, EXIT_OK, "{err}");
    assert_eq!(err, "");
    let summary = out.lines().last().unwrap_or_default();
    assert!(
        summary.contains(" to migrate (by status: "),
        "summary line: {summary}"
    );
    out
}

/// The line of `fitbit/<user>`, if listed.
fn line_of<'a>(out: &'a str, user: &str) -> Option<&'a str> {
    out.lines()
        .find(|l| l.starts_with(&format!("fitbit/{user} ")))
}

fn link_of<'a>(out: &'a str, user: &str) -> &'a str {
    let line = line_of(out, user).unwrap_or_else(|| panic!("{user} not listed"));
    line.split(' ')
        .find_map(|w| w.strip_prefix("link="))
        .unwrap_or_else(|| panic!("no link: {line}"))
}

fn link_params(link: &Url) -> LinkParams {
    let param = |name: &str| {
        link.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    LinkParams {
        customer_ref: param("ref"),
        legacy_user_id: param("legacy"),
        issued: param("issued"),
        expires: param("expires"),
        sig: param("sig"),
    }
}

#[tokio::test]
async fn the_people_still_at_fitbit_are_listed_and_their_link_migrates_them() {
    let env = TestEnv::start().await;
    let gone = random_user_id();
    let active = random_user_id();
    let reconsent = random_user_id();
    let gone_ref = format!("C-{gone}");
    store_connection(
        &env,
        FITBIT,
        &gone,
        Some(&gone_ref),
        ConnectionStatus::ProviderGone,
    )
    .await;
    store_connection(&env, FITBIT, &active, None, ConnectionStatus::Active).await;
    store_connection(
        &env,
        FITBIT,
        &reconsent,
        Some("C 77/ü"),
        ConnectionStatus::NeedsReconsent,
    )
    .await;
    let google = random_health_user_id();
    store_connection(&env, GH, &google, Some("C-9"), ConnectionStatus::Active).await;

    // The store query itself, across pages.
    let listed = env
        .store
        .clone()
        .with_scan_limit(ITEMS_PER_PAGE)
        .connections_of(FITBIT)
        .await
        .unwrap();
    let mine = |user: &str| listed.iter().find(|c| c.user_id.0 == user);
    let summary = mine(&gone).expect("the provider_gone person");
    assert_eq!(summary.status, ConnectionStatus::ProviderGone);
    assert_eq!(summary.customer_ref.as_deref(), Some(gone_ref.as_str()));
    assert_eq!(summary.contact.origin, "FITBIT");
    assert_eq!(summary.contact.id, gone);
    let age = fitbridge_integration::stack_now() - summary.updated_at.expect("updated_at");
    assert!(age < Duration::minutes(5), "{age}");
    assert!(mine(&active).is_some() && mine(&reconsent).is_some());
    assert!(mine(&google).is_none(), "only Fitbit connections");
    assert!(listed.iter().all(|c| c.provider == FITBIT));
    let google_health = env.store.connections_of(GH).await.unwrap();
    assert!(google_health.iter().any(|c| c.user_id.0 == google));

    // The listing.
    let out = pending(&env, &[]).await;
    assert_eq!(
        line_of(&out, &gone),
        Some(
            format!("fitbit/{gone} status=provider_gone contact=FITBIT/{gone} ref={gone_ref}")
                .as_str()
        )
    );
    assert_eq!(
        line_of(&out, &active),
        Some(format!("fitbit/{active} status=active contact=FITBIT/{active} ref=-").as_str())
    );
    assert_eq!(
        line_of(&out, &reconsent),
        Some(
            format!(
                "fitbit/{reconsent} status=needs_reconsent contact=FITBIT/{reconsent} ref=\"C 77/ü\""
            )
            .as_str()
        )
    );
    assert!(
        !out.contains(&google),
        "the Google Health person is not listed"
    );
    assert!(!out.contains(&format!("access-{gone}")) && !out.contains(&format!("refresh-{gone}")));

    // With links, signed with the deployment's connect-link key.
    let out = pending(
        &env,
        &[
            "--public-base-url",
            PUBLIC_BASE_URL,
            "--link-secret-id",
            &env.settings.link_secret_id,
        ],
    )
    .await;
    assert!(!out.contains(env.link_key.expose()));
    let now = fitbridge_integration::stack_now();
    // Every link names the legacy account it is for, and carries no customer ref.
    let verified = |params: &connect_link::LinkParams| {
        connect_link::verify(&env.link_key, GH, params, now)
            .map(|link| link.and_then(|l| l.legacy_user_id))
    };
    for user in [&active, &reconsent] {
        let params = link_params(&Url::parse(link_of(&out, user)).unwrap());
        assert_eq!(params.customer_ref, None);
        assert_eq!(verified(&params), Ok(Some(user.clone())));
    }
    let link = Url::parse(link_of(&out, &gone)).unwrap();
    assert_eq!(link.path(), "/connect/google-health");
    let params = link_params(&link);
    assert_eq!(verified(&params), Ok(Some(gone.clone())));
    assert_eq!(
        connect_link::verify(&env.link_key, FITBIT, &params, now),
        Err(LinkError::BadSignature)
    );

    // The person follows the link through the real connect route; Google's identity
    // names their Fitbit id, so they migrate and leave the list.
    let health_id = env.new_google_user(Some(&gone));
    let page = env.connect_to(GH, link.query()).await;
    assert_eq!(page.status(), 200, "{}", body_text(&page));
    let migrated = env
        .store
        .get(&PersonKey::of(GH, &ProviderUserId(health_id)))
        .await
        .unwrap()
        .expect("the Google Health connection");
    assert_eq!(
        migrated.contact,
        ContactKey {
            origin: "FITBIT".into(),
            id: gone.clone()
        }
    );
    assert_eq!(migrated.customer_ref.as_deref(), Some(gone_ref.as_str()));

    let out = pending(&env, &[]).await;
    assert_eq!(line_of(&out, &gone), None, "migrated: no longer listed");
    assert!(line_of(&out, &active).is_some() && line_of(&out, &reconsent).is_some());
}
