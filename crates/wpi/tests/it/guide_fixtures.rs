//! Every XML example of the guide parses to the structure the guide shows.

use opendls_wpi::{
    Action, DlsMessage, Fragment, ItemStatus, ParseError, Reason, ReplyStatus, WorkpointMessage,
    parse_dls_message, parse_workpoint_message,
};

use crate::fixture;

fn phone(name: &str) -> WorkpointMessage {
    parse_workpoint_message(&fixture(&format!("guide/{name}"))).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn service(name: &str) -> DlsMessage {
    parse_dls_message(&fixture(&format!("guide/{name}"))).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// (name, index, status, value) of every item, for compact assertions.
fn items(items: &[opendls_wpi::Item]) -> Vec<(&str, Option<u32>, Option<&str>, &str)> {
    items
        .iter()
        .map(|i| (i.name.as_str(), i.index, i.status.as_ref().map(|s| s.as_wire()), i.value.as_str()))
        .collect()
}

const BASIC_ITEM_NAMES: [&str; 14] = [
    "device-type",
    "related-device-type",
    "software-type",
    "related-software-type",
    "contact-me-uri",
    "mac-addr",
    "configuration-changed-flag",
    "part-number",
    "sip-mobility-state",
    "e164",
    "user-pwd",
    "user-pwd-unicode",
    "basic-e164",
    "mobility-enabled",
];

#[test]
fn p33_start_up() {
    let m = phone("p33-start-up.xml");
    assert_eq!(m.nonce, "ab15234de14f15a667c6f8d");
    assert_eq!(m.reason.reason, Reason::StartUp);
    assert_eq!(
        (m.reason.action.clone(), m.reason.status.clone(), m.fragment.clone(), m.max_items),
        (None, None, None, None)
    );
    let names: Vec<_> = m.items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, BASIC_ITEM_NAMES);
    // The guide prints this value on its own line (p. 33); the phone means the bare URI.
    assert_eq!(m.value("contact-me-uri"), Some("http://192.168.3.33:8085/contact_dls.html/ContactDLS"));
    assert_eq!(m.value("mac-addr"), Some("00:01:E3:00:A9:F3"));
    let failed = m.item("user-pwd-unicode").unwrap();
    assert_eq!((failed.status.clone(), failed.value.as_str()), (Some(ItemStatus::Failed), ""));
    assert_eq!(m.item_limit(), None);
}

#[test]
fn p34_p35_read_all_items_then_clean_up() {
    let read = service("p34-read-all-items.xml");
    assert_eq!(
        (read.nonce.as_str(), read.action.clone(), read.items.len()),
        ("ab15234de14f15a667c6f8d", Action::ReadAllItems, 0)
    );
    let reply = phone("p34-reply-read-all-items.xml");
    assert_eq!(
        reply.reason,
        opendls_wpi::ReasonForContact::reply_to(Action::ReadAllItems, ReplyStatus::Accepted)
    );
    assert_eq!(reply.items.len(), 16);
    assert_eq!(items(&reply.items[15..]), [("ldap-server-address", Some(1), None, "ldap.mycompany.com")]);
    let clean = service("p35-clean-up.xml");
    assert_eq!((clean.action, clean.items.len()), (Action::CleanUp, 0));
}

#[test]
fn p38_p40_local_changes_both_kinds() {
    let old = phone("p38-local-changes-v2r1.xml");
    assert_eq!(old.reason.reason, Reason::LocalChanges, "whitespace around the reason is trimmed");
    assert_eq!(old.value("configuration-changed-flag"), Some("true"));
    assert!(old.item("configuration-attached-flag").is_none());

    let new = phone("p40-local-changes-v2r2.xml");
    assert_eq!(new.reason.reason, Reason::LocalChanges);
    assert_eq!(new.value("configuration-attached-flag"), Some("true"));
    assert_eq!(new.value("configuration-attached-number"), Some("4"));
    assert_eq!(
        items(&new.items[16..]),
        [
            ("dhcp", None, None, "true"),
            ("dls-addr", None, None, "192.168.1.150"),
            ("lldp-enabled", None, None, "true"),
            ("vlan-method", None, None, "0")
        ]
    );
}

#[test]
fn p41_p43_p45_solicited_read_items() {
    assert_eq!(service("p41-clean-up.xml").nonce, "9A6439F4E323CDB19283E40459828B56");
    assert_eq!(phone("p43-solicited.xml").reason.reason, Reason::Solicited);
    let reply = phone("p45-reply-read-items.xml");
    assert_eq!((reply.fragment.clone(), reply.max_items), (Some(Fragment::Final), Some(-1)));
    assert_eq!(reply.reason.action, Some(Action::ReadItems));
    assert_eq!(reply.items.len(), 14);
    assert_eq!(reply.value("rtp-base-port"), Some("5010"));
    assert_eq!(service("p45-clean-up.xml").nonce, reply.nonce);
}

#[test]
fn p48_write_items_accepted() {
    let write = service("p48-write-items.xml");
    assert_eq!(write.action, Action::WriteItems);
    assert_eq!(
        items(&write.items),
        [
            ("sntp-tz-offset", None, None, "60"),
            ("auto-daylight-save", None, None, "true"),
            ("sntp-addr", None, None, "time.nist.gov"),
            ("daylight-save", None, None, "true"),
            ("daylight-save-zone-id", None, None, "9"),
        ]
    );
    let reply = phone("p48-reply-write-items-accepted.xml");
    assert_eq!(reply.reason.effective_status(), ReplyStatus::Accepted);
    assert!(reply.items.is_empty(), "<ItemList/> is an empty list");
    assert_eq!(service("p48-clean-up.xml").nonce, "0A8D39A3253E92715EFA5F5F63C25FFB");
}

#[test]
fn p51_restart_and_factory_reset() {
    assert_eq!(service("p51-restart.xml").action, Action::Restart);
    let reset = service("p51-factory-reset.xml");
    assert_eq!(
        items(&reset.items),
        [("restart-password", None, None, "124816"), ("restart-type", None, None, "FactoryReset")]
    );
}

#[test]
fn p53_to_p57_file_and_software_deployment() {
    let ftp = service("p53-file-deployment-ftp.xml");
    assert_eq!((ftp.action.clone(), ftp.items.len()), (Action::FileDeployment, 7));
    let https = service("p53-file-deployment-https.xml");
    assert_eq!(https.items[2].value, "https://192.168.1.150/media/ringtone-phone.wav");
    let status = phone("p54-status-file-deployment.xml");
    assert_eq!(status.reason.reason, Reason::Status);
    assert_eq!(status.value("file-deployment-status"), Some("ok"));
    assert_eq!(status.value("file-deployment-date"), Some("10:06:2008"));
    let multiple = service("p55-file-deployment-multiple.xml");
    assert_eq!(multiple.items.iter().filter(|i| i.index == Some(2)).count(), 3);
    let firmware = service("p57-software-deployment.xml");
    assert_eq!(firmware.action, Action::SoftwareDeployment);
    assert_eq!(firmware.items.iter().find(|i| i.name == "file-sw-version").unwrap().value, "1.4.9.0");
}

#[test]
fn p60_certificate_deployment() {
    let write = service("p60-write-wbm-certificate.xml");
    assert_eq!(write.items[0].name, "wbm-server-certificate");
    assert!(phone("p60-reply-write-accepted.xml").items.is_empty());
    let read = service("p60-read-wbm-certificate-info.xml");
    assert_eq!(items(&read.items), [("wbm-server-certificate-info", None, None, "")]);
}

#[test]
fn p64_p67_p68_secure_mode() {
    let nopin = service("p64-write-bootstrap-nopin.xml");
    assert_eq!(nopin.items.len(), 5);
    assert_eq!(nopin.items[2].index, Some(0));
    assert_eq!(
        nopin.items[2].value, "-----BEGIN\nCERTIFICATE-----.....",
        "line breaks inside a value are kept"
    );
    let accepted = phone("p64-reply-bootstrap-accepted.xml");
    assert_eq!(
        accepted.reason,
        opendls_wpi::ReasonForContact::reply_to(Action::WriteItems, ReplyStatus::Accepted)
    );
    assert_eq!(accepted.fragment, Some(Fragment::Final));
    let pin = service("p67-write-bootstrap-pin.xml");
    assert_eq!(
        pin.items.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
        ["goto-secure-mode", "secure-mode-data", "max-pin-retries"]
    );
    assert_eq!(service("p68-read-bootstrapping-tan.xml").items[0].name, "bootstrapping-tan");
    let tan = phone("p68-reply-bootstrapping-tan.xml");
    assert_eq!((tan.reason.reason.clone(), tan.value("bootstrapping-tan")), (Reason::ReplyTo, Some("321")));
}

#[test]
fn guide_typos_are_reported_as_malformed() {
    for name in ["p64-write-bootstrap-nopin-as-printed.xml", "p67-write-bootstrap-pin-as-printed.xml"] {
        let error = parse_dls_message(&fixture(&format!("guide/{name}"))).unwrap_err();
        assert!(matches!(error, ParseError::Malformed { .. }), "{name}: {error}");
    }
}

#[test]
fn p70_fragmentation() {
    let first = phone("p70-fragment-next.xml");
    assert!(first.expects_more_fragments());
    assert_eq!(first.items.len(), 2, "the guide's `...` placeholder is not an item");
    let next = service("p70-get-next-fragment.xml");
    assert_eq!((next.action, next.nonce), (Action::GetNextFragment, first.nonce));
}

#[test]
fn p76_busy_and_send_solicited() {
    let busy = phone("p76-reply-busy.xml");
    assert_eq!(busy.reason.status, Some(ReplyStatus::Busy));
    assert!(busy.items.is_empty(), "a busy reply has no ItemList");
    let clean = service("p76-clean-up-send-solicited.xml");
    assert_eq!(items(&clean.items), [("send-solicited", None, None, "true")]);
}

#[test]
fn p78_p81_p83_per_item_errors() {
    assert_eq!(service("p78-write-unknown-item.xml").items[0].name, "socketed-headset-mode");
    assert_eq!(
        items(&phone("p78-reply-unknown-item.xml").items),
        [("socketed-headset-mode", None, Some("unknown item"), "")]
    );
    assert_eq!(
        items(&phone("p81-reply-failed-index.xml").items),
        [("Canonical-lookup-international-code", Some(6), Some("failed"), "")]
    );
    let read_only = phone("p83-reply-read-only.xml");
    assert_eq!(read_only.items[0].status, Some(ItemStatus::ReadOnly));
    let retries = phone("p83-clean-up-password-retries.xml");
    assert_eq!(
        (retries.reason.reason.clone(), retries.value("cleanup-reason")),
        (Reason::CleanUp, Some("password retries exceeded"))
    );
    let wrong_tan = service("p31-clean-up-wrong-tan.xml");
    assert_eq!(
        wrong_tan,
        DlsMessage::clean_up_because("58D4EE11C844865CAF0E9AA11ED2856F", "wrong TAN from device")
    );
}

#[test]
fn every_fixture_is_covered_by_a_test() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/guide");
    let source = include_str!("guide_fixtures.rs");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".xml") {
            assert!(source.contains(&format!("\"{name}\"")), "{name} is not asserted anywhere");
        }
    }
}
