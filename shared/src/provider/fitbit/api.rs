//! Fitbit data API calls and the classification of its error answers.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde::de::DeserializeOwned;

use super::model::ErrorResponse;
use super::FitbitClient;
use super::SubscriptionOutcome;
use crate::domain::Secret;
use crate::ports::provider::ProviderError;

/// Seconds added to Fitbit's reset time: clocks drift, and arriving a little late is
/// cheaper than another 429.
const RATE_LIMIT_SKEW_SECS: u64 = 5;

pub(super) fn transport_error(e: reqwest::Error) -> ProviderError {
    // `without_url`: URLs may carry codes or states in their query.
    ProviderError::Unavailable {
        reason: e.without_url().to_string(),
    }
}

/// Turns a non-success Fitbit response into what the caller should do about it.
pub async fn classify_error(response: Response) -> ProviderError {
    let status = response.status();
    let reset = header_u64(&response, "fitbit-rate-limit-reset");
    let retry_after = header_u64(&response, "retry-after");
    // Only the errorType is kept: Fitbit's messages can echo the token.
    let error_type = response
        .json::<ErrorResponse>()
        .await
        .ok()
        .and_then(|b| b.errors.into_iter().next())
        .map(|e| e.error_type)
        .unwrap_or_default();
    match status {
        StatusCode::GONE => ProviderError::Gone,
        StatusCode::TOO_MANY_REQUESTS => ProviderError::RateLimited {
            // The reset header is the truth; Retry-After is the fallback.
            retry_after: Duration::from_secs(
                reset.or(retry_after).unwrap_or(3600) + RATE_LIMIT_SKEW_SECS,
            ),
        },
        StatusCode::UNAUTHORIZED if error_type == "expired_token" => {
            ProviderError::AccessTokenExpired
        }
        StatusCode::UNAUTHORIZED if error_type == "invalid_client" => ProviderError::Rejected {
            status: status.as_u16(),
            error_type,
        },
        StatusCode::UNAUTHORIZED => ProviderError::InvalidToken,
        StatusCode::BAD_REQUEST if error_type == "invalid_grant" => ProviderError::InvalidGrant,
        StatusCode::FORBIDDEN
            if error_type == "insufficient_scope" || error_type == "insufficient_permissions" =>
        {
            ProviderError::InsufficientScope
        }
        s if s.is_server_error() => ProviderError::Unavailable {
            reason: format!("HTTP {}", s.as_u16()),
        },
        s => ProviderError::Rejected {
            status: s.as_u16(),
            error_type,
        },
    }
}

fn header_u64(response: &Response, name: &str) -> Option<u64> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

impl FitbitClient {
    pub(super) async fn get_json<T: DeserializeOwned>(
        &self,
        access_token: &Secret,
        url: &str,
    ) -> Result<T, ProviderError> {
        let response = self
            .http
            .get(url)
            // No Accept-Language: Fitbit then answers in metric units (km, kg), whatever the
            // person's own setting; en_US would switch to miles and pounds.
            .bearer_auth(access_token.expose())
            .send()
            .await
            .map_err(transport_error)?;
        if !response.status().is_success() {
            return Err(classify_error(response).await);
        }
        response.json().await.map_err(|e| ProviderError::Malformed {
            reason: e.without_url().to_string(),
        })
    }

    pub(super) async fn delete_subscription(
        &self,
        access_token: &Secret,
        url: &str,
    ) -> Result<(), ProviderError> {
        let response = self
            .http
            .delete(url)
            .bearer_auth(access_token.expose())
            .send()
            .await
            .map_err(transport_error)?;
        match response.status() {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
            _ => Err(classify_error(response).await),
        }
    }

    pub(super) async fn create_subscription(
        &self,
        access_token: &Secret,
        url: &str,
    ) -> Result<SubscriptionOutcome, ProviderError> {
        let response = self
            .http
            .post(url)
            .bearer_auth(access_token.expose())
            .header("Content-Length", "0")
            .send()
            .await
            .map_err(transport_error)?;
        match response.status() {
            StatusCode::CREATED => Ok(SubscriptionOutcome::Created),
            StatusCode::OK => Ok(SubscriptionOutcome::AlreadyExists),
            StatusCode::CONFLICT => Ok(SubscriptionOutcome::Conflict),
            _ => Err(classify_error(response).await),
        }
    }
}
