//! `migration pending` in-process over the in-memory store and secrets: who is listed,
//! the links they get, and that a usage error reads nothing. (The same against the
//! DynamoDB adapter on the emulator is `tests/integration/tests/admin_migration.rs`.)

use fitbridge::domain::PersonKey;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use fitbridge::clock::SetClock;
use fitbridge::domain::link as connect_link;
use fitbridge::domain::link::{LinkError, LinkParams};
use fitbridge::domain::Secret;
use fitbridge::domain::{
    Connection, ConnectionStatus, ContactKey, ProviderKind, ProviderUserId, Scopes, TokenSet,
};
use fitbridge::ports::store::{ConnectionDirectory, ConnectionStore, TokenStore};
use fitbridge::secret_store::MemorySecrets;
use fitbridge_admin::{EXIT_OK, EXIT_REFUSED, EXIT_USAGE};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use url::Url;

use support::Surroundings;

mod support;

const LINK_SECRET_ID: &str = "fitbridge/connect-link";
const LINK_KEY: &str = "link-key-for-the-migration-test";
const BASE: &str = "https://connect.example.com";
/// What time it is, for the CLI and the table alike.
const NOW: OffsetDateTime = time::macros::datetime!(2026-11-30 16:45 UTC);

fn clock() -> Arc<SetClock> {
    Arc::new(SetClock::frozen(NOW))
}

fn connection(
    provider: ProviderKind,
    user: &str,
    origin: &str,
    customer_ref: Option<&str>,
) -> Connection {
    Connection {
        provider,
        user_id: ProviderUserId(user.into()),
        tokens: TokenSet {
            access_token: Secret::new(format!("access-token-of-{user}")),
            refresh_token: Secret::new(format!("refresh-token-of-{user}")),
            expires_at: NOW + Duration::hours(8),
            scopes: Scopes::parse("profile activity"),
        },
        status: ConnectionStatus::Active,
        contact: ContactKey {
            origin: origin.into(),
            id: user.into(),
        },
        customer_ref: customer_ref.map(str::to_owned),
        timezone: None,
        subscriptions: BTreeSet::new(),
        version: 0,
        consented_at: None,
    }
}

/// Nobody in the table; the connect-link key in the secrets.
fn empty() -> Arc<Surroundings> {
    Surroundings::new(
        MemorySecrets::new([(LINK_SECRET_ID, json!({ "key": LINK_KEY }))]),
        clock(),
    )
}

/// Three Fitbit people not yet migrated, one who did migrate (only a tombstone is left
/// at Fitbit) and a Google Health person.
async fn store() -> Arc<Surroundings> {
    let surroundings = empty();
    let store = surroundings.store().clone();
    let people = [
        ("GONE01", Some("C-1001"), ConnectionStatus::ProviderGone),
        ("ACTV02", None, ConnectionStatus::Active),
        ("RECN03", Some("C-1003"), ConnectionStatus::NeedsReconsent),
        ("MIGR04", Some("C-1004"), ConnectionStatus::ProviderGone),
    ];
    for (user, customer_ref, status) in people {
        let c = connection(ProviderKind::Fitbit, user, "FITBIT", customer_ref);
        store.save_connected(&c).await.unwrap();
        store
            .set_status(
                &PersonKey::of(ProviderKind::Fitbit, &c.user_id),
                status,
                None,
            )
            .await
            .unwrap();
    }
    store
        .revoke(
            &PersonKey::of(ProviderKind::Fitbit, &ProviderUserId("MIGR04".into())),
            fitbridge::ports::store::Ending::Migrated {
                to: ProviderKind::GoogleHealth,
            },
            NOW,
        )
        .await
        .unwrap();
    let google = connection(
        ProviderKind::GoogleHealth,
        "4123456789012345678",
        "GOOGLE_HEALTH",
        Some("C-2000"),
    );
    store.save_connected(&google).await.unwrap();
    surroundings
}

struct Outcome {
    code: u8,
    out: String,
    err: String,
}

async fn admin(args: &[&str], surroundings: &Arc<Surroundings>) -> Outcome {
    let context = surroundings.context(clock());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = fitbridge_admin::run(&args, &context, &mut out, &mut err).await;
    Outcome {
        code,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    }
}

/// The query of a printed link, as the connect route would read it.
fn link_params(link: &str) -> LinkParams {
    let url = Url::parse(link).unwrap();
    let param = |name: &str| {
        url.query_pairs()
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

/// The `link=` of the line of `user`.
fn link_of<'a>(out: &'a str, user: &str) -> &'a str {
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("fitbit/{user} ")))
        .unwrap_or_else(|| panic!("no line for {user}:\n{out}"));
    line.split(' ')
        .find_map(|word| word.strip_prefix("link="))
        .unwrap_or_else(|| panic!("no link for {user}: {line}"))
}

