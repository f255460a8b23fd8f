//! The in-memory store holds the conditions DynamoDB decides in the real adapter (its
//! emulator twin: `tests/integration/tests/connections.rs`), so the use-case tests above
//! it mean what they say.

use fitbridge::domain::ConnectionStatus;
use fitbridge::domain::PersonKey;
use fitbridge::ports::store::{ConnectionStore, Ending, Revocation};
use time::Duration;

use crate::support::*;

#[tokio::test]
async fn a_revocation_issued_before_the_consent_leaves_the_connection() {
    let w = World::new();
    let connection = w.connected("VAL", "activity").await;
    let person = PersonKey::new(KIND, "VAL");
    let consented_at = connection.consented_at.expect("stamped on save");

    let stale = w
        .store
        .revoke(
            &person,
            Ending::Disconnected,
            consented_at - Duration::minutes(1),
        )
        .await
        .unwrap();
    assert_eq!(stale, Revocation::Stale);
    let kept = w.connection("VAL").await.expect("kept");
    assert_eq!(kept.status, ConnectionStatus::Active);
    assert_eq!(kept.version, connection.version);
    assert!(w.store.tombstone(&person).await.unwrap().is_none());

    let current = w
        .store
        .revoke(
            &person,
            Ending::Disconnected,
            w.now() + Duration::seconds(1),
        )
        .await
        .unwrap();
    assert!(matches!(current, Revocation::Revoked(_)), "{current:?}");
    assert!(w.connection("VAL").await.is_none());
    assert!(
        w.store
            .tombstone(&person)
            .await
            .unwrap()
            .unwrap()
            .flag_pending
    );

    let again = w
        .store
        .revoke(&person, Ending::Disconnected, w.now())
        .await
        .unwrap();
    assert_eq!(again, Revocation::NotConnected);
}
