//! Fuzzes the interaction engine with the messages a hostile phone could send, in sequence:
//! the input is split at 0xFF bytes into up to six message bodies; each that parses is handed to
//! the engine with the device and the interaction the previous decisions left, as the store
//! would. Oracle: no panic; every reply echoes the message's nonce, fits the guide's 50 kB
//! (p. 69) and survives the canonical writer and parser; no item value the engine keeps exceeds
//! the configured bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opendls_engine::{
    DesiredEntry, DeviceRecord, EngineSettings, Input, InteractionChange, InteractionState, ItemKey,
    LocalChangePolicy, Scope, decide,
};
use opendls_wpi::{parse_dls_message, parse_workpoint_message, write_dls_message};

fuzz_target!(|bytes: &[u8]| {
    let settings = EngineSettings::default();
    let desired = vec![
        DesiredEntry { scope: Scope::Global, key: ItemKey::new("sntp-addr", None), value: "ntp.example".into() },
        DesiredEntry { scope: Scope::Global, key: ItemKey::new("sip-pwd", None), value: "secret".into() },
    ];
    let mut device: Option<DeviceRecord> = None;
    let mut interaction: Option<InteractionState> = None;
    for (step, body) in bytes.split(|b| *b == 0xff).take(6).enumerate() {
        let Ok(message) = parse_workpoint_message(body) else { continue };
        let nonce = message.nonce.clone();
        let input = Input {
            now: 1_800_000_000 + step as i64,
            remote_addr: "127.0.0.1".into(),
            new_session_id: format!("S{step}"),
            message,
            device: device.clone(),
            interaction: interaction.clone(),
            desired: desired.clone(),
            variables: Vec::new(),
            failures: Vec::new(),
            policy: LocalChangePolicy::default(),
            tasks: Vec::new(),
            security: Default::default(),
            provisioned: None,
            newcomers: Default::default(),
            downloads: None,
        };
        // Without Secure Mode or jobs the engine never needs outside work.
        let decision = decide(&input, &settings).decision().expect("no outside needs");
        assert_eq!(decision.reply.nonce, nonce, "the reply echoes the nonce (guide p. 28)");
        let written = write_dls_message(&decision.reply);
        assert!(written.len() <= opendls_wpi::MAX_MESSAGE_BYTES, "reply of {} bytes", written.len());
        assert_eq!(parse_dls_message(written.as_bytes()).as_ref(), Ok(&decision.reply));
        if let Some(kept) = &decision.device {
            assert!(opendls_engine::inventory_bytes(kept) <= settings.max_inventory_bytes);
            device = Some(kept.clone());
        }
        interaction = match decision.interaction {
            InteractionChange::Start(state) | InteractionChange::Continue(state) => Some(state),
            InteractionChange::End(_) => None,
        };
    }
});
