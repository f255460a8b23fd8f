use reqwest::Method;
use time::format_description::well_known::Rfc3339;

use super::*;

fn payload(received: &Received) -> WebhookPayload {
    serde_json::from_str(&received.body).unwrap()
}

#[tokio::test]
async fn creating_pings_before_the_key_is_known_and_shows_the_key_once() {
    let sandbox = start_default().await;
    let receiver = Receiver::start(200).await;
    let created = create_webhook(&sandbox, &receiver, &["ACTIVITY_SUMMARY", "SLEEP"]).await;
    let key = created["signature_secret_key"].as_str().unwrap().to_owned();
    assert_eq!(created["url"], receiver.url.as_str());
    assert_eq!(created["events"], json!(["ACTIVITY_SUMMARY", "SLEEP"]));
    // The ping arrived first, signed with the key nobody held yet.
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].event.as_deref(), Some("PING"));
    let ping: Value = serde_json::from_str(&received[0].body).unwrap();
    contract::validate("webhookPing", &ping).unwrap();
    assert_eq!(ping["event"], "PING");
    assert_eq!(ping.as_object().unwrap().len(), 2, "{ping}");
    let sent = OffsetDateTime::parse(ping["timestamp"].as_str().unwrap(), &Rfc3339).unwrap();
    assert_close(sent, NOW);
    assert_eq!(
        received[0].signature.as_deref(),
        Some(sign_payload(&key, received[0].body.as_bytes()).as_str())
    );
    // GET never shows the key again.
    let response = webhook_request(&sandbox, Method::GET, "")
        .send()
        .await
        .unwrap();
    let info = json_of(response, StatusCode::OK, "webhookInfo").await;
    assert_eq!(info["data"][0]["active"], true);
    assert_eq!(info["data"][0]["id"], created["id"]);
    assert!(!info.to_string().contains(&key));
    // One webhook per client application.
    let response = webhook_request(&sandbox, Method::POST, "")
        .json(&json!({ "events": ["EXERCISE"], "url": receiver.url }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_type(response, StatusCode::CONFLICT).await, "Conflict");
    assert_eq!(sandbox.polar.webhook().unwrap().signature_secret_key, key);
    assert_eq!(sandbox.polar.stats().pings_sent, 1);
}

