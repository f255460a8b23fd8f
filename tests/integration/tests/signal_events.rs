//! The EventBridge adapter against the emulator: signal events published to a bus reach a
//! rule's SQS target as the schema in `shared/schemas/` describes them. (The emulator
//! accepts events for a bus that does not exist, so what a refusal looks like is tested on
//! the adapter's own classification, in `shared/src/events/eventbridge.rs`.)

use aws_sdk_sqs::types::QueueAttributeName;
use fitbridge::domain::signals::rules::{Figures, RuleMetric};
use fitbridge::domain::signals::{EventBody, SignalEvent};
use fitbridge::events::eventbridge::EventBridgeEvents;
use fitbridge::ports::signals::SignalEvents;
use serde_json::Value;

const SCHEMA: &str = include_str!("../../../shared/schemas/signal-event.v1.json");

fn event(n: u32) -> SignalEvent {
    SignalEvent {
        detail_type: "fitbridge.rule_fired",
        version: 1,
        id: format!("EB{n}-s-streak7-2026-11"),
        contact_origin: "FITBIT".into(),
        contact_id: format!("EB{n}"),
        provider: "fitbit".into(),
        day: "2026-11-29".into(),
        body: EventBody::Rule {
            rule_id: "streak7".into(),
            period: "2026-11".into(),
            figures: Figures {
                metric: RuleMetric::Steps,
                value: 10_500.0,
                days: 7,
                before: None,
            },
        },
    }
}

#[tokio::test]
async fn events_reach_a_rule_target_as_the_schema_says() {
    let stack = fitbridge_integration::stack();
    let aws = fitbridge_integration::aws_config(&stack).await;
    let events = aws_sdk_eventbridge::Client::new(&aws);
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let tag = fitbridge_integration::random_user_id().to_lowercase();
    let bus = format!("fb-test-{tag}");
    events.create_event_bus().name(&bus).send().await.unwrap();
    let queue = sqs
        .create_queue()
        .queue_name(format!("fb-test-{tag}-signals"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    events
        .put_rule()
        .name("signals")
        .event_bus_name(&bus)
        .event_pattern(r#"{"source": ["fitbridge"], "detail-type": ["fitbridge.rule_fired"]}"#)
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("signals")
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("tap")
                .arn(arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    // Twelve events: more than one PutEvents call takes.
    let published: Vec<SignalEvent> = (0..12).map(event).collect();
    EventBridgeEvents::new(events.clone(), &bus)
        .publish(&published)
        .await
        .unwrap();

    let validator =
        jsonschema::validator_for(&serde_json::from_str::<Value>(SCHEMA).unwrap()).unwrap();
    let mut received = Vec::new();
    for _ in 0..20 {
        let out = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in out.messages.unwrap_or_default() {
            let envelope: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            assert_eq!(envelope["source"], "fitbridge");
            assert_eq!(envelope["detail-type"], "fitbridge.rule_fired");
            let detail = &envelope["detail"];
            let errors: Vec<String> = validator
                .iter_errors(detail)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{detail}: {errors:?}");
            received.push(detail["id"].as_str().unwrap().to_owned());
        }
        if received.len() >= published.len() {
            break;
        }
    }
    received.sort();
    let mut expected: Vec<String> = published.iter().map(|e| e.id.clone()).collect();
    expected.sort();
    assert_eq!(received, expected);
}
