//! The connection store's DynamoDB adapter against the emulator, on the deployed table:
//! the conditions the in-memory store holds in code, decided here by DynamoDB.
//!
//! - A revocation deletes only a connection consented to before it was issued: a person
//!   who connected again after it keeps the new connection, however late the revocation
//!   arrives (a DLQ redrive gives it a new send time, not a new issue time).
//! - Tokens are sealed under the stack's token key: the table holds no token in the clear,
//!   a reader without the key gets them sealed, and a pair written before sealing is read
//!   as it is and sealed at its next write.
//! - A status set at a version (a refresher parking a person) lands only while the
//!   connection is at that version: a reconnect in between stays active.

use fitbridge::domain::PersonKey;
use fitbridge::domain::{Connection, ConnectionStatus, ContactKey, ProviderKind, ProviderUserId};
use fitbridge::ports::clock::Clock;
use fitbridge::ports::store::{ConnectionStore, Ending, Revocation, TokenStore};
use fitbridge::provider::memory::MemoryProvider;
use fitbridge::store::dynamodb::DynamoStore;
use fitbridge_integration::test_clock;
use fitbridge_integration::{aws_config, random_user_id, stack, stack_table};
use time::Duration;

const KIND: ProviderKind = ProviderKind::Fitbit;

async fn store() -> DynamoStore {
    let stack = stack();
    let aws = aws_config(&stack).await;
    DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&aws),
        stack_table(&stack),
        test_clock(),
    )
}

/// A person connected now (the store stamps `consented_at` with its clock).
async fn connected(store: &DynamoStore, user: &str) -> Connection {
    let provider = MemoryProvider::new(KIND, test_clock());
    let connection = Connection {
        provider: KIND,
        user_id: ProviderUserId(user.into()),
        tokens: provider.grant(user, "activity"),
        status: ConnectionStatus::Active,
        contact: ContactKey {
            origin: "FITBIT".into(),
            id: user.into(),
        },
        customer_ref: None,
        timezone: None,
        subscriptions: Default::default(),
        version: 0,
        consented_at: None,
    };
    store.save_connected(&connection).await.unwrap();
    store
        .get(&PersonKey::of(KIND, &connection.user_id))
        .await
        .unwrap()
        .expect("saved")
}

#[tokio::test]
async fn a_revocation_issued_before_the_consent_leaves_the_connection() {
    let store = store().await;
    let user = random_user_id();
    let user_id = ProviderUserId(user.clone());
    let connection = connected(&store, &user).await;
    let consented_at = connection.consented_at.expect("stamped on save");

    // Issued a minute before the person connected (a revoke redriven from the DLQ).
    let stale = store
        .revoke(
            &PersonKey::of(KIND, &user_id),
            Ending::Disconnected,
            consented_at - Duration::minutes(1),
        )
        .await
        .unwrap();
    assert_eq!(stale, Revocation::Stale);
    let kept = store
        .get(&PersonKey::of(KIND, &user_id))
        .await
        .unwrap()
        .expect("kept");
    assert!(
        kept.tokens.access_token.expose() == connection.tokens.access_token.expose(),
        "the tokens are kept"
    );
    assert_eq!(kept.version, connection.version);
    assert!(store
        .tombstone(&PersonKey::of(KIND, &user_id))
        .await
        .unwrap()
        .is_none());

    // Issued after it: the connection goes, a tombstone stays.
    let current = store
        .revoke(
            &PersonKey::of(KIND, &user_id),
            Ending::Disconnected,
            test_clock().now() + Duration::seconds(1),
        )
        .await
        .unwrap();
    assert!(matches!(current, Revocation::Revoked(_)), "{current:?}");
    assert!(store
        .get(&PersonKey::of(KIND, &user_id))
        .await
        .unwrap()
        .is_none());
    let tomb = store
        .tombstone(&PersonKey::of(KIND, &user_id))
        .await
        .unwrap()
        .expect("tombstone");
    assert!(tomb.flag_pending);

    // Nobody left to revoke.
    let again = store
        .revoke(
            &PersonKey::of(KIND, &user_id),
            Ending::Disconnected,
            test_clock().now(),
        )
        .await
        .unwrap();
    assert_eq!(again, Revocation::NotConnected);
}

