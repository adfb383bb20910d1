//! The engine's Secure Mode decisions (guide p. 62-68): refusals by channel, bootstrap, TAN
//! check, certificate activation and renewal, PIN retries reported by the phone.

use opendls_wpi::{Action, DlsMessage, Item, Reason};

use super::{Decision, Input, InteractionChange, event};
use crate::jobs::{JobKind, TargetState};
use crate::model::{DeviceRecord, EventKind, InteractionState, Step, Timestamp};
use crate::security::{
    CertificateChange, CertificateRecord, CertificateState, Channel, DeviceSecurity, PIN_RETRIES_EXCEEDED,
    SecurityState, TAN_ITEM, WRONG_TAN_REASON,
};

/// A request that must not be served on its channel: the decision refuses it with `CleanUp`
/// and a `cleanup-reason`, and records a security event. `None` lets it through.
pub(super) fn refusal(input: &Input) -> Option<Decision> {
    let mac = super::device_mac(&input.message, input.interaction.as_ref())?;
    let security = &input.security;
    let interaction_secure = input.interaction.as_ref().map(|state| state.secure);
    let (to_phone, detail, other_mac) = match &security.channel {
        Channel::DefaultPort => {
            if interaction_secure == Some(true) {
                (
                    "this interaction runs on the secure port",
                    format!("{mac}: a reply for a secure-port interaction came to the Default port"),
                    None,
                )
            } else {
                match security.device.state {
                    SecurityState::Secure | SecurityState::AwaitingTan if !factory_reset_came_back(input) => {
                        (
                            "device is in Secure Mode: use the secure port",
                            // guide p. 65, 68: the Default port is blocked for a secure device.
                            format!("{mac} contacted the Default port although it is in Secure Mode"),
                            None,
                        )
                    }
                    SecurityState::Locked => (
                        "Secure Mode bootstrap locked after a wrong TAN; an administrator must reset the device",
                        format!("{mac} contacted the Default port while locked after a wrong TAN"),
                        None,
                    ),
                    _ => return None,
                }
            }
        }
        Channel::SecurePort { certificate: None } => (
            "client certificate unknown to this service",
            format!("a phone reporting {mac} presented a certificate this service has no record of"),
            None,
        ),
        Channel::SecurePort { certificate: Some(certificate) } => {
            if certificate.state == CertificateState::Revoked {
                (
                    "client certificate revoked",
                    format!("{mac} presented revoked certificate {}", certificate.serial),
                    None,
                )
            } else if certificate.state == CertificateState::Superseded {
                (
                    "client certificate superseded by a newer one",
                    format!("{mac} presented superseded certificate {}", certificate.serial),
                    None,
                )
            } else if certificate.mac != mac {
                (
                    "client certificate belongs to another device",
                    format!(
                        "certificate {} issued to {} was presented by a phone reporting {mac}",
                        certificate.serial, certificate.mac
                    ),
                    Some(certificate.mac.clone()),
                )
            } else if interaction_secure == Some(false) {
                (
                    "this interaction runs on the Default port",
                    format!("{mac}: a reply for a Default-port interaction came to the secure port"),
                    None,
                )
            } else {
                return None;
            }
        }
    };
    let mut decision = Decision::new(DlsMessage::clean_up_because(&input.message.nonce, to_phone));
    decision.interaction = InteractionChange::End(input.interaction.as_ref().map(|s| s.session_id.clone()));
    let reason = input.message.reason.reason.to_string();
    for concerned in std::iter::once(mac).chain(other_mac) {
        decision.history.push(event(&concerned, input.now, EventKind::Security, &reason, &detail));
    }
    decision.security_event = Some(detail.clone());
    decision.error = Some(format!("refused: {to_phone}"));
    Some(decision)
}

/// A phone that was factory reset by a job comes back on the Default port without its
/// certificates (guide p. 51): that start-up is let through, and the device leaves Secure Mode.
fn factory_reset_came_back(input: &Input) -> bool {
    input.message.reason.reason == Reason::StartUp
        && input.tasks.iter().any(|t| t.kind == JobKind::FactoryReset && t.state == TargetState::Running)
}

/// Secure Mode work at a phone-initiated contact, before the usual flow. Returns whether it
/// answered the message (a bootstrap, or the TAN question).
pub(super) fn on_contact(
    input: &Input,
    decision: &mut Decision,
    device: &mut DeviceRecord,
    state: InteractionState,
) -> bool {
    let security = &input.security;
    if let Some(offer) = &security.tls_offer {
        device.tls_offer = Some(offer.clone());
    }
    let mut contact = SecureContact {
        input,
        decision,
        record: security.device.clone(),
        mac: device.mac.clone(),
        now: input.now,
        reason: state.reason.clone(),
        state,
    };
    let answered = match &security.channel {
        Channel::DefaultPort => contact.on_default_port(),
        Channel::SecurePort { certificate: Some(certificate) } => contact.on_secure_port(certificate),
        Channel::SecurePort { certificate: None } => false,
    };
    if contact.record != security.device {
        contact.decision.security = Some(contact.record);
    }
    answered
}

