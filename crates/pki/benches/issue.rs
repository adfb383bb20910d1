//! What one Secure Mode bootstrap costs the service: a device certificate (RSA-2048 key
//! generation and signing) and the bundles phones receive.

use std::time::Duration;

use divan::Bencher;
use opendls_pki::CertificateAuthority;
use opendls_pki::bundle::{OpendlsContainerV1, SecureModeDataFormat, dls_client_certificate};

fn main() {
    divan::main();
}

fn ca() -> (CertificateAuthority, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (CertificateAuthority::load_or_create(dir.path()).unwrap(), dir)
}

#[divan::bench(sample_count = 20)]
fn device_certificate(bencher: Bencher) {
    let (ca, _dir) = ca();
    bencher.bench(|| ca.issue_device_certificate("00:1A:E8:00:00:01", Duration::from_secs(86400)).unwrap());
}

#[divan::bench(sample_count = 50)]
fn no_pin_bundle(bencher: Bencher) {
    let (ca, _dir) = ca();
    let device = ca.issue_device_certificate("00:1A:E8:00:00:01", Duration::from_secs(86400)).unwrap();
    bencher.bench(|| dls_client_certificate(&device).unwrap());
}

#[divan::bench(sample_count = 50)]
fn pin_container(bencher: Bencher) {
    let (ca, _dir) = ca();
    let device = ca.issue_device_certificate("00:1A:E8:00:00:01", Duration::from_secs(86400)).unwrap();
    bencher.bench(|| OpendlsContainerV1.seal(&device, &ca, 18444, "12345678").unwrap());
}