#[tokio::test]
async fn a_status_set_at_a_version_lands_only_on_that_version() {
    let store = store().await;
    let user = random_user_id();
    let user_id = ProviderUserId(user.clone());
    let first = connected(&store, &user).await;
    // The person reconnects: a new version.
    let second = connected(&store, &user).await;
    assert!(second.version > first.version);

    // A refresher that judged the first version must not park the second.
    let parked = store
        .set_status(
            &PersonKey::of(KIND, &user_id),
            ConnectionStatus::NeedsReconsent,
            Some(first.version),
        )
        .await
        .unwrap();
    assert!(!parked);
    let now = store
        .get(&PersonKey::of(KIND, &user_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.status, ConnectionStatus::Active);

    assert!(store
        .set_status(
            &PersonKey::of(KIND, &user_id),
            ConnectionStatus::NeedsReconsent,
            Some(second.version),
        )
        .await
        .unwrap());
    let now = store
        .get(&PersonKey::of(KIND, &user_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.status, ConnectionStatus::NeedsReconsent);

    // Unconditional, and on nobody.
    assert!(store
        .set_status(
            &PersonKey::of(KIND, &user_id),
            ConnectionStatus::Active,
            None
        )
        .await
        .unwrap());
    let nobody = ProviderUserId(random_user_id());
    assert!(!store
        .set_status(
            &PersonKey::of(KIND, &nobody),
            ConnectionStatus::Active,
            None
        )
        .await
        .unwrap());
}

/// The stack's store, its tokens sealed under the stack's token key (as the functions'
/// are), and one without the key (as the operators' CLI reads the table).
async fn sealing_store() -> (DynamoStore, DynamoStore, aws_sdk_dynamodb::Client) {
    use fitbridge::store::dynamodb::sealed::{KmsDataKeys, TokenSeal};
    let stack = stack();
    let aws = aws_config(&stack).await;
    let key = stack["outputs"]["TokenKeyArn"]
        .as_str()
        .expect("stack output TokenKeyArn");
    let seal = std::sync::Arc::new(TokenSeal::new(std::sync::Arc::new(KmsDataKeys::new(
        aws_sdk_kms::Client::new(&aws),
        key,
    ))));
    let ddb = aws_sdk_dynamodb::Client::new(&aws);
    let sealed = DynamoStore::new(ddb.clone(), stack_table(&stack), test_clock()).with_seal(seal);
    let plain = DynamoStore::new(ddb.clone(), stack_table(&stack), test_clock());
    (sealed, plain, ddb)
}

#[tokio::test]
async fn tokens_are_sealed_in_the_table_and_open_only_with_the_key() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let (sealed, plain, ddb) = sealing_store().await;
    let user = random_user_id();
    let person = PersonKey::new(KIND, user.clone());
    let connection = connected(&sealed, &user).await;
    let (access, refresh) = (
        connection.tokens.access_token.expose().to_owned(),
        connection.tokens.refresh_token.expose().to_owned(),
    );

    // What anybody reading the table sees: sealed values and a wrapped key.
    let item = ddb
        .get_item()
        .table_name(stack_table(&stack()))
        .key("pk", AttributeValue::S(format!("CONN#fitbit#{user}")))
        .key("sk", AttributeValue::S("CONNECTION".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the connection item");
    let text = format!("{item:?}");
    assert!(
        !text.contains(&access) && !text.contains(&refresh),
        "a token in the clear in the table"
    );
    let stored = item["access_token"].as_s().unwrap();
    assert!(stored.starts_with("sealed1:"));
    assert!(item.contains_key("token_key"));

    // The key's holders read the tokens; a reader without it gets them sealed.
    let read = sealed.get(&person).await.unwrap().unwrap();
    assert!(read.tokens.access_token.expose() == access);
    assert!(read.tokens.refresh_token.expose() == refresh);
    let opaque = plain.get(&person).await.unwrap().unwrap();
    assert!(opaque.tokens.access_token.expose().starts_with("sealed1:"));
    assert!(opaque.tokens.access_token.expose() != access);
}

#[tokio::test]
async fn a_pair_written_before_sealing_reads_as_it_is_and_is_sealed_at_its_next_write() {
    let (sealed, plain, _) = sealing_store().await;
    let user = random_user_id();
    let person = PersonKey::new(KIND, user.clone());
    let before = connected(&plain, &user).await;
    let read = sealed.get(&person).await.unwrap().unwrap();
    assert!(read.tokens.access_token.expose() == before.tokens.access_token.expose());

    let provider = MemoryProvider::new(KIND, test_clock());
    let fresh = provider.grant(&user, "activity");
    assert!(sealed
        .replace_tokens_if_connected(&person, &fresh)
        .await
        .unwrap());
    let raw = plain.get(&person).await.unwrap().unwrap();
    assert!(raw.tokens.refresh_token.expose().starts_with("sealed1:"));
    let read = sealed.get(&person).await.unwrap().unwrap();
    assert!(read.tokens.refresh_token.expose() == fresh.refresh_token.expose());
}
