//! The local demo's last step, on the stack deployed to the local emulator: connect a
//! Fitbit person, import a notified day, run the daily pull, force a 401 through the retry
//! queue; then register the Google Health subscriber, switch the legacy API off, migrate
//! the person to Google Health (same contact, parked day resumed), import a day Google
//! notifies; create the Polar webhook, connect a Polar person and import the day Polar
//! notifies; then campaign signals: a weekday runner (Google Health) and a person who
//! lapsed (Polar), each backfilled, fire a milestone, window and lapse, each rule once,
//! and get an activity score band and a send hour; and print what landed in the SAP
//! sandbox. Run by `tests/local/demo.sh`,
//! which installs, builds, deploys and starts everything first.

use std::time::Duration;

use fitbridge_integration::deployed::{self, Deployed};
use fitbridge_integration::stack;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

fn fail(what: &str) -> ! {
    eprintln!("demo failed: {what}");
    std::process::exit(1);
}

#[tokio::main]
async fn main() {
    let stack = stack();
    let d = Deployed::new(stack.clone());
    println!(
        "fitbridge demo on the stack {} deployed to the local emulator\n",
        stack["stackName"]
    );

    println!("1. Connect: a person follows the company's signed link and consents");
    let done = deployed::connect_person(&stack, "Alex", "Sandbox", "CUST-0001").await;
    let user = done.user_id.clone();
    if done.status != 200 || done.contact.is_none() {
        fail(&format!(
            "connect answered HTTP {}:\n{}",
            done.status, done.page
        ));
    }
    println!(
        "   Fitbit user {user} connected (callback HTTP {}), contact stored in SAP\n",
        done.status
    );

    println!("2. Notification: Fitbit announces new activity and sleep for 2026-11-18");
    let status = d
        .notify(&[
            ("activities", "2026-11-18", &user),
            ("sleep", "2026-11-18", &user),
        ])
        .await;
    println!("   webhook answered {status}; the emulator's SQS trigger runs the worker");
    let got = d.wait_for_interactions(&user, 4, WAIT).await;
    if got.len() < 4 {
        fail("the notified day did not arrive in SAP");
    }
    println!("   {} interactions imported\n", got.len());

    println!("3. Daily pull: the daily-sync function runs as its EventBridge schedule would");
    let before = got.len();
    let report = d.run_daily_job().await;
    println!("   daily-sync: {report}");
    let got = d.wait_for_interactions(&user, before + 4, WAIT).await;
    if got.len() < before + 4 {
        fail("yesterday's data did not arrive in SAP");
    }
    println!("   yesterday imported: {} interactions now\n", got.len());

    println!("4. Expired token: the access token dies early, then Fitbit notifies 2026-11-19");
    d.expire_token(&user).await;
    let before = got.len();
    let refreshes_before = d.fitbit_stats().await["refreshes"][&user]
        .as_u64()
        .unwrap_or(0);
    let status = d.notify(&[("activities", "2026-11-19", &user)]).await;
    println!("   webhook answered {status}; worker gets 401 → retry queue → token-refresh → work queue → worker");
    let got = d.wait_for_interactions(&user, before + 4, WAIT).await;
    if got.len() < before + 4 {
        fail("the day after the 401 did not arrive in SAP");
    }
    let refreshes = d.fitbit_stats().await["refreshes"][&user]
        .as_u64()
        .unwrap_or(0)
        - refreshes_before;
    println!("   imported after {refreshes} token refresh(es) at Fitbit\n");

    println!("5. Google Health subscriber: the operator registers the deployed webhook");
    let line = d.create_google_subscriber().await;
    println!("   fitbridge-admin: {line}");
    println!("   (Google verified the endpoint first: 201 with the authorization, 401 without)\n");

    println!(
        "6. The legacy API is switched off: Fitbit answers 410 Gone, then notifies 2026-11-20"
    );
    d.set_fitbit_gone(true).await;
    let status = d.notify(&[("activities", "2026-11-20", &user)]).await;
    println!(
        "   webhook answered {status}; the worker parks the day and marks the person provider_gone"
    );
    if !d
        .wait_for_status(
            fitbridge::domain::ProviderKind::Fitbit,
            &user,
            fitbridge::domain::ConnectionStatus::ProviderGone,
            WAIT,
        )
        .await
    {
        fail("the person was not marked provider_gone");
    }
    println!("   parked: provider_gone\n");

    println!("7. Migration: the person connects through Google Health, whose identity names their Fitbit id");
    let google = deployed::connect_google_person(&stack, Some(&user)).await;
    if google.status != 200 {
        fail(&format!(
            "Google connect answered HTTP {}:\n{}",
            google.status, google.page
        ));
    }
    println!(
        "   health user {} connected; same SAP contact FITBIT/{user}, the parked day resumes through Google",
        google.user_id
    );
    let before = got.len();
    let got = d.wait_for_interactions(&user, before + 4, WAIT).await;
    if got.len() < before + 4 {
        fail("the parked day did not arrive through Google Health");
    }
    println!("   {} interactions now\n", got.len());

    println!("8. Google Health notifies new sleep for 2026-11-21 (signed with Google's key)");
    let before = got.len();
    let status = d
        .notify_google(&google.user_id, "sleep", "2026-11-21")
        .await;
    println!("   webhook answered {status}");
    let got = d.wait_for_interactions(&user, before + 1, WAIT).await;
    if got.len() < before + 1 {
        fail("the Google notification did not arrive in SAP");
    }
    let calls = d.google_stats().await["api_calls"][&google.user_id].clone();
    println!("   imported; Google Health API calls for this person: {calls}\n");
    d.set_fitbit_gone(false).await;

    let polar_user = polar(&stack, &d).await;

    let signal_people = campaign_signals(&stack, &d).await;

    summary(&d, &user).await;
    println!();
    summary(&d, &polar_user).await;
    for person in &signal_people {
        println!();
        signals_summary(&d, person).await;
    }
}

