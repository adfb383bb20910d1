//! Unit tests of the Secure Mode decisions (guide p. 62-68) with the guide's messages.

use opendls_wpi::{Action, DlsMessage, Item, ItemStatus, ReasonForContact, ReplyStatus, WorkpointMessage};

use crate::*;

use crate::tests::{MAC, NOW, handle};

fn start_up() -> WorkpointMessage {
    crate::tests::guide("p33-start-up.xml")
}

fn reply(action: Action, items: Vec<Item>) -> WorkpointMessage {
    crate::tests::reply(action, ReplyStatus::Accepted, items)
}

fn input(message: WorkpointMessage, security: SecurityInput) -> Input {
    Input { security, ..crate::tests::input(message) }
}

fn certificate(serial: &str, mac: &str, state: CertificateState) -> CertificateRecord {
    CertificateRecord {
        serial: serial.into(),
        fingerprint: format!("fp-{serial}"),
        mac: mac.into(),
        not_before: NOW - 10,
        not_after: NOW + 365 * 86400,
        state,
    }
}

fn material(pin: bool) -> BootstrapMaterial {
    let items = if pin {
        vec![
            Item::new("goto-secure-mode", "pin"),
            Item::new("secure-mode-data", "c2VhbGVk"),
            Item::new("max-pin-retries", "3"),
        ]
    } else {
        vec![
            Item::new("goto-secure-mode", "nopin"),
            Item::new("dls-client-certificate", "cDEy"),
            Item { index: Some(0), ..Item::new("dls-server-ca", "-----BEGIN CERTIFICATE-----") },
            Item::new("dls-secure-port", "18444"),
        ]
    };
    BootstrapMaterial {
        pin,
        items,
        certificate: certificate("A1", MAC, CertificateState::Issued),
        tan: pin.then(|| "321".to_owned()),
    }
}

fn state_of(decision: &Decision) -> InteractionState {
    crate::tests::saved_state(decision)
}

fn security(state: SecurityState, serial: Option<&str>) -> DeviceSecurity {
    DeviceSecurity { state, certificate_serial: serial.map(str::to_owned), ..DeviceSecurity::default() }
}

#[test]
fn a_device_meant_to_be_secure_gets_the_no_pin_bootstrap_then_clean_up() {
    let wanted = SecurityInput { desired: SecurityMode::Secure, ..SecurityInput::default() };
    assert_eq!(bootstrap_wanted(&opendls_wpi::Reason::StartUp, &wanted, NOW), Some(false));
    let first = handle(
        input(start_up(), SecurityInput { material: Some(Ok(material(false))), ..wanted }),
        &Default::default(),
    );
    // guide p. 64: start-up -> WriteItems goto-secure-mode nopin, certificate, CA, port.
    assert_eq!(first.reply.action, Action::WriteItems);
    assert_eq!(first.reply.items[0], Item::new("goto-secure-mode", "nopin"));
    assert!(matches!(first.certificates[..], [CertificateChange::Issued(ref c)] if c.serial == "A1"));
    assert_eq!(first.security.as_ref().unwrap().state, SecurityState::Bootstrapping);
    assert!(!state_of(&first).secure);

    let mut accepted = input(reply(Action::WriteItems, vec![]), SecurityInput::default());
    accepted.interaction = Some(state_of(&first));
    accepted.device = first.device.clone();
    let done = handle(accepted, &Default::default());
    assert_eq!(done.reply.action, Action::CleanUp, "p. 64 step 4");
    assert!(done.reply.items.is_empty());
}

#[test]
fn the_first_secure_start_up_activates_the_certificate_and_reads_the_phone() {
    let sec = SecurityInput {
        channel: Channel::SecurePort { certificate: Some(certificate("A1", MAC, CertificateState::Issued)) },
        desired: SecurityMode::Secure,
        device: security(SecurityState::Bootstrapping, Some("A1")),
        ..SecurityInput::default()
    };
    let decision = handle(input(start_up(), sec), &Default::default());
    assert_eq!(decision.reply.action, Action::ReadAllItems, "p. 65 step 6: the interaction goes on normally");
    assert_eq!(decision.security.as_ref().unwrap().state, SecurityState::Secure);
    assert!(state_of(&decision).secure);
    assert!(
        matches!(decision.certificates[..], [CertificateChange::Activated { ref serial, .. }] if serial == "A1")
    );
}

