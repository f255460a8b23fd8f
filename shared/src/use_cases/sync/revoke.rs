//! A revocation: the person revoked access, deleted their account, or was disconnected.
//!
//! Invariant: nothing kept about a disconnected person outlives the disconnect by more
//! than the retention ([`SyncService::retention`]): the tombstone (it holds the contact
//! key and the customer ref), the contact's import ledger, signal history and signal state
//! all expire at the revocation's time plus the retention — whether or not the provider
//! ever says the account is gone (Google never does). A deleted account's history goes at
//! once, and the rest after [`ACCOUNT_DELETION_GRACE`] if that is sooner. A person who
//! connects again meanwhile is untouched: the new connection is another item than the
//! tombstone and never expires, and what it writes again to the ledger and the history is
//! kept. Erasing a person at once is the operator's `fitbridge-admin people forget`.

use crate::domain::PersonKey;
use time::OffsetDateTime;

use super::SyncService;
use crate::domain::Collection;
use crate::ports::store::{Ending, Revocation};

/// How long the tombstone and import ledger of a deleted account outlive it (unless the
/// retention is shorter): late and retried messages about the account still find the
/// tombstone and do nothing (parked work is kept as long), and then nothing about the
/// person remains here.
pub const ACCOUNT_DELETION_GRACE: time::Duration = time::Duration::days(30);

/// The retention ([`SyncService::retention`]) unless configured otherwise, in days.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;
/// The longest retention that may be configured, in days (ten years).
pub const MAX_RETENTION_DAYS: u32 = 3650;

impl SyncService {
    /// The person revoked access, deleted their account, or is disconnected: remove
    /// subscriptions while the token may still work, revoke the grant at the provider,
    /// forget the tokens, then flag the contact in SAP with a disconnect interaction.
    ///
    /// The tokens go first, so a marketing system that refuses the flag never keeps a
    /// revoked person's work running; the tombstone remembers the flag is due, and a
    /// retry writes it (exactly once: its source object is the revocation's). A
    /// revocation issued before the person's latest consent is stale and touches nothing.
    ///
    /// Every disconnect also sets what is kept about the person to expire (module docs)
    /// before the flag is written, so a marketing system that refuses the flag cannot keep
    /// it either.
    pub(super) async fn revoke(
        &self,
        person: &PersonKey,
        issued_at: OffsetDateTime,
        account_deleted: bool,
    ) -> Result<(), String> {
        let (kind, user_id) = (person.provider, &person.user_id);
        // The stored tokens, whatever their state: a revoked token cannot be refreshed.
        let stored = self
            .connections
            .get(person)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(connection) = stored {
            if connection.consented_at.is_some_and(|at| at > issued_at) {
                tracing::info!(provider = %kind, user_id = %user_id,
                    "stale revocation ignored: the person connected again after it");
                return Ok(());
            }
            if let Some(provider) = self.providers.get(kind) {
                let subscribed: Vec<Collection> =
                    connection.subscriptions.iter().copied().collect();
                provider
                    .unsubscribe(&connection.tokens.access_token, user_id, &subscribed)
                    .await;
                // The grant may already be gone (the person revoked it themselves); when the
                // disconnect starts here, this is what ends it at the provider. Best effort:
                // the tokens are forgotten below either way.
                if let Err(e) = provider.revoke(&connection.tokens).await {
                    tracing::info!(provider = %kind, user_id = %user_id, error = %e,
                        "revocation at the provider failed; tokens are forgotten anyway");
                }
            }
            match self
                .connections
                .revoke(person, Ending::Disconnected, issued_at)
                .await
                .map_err(|e| e.to_string())?
            {
                Revocation::Stale => {
                    tracing::info!(provider = %kind, user_id = %user_id,
                        "stale revocation ignored: the person connected again meanwhile");
                    return Ok(());
                }
                Revocation::Revoked(_) | Revocation::NotConnected => {}
            }
        }
        self.forget(person, account_deleted).await?;
        let Some(tombstone) = self
            .connections
            .tombstone(person)
            .await
            .map_err(|e| e.to_string())?
            .filter(|t| t.flag_pending)
        else {
            tracing::info!(user_id = %user_id, "revocation for a person not connected; nothing to do");
            return Ok(());
        };
        self.interactions
            .record_disconnect(&tombstone.contact, kind, tombstone.revoked_at)
            .await
            .map_err(|e| format!("tokens deleted; the disconnect flag is not in SAP yet: {e}"))?;
        self.connections
            .mark_flagged(person, tombstone.revoked_at)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(provider = %kind, user_id = %user_id,
            "access revoked: tokens deleted, contact flagged, no further work");
        Ok(())
    }

    /// Sets what is kept about a disconnected person to expire at the revocation's time
    /// plus the retention: their tombstone, and their contact's import ledger, signal
    /// history and state. A deleted account's history is deleted now instead, and its
    /// tombstone and ledger expire after the grace period if that is sooner. Each step
    /// keeps an earlier time already set, so a retry finishes what a timeout interrupted
    /// and changes nothing else.
    pub(super) async fn forget(
        &self,
        person: &PersonKey,
        account_deleted: bool,
    ) -> Result<(), String> {
        let (kind, user_id) = (person.provider, &person.user_id);
        let Some(tombstone) = self
            .connections
            .tombstone(person)
            .await
            .map_err(|e| e.to_string())?
            .filter(|t| t.ending == Ending::Disconnected)
        else {
            // Never connected, expired already, or migrated: the contact lives on at the
            // successor.
            return Ok(());
        };
        let mut at = tombstone.revoked_at + self.retention;
        if account_deleted {
            at = at.min(self.clock.now() + ACCOUNT_DELETION_GRACE);
        }
        let Some(tombstone) = self
            .connections
            .forget(person, at)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(());
        };
        let at = tombstone.forget_at.unwrap_or(at);
        let expiring = self
            .ledger
            .expire(&tombstone.contact, at)
            .await
            .map_err(|e| {
                format!("tokens deleted; the import ledger is not set to expire yet: {e}")
            })?;
        if account_deleted {
            let history = self.signals.forget(&tombstone.contact).await.map_err(|e| {
                format!("tokens deleted; the signal history is not deleted yet: {e}")
            })?;
            tracing::info!(provider = %kind, user_id = %user_id, ledger_entries = expiring,
                history_items = history, expires_at = %at,
                "account deleted: history deleted, what else is kept expires");
        } else {
            let history = self
                .signals
                .expire(&tombstone.contact, at)
                .await
                .map_err(|e| {
                    format!("tokens deleted; the signal history is not set to expire yet: {e}")
                })?;
            tracing::info!(provider = %kind, user_id = %user_id, ledger_entries = expiring,
                history_items = history, expires_at = %at,
                "disconnected: what is kept about the person expires after the retention");
        }
        Ok(())
    }
}
