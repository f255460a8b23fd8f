//! SAP Marketing Cloud sandbox: the OData V2 services fitbridge writes to, speaking the
//! real wire format under `/sap/opu/odata/sap/`:
//!
//! - `API_MKT_CONTACT_SRV;v=0004` (and `;v=0002`): contacts, upserted with
//!   `PUT ContactOriginData(...)` and `PUT AdditionalIDs(...)`, usually inside `$batch`;
//!   their marketing attributes, added inline in that `PUT` (a deep upsert of
//!   `MarketingAttributes`), removed with `DELETE MarketingAttributes(...)` and read from the
//!   set (with `$filter`) or through `ContactOriginData(...)/MarketingAttributes`;
//! - `API_MKT_INTERACTION_SRV`: `POST Interactions`, which is *not* idempotent, updates with
//!   `PATCH`/`MERGE`/`PUT Interactions(guid'...')`, and reads with `$filter` (the contract
//!   marks the set `sap:requires-filter`, so a read without one is refused);
//! - `CUAN_IMPORT_SRV`: `POST ImportHeaders` with contacts and interactions as deep insert.
//!
//! Like a tenant it requires HTTP Basic auth and CSRF tokens bound to a session cookie,
//! validates every written entity against the published EDMX contracts (plus configured
//! tenant extension fields) and applies `$batch` changesets atomically, answering each
//! operation with its own status line. Stored data, counters and fault injection are exposed
//! under `/_admin/sap/` and as methods on [`SapSandbox`].
//!
//! `$batch` response format (status 202, `Content-Type: multipart/mixed; boundary=batch_<hex>`):
//! every top-level request part gets one response part, in order. A retrieval is answered by
//! an `application/http` part; a changeset that succeeded by a nested
//! `multipart/mixed; boundary=changeset_<hex>` part with one `application/http` part per
//! operation (`HTTP/1.1 204 No Content` for an upsert, `HTTP/1.1 201 Created` plus
//! `{"d":{...}}` for a create); a changeset that failed by a single `application/http` part
//! with the failing operation's status and SAP error JSON, nothing of it applied.
//!
//! Marketing attributes (the contract's `MarketingAttribute`, keyed by contact, category and
//! value):
//! - `PUT ContactOriginData(...)` may carry `MarketingAttributes` inline (`[..]` or
//!   `{"results":[..]}`): the contact is upserted as without them, and each attribute is
//!   added unless the contact already has that category and value. Nothing is removed: an
//!   attribute goes only with `DELETE MarketingAttributes(...)` (204; 404 if the contact has
//!   no such attribute). Inline entities are validated against `MarketingAttribute` (types,
//!   MaxLength, Nullable); their `ContactOrigin`/`ContactID` may be left out and, if sent,
//!   must agree with the parent's key (else 400); properties the contract marks
//!   `sap:creatable="false"` (the UUIDs) are type-checked and ignored.
//! - `POST MarketingAttributes` is refused (405: the set is `sap:creatable="false"`), as is
//!   an inline write in `PATCH`/`MERGE` (400: no deep update).
//! - Reads: the set (usually with `$filter=ContactOrigin eq '..' and ContactID eq '..'`),
//!   one entity by its key, and `ContactOriginData(...)/MarketingAttributes` (404 for an
//!   unknown contact). `$expand` answers 501.
//! - The published contract does not say how a deep upsert treats attributes it does not
//!   list; the sandbox keeps them (assumed), so clients remove what is stale explicitly.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

mod admin;
mod edmx;
mod error;
mod gateway;
mod multipart;
mod ops;
mod query;
mod uri;
mod validate;

#[cfg(test)]
mod tests;

use edmx::{Schema, ServiceKind};

pub use crate::faults::RawAnswer;

/// Service root of the contact API in the version fitbridge uses, relative to the host.
pub const CONTACT_SERVICE_PATH: &str = "/sap/opu/odata/sap/API_MKT_CONTACT_SRV;v=0004";
/// Service root of the interaction API, relative to the host.
pub const INTERACTION_SERVICE_PATH: &str = "/sap/opu/odata/sap/API_MKT_INTERACTION_SRV";
/// Service root of the import service, relative to the host.
pub const IMPORT_SERVICE_PATH: &str = "/sap/opu/odata/sap/CUAN_IMPORT_SRV";