/// One contact's Secure Mode bookkeeping: the device's record as it changes, and the decision.
struct SecureContact<'a> {
    input: &'a Input,
    decision: &'a mut Decision,
    record: DeviceSecurity,
    state: InteractionState,
    mac: String,
    now: Timestamp,
    reason: String,
}

impl SecureContact<'_> {
    fn history(&mut self, detail: String) {
        self.decision.history.push(event(&self.mac, self.now, EventKind::Security, &self.reason, &detail));
    }

    /// On the Default port: a secure device was factory reset; a device meant to be secure
    /// gets its bootstrap (guide p. 64, p. 67).
    fn on_default_port(&mut self) -> bool {
        if matches!(self.record.state, SecurityState::Secure | SecurityState::AwaitingTan) {
            let detail = "the phone was factory reset: back in Default Mode".to_owned();
            end_certificate(self.decision, &self.record, CertificateState::Revoked, &detail);
            self.record = changed(self.now, SecurityState::Default, &detail);
            self.history(detail);
        }
        match self.input.security.bootstrap_material() {
            Some(material)
                if matches!(self.record.state, SecurityState::Default | SecurityState::Bootstrapping) =>
            {
                if self.record.state == SecurityState::Bootstrapping {
                    end_certificate(
                        self.decision,
                        &self.record,
                        CertificateState::Superseded,
                        "replaced by a new bootstrap",
                    );
                }
                let kind = if material.pin { "with PIN" } else { "without PIN" };
                let detail = format!(
                    "Secure Mode bootstrap sent ({kind}), certificate {}",
                    material.certificate.serial
                );
                self.record = DeviceSecurity {
                    pin_bootstrap: material.pin,
                    pending_tan: material.tan.clone(),
                    certificate_serial: Some(material.certificate.serial.clone()),
                    ..changed(self.now, SecurityState::Bootstrapping, &detail)
                };
                self.history(detail);
                send_bootstrap(self.input, self.decision, &mut self.state, false);
                true
            }
            _ => {
                if let Some(Err(why)) = &self.input.security.material {
                    self.history(format!("Secure Mode bootstrap not sent: {why}"));
                }
                false
            }
        }
    }

    /// On the secure port with a known certificate: activate it, ask for the TAN after a PIN
    /// bootstrap (p. 68), confirm Secure Mode, or renew a certificate that expires soon.
    fn on_secure_port(&mut self, certificate: &CertificateRecord) -> bool {
        let mut answered = false;
        if certificate.state == CertificateState::Issued {
            self.decision.certificates.push(CertificateChange::Activated {
                serial: certificate.serial.clone(),
                mac: self.mac.clone(),
            });
            if self.record.state == SecurityState::Bootstrapping && self.record.pin_bootstrap {
                let detail = format!(
                    "first secure start-up with certificate {}; asking for the TAN",
                    certificate.serial
                );
                self.record = DeviceSecurity {
                    pending_tan: self.record.pending_tan.clone(),
                    pin_bootstrap: true,
                    certificate_serial: Some(certificate.serial.clone()),
                    ..changed(self.now, SecurityState::AwaitingTan, &detail)
                };
                self.history(detail);
                ask_for_tan(self.input, self.decision, &mut self.state);
                answered = true;
            } else {
                let detail = format!("Secure Mode established with certificate {}", certificate.serial);
                self.record = DeviceSecurity {
                    certificate_serial: Some(certificate.serial.clone()),
                    ..changed(self.now, SecurityState::Secure, &detail)
                };
                self.history(detail);
            }
        } else if self.record.state == SecurityState::AwaitingTan {
            ask_for_tan(self.input, self.decision, &mut self.state);
            answered = true;
        } else if self.record.state != SecurityState::Secure {
            let detail = format!("Secure Mode confirmed with certificate {}", certificate.serial);
            self.record = DeviceSecurity {
                certificate_serial: Some(certificate.serial.clone()),
                ..changed(self.now, SecurityState::Secure, &detail)
            };
            self.history(detail);
        }
        if !answered && let Some(material) = self.input.security.bootstrap_material() {
            self.history(format!(
                "certificate {} expires at {}: renewal sent with certificate {}",
                certificate.serial, certificate.not_after, material.certificate.serial
            ));
            send_bootstrap(self.input, self.decision, &mut self.state, true);
            answered = true;
        }
        answered
    }
}

/// A new state record.
fn changed(now: Timestamp, state: SecurityState, detail: &str) -> DeviceSecurity {
    DeviceSecurity { state, since: now, detail: detail.to_owned(), ..DeviceSecurity::default() }
}

/// Ends the record's certificate, if it has one.
fn end_certificate(decision: &mut Decision, record: &DeviceSecurity, state: CertificateState, reason: &str) {
    if let Some(serial) = &record.certificate_serial {
        decision.certificates.push(CertificateChange::Ended {
            serial: serial.clone(),
            state,
            reason: reason.to_owned(),
        });
    }
}

