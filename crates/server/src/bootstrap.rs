//! Makes the bootstrap a device receives (guide p. 64-67): a new client certificate from our CA
//! and the items carrying it, sealed with the PIN for a PIN bootstrap. RSA key generation takes
//! tens of milliseconds, so it runs on the blocking pool.

use std::sync::Arc;
use std::time::Duration;

use opendls_engine::{BootstrapMaterial, CertificateRecord, CertificateState};
use opendls_pki::CertificateAuthority;
use opendls_pki::bundle::{OpendlsContainerV1, SecureModeDataFormat, dls_client_certificate};
use opendls_store::PhoneStore;
use opendls_wpi::Item;
use opendls_wpi::bootstrap::split_pin;

/// What bootstraps need: the CA, the secure port, and the settings.
pub struct Bootstrapper {
    /// The CA.
    pub ca: Arc<CertificateAuthority>,
    /// `dls-secure-port`: the port of the secure listener (p. 64); `None` when it is off, and
    /// then no device is bootstrapped.
    pub secure_port: Option<u16>,
    /// `max-pin-retries` (p. 67).
    pub max_pin_retries: u32,
    /// Validity of device certificates.
    pub validity: Duration,
    /// How `secure-mode-data` is packed (unverified against real firmware).
    pub format: Arc<dyn SecureModeDataFormat>,
    /// Key generations at once: one per core, so a fleet moving to Secure Mode together cannot
    /// take every core from the interactions in progress (a key takes 25-130 ms, BENCHMARKS.md).
    key_slots: Arc<tokio::sync::Semaphore>,
    metrics: Arc<crate::metrics::Metrics>,
}

impl Bootstrapper {
    /// A bootstrapper with opendls' default `secure-mode-data` container.
    pub fn new(
        ca: Arc<CertificateAuthority>,
        secure_port: Option<u16>,
        max_pin_retries: u32,
        validity: Duration,
    ) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Bootstrapper {
            ca,
            secure_port,
            max_pin_retries,
            validity,
            format: Arc::new(OpendlsContainerV1),
            key_slots: Arc::new(tokio::sync::Semaphore::new(cores)),
            metrics: Arc::default(),
        }
    }

    /// Counts the certificates it issues in these metrics.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The bootstrap for `mac`; `None` (and a warning) when it cannot be made, e.g. a PIN
    /// bootstrap for a device without an individual or group PIN. `first_contact_group` is the
    /// prepared group of a phone bound at this contact.
    pub async fn material<S: PhoneStore>(
        &self,
        store: &S,
        mac: &str,
        first_contact_group: Option<&str>,
        with_pin: bool,
    ) -> Option<BootstrapMaterial> {
        let Some(port) = self.secure_port else {
            tracing::warn!(
                mac,
                "Secure Mode wanted but the secure listener is off (secure_listen); the device stays in Default Mode"
            );
            return None;
        };
        let pin = if with_pin {
            match store.bootstrap_pin(mac, first_contact_group).await {
                Ok(Some(pin)) => Some(pin),
                Ok(None) => {
                    tracing::warn!(
                        mac,
                        "Secure Mode with PIN wanted but no PIN is set for the device or its group; it stays in Default Mode (opendls security pin ...)"
                    );
                    return None;
                }
                Err(error) => {
                    tracing::error!(mac, %error, "could not read the bootstrap PIN");
                    return None;
                }
            }
        } else {
            None
        };
        let (ca, format) = (self.ca.clone(), self.format.clone());
        let (mac_owned, retries, validity) = (mac.to_owned(), self.max_pin_retries, self.validity);
        let Ok(_slot) = self.key_slots.acquire().await else { return None };
        let made = tokio::task::spawn_blocking(move || {
            let certificate = ca.issue_device_certificate(&mac_owned, validity)?;
            let items = match &pin {
                // guide p. 67: goto-secure-mode pin, secure-mode-data, max-pin-retries.
                Some(pin) => vec![
                    Item::new("goto-secure-mode", "pin"),
                    Item::new("secure-mode-data", format.seal(&certificate, &ca, port, pin)?),
                    Item::new("max-pin-retries", retries.to_string()),
                ],
                // guide p. 64: goto-secure-mode nopin, dls-client-certificate, dls-server-ca[0..n], dls-secure-port.
                None => vec![
                    Item::new("goto-secure-mode", "nopin"),
                    Item::new("dls-client-certificate", dls_client_certificate(&certificate)?),
                    Item { index: Some(0), ..Item::new("dls-server-ca", ca.cert_pem()) },
                    Item::new("dls-secure-port", port.to_string()),
                ],
            };
            let record = CertificateRecord {
                serial: certificate.serial.clone(),
                fingerprint: certificate.fingerprint.clone(),
                mac: certificate.mac.clone(),
                not_before: certificate.not_before,
                not_after: certificate.not_after,
                state: CertificateState::Issued,
            };
            let tan = pin.as_deref().map(|pin| split_pin(pin).1.to_owned());
            Ok::<_, opendls_pki::PkiError>(BootstrapMaterial {
                pin: pin.is_some(),
                items,
                certificate: record,
                tan,
            })
        })
        .await;
        let material = log_failure(mac, made);
        if material.is_some() {
            self.metrics.certificate_issued();
        }
        material
    }

    /// A `wbm-server-certificate` value (base64 PKCS#12, guide p. 60) for the phone's web
    /// server: issued by our CA for the address the phone connects from, and its MAC.
    pub async fn wbm_certificate(&self, mac: &str, address: Option<String>) -> Result<String, String> {
        let (ca, mac_owned, validity) = (self.ca.clone(), mac.to_owned(), self.validity);
        let Ok(_slot) = self.key_slots.acquire().await else {
            return Err("the service is stopping".to_owned());
        };
        let made = tokio::task::spawn_blocking(move || {
            let certificate =
                ca.issue_wbm_certificate(&mac_owned, &address.into_iter().collect::<Vec<_>>(), validity)?;
            opendls_pki::bundle::wbm_server_certificate(&certificate, &ca)
        })
        .await;
        log_failure(mac, made).ok_or_else(|| "the CA could not issue it (see the log)".to_owned())
    }
}

fn log_failure<T>(
    mac: &str,
    made: Result<Result<T, opendls_pki::PkiError>, tokio::task::JoinError>,
) -> Option<T> {
    {
        match made {
            Ok(Ok(material)) => Some(material),
            Ok(Err(error)) => {
                tracing::error!(mac, %error, "could not issue the device certificate");
                None
            }
            Err(error) => {
                tracing::error!(mac, %error, "certificate issuing task failed");
                None
            }
        }
    }
}
