//! The one failure policy of the worker: every failure that can stop a work item maps to
//! what fixes it ([`Remedy`]), decided here and nowhere else.

use std::time::Duration;

use crate::ports::provider::ProviderError;
use crate::ports::tokens::TokenError;

/// How soon to look again when another refresher holds the person's lease.
pub(super) const OTHER_REFRESHER: Duration = Duration::from_secs(10);
/// Provider answers that say the request itself will never succeed.
const PERMANENT_STATUSES: [u16; 5] = [400, 404, 405, 409, 422];

/// What fixes a failure: the one failure policy of this use case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Remedy {
    /// The access token died early: the retry queue's consumer refreshes it once.
    RefreshToken,
    /// The person must act first (consent again, migrate): park their work.
    Park(&'static str),
    /// The provider API is switched off: mark the person `provider_gone`, park.
    ProviderGone,
    /// The person has not accepted the provider's own mandatory consents: mark them
    /// `consents_missing`, park. Only they can fix it, at the provider; a reconnect
    /// afterwards resumes the parked work.
    ConsentsMissing,
    /// Nothing can or need be done for this work (logged).
    Skip(&'static str),
    /// Wait for the provider's rate-limit reset.
    WaitForReset(Duration),
    /// Another worker is on it: look again shortly.
    RetrySoon(Duration),
    /// Transient: back off.
    Backoff,
}

/// Every failure that can stop a work item.
pub(super) enum Failure<'a> {
    Provider(&'a ProviderError),
    Token(&'a TokenError),
}

pub(super) fn remedy(failure: Failure<'_>) -> Remedy {
    match failure {
        Failure::Provider(e) => match e {
            ProviderError::AccessTokenExpired | ProviderError::InvalidToken => Remedy::RefreshToken,
            ProviderError::InsufficientScope => Remedy::Skip("scope no longer granted"),
            ProviderError::RateLimited { retry_after }
            | ProviderError::QuotaExhausted { retry_after } => Remedy::WaitForReset(*retry_after),
            ProviderError::Gone => Remedy::ProviderGone,
            ProviderError::ConsentsMissing => Remedy::ConsentsMissing,
            ProviderError::InvalidGrant => Remedy::Park("needs_reconsent"),
            // The provider refuses this request as it is (no such day or person, a request
            // it cannot serve): retrying cannot help, so the work is set aside with the
            // reason instead of cycling to the DLQ. Credentials refused (401/403 without a
            // person-specific meaning) are a deployment problem: back off until fixed.
            ProviderError::Rejected { status, .. } if PERMANENT_STATUSES.contains(status) => {
                Remedy::Park("rejected by the provider")
            }
            ProviderError::Rejected { .. }
            | ProviderError::Unavailable { .. }
            | ProviderError::Malformed { .. }
            | ProviderError::Credentials(_) => Remedy::Backoff,
        },
        Failure::Token(e) => match e {
            TokenError::NotConnected => Remedy::Skip("person not connected"),
            TokenError::Parked(status) => Remedy::Park(status),
            TokenError::NeedsReconsent => Remedy::Park("needs_reconsent"),
            TokenError::Gone => Remedy::Park("provider_gone"),
            TokenError::Busy => Remedy::RetrySoon(OTHER_REFRESHER),
            TokenError::Provider(e) => match remedy(Failure::Provider(e)) {
                wait @ Remedy::WaitForReset(_) => wait,
                _ => Remedy::Backoff,
            },
            TokenError::Store(_) => Remedy::Backoff,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_has_one_remedy() {
        let p = |e: ProviderError| remedy(Failure::Provider(&e));
        assert_eq!(p(ProviderError::AccessTokenExpired), Remedy::RefreshToken);
        assert_eq!(p(ProviderError::InvalidToken), Remedy::RefreshToken);
        assert_eq!(p(ProviderError::Gone), Remedy::ProviderGone);
        assert_eq!(p(ProviderError::ConsentsMissing), Remedy::ConsentsMissing);
        assert_eq!(
            p(ProviderError::RateLimited {
                retry_after: Duration::from_secs(7)
            }),
            Remedy::WaitForReset(Duration::from_secs(7))
        );
        assert!(matches!(
            p(ProviderError::InsufficientScope),
            Remedy::Skip(_)
        ));
        assert_eq!(
            p(ProviderError::Unavailable { reason: "x".into() }),
            Remedy::Backoff
        );
        let rejected = |status| ProviderError::Rejected {
            status,
            error_type: String::new(),
        };
        assert_eq!(p(rejected(404)), Remedy::Park("rejected by the provider"));
        assert_eq!(p(rejected(400)), Remedy::Park("rejected by the provider"));
        assert_eq!(
            p(rejected(401)),
            Remedy::Backoff,
            "invalid_client: fix the deployment"
        );
        let t = |e: TokenError| remedy(Failure::Token(&e));
        assert_eq!(
            t(TokenError::NeedsReconsent),
            Remedy::Park("needs_reconsent")
        );
        assert_eq!(t(TokenError::Gone), Remedy::Park("provider_gone"));
        assert_eq!(t(TokenError::Busy), Remedy::RetrySoon(OTHER_REFRESHER));
        assert!(matches!(t(TokenError::NotConnected), Remedy::Skip(_)));
        assert_eq!(
            t(TokenError::Provider(ProviderError::RateLimited {
                retry_after: Duration::from_secs(3)
            })),
            Remedy::WaitForReset(Duration::from_secs(3))
        );
        assert_eq!(
            t(TokenError::Provider(ProviderError::InvalidToken)),
            Remedy::Backoff
        );
        // A person marked `consents_missing` has their later work parked under that name.
        assert_eq!(
            t(TokenError::Parked("consents_missing")),
            Remedy::Park("consents_missing")
        );
    }
}
