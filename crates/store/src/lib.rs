//! Storage for opendls behind narrow traits:
//!
//! * [`PhoneStore`]: what the phone endpoint needs on its hot path (one read per request for the
//!   interaction, the device's context and a client certificate; apply a decision atomically);
//! * [`AdminStore`]: what the administration API needs;
//! * [`JobStore`]: jobs, for the administration API, the contact-me scheduler and DCMP;
//! * [`SecurityStore`]: Secure Mode administration (modes, certificates, PINs).
//!
//! [`SqliteStore`] implements them on embedded SQLite (WAL, one writer connection and a few
//! readers; the hot path's work runs on the calling thread when its connection is free, the rest
//! on blocking threads). A PostgreSQL implementation can join behind the same traits.

use std::future::Future;

use opendls_engine::{
    Decision, DesiredEntry, DeviceRecord, DeviceTask, HistoryEvent, InteractionState, ItemKey,
    LocalChangePolicy, Scope, Timestamp, WriteFailure,
};

pub mod accounts;
pub mod audit;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod columns;
#[cfg(all(feature = "sqlite", feature = "postgres"))]
pub mod copy;
pub mod files;
pub mod fleet;
pub mod jobs;
pub mod pins;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod provisioning;
pub mod retention;
pub mod rollout;
pub mod secrets;
pub mod security;
pub mod site;
#[cfg(feature = "sqlite")]
mod sqlite;
pub mod stats;
pub mod variables;

pub use accounts::{
    Account, AccountCredentials, AccountStore, AccountUpdate, ApiToken, NewAccount, NewApiToken, NewSession,
    Session,
};
pub use audit::{AuditEntry, AuditFilter, AuditStore, NewAuditEntry};
pub use files::{FileKind, FileRemoval, FileStore, NewStoredFile, StoredFile};
pub use fleet::{DeviceFilter, DevicePage, FleetStore, GroupSummary, PolicyEntry, Removal};
pub use jobs::{JobStore, NewJob, TargetSelector};
pub use pins::{FirmwarePin, NewPin, PinLimits};
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
pub use provisioning::{NewProvisioned, ProvisionedView, ProvisioningRefusal, ProvisioningStore};
pub use retention::{Pruned, RetentionStore};
pub use rollout::{Rollout, RolloutStep, Share};
pub use security::{CertificateDetail, SecurityStore, SecurityView};
pub use site::{SiteChange, SiteStore};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
pub use stats::{FleetStats, StatsStore};
pub use variables::VariableStore;

/// How hard a commit waits for the disk (SQLite's `synchronous` in WAL mode; a backend without
/// the setting treats every mode as [`Synchronous::Full`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// Every commit is on the disk before it is acknowledged: a power cut loses nothing that
    /// was answered (an administrator's change, a job's progress, a phone's interaction step).
    Full,
    /// Administrator changes, job progress and Secure Mode state as [`Synchronous::Full`]; a
    /// phone step that changes nothing else (its reported items, the interaction's progress)
    /// is acknowledged before it reaches the disk. A power cut can lose the last such steps,
    /// which the phones send again at their next contact, never an acknowledged change of an
    /// administrator or a job (a later durable commit also makes every earlier one durable).
    Mixed,
    /// The WAL is synced only at checkpoints: a power cut (not a crash of the process) can lose
    /// the last acknowledged transactions, never the database's consistency.
    Normal,
}

/// A storage failure. The phone endpoint answers it with `CleanUp` (`cleanup-reason` `overload`
/// or a storage error), never with an HTTP error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database refused or failed (the message names the backend, never a driver type).
    #[error("database error: {0}")]
    Database(String),
    /// Migrations could not be applied.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// The database task failed (a panic, or the runtime shutting down).
    #[error("{0}")]
    Internal(String),
    /// A stored document could not be read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The decision is stale: work it sends was finished meanwhile (a job cancelled, or done by
    /// another interaction). Nothing was written; decide again.
    #[error("conflict: {0}")]
    Conflict(String),
}

