//! The built binary against the sandbox: usage, exit codes, and what it prints.
//! (The whole subscriber life cycle against the real webhook handler is in
//! `tests/integration/tests/google_health_subscriber.rs`; `migration pending` in-process
//! is `tests/migration.rs`, against the emulator `tests/integration/tests/admin_migration.rs`;
//! the people and dlq commands in-process are `tests/people.rs`, against the local stack
//! `tests/local_stack.rs`.)

use std::path::PathBuf;
use std::process::{Command, Output};

use fitbridge_sandbox::{Sandbox, SandboxConfig};

const BIN: &str = env!("CARGO_BIN_EXE_fitbridge-admin");

async fn sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// A key the sandbox trusts, written to a file of this test's own.
fn key_file(sandbox: &Sandbox, name: &str) -> PathBuf {
    let key = sandbox
        .google_health
        .create_service_account(&format!("{}/token", sandbox.base_url));
    let path = std::env::temp_dir().join(format!(
        "fitbridge-admin-{name}-{}.json",
        std::process::id()
    ));
    std::fs::write(&path, key.to_json()).unwrap();
    path
}

/// Runs the binary off the test's runtime thread (the sandbox answers on it).
async fn admin(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env_remove("GOOGLE_HEALTH_API_BASE_URL")
        .env_remove("AWS_PROFILE");
    for (k, v) in env {
        command.env(k, v);
    }
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_and_usage_errors() {
    let help = admin(&["--help"], &[]).await;
    assert_eq!(help.status.code(), Some(0));
    assert!(text(&help.stdout).contains("fitbridge-admin google-health subscriber <ACTION>"));
    assert!(text(&help.stdout).contains("fitbridge-admin migration pending --table NAME"));
    for usage in [
        "fitbridge-admin people list --table NAME",
        "fitbridge-admin people backfill --table NAME --work-queue-url URL",
        "fitbridge-admin people disconnect --table NAME --work-queue-url URL",
        "fitbridge-admin people forget --table NAME --provider P --user ID [--yes]",
        "fitbridge-admin dlq redrive --from-queue-url URL --to-queue-url URL",
    ] {
        assert!(text(&help.stdout).contains(usage), "{usage}");
    }

    for args in [
        &[][..],
        &["google-health", "subscriber", "frobnicate"],
        &[
            "google-health",
            "subscriber",
            "create",
            "--endpoint",
            "https://x",
        ],
        &["google-health", "subscriber", "list", "--bogus"],
        &["migration", "pending"],
        &["migration", "pending", "--table", "t", "--to", "fitbit"],
        &["people", "list"],
        &["people", "backfill", "--table", "t"],
        &[
            "people",
            "disconnect",
            "--table",
            "t",
            "--provider",
            "fitbit",
        ],
        &[
            "dlq",
            "redrive",
            "--from-queue-url",
            "http://127.0.0.1:1/0/q",
        ],
        &["people", "forget", "--table", "t", "--provider", "fitbit"],
    ] {
        let output = admin(args, &[]).await;
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(text(&output.stderr).starts_with("error: "), "{args:?}");
        assert!(output.stdout.is_empty());
    }
    // No key anywhere.
    let output = admin(&["google-health", "subscriber", "list"], &[]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("GOOGLE_APPLICATION_CREDENTIALS"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorization_without_scheme_exits_2_before_google_is_called() {
    let sandbox = sandbox().await;
    let key = key_file(&sandbox, "scheme");
    let output = admin(
        &[
            "google-health",
            "subscriber",
            "create",
            "--endpoint",
            "https://hooks.example.com/webhooks/google-health",
            "--authorization-env",
            "FB_TEST_AUTH",
            "--api-base-url",
            &sandbox.base_url,
        ],
        &[
            ("FB_TEST_AUTH", "webhook-secret-without-scheme"),
            ("GOOGLE_APPLICATION_CREDENTIALS", key.to_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("scheme included"), "{stderr}");
    assert!(
        !stderr.contains("webhook-secret-without-scheme"),
        "{stderr}"
    );
    let stats = sandbox.google_health.stats();
    assert!(stats.token_requests.is_empty(), "{stats:?}");
    assert!(stats.requests_by_method.is_empty(), "{stats:?}");
    std::fs::remove_file(key).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_prints_nothing_for_no_subscriber_and_a_refusal_exits_1() {
    let sandbox = sandbox().await;
    let key = key_file(&sandbox, "list");
    let env = [
        ("GOOGLE_APPLICATION_CREDENTIALS", key.to_str().unwrap()),
        ("GOOGLE_HEALTH_API_BASE_URL", sandbox.base_url.as_str()),
    ];
    let list = admin(&["google-health", "subscriber", "list"], &env).await;
    assert_eq!(list.status.code(), Some(0), "{}", text(&list.stderr));
    assert!(list.stdout.is_empty());

    let delete = admin(&["google-health", "subscriber", "delete"], &env).await;
    assert_eq!(delete.status.code(), Some(1));
    let stderr = text(&delete.stderr);
    assert!(stderr.contains("NOT_FOUND"), "{stderr}");
    assert!(
        stderr.contains("projects/fitbridge-sandbox/subscribers/fitbridge"),
        "{stderr}"
    );

    // Another project than the key's: Google says the permission is denied.
    let other = admin(
        &[
            "google-health",
            "subscriber",
            "list",
            "--project",
            "someone-else",
        ],
        &env,
    )
    .await;
    assert_eq!(other.status.code(), Some(1));
    assert!(text(&other.stderr).contains("PERMISSION_DENIED"));

    let stats = sandbox.google_health.stats();
    assert_eq!(
        stats.token_requests["urn:ietf:params:oauth:grant-type:jwt-bearer"]["ok"], 3,
        "one JWT-bearer grant per run"
    );
    assert!(stats.contract_violations.is_empty(), "{stats:?}");
    std::fs::remove_file(key).ok();
}

/// An endpoint where nothing listens, and the SDK's default configuration pointed at it.
fn nowhere() -> Vec<(&'static str, String)> {
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", nowhere.local_addr().unwrap());
    drop(nowhere);
    [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_CONFIG_FILE", "/nonexistent"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
        ("AWS_MAX_ATTEMPTS", "1"),
    ]
    .map(|(k, v)| (k, v.to_owned()))
    .to_vec()
}

/// The real DynamoDB adapter through the SDK's default configuration, pointed by
/// `AWS_ENDPOINT_URL` at a port where nothing listens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_pending_exits_1_when_the_table_cannot_be_read() {
    let env = nowhere();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let output = admin(
        &["migration", "pending", "--table", "fitbridge-test-table"],
        &env,
    )
    .await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(output.stdout.is_empty());
    assert!(
        text(&output.stderr).contains("cannot list the connections in table fitbridge-test-table"),
        "{}",
        text(&output.stderr)
    );
}

/// The people and dlq commands through the real DynamoDB and SQS adapters, with nothing
/// to answer them: exit 1, saying what could not be reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_and_dlq_commands_exit_1_when_aws_cannot_be_reached() {
    let env = nowhere();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let endpoint = env[0].1;
    let queue = format!("{endpoint}/000000000000/fitbridge-WorkQueue");
    let dlq = format!("{endpoint}/000000000000/fitbridge-WorkDeadLetterQueue");

    let list = admin(&["people", "list", "--table", "fitbridge-test-table"], &env).await;
    assert_eq!(list.status.code(), Some(1), "{}", text(&list.stderr));
    assert!(list.stdout.is_empty());
    assert!(
        text(&list.stderr).contains("cannot list the connections in table fitbridge-test-table")
    );

    let disconnect = admin(
        &[
            "people",
            "disconnect",
            "--table",
            "fitbridge-test-table",
            "--work-queue-url",
            &queue,
            "--provider",
            "fitbit",
            "--user",
            "GGNJL9",
        ],
        &env,
    )
    .await;
    assert_eq!(disconnect.status.code(), Some(1));
    assert!(text(&disconnect.stderr)
        .contains("cannot read the connection of fitbit/GGNJL9 in table fitbridge-test-table"));

    let redrive = admin(
        &[
            "dlq",
            "redrive",
            "--from-queue-url",
            &dlq,
            "--to-queue-url",
            &queue,
        ],
        &env,
    )
    .await;
    assert_eq!(redrive.status.code(), Some(1));
    assert_eq!(
        text(&redrive.stdout),
        format!("moved 0 messages from {dlq} to {queue}\n")
    );
    assert!(
        text(&redrive.stderr).contains("error: stopped: cannot receive from the queue"),
        "{}",
        text(&redrive.stderr)
    );
}
