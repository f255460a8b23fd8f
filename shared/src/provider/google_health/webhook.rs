//! Google Health's subscriber endpoint.
//!
//! Invariants:
//! - Verification probes (`POST {"type":"verification"}`) are answered 201 only with the
//!   registered `Authorization` value (compared in constant time), 401 without or with a
//!   wrong one; they queue nothing.
//! - A notification is accepted only with a valid ECDSA signature over the raw body
//!   ([`super::signature`]); missing → 401, wrong → 403, nothing queued. When Google's
//!   keys cannot be fetched, or a key id is unknown and the keyset may not be fetched
//!   again yet, the answer is 503, so Google delivers again.
//! - Notifications carry no values: each becomes one work item per (person, collection,
//!   civil day) its intervals touch — an interval's end is exclusive — and the worker
//!   re-fetches those days. `DELETE` does the same: the days are fetched again as they
//!   are now.
//! - Parsing is lenient: a single object or an array, `{"data": {…}}` or the data object
//!   itself, unknown fields ignored, an unusable entry skipped without losing the others.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use serde_json::Value;
use subtle::ConstantTimeEq;
use time::Date;

use super::model::{CivilDateTime, CivilRange};
use super::signature::{KeysetCache, SignatureError, LEGACY_SIGNATURE_HEADER, SIGNATURE_HEADER};
use super::GoogleHealthCredentials;
use crate::domain::work::iso_date;
use crate::domain::ProviderKind;
use crate::domain::{Collection, ProviderUserId, WorkItem};
use crate::ports::provider::{Notifications, Received, Webhook, WebhookRefusal, WebhookRequest};
use crate::secret_store::SecretCache;

/// Days one interval may span; a longer one is cut (and logged) rather than turned into
/// thousands of work items.
pub const MAX_DAYS_PER_INTERVAL: usize = 31;

/// The webhook of the Google Health provider. Built once per container: it holds the
/// keyset cache.
pub struct GoogleHealthWebhook {
    secret_id: String,
    secrets: Arc<SecretCache>,
    keys: KeysetCache,
}

impl GoogleHealthWebhook {
    pub fn new(secret_id: String, secrets: Arc<SecretCache>, keys: KeysetCache) -> Self {
        GoogleHealthWebhook {
            secret_id,
            secrets,
            keys,
        }
    }

    async fn credentials(&self) -> Result<GoogleHealthCredentials, WebhookRefusal> {
        self.secrets
            .get(&self.secret_id)
            .await
            .map_err(|e| WebhookRefusal::Unavailable(e.to_string()))
    }
}

fn unauthenticated(status: u16, reason: impl Into<String>) -> WebhookRefusal {
    WebhookRefusal::Unauthenticated {
        status,
        reason: reason.into(),
    }
}

#[async_trait]
impl Webhook for GoogleHealthWebhook {
    async fn receive(&self, request: &WebhookRequest<'_>) -> Result<Received, WebhookRefusal> {
        if request.method != "POST" {
            return Err(WebhookRefusal::MethodNotAllowed);
        }
        let value: Value =
            serde_json::from_slice(request.body).map_err(|_| WebhookRefusal::Malformed)?;
        let credentials = self.credentials().await?;
        let authorization_matches = |given: &str| -> bool {
            let expected = credentials.webhook_authorization.expose().as_bytes();
            expected.ct_eq(given.as_bytes()).into()
        };
        let authorization = request.header("authorization");
        if value.get("type").and_then(Value::as_str) == Some("verification") {
            return match authorization {
                Some(given) if authorization_matches(given) => {
                    Ok(Received::Handshake { status: 201 })
                }
                Some(_) => Err(unauthenticated(
                    401,
                    "verification with a wrong authorization",
                )),
                None => Err(unauthenticated(401, "verification without authorization")),
            };
        }
        // Google documents the authorization on every delivery, integrators report it
        // missing after the probes: the signature is what proves a notification, and a
        // wrong authorization, when there is one, refuses it too.
        if authorization.is_some_and(|given| !authorization_matches(given)) {
            return Err(unauthenticated(
                401,
                "notification with a wrong authorization",
            ));
        }
        let signature = request
            .header(SIGNATURE_HEADER)
            .or_else(|| request.header(LEGACY_SIGNATURE_HEADER));
        match self
            .keys
            .verify(request.body, signature, Instant::now())
            .await
        {
            Ok(()) => {}
            Err(SignatureError::Missing) => return Err(unauthenticated(401, "no signature")),
            Err(SignatureError::KeysetUnavailable(e)) => {
                return Err(WebhookRefusal::Unavailable(format!("Google's keys: {e}")))
            }
            Err(e @ SignatureError::UnknownKeyNotRechecked { .. }) => {
                return Err(WebhookRefusal::NotYetVerifiable(e.to_string()))
            }
            Err(e) => return Err(unauthenticated(403, e.to_string())),
        }
        let notifications = parse(&value).ok_or(WebhookRefusal::Malformed)?;
        Ok(Received::Notifications {
            notifications,
            ack_status: 204,
        })
    }
}