/// Result of a storage operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// A whole backend: every narrow trait the service uses, and a way to close it. The server is
/// generic over it; each backend (SQLite today) implements it once.
pub trait Store:
    PhoneStore
    + AdminStore
    + JobStore
    + SecurityStore
    + FleetStore
    + FileStore
    + VariableStore
    + ProvisioningStore
    + SiteStore
    + RetentionStore
    + StatsStore
    + AccountStore
    + AuditStore
{
    /// The backend's name, for logs (`sqlite`).
    fn backend(&self) -> &'static str;
    /// Whether the database answers and is still where it was opened (for `/api/ready`).
    fn ping(&self) -> impl Future<Output = StoreResult<()>> + Send;
    /// Lets work in progress finish and closes the backend's connections.
    fn close(&self) -> impl Future<Output = ()> + Send;
}

/// What the engine needs to know about a device before deciding.
#[derive(Debug, Clone, Default)]
pub struct DeviceContext {
    /// The record, if the device is known.
    pub device: Option<DeviceRecord>,
    /// Desired entries that may apply: global, every model scope (the engine matches models),
    /// the device's group and the device itself.
    pub desired: Vec<DesiredEntry>,
    /// Variables its templates may use: global, its group's and its own.
    pub variables: Vec<opendls_engine::Variable>,
    /// Values the phone refused earlier.
    pub failures: Vec<WriteFailure>,
    /// The local-change policy stored for the device's group, else the global one; `None` when
    /// neither is stored (the service's configured default applies).
    pub policy: Option<LocalChangePolicy>,
    /// The device's unfinished job work, oldest job first.
    pub tasks: Vec<DeviceTask>,
    /// The Secure Mode wanted for the device (device beats group beats global).
    pub security_mode: opendls_engine::SecurityMode,
    /// The device's Secure Mode state.
    pub security: opendls_engine::DeviceSecurity,
}

impl DeviceContext {
    /// The engine's input for one phone message in this context.
    pub fn into_input(
        self,
        message: opendls_wpi::WorkpointMessage,
        interaction: Option<InteractionState>,
        now: Timestamp,
        remote_addr: String,
        new_session_id: String,
        default_policy: LocalChangePolicy,
    ) -> opendls_engine::Input {
        opendls_engine::Input {
            now,
            remote_addr,
            new_session_id,
            message,
            device: self.device,
            interaction,
            desired: self.desired,
            variables: self.variables,
            failures: self.failures,
            policy: self.policy.unwrap_or(default_policy),
            tasks: self.tasks,
            provisioned: None,
            newcomers: Default::default(),
            downloads: None,
            security: opendls_engine::SecurityInput {
                desired: self.security_mode,
                device: self.security,
                ..Default::default()
            },
        }
    }
}

/// How to find the interaction a `reply-to` continues (see [`PhoneStore::request_context`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InteractionLookup {
    /// The session cookie, when the phone sent one.
    pub session_id: Option<String>,
    /// The address the request came from.
    pub remote_addr: String,
    /// Interactions silent since before this are abandoned.
    pub not_before: Timestamp,
    /// The device the request most likely concerns when the message does not say (the MAC
    /// its session cookie names). A backend with a network between it and the data reads
    /// that device's context together with the interaction, in one round trip; when the
    /// interaction names another device, it reads that one's after. Never trusted.
    pub device_hint: Option<String>,
}

/// What [`PhoneStore::request_context`] read.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The interaction the request continues, if one was looked for and found.
    pub interaction: Option<InteractionState>,
    /// The device the request concerns, if it could be told.
    pub mac: Option<String>,
    /// Its context (empty when the device is unknown or could not be told).
    pub context: DeviceContext,
    /// The record of the presented client certificate (by the SHA-256 of its DER, the secure
    /// port's check, guide p. 65), if one was looked up and this service issued it.
    pub certificate: Option<opendls_engine::CertificateRecord>,
}

