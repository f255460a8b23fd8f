//! The command line, parsed by clap (derive) into one [`Command`] per invocation.
//!
//! A flag given twice, a flag the command does not take, or an unknown word is a usage
//! error rather than ignored, so a typo never manages the wrong thing. Everything that can
//! be checked without the network is checked here (provider names, URLs, numbers, dates,
//! and what the flags mean together), so a usage error never reaches Google, Secrets
//! Manager, the table or a queue.

use std::path::PathBuf;

use clap::Parser;
use fitbridge::domain::{PersonKey, ProviderKind, ProviderUserId};
use fitbridge::ports::catalog::ProviderCatalog;
use fitbridge::provider::registry::Registry;
use time::Date;

use args::{
    BackfillArgs, Cli, Directory, Dlq, ForgetArgs, GoogleHealth, KeyArgs, Migration, PendingArgs,
    People, PersonArgs, Polar, PolarArgs, RedriveArgs, SubscriberAction, Top,
};
pub use options::*;

mod args;
mod options;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn usage(message: impl Into<String>) -> UsageError {
    UsageError(message.into())
}

/// A value the command cannot do without.
fn required<T>(value: Option<T>, flag: &str, command: &str, what: &str) -> Result<T, UsageError> {
    value.ok_or_else(|| usage(format!("{command} needs {flag} ({what})")))
}

/// Parses the command line (without the program name) on the given day (UTC): a backfill
/// may not end after it. `Err` is the usage error, as clap or a check here words it.
pub fn parse_on(args: &[String], today: Date) -> Result<Command, UsageError> {
    let argv = std::iter::once("fitbridge-admin".to_owned()).chain(args.iter().cloned());
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
            return Ok(Command::Help(e.render().to_string()))
        }
        Err(e) => {
            let text = e.render().to_string();
            let text = text.trim_start_matches("error: ").trim_end();
            return Err(usage(text));
        }
    };
    match cli.command {
        Top::GoogleHealth(GoogleHealth::Subscriber(action)) => {
            subscriber(action).map(Command::Subscriber)
        }
        Top::Polar(Polar::Webhook(action)) => polar_webhook(action).map(Command::PolarWebhook),
        Top::Migration(Migration::Pending(args)) => {
            migration_pending(args).map(Command::MigrationPending)
        }
        Top::People(People::List(args)) => Ok(Command::PeopleList(PeopleListOptions {
            table: required(
                args.table,
                "--table",
                "people list",
                "the TableName stack output",
            )?,
            provider: args.provider,
            status: args.status,
            json: args.json,
        })),
        Top::People(People::Backfill(args)) => backfill(args, today).map(Command::PeopleBackfill),
        Top::People(People::Disconnect(args)) => {
            let (table, work_queue_url, person) = person(args, "people disconnect")?;
            Ok(Command::PeopleDisconnect(DisconnectOptions {
                table,
                work_queue_url,
                person,
            }))
        }
        Top::People(People::Forget(args)) => forget(args).map(Command::PeopleForget),
        Top::Dlq(Dlq::Redrive(args)) => redrive(args).map(Command::DlqRedrive),
        Top::Directory(Directory::Backfill(args)) => {
            Ok(Command::DirectoryBackfill(DirectoryBackfillOptions {
                table: required(
                    args.table,
                    "--table",
                    "directory backfill",
                    "the TableName stack output",
                )?,
            }))
        }
    }
}