#[tokio::test]
async fn a_ping_not_answered_200_creates_nothing() {
    let sandbox = start_default().await;
    let receiver = Receiver::start(204).await;
    let response = webhook_request(&sandbox, Method::POST, "")
        .json(&json!({ "events": ["EXERCISE"], "url": receiver.url }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_type(response, StatusCode::BAD_REQUEST).await,
        "BadRequest"
    );
    assert!(sandbox.polar.webhook().is_none());
    let response = webhook_request(&sandbox, Method::GET, "")
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(response, StatusCode::OK, "webhookInfo").await,
        json!({ "data": [] })
    );
    for bad in [
        json!({ "events": ["PING"], "url": receiver.url }),
        json!({ "events": [], "url": receiver.url }),
        json!({ "events": ["STEPS"], "url": receiver.url }),
        json!({ "events": ["SLEEP"], "url": "ftp://x" }),
        json!({ "events": ["SLEEP"] }),
    ] {
        let response = webhook_request(&sandbox, Method::POST, "")
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    // The webhook endpoints take client credentials, not a person's token.
    let token = connected(&sandbox).await;
    let response = client()
        .get(format!("{}/v3/webhooks", sandbox.base_url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn events_are_signed_pointers_for_registered_people() {
    let sandbox = start_default().await;
    let receiver = Receiver::start(200).await;
    let key = create_webhook(
        &sandbox,
        &receiver,
        &["ACTIVITY_SUMMARY", "SLEEP", "EXERCISE"],
    )
    .await["signature_secret_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let request = NotifyRequest::event(USER, WebhookEvent::ActivitySummary, TODAY);
    assert_eq!(
        sandbox.polar.notify(request.clone()).await,
        Err(NotifyError::NotRegistered(USER.to_owned()))
    );
    let token = connected(&sandbox).await;
    let records = sandbox.polar.notify(request).await.unwrap();
    assert!(records[0].ok);
    let received = receiver.received().pop().unwrap();
    assert_eq!(received.event.as_deref(), Some("ACTIVITY_SUMMARY"));
    assert_eq!(
        received.signature.clone().unwrap(),
        sign_payload(&key, received.body.as_bytes())
    );
    let value: Value = serde_json::from_str(&received.body).unwrap();
    contract::validate("webhookPayloadActivitySummary", &value).unwrap();
    let activity = payload(&received);
    assert_eq!(activity.user_id, Some(2_278_517));
    assert_eq!(activity.date.as_deref(), Some("2026-11-20"));
    // The url points at the sandbox's own endpoint, which answers with the token.
    let url = activity.url.unwrap();
    assert_eq!(
        url,
        format!("{}/v3/users/activities/2026-11-20", sandbox.base_url)
    );
    let path = url.strip_prefix(&sandbox.base_url).unwrap();
    assert_eq!(get(&sandbox, &token, path).await.status(), StatusCode::OK);

    let night = NotifyRequest::event(USER, WebhookEvent::Sleep, TODAY);
    sandbox.polar.notify(night).await.unwrap();
    let sleep = payload(&receiver.received().pop().unwrap());
    assert_eq!(
        sleep.url.unwrap(),
        format!("{}/v3/users/sleep/2026-11-20", sandbox.base_url)
    );

    // EXERCISE names the latest listed exercise, once there is one.
    let exercise = NotifyRequest {
        polar_user_id: USER.to_owned(),
        event: Some(WebhookEvent::Exercise),
        ..NotifyRequest::default()
    };
    assert_eq!(
        sandbox.polar.notify(exercise.clone()).await,
        Err(NotifyError::NoExercise)
    );
    sandbox.polar.advance_clock(8 * 3600);
    sandbox.polar.notify(exercise).await.unwrap();
    let received = receiver.received().pop().unwrap();
    let value: Value = serde_json::from_str(&received.body).unwrap();
    contract::validate("webhookPayloadExercise", &value).unwrap();
    let run = payload(&received);
    let id = run.entity_id.unwrap();
    assert_eq!(
        run.url.unwrap(),
        format!("{}/v3/exercises/{id}", sandbox.base_url)
    );
    let response = get(&sandbox, &token, &format!("/v3/exercises/{id}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    // Not subscribed to CONTINUOUS_HEART_RATE.
    let hr = NotifyRequest::event(USER, WebhookEvent::ContinuousHeartRate, TODAY);
    assert_eq!(
        sandbox.polar.notify(hr).await,
        Err(NotifyError::NotSubscribed(
            WebhookEvent::ContinuousHeartRate
        ))
    );
}

#[tokio::test]
async fn seven_days_without_a_200_deactivate_the_webhook() {
    let sandbox = start_default().await;
    let receiver = Receiver::start(200).await;
    create_webhook(&sandbox, &receiver, &["ACTIVITY_SUMMARY"]).await;
    sandbox.polar.register(USER, "member-1");
    let notify = || NotifyRequest::event(USER, WebhookEvent::ActivitySummary, TODAY);
    // 204 is not what Polar expects.
    receiver.answer(204);
    let records = sandbox.polar.notify(notify()).await.unwrap();
    assert_eq!((records[0].status, records[0].ok), (Some(204), false));
    sandbox.polar.advance_clock(3 * 24 * 3600);
    receiver.answer(500);
    sandbox.polar.notify(notify()).await.unwrap();
    let state = sandbox.polar.webhook().unwrap();
    assert_eq!(state.consecutive_failures, 2);
    assert_close(state.failing_since.unwrap(), NOW);
    assert!(state.active);
    sandbox.polar.advance_clock(4 * 24 * 3600);
    let response = webhook_request(&sandbox, Method::GET, "")
        .send()
        .await
        .unwrap();
    let info = json_of(response, StatusCode::OK, "webhookInfo").await;
    assert_eq!(info["data"][0]["active"], false);
    assert_eq!(
        sandbox.polar.notify(notify()).await,
        Err(NotifyError::Inactive)
    );
    assert_eq!(sandbox.polar.stats().automatic_deactivations, 1);

    // Activation pings again; only a 200 activates.
    let response = webhook_request(&sandbox, Method::POST, "/activate")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    receiver.answer(200);
    let response = webhook_request(&sandbox, Method::POST, "/activate")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let state = sandbox.polar.webhook().unwrap();
    assert!(state.active);
    assert_eq!((state.consecutive_failures, state.failing_since), (0, None));
    let pings = receiver
        .received()
        .iter()
        .filter(|r| r.event.as_deref() == Some("PING"))
        .count();
    assert_eq!(pings, 3);
    assert!(sandbox.polar.notify(notify()).await.unwrap()[0].ok);
    let last_success = sandbox.polar.webhook().unwrap().last_success.unwrap();
    assert_close(last_success, NOW + time::Duration::days(7));
}

#[tokio::test]
async fn the_webhook_can_be_changed_deactivated_and_deleted() {
    let sandbox = start_default().await;
    let first = Receiver::start(200).await;
    let second = Receiver::start(200).await;
    let id = create_webhook(&sandbox, &first, &["EXERCISE"]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A new URL is pinged; events alone are not.
    let response = webhook_request(&sandbox, Method::PATCH, &format!("/{id}"))
        .json(&json!({ "url": second.url, "events": ["SLEEP", "EXERCISE"] }))
        .send()
        .await
        .unwrap();
    let info = json_of(response, StatusCode::OK, "webhookInfo").await;
    assert_eq!(info["data"][0]["url"], second.url.as_str());
    assert_eq!(info["data"][0]["events"], json!(["SLEEP", "EXERCISE"]));
    assert_eq!(second.received().len(), 1);
    let response = webhook_request(&sandbox, Method::PATCH, &format!("/{id}"))
        .json(&json!({ "events": ["SLEEP"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(second.received().len(), 1);
    let response = webhook_request(&sandbox, Method::PATCH, "/nope")
        .json(&json!({ "events": ["SLEEP"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_type(response, StatusCode::NOT_FOUND).await,
        "NotFound"
    );

    let response = webhook_request(&sandbox, Method::POST, "/deactivate")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!sandbox.polar.webhook().unwrap().active);
    let response = webhook_request(&sandbox, Method::DELETE, "/nope")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = webhook_request(&sandbox, Method::DELETE, &format!("/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(sandbox.polar.webhook().is_none());
    for action in ["/activate", "/deactivate"] {
        let response = webhook_request(&sandbox, Method::POST, action)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::NO_CONTENT,
            "{action} without a webhook"
        );
    }
}

#[tokio::test]
async fn raw_and_forged_bodies_reach_the_receiver_as_asked() {
    let sandbox = start_default().await;
    let receiver = Receiver::start(200).await;
    let key = create_webhook(&sandbox, &receiver, &["EXERCISE"]).await["signature_secret_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let forged = r#"{"event":"EXERCISE","user_id":1,"entity_id":"x"#;
    let records = sandbox
        .polar
        .notify(NotifyRequest {
            bad_signature: true,
            times: Some(2),
            ..NotifyRequest::raw(forged)
        })
        .await
        .unwrap();
    assert_eq!(records.len(), 2);
    let received = receiver.received();
    let last = received.last().unwrap();
    assert_eq!(last.body, forged);
    assert_ne!(
        last.signature.as_deref(),
        Some(sign_payload(&key, forged.as_bytes()).as_str())
    );
    sandbox
        .polar
        .notify(NotifyRequest {
            omit_signature: true,
            ..NotifyRequest::raw("{}")
        })
        .await
        .unwrap();
    assert_eq!(receiver.received().last().unwrap().signature, None);
    sandbox
        .polar
        .notify(NotifyRequest {
            signature: Some("F7BC83".to_owned()),
            ..NotifyRequest::raw("{}")
        })
        .await
        .unwrap();
    assert_eq!(
        receiver.received().last().unwrap().signature.as_deref(),
        Some("F7BC83")
    );
    // To another URL, signed with a given key, not counted for the webhook.
    let other = Receiver::start(500).await;
    sandbox
        .polar
        .notify(NotifyRequest {
            url: Some(other.url.clone()),
            signing_key: Some("k".to_owned()),
            ..NotifyRequest::raw("{}")
        })
        .await
        .unwrap();
    assert_eq!(
        other.received()[0].signature.as_deref(),
        Some(sign_payload("k", b"{}").as_str())
    );
    assert_eq!(sandbox.polar.webhook().unwrap().consecutive_failures, 0);
    let deliveries = sandbox.polar.deliveries();
    assert_eq!(deliveries.len(), 6, "a ping and five POSTs");
    assert_eq!(sandbox.polar.stats().deliveries_sent, 5);
    assert_eq!(sandbox.polar.stats().deliveries_failed, 1);
}
