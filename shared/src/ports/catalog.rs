//! Port: what each kind of provider is, whatever a deployment configures — its scope
//! vocabulary, the provider it succeeds, how its people look in SAP by default. The
//! registry builds it; use cases never reach a provider's module for this.

use std::sync::Arc;

use time::Date;

use crate::domain::mapping::InteractionMapping;
use crate::domain::{Collection, ProviderKind, ProviderUserId, Scopes, WorkItem};

pub trait ProviderCatalog: Send + Sync {
    /// The collections a set of granted scopes gives access to, in the provider's own
    /// scope vocabulary.
    fn granted_collections(&self, kind: ProviderKind, scopes: &Scopes) -> Vec<Collection>;

    /// The provider `kind` succeeds, whose people migrate to it keeping their contact.
    fn predecessor(&self, kind: ProviderKind) -> Option<ProviderKind>;

    /// How `kind`'s people and days look in SAP when the configuration says nothing else.
    fn default_mapping(&self, kind: ProviderKind) -> InteractionMapping;

    /// The work that syncs one of a person's days: every collection their scopes grant, in
    /// one item; `None` when they granted no data scope. The daily job queues this for
    /// yesterday, a connect's backfill and an operator's for each day of a range.
    fn sync_work(
        &self,
        kind: ProviderKind,
        user_id: &ProviderUserId,
        scopes: &Scopes,
        date: Date,
    ) -> Option<WorkItem> {
        let collections = self.granted_collections(kind, scopes);
        (!collections.is_empty()).then(|| WorkItem::sync(kind, user_id.clone(), date, collections))
    }
}

/// The catalog as services hold it.
pub type Catalog = Arc<dyn ProviderCatalog>;