fn subscriber(action: SubscriberAction) -> Result<SubscriberOptions, UsageError> {
    let options = |action, key: KeyArgs, subscriber_id| SubscriberOptions {
        action,
        key_file: key.key_file.map(PathBuf::from),
        project: key.project,
        subscriber_id,
        endpoint: None,
        data_types: None,
        authorization: None,
        force: false,
        api_base_url: key.api_base_url,
    };
    let (action, args) = match action {
        SubscriberAction::List(key) => return Ok(options(Action::List, key, None)),
        SubscriberAction::Delete(args) => {
            return Ok(SubscriberOptions {
                force: args.force,
                ..options(Action::Delete, args.key, args.subscriber_id)
            })
        }
        SubscriberAction::Create(args) => (Action::Create, args),
        SubscriberAction::Patch(args) => (Action::Patch, args),
    };
    let authorization = match (args.secret_id, args.authorization_env) {
        (Some(_), Some(_)) => {
            return Err(usage(
                "--secret-id and --authorization-env are alternatives: give one",
            ))
        }
        (Some(secret_id), None) => Some(AuthorizationSource::SecretsManager { secret_id }),
        (None, Some(variable)) => Some(AuthorizationSource::Environment { variable }),
        (None, None) => None,
    };
    let options = SubscriberOptions {
        endpoint: args.endpoint,
        data_types: args.data_types.map(|list| {
            list.split(',')
                .map(|t| t.trim().to_owned())
                .collect::<Vec<_>>()
        }),
        authorization,
        ..options(action, args.key, args.subscriber_id)
    };
    match action {
        Action::Create if options.endpoint.is_none() => Err(usage(
            "create needs --endpoint (the GoogleHealthWebhookUrl stack output)",
        )),
        Action::Create if options.authorization.is_none() => Err(usage(
            "create needs the endpoint authorization: --secret-id (the Google Health secret) \
             or --authorization-env",
        )),
        Action::Patch
            if options.endpoint.is_none()
                && options.data_types.is_none()
                && options.authorization.is_none() =>
        {
            Err(usage(
                "patch needs something to change: --endpoint, --data-types, --secret-id or \
                 --authorization-env",
            ))
        }
        _ => Ok(options),
    }
}

fn polar_webhook(action: args::PolarWebhookAction) -> Result<PolarWebhookOptions, UsageError> {
    use args::PolarWebhookAction as A;
    let (action, polar, url, events, webhook_id) = match action {
        A::Create(args) => (
            PolarWebhookAction::Create,
            args.polar,
            args.url,
            args.events,
            None,
        ),
        A::Show(polar) => (PolarWebhookAction::Show, polar, None, None, None),
        A::Activate(polar) => (PolarWebhookAction::Activate, polar, None, None, None),
        A::Deactivate(polar) => (PolarWebhookAction::Deactivate, polar, None, None, None),
        A::Delete(args) => (
            PolarWebhookAction::Delete,
            args.polar,
            None,
            None,
            args.webhook_id,
        ),
    };
    let PolarArgs {
        secret_id,
        api_base_url,
    } = polar;
    let secret_id = required(
        secret_id,
        "--secret-id",
        "polar webhook",
        "the Polar secret: its client credentials authenticate the calls",
    )?;
    let url = match (action, url) {
        (PolarWebhookAction::Create, None) => {
            return Err(usage(
                "polar webhook create needs --url (our webhook: the API's public base URL \
                 and /webhooks/polar)",
            ))
        }
        (_, url) => url,
    };
    let events: Vec<String> = match events {
        Some(list) => list.split(',').map(|e| e.trim().to_owned()).collect(),
        None if action == PolarWebhookAction::Create => {
            DEFAULT_POLAR_EVENTS.map(String::from).to_vec()
        }
        None => Vec::new(),
    };
    if let Some(unknown) = events.iter().find(|e| !POLAR_EVENTS.contains(&e.as_str())) {
        return Err(usage(format!(
            "{unknown:?} is not a Polar webhook event: {}",
            POLAR_EVENTS.join(", ")
        )));
    }
    Ok(PolarWebhookOptions {
        action,
        secret_id,
        api_base_url,
        url,
        events,
        webhook_id,
    })
}

fn migration_pending(args: PendingArgs) -> Result<MigrationOptions, UsageError> {
    let table = args
        .table
        .ok_or_else(|| usage("migration pending needs --table (the TableName stack output)"))?;
    let from = args.from.unwrap_or(DEFAULT_FROM);
    let to = match args.to {
        Some(to) => to,
        None => successor(from)
            .ok_or_else(|| usage(format!("nobody migrates off {from}: it has no successor")))?,
    };
    if Registry.predecessor(to) != Some(from) {
        return Err(usage(match Registry.predecessor(to) {
            Some(p) => format!("people migrate to {to} from {p}, not from {from}"),
            None => format!("nobody migrates to {to}: it succeeds no provider"),
        }));
    }
    let links = match (args.public_base_url, args.link_secret_id) {
        (Some(public_base_url), Some(secret_id)) => Some(LinkOptions {
            public_base_url,
            secret_id,
            lifetime_days: args.link_days.unwrap_or(DEFAULT_LINK_DAYS),
        }),
        (None, None) if args.link_days.is_some() => {
            return Err(usage(
                "--link-days needs --public-base-url and --link-secret-id",
            ))
        }
        (None, None) => None,
        _ => {
            return Err(usage(
                "connect links need both --public-base-url (the PublicBaseUrl stack output) \
                 and --link-secret-id (the ConnectLinkSecretArn stack output)",
            ))
        }
    };
    Ok(MigrationOptions {
        table,
        from,
        to,
        links,
    })
}