/// A tenant extension field (created with the Custom Fields app) on an entity type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionField {
    /// Technical service name, e.g. `API_MKT_INTERACTION_SRV`.
    pub service: String,
    /// Entity type name, e.g. `Interaction`.
    pub entity_type: String,
    /// Field name, e.g. `YY1_FitbitNumberofStep_MIA`.
    pub name: String,
    /// Edm type, e.g. `Edm.Decimal`.
    pub edm_type: String,
}

impl ExtensionField {
    pub fn new(service: &str, entity_type: &str, name: &str, edm_type: &str) -> Self {
        ExtensionField {
            service: service.to_string(),
            entity_type: entity_type.to_string(),
            name: name.to_string(),
            edm_type: edm_type.to_string(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct SapConfig {
    /// Communication user for HTTP Basic auth.
    pub username: String,
    pub password: String,
    /// Sessions (and with them CSRF tokens) die after this long without a request.
    pub session_idle_secs: i64,
    /// Extension fields the tenant has added to the services' entity types.
    pub extension_fields: Vec<ExtensionField>,
}

impl Default for SapConfig {
    fn default() -> Self {
        SapConfig {
            username: "FITBRIDGE_COMM".to_string(),
            password: "sandbox-sap-password".to_string(),
            session_idle_secs: 1800,
            // The fields the Fitbit integration needs; CUAN_IMPORT_SRV's Interaction already has
            // them in the published contract, the interaction API gets them by extension.
            extension_fields: ["YY1_FitbitNumberofStep_MIA", "YY1_FitbitAmountofCalo_MIA"]
                .into_iter()
                .map(|name| {
                    ExtensionField::new(
                        "API_MKT_INTERACTION_SRV",
                        "Interaction",
                        name,
                        "Edm.Decimal",
                    )
                })
                .collect(),
        }
    }
}

/// A contact as the tenant stores it, one per origin and ID however often it is written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredContact {
    /// `ContactOrigin` (`IdOrigin` in CUAN_IMPORT_SRV).
    pub origin: String,
    /// `ContactID` (`Id` in CUAN_IMPORT_SRV).
    pub id: String,
    /// All properties as sent, merged over all writes. Writes through CUAN_IMPORT_SRV keep
    /// their field names and also get the contact API's names (`EMailAddress` is also stored
    /// as `EmailAddress`, `DateOfBirth` as `BirthDate`, ...), so either can be checked.
    pub fields: Map<String, Value>,
    pub additional_ids: Vec<AdditionalId>,
    /// Marketing attributes (`MarketingAttributes` of `ContactOriginData`), in the order they
    /// were added; never two with the same category and value.
    #[serde(default)]
    pub marketing_attributes: Vec<MarketingAttribute>,
    /// From the last write's `Sap-Cuan-SourceSystemType` header (or import header field).
    pub source_system_type: Option<String>,
    pub source_system_id: Option<String>,
    /// The service of the last write: `API_MKT_CONTACT_SRV` or `CUAN_IMPORT_SRV`.
    pub via: String,
    /// How many writes of the contact itself were applied (not counting additional IDs).
    pub write_count: u32,
}

impl StoredContact {
    /// A string field, for assertions.
    pub fn field_str(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Value::as_str)
    }

    /// The values the contact has for a marketing attribute category, in the order added.
    pub fn marketing_attribute_values(&self, category: &str) -> Vec<&str> {
        self.marketing_attributes
            .iter()
            .filter(|a| a.category == category)
            .map(|a| a.value.as_str())
            .collect()
    }
}

/// An additional ID of a contact (`InteractionContactAdditionalOrigin`/`...ExternalID`,
/// or a facet in CUAN_IMPORT_SRV).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdditionalId {
    pub origin: String,
    pub id: String,
}

/// A marketing attribute of a contact: its key within the contact is category and value, so
/// a contact may have several values of one category.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketingAttribute {
    /// `MarketingAttributeCategory`, e.g. `FITBRIDGE_ACTIVITY_SCORE`.
    pub category: String,
    /// `MarketingAttributeValue`, e.g. `74`.
    pub value: String,
}

impl MarketingAttribute {
    pub fn new(category: &str, value: &str) -> Self {
        MarketingAttribute {
            category: category.to_string(),
            value: value.to_string(),
        }
    }
}