/// The collection a notified data type belongs to; `None` for data we do not import.
fn collection(data_type: &str) -> Option<Collection> {
    match data_type {
        "steps" | "distance" | "total-calories" | "active-minutes" | "active-zone-minutes" => {
            Some(Collection::Activities)
        }
        "sleep" => Some(Collection::Sleep),
        "weight" => Some(Collection::Body),
        _ => None,
    }
}

/// A notification body's work; `None` if it is neither an object nor an array.
pub fn parse(value: &Value) -> Option<Notifications> {
    let entries: Vec<&Value> = match value {
        Value::Array(entries) => entries.iter().collect(),
        object @ Value::Object(_) => vec![object],
        _ => return None,
    };
    let mut out = Notifications {
        received: entries.len(),
        ..Default::default()
    };
    let mut work = BTreeSet::new();
    for entry in entries {
        let data = entry.get("data").filter(|d| d.is_object()).unwrap_or(entry);
        let text = |key: &str| {
            data.get(key)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let (Some(user), Some(data_type)) = (text("healthUserId"), text("dataType")) else {
            out.skipped += 1;
            continue;
        };
        let Some(collection) = collection(data_type) else {
            out.ignored += 1;
            continue;
        };
        let days: BTreeSet<Date> = data
            .get("intervals")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(days_touched)
            .collect();
        if days.is_empty() {
            out.skipped += 1;
            continue;
        }
        for day in days {
            work.insert((user.to_owned(), collection, day));
        }
    }
    out.work = work
        .into_iter()
        .map(|(user, collection, day)| {
            WorkItem::sync(
                ProviderKind::GoogleHealth,
                ProviderUserId(user),
                day,
                vec![collection],
            )
        })
        .collect();
    Some(out)
}

/// The civil days an interval touches, its end exclusive: `[Nov 20 22:00, Nov 21 00:00)`
/// is Nov 20 alone. The civil interval is the person's own days; without one, the
/// ISO 8601 civil form; as a last resort the physical interval's UTC dates.
fn days_touched(interval: &Value) -> Vec<Date> {
    let Some((start, end, end_at_midnight)) = civil(interval)
        .or_else(|| iso8601(interval))
        .or_else(|| physical(interval))
    else {
        return Vec::new();
    };
    let last = if end_at_midnight && end > start {
        end.previous_day().unwrap_or(end)
    } else {
        end
    };
    let mut days = Vec::new();
    let mut day = start;
    while day <= last {
        if days.len() == MAX_DAYS_PER_INTERVAL {
            tracing::warn!(days = MAX_DAYS_PER_INTERVAL, "notification interval cut");
            break;
        }
        days.push(day);
        match day.next_day() {
            Some(next) => day = next,
            None => break,
        }
    }
    days
}

/// `(start date, end date, end is at midnight)`
type Span = (Date, Date, bool);

fn civil(interval: &Value) -> Option<Span> {
    let range: CivilRange =
        serde_json::from_value(interval.get("civilDateTimeInterval")?.clone()).ok()?;
    let at_midnight = |c: &CivilDateTime| {
        c.time
            .is_none_or(|t| t.hours == 0 && t.minutes == 0 && t.seconds == 0 && t.nanos == 0)
    };
    Some((
        range.start.date.to_date()?,
        range.end.date.to_date()?,
        at_midnight(&range.end),
    ))
}

/// `"2026-11-20T22:00:00/2026-11-21T06:30:00"`, or an object with start and end.
fn iso8601(interval: &Value) -> Option<Span> {
    let v = interval.get("civilIso8601TimeInterval")?;
    let (start, end) = match v {
        Value::String(s) => s.split_once('/')?,
        object => (
            object
                .get("start")
                .or_else(|| object.get("startTime"))?
                .as_str()?,
            object
                .get("end")
                .or_else(|| object.get("endTime"))?
                .as_str()?,
        ),
    };
    let date = |s: &str| iso_date::parse(s.get(..10)?);
    // `T00:00:00`, `T00:00:00.000` or no time at all.
    let midnight = end.get(10..).is_none_or(|t| {
        t.trim_start_matches('T')
            .chars()
            .all(|c| matches!(c, '0' | ':' | '.'))
    });
    Some((date(start)?, date(end)?, midnight))
}

/// RFC 3339 instants, taken as UTC dates.
fn physical(interval: &Value) -> Option<Span> {
    let v = interval.get("physicalTimeInterval")?;
    let parse = |key: &str| {
        time::OffsetDateTime::parse(
            v.get(key)?.as_str()?,
            &time::format_description::well_known::Rfc3339,
        )
        .ok()
        .map(|t| t.to_offset(time::UtcOffset::UTC))
    };
    let (start, end) = (parse("startTime")?, parse("endTime")?);
    Some((start.date(), end.date(), end.time() == time::Time::MIDNIGHT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Task;

    fn day(d: u8) -> Date {
        Date::from_calendar_date(2026, time::Month::November, d).unwrap()
    }

    fn civil_interval(start: (u8, u8), end: (u8, u8)) -> Value {
        serde_json::json!({"civilDateTimeInterval": {
            "start": {"date": {"year": 2026, "month": 11, "day": start.0}, "time": {"hours": start.1}},
            "end": {"date": {"year": 2026, "month": 11, "day": end.0}, "time": {"hours": end.1}}}})
    }

    fn days_of(n: &Notifications, user: &str) -> Vec<(Collection, Date)> {
        n.work
            .iter()
            .filter(|w| w.user_id.0 == user)
            .map(|w| match &w.task {
                Task::Sync { date, collections } => (collections[0], *date),
                Task::Revoke { .. } => panic!("no revokes from Google"),
            })
            .collect()
    }

    #[test]
    fn one_item_per_person_collection_and_civil_day_with_exclusive_ends() {
        let body = serde_json::json!([
            {"data": {"version": "1", "healthUserId": "111", "operation": "UPSERT", "dataType": "steps",
                      "intervals": [civil_interval((20, 22), (21, 0))]}},
            // The same day again through another activity type: one item.
            {"data": {"healthUserId": "111", "operation": "UPSERT", "dataType": "distance",
                      "intervals": [civil_interval((20, 8), (20, 9))]}},
            // A night over midnight touches both days.
            {"data": {"healthUserId": "111", "operation": "UPSERT", "dataType": "sleep",
                      "intervals": [civil_interval((20, 23), (21, 7))]}},
            {"data": {"healthUserId": "222", "operation": "DELETE", "dataType": "weight",
                      "intervals": [{"civilIso8601TimeInterval": "2026-11-19T07:00:00/2026-11-19T07:01:00"}]}},
            {"data": {"healthUserId": "222", "dataType": "heart-rate", "intervals": [civil_interval((19, 1), (19, 2))]}},
            {"data": {"dataType": "steps"}},
            {"healthUserId": "333", "dataType": "steps",
             "intervals": [{"physicalTimeInterval": {"startTime": "2026-11-18T10:00:00Z", "endTime": "2026-11-18T11:00:00Z"}}]}
        ]);
        let n = parse(&body).unwrap();
        assert_eq!((n.received, n.skipped, n.ignored), (7, 1, 1));
        assert_eq!(
            days_of(&n, "111"),
            [
                (Collection::Activities, day(20)),
                (Collection::Sleep, day(20)),
                (Collection::Sleep, day(21))
            ]
        );
        assert_eq!(days_of(&n, "222"), [(Collection::Body, day(19))]);
        assert_eq!(days_of(&n, "333"), [(Collection::Activities, day(18))]);
        assert!(n
            .work
            .iter()
            .all(|w| w.provider == ProviderKind::GoogleHealth));
    }

    #[test]
    fn a_single_object_and_hostile_intervals() {
        let one = serde_json::json!({"data": {"healthUserId": "1", "dataType": "weight",
            "intervals": [civil_interval((20, 0), (20, 0))]}});
        assert_eq!(
            parse(&one).unwrap().work.len(),
            1,
            "an empty interval still names its day"
        );
        let huge = serde_json::json!({"data": {"healthUserId": "1", "dataType": "steps",
            "intervals": [{"civilDateTimeInterval": {
                "start": {"date": {"year": 1, "month": 1, "day": 1}},
                "end": {"date": {"year": 9999, "month": 12, "day": 31}}}}]}});
        assert_eq!(parse(&huge).unwrap().work.len(), MAX_DAYS_PER_INTERVAL);
        let backwards = serde_json::json!({"data": {"healthUserId": "1", "dataType": "steps",
            "intervals": [civil_interval((21, 0), (20, 0))]}});
        assert_eq!(parse(&backwards).unwrap().work.len(), 0);
        let nonsense = serde_json::json!({"data": {"healthUserId": "1", "dataType": "steps",
            "intervals": [{"civilDateTimeInterval": {"start": {"date": {"year": 2026, "month": 13, "day": 40}}}}, 7, "x"]}});
        assert_eq!(parse(&nonsense).unwrap().skipped, 1);
        assert!(parse(&serde_json::json!(42)).is_none());
    }
}
