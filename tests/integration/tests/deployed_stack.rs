//! The stack as deployed from `infra/template.yaml` to the local emulator: the OAuth
//! function runs as the emulator's Lambda (our release binary), reached through the local
//! API gateway, using the emulator's DynamoDB and Secrets Manager.

use fitbridge::domain::PersonKey;
use fitbridge::domain::{ProviderKind, ProviderUserId};
use fitbridge::ports::store::ConnectionStore;
use fitbridge::store::dynamodb::DynamoStore;
use fitbridge_integration::test_clock;
use fitbridge_integration::{aws_config, deployed, stack};

#[tokio::test]
async fn a_person_connects_through_the_deployed_functions() {
    let stack = stack();
    let done = deployed::connect_person(&stack, "Dee", "Ployed", "CUST-DEPLOYED-1").await;
    assert_eq!(done.status, 200, "{}", done.page);
    let contact = done.contact.expect("contact landed in the SAP sandbox");
    assert_eq!(contact["fields"]["FirstName"], "Dee");
    assert_eq!(contact["additional_ids"][0]["id"], "CUST-DEPLOYED-1");

    let aws = aws_config(&stack).await;
    let table = stack["outputs"]["TableName"].as_str().unwrap();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table, test_clock());
    let connection = store
        .get(&PersonKey::of(
            ProviderKind::Fitbit,
            &ProviderUserId(done.user_id.clone()),
        ))
        .await
        .unwrap()
        .expect("the deployed function stored the connection in the stack's table");
    assert_eq!(connection.customer_ref.as_deref(), Some("CUST-DEPLOYED-1"));
    assert_eq!(connection.subscriptions.len(), 3);
}

