//! HTTP to AccessLink and Polar's token endpoint: every `/v3` call goes through
//! [`PolarClient::call`] (the partner budget asked first, its headers learnt from after),
//! and error answers are classified by what fixes them.

use reqwest::{RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;

use super::model::ApiError;
use super::rate_limit::{retry_after, Windows};
use super::PolarClient;
use crate::domain::ProviderKind;
use crate::ports::budget::BudgetScope;
use crate::ports::provider::ProviderError;

/// The `errorType` of a data call for a person not registered to the partner (the page
/// does not document one; this is what the sandbox answers). The client registers the
/// person and asks once more.
pub(super) const NOT_REGISTERED: &str = "UserNotRegistered";

pub(super) fn transport_error(e: reqwest::Error) -> ProviderError {
    // `without_url`: URLs may carry codes in their query.
    ProviderError::Unavailable {
        reason: e.without_url().to_string(),
    }
}

/// A non-success answer of the `/v3` API, by what fixes it (only the `errorType` is kept:
/// messages may echo input).
pub(super) fn classify_api(
    status: StatusCode,
    error_type: String,
    windows: Option<Windows>,
) -> ProviderError {
    match status {
        // Polar's tokens do not expire: the person revoked the partner, or was
        // de-registered. Nothing to refresh; the refresher's `refresh` says so.
        StatusCode::UNAUTHORIZED => ProviderError::InvalidToken,
        StatusCode::FORBIDDEN if error_type == NOT_REGISTERED => ProviderError::Rejected {
            status: status.as_u16(),
            error_type,
        },
        // The page's one 403: "User has not accepted all mandatory consents".
        StatusCode::FORBIDDEN => ProviderError::ConsentsMissing,
        StatusCode::TOO_MANY_REQUESTS => ProviderError::RateLimited {
            retry_after: retry_after(windows),
        },
        StatusCode::GONE => ProviderError::Gone,
        s if s.is_server_error() => ProviderError::Unavailable {
            reason: format!("HTTP {} {error_type}", s.as_u16()),
        },
        s => ProviderError::Rejected {
            status: s.as_u16(),
            error_type,
        },
    }
}

/// A non-success answer of the token endpoint (`400 {"error": "..."}`).
pub(super) fn classify_oauth(status: StatusCode, error: String) -> ProviderError {
    match status {
        StatusCode::BAD_REQUEST if error == "invalid_grant" => ProviderError::InvalidGrant,
        StatusCode::TOO_MANY_REQUESTS => ProviderError::RateLimited {
            retry_after: retry_after(None),
        },
        s if s.is_server_error() => ProviderError::Unavailable {
            reason: format!("HTTP {}", s.as_u16()),
        },
        s => ProviderError::Rejected {
            status: s.as_u16(),
            error_type: error,
        },
    }
}

pub(super) async fn oauth_error(response: Response) -> ProviderError {
    let status = response.status();
    let error = crate::provider::oauth2::error_code(response).await;
    classify_oauth(status, error)
}

pub(super) async fn read_json<T: DeserializeOwned>(
    response: Response,
    what: &str,
) -> Result<T, ProviderError> {
    response.json().await.map_err(|e| ProviderError::Malformed {
        reason: format!("{what}: {}", e.without_url()),
    })
}

impl PolarClient {
    /// One `/v3` request: refused without sending while the partner's budget is used up;
    /// its `RateLimit-*` headers learnt from whatever it answers. Success answers and the
    /// statuses in `expected` come back as they are; any other is classified.
    pub(super) async fn call(
        &self,
        request: RequestBuilder,
        expected: &[StatusCode],
    ) -> Result<Response, ProviderError> {
        self.budget.may_call(self.clock.now())?;
        let response = request.send().await.map_err(transport_error)?;
        let windows = Windows::from_headers(response.headers());
        let now = self.clock.now();
        self.budget.observe(windows, now);
        if let Some(w) = windows {
            self.quota
                .reported(BudgetScope::Provider(ProviderKind::Polar), &w.reported(now));
        }
        let status = response.status();
        if status.is_success() || expected.contains(&status) {
            return Ok(response);
        }
        let error_type = response
            .json::<ApiError>()
            .await
            .map(|e| e.error_type)
            .unwrap_or_default();
        let error = classify_api(status, error_type, windows);
        if let ProviderError::RateLimited { retry_after } = &error {
            // Refused: nobody in this container asks again before the reset.
            self.budget.block_for(*retry_after, now);
        }
        Err(error)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn api(status: u16, error_type: &str) -> ProviderError {
        classify_api(
            StatusCode::from_u16(status).unwrap(),
            error_type.to_owned(),
            None,
        )
    }

    #[test]
    fn api_errors_are_classified_by_what_fixes_them() {
        assert!(matches!(
            api(401, "Unauthorized"),
            ProviderError::InvalidToken
        ));
        assert!(matches!(
            api(403, "MandatoryConsentsMissing"),
            ProviderError::ConsentsMissing
        ));
        assert!(matches!(api(403, ""), ProviderError::ConsentsMissing));
        assert!(matches!(
            api(403, NOT_REGISTERED),
            ProviderError::Rejected { status: 403, ref error_type } if error_type == NOT_REGISTERED
        ));
        assert!(matches!(
            api(404, "NotFound"),
            ProviderError::Rejected { status: 404, .. }
        ));
        assert!(matches!(
            api(400, "BadRequest"),
            ProviderError::Rejected { status: 400, .. }
        ));
        assert!(matches!(api(410, ""), ProviderError::Gone));
        for status in [500, 502, 503] {
            assert!(matches!(api(status, ""), ProviderError::Unavailable { .. }));
        }
        let windows = Windows {
            usage: (3, 5_101),
            limit: (520, 5_100),
            reset: (300, 80_000),
        };
        assert!(matches!(
            classify_api(StatusCode::TOO_MANY_REQUESTS, String::new(), Some(windows)),
            ProviderError::RateLimited { retry_after } if retry_after == Duration::from_secs(80_000)
        ));
        assert!(matches!(
            api(429, ""),
            ProviderError::RateLimited { retry_after } if retry_after == Duration::from_secs(900)
        ));
    }

    #[test]
    fn token_errors_are_classified() {
        let oauth = |status: u16, error: &str| {
            classify_oauth(StatusCode::from_u16(status).unwrap(), error.to_owned())
        };
        assert!(matches!(
            oauth(400, "invalid_grant"),
            ProviderError::InvalidGrant
        ));
        assert!(matches!(
            oauth(400, "invalid_client"),
            ProviderError::Rejected { status: 400, .. }
        ));
        assert!(matches!(oauth(503, ""), ProviderError::Unavailable { .. }));
        assert!(matches!(oauth(429, ""), ProviderError::RateLimited { .. }));
    }
}
