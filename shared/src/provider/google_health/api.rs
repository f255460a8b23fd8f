//! HTTP to Google: the classification of its error answers, and the per-person request
//! budget that keeps us under 300 requests per person per minute.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::{Response, StatusCode};

use super::model::ApiError;
use crate::ports::provider::ProviderError;

/// Google's documented limit per person and minute.
pub const REQUESTS_PER_PERSON_PER_MINUTE: usize = 300;
const WINDOW: Duration = Duration::from_secs(60);
/// How long to wait after a 429, which has no documented Retry-After: the limit's window.
const RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

pub(super) fn transport_error(e: reqwest::Error) -> ProviderError {
    // `without_url`: URLs may carry codes or tokens in their query.
    ProviderError::Unavailable {
        reason: e.without_url().to_string(),
    }
}

fn retry_after(response: &Response) -> Duration {
    response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|secs| Duration::from_secs(secs.min(3600)))
        .unwrap_or(RATE_LIMIT_WAIT)
}

/// What says a 403 is about the token's scopes: Google's `ErrorInfo` reason, or the
/// `WWW-Authenticate` challenge (RFC 6750) it sends with it.
const SCOPE_INSUFFICIENT: &str = "ACCESS_TOKEN_SCOPE_INSUFFICIENT";

/// A non-success answer of the Health API (`{"error":{"code","message","status"}}`),
/// classified by what fixes it. Only the status word is kept: messages may echo input.
pub(super) async fn classify_api_error(response: Response) -> ProviderError {
    let status = response.status();
    let wait = retry_after(&response);
    let scope_challenge = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("insufficient_scope"));
    let error = response
        .json::<ApiError>()
        .await
        .map(|e| e.error)
        .unwrap_or_default();
    let scope_missing =
        scope_challenge || error.details.iter().any(|d| d.reason == SCOPE_INSUFFICIENT);
    let project_quota = error.details.iter().any(|d| {
        d.metadata
            .get("quota_limit")
            .is_some_and(|limit| is_project_limit(limit))
    });
    let word = error.status;
    match status {
        // Google does not tell an expired token from a revoked one: refresh, and a dead
        // refresh token then says `invalid_grant`.
        StatusCode::UNAUTHORIZED => ProviderError::AccessTokenExpired,
        // The person withdrew a scope: skip what it covered. Every other 403 (the API not
        // enabled for the project, a proxy's page) is the deployment's to fix, and the
        // work must wait for that rather than be skipped as if nobody wanted it.
        StatusCode::FORBIDDEN if scope_missing => ProviderError::InsufficientScope,
        // The whole project's quota: every worker waits, not only this person's work.
        StatusCode::TOO_MANY_REQUESTS if project_quota => {
            ProviderError::QuotaExhausted { retry_after: wait }
        }
        StatusCode::TOO_MANY_REQUESTS => ProviderError::RateLimited { retry_after: wait },
        StatusCode::GONE => ProviderError::Gone,
        s if s.is_server_error() => ProviderError::Unavailable {
            reason: format!("HTTP {} {word}", s.as_u16()),
        },
        s => ProviderError::Rejected {
            status: s.as_u16(),
            error_type: word,
        },
    }
}

/// Whether a 429's `quota_limit` is a limit of the whole project: Google names its per-user
/// limits so ("Requests per minute per user", `…PerMinutePerUser`). A 429 that names no
/// limit is taken as the person's, which holds back only their work.
fn is_project_limit(limit: &str) -> bool {
    let limit: String = limit
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    !limit.contains("peruser")
}

/// A non-success answer of Google's OAuth endpoints (RFC 6749 errors).
pub(super) async fn classify_oauth_error(response: Response) -> ProviderError {
    let status = response.status();
    let wait = retry_after(&response);
    let error = crate::provider::oauth2::error_code(response).await;
    match status {
        StatusCode::BAD_REQUEST if error == "invalid_grant" => ProviderError::InvalidGrant,
        StatusCode::TOO_MANY_REQUESTS => ProviderError::RateLimited { retry_after: wait },
        s if s.is_server_error() => ProviderError::Unavailable {
            reason: format!("HTTP {}", s.as_u16()),
        },
        s => ProviderError::Rejected {
            status: s.as_u16(),
            error_type: error,
        },
    }
}

