use super::*;

/// `ContactOriginData` with marketing attributes inline, as the adapter upserts them.
fn contact_with_attributes(id: &str, attributes: &[(&str, &str)]) -> Value {
    let mut body = contact(id);
    body["MarketingAttributes"] = attributes
        .iter()
        .map(|(category, value)| {
            json!({
                "ContactOrigin": "FITBIT",
                "ContactID": id,
                "MarketingAttributeCategory": category,
                "MarketingAttributeValue": value,
            })
        })
        .collect();
    body
}

/// `DELETE MarketingAttributes(...)`, key values encoded as OData requires (quotes doubled,
/// then percent-encoded).
fn delete_attribute(id: &str, category: &str, value: &str) -> Op {
    let literal = |text: &str| super::super::uri::percent_encode(&text.replace('\'', "''"));
    Op {
        method: "DELETE",
        url: format!(
            "MarketingAttributes(ContactOrigin='FITBIT',ContactID='{}',MarketingAttributeCategory='{}',MarketingAttributeValue='{}')",
            literal(id),
            literal(category),
            literal(value)
        ),
        body: None,
    }
}

fn stored_attributes(sandbox: &Sandbox, id: &str) -> Vec<(String, String)> {
    sandbox
        .sap
        .contact("FITBIT", id)
        .map(|c| {
            c.marketing_attributes
                .into_iter()
                .map(|a| (a.category, a.value))
                .collect()
        })
        .unwrap_or_default()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(c, v)| (c.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn deep_upsert_adds_attributes_and_delete_removes_them() {
    let sandbox = start().await;
    let mut client = Client::new(&sandbox);
    client.fetch(CONTACT_SERVICE_PATH).await;

    let first = client
        .batch(
            CONTACT_SERVICE_PATH,
            batch_body(&[vec![put_contact(
                "GGNJL9",
                contact_with_attributes(
                    "GGNJL9",
                    &[
                        ("FITBRIDGE_ACTIVITY_SCORE", "74"),
                        ("FITBRIDGE_ACTIVITY_BAND", "low"),
                    ],
                ),
            )]]),
        )
        .await;
    assert_eq!(first.statuses(), [(false, vec![204])]);
    let stored = sandbox.sap.contact("FITBIT", "GGNJL9").unwrap();
    assert_eq!(stored.write_count, 1);
    assert_eq!(stored.field_str("FirstName"), Some("Ann"));
    assert_eq!(stored.source_system_id.as_deref(), Some("FITBRIDGE"));
    // The inline entities are attributes, not properties of the contact.
    assert!(!stored.fields.contains_key("MarketingAttributes"));
    assert_eq!(
        stored_attributes(&sandbox, "GGNJL9"),
        pairs(&[
            ("FITBRIDGE_ACTIVITY_SCORE", "74"),
            ("FITBRIDGE_ACTIVITY_BAND", "low")
        ])
    );

    // The next day: the band changes (delete the old value, add the new one), the score is
    // sent again unchanged, a send hour is new; `{"results":[..]}` is accepted too.
    let mut body = contact_with_attributes(
        "GGNJL9",
        &[
            ("FITBRIDGE_ACTIVITY_SCORE", "74"),
            ("FITBRIDGE_ACTIVITY_BAND", "medium"),
            ("FITBRIDGE_SEND_HOUR", "18"),
        ],
    );
    body["MarketingAttributes"] = json!({ "results": body["MarketingAttributes"].clone() });
    let second = client
        .batch(
            CONTACT_SERVICE_PATH,
            batch_body(&[vec![
                delete_attribute("GGNJL9", "FITBRIDGE_ACTIVITY_BAND", "low"),
                put_contact("GGNJL9", body),
            ]]),
        )
        .await;
    assert_eq!(second.statuses(), [(false, vec![204, 204])]);
    assert_eq!(
        stored_attributes(&sandbox, "GGNJL9"),
        pairs(&[
            ("FITBRIDGE_ACTIVITY_SCORE", "74"),
            ("FITBRIDGE_ACTIVITY_BAND", "medium"),
            ("FITBRIDGE_SEND_HOUR", "18"),
        ])
    );
    assert_eq!(
        sandbox.sap.contact("FITBIT", "GGNJL9").unwrap().write_count,
        2
    );

    // Keys with quotes and reserved characters round-trip through the encoding.
    let odd = client
        .batch(
            CONTACT_SERVICE_PATH,
            batch_body(&[vec![put_contact(
                "GGNJL9",
                contact_with_attributes("GGNJL9", &[("FITBRIDGE_NOTE", "O'Brien & co/1")]),
            )]]),
        )
        .await;
    assert_eq!(odd.statuses(), [(false, vec![204])]);
    let removed = client
        .batch(
            CONTACT_SERVICE_PATH,
            batch_body(&[vec![delete_attribute(
                "GGNJL9",
                "FITBRIDGE_NOTE",
                "O'Brien & co/1",
            )]]),
        )
        .await;
    assert_eq!(removed.statuses(), [(false, vec![204])]);
    let stored = sandbox.sap.contact("FITBIT", "GGNJL9").unwrap();
    assert_eq!(
        stored.marketing_attribute_values("FITBRIDGE_NOTE"),
        Vec::<&str>::new()
    );
    assert_eq!(
        stored.marketing_attribute_values("FITBRIDGE_ACTIVITY_BAND"),
        ["medium"]
    );
}

#[tokio::test]
async fn deleting_a_missing_attribute_fails_the_whole_changeset() {
    let sandbox = start().await;
    let mut client = Client::new(&sandbox);
    client.fetch(CONTACT_SERVICE_PATH).await;
    client
        .batch(
            CONTACT_SERVICE_PATH,
            batch_body(&[vec![put_contact(
                "A1",
                contact_with_attributes("A1", &[("FITBRIDGE_ACTIVITY_BAND", "low")]),
            )]]),
        )
        .await;

    let mut renamed = contact_with_attributes("A1", &[("FITBRIDGE_ACTIVITY_BAND", "high")]);
    renamed["FirstName"] = json!("Changed");
    let result = client
        .batch(
            CONTACT_SERVICE_PATH,
            batch_body(&[
                vec![
                    delete_attribute("A1", "FITBRIDGE_ACTIVITY_BAND", "low"),
                    delete_attribute("A1", "FITBRIDGE_ACTIVITY_BAND", "medium"),
                    put_contact("A1", renamed),
                ],
                // An unknown contact has no attributes either.
                vec![delete_attribute("NOBODY", "FITBRIDGE_ACTIVITY_BAND", "low")],
            ]),
        )
        .await;
    assert_eq!(result.statuses(), [(true, vec![404]), (true, vec![404])]);
    let (code, message) = error_of(&result.single(0));
    assert_eq!(code, "/IWBEP/CM_MGW_RT/021");
    assert!(
        message.contains("MarketingAttributes(ContactOrigin='FITBIT',ContactID='A1',MarketingAttributeCategory='FITBRIDGE_ACTIVITY_BAND',MarketingAttributeValue='medium')"),
        "{message}"
    );

    // Nothing of the changeset applied: the first delete and the upsert were rolled back.
    let stored = sandbox.sap.contact("FITBIT", "A1").unwrap();
    assert_eq!(stored.field_str("FirstName"), Some("Ann"));
    assert_eq!(stored.write_count, 1);
    assert_eq!(
        stored_attributes(&sandbox, "A1"),
        pairs(&[("FITBRIDGE_ACTIVITY_BAND", "low")])
    );
    let stats = sandbox.sap.stats();
    assert_eq!((stats.changesets_failed, stats.parts_rolled_back), (2, 2));
}

#[tokio::test]
async fn inline_attributes_are_validated_against_the_contract() {
    let sandbox = start().await;
    let mut client = Client::new(&sandbox);
    client.fetch(CONTACT_SERVICE_PATH).await;
    let with_attribute = |attribute: Value| {
        let mut body = contact("A1");
        body["MarketingAttributes"] = json!([attribute]);
        body
    };
    let attribute = |category: &str, value: &str| {
        json!({
            "ContactOrigin": "FITBIT", "ContactID": "A1",
            "MarketingAttributeCategory": category, "MarketingAttributeValue": value,
        })
    };
    let mut other_contact = attribute("FITBRIDGE_ACTIVITY_SCORE", "74");
    other_contact["ContactID"] = json!("B2");
    let mut other_origin = attribute("FITBRIDGE_ACTIVITY_SCORE", "74");
    other_origin["ContactOrigin"] = json!("EMAIL");
    let mut no_value = attribute("FITBRIDGE_ACTIVITY_SCORE", "74");
    no_value
        .as_object_mut()
        .unwrap()
        .remove("MarketingAttributeValue");
    let mut null_category = attribute("FITBRIDGE_ACTIVITY_SCORE", "74");
    null_category["MarketingAttributeCategory"] = Value::Null;
    let mut unknown = attribute("FITBRIDGE_ACTIVITY_SCORE", "74");
    unknown["Weight"] = json!(3);
    let mut bad_uuid = attribute("FITBRIDGE_ACTIVITY_SCORE", "74");
    bad_uuid["MarketingAttributeUUID"] = json!("not-a-guid");
    let mut numeric = attribute("FITBRIDGE_ACTIVITY_SCORE", "74");
    numeric["MarketingAttributeValue"] = json!(74);
    let mut not_a_list = contact("A1");
    not_a_list["MarketingAttributes"] = json!("FITBRIDGE_ACTIVITY_SCORE");

    let cases: Vec<(Value, &str)> = vec![
        (
            with_attribute(attribute(&"C".repeat(76), "74")),
            "maximum length is 75",
        ),
        (
            with_attribute(attribute("FITBRIDGE_NOTE", &"v".repeat(256))),
            "maximum length is 255",
        ),
        (
            with_attribute(other_contact),
            "Key property 'ContactID' in the payload (\"B2\") differs",
        ),
        (
            with_attribute(other_origin),
            "Key property 'ContactOrigin' in the payload (\"EMAIL\") differs",
        ),
        (
            with_attribute(no_value),
            "Key property 'MarketingAttributeValue' of entity type 'MarketingAttribute' is missing",
        ),
        (with_attribute(null_category), "must not be null"),
        (with_attribute(unknown), "Property 'Weight' is invalid"),
        (with_attribute(bad_uuid), "GUID"),
        (with_attribute(numeric), "expected a JSON string"),
        (not_a_list, "must be an array of entities"),
    ];
    let changesets: Vec<Vec<Op>> = cases
        .iter()
        .map(|(body, _)| vec![put_contact("A1", body.clone())])
        .collect();
    let result = client
        .batch(CONTACT_SERVICE_PATH, batch_body(&changesets))
        .await;
    for (i, (_, expected)) in cases.iter().enumerate() {
        let part = result.single(i);
        assert_eq!(part.status(), 400, "case {i}: {}", part.body);
        let (code, message) = error_of(&part);
        assert_eq!(code, "/IWBEP/CM_MGW_RT/020", "case {i}: {message}");
        assert!(message.contains(expected), "case {i}: {message}");
    }
    assert!(sandbox.sap.contacts().is_empty());

    // Keys may come from the parent alone; server-filled properties are accepted and ignored.
    let inherited = with_attribute(json!({
        "MarketingAttributeCategory": "FITBRIDGE_ACTIVITY_SCORE",
        "MarketingAttributeValue": "74",
        "MarketingAttributeUUID": "0a1b2c3d-0000-4000-8000-000000000000",
    }));
    let ok = client
        .batch(
            CONTACT_SERVICE_PATH,
            batch_body(&[vec![put_contact("A1", inherited)]]),
        )
        .await;
    assert_eq!(ok.statuses(), [(false, vec![204])]);
    assert_eq!(
        stored_attributes(&sandbox, "A1"),
        pairs(&[("FITBRIDGE_ACTIVITY_SCORE", "74")])
    );

    // Attributes are written only inline in a PUT: not created directly, not in a merge, and
    // other navigation properties are not taken inline.
    let mut merge = json!({"FirstName": "Ann"});
    merge["MarketingAttributes"] = json!([attribute("FITBRIDGE_ACTIVITY_SCORE", "75")]);
    let mut additional_ids = contact("A1");
    additional_ids["AdditionalIDs"] = json!([]);
    let refused = client
        .batch(
            CONTACT_SERVICE_PATH,
            batch_body(&[
                vec![op(
                    "POST",
                    "MarketingAttributes",
                    attribute("FITBRIDGE_ACTIVITY_SCORE", "75"),
                )],
                vec![op(
                    "MERGE",
                    "ContactOriginData(ContactOrigin='FITBIT',ContactID='A1')",
                    merge,
                )],
                vec![put_contact("A1", additional_ids)],
                vec![Op {
                    method: "DELETE",
                    url: "MarketingAttributes(ContactOrigin='FITBIT',ContactID='A1',MarketingAttributeCategory='X')".into(),
                    body: None,
                }],
            ]),
        )
        .await;
    assert_eq!(
        refused.statuses(),
        [
            (true, vec![405]),
            (true, vec![400]),
            (true, vec![400]),
            (true, vec![400])
        ]
    );
    assert!(error_of(&refused.single(0)).1.contains("not creatable"));
    assert!(error_of(&refused.single(1)).1.contains("deep update"));
    assert!(error_of(&refused.single(2)).1.contains("'AdditionalIDs'"));
    assert!(error_of(&refused.single(3))
        .1
        .contains("'MarketingAttributeValue' is missing"));
    assert_eq!(
        stored_attributes(&sandbox, "A1"),
        pairs(&[("FITBRIDGE_ACTIVITY_SCORE", "74")])
    );
}

#[tokio::test]
async fn attributes_read_back_by_filter_navigation_and_admin() {
    let sandbox = start().await;
    let mut client = Client::new(&sandbox);
    client.fetch(CONTACT_SERVICE_PATH).await;
    client
        .batch(
            CONTACT_SERVICE_PATH,
            batch_body(&[
                vec![put_contact(
                    "A1",
                    contact_with_attributes(
                        "A1",
                        &[
                            ("FITBRIDGE_ACTIVITY_SCORE", "74"),
                            ("FITBRIDGE_SEND_HOUR", "18"),
                        ],
                    ),
                )],
                vec![put_contact(
                    "B2",
                    contact_with_attributes("B2", &[("FITBRIDGE_ACTIVITY_SCORE", "12")]),
                )],
                vec![put_contact("C3", contact("C3"))],
            ]),
        )
        .await;

    let get = |path: String| {
        let client = &client;
        async move {
            let response = client
                .request(Method::GET, &format!("{CONTACT_SERVICE_PATH}/{path}"))
                .header("Accept", "application/json")
                .send()
                .await
                .unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let values = |body: &Value| -> Vec<(String, String)> {
        body["d"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["MarketingAttributeCategory"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                    r["MarketingAttributeValue"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };

    let (status, filtered) = get(
        "MarketingAttributes?$filter=ContactOrigin%20eq%20'FITBIT'%20and%20ContactID%20eq%20'A1'&$inlinecount=allpages"
            .to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{filtered}");
    assert_eq!(
        values(&filtered),
        pairs(&[
            ("FITBRIDGE_ACTIVITY_SCORE", "74"),
            ("FITBRIDGE_SEND_HOUR", "18")
        ])
    );
    assert_eq!(filtered["d"]["__count"], "2");
    let first = &filtered["d"]["results"][0];
    assert_eq!(first["ContactID"], "A1");
    assert_eq!(
        first["__metadata"]["type"],
        "API_MKT_CONTACT_SRV.MarketingAttribute"
    );
    assert!(first["__metadata"]["uri"].as_str().unwrap().ends_with(
        "MarketingAttributes(ContactOrigin='FITBIT',ContactID='A1',MarketingAttributeCategory='FITBRIDGE_ACTIVITY_SCORE',MarketingAttributeValue='74')"
    ));

    let (status, navigated) = get(
        "ContactOriginData(ContactOrigin='FITBIT',ContactID='A1')/MarketingAttributes".to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{navigated}");
    assert_eq!(values(&navigated), values(&filtered));
    let (_, none) = get(
        "ContactOriginData(ContactOrigin='FITBIT',ContactID='C3')/MarketingAttributes".to_string(),
    )
    .await;
    assert_eq!(none["d"]["results"], json!([]));
    let (status, _) = get(
        "ContactOriginData(ContactOrigin='FITBIT',ContactID='NOBODY')/MarketingAttributes"
            .to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) =
        get("ContactOriginData(ContactOrigin='FITBIT',ContactID='A1')/Nope".to_string()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, single) = get(
        "MarketingAttributes(ContactOrigin='FITBIT',ContactID='B2',MarketingAttributeCategory='FITBRIDGE_ACTIVITY_SCORE',MarketingAttributeValue='12')"
            .to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{single}");
    assert_eq!(single["d"]["MarketingAttributeValue"], "12");
    let (status, _) = get("MarketingAttributes?$expand=Contact".to_string()).await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);

    let admin = reqwest::Client::builder().no_proxy().build().unwrap();
    let contacts: Value = admin
        .get(format!("{}/_admin/sap/contacts", sandbox.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(contacts[0]["id"], "A1");
    assert_eq!(
        contacts[0]["marketing_attributes"],
        json!([
            {"category": "FITBRIDGE_ACTIVITY_SCORE", "value": "74"},
            {"category": "FITBRIDGE_SEND_HOUR", "value": "18"},
        ])
    );
    assert_eq!(contacts[2]["marketing_attributes"], json!([]));
}
