//! The command line, parsed by hand: a few flags do not earn a parser crate in a
//! workspace whose clean build is already long.
//!
//! `--flag value` and `--flag=value` both work; a flag given twice, a flag the action
//! does not use, or an unknown word is a usage error rather than ignored, so a typo never
//! manages the wrong thing.

use std::path::PathBuf;

/// What to do with the subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    List,
    Patch,
    Delete,
}

impl Action {
    fn parse(word: &str) -> Option<Action> {
        match word {
            "create" => Some(Action::Create),
            "list" => Some(Action::List),
            "patch" => Some(Action::Patch),
            "delete" => Some(Action::Delete),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::List => "list",
            Action::Patch => "patch",
            Action::Delete => "delete",
        }
    }

    /// The flags the action takes (besides `--help`).
    fn flags(self) -> &'static [&'static str] {
        const COMMON: [&str; 3] = ["--key-file", "--project", "--api-base-url"];
        match self {
            Action::Create | Action::Patch => &[
                COMMON[0],
                COMMON[1],
                COMMON[2],
                "--subscriber-id",
                "--endpoint",
                "--data-types",
                "--secret-id",
                "--authorization-env",
            ],
            Action::List => &COMMON,
            Action::Delete => &[
                COMMON[0],
                COMMON[1],
                COMMON[2],
                "--subscriber-id",
                "--force",
            ],
        }
    }
}

/// Where the endpoint authorization comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthorizationSource {
    /// The `webhook_authorization` of the Google Health secret in Secrets Manager.
    SecretsManager { secret_id: String },
    /// An environment variable holding the whole value (tests, one-off runs).
    Environment { variable: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub action: Action,
    pub key_file: Option<PathBuf>,
    pub project: Option<String>,
    pub subscriber_id: Option<String>,
    pub endpoint: Option<String>,
    pub data_types: Option<Vec<String>>,
    pub authorization: Option<AuthorizationSource>,
    pub force: bool,
    pub api_base_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Help,
    Run(Options),
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn usage(message: impl Into<String>) -> UsageError {
    UsageError(message.into())
}

/// Flags that take a value.
const VALUE_FLAGS: [&str; 8] = [
    "--key-file",
    "--project",
    "--subscriber-id",
    "--endpoint",
    "--data-types",
    "--secret-id",
    "--authorization-env",
    "--api-base-url",
];

pub fn parse(args: &[String]) -> Result<Command, UsageError> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        return Ok(Command::Help);
    }
    let mut words = Vec::new();
    let mut flags: Vec<(String, Option<String>)> = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if !arg.starts_with("--") {
            words.push(arg.as_str());
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        if flags.iter().any(|(seen, _)| *seen == name) {
            return Err(usage(format!("{name} is given twice")));
        }
        let value = if VALUE_FLAGS.contains(&name.as_str()) {
            match inline {
                Some(value) => Some(value),
                None => Some(
                    rest.next()
                        .filter(|v| !v.starts_with("--"))
                        .cloned()
                        .ok_or_else(|| usage(format!("{name} needs a value")))?,
                ),
            }
        } else if name == "--force" {
            if inline.is_some() {
                return Err(usage("--force takes no value"));
            }
            None
        } else {
            return Err(usage(format!("unknown option {name}")));
        };
        flags.push((name, value));
    }
    let action = match words.as_slice() {
        ["google-health", "subscriber", action] => Action::parse(action).ok_or_else(|| {
            usage(format!(
                "unknown action {action:?}: create, list, patch or delete"
            ))
        })?,
        ["google-health", "subscriber"] => {
            return Err(usage("which action: create, list, patch or delete?"))
        }
        [] => return Err(usage("no command")),
        _ => {
            return Err(usage(format!(
                "unknown command {:?}: google-health subscriber create|list|patch|delete",
                words.join(" ")
            )))
        }
    };
    if let Some((name, _)) = flags
        .iter()
        .find(|(name, _)| !action.flags().contains(&name.as_str()))
    {
        return Err(usage(format!(
            "{name} does not apply to {}",
            action.as_str()
        )));
    }
    let take = |name: &str| -> Result<Option<String>, UsageError> {
        match flags.iter().find(|(n, _)| n == name) {
            Some((_, Some(value))) if value.trim().is_empty() => {
                Err(usage(format!("{name} needs a value")))
            }
            Some((_, value)) => Ok(value.clone()),
            None => Ok(None),
        }
    };
    let authorization = match (take("--secret-id")?, take("--authorization-env")?) {
        (Some(_), Some(_)) => {
            return Err(usage(
                "--secret-id and --authorization-env are alternatives: give one",
            ))
        }
        (Some(secret_id), None) => Some(AuthorizationSource::SecretsManager { secret_id }),
        (None, Some(variable)) => Some(AuthorizationSource::Environment { variable }),
        (None, None) => None,
    };
    let options = Options {
        action,
        key_file: take("--key-file")?.map(PathBuf::from),
        project: take("--project")?,
        subscriber_id: take("--subscriber-id")?,
        endpoint: take("--endpoint")?,
        data_types: take("--data-types")?.map(|list| {
            list.split(',')
                .map(|t| t.trim().to_owned())
                .collect::<Vec<_>>()
        }),
        authorization,
        force: flags.iter().any(|(n, _)| n == "--force"),
        api_base_url: take("--api-base-url")?,
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
        _ => Ok(Command::Run(options)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    fn run(line: &str) -> Options {
        match parse(&args(line)) {
            Ok(Command::Run(options)) => options,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn refused(line: &str) -> String {
        match parse(&args(line)) {
            Err(UsageError(message)) => message,
            other => panic!("{line}: accepted as {other:?}"),
        }
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
            Options {
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
        assert_eq!(parse(&args("--help")), Ok(Command::Help));
        assert_eq!(
            parse(&args("google-health subscriber create -h")),
            Ok(Command::Help)
        );
    }

    #[test]
    fn mistakes_are_usage_errors() {
        assert!(refused("").contains("no command"));
        assert!(refused("google-health").contains("unknown command"));
        assert!(refused("google-health subscriber").contains("which action"));
        assert!(refused("google-health subscriber update").contains("unknown action"));
        assert!(refused("fitbit subscriber list").contains("unknown command"));
        assert!(refused("google-health subscriber list --verbose").contains("unknown option"));
        assert!(refused("google-health subscriber list --force").contains("does not apply"));
        assert!(
            refused("google-health subscriber delete --data-types steps")
                .contains("does not apply")
        );
        assert!(refused("google-health subscriber list --project").contains("needs a value"));
        assert!(
            refused("google-health subscriber list --project --key-file k")
                .contains("needs a value")
        );
        assert!(refused("google-health subscriber list --project=").contains("needs a value"));
        assert!(refused("google-health subscriber list --project a --project b").contains("twice"));
        assert!(refused("google-health subscriber delete --force=yes").contains("no value"));
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
}