/// An interaction as received; every create is stored, so duplicates are visible.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredInteraction {
    /// `InteractionUUID`, generated unless the client sent one.
    pub uuid: String,
    /// RFC 3339 time the sandbox stored it.
    pub received_at: String,
    /// All properties as sent. Interactions imported through CUAN_IMPORT_SRV also get the
    /// interaction API's names (`ContactId` is also stored as `InteractionContactId`,
    /// `SourceObjectId` as `InteractionSourceObject`, `Timestamp` as `InteractionTimeStampUTC`, ...).
    pub fields: Map<String, Value>,
    pub source_system_type: Option<String>,
    pub source_system_id: Option<String>,
    /// `API_MKT_INTERACTION_SRV` or `CUAN_IMPORT_SRV`.
    pub via: String,
    /// The `ImportHeaders` Id the interaction came with (CUAN_IMPORT_SRV only).
    pub import_header_id: Option<String>,
    /// How many updates (`PATCH`/`MERGE`/`PUT`) were applied since the create.
    #[serde(default)]
    pub update_count: u32,
}

impl StoredInteraction {
    /// A string field, for assertions.
    pub fn field_str(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Value::as_str)
    }
}

/// Counters since start or the last reset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SapStats {
    /// Requests under `/sap`, including rejected ones.
    pub requests: u64,
    /// 401s for missing or wrong Basic credentials.
    pub auth_failures: u64,
    /// Requests with `x-csrf-token: Fetch` answered with a token.
    pub csrf_fetches: u64,
    /// Sessions opened (a fetch without a live session cookie opens one).
    pub sessions_created: u64,
    /// 403s with `x-csrf-token: Required`.
    pub csrf_rejections: u64,
    /// `$batch` requests that passed auth and CSRF.
    pub batches: u64,
    pub changesets_ok: u64,
    pub changesets_failed: u64,
    /// Batch operations (changeset operations and retrievals) that succeeded and were applied.
    pub parts_ok: u64,
    /// Batch operations that failed (the failing operation of a changeset, failed retrievals).
    pub parts_failed: u64,
    /// Operations not applied because another operation of their changeset failed.
    pub parts_rolled_back: u64,
    /// `POST ImportHeaders` requests applied (direct or in a batch).
    pub imports: u64,
    /// `POST Interactions` of the interaction API applied (direct or in a batch; not
    /// counting rolled-back changesets nor interactions imported through CUAN_IMPORT_SRV).
    #[serde(default)]
    pub interaction_creates: u64,
    /// Interaction updates (`PATCH`/`MERGE`/`PUT Interactions(...)`) applied.
    #[serde(default)]
    pub interaction_updates: u64,
    /// `$batch` requests that passed auth and CSRF, by technical service name
    /// (`API_MKT_INTERACTION_SRV`, `API_MKT_CONTACT_SRV`, `CUAN_IMPORT_SRV`).
    #[serde(default)]
    pub batches_per_service: BTreeMap<String, u64>,
    /// Requests answered by an injected `fail_next_requests` failure.
    pub injected_failures: u64,
}

impl SapStats {
    /// `$batch` requests to the service (technical name, e.g. `API_MKT_INTERACTION_SRV`).
    pub fn batches_of(&self, service: &str) -> u64 {
        self.batches_per_service.get(service).copied().unwrap_or(0)
    }
}

/// Active fault injection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SapFaults {
    /// The next this many requests under `/sap` (of any kind, or those whose path and query
    /// contain `fail_requests_matching`) fail with `status`, or get `raw_answer`.
    pub fail_next_requests: u32,
    pub status: u16,
    /// Only requests whose path and query contain this take the failures (e.g. `$batch`, so
    /// the CSRF token fetch before it goes through). Cleared with the last failure.
    #[serde(default)]
    pub fail_requests_matching: Option<String>,
    /// What the failing requests get instead of an OData error with `status`: what a proxy
    /// or a gateway in front of the tenant answers. Cleared with the last failure.
    #[serde(default)]
    pub raw_answer: Option<RawAnswer>,
    /// The tenant processes a failing request first (a write is applied) and the raw answer
    /// replaces its response: an answer cut or replaced on its way back. Otherwise the
    /// request never reaches the tenant. Cleared with the last failure.
    #[serde(default)]
    pub answer_after_processing: bool,
    /// Batch and direct operations whose request line or body contains this fail with
    /// `part_status` (in a changeset: the changeset fails), until cleared.
    pub fail_parts_matching: Option<String>,
    pub part_status: u16,
    /// Delay before every `/sap` response.
    pub latency_ms: u64,
}

