//! A refresh through the DynamoDB adapter against the emulator, on the deployed table, with
//! a metering proxy counting what it writes: taking the lease and storing the rotated pair
//! (which removes the lease in the same write) are the only two writes. A release after a
//! successful store would be a third: a conditional write whose condition fails is still
//! billed.

use fitbridge::domain::PersonKey;
use std::sync::Arc;

use fitbridge::domain::{Connection, ConnectionStatus, ContactKey, ProviderKind, ProviderUserId};
use fitbridge::ports::catalog::ProviderCatalog;
use fitbridge::ports::clock::Clock;
use fitbridge::ports::provider::Provider;
use fitbridge::ports::store::{ConnectionStore, TokenStore};
use fitbridge::ports::tokens::Tokens;
use fitbridge::provider::memory::{MemoryPerson, MemoryProvider};
use fitbridge::provider::registry::Registry;
use fitbridge::store::dynamodb::DynamoStore;
use fitbridge::use_cases::tokens::TokenService;
use fitbridge_integration::aws_meter::Meter;
use fitbridge_integration::test_clock;
use fitbridge_integration::{aws_config_at, aws_endpoint, random_user_id, stack, stack_table};
use time::Duration;

const KIND: ProviderKind = ProviderKind::Fitbit;

#[tokio::test]
async fn a_refresh_writes_the_lease_and_the_rotated_pair_and_nothing_else() {
    let stack = stack();
    let meter = Meter::start(&aws_endpoint(&stack)).await;
    let aws = aws_config_at(&stack, &meter.url).await;
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&aws),
        stack_table(&stack),
        test_clock(),
    ));
    let provider = Arc::new(MemoryProvider::new(KIND, test_clock()));
    let user = random_user_id();
    provider.add_person(&user, MemoryPerson::default(), "activity");
    let mut tokens = provider.grant(&user, "activity");
    tokens.expires_at = test_clock().now() + Duration::minutes(2);
    let user_id = ProviderUserId(user.clone());
    let person = PersonKey::of(KIND, &user_id);
    store
        .save_connected(&Connection {
            provider: KIND,
            user_id: user_id.clone(),
            tokens,
            status: ConnectionStatus::Active,
            contact: ContactKey {
                origin: Registry.default_mapping(KIND).contact_origin,
                id: user.clone(),
            },
            customer_ref: None,
            timezone: None,
            subscriptions: Default::default(),
            version: 0,
            consented_at: None,
        })
        .await
        .unwrap();
    let service = TokenService::new(
        [(KIND, provider.clone() as Arc<dyn Provider>)]
            .into_iter()
            .collect(),
        store.clone(),
        store.clone(),
        test_clock(),
    );

    let _ = meter.take();
    let fresh = service.fresh(&person).await.unwrap();
    let tally = meter.take();

    assert_eq!(provider.refreshes_of(&user), 1);
    assert!(fresh.tokens.expires_at > test_clock().now() + Duration::minutes(30));
    assert_eq!(
        store.get(&person).await.unwrap().unwrap().version,
        fresh.version,
        "the rotated pair is what is stored"
    );
    assert_eq!(
        tally.write_units, 2.0,
        "the lease and the rotated pair: {:?}",
        tally.requests
    );
    let now = test_clock().now();
    assert!(
        store
            .acquire_refresh_lease(&person, "next", now, now + Duration::seconds(30))
            .await
            .unwrap(),
        "storing the pair gave the lease back"
    );
}