/// Step 9: the operator creates the Polar client's one webhook; a person connects through
/// Polar (registered to the partner), and Polar notifies yesterday's activity summary.
/// Returns their Polar user id.
async fn polar(stack: &Value, d: &Deployed) -> String {
    println!("9. Polar webhook: the operator creates the client's one webhook");
    let line = d.create_polar_webhook().await;
    println!("   fitbridge-admin: {line}");
    println!("   (Polar pinged the endpoint first: 200, unsigned; the signing key it shows once is in the secret)");
    let done = deployed::connect_polar_person(stack, "Paula", Some("CUST-POLAR-1"), None).await;
    if done.status != 200 || done.contact.is_none() {
        fail(&format!(
            "Polar connect answered HTTP {}:\n{}",
            done.status, done.page
        ));
    }
    let user = done.user_id;
    println!(
        "   Polar user {user} connected and registered to the partner; contact POLAR/{user} in SAP"
    );
    let yesterday =
        (fitbridge_integration::stack_now().date() - time::Duration::days(1)).to_string();
    let statuses = d
        .notify_polar(&user, "ACTIVITY_SUMMARY", &yesterday, false)
        .await;
    println!(
        "   Polar notifies ACTIVITY_SUMMARY for {yesterday}, signed: webhook answered {statuses:?}"
    );
    let got = d.wait_for_interactions(&user, 4, WAIT).await;
    if got.len() < 4 {
        fail("the day Polar notified did not arrive in SAP");
    }
    println!("   {} interactions imported\n", got.len());
    user
}

