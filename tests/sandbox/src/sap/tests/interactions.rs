use super::*;

const SERVICE: &str = "API_MKT_INTERACTION_SRV";

/// Creates one interaction per (user, date) in one batch and returns their UUIDs in order.
async fn create_interactions(client: &Client, days: &[(&str, &str)]) -> Vec<String> {
    let changesets: Vec<Vec<Op>> = days
        .iter()
        .map(|(user, date)| vec![op("POST", "Interactions", interaction(user, date))])
        .collect();
    let result = client
        .batch(INTERACTION_SERVICE_PATH, batch_body(&changesets))
        .await;
    result
        .parts()
        .iter()
        .map(|part| match part {
            ParsedResponsePart::Changeset(ops) => {
                assert_eq!(ops[0].status(), 201, "{}", ops[0].body);
                let body: Value = serde_json::from_str(&ops[0].body).unwrap();
                body["d"]["InteractionUUID"].as_str().unwrap().to_string()
            }
            other => panic!("{other:?}"),
        })
        .collect()
}

/// A `$batch` body of retrievals (GET request lines, as sent) and changesets.
enum Part {
    Get(String),
    Changeset(Vec<Op>),
}

fn mixed_batch_body(parts: &[Part]) -> String {
    let mut body = String::new();
    for (i, part) in parts.iter().enumerate() {
        match part {
            Part::Get(url) => body.push_str(&format!(
                "--batch_test\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
                 GET {url} HTTP/1.1\r\nAccept: application/json\r\n\r\n\r\n"
            )),
            Part::Changeset(ops) => {
                // Reuse the changeset rendering of the plain builder.
                let single = batch_body(std::slice::from_ref(ops));
                let inner = single
                    .strip_suffix("--batch_test--\r\n")
                    .unwrap()
                    .replace("changeset_0", &format!("changeset_{i}"));
                body.push_str(&inner);
            }
        }
    }
    body.push_str("--batch_test--\r\n");
    body
}

fn patch(uuid: &str, body: Value) -> Op {
    op("PATCH", &format!("Interactions(guid'{uuid}')"), body)
}

