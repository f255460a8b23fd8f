//! The connect use case: start, consent, callback.

use fitbridge::domain::link as connect_link;
use fitbridge::domain::link::{LinkClaims, LinkError, LinkParams};
use fitbridge::domain::PersonKey;
use fitbridge::domain::Secret;
use fitbridge::domain::{Collection, ConnectionStatus, Profile, ProviderUserId};
use fitbridge::ports::store::{Ending, ParkedWork, StateError};
use fitbridge::ports::tokens::Tokens;
use fitbridge::provider::memory::MemoryPerson;
use fitbridge::use_cases::connect::{CallbackParams, ConnectError};
use url::Url;

use crate::support::*;

fn param(url: &Url, name: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

/// Start, consent as `user`, and the callback's parameters.
async fn consent(w: &World, user: &str, link: &LinkParams) -> CallbackParams {
    let started = w.connect.start(KIND, link, None, None).await.unwrap();
    let url = &started.url;
    assert_eq!(
        param(url, "redirect_uri"),
        format!("https://fitbridge.test/oauth/callback/{KIND}")
    );
    let code = w.provider.consent(user, url);
    CallbackParams {
        state: Some(param(url, "state")),
        code: Some(code),
        error: None,
        browser: Some(started.browser.expose().to_owned()),
    }
}

fn person(first: &str) -> MemoryPerson {
    MemoryPerson {
        profile: Profile {
            first_name: Some(first.into()),
            timezone: Some("Europe/Berlin".into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn a_person_connects_and_becomes_a_contact_with_subscriptions() {
    let w = World::new();
    w.provider
        .add_person("ALEX", person("Alex"), "profile activity sleep");
    let params = consent(&w, "ALEX", &LinkParams::default()).await;
    let done = w.connect.complete(KIND, &params).await.unwrap();
    assert!(!done.reconnected);
    assert_eq!(
        done.subscriptions,
        [Collection::Activities, Collection::Sleep]
    );

    let contact = w.marketing.contact(&contact("ALEX")).expect("contact");
    assert_eq!(contact.profile.first_name.as_deref(), Some("Alex"));
    let c = w.connection("ALEX").await.unwrap();
    assert_eq!(c.status, ConnectionStatus::Active);
    assert_eq!(c.timezone.as_deref(), Some("Europe/Berlin"));
    assert_eq!(
        w.provider.subscriptions_of("ALEX"),
        [Collection::Activities, Collection::Sleep]
    );
}

#[tokio::test]
async fn states_are_single_use_and_forgeries_are_refused() {
    let w = World::new();
    w.provider.add_person("BO", person("Bo"), "activity");
    let params = consent(&w, "BO", &LinkParams::default()).await;
    w.connect.complete(KIND, &params).await.unwrap();
    let replay = w.connect.complete(KIND, &params).await.unwrap_err();
    assert!(
        matches!(replay, ConnectError::State(StateError::Replayed)),
        "{replay}"
    );
    let forged = CallbackParams {
        state: Some("forged".into()),
        ..params.clone()
    };
    let err = w.connect.complete(KIND, &forged).await.unwrap_err();
    assert!(
        matches!(err, ConnectError::State(StateError::Unknown)),
        "{err}"
    );
    let none = CallbackParams {
        state: None,
        ..params
    };
    assert!(matches!(
        w.connect.complete(KIND, &none).await.unwrap_err(),
        ConnectError::MissingState
    ));
}

/// The query of a link with these claims, as the company's app signs it.
fn signed(claims: LinkClaims) -> LinkParams {
    signed_for(KIND, claims)
}

/// [`signed`], for another provider.
fn signed_for(kind: fitbridge::domain::ProviderKind, claims: LinkClaims) -> LinkParams {
    let sig = claims.sign(&Secret::new(LINK_KEY), kind);
    LinkParams {
        customer_ref: claims.customer_ref,
        legacy_user_id: claims.legacy_user_id,
        issued: Some(claims.issued.to_string()),
        expires: Some(claims.expires.to_string()),
        sig: Some(sig),
    }
}

/// A link for `customer_ref`, signed now and valid for `valid_for`.
fn signed_link(w: &World, customer_ref: &str, valid_for: time::Duration) -> LinkParams {
    signed(LinkClaims {
        customer_ref: Some(customer_ref.into()),
        legacy_user_id: None,
        issued: w.now().unix_timestamp(),
        expires: (w.now() + valid_for).unix_timestamp(),
    })
}

#[tokio::test]
async fn a_consent_finished_in_another_browser_connects_nothing() {
    // Issue 8, login CSRF: someone starts with their own signed link and sends the consent
    // URL to somebody else, whose data would land on the sender's customer record.
    let w = World::new();
    w.provider.add_person("VIC", person("Vic"), "activity");
    let link = signed_link(&w, "C-ATTACKER", time::Duration::minutes(10));
    let others = [None, Some("x".repeat(43)), Some(String::new())];
    for other_browser in others.clone() {
        let attacker = consent(&w, "VIC", &link).await;
        let victim = CallbackParams {
            browser: other_browser,
            ..attacker.clone()
        };
        let err = w.connect.complete(KIND, &victim).await.unwrap_err();
        assert!(matches!(err, ConnectError::OtherBrowser), "{err}");
    }
    assert!(w.connection("VIC").await.is_none());
    assert!(w.marketing.contacts().is_empty());
    assert_eq!(
        w.provider.codes_outstanding(),
        others.len(),
        "no code was redeemed"
    );
}

#[tokio::test]
async fn two_tabs_of_one_browser_each_finish() {
    let w = World::new();
    w.provider.add_person("WES", person("Wes"), "activity");
    let first = w
        .connect
        .start(KIND, &LinkParams::default(), None, None)
        .await
        .unwrap();
    let held = first.browser.expose().to_owned();
    let second = w
        .connect
        .start(KIND, &LinkParams::default(), None, Some(&held))
        .await
        .unwrap();
    assert_eq!(second.browser.expose(), held, "the binding is kept");
    for started in [first, second] {
        let code = w.provider.consent("WES", &started.url);
        let params = CallbackParams {
            state: Some(param(&started.url, "state")),
            code: Some(code),
            error: None,
            browser: Some(held.clone()),
        };
        w.connect.complete(KIND, &params).await.unwrap();
    }
    // A malformed cookie value is not adopted.
    let fresh = w
        .connect
        .start(KIND, &LinkParams::default(), None, Some("short"))
        .await
        .unwrap();
    assert_ne!(fresh.browser.expose(), "short");
}

#[tokio::test]
async fn a_signed_link_makes_one_connection() {
    let w = World::new();
    w.provider.add_person("XIA", person("Xia"), "activity");
    w.provider.add_person("YAN", person("Yan"), "activity");
    let link = signed_link(&w, "C-7", time::Duration::days(14));
    // Two attempts with the link before either finished: only the first callback wins.
    let first = consent(&w, "XIA", &link).await;
    let second = consent(&w, "YAN", &link).await;
    w.connect.complete(KIND, &first).await.unwrap();
    let err = w.connect.complete(KIND, &second).await.unwrap_err();
    assert!(matches!(err, ConnectError::Link(LinkError::Used)), "{err}");
    assert!(w.connection("YAN").await.is_none());
    // Opening it again is refused before anyone is sent to consent.
    let err = w.connect.start(KIND, &link, None, None).await.unwrap_err();
    assert!(matches!(err, ConnectError::Link(LinkError::Used)), "{err}");
    assert_eq!(w.marketing.contacts().len(), 1);
}

#[tokio::test]
async fn a_link_whose_connect_failed_can_be_used_again() {
    let w = World::new();
    w.provider.add_person("ZOE", person("Zoe"), "activity");
    let link = signed_link(&w, "C-8", time::Duration::days(14));
    let params = consent(&w, "ZOE", &link).await;
    w.marketing.fail_next(1);
    assert!(w.connect.complete(KIND, &params).await.is_err());
    let again = consent(&w, "ZOE", &link).await;
    w.connect.complete(KIND, &again).await.unwrap();
    let contact = w.marketing.contact(&contact("ZOE")).unwrap();
    assert_eq!(contact.customer_ref.as_deref(), Some("C-8"));
}

#[tokio::test]
async fn a_link_valid_for_longer_than_the_maximum_is_refused() {
    let w = World::new();
    let link = signed_link(
        &w,
        "C-9",
        connect_link::MAX_LIFETIME + time::Duration::days(1),
    );
    let err = w.connect.start(KIND, &link, None, None).await.unwrap_err();
    assert!(
        matches!(err, ConnectError::Link(LinkError::TooLongLived)),
        "{err}"
    );
}

#[tokio::test]
async fn denied_consent_stores_nothing() {
    let w = World::new();
    let started = w
        .connect
        .start(KIND, &LinkParams::default(), None, None)
        .await
        .unwrap();
    let params = CallbackParams {
        state: Some(param(&started.url, "state")),
        code: None,
        error: Some("access_denied".into()),
        browser: Some(started.browser.expose().to_owned()),
    };
    assert!(matches!(
        w.connect.complete(KIND, &params).await.unwrap_err(),
        ConnectError::Denied
    ));
    assert!(w.marketing.contacts().is_empty());
}

#[tokio::test]
async fn a_code_with_another_verifier_is_refused() {
    let w = World::new();
    w.provider.add_person("CY", person("Cy"), "activity");
    let first = consent(&w, "CY", &LinkParams::default()).await;
    let second = consent(&w, "CY", &LinkParams::default()).await;
    // The second attempt's state with the first attempt's code: PKCE does not match.
    let crossed = CallbackParams {
        code: first.code,
        ..second
    };
    let err = w.connect.complete(KIND, &crossed).await.unwrap_err();
    assert!(matches!(err, ConnectError::TokenExchange(_)), "{err}");
    assert!(w.connection("CY").await.is_none());
}

#[tokio::test]
async fn a_signed_link_attaches_the_customer_and_a_forged_one_is_refused() {
    let w = World::new();
    w.provider.add_person("DEE", person("Dee"), "activity");
    let link = signed_link(&w, "C-1042", time::Duration::minutes(10));
    let params = consent(&w, "DEE", &link).await;
    w.connect.complete(KIND, &params).await.unwrap();
    let contact = w.marketing.contact(&contact("DEE")).unwrap();
    assert_eq!(contact.customer_ref.as_deref(), Some("C-1042"));

    let forged = LinkParams {
        customer_ref: Some("C-9999".into()),
        ..link
    };
    let err = w
        .connect
        .start(KIND, &forged, None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConnectError::Link(LinkError::BadSignature)),
        "{err}"
    );
}

#[tokio::test]
async fn a_reconnect_updates_the_same_contact_and_resumes_parked_work() {
    let w = World::new();
    w.provider.add_person("EVA", person("Eva"), "activity");
    let params = consent(&w, "EVA", &LinkParams::default()).await;
    w.connect.complete(KIND, &params).await.unwrap();
    let parked = sync("EVA", day(9), &[Collection::Activities]);
    w.store.park(&parked, "needs_reconsent").await.unwrap();

    let params = consent(&w, "EVA", &LinkParams::default()).await;
    let done = w.connect.complete(KIND, &params).await.unwrap();
    assert!(done.reconnected);
    assert_eq!(done.resumed, 1);
    assert_eq!(w.marketing.contacts().len(), 1);
    assert_eq!(w.queue.items(), vec![parked]);
    assert!(w
        .store
        .parked(&PersonKey::of(KIND, &ProviderUserId("EVA".into())))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_reconnect_that_cannot_reach_sap_keeps_the_new_tokens() {
    let w = World::new();
    w.provider.add_person("FAY", person("Fay"), "activity");
    let params = consent(&w, "FAY", &LinkParams::default()).await;
    w.connect.complete(KIND, &params).await.unwrap();
    let before = w.connection("FAY").await.unwrap();

    let params = consent(&w, "FAY", &LinkParams::default()).await;
    w.marketing.fail_next(1);
    let err = w.connect.complete(KIND, &params).await.unwrap_err();
    assert!(matches!(err, ConnectError::Marketing(_)), "{err}");
    let after = w.connection("FAY").await.unwrap();
    assert_ne!(after.tokens.refresh_token, before.tokens.refresh_token);
    // The new pair works: the old one is dead (single-use refresh tokens).
    assert!(w
        .tokens
        .after_unauthorized(
            &PersonKey::of(KIND, &ProviderUserId("FAY".into())),
            after.version
        )
        .await
        .is_ok());
}

#[tokio::test]
async fn a_first_connect_that_cannot_reach_sap_stores_nothing() {
    let w = World::new();
    w.provider.add_person("GIL", person("Gil"), "activity");
    let params = consent(&w, "GIL", &LinkParams::default()).await;
    w.marketing.fail_next(1);
    assert!(w.connect.complete(KIND, &params).await.is_err());
    assert!(w.connection("GIL").await.is_none());
}

#[tokio::test]
async fn a_person_whose_provider_is_gone_migrates_keeping_contact_days_and_parked_work() {
    use fitbridge::domain::{DaySummary, Task};
    use fitbridge::ports::provider::ProviderError;
    use fitbridge::ports::store::ConnectionStore;

    let w = World::new();
    // A legacy person with an imported day, then the legacy API switched off.
    w.connected("FB1", "activity").await;
    let imported = DaySummary {
        steps: Some(6000),
        ..Default::default()
    };
    w.provider
        .set_day("FB1", Collection::Activities, day(10), imported.clone());
    w.drain_after(&[sync("FB1", day(10), &[Collection::Activities])])
        .await;
    w.provider.fail_next([ProviderError::Gone]);
    w.drain_after(&[sync("FB1", day(11), &[Collection::Activities])])
        .await;
    assert_eq!(
        w.connection("FB1").await.unwrap().status,
        ConnectionStatus::ProviderGone
    );
    let before = w.marketing.interactions();
    assert_eq!(before.len(), 1);

    // They connect through the successor, which knows their legacy id.
    w.successor.add_person(
        "9001",
        MemoryPerson {
            legacy_user_id: Some("FB1".into()),
            ..Default::default()
        },
        fitbridge::provider::google_health::scopes::ACTIVITY,
    );
    w.successor
        .set_day("9001", Collection::Activities, day(10), imported);
    w.successor.set_day(
        "9001",
        Collection::Activities,
        day(11),
        DaySummary {
            steps: Some(7000),
            ..Default::default()
        },
    );
    let started = w
        .connect
        .start(SUCCESSOR, &LinkParams::default(), None, None)
        .await
        .unwrap();
    let code = w.successor.consent("9001", &started.url);
    let done = w
        .connect
        .complete(
            SUCCESSOR,
            &CallbackParams {
                state: Some(param(&started.url, "state")),
                code: Some(code),
                error: None,
                browser: Some(started.browser.expose().to_owned()),
            },
        )
        .await
        .unwrap();
    assert_eq!(done.migrated_from, Some(KIND));
    assert_eq!(
        done.resumed, 1,
        "the parked day resumes through the successor"
    );

    // Same contact, the legacy connection retired.
    let migrated = w
        .store
        .get(&PersonKey::of(SUCCESSOR, &ProviderUserId("9001".into())))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(migrated.contact, contact("FB1"));
    assert_eq!(w.marketing.contacts().len(), 1, "no duplicate contact");
    assert!(w.connection("FB1").await.is_none());
    let tomb = w
        .store
        .tombstone(&PersonKey::of(KIND, &ProviderUserId("FB1".into())))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tomb.ending, Ending::Migrated { to: SUCCESSOR });
    assert!(
        !tomb.flag_pending,
        "a migration flags nothing: the person goes on"
    );
    assert!(w.queue.items().iter().all(|i| i.provider == SUCCESSOR
        && i.user_id.0 == "9001"
        && matches!(i.task, Task::Sync { .. })));

    // The successor's work: day 11 arrives, day 10 is not written again.
    w.queue.drain().into_iter().for_each(drop);
    w.drain_after(&[
        sync_for(SUCCESSOR, "9001", day(10)),
        sync_for(SUCCESSOR, "9001", day(11)),
    ])
    .await;
    let after = w.marketing.interactions();
    assert_eq!(after.len(), 2, "{after:?}");
    let day10 = after
        .iter()
        .find(|i| i.source_object == "FB1-2026-11-10-steps")
        .unwrap();
    assert_eq!(
        (day10.id.as_str(), day10.writes),
        (before[0].id.as_str(), 1)
    );
    let day11 = after
        .iter()
        .find(|i| i.source_object == "FB1-2026-11-11-steps")
        .unwrap();
    assert_eq!(day11.provider, SUCCESSOR);
}

#[tokio::test]
async fn a_connect_backfills_the_last_days_and_a_reconnect_imports_nothing_twice() {
    // In the middle of a month, in its first days (the backfill spans two months, and used
    // to fire the window for both), on its last day, and on a 1 March, Berlin time.
    for now in [
        START,
        time::macros::datetime!(2026-12-02 09:00 UTC),
        time::macros::datetime!(2026-12-31 12:00 UTC),
        time::macros::datetime!(2027-03-01 23:30 UTC),
    ] {
        backfill_and_reconnect_at(now).await;
    }
}

async fn backfill_and_reconnect_at(now: time::OffsetDateTime) {
    use fitbridge::ports::signals::SignalStore;

    let w = World::with_backfill(30);
    w.clock.set(now);
    w.provider
        .add_person("HUGO", person("Hugo"), "activity sleep");
    let yesterday = w.yesterday_in("Europe/Berlin");
    for back in 0..30 {
        let d = yesterday - time::Duration::days(back);
        w.provider.set_day(
            "HUGO",
            Collection::Activities,
            d,
            steps(7_000 + back as u64),
        );
    }
    let params = consent(&w, "HUGO", &LinkParams::default()).await;
    let done = w.connect.complete(KIND, &params).await.unwrap();
    assert_eq!(done.backfilled, 30);
    let queued = w.queue.drain();
    assert_eq!(
        queued.len(),
        30,
        "one item a day, every granted collection in it"
    );
    assert!(queued.iter().all(|i| matches!(&i.task,
        fitbridge::domain::Task::Sync { collections, .. } if collections.len() == 2)));
    w.drain_after(&queued).await;
    let imported = w.marketing.interactions();
    let days = |all: &[fitbridge::marketing::memory::StoredInteraction]| {
        all.iter().filter(|i| i.signal.is_none()).count()
    };
    assert_eq!(days(&imported), 60, "steps and distance of 30 days");
    // 30 days of 5.4 km: the default 100-km window fired, from the backfill.
    let fired: Vec<String> = w.marketing.signals().into_iter().map(|(s, _)| s).collect();
    let this_month = fitbridge::domain::signals::rules::Period::Month
        .of(w.yesterday_in("Europe/Berlin") + time::Duration::days(1));
    assert_eq!(fired, [format!("HUGO-s-distance100-{this_month}")], "{now}");
    let (history, _) = w.store.load(&contact("HUGO")).await.unwrap();
    assert_eq!(history.days().count(), 30);
    assert_eq!(history.latest(), Some(yesterday));

    // A reconnect the same day finds its days imported: nothing is queued.
    let params = consent(&w, "HUGO", &LinkParams::default()).await;
    let again = w.connect.complete(KIND, &params).await.unwrap();
    assert!(again.reconnected);
    assert_eq!(again.backfilled, 0, "{now}");
    assert!(w.queue.drain().is_empty());

    // A day later a reconnect queues the days again; SAP gets nothing new.
    w.clock.advance(time::Duration::days(1));
    let params = consent(&w, "HUGO", &LinkParams::default()).await;
    let again = w.connect.complete(KIND, &params).await.unwrap();
    assert!(again.reconnected);
    assert_eq!(again.backfilled, 30, "{now}");
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let queued = w.queue.drain();
    w.drain_after(&queued).await;
    let after = w.marketing.interactions();
    assert_eq!(days(&after), 60);
    assert_eq!(w.marketing.signals().len(), 1);
    assert!(after.iter().all(|i| i.writes == 1), "nothing written twice");
}

/// Connects `user` at the successor through `link`.
async fn connect_successor(
    w: &World,
    user: &str,
    link: &LinkParams,
) -> Result<fitbridge::use_cases::connect::Connected, ConnectError> {
    let started = w.connect.start(SUCCESSOR, link, None, None).await?;
    let code = w.successor.consent(user, &started.url);
    w.connect
        .complete(
            SUCCESSOR,
            &CallbackParams {
                state: Some(param(&started.url, "state")),
                code: Some(code),
                error: None,
                browser: Some(started.browser.expose().to_owned()),
            },
        )
        .await
}

#[tokio::test]
async fn a_migration_link_connects_only_the_account_it_names() {
    use fitbridge::ports::store::ConnectionStore;
    // A legacy person tied to a customer record, and their migration link; somebody else
    // opens it first (it was forwarded), then the person.
    let w = World::new();
    w.connected("FB2", "activity").await;
    let mut legacy = w.connection("FB2").await.unwrap();
    legacy.customer_ref = Some("C-77".into());
    w.store.save_connected(&legacy).await.unwrap();
    for (user, legacy_id) in [("9002", "FB2"), ("9003", "OTHER3")] {
        w.successor.add_person(
            user,
            MemoryPerson {
                legacy_user_id: Some(legacy_id.into()),
                ..Default::default()
            },
            fitbridge::provider::google_health::scopes::ACTIVITY,
        );
    }
    let link = || {
        signed_for(
            SUCCESSOR,
            LinkClaims {
                customer_ref: None,
                legacy_user_id: Some("FB2".into()),
                issued: w.now().unix_timestamp(),
                expires: (w.now() + time::Duration::days(14)).unix_timestamp(),
            },
        )
    };
    let err = connect_successor(&w, "9003", &link()).await.unwrap_err();
    assert!(
        matches!(err, ConnectError::Link(LinkError::OtherAccount)),
        "{err}"
    );
    let other = ProviderUserId("9003".into());
    assert!(w
        .store
        .get(&PersonKey::of(SUCCESSOR, &other))
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        w.successor.revoked_grants(),
        1,
        "the refused grant is ended"
    );
    assert!(
        w.marketing.contact(&contact("9003")).is_none(),
        "no contact for them"
    );

    // The person it was sent to migrates, onto their customer record.
    let done = connect_successor(&w, "9002", &link()).await.unwrap();
    assert_eq!(done.migrated_from, Some(KIND));
    let migrated = w
        .store
        .get(&PersonKey::of(SUCCESSOR, &ProviderUserId("9002".into())))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(migrated.customer_ref.as_deref(), Some("C-77"));
}

#[tokio::test]
async fn a_link_never_moves_a_connection_to_another_customer_record() {
    let w = World::new();
    w.provider.add_person("RAY", person("Ray"), "activity");
    let first = signed_link(&w, "C-1", time::Duration::minutes(10));
    let params = consent(&w, "RAY", &first).await;
    w.connect.complete(KIND, &params).await.unwrap();

    // Someone forwards a link for their own record; the person opens it.
    let other = signed_link(&w, "C-2", time::Duration::minutes(10));
    let params = consent(&w, "RAY", &other).await;
    let err = w.connect.complete(KIND, &params).await.unwrap_err();
    assert!(
        matches!(err, ConnectError::Link(LinkError::OtherCustomer)),
        "{err}"
    );
    let c = w.connection("RAY").await.unwrap();
    assert_eq!(c.customer_ref.as_deref(), Some("C-1"));
    assert_eq!(c.status, ConnectionStatus::Active);
    assert_eq!(w.provider.revoked_grants(), 0, "their own connection stays");
    let contact = w.marketing.contact(&contact("RAY")).unwrap();
    assert_eq!(contact.customer_ref.as_deref(), Some("C-1"));

    // The same record again (a new link) is a plain reconnect.
    w.clock.advance(time::Duration::seconds(1));
    let same = signed_link(&w, "C-1", time::Duration::minutes(10));
    let params = consent(&w, "RAY", &same).await;
    assert!(w.connect.complete(KIND, &params).await.unwrap().reconnected);
}

#[tokio::test]
async fn with_signed_links_required_only_a_link_connects() {
    let mut w = World::new();
    w.connect.settings.require_signed_links = true;
    w.provider.add_person("SUE", person("Sue"), "activity");
    let err = w
        .connect
        .start(KIND, &LinkParams::default(), None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConnectError::Link(LinkError::Required)),
        "{err}"
    );
    let link = signed_link(&w, "C-5", time::Duration::minutes(10));
    let params = consent(&w, "SUE", &link).await;
    w.connect.complete(KIND, &params).await.unwrap();
    assert_eq!(
        w.connection("SUE").await.unwrap().customer_ref.as_deref(),
        Some("C-5")
    );
}