/// Step 10: two people whose synthetic data has a pattern, connected through the
/// providers that serve real people (a weekday runner through Google Health, a person who
/// lapsed through Polar), their days backfilled, and the signals their history fires.
/// Returns their user ids.
async fn campaign_signals(stack: &Value, d: &Deployed) -> Vec<String> {
    println!("10. Campaign signals: a weekday runner (Google Health) and a person who stopped");
    println!("    moving (Polar) connect; the operator backfills their activity");
    println!("    (fitbridge-admin people backfill)");
    let mut people = Vec::new();
    for (first, provider, pattern, days) in [
        ("Rita", "google-health", "weekday_runner", 90),
        ("Lars", "polar", "lapse", 60),
    ] {
        let done = match provider {
            "polar" => {
                deployed::connect_polar_person(stack, first, Some("CUST-LAPSE-1"), Some(pattern))
                    .await
            }
            _ => deployed::connect_google_person_with_pattern(stack, None, Some(pattern)).await,
        };
        if done.status != 200 {
            fail(&format!("connect answered HTTP {}", done.status));
        }
        let line = d.backfill(provider, &done.user_id, days).await;
        println!(
            "    {first} ({pattern}) connected through {provider} as {}; {line}",
            done.user_id
        );
        people.push((done.user_id, pattern));
    }
    // A runner's 90 days (about 14,600 steps a day) pass the 1,000,000-step milestone and
    // the 100-km window (a 7-day streak too, if they walk on Sundays); a lapse fires the
    // lapse rule. Both get a score band; the runner a send hour.
    let wanted = |pattern: &str| match pattern {
        "weekday_runner" => vec!["-s-steps1m-", "-s-distance100-"],
        _ => vec!["-s-lapse-"],
    };
    for (user, pattern) in &people {
        let start = std::time::Instant::now();
        loop {
            let sources: Vec<String> = d
                .interactions_of(user)
                .await
                .iter()
                .filter_map(|i| {
                    i["fields"]["InteractionSourceObject"]
                        .as_str()
                        .map(str::to_owned)
                })
                .collect();
            let banded = d
                .contacts()
                .await
                .iter()
                .filter(|c| c["id"] == user.as_str())
                .any(|c| {
                    c["marketing_attributes"].as_array().is_some_and(|a| {
                        a.iter().any(|a| a["category"] == "FITBRIDGE_ACTIVITY_BAND")
                    })
                });
            let fired = wanted(pattern)
                .iter()
                .all(|w| sources.iter().any(|s| s.contains(w)));
            if fired && banded {
                break;
            }
            if start.elapsed() > Duration::from_secs(240) {
                fail(&format!(
                    "{pattern}: the signals did not all arrive ({} interactions)",
                    sources.len()
                ));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        println!("    {user} ({pattern}): rules fired and attributes set");
    }
    println!();
    people.into_iter().map(|(u, _)| u).collect()
}

/// A signal person's contact attributes and fired rules, as SAP holds them. A rule that
/// fired twice for the person fails the demo: each rule fires at most once per person.
async fn signals_summary(d: &Deployed, user: &str) {
    let contacts: Vec<Value> = d
        .contacts()
        .await
        .into_iter()
        .filter(|c| c["id"] == user)
        .collect();
    let origin = contacts
        .first()
        .and_then(|c| c["origin"].as_str())
        .unwrap_or("?");
    println!("Campaign signals in SAP for {origin}/{user}");
    println!("---------------------------------------------------------------");
    for c in &contacts {
        for a in c["marketing_attributes"].as_array().into_iter().flatten() {
            println!(
                "marketing attribute  {:<26} {}",
                a["category"].as_str().unwrap_or(""),
                a["value"].as_str().unwrap_or("")
            );
        }
    }
    let interactions = d.interactions_of(user).await;
    let mut rules = std::collections::BTreeMap::<&str, usize>::new();
    let mut days = 0;
    for i in &interactions {
        let f = &i["fields"];
        let source = f["InteractionSourceObject"].as_str().unwrap_or("");
        if source.contains("-s-") {
            *rules.entry(source).or_default() += 1;
            println!(
                "rule fired  {:<34} {:<14} {}",
                source,
                f["InteractionType"].as_str().unwrap_or(""),
                f["InteractionContent"].as_str().unwrap_or("")
            );
        } else {
            days += 1;
        }
    }
    println!("(and {days} daily interactions from the backfill)");
    if let Some((rule, n)) = rules.iter().find(|(_, n)| **n > 1) {
        fail(&format!("the rule {rule} fired {n} times for {user}"));
    }
}

async fn summary(d: &Deployed, user: &str) {
    println!("What landed in the SAP Marketing Cloud sandbox for this person");
    println!("---------------------------------------------------------------");
    let contacts: Vec<Value> = d
        .contacts()
        .await
        .into_iter()
        .filter(|c| c["id"] == user)
        .collect();
    for c in &contacts {
        let f = &c["fields"];
        let ids: Vec<String> = c["additional_ids"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                format!(
                    "{}={}",
                    a["origin"].as_str().unwrap_or(""),
                    a["id"].as_str().unwrap_or("")
                )
            })
            .collect();
        println!(
            "contact  {}/{}  {}  country {}  language {}  additional ids [{}]  via {}",
            c["origin"].as_str().unwrap_or(""),
            c["id"].as_str().unwrap_or(""),
            f["FullName"].as_str().unwrap_or("-"),
            f["Country"].as_str().unwrap_or("-"),
            f["Language"].as_str().unwrap_or("-"),
            ids.join(", "),
            c["via"].as_str().unwrap_or("")
        );
    }
    let mut rows: Vec<(String, String, String)> = d
        .interactions_of(user)
        .await
        .iter()
        .map(|i| {
            let f = &i["fields"];
            let value = ["YY1_FitbitNumberofStep_MIA", "YY1_FitbitAmountofCalo_MIA"]
                .iter()
                .find_map(|k| f[*k].as_str().map(str::to_owned))
                .or_else(|| {
                    f["InteractionContent"]
                        .as_str()
                        .and_then(|c| serde_json::from_str::<Value>(c).ok())
                        .map(|c| format!("{} {}", c["value"], c["unit"].as_str().unwrap_or("")))
                })
                .unwrap_or_default();
            (
                f["InteractionSourceObject"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                f["InteractionType"].as_str().unwrap_or("").to_owned(),
                value,
            )
        })
        .collect();
    rows.sort();
    println!(
        "\n{:<34} {:<20} value",
        "interaction (source object)", "type"
    );
    for (source, kind, value) in &rows {
        println!("{source:<34} {kind:<20} {value}");
    }
    let mut sources: Vec<&String> = rows.iter().map(|(s, _, _)| s).collect();
    sources.dedup();
    println!(
        "\n{} contact(s), {} interaction(s), {} duplicate(s).",
        contacts.len(),
        rows.len(),
        rows.len() - sources.len()
    );
}