#[tokio::test]
async fn notifications_and_an_expired_token_flow_through_the_deployed_pipeline() {
    use std::time::Duration;
    let stack = stack();
    let d = deployed::Deployed::new(stack.clone());
    let done = deployed::connect_person(&stack, "Pia", "Pipeline", "CUST-DEPLOYED-2").await;
    assert_eq!(done.status, 200, "{}", done.page);
    let user = done.user_id;

    // Webhook function → work queue → (the emulator's SQS trigger) → worker → SAP.
    assert_eq!(d.notify(&[("activities", "2026-11-10", &user)]).await, 204);
    let got = d
        .wait_for_interactions(&user, 4, Duration::from_secs(60))
        .await;
    assert_eq!(got.len(), 4, "steps, distance, calories, active minutes");

    // Expired token: worker 401 → retry queue → token-refresh function → work queue → worker.
    d.expire_token(&user).await;
    assert_eq!(d.notify(&[("activities", "2026-11-11", &user)]).await, 204);
    let got = d
        .wait_for_interactions(&user, 8, Duration::from_secs(60))
        .await;
    assert_eq!(got.len(), 8, "the day after the 401 arrived too");
    let stats = d.fitbit_stats().await;
    assert_eq!(stats["refreshes"][&user], 1, "exactly one refresh");

    // Every interaction exactly once.
    let mut sources: Vec<String> = got
        .iter()
        .map(|i| {
            i["fields"]["InteractionSourceObject"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    sources.sort();
    sources.dedup();
    assert_eq!(sources.len(), 8);
}

#[tokio::test]
async fn a_google_health_person_connects_and_a_signed_notification_reaches_sap() {
    use std::time::Duration;
    let stack = stack();
    let d = deployed::Deployed::new(stack.clone());
    // The operator registers the project's subscriber; Google verifies the deployed
    // webhook with its two probes before answering.
    let registered = d.create_google_subscriber().await;
    assert!(registered.contains("subscribers/fitbridge"), "{registered}");

    let done = deployed::connect_google_person(&stack, None).await;
    assert_eq!(done.status, 200, "{}", done.page);
    let user = done.user_id;
    let contact = d
        .contacts()
        .await
        .into_iter()
        .find(|c| c["origin"] == "GOOGLE_HEALTH" && c["id"] == user.as_str());
    assert!(contact.is_some(), "a contact keyed by the health id");

    // Google → webhook function (signature, authorization) → work queue → worker → SAP.
    assert_eq!(d.notify_google(&user, "steps", "2026-11-12").await, 204);
    let got = d
        .wait_for_interactions(&user, 4, Duration::from_secs(60))
        .await;
    let mut sources: Vec<&str> = got
        .iter()
        .filter_map(|i| i["fields"]["InteractionSourceObject"].as_str())
        .collect();
    sources.sort();
    assert_eq!(
        sources,
        ["active_minutes", "calories", "distance", "steps"]
            .map(|m| format!("{user}-2026-11-12-{m}"))
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    assert!(got
        .iter()
        .all(|i| i["fields"]["CommunicationMedium"] == "GOOGLE_HEALTH"));
}

#[tokio::test]
async fn a_polar_person_connects_and_a_signed_activity_summary_reaches_sap_once() {
    use std::time::Duration;
    let stack = stack();
    let d = deployed::Deployed::new(stack.clone());
    // The operator creates the client's one webhook; Polar pings the deployed route (200,
    // unsigned) and the admin CLI stores the signing key it shows once.
    let created = d.create_polar_webhook().await;
    assert!(created.contains("created"), "{created}");
    let webhook = d.polar_webhook().await;
    assert_eq!(webhook["active"], true, "{webhook}");

    let done =
        deployed::connect_polar_person(&stack, "Pola", Some("CUST-DEPLOYED-POLAR"), None).await;
    assert_eq!(done.status, 200, "{}", done.page);
    let user = done.user_id;
    let contact = done.contact.expect("a contact keyed by the Polar user id");
    assert_eq!(contact["additional_ids"][0]["id"], "CUST-DEPLOYED-POLAR");
    let registered = d.polar_stats().await;
    assert_eq!(
        registered["registrations"][&user], 1,
        "registered once: {registered}"
    );

    // Polar → webhook function (HMAC-SHA256 of the raw body) → work queue → worker → SAP.
    let today = fitbridge_integration::stack_now().date();
    let (day1, day2) = (
        (today - time::Duration::days(2)).to_string(),
        (today - time::Duration::days(1)).to_string(),
    );
    let connected_calls = d.polar_data_calls(&user).await;
    d.record_polar_day(&user, &day1, [8_123, 6_020, 2_345, 47])
        .await;
    assert_eq!(
        d.notify_polar(&user, "ACTIVITY_SUMMARY", &day1, false)
            .await,
        [200],
        "Polar expects 200, not 204"
    );
    let got = d
        .wait_for_interactions(&user, 4, Duration::from_secs(60))
        .await;
    let mut sources: Vec<&str> = got
        .iter()
        .filter_map(|i| i["fields"]["InteractionSourceObject"].as_str())
        .collect();
    sources.sort();
    assert_eq!(
        sources,
        ["active_minutes", "calories", "distance", "steps"]
            .map(|m| format!("{user}-{day1}-{m}"))
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    let steps = got
        .iter()
        .find(|i| i["fields"]["InteractionType"] == "POLAR_STEPS")
        .expect("steps");
    assert!(steps.to_string().contains("8123"), "{steps}");
    assert!(got
        .iter()
        .all(|i| i["fields"]["CommunicationMedium"] == "POLAR"));
    let one_day_calls = d.polar_data_calls(&user).await - connected_calls;
    assert!(one_day_calls > 0);

    // A PING answers 200 and a forged delivery 4xx; neither queues anything: after the
    // next genuine day is imported, the person has that day's interactions and no more,
    // and Polar was asked for nothing else.
    assert_eq!(d.ping_polar().await, [200]);
    let day0 = (today - time::Duration::days(3)).to_string();
    let forged = d.notify_polar(&user, "ACTIVITY_SUMMARY", &day0, true).await;
    assert!(
        !forged.is_empty() && forged.iter().all(|s| (400..500).contains(s)),
        "forged: {forged:?}"
    );
    d.record_polar_day(&user, &day2, [9_001, 7_000, 2_400, 52])
        .await;
    assert_eq!(
        d.notify_polar(&user, "ACTIVITY_SUMMARY", &day2, false)
            .await,
        [200]
    );
    let got = d
        .wait_for_interactions(&user, 8, Duration::from_secs(60))
        .await;
    assert_eq!(got.len(), 8, "two days of four interactions: {got:?}");
    assert_eq!(
        d.polar_data_calls(&user).await - connected_calls,
        2 * one_day_calls,
        "the second day cost what the first did, and nothing else was fetched"
    );
}