impl SapFaults {
    /// What only lasts as long as the `fail_next_requests` failures goes with the last one.
    fn end_of_failures(&mut self) {
        self.fail_requests_matching = None;
        self.raw_answer = None;
        self.answer_after_processing = false;
    }

    /// Uses up one failure if the request takes one: `None` if it does not, else what it
    /// answers.
    fn take_failure(&mut self, target: &str) -> Option<InjectedFailure> {
        let applies = self.fail_next_requests > 0
            && self
                .fail_requests_matching
                .as_deref()
                .is_none_or(|needle| target.contains(needle));
        if !applies {
            return None;
        }
        self.fail_next_requests -= 1;
        let injected = match &self.raw_answer {
            Some(answer) => InjectedFailure::Raw {
                answer: answer.clone(),
                after_processing: self.answer_after_processing,
            },
            None => InjectedFailure::Status(self.status),
        };
        if self.fail_next_requests == 0 {
            self.end_of_failures();
        }
        Some(injected)
    }
}

/// What a request that takes an injected failure answers.
enum InjectedFailure {
    /// An OData error with this status; the request is not processed.
    Status(u16),
    Raw {
        answer: RawAnswer,
        after_processing: bool,
    },
}

impl Default for SapFaults {
    fn default() -> Self {
        SapFaults {
            fail_next_requests: 0,
            status: 503,
            fail_requests_matching: None,
            raw_answer: None,
            answer_after_processing: false,
            fail_parts_matching: None,
            part_status: 400,
            latency_ms: 0,
        }
    }
}

/// A change to the fault injection (the body of `POST /_admin/sap/faults`); absent fields
/// keep their current value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultInjection {
    pub fail_next_requests: Option<u32>,
    pub status: Option<u16>,
    /// An empty string clears it.
    pub fail_requests_matching: Option<String>,
    pub raw_answer: Option<RawAnswer>,
    pub answer_after_processing: Option<bool>,
    pub fail_parts_matching: Option<String>,
    pub part_status: Option<u16>,
    pub latency_ms: Option<u64>,
}

/// The sandbox tenant: configuration, contracts and everything stored.
pub struct SapSandbox {
    config: SapConfig,
    schemas: BTreeMap<ServiceKind, Schema>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    store: ops::Store,
    /// Session cookie value -> session.
    sessions: HashMap<String, Session>,
    stats: SapStats,
    faults: SapFaults,
}

struct Session {
    csrf_token: String,
    last_used: Instant,
}

impl SapSandbox {
    /// # Panics
    /// If an extension field names an unknown service or entity type (a broken test setup).
    pub fn new(config: SapConfig) -> Self {
        let mut schemas: BTreeMap<ServiceKind, Schema> = ServiceKind::ALL
            .into_iter()
            .map(|kind| (kind, Schema::load(kind)))
            .collect();
        for field in &config.extension_fields {
            let schema = ServiceKind::from_name(&field.service)
                .and_then(|kind| schemas.get_mut(&kind))
                .unwrap_or_else(|| panic!("extension field {field:?}: unknown service"));
            schema
                .add_extension_field(&field.entity_type, &field.name, &field.edm_type)
                .unwrap_or_else(|e| panic!("extension field {field:?}: {e}"));
        }
        SapSandbox {
            config,
            schemas,
            state: Mutex::new(State::default()),
        }
    }

    pub fn config(&self) -> &SapConfig {
        &self.config
    }

    /// All stored contacts, ordered by origin and ID.
    pub fn contacts(&self) -> Vec<StoredContact> {
        self.lock().store.contacts.values().cloned().collect()
    }

    pub fn contact(&self, origin: &str, id: &str) -> Option<StoredContact> {
        self.lock()
            .store
            .contacts
            .get(&(origin.to_string(), id.to_string()))
            .cloned()
    }

    /// All stored interactions in the order received.
    pub fn interactions(&self) -> Vec<StoredInteraction> {
        self.lock().store.interactions.clone()
    }

