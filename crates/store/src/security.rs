//! Secure Mode in storage (guide p. 62-68): desired modes per scope, each device's state, the
//! client certificates issued (serial, fingerprint, validity, state; never keys), and PINs.

use std::future::Future;

use opendls_engine::{CertificateRecord, Scope, SecurityMode, Timestamp};
use serde::Serialize;

use crate::StoreResult;

/// A certificate with its history, for administrators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateDetail {
    /// The record.
    #[serde(flatten)]
    pub record: CertificateRecord,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// When it was revoked or superseded.
    pub ended_at: Option<Timestamp>,
    /// Why.
    pub ended_reason: Option<String>,
}

/// A device's Secure Mode as an administrator sees it.
#[derive(Debug, Clone, Serialize)]
pub struct SecurityView {
    /// The device.
    pub mac: String,
    /// The mode wanted for it, and where that is configured (`None`: nowhere, Default Mode).
    pub desired: SecurityMode,
    /// Where the desired mode comes from.
    pub desired_from: Option<Scope>,
    /// Its state.
    pub state: String,
    /// Why it is in that state.
    pub detail: String,
    /// Since when.
    pub since: Option<Timestamp>,
    /// Its current (or pending) certificate's serial.
    pub certificate_serial: Option<String>,
    /// Every certificate ever issued to it, newest first.
    pub certificates: Vec<CertificateDetail>,
    /// Whether an individual PIN is set for it.
    pub individual_pin: bool,
    /// Whether its group has a default PIN.
    pub group_pin: bool,
}

/// Where a PIN applies: one device, or the default of a group.
pub type PinScope = Scope;

/// Secure Mode administration.
pub trait SecurityStore: Send + Sync + 'static {
    /// Sets (or with `None` removes) the desired mode at a scope.
    fn set_security_mode(
        &self,
        scope: &Scope,
        mode: Option<SecurityMode>,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Every configured mode.
    fn security_modes(&self) -> impl Future<Output = StoreResult<Vec<(Scope, SecurityMode)>>> + Send;

    /// A device's Secure Mode view; `None` for an unknown device.
    fn security_view(&self, mac: &str) -> impl Future<Output = StoreResult<Option<SecurityView>>> + Send;

    /// Revokes the device's issued and active certificates (it is refused on the secure port
    /// at once); returns how many. Its state is left: a secure device stays locked out of the
    /// Default port too until it is reset.
    fn revoke_certificates(
        &self,
        mac: &str,
        reason: &str,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<usize>> + Send;

    /// Resets a device to Default Mode: its certificates are revoked and the Default port serves
    /// it again (if its desired mode is still secure, it is bootstrapped anew at its next
    /// contact). Returns false for an unknown device.
    fn reset_security(
        &self,
        mac: &str,
        reason: &str,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Stores a PIN (a device's individual PIN or a group's default).
    fn set_pin(
        &self,
        scope: &PinScope,
        pin: &str,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Removes a PIN; returns whether one was set.
    fn remove_pin(&self, scope: &PinScope) -> impl Future<Output = StoreResult<bool>> + Send;

    /// A group's default PIN and when it was set (individual PINs are shown only when made).
    fn group_pin(&self, group: &str)
    -> impl Future<Output = StoreResult<Option<(String, Timestamp)>>> + Send;
}
