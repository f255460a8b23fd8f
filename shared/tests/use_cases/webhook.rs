//! The webhook use case.

use std::sync::Arc;

use fitbridge::domain::{Collection, ProviderUserId, Task, WorkItem};
use fitbridge::ports::provider::{Received, Webhook, WebhookRefusal, WebhookRequest};
use fitbridge::provider::memory::MemoryProvider;
use fitbridge::use_cases::webhook::{Accepted, WebhookError, WebhookService, MAX_BODY_BYTES};

use crate::support::*;

fn post<'a>(headers: &'a [(String, String)], body: &'a [u8]) -> WebhookRequest<'a> {
    WebhookRequest {
        method: "POST",
        query: &[],
        headers,
        body,
    }
}

fn authorized(w: &World) -> Vec<(String, String)> {
    vec![(
        "authorization".into(),
        format!("Bearer {}", w.provider.webhook_secret()),
    )]
}

#[tokio::test]
async fn notifications_are_queued_once_per_person_collection_and_day() {
    let w = World::new();
    let body = MemoryProvider::notification(&[
        ("A", Collection::Activities, day(20)),
        ("A", Collection::Activities, day(20)),
        ("A", Collection::Sleep, day(20)),
        ("B", Collection::Activities, day(19)),
    ]);
    let headers = authorized(&w);
    let accepted = w
        .webhook
        .receive(KIND, &post(&headers, &body))
        .await
        .unwrap();
    assert_eq!(
        accepted,
        Accepted::Notifications {
            status: 204,
            received: 4,
            queued: 3,
            skipped: 0,
            ignored: 0
        }
    );
    assert_eq!(w.queue.items().len(), 3);
}

#[tokio::test]
async fn a_revocation_is_queued_with_the_time_it_was_received() {
    let w = World::new();
    let body =
        br#"[{"user":"A","revoke":true},{"user":"B","collection":"sleep","date":"2026-11-20"}]"#;
    let headers = authorized(&w);
    let before = w.now();
    w.webhook
        .receive(KIND, &post(&headers, body))
        .await
        .unwrap();
    let queued = w.queue.items();
    let Task::Revoke {
        issued_at: Some(received),
        ..
    } = queued[0].task
    else {
        panic!("a revocation with its time first: {queued:?}");
    };
    assert!(before <= received && received <= w.now());
    assert_eq!(
        queued[0],
        WorkItem::revoke(KIND, ProviderUserId("A".into()), false, Some(received))
    );
    assert!(
        matches!(queued[1].task, Task::Sync { .. }),
        "other work carries no issue time: {queued:?}"
    );
}

#[tokio::test]
async fn the_handshake_is_answered_and_queues_nothing() {
    let w = World::new();
    let headers = authorized(&w);
    let accepted = w
        .webhook
        .receive(KIND, &post(&headers, br#"{"type":"verification"}"#))
        .await
        .unwrap();
    assert_eq!(accepted, Accepted::Handshake { status: 201 });
    assert!(w.queue.items().is_empty());
}

#[tokio::test]
async fn refusals_say_why_and_queue_nothing() {
    let w = World::new();
    let body = MemoryProvider::notification(&[("A", Collection::Activities, day(20))]);
    let good = authorized(&w);
    let wrong = vec![("authorization".to_owned(), "Bearer guess".to_owned())];

    let status = |r: Result<Accepted, WebhookError>| match r {
        Ok(a) => a.status(),
        Err(e) => e.status(),
    };
    assert_eq!(
        status(w.webhook.receive(KIND, &post(&[], &body)).await),
        401
    );
    assert_eq!(
        status(w.webhook.receive(KIND, &post(&wrong, &body)).await),
        401
    );
    assert_eq!(
        status(w.webhook.receive(KIND, &post(&good, b"{not json")).await),
        400
    );
    let huge = vec![b' '; MAX_BODY_BYTES + 1];
    assert_eq!(
        status(w.webhook.receive(KIND, &post(&good, &huge)).await),
        413
    );
    let get = WebhookRequest {
        method: "GET",
        query: &[],
        headers: &good,
        body: b"",
    };
    assert_eq!(status(w.webhook.receive(KIND, &get).await), 405);
    // A deployment serving one provider only: the other's path is not found.
    let only_one = WebhookService::new(
        [(KIND, w.provider.clone() as Arc<dyn Webhook>)]
            .into_iter()
            .collect(),
        w.queue.clone(),
        w.clock.clone(),
    );
    assert_eq!(
        status(only_one.receive(SUCCESSOR, &post(&good, &body)).await),
        404
    );
    assert!(w.queue.items().is_empty());

    // The queue down: 503, so the provider delivers again; never an ack for lost work.
    w.queue.set_down(true);
    assert_eq!(
        status(w.webhook.receive(KIND, &post(&good, &body)).await),
        503
    );
}

/// A webhook that refuses every delivery with one refusal.
struct Refusing(fn() -> WebhookRefusal);

#[async_trait::async_trait]
impl Webhook for Refusing {
    async fn receive(&self, _: &WebhookRequest<'_>) -> Result<Received, WebhookRefusal> {
        Err((self.0)())
    }
}

#[tokio::test]
async fn an_unknown_key_waits_like_an_outage_but_counts_as_a_rejection() {
    // Anyone can sign with a key id Google does not have; between two keyset look-ups
    // that must not fire the unavailability alarm.
    let w = World::new();
    let refusing = |refusal: fn() -> WebhookRefusal| {
        WebhookService::new(
            [(KIND, Arc::new(Refusing(refusal)) as Arc<dyn Webhook>)]
                .into_iter()
                .collect(),
            w.queue.clone(),
            w.clock.clone(),
        )
    };
    let body = MemoryProvider::notification(&[("A", Collection::Activities, day(20))]);
    let unknown_key = refusing(|| WebhookRefusal::NotYetVerifiable("key id 7".into()))
        .receive(KIND, &post(&[], &body))
        .await
        .unwrap_err();
    assert_eq!(unknown_key.status(), 503, "the sender retries");
    assert!(!unknown_key.is_unavailable(), "not our outage");
    assert_eq!(unknown_key.reason(), "unknown_key");
    let outage = refusing(|| WebhookRefusal::Unavailable("keyset unreachable".into()))
        .receive(KIND, &post(&[], &body))
        .await
        .unwrap_err();
    assert_eq!(outage.status(), 503);
    assert!(outage.is_unavailable(), "our outage");
    assert!(w.queue.items().is_empty());
}
