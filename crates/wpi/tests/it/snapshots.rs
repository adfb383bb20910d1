//! The canonical output of every action, pinned byte for byte.

use insta::assert_snapshot;
use opendls_wpi::{
    Action, DlsMessage, Fragment, Item, ItemStatus, ReasonForContact, ReplyStatus, WorkpointMessage,
    write_dls_message, write_workpoint_message,
};

const NONCE: &str = "58D4EE11C844865CAF0E9AA11ED2856F";

fn dls(action: Action, items: Vec<Item>) -> String {
    write_dls_message(&DlsMessage::with_items(NONCE, action, items))
}

#[test]
fn read_all_items() {
    assert_snapshot!(dls(Action::ReadAllItems, vec![]));
}

#[test]
fn read_items() {
    assert_snapshot!(dls(
        Action::ReadItems,
        vec![Item::request("bootstrapping-tan"), Item::request("wbm-server-certificate-info")]
    ));
}

#[test]
fn write_items_with_escaping_and_indexes() {
    assert_snapshot!(dls(
        Action::WriteItems,
        vec![
            Item::new("sntp-addr", "time.nist.gov"),
            Item::new("display-id-unicode", "Müller & Söhne <Empfang>"),
            Item::indexed("XML-app-name", 1, "phonebook"),
            Item::indexed(
                "dls-server-ca",
                0,
                "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
            ),
            Item::new("user-pwd", " padded "),
        ]
    ));
}

#[test]
fn restart_and_factory_reset() {
    assert_snapshot!(dls(Action::Restart, vec![]));
    assert_snapshot!(dls(
        Action::Restart,
        vec![Item::new("restart-password", "124816"), Item::new("restart-type", "FactoryReset")]
    ));
}

#[test]
fn file_deployment() {
    assert_snapshot!(dls(
        Action::FileDeployment,
        vec![
            Item::new("file-https-base-url", "https://files.example/ring.wav?a=1&b=2"),
            Item::new("file-type", "RINGTONE")
        ]
    ));
}

#[test]
fn software_deployment() {
    assert_snapshot!(dls(
        Action::SoftwareDeployment,
        vec![
            Item::new("file-https-base-url", "https://files.example/OS40_SIP_V3_R5_12_0.img"),
            Item::new("file-type", "APP"),
            Item::new("file-sw-type", "Siemens SIP"),
            Item::new("file-sw-version", "3.5.12.0"),
            Item::new("file-priority", "normal"),
        ]
    ));
}

#[test]
fn clean_up_variants() {
    assert_snapshot!(write_dls_message(&DlsMessage::new(NONCE, Action::CleanUp)));
    assert_snapshot!(write_dls_message(&DlsMessage::clean_up_because(NONCE, "overload")));
    assert_snapshot!(write_dls_message(&DlsMessage::clean_up_send_solicited(NONCE)));
}

#[test]
fn get_next_fragment() {
    assert_snapshot!(dls(Action::GetNextFragment, vec![]));
}

#[test]
fn workpoint_reply_with_item_errors() {
    assert_snapshot!(write_workpoint_message(&WorkpointMessage {
        nonce: NONCE.into(),
        max_items: Some(-1),
        fragment: Some(Fragment::Final),
        reason: ReasonForContact::reply_to(Action::WriteItems, ReplyStatus::Accepted),
        items: vec![Item { status: Some(ItemStatus::ReadOnly), ..Item::request("device-type") }],
    }));
}