/// The phone endpoint's storage.
pub trait PhoneStore: Send + Sync + 'static {
    /// Loads everything the engine needs about one device.
    fn device_context(&self, mac: &str) -> impl Future<Output = StoreResult<DeviceContext>> + Send;

    /// What one phone request needs, in one hand-off to the database: the interaction it
    /// continues (when `lookup` is given: by session cookie, or, for phones that do not return the
    /// cookie, the single recent interaction from the same address), the device's context (its MAC chosen by `device_of`
    /// from the interaction found, as `opendls_engine::device_mac` does), and on the secure port
    /// the record of the client certificate.
    fn request_context(
        &self,
        lookup: Option<InteractionLookup>,
        certificate_fingerprint: Option<String>,
        device_of: impl Fn(Option<&InteractionState>) -> Option<String> + Send + 'static,
    ) -> impl Future<Output = StoreResult<RequestContext>> + Send;

    /// For the first contact of a device not yet known: the prepared device
    /// ([`ProvisioningStore::add_provisioned`]) it matches, by MAC, else by the E.164 it reports.
    fn provisioned_for(
        &self,
        mac: &str,
        e164: Option<&str>,
    ) -> impl Future<Output = StoreResult<Option<opendls_engine::Provisioned>>> + Send;

    /// The PIN a PIN bootstrap of this device uses: its individual PIN, else its group's default.
    /// `first_contact_group` is the group of a phone bound to a prepared device at this very
    /// contact (its record, and so its group, is not stored yet).
    fn bootstrap_pin(
        &self,
        mac: &str,
        first_contact_group: Option<&str>,
    ) -> impl Future<Output = StoreResult<Option<String>>> + Send;

    /// Persists a decision in one transaction. Taken by value: the decision carries the device's
    /// whole reported state, which is moved to the database thread rather than copied.
    fn apply(&self, decision: Decision, now: Timestamp) -> impl Future<Output = StoreResult<()>> + Send;
}

/// A device in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSummary {
    /// MAC address.
    pub mac: String,
    /// E.164 number.
    pub e164: Option<String>,
    /// Model.
    pub device_type: Option<String>,
    /// Firmware.
    pub software_version: Option<String>,
    /// Its first group (it wins).
    pub group: Option<String>,
    /// Its further groups, in precedence order.
    pub other_groups: Vec<String>,
    /// Latest contact.
    pub last_contact: Timestamp,
    /// Reason of the latest contact.
    pub last_reason: String,
    /// Address of the latest contact.
    pub remote_addr: Option<String>,
    /// Secure Mode state (`default` when the device never left Default Mode).
    pub security_state: String,
    /// What its TLS client last offered (ends in `legacy only` when only legacy TLS).
    pub tls_offer: Option<String>,
    /// `approved`, or `pending` / `rejected` for a device waiting for approval.
    pub approval: String,
}

/// The administration API's storage.
pub trait AdminStore: Send + Sync + 'static {
    /// Every device, by MAC.
    fn list_devices(&self) -> impl Future<Output = StoreResult<Vec<DeviceSummary>>> + Send;
    /// One device's full record.
    fn device(&self, mac: &str) -> impl Future<Output = StoreResult<Option<DeviceRecord>>> + Send;
    /// Up to `limit` history entries of a device, newest first, skipping the `offset` newest
    /// (pages of a long history).
    fn history(
        &self,
        mac: &str,
        offset: u32,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<HistoryEvent>>> + Send;
    /// Values the device refused.
    fn failures(&self, mac: &str) -> impl Future<Output = StoreResult<Vec<WriteFailure>>> + Send;
    /// Sets desired values, all of them or (on failure) none.
    fn set_desired(
        &self,
        entries: &[DesiredEntry],
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Removes a desired value; false when there was none.
    fn unset_desired(&self, scope: &Scope, key: &ItemKey) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Desired values at one scope, or at every scope.
    fn desired(&self, scope: Option<&Scope>) -> impl Future<Output = StoreResult<Vec<DesiredEntry>>> + Send;
    /// Desired values of these items, at every scope.
    fn desired_named(&self, names: &[&str]) -> impl Future<Output = StoreResult<Vec<DesiredEntry>>> + Send;
    /// Assigns a device to a group (or none); false when the device is unknown.
    fn assign_group(&self, mac: &str, groups: &[String]) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Imports device records in bulk (migration from another provisioning service, test
    /// fleets); existing devices are updated, their groups kept.
    fn import_devices(&self, devices: &[DeviceRecord]) -> impl Future<Output = StoreResult<()>> + Send;
    /// Sets the local-change policy at global (`None`) or group scope.
    fn set_policy(
        &self,
        group: Option<&str>,
        policy: LocalChangePolicy,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}