/// The table, the work queue and the person, all required.
fn person(args: PersonArgs, command: &str) -> Result<(String, String, PersonKey), UsageError> {
    let table = required(args.table, "--table", command, "the TableName stack output")?;
    let work_queue_url = required(
        args.work_queue_url,
        "--work-queue-url",
        command,
        "the WorkQueueUrl stack output",
    )?;
    let provider = required(
        args.provider,
        "--provider",
        command,
        "the person's provider",
    )?;
    let user = required(
        args.user,
        "--user",
        command,
        "the person's id at the provider",
    )?;
    Ok((
        table,
        work_queue_url,
        PersonKey {
            provider,
            user_id: ProviderUserId(user),
        },
    ))
}

fn forget(args: ForgetArgs) -> Result<ForgetOptions, UsageError> {
    const COMMAND: &str = "people forget";
    let table = required(args.table, "--table", COMMAND, "the TableName stack output")?;
    let provider = required(
        args.provider,
        "--provider",
        COMMAND,
        "the person's provider",
    )?;
    let user = required(
        args.user,
        "--user",
        COMMAND,
        "the person's id at the provider",
    )?;
    Ok(ForgetOptions {
        table,
        person: PersonKey {
            provider,
            user_id: ProviderUserId(user),
        },
        yes: args.yes,
    })
}

fn backfill(args: BackfillArgs, today: Date) -> Result<BackfillOptions, UsageError> {
    const COMMAND: &str = "people backfill";
    let (table, work_queue_url, person) = person(args.person, COMMAND)?;
    let from = required(args.from, "--from", COMMAND, "the first day, YYYY-MM-DD")?;
    let to = required(args.to, "--to", COMMAND, "the last day, YYYY-MM-DD")?;
    if from > to {
        return Err(usage(format!("--from {from} is after --to {to}")));
    }
    let days = (to - from).whole_days() + 1;
    if days > MAX_BACKFILL_DAYS {
        return Err(usage(format!(
            "{from} to {to} is {days} days: a backfill covers at most {MAX_BACKFILL_DAYS}"
        )));
    }
    if to > today {
        return Err(usage(format!(
            "--to {to} is in the future (today is {today}, UTC)"
        )));
    }
    Ok(BackfillOptions {
        table,
        work_queue_url,
        person,
        from,
        to,
    })
}

fn redrive(args: RedriveArgs) -> Result<RedriveOptions, UsageError> {
    const COMMAND: &str = "dlq redrive";
    let from_queue_url = required(
        args.from_queue_url,
        "--from-queue-url",
        COMMAND,
        "the dead-letter queue, e.g. the WorkDeadLetterQueueUrl stack output",
    )?;
    let to_queue_url = required(
        args.to_queue_url,
        "--to-queue-url",
        COMMAND,
        "its source queue, e.g. the WorkQueueUrl stack output",
    )?;
    if from_queue_url == to_queue_url {
        return Err(usage(
            "--from-queue-url and --to-queue-url are the same queue",
        ));
    }
    // A dead-letter queue is of its source queue's kind (AWS refuses anything else): a
    // FIFO queue and a standard one are not a dead-letter queue and its source.
    if from_queue_url.ends_with(".fifo") != to_queue_url.ends_with(".fifo") {
        return Err(usage(
            "one queue is FIFO and the other is not: they are not a dead-letter queue and \
             its source",
        ));
    }
    Ok(RedriveOptions {
        from_queue_url,
        to_queue_url,
        max: args.max,
        dry_run: args.dry_run,
    })
}