#[tokio::test]
async fn lists_exactly_the_people_still_at_the_legacy_provider() {
    let store = store().await;
    let result = admin(
        &["migration", "pending", "--table", "fitbridge-Table"],
        &store,
    )
    .await;
    assert_eq!(result.code, EXIT_OK, "{}", result.err);
    assert_eq!(result.err, "");
    assert_eq!(
        result.out,
        "fitbit/ACTV02 status=active contact=FITBIT/ACTV02 ref=-\n\
         fitbit/GONE01 status=provider_gone contact=FITBIT/GONE01 ref=C-1001\n\
         fitbit/RECN03 status=needs_reconsent contact=FITBIT/RECN03 ref=C-1003\n\
         3 people to migrate (by status: active=1, needs_reconsent=1, provider_gone=1)\n"
    );
    assert!(!result.out.contains("4123456789012345678"), "Google person");
    assert!(!result.out.contains("MIGR04"), "a migrated person");
    assert!(!result.out.contains("token"), "{}", result.out);
}

#[tokio::test]
async fn with_link_options_each_person_gets_a_link_naming_their_legacy_account() {
    let store = store().await;
    let result = admin(
        &[
            "migration",
            "pending",
            "--table",
            "fitbridge-Table",
            "--public-base-url",
            BASE,
            "--link-secret-id",
            LINK_SECRET_ID,
        ],
        &store,
    )
    .await;
    assert_eq!(result.code, EXIT_OK, "{}", result.err);
    assert_eq!(result.out.lines().count(), 4, "{}", result.out);
    assert!(
        result.out.ends_with(
            "3 people to migrate (by status: active=1, needs_reconsent=1, provider_gone=1)\n"
        ),
        "{}",
        result.out
    );
    assert!(!result.out.contains(LINK_KEY));

    let key = Secret::new(LINK_KEY);
    let now = NOW;
    let link = link_of(&result.out, "GONE01");
    assert!(
        link.starts_with(&format!(
            "{BASE}/connect/google-health?legacy=GONE01&issued="
        )),
        "{link}"
    );
    let params = link_params(link);
    assert_eq!(params.customer_ref, None, "the ref stays in the table");
    let account_of = |params: &connect_link::LinkParams| {
        connect_link::verify(&key, ProviderKind::GoogleHealth, params, now)
            .map(|link| link.and_then(|l| l.legacy_user_id))
    };
    assert_eq!(account_of(&params), Ok(Some("GONE01".into())));
    assert_eq!(
        connect_link::verify(&key, ProviderKind::Fitbit, &params, now),
        Err(LinkError::BadSignature),
        "a link for the legacy provider would be refused where it leads"
    );
    let expires: i64 = params.expires.unwrap().parse().unwrap();
    let lifetime = expires - now.unix_timestamp();
    assert!(
        (14 * 86_400 - 60..=14 * 86_400).contains(&lifetime),
        "14 days by default, got {lifetime} s"
    );
    // Everyone gets one, with a ref or without.
    for user in ["RECN03", "ACTV02"] {
        assert_eq!(
            account_of(&link_params(link_of(&result.out, user))),
            Ok(Some(user.into()))
        );
    }
}

#[tokio::test]
async fn link_days_sets_the_lifetime_and_the_links_follow_the_base_path() {
    let store = store().await;
    let result = admin(
        &[
            "migration",
            "pending",
            "--table=fitbridge-Table",
            "--from=fitbit",
            "--to=google-health",
            "--public-base-url=https://api.example.com/prod/",
            &format!("--link-secret-id={LINK_SECRET_ID}"),
            "--link-days=2",
        ],
        &store,
    )
    .await;
    assert_eq!(result.code, EXIT_OK, "{}", result.err);
    let link = link_of(&result.out, "GONE01");
    assert!(
        link.starts_with("https://api.example.com/prod/connect/google-health?legacy=GONE01&"),
        "{link}"
    );
    let expires: i64 = link_params(link).expires.unwrap().parse().unwrap();
    let lifetime = expires - NOW.unix_timestamp();
    assert!(
        (2 * 86_400 - 60..=2 * 86_400).contains(&lifetime),
        "{lifetime}"
    );
    assert!(link_of(&result.out, "ACTV02")
        .starts_with("https://api.example.com/prod/connect/google-health?legacy=ACTV02&"));
}