#[test]
fn refusals_by_channel_and_certificate_are_security_events() {
    let cases = [
        (
            SecurityInput { device: security(SecurityState::Secure, Some("A1")), ..SecurityInput::default() },
            "Secure Mode",
        ),
        (
            SecurityInput { channel: Channel::SecurePort { certificate: None }, ..SecurityInput::default() },
            "unknown",
        ),
        (
            SecurityInput {
                channel: Channel::SecurePort {
                    certificate: Some(certificate("A1", MAC, CertificateState::Revoked)),
                },
                ..SecurityInput::default()
            },
            "revoked",
        ),
        (
            SecurityInput {
                channel: Channel::SecurePort {
                    certificate: Some(certificate("B2", "00:1A:E8:00:00:99", CertificateState::Active)),
                },
                device: security(SecurityState::Secure, Some("A1")),
                ..SecurityInput::default()
            },
            "another device",
        ),
    ];
    for (sec, words) in cases {
        let decision = handle(input(start_up(), sec), &Default::default());
        assert_eq!(decision.reply.action, Action::CleanUp);
        let reason = decision.reply.items.iter().find(|i| i.name == "cleanup-reason").unwrap();
        assert!(reason.value.contains(words), "{} lacks {words}", reason.value);
        assert!(decision.security_event.is_some());
        assert!(decision.history.iter().all(|e| e.kind == EventKind::Security));
        assert!(decision.device.is_none(), "a refused request changes nothing about the device");
    }
}

#[test]
fn a_pin_bootstrap_is_finished_by_the_right_tan_and_locked_by_a_wrong_one() {
    let secure_start = |device: DeviceSecurity| SecurityInput {
        channel: Channel::SecurePort { certificate: Some(certificate("A1", MAC, CertificateState::Issued)) },
        desired: SecurityMode::SecurePin,
        device,
        ..SecurityInput::default()
    };
    let bootstrapping = DeviceSecurity {
        pin_bootstrap: true,
        pending_tan: Some("321".into()),
        ..security(SecurityState::Bootstrapping, Some("A1"))
    };
    let asked = handle(input(start_up(), secure_start(bootstrapping)), &Default::default());
    // p. 68: ReadItems bootstrapping-tan.
    assert_eq!(asked.reply.action, Action::ReadItems);
    assert_eq!(asked.reply.items[0].name, "bootstrapping-tan");
    let awaiting = asked.security.clone().unwrap();
    assert_eq!(awaiting.state, SecurityState::AwaitingTan);

    for (tan, right) in [("321", true), ("999", false)] {
        let mut answer = input(
            reply(Action::ReadItems, vec![Item::new("bootstrapping-tan", tan)]),
            SecurityInput {
                channel: Channel::SecurePort {
                    certificate: Some(certificate("A1", MAC, CertificateState::Active)),
                },
                device: awaiting.clone(),
                ..SecurityInput::default()
            },
        );
        answer.interaction = Some(state_of(&asked));
        answer.device = asked.device.clone();
        let decision = handle(answer, &Default::default());
        if right {
            assert_eq!(decision.security.as_ref().unwrap().state, SecurityState::Secure);
            assert_eq!(decision.reply.action, Action::ReadAllItems);
        } else {
            assert_eq!(decision.reply, DlsMessage::clean_up_because("R1", "wrong TAN from device"));
            assert_eq!(decision.security.as_ref().unwrap().state, SecurityState::Locked);
            assert!(
                decision.certificates.iter().any(|c| matches!(c,
                CertificateChange::Ended { serial, state: CertificateState::Revoked, .. } if serial == "A1"))
            );
            assert!(!format!("{:?}", decision.history).contains("999"), "the TAN is not recorded");
        }
    }
}

#[test]
fn pin_retries_exceeded_revokes_the_pending_certificate() {
    let mut message = start_up();
    message.reason = ReasonForContact::new(opendls_wpi::Reason::CleanUp);
    message.items.push(Item::new("cleanup-reason", "password retries exceeded"));
    let sec = SecurityInput {
        desired: SecurityMode::SecurePin,
        device: DeviceSecurity { pin_bootstrap: true, ..security(SecurityState::Bootstrapping, Some("A1")) },
        ..SecurityInput::default()
    };
    let decision = handle(input(message, sec), &Default::default());
    assert_eq!(decision.security.as_ref().unwrap().state, SecurityState::Default);
    assert!(decision.security_event.is_some());
    assert!(matches!(
        &decision.certificates[..],
        [CertificateChange::Ended { state: CertificateState::Revoked, .. }]
    ));
}