/// Requests per person in the last minute, per container. Google counts across all our
/// containers, so this cannot promise the limit; it keeps one container's burst (a
/// backfill, a batch of ten of one person's days) from earning a 429, and a 429 that
/// still comes waits like this without counting towards the DLQ.
#[derive(Default)]
pub(super) struct RequestBudget {
    sent: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RequestBudget {
    /// Takes `n` requests of the person's budget, or says how long until they fit.
    pub fn take(&self, user: &str, n: usize, now: Instant) -> Result<(), ProviderError> {
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        // Forget people idle for a minute, so the map stays as small as the batch.
        sent.retain(|_, times| {
            times
                .back()
                .is_some_and(|t| now.duration_since(*t) < WINDOW)
        });
        let times = sent.entry(user.to_owned()).or_default();
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            times.pop_front();
        }
        if times.len() + n > REQUESTS_PER_PERSON_PER_MINUTE {
            let oldest_needed = times.len() + n - REQUESTS_PER_PERSON_PER_MINUTE - 1;
            let frees_at = times
                .get(oldest_needed)
                .map(|t| *t + WINDOW)
                .unwrap_or(now + WINDOW);
            return Err(ProviderError::RateLimited {
                retry_after: frees_at.saturating_duration_since(now) + Duration::from_secs(1),
            });
        }
        times.extend(std::iter::repeat_n(now, n));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        let mut builder = http::Response::builder().status(status);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        Response::from(builder.body(body.to_owned()).unwrap())
    }

    #[tokio::test]
    async fn only_a_403_about_scopes_skips_the_work() {
        let scope_reason = r#"{"error":{"code":403,"status":"PERMISSION_DENIED",
            "message":"Request had insufficient authentication scopes.",
            "details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"ACCESS_TOKEN_SCOPE_INSUFFICIENT"}]}}"#;
        assert!(matches!(
            classify_api_error(answer(403, &[], scope_reason)).await,
            ProviderError::InsufficientScope
        ));
        let challenge = [(
            "www-authenticate",
            r#"Bearer realm="https://accounts.google.com/", error="insufficient_scope""#,
        )];
        assert!(matches!(
            classify_api_error(answer(403, &challenge, "")).await,
            ProviderError::InsufficientScope
        ));
        // The API disabled for the project, or a proxy's page: not the person's choice.
        let disabled = r#"{"error":{"code":403,"status":"PERMISSION_DENIED",
            "message":"Google Health API has not been used in project 1 before or it is disabled.",
            "details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"SERVICE_DISABLED"}]}}"#;
        for (body, word) in [
            (disabled, "PERMISSION_DENIED"),
            ("<html><h1>403 Forbidden</h1></html>", ""),
        ] {
            match classify_api_error(answer(403, &[], body)).await {
                ProviderError::Rejected { status, error_type } => {
                    assert_eq!((status, error_type.as_str()), (403, word))
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_429_for_the_projects_quota_holds_every_worker_and_a_persons_only_theirs() {
        let quota = |limit: &str| {
            format!(
                r#"{{"error":{{"code":429,"status":"RESOURCE_EXHAUSTED",
                "message":"Quota exceeded for quota metric 'Requests' and limit '{limit}'.",
                "details":[{{"@type":"type.googleapis.com/google.rpc.ErrorInfo",
                "reason":"RATE_LIMIT_EXCEEDED","domain":"googleapis.com",
                "metadata":{{"quota_limit":"{limit}","consumer":"project_number:1"}}}}]}}}}"#
            )
        };
        for limit in ["Requests per minute", "DefaultRequestsPerMinutePerProject"] {
            let e = classify_api_error(answer(429, &[], &quota(limit))).await;
            assert!(
                matches!(e, ProviderError::QuotaExhausted { retry_after } if retry_after == RATE_LIMIT_WAIT),
                "{limit}: {e:?}"
            );
        }
        for limit in [
            "Requests per minute per user",
            "ReadRequestsPerMinutePerUser",
        ] {
            let e = classify_api_error(answer(429, &[("retry-after", "7")], &quota(limit))).await;
            assert!(
                matches!(e, ProviderError::RateLimited { retry_after } if retry_after == Duration::from_secs(7)),
                "{limit}: {e:?}"
            );
        }
        // Without the quota's name (a proxy, an older answer): the person's.
        let bare = r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"slow down"}}"#;
        assert!(matches!(
            classify_api_error(answer(429, &[], bare)).await,
            ProviderError::RateLimited { .. }
        ));
    }

    #[test]
    fn the_budget_allows_300_a_minute_per_person() {
        let budget = RequestBudget::default();
        let start = Instant::now();
        for i in 0..75 {
            budget
                .take("a", 4, start + Duration::from_millis(i))
                .unwrap();
        }
        let refused = budget.take("a", 4, start + Duration::from_secs(1));
        let Err(ProviderError::RateLimited { retry_after }) = refused else {
            panic!("{refused:?}");
        };
        assert!(retry_after <= Duration::from_secs(61) && retry_after >= Duration::from_secs(59));
        // Another person has their own budget; a minute later the first one has again.
        budget.take("b", 4, start + Duration::from_secs(1)).unwrap();
        budget
            .take("a", 4, start + Duration::from_secs(61))
            .unwrap();
    }
}
