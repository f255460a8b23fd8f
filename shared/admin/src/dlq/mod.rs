//! `dlq redrive`: a dead-letter queue's messages back to its source queue, through the
//! [`redrive`] (which never loses a message).
//!
//! Output: with `--dry-run`, one line per message (its id and what it asks for, never its
//! whole body), then `N messages would be moved`; otherwise `moved N messages`. A run that
//! stopped prints what it moved on stdout and why it stopped on stderr, and exits 1.

use fitbridge::domain::{Task, WorkItem};
use fitbridge::ports::queue::RetryRequest;

use crate::cli::RedriveOptions;
use crate::{refused, Failure};
use queues::MessageQueues;

pub mod queues;
pub mod redrive;

/// What a message asks for, in a few words: the work item (or retry request) it holds,
/// or only its size when it holds neither.
pub fn describe(body: &str) -> String {
    fn work(item: &WorkItem) -> String {
        let what = match &item.task {
            Task::Sync { date, collections } => {
                let collections: Vec<&str> = collections.iter().map(|c| c.as_str()).collect();
                format!("sync {date} {}", collections.join(","))
            }
            Task::Revoke {
                account_deleted,
                issued_at,
            } => {
                let mut what = "revoke".to_owned();
                if *account_deleted {
                    what.push_str(" (account deleted)");
                }
                if let Some(at) = issued_at {
                    what.push_str(&format!(" issued {at}"));
                }
                what
            }
        };
        format!("{}/{} {what}", item.provider, item.user_id)
    }
    if let Ok(item) = serde_json::from_str::<WorkItem>(body) {
        return work(&item);
    }
    if let Ok(request) = serde_json::from_str::<RetryRequest>(body) {
        return format!("refresh, then {}", work(&request.work));
    }
    format!("unreadable ({} bytes)", body.len())
}

fn messages(n: usize) -> &'static str {
    if n == 1 {
        "message"
    } else {
        "messages"
    }
}

/// Runs `dlq redrive`.
pub(crate) async fn redrive(
    options: &RedriveOptions,
    queues: &dyn MessageQueues,
) -> Result<String, Failure> {
    let from = queues.message_queue(&options.from_queue_url);
    let to = queues.message_queue(&options.to_queue_url);
    let report = redrive::redrive(&*from, &*to, options.max, options.dry_run).await;
    let mut text = String::new();
    if options.dry_run {
        for message in &report.listed {
            text += &format!("{} {}\n", message.id, describe(&message.body));
        }
        text += &format!(
            "{} {} would be moved from {} to {} (dry run: none was)\n",
            report.listed.len(),
            messages(report.listed.len()),
            options.from_queue_url,
            options.to_queue_url
        );
    } else {
        text += &format!(
            "moved {} {} from {} to {}\n",
            report.moved,
            messages(report.moved),
            options.from_queue_url,
            options.to_queue_url
        );
    }
    match report.stopped {
        None => Ok(text),
        Some(stopped) => Err(Failure {
            output: text,
            ..refused(format!("stopped: {stopped}"))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_described_by_what_it_asks_for() {
        let kind = fitbridge::domain::ProviderKind::ALL[0];
        assert_eq!(
            describe(&format!(
                r#"{{"provider":"{kind}","user_id":"GGNJL9","task":"sync","date":"2026-11-20","collections":["activities","sleep"]}}"#
            )),
            format!("{kind}/GGNJL9 sync 2026-11-20 activities,sleep")
        );
        assert_eq!(
            describe(&format!(
                r#"{{"provider":"{kind}","user_id":"GGNJL9","task":"revoke"}}"#
            )),
            format!("{kind}/GGNJL9 revoke")
        );
        assert_eq!(
            describe(&format!(
                r#"{{"work":{{"provider":"{kind}","user_id":"U","task":"revoke","account_deleted":true}},"observed_version":3}}"#
            )),
            format!("refresh, then {kind}/U revoke (account deleted)")
        );
        assert_eq!(
            describe("{\"secret\":\"do not print me\"}"),
            "unreadable (28 bytes)"
        );
    }
}
