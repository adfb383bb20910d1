//! Secure Mode (guide §3.6.10, p. 62-68) as plain data and decisions: which port a message came
//! in on and with which client certificate, the device's desired mode and its state, and what
//! the engine does about them: bootstrap (with or without PIN), check the TAN, refuse what must
//! be refused (a secure device on the Default port, an unknown, revoked or foreign certificate).
//!
//! Certificates and sealed bundles are made outside (the PKI needs randomness and keys): the
//! caller asks [`bootstrap_wanted`] and, if so, brings [`BootstrapMaterial`] in the input.

use opendls_wpi::{Item, Reason};
use serde::{Deserialize, Serialize};

use crate::model::Timestamp;

/// The security mode an administrator wants for a device (per device, group or globally).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecurityMode {
    /// Default Mode: no mutual authentication (guide p. 62).
    #[default]
    Default,
    /// Secure Mode, bootstrapped without PIN (p. 64-65).
    Secure,
    /// Secure Mode, bootstrapped with a PIN the user types on the phone (p. 65-68).
    SecurePin,
}

impl SecurityMode {
    /// The name used in the API, CLI and database.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityMode::Default => "default",
            SecurityMode::Secure => "secure",
            SecurityMode::SecurePin => "secure-pin",
        }
    }
}

impl std::str::FromStr for SecurityMode {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "default" => Ok(SecurityMode::Default),
            "secure" | "secure-nopin" => Ok(SecurityMode::Secure),
            "secure-pin" | "pin" => Ok(SecurityMode::SecurePin),
            other => Err(format!("unknown security mode {other:?} (default, secure, secure-pin)")),
        }
    }
}

impl std::fmt::Display for SecurityMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a device stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecurityState {
    /// Default Mode.
    #[default]
    Default,
    /// The bootstrap was sent; the phone's first start-up on the secure port is awaited.
    Bootstrapping,
    /// On the secure port, the TAN of a PIN bootstrap is awaited (p. 68).
    AwaitingTan,
    /// Secure Mode: only the secure port serves the device (p. 65, 68).
    Secure,
    /// A wrong TAN came back: no bootstrap until an administrator resets the device.
    Locked,
}

impl SecurityState {
    /// The name used in the API, CLI and database.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityState::Default => "default",
            SecurityState::Bootstrapping => "bootstrapping",
            SecurityState::AwaitingTan => "awaiting-tan",
            SecurityState::Secure => "secure",
            SecurityState::Locked => "locked",
        }
    }
}

impl std::str::FromStr for SecurityState {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        [
            SecurityState::Default,
            SecurityState::Bootstrapping,
            SecurityState::AwaitingTan,
            SecurityState::Secure,
            SecurityState::Locked,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
        .ok_or_else(|| format!("unknown security state {text:?}"))
    }
}

/// A device's security record. `Debug` hides the pending TAN.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeviceSecurity {
    /// The state.
    pub state: SecurityState,
    /// Whether the bootstrap in progress uses a PIN.
    pub pin_bootstrap: bool,
    /// The TAN expected from a PIN bootstrap (the PIN's last three characters, p. 68).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pending_tan: Option<String>,
    /// The serial of the device's current (or pending) client certificate.
    pub certificate_serial: Option<String>,
    /// When the state last changed.
    pub since: Timestamp,
    /// Why, for the administrator.
    pub detail: String,
}

impl std::fmt::Debug for DeviceSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceSecurity")
            .field("state", &self.state)
            .field("pin_bootstrap", &self.pin_bootstrap)
            .field("certificate_serial", &self.certificate_serial)
            .field("detail", &self.detail)
            .finish_non_exhaustive()
    }
}

/// Where a client certificate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertificateState {
    /// Issued and sent; not used by the phone yet.
    Issued,
    /// In use by the phone.
    Active,
    /// Replaced by a newer certificate (renewal, a repeated bootstrap).
    Superseded,
    /// Revoked: refused on the secure port.
    Revoked,
}

impl CertificateState {
    /// The name used in the API, CLI and database.
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateState::Issued => "issued",
            CertificateState::Active => "active",
            CertificateState::Superseded => "superseded",
            CertificateState::Revoked => "revoked",
        }
    }
}

impl std::str::FromStr for CertificateState {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        [
            CertificateState::Issued,
            CertificateState::Active,
            CertificateState::Superseded,
            CertificateState::Revoked,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
        .ok_or_else(|| format!("unknown certificate state {text:?}"))
    }
}

/// A device client certificate as the store records it (never its key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRecord {
    /// Serial number, hex.
    pub serial: String,
    /// SHA-256 of the DER, hex: how the secure port recognises the certificate.
    pub fingerprint: String,
    /// The MAC its subject names.
    pub mac: String,
    /// Validity start.
    pub not_before: Timestamp,
    /// Validity end.
    pub not_after: Timestamp,
    /// State.
    pub state: CertificateState,
}

