//! The opendls interaction engine.
//!
//! Pure code in the sans-I/O style: the caller loads the device record, its desired
//! configuration, earlier write failures and the interaction in progress, passes them with the
//! parsed phone message and the current time to [`decide`], and persists the returned
//! [`Decision`] before sending its reply. When the decision needs outside work (key material for
//! a Secure Mode bootstrap, a certificate), [`decide`] answers [`Outcome::Needs`] instead: the
//! caller does it, puts the result into the input and decides again. No clock, no randomness
//! (the session id comes in), no I/O: every flow of the guide can be tested with plain values.
//!
//! Flows (guide §3.5-3.8): start-up / solicited / local-changes / inventory-changes register the
//! device and then read everything (`ReadAllItems`, when new, changed or stale) or write what
//! differs (`WriteItems`, split by `maxItems` and 50 kB); fragmented replies are gathered with
//! `GetNextFragment`; per-item write errors are recorded and not retried with the same value;
//! `busy` ends with `CleanUp` + `send-solicited` and keeps the work pending; any protocol error
//! ends with `CleanUp` and a `cleanup-reason`.
//!
//! Jobs (guide §3.6): whatever made the phone call in, the device's unfinished jobs run in that
//! interaction after the configuration is written, chained instead of `CleanUp`: `ReadItems`,
//! then `Restart` (which ends the interaction; the job is done at the next `start-up`).
//!
//! Secure Mode (guide §3.6.10): every message is first checked against its channel (Default
//! port, or the secure port with the client certificate's record); a device that should be
//! secure gets the bootstrap `WriteItems` instead of the usual flow, a PIN bootstrap is
//! completed by checking `bootstrapping-tan`; see [`security`].

pub mod access;
pub mod desired;
mod engine;
pub mod jobs;
pub mod layout;
pub mod model;
pub mod newcomers;
pub mod preview;
pub mod rollout;
pub mod security;
pub mod template;

pub use access::Role;
pub use desired::{
    Configuration, EffectiveDesired, Resolution, Resolved, Unrenderable, devices_affected, effective_desired,
};
pub use engine::{
    BASIC_ITEMS, DEFAULT_MAX_INVENTORY_BYTES, Decision, Download, EngineSettings, Input, InteractionChange,
    Need, Outcome, decide, device_mac, device_mac_of, inventory_bytes, normalize_mac,
};
pub use jobs::{
    Deployable, DeviceTask, FileKind, FileOnPhone, JobId, JobKind, Phase, ReadResult, TargetCounts,
    TargetState, TaskUpdate,
};
pub use model::*;
pub use newcomers::{
    Approval, Binding, BindingConflict, Newcomers, Provisioned, REJECTED_REASON, UnknownDevicePolicy,
    approval_of,
};
pub use security::{
    BootstrapMaterial, CertificateChange, CertificateRecord, CertificateState, Channel, DeviceSecurity,
    SecurityInput, SecurityMode, SecurityState, bootstrap_wanted,
};
pub use template::{DeviceFacts, Variable, Variables, check_variable_name};

#[cfg(test)]
mod deploy_tests;
#[cfg(test)]
mod newcomers_tests;
#[cfg(test)]
mod security_tests;
#[cfg(test)]
mod tests;
