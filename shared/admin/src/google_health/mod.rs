//! `google-health subscriber <action>`: Google Health's webhook subscriber (one per Google
//! Cloud project, `AUTOMATIC` subscriptions for everyone who consents), managed with a
//! service-account key, once per deployment.
//!
//! Invariants:
//! - Nothing reaches Google or Secrets Manager before every local input is checked: the
//!   arguments, the key file, and the endpoint authorization (which must carry its scheme,
//!   `Bearer …`).
//! - The authorization registered is the Google Health secret's `webhook_authorization`,
//!   read as the functions read it, so the probes Google sends are answered by the deployed
//!   webhook with the same value.
//! - Output is one line per subscriber, or one line for the operation's result; neither
//!   ever shows the authorization, the access token or the key.

use std::time::Duration;

use fitbridge::domain::Secret;
use fitbridge::provider::google_health::GoogleHealthCredentials;
use url::Url;

use crate::cli::{Action, AuthorizationSource, SubscriberOptions};
use crate::{refused, usage_error, Context, Failure};
use subscribers::{
    ProjectSubscribers, Subscriber, SubscriberChanges, SubscriberError, DEFAULT_DATA_TYPES,
};
use token::ServiceAccount;

pub mod subscribers;
pub mod token;

pub const DEFAULT_SUBSCRIBER_ID: &str = "fitbridge";
pub const DEFAULT_API_BASE_URL: &str = "https://health.googleapis.com";

impl From<SubscriberError> for Failure {
    fn from(error: SubscriberError) -> Failure {
        Failure {
            code: if error.is_invalid_argument() {
                crate::EXIT_USAGE
            } else {
                crate::EXIT_REFUSED
            },
            message: error.to_string(),
            output: String::new(),
        }
    }
}

/// `google-health subscriber <action>`: its result, one line per subscriber or one line.
pub(crate) async fn subscriber(
    options: &SubscriberOptions,
    context: &Context,
) -> Result<String, Failure> {
    // Every local check first: nothing reaches Google with a wrong input.
    let subscriber_id = options
        .subscriber_id
        .clone()
        .unwrap_or_else(|| DEFAULT_SUBSCRIBER_ID.to_owned());
    if options.action != Action::List {
        subscribers::check_subscriber_id(&subscriber_id)?;
    }
    let data_types = match (&options.data_types, options.action) {
        (Some(list), _) => Some(list.clone()),
        (None, Action::Create) => Some(DEFAULT_DATA_TYPES.map(String::from).to_vec()),
        (None, _) => None,
    };
    if let Some(list) = &data_types {
        subscribers::check_data_types(list)?;
    }
    if let Some(endpoint) = &options.endpoint {
        subscribers::check_endpoint_uri(endpoint)?;
    }
    let api_base_url = options
        .api_base_url
        .clone()
        .or_else(|| (context.env)("GOOGLE_HEALTH_API_BASE_URL").filter(|v| !v.is_empty()))
        .unwrap_or_else(|| DEFAULT_API_BASE_URL.to_owned());
    let api_base_url = Url::parse(&api_base_url)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http"))
        .ok_or_else(|| {
            usage_error(format!(
                "API base URL {api_base_url:?} is not an http(s) URL"
            ))
        })?;
    let key_file = options
        .key_file
        .clone()
        .or_else(|| {
            (context.env)("GOOGLE_APPLICATION_CREDENTIALS")
                .filter(|v| !v.is_empty())
                .map(Into::into)
        })
        .ok_or_else(|| {
            usage_error("no service-account key: --key-file or GOOGLE_APPLICATION_CREDENTIALS")
        })?;
    let account = ServiceAccount::from_file(&key_file).map_err(|e| usage_error(e.to_string()))?;
    let project = options
        .project
        .clone()
        .or_else(|| account.project_id().map(str::to_owned))
        .ok_or_else(|| usage_error("no project: --project, or a key with a project_id"))?;
    let authorization = match &options.authorization {
        Some(source) => Some(authorization(source, context).await?),
        None => None,
    };
    let subscribers = ProjectSubscribers::new(http_client(), &api_base_url, &project)?
        .with_polling(context.polling);

    let token = account
        .access_token()
        .await
        .map_err(|e| refused(e.to_string()))?;
    let line = match options.action {
        Action::Create => {
            let (Some(endpoint), Some(authorization), Some(data_types)) =
                (&options.endpoint, &authorization, &data_types)
            else {
                return Err(usage_error("create needs --endpoint and an authorization"));
            };
            let created = subscribers
                .create(&token, &subscriber_id, endpoint, authorization, data_types)
                .await?;
            format!("created {}", describe(&created))
        }
        Action::List => {
            let all = subscribers.list(&token).await?;
            all.iter().map(|s| describe(s) + "\n").collect::<String>()
        }
        Action::Patch => {
            let changes = SubscriberChanges {
                endpoint_uri: options.endpoint.clone(),
                authorization,
                data_types,
            };
            let updated = subscribers.patch(&token, &subscriber_id, &changes).await?;
            format!("updated {}", describe(&updated))
        }
        Action::Delete => {
            subscribers
                .delete(&token, &subscriber_id, options.force)
                .await?;
            format!("deleted projects/{project}/subscribers/{subscriber_id}")
        }
    };
    Ok(if line.is_empty() || line.ends_with('\n') {
        line
    } else {
        line + "\n"
    })
}

