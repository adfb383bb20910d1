//! A device's Secure Mode as `GET /api/devices/{mac}/security` shows it, and what revoking
//! its certificates did.

use opendls_engine::{CertificateRecord, Scope, SecurityMode, Timestamp};
use serde::{Deserialize, Serialize};

/// A device's Secure Mode as an administrator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityView {
    /// The device.
    pub mac: String,
    /// The mode wanted for it.
    pub desired: SecurityMode,
    /// Where the desired mode is configured (`None`: nowhere, Default Mode).
    pub desired_from: Option<Scope>,
    /// Its state (`default`, `bootstrapping`, `awaiting-tan`, `secure`, `locked`).
    pub state: String,
    /// Why it is in that state.
    pub detail: String,
    /// Since when.
    pub since: Option<Timestamp>,
    /// Its current (or pending) certificate's serial.
    pub certificate_serial: Option<String>,
    /// Every certificate ever issued to it, newest first.
    pub certificates: Vec<CertificateView>,
    /// Whether an individual PIN is set for it.
    pub individual_pin: bool,
    /// Whether its group has a default PIN.
    pub group_pin: bool,
    /// What the phone's TLS client last offered.
    pub tls_offer: Option<String>,
}

/// A certificate issued to a device (never its key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateView {
    /// Serial, fingerprint, subject, validity and state.
    #[serde(flatten)]
    pub record: CertificateRecord,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// When it was revoked or superseded.
    pub ended_at: Option<Timestamp>,
    /// Why.
    pub ended_reason: Option<String>,
}

/// Answer of `POST /api/devices/{mac}/security/revoke`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    /// Certificates revoked (0: the device had none in force).
    pub revoked: usize,
}
