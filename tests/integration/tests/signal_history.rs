//! A person's signal history on the deployed table, against the emulator:
//! - a month is stored packed, and a full one (two workouts a day) is one write unit,
//!   counted by a metering proxy;
//! - a month stored in the earlier JSON form is still read, and is rewritten packed with
//!   its next day.

use aws_sdk_dynamodb::types::AttributeValue;
use fitbridge::domain::signals::history::{DayRecord, MonthHistory, MonthKey};
use fitbridge::domain::ContactKey;
use fitbridge::ports::signals::SignalStore;
use fitbridge::store::dynamodb::DynamoStore;
use fitbridge_integration::aws_meter::Meter;
use fitbridge_integration::test_clock;
use fitbridge_integration::{aws_config_at, aws_endpoint, random_user_id, stack, stack_table};

fn contact() -> ContactKey {
    ContactKey {
        origin: "FITBIT".into(),
        id: random_user_id(),
    }
}

fn table() -> String {
    stack_table(&stack())
}

#[tokio::test]
async fn a_full_month_is_one_write_unit_and_reads_back_exactly() {
    let stack = stack();
    let meter = Meter::start(&aws_endpoint(&stack)).await;
    let aws = aws_config_at(&stack, &meter.url).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table(), test_clock());
    let contact = contact();
    let key = MonthKey::parse("2026-10").unwrap();
    let mut month = MonthHistory::default();
    for day in 1..=31u8 {
        let steps = 9_000 + u64::from(day) * 137;
        month.days.insert(
            day,
            DayRecord {
                steps: Some(steps),
                distance_km: Some(steps as f64 * 0.000_712_345),
                calories: Some(2_400 + u64::from(day)),
                active_minutes: Some(45),
                sleep_minutes: Some(455),
                workout_ends: vec![420, 1_110],
            },
        );
    }
    let _ = meter.take();
    assert!(store.save_month(&contact, key, &month).await.unwrap());
    let tally = meter.take();
    assert_eq!(tally.write_units, 1.0, "{:?}", tally.requests);

    let (history, _) = store.load(&contact).await.unwrap();
    assert_eq!(history.months[&key].days, month.days);
    assert_eq!(history.months[&key].version, 1);
}

#[tokio::test]
async fn a_month_in_the_earlier_json_form_is_read_and_rewritten_packed() {
    let stack = stack();
    let aws = aws_config_at(&stack, &aws_endpoint(&stack)).await;
    let ddb = aws_sdk_dynamodb::Client::new(&aws);
    let store = DynamoStore::new(ddb.clone(), table(), test_clock());
    let contact = contact();
    let pk = format!("SIGNALS#{}#{}", contact.origin, contact.id);
    // As the earlier version wrote it.
    ddb.put_item()
        .table_name(table())
        .item("pk", AttributeValue::S(pk.clone()))
        .item("sk", AttributeValue::S("MONTH#2026-09".into()))
        .item(
            "days",
            AttributeValue::S(r#"{"3":{"s":300,"d":0.21,"w":[1100]}}"#.into()),
        )
        .item("v", AttributeValue::N("4".into()))
        .send()
        .await
        .unwrap();

    let (mut history, _) = store.load(&contact).await.unwrap();
    let key = MonthKey::parse("2026-09").unwrap();
    let month = &history.months[&key];
    assert_eq!(month.version, 4);
    assert_eq!(month.days[&3].steps, Some(300));
    assert_eq!(month.days[&3].distance_km, Some(0.21));
    assert_eq!(month.days[&3].workout_ends, vec![1_100]);

    let fourth = DayRecord {
        steps: Some(4_000),
        ..Default::default()
    };
    history
        .months
        .get_mut(&key)
        .unwrap()
        .days
        .insert(4, fourth.clone());
    assert!(store
        .save_month(&contact, key, &history.months[&key])
        .await
        .unwrap());
    let stored = ddb
        .get_item()
        .table_name(table())
        .key("pk", AttributeValue::S(pk))
        .key("sk", AttributeValue::S("MONTH#2026-09".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert!(
        stored["days"].is_b(),
        "rewritten packed: {:?}",
        stored["days"]
    );
    let (history, _) = store.load(&contact).await.unwrap();
    assert_eq!(history.months[&key].days[&3].steps, Some(300));
    assert_eq!(history.months[&key].days[&4], fourth);
    assert_eq!(history.months[&key].version, 5);
}