#[tokio::test]
async fn interactions_are_updated_in_place() {
    let sandbox = start().await;
    let mut client = Client::new(&sandbox);
    client.fetch(INTERACTION_SERVICE_PATH).await;
    let uuids = create_interactions(&client, &[("GGNJL9", "2026-11-20")]).await;
    let uuid = &uuids[0];
    let fresh = sandbox.sap.interaction(uuid).unwrap();
    assert_eq!(fresh.update_count, 0);

    // Directly: PATCH merges.
    let response = client
        .write(
            Method::PATCH,
            &format!("{INTERACTION_SERVICE_PATH}/Interactions(guid'{uuid}')"),
        )
        .json(&json!({"YY1_FitbitNumberofStep_MIA": "12000", "InteractionContentSubject": "Steps"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let updated = sandbox.sap.interaction(uuid).unwrap();
    assert_eq!(updated.uuid, *uuid);
    assert_eq!(updated.update_count, 1);
    assert_eq!(updated.fields["YY1_FitbitNumberofStep_MIA"], "12000");
    assert_eq!(
        updated.field_str("InteractionContentSubject"),
        Some("Steps")
    );
    assert_eq!(
        updated.field_str("InteractionSourceObject"),
        Some("GGNJL9-2026-11-20-steps")
    );

    // MERGE tunnelled through POST, with the long key form and the uppercase GUID.
    let response = client
        .write(
            Method::POST,
            &format!(
                "{INTERACTION_SERVICE_PATH}/Interactions(InteractionUUID=guid'{}')",
                uuid.to_uppercase()
            ),
        )
        .header("X-HTTP-Method", "MERGE")
        .json(&json!({"InteractionUUID": uuid, "YY1_FitbitAmountofCalo_MIA": 2400}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    // In a batch: MERGE and PATCH in one changeset, each answered 204.
    let result = client
        .batch(
            INTERACTION_SERVICE_PATH,
            batch_body(&[vec![
                op(
                    "MERGE",
                    &format!("Interactions(InteractionUUID=guid'{uuid}')"),
                    json!({"InteractionContent": "{\"steps\":12001}"}),
                ),
                patch(uuid, json!({"YY1_FitbitNumberofStep_MIA": "12001"})),
            ]]),
        )
        .await;
    assert_eq!(result.statuses(), [(false, vec![204, 204])]);
    let updated = sandbox.sap.interaction(uuid).unwrap();
    assert_eq!(updated.update_count, 4);
    assert_eq!(updated.fields["YY1_FitbitNumberofStep_MIA"], "12001");
    assert_eq!(updated.fields["YY1_FitbitAmountofCalo_MIA"], 2400);
    assert_eq!(updated.received_at, fresh.received_at);
    assert_eq!(sandbox.sap.interactions().len(), 1, "updates never create");

    // PUT replaces the properties: what is not sent is gone.
    let result = client
        .batch(
            INTERACTION_SERVICE_PATH,
            batch_body(&[vec![op(
                "PUT",
                &format!("Interactions(guid'{uuid}')"),
                json!({"InteractionContactOrigin": "FITBIT", "InteractionContactId": "GGNJL9",
                       "InteractionSourceObject": "GGNJL9-2026-11-20-steps",
                       "InteractionLastChangedByUser": "IGNORED"}),
            )]]),
        )
        .await;
    assert_eq!(result.statuses(), [(false, vec![204])]);
    let replaced = sandbox.sap.interaction(uuid).unwrap();
    assert_eq!(replaced.update_count, 5);
    assert!(!replaced.fields.contains_key("YY1_FitbitNumberofStep_MIA"));
    // Read-only properties (sap:updatable="false") are ignored.
    assert!(!replaced.fields.contains_key("InteractionLastChangedByUser"));
    assert_eq!(replaced.field_str("InteractionContactId"), Some("GGNJL9"));

    let stats = sandbox.sap.stats();
    assert_eq!(
        (stats.interaction_creates, stats.interaction_updates),
        (1, 5)
    );
}

#[tokio::test]
async fn invalid_interaction_updates_fail_and_change_nothing() {
    let sandbox = start().await;
    let mut client = Client::new(&sandbox);
    client.fetch(INTERACTION_SERVICE_PATH).await;
    let uuids = create_interactions(
        &client,
        &[("GGNJL9", "2026-11-20"), ("GGNJL9", "2026-11-21")],
    )
    .await;
    let (uuid, other) = (&uuids[0], &uuids[1]);
    let before = sandbox.sap.interactions();
    let missing = "0a1b2c3d-0000-4000-8000-000000000000";

    let cases: Vec<(Op, u16, &str, &str)> = vec![
        (
            patch(uuid, json!({"Foo": 1})),
            400,
            "/IWBEP/CM_MGW_RT/020",
            "Property 'Foo' is invalid",
        ),
        (
            patch(uuid, json!({"InteractionUUID": other})),
            400,
            "/IWBEP/CM_MGW_RT/020",
            "differs from the key in the URI",
        ),
        (
            patch(uuid, json!({"InteractionType": "X".repeat(21)})),
            400,
            "/IWBEP/CM_MGW_RT/020",
            "too long",
        ),
        (
            patch(uuid, json!({"YY1_FitbitNumberofStep_MIA": "many"})),
            400,
            "/IWBEP/CM_MGW_RT/020",
            "YY1_FitbitNumberofStep_MIA",
        ),
        (
            patch(uuid, json!({"InteractionTags": [{"TagType": "X"}]})),
            400,
            "/IWBEP/CM_MGW_RT/020",
            "deep update",
        ),
        (
            patch(missing, json!({"InteractionType": "X"})),
            404,
            "/IWBEP/CM_MGW_RT/021",
            "Resource not found for segment 'Interactions(guid'0a1b2c3d",
        ),
        (
            op(
                "PATCH",
                "Interactions(guid'not-a-guid')",
                json!({"InteractionType": "X"}),
            ),
            400,
            "/IWBEP/CM_MGW_RT/020",
            "InteractionUUID",
        ),
        (
            op("PATCH", "Interactions", json!({"InteractionType": "X"})),
            400,
            "/IWBEP/CM_MGW_RT/020",
            "without a key",
        ),
        (
            op("DELETE", &format!("Interactions(guid'{uuid}')"), json!({})),
            405,
            "/IWBEP/CM_MGW_RT/049",
            "not deletable",
        ),
    ];
    for (case, status, code, message) in cases {
        let what = format!("{} {}", case.method, case.url);
        // Each case after a valid update in the same changeset: the whole changeset rolls back.
        let result = client
            .batch(
                INTERACTION_SERVICE_PATH,
                batch_body(&[vec![
                    patch(other, json!({"InteractionType": "CHANGED"})),
                    case,
                ]]),
            )
            .await;
        assert_eq!(result.statuses(), [(true, vec![status])], "{what}");
        let (got_code, got_message) = error_of(&result.single(0));
        assert_eq!(got_code, code, "{what}: {got_message}");
        assert!(got_message.contains(message), "{what}: {got_message}");
    }

    // Directly, too.
    let response = client
        .write(
            Method::PATCH,
            &format!("{INTERACTION_SERVICE_PATH}/Interactions(guid'{missing}')"),
        )
        .json(&json!({"InteractionType": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "/IWBEP/CM_MGW_RT/021");
    let response = client
        .write(
            Method::DELETE,
            &format!("{INTERACTION_SERVICE_PATH}/Interactions(guid'{uuid}')"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);

    assert_eq!(sandbox.sap.interactions(), before);
    let stats = sandbox.sap.stats();
    assert_eq!(
        (stats.interaction_creates, stats.interaction_updates),
        (2, 0)
    );
    assert_eq!(stats.parts_rolled_back, 9);
}

#[tokio::test]
async fn interactions_are_read_with_filter() {
    let sandbox = start().await;
    let mut client = Client::new(&sandbox);
    client.fetch(INTERACTION_SERVICE_PATH).await;
    let uuids = create_interactions(
        &client,
        &[
            ("GGNJL9", "2026-11-20"),
            ("GGNJL9", "2026-11-21"),
            ("O'BRIEN", "2026-11-20"),
        ],
    )
    .await;
    let get = |query: &str| {
        client
            .request(
                Method::GET,
                &format!("{INTERACTION_SERVICE_PATH}/Interactions{query}"),
            )
            .header("Accept", "application/json")
            .send()
    };
    let results = |body: &Value| -> Vec<String> {
        body["d"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["InteractionUUID"].as_str().unwrap().to_string())
            .collect()
    };

    // The contract requires a filter on the collection.
    let response = get("").await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"]["value"]
        .as_str()
        .unwrap()
        .contains("requires a filter"));

    let response = get("?$filter=InteractionSourceObject%20eq%20'GGNJL9-2026-11-21-steps'")
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(results(&body), [uuids[1].clone()]);
    let entity = &body["d"]["results"][0];
    assert_eq!(entity["InteractionContactId"], "GGNJL9");
    assert_eq!(entity["YY1_FitbitNumberofStep_MIA"], "10432");
    assert_eq!(
        entity["__metadata"]["type"],
        "API_MKT_INTERACTION_SRV.Interaction"
    );

    // `and`, other string properties, quote escaping, and form encoding (reqwest's query()).
    let filtered = |filter: &str| {
        client
            .request(
                Method::GET,
                &format!("{INTERACTION_SERVICE_PATH}/Interactions"),
            )
            .query(&[("$filter", filter), ("$format", "json")])
            .send()
    };
    for (filter, expected) in [
        (
            "InteractionSourceObjectType eq 'FITBIT_DAY' and InteractionSourceObject eq 'GGNJL9-2026-11-20-steps'",
            vec![uuids[0].clone()],
        ),
        ("InteractionContactId eq 'GGNJL9'", vec![uuids[0].clone(), uuids[1].clone()]),
        (
            "InteractionContactId eq 'O''BRIEN'",
            vec![uuids[2].clone()],
        ),
        (
            "InteractionContactOrigin eq 'FITBIT' and InteractionContactId eq 'O''BRIEN' and InteractionSourceObject eq 'O''BRIEN-2026-11-20-steps'",
            vec![uuids[2].clone()],
        ),
        ("InteractionSourceObject eq 'nothing'", vec![]),
        (&format!("InteractionUUID eq guid'{}'", uuids[1]), vec![uuids[1].clone()]),
    ] {
        let response = filtered(filter).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{filter}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(results(&body), expected, "{filter}");
    }

    let response = filtered("InteractionContent eq 'x'").await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = get("?$filter=InteractionContactId%20eq%20'GGNJL9'&$top=1&$skip=1&$inlinecount=allpages&$select=InteractionSourceObject")
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["d"]["__count"], "2");
    let only = &body["d"]["results"][0];
    assert_eq!(only["InteractionSourceObject"], "GGNJL9-2026-11-21-steps");
    assert!(only.get("InteractionContactId").is_none());

    // By key, no filter needed.
    let response = get(&format!("(guid'{}')", uuids[2])).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["d"]["InteractionContactId"], "O'BRIEN");

    // As a retrieval in a batch, after a changeset that updates what it reads.
    let result = client
        .batch(
            INTERACTION_SERVICE_PATH,
            mixed_batch_body(&[
                Part::Get("Interactions".into()),
                Part::Changeset(vec![patch(
                    &uuids[0],
                    json!({"InteractionContentSubject": "updated"}),
                )]),
                Part::Get(
                    "Interactions?$filter=InteractionSourceObjectType%20eq%20'FITBIT_DAY'%20and%20InteractionSourceObject%20eq%20'GGNJL9-2026-11-20-steps'"
                        .into(),
                ),
                Part::Get("Interactions?$filter=InteractionContactId+eq+'O''BRIEN'".into()),
            ]),
        )
        .await;
    assert_eq!(
        result.statuses(),
        [
            (true, vec![400]),
            (false, vec![204]),
            (true, vec![200]),
            (true, vec![200])
        ]
    );
    let read: Value = serde_json::from_str(&result.single(2).body).unwrap();
    assert_eq!(results(&read), [uuids[0].clone()]);
    assert_eq!(
        read["d"]["results"][0]["InteractionContentSubject"],
        "updated"
    );
    let read: Value = serde_json::from_str(&result.single(3).body).unwrap();
    assert_eq!(results(&read), [uuids[2].clone()]);
}

#[tokio::test]
async fn imported_interactions_are_visible_to_the_interaction_api() {
    let sandbox = start().await;
    let mut client = Client::new(&sandbox);
    client.fetch(IMPORT_SERVICE_PATH).await;
    let response = client
        .write(Method::POST, &format!("{IMPORT_SERVICE_PATH}/ImportHeaders"))
        .json(&json!({
            "Id": "", "Timestamp": "/Date(1763596800000)/", "SourceSystemType": "EXT", "SourceSystemId": "FITBRIDGE",
            "Interactions": [{"ContactId": "GGNJL9", "ContactIdOrigin": "FITBIT", "SourceObjectId": "GGNJL9-2026-11-20-steps",
                              "InteractionType": "FITBIT_DAILY", "CommunicationMedium": "FITBIT", "Timestamp": "/Date(1763596800000)/"}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "{:?}",
        response.text().await
    );
    client.fetch(INTERACTION_SERVICE_PATH).await;
    let response = client
        .request(
            Method::GET,
            &format!("{INTERACTION_SERVICE_PATH}/Interactions?$filter=InteractionSourceObject%20eq%20'GGNJL9-2026-11-20-steps'"),
        )
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    let results = body["d"]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["InteractionContactId"], "GGNJL9");
    assert!(results[0].get("ContactId").is_none());
    assert_eq!(
        sandbox
            .sap
            .interactions_with_source_object("GGNJL9-2026-11-20-steps")
            .len(),
        1
    );
    let stats = sandbox.sap.stats();
    assert_eq!((stats.imports, stats.interaction_creates), (1, 0));
}

#[tokio::test]
async fn ten_changesets_answer_in_order_and_one_can_be_failed() {
    let sandbox = start().await;
    let mut client = Client::new(&sandbox);
    client.fetch(INTERACTION_SERVICE_PATH).await;
    let dates: Vec<String> = (1..=10).map(|d| format!("2026-11-{d:02}")).collect();
    let changesets = |user: &str| -> Vec<Vec<Op>> {
        dates
            .iter()
            .map(|date| vec![op("POST", "Interactions", interaction(user, date))])
            .collect()
    };
    let source_objects = |result: &BatchResult| -> Vec<Option<String>> {
        result
            .parts()
            .iter()
            .map(|part| match part {
                ParsedResponsePart::Changeset(ops) => {
                    assert_eq!(ops.len(), 1);
                    let body: Value = serde_json::from_str(&ops[0].body).unwrap();
                    Some(body["d"]["InteractionSourceObject"].as_str()?.to_string())
                }
                ParsedResponsePart::Single(_) => None,
            })
            .collect()
    };

    let result = client
        .batch(INTERACTION_SERVICE_PATH, batch_body(&changesets("GGNJL9")))
        .await;
    assert_eq!(result.statuses(), vec![(false, vec![201]); 10]);
    let expected: Vec<Option<String>> = dates
        .iter()
        .map(|d| Some(format!("GGNJL9-{d}-steps")))
        .collect();
    assert_eq!(source_objects(&result), expected);

    // Fail exactly the fourth (its source object is unique), the others are created.
    sandbox.sap.fail_parts_matching("B2-2026-11-04-steps", 400);
    let result = client
        .batch(INTERACTION_SERVICE_PATH, batch_body(&changesets("B2")))
        .await;
    let mut statuses = vec![(false, vec![201]); 10];
    statuses[3] = (true, vec![400]);
    assert_eq!(result.statuses(), statuses);
    assert_eq!(error_of(&result.single(3)).0, "SANDBOX/INJECTED");
    let mut expected: Vec<Option<String>> = dates
        .iter()
        .map(|d| Some(format!("B2-{d}-steps")))
        .collect();
    expected[3] = None;
    assert_eq!(source_objects(&result), expected);
    assert!(sandbox
        .sap
        .interactions_with_source_object("B2-2026-11-04-steps")
        .is_empty());
    assert_eq!(sandbox.sap.interactions().len(), 19);

    // A contact batch, to see the per-service count.
    client.fetch(CONTACT_SERVICE_PATH).await;
    client
        .batch(
            CONTACT_SERVICE_PATH,
            batch_body(&[vec![put_contact("A1", contact("A1"))]]),
        )
        .await;
    let stats = sandbox.sap.stats();
    assert_eq!(stats.interaction_creates, 19);
    assert_eq!((stats.changesets_ok, stats.changesets_failed), (20, 1));
    assert_eq!(stats.batches, 3);
    assert_eq!(stats.batches_of(SERVICE), 2);
    assert_eq!(stats.batches_of("API_MKT_CONTACT_SRV"), 1);
    assert_eq!(stats.batches_of(CUAN), 0);
    // The admin API reports the same.
    let admin: SapStats = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}/_admin/sap/stats", sandbox.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(admin, stats);
}

const CUAN: &str = "CUAN_IMPORT_SRV";