#[test]
fn refused_bootstrap_items_revoke_the_certificate() {
    let wanted = SecurityInput {
        desired: SecurityMode::Secure,
        material: Some(Ok(material(false))),
        ..SecurityInput::default()
    };
    let first = handle(input(start_up(), wanted), &Default::default());
    let refused = Item { status: Some(ItemStatus::InvalidData), ..Item::request("dls-client-certificate") };
    let mut answer = input(reply(Action::WriteItems, vec![refused]), SecurityInput::default());
    answer.interaction = Some(state_of(&first));
    let decision = handle(answer, &Default::default());
    assert_eq!(decision.security.as_ref().unwrap().state, SecurityState::Default);
    assert!(decision.error.as_deref().unwrap().contains("dls-client-certificate"));
}

#[test]
fn an_expiring_certificate_is_renewed_over_the_secure_port() {
    let mut expiring = certificate("A1", MAC, CertificateState::Active);
    expiring.not_after = NOW + 3600;
    let sec = SecurityInput {
        channel: Channel::SecurePort { certificate: Some(expiring) },
        desired: SecurityMode::Secure,
        device: security(SecurityState::Secure, Some("A1")),
        renew_before_secs: 30 * 86400,
        ..SecurityInput::default()
    };
    assert_eq!(bootstrap_wanted(&opendls_wpi::Reason::StartUp, &sec, NOW), Some(false));
    let decision = handle(
        input(start_up(), SecurityInput { material: Some(Ok(material(false))), ..sec }),
        &Default::default(),
    );
    assert_eq!(decision.reply.action, Action::WriteItems);
    assert!(matches!(state_of(&decision).step, Step::Bootstrapping { renewal: true, .. }));
    assert!(decision.security.is_none(), "the device stays secure with its current certificate meanwhile");
}

#[test]
fn a_secure_phone_factory_reset_by_a_job_comes_back_in_default_mode() {
    let sec = SecurityInput {
        desired: SecurityMode::Secure,
        device: security(SecurityState::Secure, Some("A1")),
        ..SecurityInput::default()
    };
    let mut message = input(start_up(), sec.clone());
    let reset = DeviceTask {
        job_id: 4,
        kind: JobKind::FactoryReset,
        state: TargetState::Running,
        created_at: NOW - 60,
        phase: Some(crate::jobs::Phase::Rebooting),
        updated_at: NOW - 30,
    };
    message.tasks = vec![reset];
    let decision = handle(message, &Default::default());
    assert_ne!(decision.reply.action, Action::CleanUp, "let through: {:?}", decision.reply);
    assert_eq!(decision.security.as_ref().unwrap().state, SecurityState::Default);
    assert!(decision.certificates.iter().any(|c| matches!(c,
        CertificateChange::Ended { serial, state: CertificateState::Revoked, .. } if serial == "A1")));
    assert!(decision.task_updates.iter().any(|u| u.job_id == 4 && u.state == TargetState::Done));
    // Without the reset job, the same start-up is refused.
    let refused = handle(input(start_up(), sec), &Default::default());
    assert!(refused.security_event.is_some());
}

#[test]
fn debug_output_hides_keys_and_tans() {
    let sec = SecurityInput {
        device: DeviceSecurity { pending_tan: Some("321".into()), ..DeviceSecurity::default() },
        material: Some(Ok(material(true))),
        wbm_certificate: Some(Ok("MIIKEY".into())),
        ..SecurityInput::default()
    };
    let shown = format!("{sec:?}");
    assert!(!shown.contains("321") && !shown.contains("MIIKEY") && !shown.contains("c2VhbGVk"), "{shown}");
}

#[test]
fn bootstrap_material_is_asked_for_once_in_one_typed_way() {
    let wanted = SecurityInput { desired: SecurityMode::SecurePin, ..SecurityInput::default() };
    let asked = decide(&input(start_up(), wanted.clone()), &Default::default());
    assert!(matches!(asked, Outcome::Needs(Need::BootstrapMaterial { with_pin: true })), "{asked:?}");
    // The caller could not make it: the device stays as it is and its history says why.
    let refused = SecurityInput { material: Some(Err("the CA is offline".into())), ..wanted };
    let decision = handle(input(start_up(), refused), &Default::default());
    assert_ne!(decision.reply.items.first().map(|i| i.name.as_str()), Some("goto-secure-mode"));
    assert!(decision.certificates.is_empty());
    let said: Vec<&str> = decision.history.iter().map(|e| e.detail.as_str()).collect();
    assert!(said.contains(&"Secure Mode bootstrap not sent: the CA is offline"), "{said:?}");
}