/// The bootstrap `WriteItems` (guide p. 64 without PIN, p. 67 with PIN).
fn send_bootstrap(input: &Input, decision: &mut Decision, state: &mut InteractionState, renewal: bool) {
    let Some(material) = input.security.bootstrap_material() else { return };
    decision.reply = DlsMessage::with_items(&input.message.nonce, Action::WriteItems, material.items.clone());
    decision.certificates.push(CertificateChange::Issued(material.certificate.clone()));
    state.step = Step::Bootstrapping { serial: material.certificate.serial.clone(), renewal };
    decision.interaction = InteractionChange::Start(state.clone());
}

/// `ReadItems` `bootstrapping-tan` (guide p. 68).
fn ask_for_tan(input: &Input, decision: &mut Decision, state: &mut InteractionState) {
    decision.reply =
        DlsMessage::with_items(&input.message.nonce, Action::ReadItems, vec![Item::new(TAN_ITEM, "")]);
    state.step = Step::CheckingTan;
    decision.interaction = InteractionChange::Start(state.clone());
}

/// The phone answered the bootstrap `WriteItems`: accepted without item errors, it moves to the
/// secure port after `CleanUp` (p. 64 steps 3-5); refused items end the bootstrap.
pub(super) fn on_bootstrap_reply(
    input: &Input,
    decision: &mut Decision,
    mac: &str,
    reason: &str,
    serial: &str,
    renewal: bool,
) {
    let refused: Vec<String> = input
        .message
        .items
        .iter()
        .filter_map(|item| item.status.as_ref().map(|status| format!("{} ({})", item.name, status.as_wire())))
        .collect();
    let now = input.now;
    if refused.is_empty() {
        let detail = match renewal {
            true => format!("renewed certificate {serial} accepted"),
            false => {
                format!("bootstrap accepted; the phone moves to the secure port with certificate {serial}")
            }
        };
        decision.history.push(event(mac, now, EventKind::Security, reason, &detail));
        return;
    }
    let detail = format!("the phone refused the bootstrap: {}", refused.join(", "));
    decision.certificates.push(CertificateChange::Ended {
        serial: serial.to_owned(),
        state: CertificateState::Revoked,
        reason: detail.clone(),
    });
    if !renewal {
        decision.security = Some(changed(now, SecurityState::Default, &detail));
    }
    decision.history.push(event(mac, now, EventKind::Security, reason, &detail));
    decision.reply = DlsMessage::clean_up_because(&decision.reply.nonce, &detail);
    decision.error = Some(detail);
}

/// The TAN came back (p. 68): right, the device is secure and the interaction goes on (returns
/// true); wrong, `CleanUp` with "wrong TAN from device" (p. 31), the certificate is revoked and
/// the device locked until an administrator resets it (returns false).
pub(super) fn on_tan(input: &Input, decision: &mut Decision, mac: &str, reason: &str) -> bool {
    let now = input.now;
    let record = &input.security.device;
    let tan = input.message.value(TAN_ITEM);
    let expected = record.pending_tan.as_deref();
    if record.state == SecurityState::AwaitingTan && tan.is_some() && tan == expected {
        let detail = "TAN correct: Secure Mode established".to_owned();
        decision.security = Some(DeviceSecurity {
            certificate_serial: record.certificate_serial.clone(),
            ..changed(now, SecurityState::Secure, &detail)
        });
        decision.history.push(event(mac, now, EventKind::Security, reason, &detail));
        return true;
    }
    let detail = format!(
        "wrong TAN from the phone: certificate {} revoked, device locked until an administrator resets it",
        record.certificate_serial.as_deref().unwrap_or("-")
    );
    end_certificate(decision, record, CertificateState::Revoked, WRONG_TAN_REASON);
    decision.security = Some(changed(now, SecurityState::Locked, &detail));
    decision.history.push(event(mac, now, EventKind::Security, reason, &detail));
    decision.reply = DlsMessage::clean_up_because(&decision.reply.nonce, WRONG_TAN_REASON);
    decision.security_event = Some(format!("{mac}: {detail}"));
    decision.error = Some(WRONG_TAN_REASON.to_owned());
    false
}

/// A phone `clean-up` (p. 83): after too many wrong PINs the pending certificate is revoked and
/// the bootstrap starts again at the device's next contact.
pub(super) fn on_phone_clean_up(input: &Input, decision: &mut Decision, mac: &str, why: &str) {
    if why != PIN_RETRIES_EXCEEDED {
        return;
    }
    let record = &input.security.device;
    let detail = "the user exceeded the PIN retries: pending certificate revoked; the bootstrap is sent again at the next contact";
    if record.state == SecurityState::Bootstrapping {
        end_certificate(decision, record, CertificateState::Revoked, PIN_RETRIES_EXCEEDED);
        decision.security = Some(changed(input.now, SecurityState::Default, detail));
    }
    decision.history.push(event(mac, input.now, EventKind::Security, "clean-up", detail));
    decision.security_event = Some(format!("{mac}: {detail}"));
}
