//! Campaign signals end to end in process: the real worker on the provider and SAP
//! sandboxes (in-memory storage and queues). A month of each provider's synthetic data
//! goes through the worker; what lands in the SAP sandbox was validated there against the
//! EDMX (signal interactions, marketing attributes), and every published event is checked
//! against the schema kept in `shared/schemas/`.

use fitbridge::domain::{ProviderKind, ProviderUserId, Scopes};
use fitbridge::ports::catalog::ProviderCatalog;
use fitbridge::ports::signals::SignalStore;
use fitbridge::provider::registry::Registry;
use fitbridge_integration::in_process::{Message, World};
use fitbridge_sandbox::fitbit::ActivityPattern;
use fitbridge_sandbox::google_health::scopes;
use serde_json::Value;

const SCHEMA: &str = include_str!("../../../shared/schemas/signal-event.v1.json");

/// The last `days` days of the person's data, as a backfill queues them.
fn month_of_work(
    w: &World,
    provider: ProviderKind,
    user: &str,
    scopes: &[&str],
    days: i64,
) -> Vec<Message> {
    let yesterday = w.yesterday();
    (0..days)
        .filter_map(|back| {
            Registry.sync_work(
                provider,
                &ProviderUserId(user.into()),
                &Scopes::parse(&scopes.join(" ")),
                yesterday - time::Duration::days(back),
            )
        })
        .map(|item| w.message(item))
        .collect()
}

fn schema() -> jsonschema::Validator {
    jsonschema::validator_for(&serde_json::from_str::<Value>(SCHEMA).unwrap()).unwrap()
}

#[tokio::test]
async fn a_month_of_data_gives_each_person_a_score_and_valid_events() {
    let w = World::start().await;
    let validator = schema();
    let fitbit_scopes = ["activity", "sleep", "weight"];
    let google_scopes = [scopes::ACTIVITY_AND_FITNESS, scopes::SLEEP];
    let fitbit = w.connected(ProviderKind::Fitbit, &fitbit_scopes).await;
    let google = w
        .connected(ProviderKind::GoogleHealth, &google_scopes)
        .await;

    let mut work = month_of_work(&w, ProviderKind::Fitbit, &fitbit, &fitbit_scopes, 30);
    work.extend(month_of_work(
        &w,
        ProviderKind::GoogleHealth,
        &google,
        &google_scopes,
        30,
    ));
    let run = w.run(work.clone()).await;
    assert_eq!(run.leftover.dead(), 0, "{}", run.trace());
    assert!(!run.unsettled, "{}", run.trace());

    let events = w.ports.events.published();
    for event in &events {
        let json = serde_json::to_value(event).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{json}: {errors:?}");
    }
    for (provider, user) in [
        (ProviderKind::Fitbit, &fitbit),
        (ProviderKind::GoogleHealth, &google),
    ] {
        let contact = fitbridge_integration::in_process::contact_of(provider, user);
        let sap = w
            .sandbox
            .sap
            .contact(&contact.origin, &contact.id)
            .expect("the contact holds the attributes");
        let attributes: Vec<(String, String)> = sap
            .marketing_attributes
            .iter()
            .map(|a| (a.category.clone(), a.value.clone()))
            .collect();
        let score: Vec<&(String, String)> = attributes
            .iter()
            .filter(|(c, _)| c == "FITBRIDGE_ACTIVITY_SCORE")
            .collect();
        assert_eq!(
            score.len(),
            1,
            "{provider}: one score value: {attributes:?}"
        );
        let value: u8 = score[0].1.parse().unwrap();
        assert!(value <= 100);
        assert!(
            events
                .iter()
                .any(|e| e.contact_id == contact.id && e.detail_type == "fitbridge.score_changed"),
            "{provider}: the score was announced"
        );
    }

    // Everything again (a redelivery of the whole month): nothing new anywhere.
    let interactions = w.sandbox.sap.interactions().len();
    w.advance(fitbridge::ports::store::FETCH_COALESCE_WINDOW);
    let again = w.run(work).await;
    assert_eq!(again.leftover.dead(), 0);
    assert_eq!(w.sandbox.sap.interactions().len(), interactions);
    assert_eq!(w.ports.events.published().len(), events.len());
}

#[tokio::test]
async fn a_runner_and_a_lapse_fire_their_rules_in_sap_once() {
    // In the middle of a month, and in the first week of one, when the backfill spans
    // two months (and used to fire the window for both).
    for start in [
        fitbridge_integration::in_process::START,
        time::macros::datetime!(2026-12-02 10:00 UTC),
    ] {
        runner_and_lapse_from(start).await;
    }
}