#[tokio::test]
async fn nobody_left_is_a_zero() {
    let result = admin(&["migration", "pending", "--table", "t"], &empty()).await;
    assert_eq!(result.code, EXIT_OK, "{}", result.err);
    assert_eq!(result.out, "0 people to migrate\n");
}

#[tokio::test]
async fn usage_errors_exit_2_and_read_nothing() {
    for args in [
        &["migration", "pending"][..],
        &["migration", "pending", "--table"],
        &["migration", "pending", "--table", "t", "--bogus"],
        &["migration", "pending", "--table", "t", "--project", "p"],
        &["migration", "pending", "--table", "t", "--from", "garmin"],
        &[
            "migration",
            "pending",
            "--table",
            "t",
            "--from",
            "google-health",
        ],
        &["migration", "pending", "--table", "t", "--to", "fitbit"],
        &[
            "migration",
            "pending",
            "--table",
            "t",
            "--from",
            "google-health",
            "--to",
            "google-health",
        ],
        &[
            "migration",
            "pending",
            "--table",
            "t",
            "--public-base-url",
            BASE,
        ],
        &[
            "migration",
            "pending",
            "--table",
            "t",
            "--link-secret-id",
            "s",
        ],
        &[
            "migration",
            "pending",
            "--table",
            "t",
            "--public-base-url",
            "ftp://x.example",
            "--link-secret-id",
            "s",
        ],
        &[
            "migration",
            "pending",
            "--table",
            "t",
            "--public-base-url",
            BASE,
            "--link-secret-id",
            "s",
            "--link-days",
            "0",
        ],
        &["migration", "list", "--table", "t"],
    ] {
        let reads = empty();
        let result = admin(args, &reads).await;
        assert_eq!(result.code, EXIT_USAGE, "{args:?}: {}", result.err);
        assert!(
            result.err.starts_with("error: "),
            "{args:?}: {}",
            result.err
        );
        assert_eq!(result.out, "", "{args:?}");
        assert_eq!(reads.store().listings(), 0, "{args:?}");
        assert_eq!(reads.secret_reads.load(Ordering::SeqCst), 0, "{args:?}");
    }
}

#[tokio::test]
async fn a_store_failure_exits_1_and_prints_no_listing() {
    let reads = empty();
    reads.store().refuse_listings(true);
    let result = admin(
        &["migration", "pending", "--table", "fitbridge-Table"],
        &reads,
    )
    .await;
    assert_eq!(result.code, EXIT_REFUSED);
    assert_eq!(result.out, "");
    assert!(
        result
            .err
            .contains("cannot list the connections in table fitbridge-Table"),
        "{}",
        result.err
    );
    assert!(result.err.contains("ProvisionedThroughputExceeded"));
}

#[tokio::test]
async fn a_missing_link_secret_exits_1_before_the_table_is_read() {
    let reads = empty();
    let result = admin(
        &[
            "migration",
            "pending",
            "--table",
            "t",
            "--public-base-url",
            BASE,
            "--link-secret-id",
            "fitbridge/no-such-secret",
        ],
        &reads,
    )
    .await;
    assert_eq!(result.code, EXIT_REFUSED, "{}", result.err);
    assert!(
        result.err.contains("fitbridge/no-such-secret"),
        "{}",
        result.err
    );
    assert_eq!(result.out, "");
    assert_eq!(reads.secret_reads.load(Ordering::SeqCst), 1);
    assert_eq!(reads.store().listings(), 0);
}

#[tokio::test]
async fn the_store_reports_every_connection_of_a_provider_with_its_update_time() {
    let before = NOW - Duration::seconds(1);
    let store = store().await.store().clone();
    let mut fitbit = store.connections_of(ProviderKind::Fitbit).await.unwrap();
    fitbit.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    let users: Vec<&str> = fitbit.iter().map(|c| c.user_id.0.as_str()).collect();
    assert_eq!(users, ["ACTV02", "GONE01", "RECN03"]);
    assert_eq!(fitbit[1].status, ConnectionStatus::ProviderGone);
    assert_eq!(fitbit[1].customer_ref.as_deref(), Some("C-1001"));
    assert_eq!(
        fitbit[1].contact,
        ContactKey {
            origin: "FITBIT".into(),
            id: "GONE01".into()
        }
    );
    assert!(fitbit
        .iter()
        .all(|c| c.provider == ProviderKind::Fitbit && c.updated_at.is_some_and(|t| t >= before)));
    let google = store
        .connections_of(ProviderKind::GoogleHealth)
        .await
        .unwrap();
    assert_eq!(google.len(), 1);
    assert_eq!(google[0].user_id.0, "4123456789012345678");
}