/// The provider whose predecessor `from` is.
fn successor(from: ProviderKind) -> Option<ProviderKind> {
    ProviderKind::ALL
        .into_iter()
        .find(|k| Registry.predecessor(*k) == Some(from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fitbridge::domain::ConnectionStatus;
    use url::Url;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    fn parse(args: &[String]) -> Result<Command, UsageError> {
        parse_on(args, TODAY)
    }

    fn run(line: &str) -> SubscriberOptions {
        match parse(&args(line)) {
            Ok(Command::Subscriber(options)) => options,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn pending(line: &str) -> MigrationOptions {
        match parse(&args(line)) {
            Ok(Command::MigrationPending(options)) => options,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn refused(line: &str) -> String {
        match parse_on(&args(line), TODAY) {
            Err(UsageError(message)) => message,
            other => panic!("{line}: accepted as {other:?}"),
        }
    }

    /// The day the people commands' tests run on.
    const TODAY: Date = time::macros::date!(2026 - 11 - 21);
    const QUEUE: &str = "https://sqs.eu-central-1.amazonaws.com/123456789012/fitbridge-WorkQueue-X";
    const DLQ: &str =
        "https://sqs.eu-central-1.amazonaws.com/123456789012/fitbridge-WorkDeadLetterQueue-X";

    fn command(line: &str) -> Command {
        parse_on(&args(line), TODAY).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    #[test]
    fn create_takes_every_flag_in_both_spellings() {
        let options = run(
            "google-health subscriber create --key-file /k.json --project=p-1 \
             --subscriber-id fb-test --endpoint=https://x/webhooks/google-health \
             --data-types steps,sleep --secret-id fitbridge/google-health \
             --api-base-url http://127.0.0.1:9",
        );
        assert_eq!(
            options,
            SubscriberOptions {
                action: Action::Create,
                key_file: Some(PathBuf::from("/k.json")),
                project: Some("p-1".into()),
                subscriber_id: Some("fb-test".into()),
                endpoint: Some("https://x/webhooks/google-health".into()),
                data_types: Some(vec!["steps".into(), "sleep".into()]),
                authorization: Some(AuthorizationSource::SecretsManager {
                    secret_id: "fitbridge/google-health".into()
                }),
                force: false,
                api_base_url: Some("http://127.0.0.1:9".into()),
            }
        );
        let options =
            run("google-health subscriber create --endpoint https://x --authorization-env AUTH");
        assert_eq!(
            options.authorization,
            Some(AuthorizationSource::Environment {
                variable: "AUTH".into()
            })
        );
        assert_eq!(options.data_types, None, "the default is applied later");
    }

    #[test]
    fn list_patch_and_delete() {
        assert_eq!(run("google-health subscriber list").action, Action::List);
        let patch = run("google-health subscriber patch --data-types steps");
        assert_eq!(patch.action, Action::Patch);
        assert_eq!(patch.data_types, Some(vec!["steps".into()]));
        let delete = run("google-health subscriber delete --force --subscriber-id x-yz");
        assert!(delete.force);
        assert_eq!(delete.subscriber_id.as_deref(), Some("x-yz"));
        assert!(!run("google-health subscriber delete").force);
    }

    #[test]
    fn help_wins_anywhere() {
        let Ok(Command::Help(top)) = parse(&args("--help")) else {
            panic!("help")
        };
        assert!(
            top.contains("fitbridge-admin people list --table NAME"),
            "{top}"
        );
        let Ok(Command::Help(create)) = parse(&args("google-health subscriber create -h")) else {
            panic!("help")
        };
        assert!(create.contains("--endpoint"), "{create}");
    }

    #[test]
    fn mistakes_are_usage_errors() {
        assert!(refused("").contains("requires a subcommand"));
        assert!(refused("google-health").contains("requires a subcommand"));
        assert!(refused("google-health subscriber").contains("requires a subcommand"));
        assert!(refused("google-health subscriber update").contains("unrecognized subcommand"));
        assert!(refused("fitbit subscriber list").contains("unrecognized subcommand"));
        assert!(refused("google-health subscriber list --verbose").contains("unexpected argument"));
        assert!(refused("google-health subscriber list --force").contains("unexpected argument"));
        assert!(
            refused("google-health subscriber delete --data-types steps")
                .contains("unexpected argument")
        );
        assert!(refused("google-health subscriber list --project").contains("a value is required"));
        assert!(
            refused("google-health subscriber list --project --key-file k")
                .contains("a value is required")
        );
        assert!(refused("google-health subscriber list --project=").contains("needs a value"));
        assert!(
            refused("google-health subscriber list --project a --project b")
                .contains("cannot be used multiple times")
        );
        assert!(refused("google-health subscriber delete --force=yes").contains("unexpected value"));
        assert!(
            refused("google-health subscriber create --authorization-env A").contains("--endpoint")
        );
        assert!(
            refused("google-health subscriber create --endpoint https://x")
                .contains("authorization")
        );
        assert!(refused(
            "google-health subscriber create --endpoint https://x --secret-id s --authorization-env A"
        )
        .contains("alternatives"));
        assert!(refused("google-health subscriber patch").contains("something to change"));
    }

    #[test]
    fn migration_pending_defaults_to_the_legacy_provider_and_its_successor() {
        assert_eq!(
            pending("migration pending --table T"),
            MigrationOptions {
                table: "T".into(),
                from: ProviderKind::Fitbit,
                to: ProviderKind::GoogleHealth,
                links: None,
            }
        );
        assert_eq!(
            pending("migration pending --table=T --from fitbit --to=google-health"),
            pending("migration pending --table T")
        );
        assert_eq!(
            pending("migration pending --table T --to google-health").from,
            ProviderKind::Fitbit
        );
    }

    #[test]
    fn migration_links_need_a_base_url_and_the_key_and_default_to_14_days() {
        let options = pending(
            "migration pending --table T --public-base-url https://api.example.com/prod/ \
             --link-secret-id fitbridge/link",
        );
        assert_eq!(
            options.links,
            Some(LinkOptions {
                public_base_url: Url::parse("https://api.example.com/prod/").unwrap(),
                secret_id: "fitbridge/link".into(),
                lifetime_days: 14,
            })
        );
        let options = pending(
            "migration pending --table T --public-base-url http://127.0.0.1:9080 \
             --link-secret-id s --link-days 3",
        );
        assert_eq!(options.links.unwrap().lifetime_days, 3);
    }

    #[test]
    fn migration_mistakes_are_usage_errors() {
        assert!(refused("migration").contains("requires a subcommand"));
        assert!(refused("migration list --table T").contains("unrecognized subcommand"));
        assert!(refused("migration pending").contains("--table"));
        assert!(refused("migration pending --table").contains("a value is required"));
        assert!(refused("migration pending --table T --bogus").contains("unexpected argument"));
        assert!(refused("migration pending --table T --force").contains("unexpected argument"));
        assert!(refused("migration pending --table T --project p").contains("unexpected argument"));
        assert!(refused("google-health subscriber list --table T").contains("unexpected argument"));
        assert!(refused("migration pending --table T --from garmin").contains("not a provider"));
        assert!(
            refused("migration pending --table T --from google-health").contains("no successor")
        );
        assert!(refused("migration pending --table T --to fitbit").contains("succeeds no"));
        assert!(
            refused("migration pending --table T --from google-health --to google-health")
                .contains("from fitbit, not from google-health")
        );
        assert!(
            refused("migration pending --table T --public-base-url https://x.example")
                .contains("both")
        );
        assert!(refused("migration pending --table T --link-secret-id s").contains("both"));
        assert!(refused("migration pending --table T --link-days 3").contains("--link-days"));
        for bad in [
            "ftp://x.example",
            "x.example",
            "https://x.example/?a=b",
            "https://x#f",
        ] {
            assert!(
                refused(&format!(
                    "migration pending --table T --public-base-url {bad} --link-secret-id s"
                ))
                .contains("--public-base-url"),
                "{bad}"
            );
        }
        for days in ["0", "91", "-1", "two"] {
            assert!(
                refused(&format!(
                    "migration pending --table T --public-base-url https://x.example \
                     --link-secret-id s --link-days {days}"
                ))
                .contains("--link-days"),
                "{days}"
            );
        }
    }

    #[test]
    fn people_list_filters_by_provider_and_status() {
        assert_eq!(
            command("people list --table T"),
            Command::PeopleList(PeopleListOptions {
                table: "T".into(),
                provider: None,
                status: None,
                json: false,
            })
        );
        assert_eq!(
            command(
                "people list --table=T --provider google-health --status=needs_reconsent --json"
            ),
            Command::PeopleList(PeopleListOptions {
                table: "T".into(),
                provider: Some(ProviderKind::GoogleHealth),
                status: Some(ConnectionStatus::NeedsReconsent),
                json: true,
            })
        );
        assert_eq!(
            command("people list --table T --status consents_missing"),
            Command::PeopleList(PeopleListOptions {
                table: "T".into(),
                provider: None,
                status: Some(ConnectionStatus::ConsentsMissing),
                json: false,
            })
        );
    }

    #[test]
    fn polar_webhook_takes_the_secret_and_creates_with_a_url_and_known_events() {
        assert_eq!(
            command(
                "polar webhook create --secret-id polar --url https://api.example/webhooks/polar"
            ),
            Command::PolarWebhook(PolarWebhookOptions {
                action: PolarWebhookAction::Create,
                secret_id: "polar".into(),
                api_base_url: None,
                url: Some("https://api.example/webhooks/polar".parse().unwrap()),
                events: ["ACTIVITY_SUMMARY", "SLEEP", "EXERCISE"]
                    .map(String::from)
                    .to_vec(),
                webhook_id: None,
            })
        );
        let Command::PolarWebhook(create) = command(
            "polar webhook create --secret-id polar --url http://127.0.0.1:9/webhooks/polar \
             --events SLEEP,ACTIVITY_SUMMARY --api-base-url http://127.0.0.1:8",
        ) else {
            panic!()
        };
        assert_eq!(create.events, ["SLEEP", "ACTIVITY_SUMMARY"]);
        assert_eq!(create.api_base_url.unwrap().as_str(), "http://127.0.0.1:8/");
        for (line, action) in [
            ("show", PolarWebhookAction::Show),
            ("activate", PolarWebhookAction::Activate),
            ("deactivate", PolarWebhookAction::Deactivate),
            ("delete --webhook-id abdf33", PolarWebhookAction::Delete),
        ] {
            let Command::PolarWebhook(options) =
                command(&format!("polar webhook {line} --secret-id polar"))
            else {
                panic!("{line}")
            };
            assert_eq!(options.action, action);
            assert!(options.events.is_empty() && options.url.is_none());
        }
        assert!(refused("polar webhook show").contains("needs --secret-id"));
        assert!(refused("polar webhook create --secret-id s").contains("needs --url"));
        assert!(refused(
            "polar webhook create --secret-id s --url https://a.example/w --events STEPS"
        )
        .contains("not a Polar webhook event"));
        assert!(
            refused("polar webhook create --secret-id s --url not-a-url")
                .contains("not an http(s) URL")
        );
        assert!(
            refused("polar webhook show --secret-id s --url https://a.example/w")
                .contains("unexpected argument")
        );
        assert!(refused("polar webhook list --secret-id s").contains("unrecognized subcommand"));
    }

    #[test]
    fn people_backfill_takes_a_person_and_a_range_of_days() {
        let line = format!(
            "people backfill --table T --work-queue-url {QUEUE} --provider fitbit \
             --user GGNJL9 --from 2026-08-24 --to 2026-11-21"
        );
        assert_eq!(
            command(&line),
            Command::PeopleBackfill(BackfillOptions {
                table: "T".into(),
                work_queue_url: QUEUE.into(),
                person: PersonKey {
                    provider: ProviderKind::Fitbit,
                    user_id: ProviderUserId("GGNJL9".into()),
                },
                from: time::macros::date!(2026 - 08 - 24),
                to: TODAY,
            }),
            "90 days, ending today"
        );
        let one_day = format!(
            "people backfill --table T --work-queue-url={QUEUE} --provider=google-health \
             --user=4123456789012345678 --from=2026-11-01 --to=2026-11-01"
        );
        let Command::PeopleBackfill(options) = command(&one_day) else {
            panic!("{one_day}");
        };
        assert_eq!(
            options.person.to_string(),
            "google-health/4123456789012345678"
        );
        assert_eq!(options.from, options.to);
    }

    #[test]
    fn people_backfill_refuses_long_reversed_future_and_malformed_ranges() {
        let base = format!(
            "people backfill --table T --work-queue-url {QUEUE} --provider fitbit --user GGNJL9"
        );
        let with = |range: &str| refused(&format!("{base} {range}"));
        assert!(with("--from 2026-08-22 --to 2026-11-20")
            .contains("91 days: a backfill covers at most 90"));
        assert!(with("--from 2026-11-20 --to 2026-11-19").contains("is after"));
        assert!(with("--from 2026-11-20 --to 2026-11-22").contains("future"));
        assert!(with("--from 2026-11-22 --to 2026-11-22").contains("future"));
        assert!(with("--from 2026-11-31 --to 2026-12-01").contains("not a date"));
        assert!(with("--from 20261101 --to 2026-11-02").contains("not a date"));
        assert!(with("--from 2026-11-01").contains("needs --to"));
        assert!(with("--to 2026-11-01").contains("needs --from"));
        let no = |flag: &str| {
            let line = format!(
                "people backfill --table T --work-queue-url {QUEUE} --provider fitbit \
                 --user GGNJL9 --from 2026-11-01 --to 2026-11-02"
            );
            let without: Vec<&str> = line.split_whitespace().collect();
            let at = without.iter().position(|w| *w == flag).unwrap();
            let rest: Vec<&str> = without[..at]
                .iter()
                .chain(&without[at + 2..])
                .copied()
                .collect();
            refused(&rest.join(" "))
        };
        for flag in ["--table", "--work-queue-url", "--provider", "--user"] {
            assert!(no(flag).contains(&format!("needs {flag}")), "{flag}");
        }
        assert!(with("--from 2026-11-01 --to 2026-11-02 --json").contains("unexpected argument"));
        assert!(refused(&format!(
            "people backfill --table T --work-queue-url {QUEUE} --provider garmin --user U \
             --from 2026-11-01 --to 2026-11-02"
        ))
        .contains("not a provider"));
        assert!(refused(
            "people backfill --table T --work-queue-url not-a-url --provider fitbit --user U \
             --from 2026-11-01 --to 2026-11-02"
        )
        .contains("not a queue URL"));
        assert!(refused(&format!(
            "people backfill --table T --work-queue-url {QUEUE} --provider fitbit --user=A#B \
             --from 2026-11-01 --to 2026-11-02"
        ))
        .contains("not a provider's user id"));
    }

    #[test]
    fn people_disconnect_takes_a_person_and_the_work_queue() {
        assert_eq!(
            command(&format!(
                "people disconnect --table T --work-queue-url {QUEUE} --provider fitbit --user GGNJL9"
            )),
            Command::PeopleDisconnect(DisconnectOptions {
                table: "T".into(),
                work_queue_url: QUEUE.into(),
                person: PersonKey {
                    provider: ProviderKind::Fitbit,
                    user_id: ProviderUserId("GGNJL9".into()),
                },
            })
        );
        assert!(refused(&format!(
            "people disconnect --table T --work-queue-url {QUEUE} --provider fitbit"
        ))
        .contains("needs --user"));
        assert!(refused(&format!(
            "people disconnect --table T --work-queue-url {QUEUE} --provider fitbit --user U --force"
        ))
        .contains("unexpected argument"));
        assert!(refused(&format!(
            "people disconnect --table T --work-queue-url {QUEUE} --provider fitbit --user U \
             --from 2026-11-01"
        ))
        .contains("unexpected argument"));
    }

    #[test]
    fn people_forget_takes_a_person_and_deletes_only_with_yes() {
        let person = PersonKey {
            provider: ProviderKind::GoogleHealth,
            user_id: ProviderUserId("4123456789012345678".into()),
        };
        assert_eq!(
            command("people forget --table T --provider google-health --user 4123456789012345678"),
            Command::PeopleForget(ForgetOptions {
                table: "T".into(),
                person: person.clone(),
                yes: false,
            })
        );
        assert_eq!(
            command(
                "people forget --table=T --provider=google-health --user=4123456789012345678 --yes"
            ),
            Command::PeopleForget(ForgetOptions {
                table: "T".into(),
                person,
                yes: true,
            })
        );
        assert!(refused("people forget --provider fitbit --user U").contains("needs --table"));
        assert!(refused("people forget --table T --user U").contains("needs --provider"));
        assert!(refused("people forget --table T --provider fitbit").contains("needs --user"));
        assert!(
            refused("people forget --table T --provider fitbit --user A#B")
                .contains("not a provider's user id")
        );
        assert!(
            refused("people forget --table T --provider fitbit --user U --yes=1")
                .contains("unexpected value")
        );
        assert!(refused(&format!(
            "people forget --table T --provider fitbit --user U --work-queue-url {QUEUE}"
        ))
        .contains("unexpected argument"));
    }

    #[test]
    fn directory_backfill_takes_the_table_only() {
        assert_eq!(
            command("directory backfill --table T"),
            Command::DirectoryBackfill(DirectoryBackfillOptions { table: "T".into() })
        );
        assert!(refused("directory backfill").contains("needs --table"));
        assert!(refused("directory backfill --table T --dry-run").contains("unexpected argument"));
        assert!(refused("directory --table T").contains("unexpected argument"));
    }

    #[test]
    fn dlq_redrive_moves_between_two_queues_of_one_kind() {
        assert_eq!(
            command(&format!(
                "dlq redrive --from-queue-url {DLQ} --to-queue-url {QUEUE}"
            )),
            Command::DlqRedrive(RedriveOptions {
                from_queue_url: DLQ.into(),
                to_queue_url: QUEUE.into(),
                max: None,
                dry_run: false,
            })
        );
        let Command::DlqRedrive(options) = command(&format!(
            "dlq redrive --from-queue-url={DLQ} --to-queue-url={QUEUE} --max 25 --dry-run"
        )) else {
            panic!()
        };
        assert_eq!((options.max, options.dry_run), (Some(25), true));
        let fifo = command(
            "dlq redrive --from-queue-url http://127.0.0.1:4566/000000000000/retry-dlq.fifo \
             --to-queue-url http://127.0.0.1:4566/000000000000/retry.fifo",
        );
        assert!(matches!(fifo, Command::DlqRedrive(_)));

        assert!(refused("dlq").contains("requires a subcommand"));
        assert!(refused("dlq move").contains("unrecognized subcommand"));
        assert!(refused(&format!("dlq redrive --to-queue-url {QUEUE}"))
            .contains("needs --from-queue-url"));
        assert!(refused(&format!("dlq redrive --from-queue-url {DLQ}"))
            .contains("needs --to-queue-url"));
        assert!(refused(&format!(
            "dlq redrive --from-queue-url {DLQ} --to-queue-url {DLQ}"
        ))
        .contains("same queue"));
        assert!(refused(&format!(
            "dlq redrive --from-queue-url {DLQ} --to-queue-url http://127.0.0.1:4566/0/retry.fifo"
        ))
        .contains("FIFO"));
        for max in ["0", "-1", "ten", ""] {
            assert!(
                refused(&format!(
                    "dlq redrive --from-queue-url {DLQ} --to-queue-url {QUEUE} --max={max}"
                ))
                .contains("--max"),
                "{max}"
            );
        }
        assert!(refused(&format!(
            "dlq redrive --from-queue-url {DLQ} --to-queue-url {QUEUE} --dry-run=yes"
        ))
        .contains("unexpected value"));
        assert!(refused(&format!(
            "dlq redrive --from-queue-url {DLQ} --to-queue-url {QUEUE} --table T"
        ))
        .contains("unexpected argument"));
        assert!(refused(&format!(
            "dlq redrive --from-queue-url ftp://x/q --to-queue-url {QUEUE}"
        ))
        .contains("not a queue URL"));
        assert!(refused(&format!(
            "dlq redrive --from-queue-url https://x --to-queue-url {QUEUE}"
        ))
        .contains("not a queue URL"));
    }

    #[test]
    fn people_mistakes_are_usage_errors() {
        assert!(refused("people").contains("requires a subcommand"));
        assert!(refused("people show --table T").contains("unrecognized subcommand"));
        assert!(refused("people list").contains("needs --table"));
        assert!(refused("people list --table T --status gone").contains("not a status"));
        assert!(refused("people list --table T --provider garmin").contains("not a provider"));
        assert!(refused("people list --table T --json=1").contains("unexpected value"));
        assert!(refused("people list --table T --user U").contains("unexpected argument"));
        assert!(refused("migration pending --table T --json").contains("unexpected argument"));
        assert!(refused("google-health subscriber list --dry-run").contains("unexpected argument"));
    }
}
