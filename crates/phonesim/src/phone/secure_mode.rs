//! The phone's side of Secure Mode (guide p. 62-68): the bootstrap order it keeps until
//! `CleanUp`, the PIN it waits for, and what it reports of an installed WBM certificate.

use opendls_wpi::bootstrap::{SecureModeData, split_pin};
use opendls_wpi::{Item, ItemStatus};

use super::SimPhone;

/// What a bootstrap `WriteItems` gave the phone (guide p. 62-65): its own certificate and key, the
/// CA certificates to check the service with, and the secure port.
#[derive(Clone, PartialEq, Eq)]
pub struct SecureModeOrder {
    /// `dls-client-certificate`: a PKCS#12 bundle (base64 on the wire, the encoding opendls
    /// documents in docs/secure-mode-data.md; the guide does not show it), here decoded.
    pub client_bundle: Vec<u8>,
    /// The bundle's password: empty without PIN, the PIN less its last three characters with one.
    pub bundle_password: String,
    /// `dls-server-ca` index 0..n, PEM.
    pub server_cas: Vec<String>,
    /// `dls-secure-port`.
    pub port: u16,
}

impl std::fmt::Debug for SecureModeOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The bundle holds a private key: never printed.
        f.debug_struct("SecureModeOrder")
            .field("server_cas", &self.server_cas.len())
            .field("port", &self.port)
            .finish()
    }
}

/// A PIN bootstrap waiting for the user to type the PIN (p. 67 step 6).
#[derive(Clone, PartialEq, Eq)]
pub struct PinOrder {
    /// The secure port from the container's header.
    pub port: u16,
    /// The encrypted PKCS#12 bundle.
    pub bundle: Vec<u8>,
    /// `max-pin-retries` (p. 67).
    pub max_retries: u32,
    /// Wrong PINs entered so far.
    pub failures: u32,
}

impl std::fmt::Debug for PinOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinOrder")
            .field("port", &self.port)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

/// What typing a PIN did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinOutcome {
    /// The bundle opened: the phone is in Secure Mode and will report the TAN.
    Accepted,
    /// Wrong PIN; this many attempts are left.
    Wrong(u32),
    /// Too many wrong PINs: the phone gives up and tells the service (p. 83).
    RetriesExceeded,
    /// No PIN was asked for.
    NotAsked,
}

impl SimPhone {
    /// Checks a bootstrap order (p. 62-65). Without PIN the phone keeps it until `CleanUp`; with
    /// a PIN it waits for the user (opendls' `secure-mode-data` container, docs/secure-mode-data.md).
    pub(super) fn bootstrap(&mut self, mode: &str, items: &[Item]) -> Vec<Item> {
        let refuse = |name: &str, status: ItemStatus| Item { status: Some(status), ..Item::request(name) };
        let value = |name: &str| items.iter().find(|i| i.name == name).map(|i| i.value.as_str());
        match mode {
            "nopin" => {}
            "pin" => {
                let container = value("secure-mode-data")
                    .and_then(|text| {
                        openssl::base64::decode_block(&text.split_whitespace().collect::<String>()).ok()
                    })
                    .and_then(|raw| SecureModeData::from_bytes(&raw));
                let Some(SecureModeData { port, bundle }) = container else {
                    return vec![refuse("secure-mode-data", ItemStatus::InvalidData)];
                };
                let max_retries = value("max-pin-retries").and_then(|v| v.parse().ok()).unwrap_or(3);
                self.pending_pin_order = Some(PinOrder { port, bundle, max_retries, failures: 0 });
                return Vec::new();
            }
            _ => return vec![refuse("goto-secure-mode", ItemStatus::InvalidData)],
        }
        let bundle = value("dls-client-certificate")
            .and_then(|text| openssl::base64::decode_block(&text.split_whitespace().collect::<String>()).ok())
            .filter(|der| openssl::pkcs12::Pkcs12::from_der(der).and_then(|p| p.parse2("")).is_ok());
        let Some(client_bundle) = bundle else {
            return vec![refuse("dls-client-certificate", ItemStatus::InvalidData)];
        };
        let mut cas: Vec<(u32, String)> = items
            .iter()
            .filter(|i| i.name == "dls-server-ca")
            .map(|i| (i.index.unwrap_or(0), i.value.clone()))
            .collect();
        cas.sort();
        if cas.is_empty() || cas.iter().any(|(_, pem)| openssl::x509::X509::from_pem(pem.as_bytes()).is_err())
        {
            return vec![refuse("dls-server-ca", ItemStatus::InvalidData)];
        }
        let Some(port) = value("dls-secure-port").and_then(|p| p.parse::<u16>().ok()).filter(|p| *p > 0)
        else {
            return vec![refuse("dls-secure-port", ItemStatus::InvalidData)];
        };
        self.pending_secure_mode = Some(SecureModeOrder {
            client_bundle,
            bundle_password: String::new(),
            server_cas: cas.into_iter().map(|(_, pem)| pem).collect(),
            port,
        });
        Vec::new()
    }

    /// The user types a PIN (p. 67 step 6). The bundle's password is the PIN without its last
    /// three characters; those three are the TAN the phone later reports (p. 68).
    pub fn enter_pin(&mut self, pin: &str) -> PinOutcome {
        let Some(order) = self.pin_order.as_mut() else { return PinOutcome::NotAsked };
        let (password, tan) = split_pin(pin);
        let opened = openssl::pkcs12::Pkcs12::from_der(&order.bundle).and_then(|p| p.parse2(password));
        match opened {
            Ok(parsed) if parsed.cert.is_some() && parsed.pkey.is_some() => {
                let cas = parsed.ca.into_iter().flatten().filter_map(|c| c.to_pem().ok());
                let server_cas = cas.filter_map(|pem| String::from_utf8(pem).ok()).collect();
                let order = self.pin_order.take().expect("checked above");
                self.secure_mode = Some(SecureModeOrder {
                    client_bundle: order.bundle,
                    bundle_password: password.to_owned(),
                    server_cas,
                    port: order.port,
                });
                self.items.insert(("bootstrapping-tan".into(), None), tan.to_owned());
                PinOutcome::Accepted
            }
            _ => {
                order.failures += 1;
                if order.failures >= order.max_retries {
                    self.pin_order = None;
                    PinOutcome::RetriesExceeded
                } else {
                    PinOutcome::Wrong(order.max_retries - order.failures)
                }
            }
        }
    }
}

/// What the phone reports in `wbm-server-certificate-info` after installing a WBM certificate
/// (p. 60): the guide does not show the format, so the simulator reports subject, issuer and
/// expiry. `None` when the value is not a base64 PKCS#12 with a certificate and key.
pub(super) fn wbm_certificate_info(base64: &str) -> Option<String> {
    let der = openssl::base64::decode_block(&base64.split_whitespace().collect::<String>()).ok()?;
    let parsed = openssl::pkcs12::Pkcs12::from_der(&der).ok()?.parse2("").ok()?;
    let (cert, _key) = parsed.cert.zip(parsed.pkey)?;
    let name = |n: &openssl::x509::X509NameRef| {
        n.entries()
            .map(|e| {
                format!(
                    "{}={}",
                    e.object().nid().short_name().unwrap_or("?"),
                    e.data().to_string().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    Some(format!(
        "subject={}; issuer={}; not-after={}",
        name(cert.subject_name()),
        name(cert.issuer_name()),
        cert.not_after()
    ))
}
