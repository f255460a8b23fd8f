//! A revocation: the person revoked access, deleted their account, or was disconnected.

use time::OffsetDateTime;

use super::SyncService;
use crate::domain::{Collection, ProviderKind, ProviderUserId};
use crate::ports::store::{Ending, Revocation};

/// How long the tombstone and import ledger of a deleted account outlive it: late and
/// retried messages about the account still find the tombstone and do nothing (parked work
/// is kept as long), and then nothing about the person remains here.
pub const ACCOUNT_DELETION_GRACE: time::Duration = time::Duration::days(30);

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
    /// A deleted account also sets what is kept about it to expire
    /// ([`ACCOUNT_DELETION_GRACE`]) before the flag is written, so a marketing system that
    /// refuses the flag cannot keep it either.
    pub(super) async fn revoke(
        &self,
        kind: ProviderKind,
        user_id: &ProviderUserId,
        issued_at: OffsetDateTime,
        account_deleted: bool,
    ) -> Result<(), String> {
        // The stored tokens, whatever their state: a revoked token cannot be refreshed.
        let stored = self
            .connections
            .get(kind, user_id)
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
                .revoke(kind, user_id, Ending::Disconnected, issued_at)
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
        if account_deleted {
            self.forget(kind, user_id).await?;
        }
        let Some(tombstone) = self
            .connections
            .tombstone(kind, user_id)
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
            .mark_flagged(kind, user_id, tombstone.revoked_at)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(provider = %kind, user_id = %user_id,
            "access revoked: tokens deleted, contact flagged, no further work");
        Ok(())
    }

    /// Sets the tombstone of a deleted account and its contact's import ledger to expire,
    /// and deletes the contact's signal history (personal data with no further use).
    /// Idempotent, so a retry finishes what a timeout interrupted.
    pub(super) async fn forget(
        &self,
        kind: ProviderKind,
        user_id: &ProviderUserId,
    ) -> Result<(), String> {
        let at = self.clock.now() + ACCOUNT_DELETION_GRACE;
        let Some(tombstone) = self
            .connections
            .forget(kind, user_id, at)
            .await
            .map_err(|e| e.to_string())?
        else {
            // Never connected, or migrated: the contact lives on at the successor.
            return Ok(());
        };
        let expiring = self
            .ledger
            .expire(&tombstone.contact, tombstone.forget_at.unwrap_or(at))
            .await
            .map_err(|e| {
                format!("tokens deleted; the import ledger is not set to expire yet: {e}")
            })?;
        let history =
            self.signals.forget(&tombstone.contact).await.map_err(|e| {
                format!("tokens deleted; the signal history is not deleted yet: {e}")
            })?;
        tracing::info!(provider = %kind, user_id = %user_id, ledger_entries = expiring,
            history_items = history,
            "account deleted: history deleted, what else is kept expires after the grace period");
        Ok(())
    }
}