    /// The stored interaction with this `InteractionUUID` (case-insensitive).
    pub fn interaction(&self, uuid: &str) -> Option<StoredInteraction> {
        self.lock()
            .store
            .interactions
            .iter()
            .find(|i| i.uuid.eq_ignore_ascii_case(uuid))
            .cloned()
    }

    /// Stored interactions whose `InteractionSourceObject` is `source_object`, oldest first
    /// (more than one means a day was imported twice).
    pub fn interactions_with_source_object(&self, source_object: &str) -> Vec<StoredInteraction> {
        self.lock()
            .store
            .interactions
            .iter()
            .filter(|i| i.field_str("InteractionSourceObject") == Some(source_object))
            .cloned()
            .collect()
    }

    pub fn stats(&self) -> SapStats {
        self.lock().stats.clone()
    }

    /// Forgets all data, sessions, counters and faults.
    pub fn reset(&self) {
        *self.lock() = State::default();
    }

    /// Invalidates every session and CSRF token at once, as when tokens expire mid-flow.
    pub fn expire_sessions(&self) {
        self.lock().sessions.clear();
    }

    pub fn faults(&self) -> SapFaults {
        self.lock().faults.clone()
    }

    /// Applies a fault injection change and returns the resulting faults.
    pub fn inject_faults(&self, change: FaultInjection) -> SapFaults {
        let mut state = self.lock();
        let faults = &mut state.faults;
        if let Some(n) = change.fail_next_requests {
            faults.fail_next_requests = n;
        }
        if let Some(status) = change.status {
            faults.status = status;
        }
        if change.fail_requests_matching.is_some() {
            faults.fail_requests_matching = change.fail_requests_matching.filter(|s| !s.is_empty());
        }
        if change.raw_answer.is_some() {
            faults.raw_answer = change.raw_answer;
        }
        if let Some(after) = change.answer_after_processing {
            faults.answer_after_processing = after;
        }
        if faults.fail_next_requests == 0 {
            faults.end_of_failures();
        }
        if change.fail_parts_matching.is_some() {
            faults.fail_parts_matching = change.fail_parts_matching.filter(|s| !s.is_empty());
        }
        if let Some(status) = change.part_status {
            faults.part_status = status;
        }
        if let Some(ms) = change.latency_ms {
            faults.latency_ms = ms;
        }
        faults.clone()
    }

    /// The next `n` requests under `/sap` answer `status`.
    pub fn fail_next_requests(&self, n: u32, status: u16) {
        self.inject_faults(FaultInjection {
            fail_next_requests: Some(n),
            status: Some(status),
            ..FaultInjection::default()
        });
    }

    /// The next `n` requests whose path and query contain `matching` (all, if `None`) get
    /// `answer` as it is; after the tenant processed them if `after_processing`.
    pub fn answer_next_requests(
        &self,
        n: u32,
        matching: Option<&str>,
        answer: RawAnswer,
        after_processing: bool,
    ) {
        self.inject_faults(FaultInjection {
            fail_next_requests: Some(n),
            fail_requests_matching: Some(matching.unwrap_or_default().to_string()),
            raw_answer: Some(answer),
            answer_after_processing: Some(after_processing),
            ..FaultInjection::default()
        });
    }

    /// Operations whose request line or body contains `needle` fail with `status`.
    pub fn fail_parts_matching(&self, needle: &str, status: u16) {
        self.inject_faults(FaultInjection {
            fail_parts_matching: Some(needle.to_string()),
            part_status: Some(status),
            ..FaultInjection::default()
        });
    }

    pub fn set_latency(&self, latency: Duration) {
        self.inject_faults(FaultInjection {
            latency_ms: Some(latency.as_millis().try_into().unwrap_or(u64::MAX)),
            ..FaultInjection::default()
        });
    }

    pub fn clear_faults(&self) {
        self.lock().faults = SapFaults::default();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test must not take the other tests' sandbox state down with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn session_idle(&self) -> Duration {
        Duration::from_secs(self.config.session_idle_secs.max(0).unsigned_abs())
    }
}

/// Routes for `/sap/...` (the tenant) and `/_admin/sap/...` (inspection and faults).
pub fn router(state: Arc<SapSandbox>) -> Router {
    Router::new()
        .route("/sap/{*rest}", axum::routing::any(gateway::handle))
        .merge(admin::routes())
        .with_state(state)
}