async fn runner_and_lapse_from(start: time::OffsetDateTime) {
    let w = World::start_at(start).await;
    let this_month = fitbridge::domain::signals::rules::Period::Month
        .of(w.yesterday() + time::Duration::days(1));
    let runner_scopes = ["activity"];
    let lapse_scopes = [scopes::ACTIVITY_AND_FITNESS];
    let runner = w
        .connected_with(
            ProviderKind::Fitbit,
            &runner_scopes,
            Some(ActivityPattern::WeekdayRunner),
        )
        .await;
    let lapsed = w
        .connected_with(
            ProviderKind::GoogleHealth,
            &lapse_scopes,
            Some(ActivityPattern::Lapse),
        )
        .await;
    let mut work = month_of_work(&w, ProviderKind::Fitbit, &runner, &runner_scopes, 30);
    work.extend(month_of_work(
        &w,
        ProviderKind::GoogleHealth,
        &lapsed,
        &lapse_scopes,
        45,
    ));
    for _ in 0..2 {
        let run = w.run(work.clone()).await;
        assert_eq!(run.leftover.dead(), 0, "{}", run.trace());
        w.advance(fitbridge::ports::store::FETCH_COALESCE_WINDOW);
    }

    let signals = |user: &str| -> Vec<(String, String, String)> {
        w.sandbox
            .sap
            .interactions()
            .iter()
            .filter(|i| i.field_str("InteractionContactId") == Some(user))
            .filter_map(|i| {
                let source = i.field_str("InteractionSourceObject")?;
                source.contains("-s-").then(|| {
                    (
                        source.to_owned(),
                        i.field_str("InteractionType")
                            .unwrap_or_default()
                            .to_owned(),
                        i.field_str("InteractionContent")
                            .unwrap_or_default()
                            .to_owned(),
                    )
                })
            })
            .collect()
    };
    // About 11 km a day: the 100-km window, once, whatever ran twice.
    let fired = signals(&runner);
    let window: Vec<_> = fired
        .iter()
        .filter(|(s, ..)| s.contains("-s-distance100-"))
        .collect();
    assert_eq!(window.len(), 1, "{start}: {fired:?}");
    assert!(
        window[0]
            .0
            .ends_with(&format!("-s-distance100-{this_month}")),
        "{start}: {fired:?}"
    );
    assert_eq!(window[0].1, "FITBIT_SIGNAL");
    assert!(
        window[0].2.contains("\"metric\":\"distance\""),
        "{:?}",
        window[0]
    );
    let contact = w.sandbox.sap.contact("FITBIT", &runner).unwrap();
    assert_eq!(
        contact.marketing_attribute_values("FITBRIDGE_SEND_HOUR"),
        ["18"]
    );
    assert_eq!(
        contact
            .marketing_attribute_values("FITBRIDGE_ACTIVITY_BAND")
            .len(),
        1
    );

    // An operator removed the score in the tenant while our state still names it: the
    // next change's DELETE answers 404, and the value is set without it.
    let key = fitbridge_integration::in_process::contact_of(ProviderKind::Fitbit, &runner);
    let (_, mut state) = SignalStore::load(&*w.store, &key).await.unwrap();
    let held = state.attributes["FITBRIDGE_ACTIVITY_SCORE"].clone();
    state
        .attributes
        .insert("FITBRIDGE_ACTIVITY_SCORE".into(), "7".into());
    assert!(SignalStore::save_state(&*w.store, &key, &state)
        .await
        .unwrap());
    w.advance(fitbridge::ports::store::FETCH_COALESCE_WINDOW);
    let run = w
        .run(month_of_work(
            &w,
            ProviderKind::Fitbit,
            &runner,
            &runner_scopes,
            1,
        ))
        .await;
    assert_eq!(run.leftover.dead(), 0, "{}", run.trace());
    let contact = w.sandbox.sap.contact("FITBIT", &runner).unwrap();
    assert_eq!(
        contact.marketing_attribute_values("FITBRIDGE_ACTIVITY_SCORE"),
        [held.as_str()]
    );
    let (_, state) = SignalStore::load(&*w.store, &key).await.unwrap();
    assert_eq!(state.attributes["FITBRIDGE_ACTIVITY_SCORE"], held);

    // Ten quiet days after a month of 6,000+ steps: the lapse, once.
    let fired = signals(&lapsed);
    let lapse: Vec<_> = fired
        .iter()
        .filter(|(s, ..)| s.contains("-s-lapse-"))
        .collect();
    assert_eq!(lapse.len(), 1, "{start}: {fired:?}");
    assert_eq!(lapse[0].1, "GH_SIGNAL");
    assert!(
        lapse[0].2.contains("\"before\""),
        "the average while active: {:?}",
        lapse[0]
    );
    let contact = w.sandbox.sap.contact("GOOGLE_HEALTH", &lapsed).unwrap();
    let band = contact.marketing_attribute_values("FITBRIDGE_ACTIVITY_BAND");
    assert_eq!(band.len(), 1, "one band value at a time");
}

#[test]
fn the_schema_refuses_what_it_does_not_describe() {
    let validator = schema();
    let good = serde_json::json!({
        "type": "fitbridge.rule_fired", "version": 1, "id": "A1-streak7-2026-11",
        "contact_origin": "FITBIT", "contact_id": "A1", "provider": "fitbit",
        "day": "2026-11-29", "rule_id": "streak7", "period": "2026-11",
        "figures": {"metric": "steps", "value": 10500.0, "days": 7}
    });
    assert!(validator.is_valid(&good));
    for (field, bad) in [
        ("version", serde_json::json!(2)),
        ("period", serde_json::json!("November")),
        (
            "figures",
            serde_json::json!({"metric": "heart", "value": 1, "days": 1}),
        ),
        ("score", serde_json::json!(101)),
    ] {
        let mut event = good.clone();
        event[field] = bad;
        assert!(!validator.is_valid(&event), "{field}");
    }
}