/// The endpoint authorization, checked for its scheme before anything is sent.
async fn authorization(source: &AuthorizationSource, context: &Context) -> Result<Secret, Failure> {
    let value = match source {
        AuthorizationSource::Environment { variable } => (context.env)(variable)
            .filter(|v| !v.is_empty())
            .map(Secret::new)
            .ok_or_else(|| usage_error(format!("${variable} is not set")))?,
        AuthorizationSource::SecretsManager { secret_id } => {
            let credentials: GoogleHealthCredentials = context
                .ports()
                .await
                .secrets()
                .get(secret_id)
                .await
                .map_err(|e| refused(e.to_string()))?;
            credentials.webhook_authorization
        }
    };
    subscribers::check_authorization(&value)?;
    Ok(value)
}

/// Google verifies the endpoint before create and patch answer: a cold Lambda behind it
/// takes seconds, so the timeout is generous.
fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(90))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("fitbridge-admin/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("static client configuration is valid")
}

/// `projects/p/subscribers/fitbridge state=ACTIVE endpoint=https://… data-types=AUTOMATIC:steps,sleep secret=set`
pub fn describe(subscriber: &Subscriber) -> String {
    let configs: Vec<String> = subscriber
        .subscriber_configs
        .iter()
        .map(|c| {
            format!(
                "{}:{}",
                c.subscription_create_policy,
                c.data_types.join(",")
            )
        })
        .collect();
    let or_dash = |s: &str| {
        if s.is_empty() {
            "-".to_owned()
        } else {
            s.to_owned()
        }
    };
    format!(
        "{} state={} endpoint={} data-types={} secret={}",
        subscriber.name,
        or_dash(&subscriber.state),
        or_dash(&subscriber.endpoint_uri),
        or_dash(&configs.join(";")),
        if subscriber.secret_set() {
            "set"
        } else {
            "unset"
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use subscribers::SubscriberConfig;

    #[test]
    fn a_subscriber_is_one_line_without_secrets() {
        let subscriber = Subscriber {
            name: "projects/p/subscribers/fitbridge".into(),
            endpoint_uri: "https://x.example/webhooks/google-health".into(),
            state: "ACTIVE".into(),
            subscriber_configs: vec![SubscriberConfig {
                data_types: vec!["steps".into(), "sleep".into()],
                subscription_create_policy: "AUTOMATIC".into(),
            }],
            endpoint_authorization: Some(Default::default()),
            ..Subscriber::default()
        };
        assert_eq!(
            describe(&subscriber),
            "projects/p/subscribers/fitbridge state=ACTIVE \
             endpoint=https://x.example/webhooks/google-health \
             data-types=AUTOMATIC:steps,sleep secret=unset"
        );
        assert_eq!(
            describe(&Subscriber::default()),
            " state=- endpoint=- data-types=- secret=unset"
        );
    }
}
