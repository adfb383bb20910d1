//! Secure Mode in the store: modes by scope, certificate lifecycle, PINs, reset.

use opendls_engine::{
    BootstrapMaterial, CertificateRecord, CertificateState, Channel, EngineSettings, LocalChangePolicy,
    Scope, SecurityMode, SecurityState, decide,
};
use opendls_store::{AdminStore, PhoneStore, SecurityStore, StatsStore, Store};
use opendls_wpi::Item;

use crate::backend::Backend;
use crate::phone::{MAC, certificate_record, start_up};

fn certificate(serial: &str) -> CertificateRecord {
    CertificateRecord {
        serial: serial.into(),
        fingerprint: format!("fp-{serial}"),
        mac: MAC.into(),
        not_before: 0,
        not_after: 4_000_000_000,
        state: CertificateState::Issued,
    }
}

/// One start-up: on the secure port with the certificate `fingerprint` presents, or on the
/// Default port with bootstrap material when given.
async fn start(store: &impl Store, secure: Option<&str>, material: Option<BootstrapMaterial>, now: i64) {
    let context = store.device_context(MAC).await.unwrap();
    let mut input = context.into_input(
        start_up(),
        None,
        now,
        "127.0.0.1".into(),
        format!("S{now}"),
        LocalChangePolicy::default(),
    );
    input.security.channel = match secure {
        Some(fingerprint) => {
            Channel::SecurePort { certificate: certificate_record(store, fingerprint).await }
        }
        None => Channel::DefaultPort,
    };
    input.security.material = material.map(Ok);
    store
        .apply(
            decide(&input, &EngineSettings::default()).decision().expect("no outside needs in this test"),
            now,
        )
        .await
        .unwrap();
}

fn nopin(serial: &str) -> BootstrapMaterial {
    BootstrapMaterial {
        pin: false,
        items: vec![Item::new("goto-secure-mode", "nopin")],
        certificate: certificate(serial),
        tan: None,
    }
}

pub async fn modes_resolve_device_over_group_over_global<B: Backend>() {
    let (store, _keep) = B::fresh().await;
    start(&store, None, None, 100).await;
    store.assign_group(MAC, &["lab".to_owned()]).await.unwrap();
    assert_eq!(store.device_context(MAC).await.unwrap().security_mode, SecurityMode::Default);
    store.set_security_mode(&Scope::Global, Some(SecurityMode::Secure)).await.unwrap();
    store.set_security_mode(&Scope::Group("lab".into()), Some(SecurityMode::SecurePin)).await.unwrap();
    assert_eq!(store.device_context(MAC).await.unwrap().security_mode, SecurityMode::SecurePin);
    store.set_security_mode(&Scope::Device(MAC.into()), Some(SecurityMode::Default)).await.unwrap();
    let view = store.security_view(MAC).await.unwrap().unwrap();
    assert_eq!((view.desired, view.desired_from), (SecurityMode::Default, Some(Scope::Device(MAC.into()))));
    store.set_security_mode(&Scope::Device(MAC.into()), None).await.unwrap();
    assert_eq!(store.security_modes().await.unwrap().len(), 2);
}

pub async fn certificates_are_issued_activated_superseded_and_revoked<B: Backend>() {
    let (store, _keep) = B::fresh().await;
    store.set_security_mode(&Scope::Global, Some(SecurityMode::Secure)).await.unwrap();
    // Two bootstraps on the Default port (the first never used): the first is superseded.
    start(&store, None, Some(nopin("A1")), 100).await;
    start(&store, None, Some(nopin("B2")), 110).await;
    // The phone starts up on the secure port with B2.
    start(&store, Some("fp-B2"), None, 120).await;
    let view = store.security_view(MAC).await.unwrap().unwrap();
    assert_eq!(view.state, "secure");
    assert_eq!(view.certificate_serial.as_deref(), Some("B2"));
    let states: Vec<_> =
        view.certificates.iter().map(|c| (c.record.serial.as_str(), c.record.state)).collect();
    assert_eq!(states, [("B2", CertificateState::Active), ("A1", CertificateState::Superseded)]);
    assert_eq!(certificate_record(&store, "fp-B2").await.unwrap().state, CertificateState::Active);
    assert_eq!(certificate_record(&store, "fp-unknown").await, None);
    // The metrics count them; B2 ends at 4e9, within 30 days of a "now" 10 days before.
    let stats = store.fleet_stats(120).await.unwrap();
    let states: Vec<_> = stats.certificates.iter().map(|c| (c.label.as_str(), c.count)).collect();
    assert_eq!(states, [("active", 1), ("superseded", 1)]);
    assert_eq!(stats.certificates_expiring, 0);
    assert_eq!(store.fleet_stats(4_000_000_000 - 10 * 86_400).await.unwrap().certificates_expiring, 1);
    let secure: Vec<_> = stats.by_security_state.iter().map(|c| (c.label.as_str(), c.count)).collect();
    assert_eq!(secure, [("secure", 1)]);

    assert_eq!(store.revoke_certificates(MAC, "stolen", 130).await.unwrap(), 1);
    let revoked = certificate_record(&store, "fp-B2").await.unwrap();
    assert_eq!(revoked.state, CertificateState::Revoked);
    assert_eq!(store.revoke_certificates(MAC, "again", 131).await.unwrap(), 0, "nothing left to revoke");
    let view = store.security_view(MAC).await.unwrap().unwrap();
    assert_eq!(view.certificates[0].ended_reason.as_deref(), Some("stolen"));
    assert_eq!(view.state, "secure", "revoking leaves the state: the device is locked out");

    assert!(store.reset_security(MAC, "phone replaced", 140).await.unwrap());
    let context = store.device_context(MAC).await.unwrap();
    assert_eq!(context.security.state, SecurityState::Default);
    assert!(!store.reset_security("00:1A:E8:FF:FF:FF", "unknown", 140).await.unwrap());
    let history = store.history(MAC, 0, 1).await.unwrap();
    assert!(history[0].detail.contains("phone replaced"));
}

pub async fn a_device_pin_beats_its_group_default<B: Backend>() {
    let (store, _keep) = B::fresh().await;
    assert_eq!(store.bootstrap_pin(MAC, None).await.unwrap(), None);
    start(&store, None, None, 100).await;
    store.assign_group(MAC, &["lab".to_owned()]).await.unwrap();
    store.set_pin(&Scope::Group("lab".into()), "11112222", 1).await.unwrap();
    assert_eq!(store.bootstrap_pin(MAC, None).await.unwrap().as_deref(), Some("11112222"));
    store.set_pin(&Scope::Device(MAC.into()), "33334444", 2).await.unwrap();
    assert_eq!(store.bootstrap_pin(MAC, None).await.unwrap().as_deref(), Some("33334444"));
    let view = store.security_view(MAC).await.unwrap().unwrap();
    assert!(view.individual_pin && view.group_pin);
    assert!(store.remove_pin(&Scope::Device(MAC.into())).await.unwrap());
    assert_eq!(store.bootstrap_pin(MAC, None).await.unwrap().as_deref(), Some("11112222"));
    assert_eq!(store.group_pin("lab").await.unwrap(), Some(("11112222".into(), 1)));
}
