use serde::de::DeserializeOwned;
use serde::Serialize;

use super::contract::{contract, ACCESSLINK_MD};
use super::wire::{AvailableSleeps, CreatedWebhook, Data, Nights, WebhookInfo};
use super::*;

#[test]
fn every_served_endpoint_is_documented() {
    for (method, template) in SERVED_ENDPOINTS {
        assert!(
            contract().documents(method, template),
            "{method} {template}"
        );
    }
    for oauth in [
        "`GET https://flow.polar.com/oauth2/authorization`",
        "`POST https://polarremote.com/v2/oauth2/token`",
    ] {
        assert!(ACCESSLINK_MD.contains(oauth), "{oauth}");
    }
    // The deprecated transactional endpoints are documented, and not served.
    assert!(contract().documents("POST", "/v3/users/{user-id}/activity-transactions"));
    assert!(!SERVED_ENDPOINTS
        .iter()
        .any(|(_, t)| t.contains("transactions")));
}

/// JSON equality with numbers compared by value (`100` and `100.0` alike).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// The example parses with `T` (which refuses unknown fields) and serializes back to itself.
fn round_trips<T: DeserializeOwned + Serialize>(name: &str, example: &Value) {
    let parsed: T = serde_json::from_value(example.clone())
        .unwrap_or_else(|e| panic!("{name}: {e}\n{example}"));
    let back = serde_json::to_value(&parsed).unwrap();
    assert!(same(&back, example), "{name}:\n{back}\n{example}");
}

fn example(name: &str) -> &'static Value {
    contract()
        .example(name)
        .unwrap_or_else(|| panic!("no example for {name}"))
}

#[test]
fn the_pages_examples_round_trip_through_the_wire_types() {
    round_trips::<UserInfo>("user", example("user"));
    round_trips::<ActivitySummary>("activity-summary", example("activity-summary"));
    round_trips::<ActivitySummary>(
        "activity-summary-with-all-samples",
        example("activity-summary-with-all-samples"),
    );
    round_trips::<Vec<ActivitySummary>>(
        "array-of-activity-summary-with-all-samples",
        example("array-of-activity-summary-with-all-samples"),
    );
    round_trips::<Sleep>("sleep", example("sleep"));
    round_trips::<Nights>("nights", example("nights"));
    round_trips::<AvailableSleeps>("available-sleeps", example("available-sleeps"));
    round_trips::<Exercise>("exerciseHashId", example("exerciseHashId"));
    round_trips::<Vec<Exercise>>("exercisesHashId", example("exercisesHashId"));
    round_trips::<ErrorBody>("error", example("error"));
    round_trips::<Data<CreatedWebhook>>("createdWebhook", example("createdWebhook"));
    round_trips::<Data<Vec<WebhookInfo>>>("webhookInfo", example("webhookInfo"));
    for payload in [
        "webhookPayloadExercise",
        "webhookPayloadSleep",
        "webhookPayloadContinuousHeartRate",
        "webhookPayloadCircadianBedtime",
        "webhookPayloadAlertness",
        "webhookPayloadActivitySummary",
        "webhookPing",
    ] {
        round_trips::<WebhookPayload>(payload, example(payload));
    }
}

#[test]
fn the_token_endpoints_example_answer_is_a_token_grant() {
    let block = ACCESSLINK_MD
        .split("```")
        .find(|block| block.contains("\"x_user_id\""))
        .expect("the token endpoint's example response");
    let example: Value = serde_json::from_str(block.trim()).unwrap();
    round_trips::<TokenGrant>("token response", &example);
    assert_eq!(example["expires_in"], ACCESS_TOKEN_LIFETIME_SECS);
}

#[test]
fn the_webhook_events_are_the_pages() {
    let names: Vec<&str> = [
        WebhookEvent::Exercise,
        WebhookEvent::Sleep,
        WebhookEvent::ContinuousHeartRate,
        WebhookEvent::SleepWiseCircadianBedtime,
        WebhookEvent::SleepWiseAlertness,
        WebhookEvent::ActivitySummary,
    ]
    .iter()
    .map(|e| e.as_str())
    .collect();
    let unescaped = ACCESSLINK_MD.replace("\\_", "_");
    assert!(unescaped.contains(&format!("| » events | {} |", names.join(", "))));
    for event in names {
        assert_eq!(
            serde_json::to_value(serde_json::from_value::<WebhookEvent>(json!(event)).unwrap())
                .unwrap(),
            json!(event)
        );
    }
}
