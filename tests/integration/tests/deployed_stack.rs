//! The stack as deployed from `infra/template.yaml` to the local emulator: the OAuth
//! function runs as the emulator's Lambda (our release binary), reached through the local
//! API gateway, using the emulator's DynamoDB and Secrets Manager.

use fitbridge::domain::{ProviderKind, ProviderUserId};
use fitbridge::store::dynamodb::DynamoStore;
use fitbridge::store::ConnectionStore;
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
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table);
    let connection = store
        .get(ProviderKind::Fitbit, &ProviderUserId(done.user_id.clone()))
        .await
        .unwrap()
        .expect("the deployed function stored the connection in the stack's table");
    assert_eq!(connection.customer_ref.as_deref(), Some("CUST-DEPLOYED-1"));
    assert_eq!(connection.subscriptions.len(), 3);
}