/// How a message reached the service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Channel {
    /// The Default-Mode port (18443): no client certificate (p. 12).
    #[default]
    DefaultPort,
    /// The secure port (18444): mutual TLS. `certificate` is the store's record of the client
    /// certificate (it chained to our CA), `None` when the store does not know it.
    SecurePort {
        /// The record of the presented certificate.
        certificate: Option<CertificateRecord>,
    },
}

impl Channel {
    /// Whether this is the secure port.
    pub fn is_secure(&self) -> bool {
        matches!(self, Channel::SecurePort { .. })
    }
}

/// A bootstrap ready to send: the items of the `WriteItems` and the certificate they carry.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapMaterial {
    /// With PIN (p. 65-67) or without (p. 64).
    pub pin: bool,
    /// `goto-secure-mode` and the rest, in order.
    pub items: Vec<Item>,
    /// The newly issued client certificate.
    pub certificate: CertificateRecord,
    /// The TAN to expect after a PIN bootstrap.
    pub tan: Option<String>,
}

impl std::fmt::Debug for BootstrapMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapMaterial")
            .field("pin", &self.pin)
            .field("certificate", &self.certificate.serial)
            .finish_non_exhaustive()
    }
}

/// Everything the engine knows about security for one message. `Debug` hides the WBM
/// certificate (its container holds a private key).
#[derive(Clone, Default)]
pub struct SecurityInput {
    /// The port and certificate.
    pub channel: Channel,
    /// The mode an administrator wants.
    pub desired: SecurityMode,
    /// The device's record.
    pub device: DeviceSecurity,
    /// A bootstrap to send, made when a decision asked for it
    /// ([`crate::Need::BootstrapMaterial`]); `Err` says why it could not be made (the device
    /// then stays as it is, and the reason is in its history).
    pub material: Option<Result<BootstrapMaterial, String>>,
    /// A secure device's certificate is renewed when it expires within this many seconds.
    pub renew_before_secs: i64,
    /// What the phone's TLS client offered, for the inventory (e.g. `TLS1.2 ECDHE-GCM`).
    pub tls_offer: Option<String>,
    /// The `wbm-server-certificate` value (base64 PKCS#12) for a certificate deployment job,
    /// made when a decision asked for it ([`crate::Need::WbmCertificate`]); `Err`
    /// says why it could not be made (the job's target then fails with that reason).
    pub wbm_certificate: Option<Result<String, String>>,
}

impl SecurityInput {
    /// The bootstrap material, when the caller could make it.
    pub fn bootstrap_material(&self) -> Option<&BootstrapMaterial> {
        self.material.as_ref().and_then(|made| made.as_ref().ok())
    }
}

impl std::fmt::Debug for SecurityInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecurityInput")
            .field("channel", &self.channel)
            .field("desired", &self.desired)
            .field("device", &self.device)
            .field("material", &self.material)
            .field("renew_before_secs", &self.renew_before_secs)
            .field("tls_offer", &self.tls_offer)
            .field("wbm_certificate", &self.wbm_certificate.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A change to a certificate record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateChange {
    /// A certificate was issued and sent.
    Issued(CertificateRecord),
    /// The phone used it: it becomes active, the device's other active ones are superseded.
    Activated {
        /// Serial.
        serial: String,
        /// The device.
        mac: String,
    },
    /// Revoked or superseded, with the reason.
    Ended {
        /// Serial.
        serial: String,
        /// `Revoked` or `Superseded`.
        state: CertificateState,
        /// Why.
        reason: String,
    },
}

/// Whether the message should get a bootstrap (`Some(with_pin)`), so the caller prepares the
/// material: a phone-initiated contact on the Default port from a device that should be secure
/// and is not, or on the secure port from a secure device whose certificate expires soon (a
/// renewal is sent as a no-PIN bootstrap over the already authenticated channel; whether real
/// firmware accepts it there is unverified).
pub fn bootstrap_wanted(reason: &Reason, security: &SecurityInput, now: Timestamp) -> Option<bool> {
    let contact = matches!(
        reason,
        Reason::StartUp | Reason::Solicited | Reason::LocalChanges | Reason::InventoryChanges
    );
    if !contact {
        return None;
    }
    match &security.channel {
        Channel::DefaultPort => {
            let open = matches!(security.device.state, SecurityState::Default | SecurityState::Bootstrapping);
            (open && security.desired != SecurityMode::Default)
                .then_some(security.desired == SecurityMode::SecurePin)
        }
        Channel::SecurePort { certificate: Some(certificate) } => {
            let expiring = certificate.not_after - now < security.renew_before_secs;
            (security.device.state == SecurityState::Secure
                && certificate.state == CertificateState::Active
                && expiring)
                .then_some(false)
        }
        Channel::SecurePort { certificate: None } => None,
    }
}

/// The `cleanup-reason` for a wrong TAN, as the guide's example words it (p. 31).
pub const WRONG_TAN_REASON: &str = "wrong TAN from device";
/// The phone's `cleanup-reason` after too many wrong PINs (p. 83).
pub const PIN_RETRIES_EXCEEDED: &str = "password retries exceeded";
/// The item the TAN comes back in (p. 68).
pub const TAN_ITEM: &str = "bootstrapping-tan";
