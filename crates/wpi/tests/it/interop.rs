//! What real phones and other servers send (issue 14): signed messages, CP phones, and the
//! deviations the parser accepts and reports.

use opendls_wpi::parse::{
    Deviation, SignaturePlacement, parse_dls_message_noted, parse_workpoint_message_noted,
};
use opendls_wpi::{Action, Catalog, ParseLimits, Reason, models};

use crate::fixture;

fn limits() -> ParseLimits {
    ParseLimits::default()
}

#[test]
fn a_cp210_start_up_checks_clean() {
    let (message, notes) =
        parse_workpoint_message_noted(&fixture("interop/cp210-start-up.xml"), limits()).unwrap();
    assert_eq!(message.reason.reason, Reason::StartUp);
    assert!(notes.deviations.is_empty() && notes.signature.is_none(), "{notes:?}");
    let device_type = message.value("device-type").unwrap();
    assert_eq!(models::by_device_type(device_type).unwrap().short_name, "CP210");
    for item in &message.items {
        let check = Catalog::builtin().check(&item.name, item.index, &item.value);
        assert!(check.findings.is_empty(), "{}: {:?}", item.name, check.findings);
    }
}

#[test]
fn a_service_message_signed_beside_its_message_is_read() {
    let (message, notes) =
        parse_dls_message_noted(&fixture("interop/signed-dls-enveloped.xml"), limits()).unwrap();
    assert_eq!(message.action, Action::ReadAllItems);
    assert!(notes.deviations.is_empty(), "a signature is not a deviation: {:?}", notes.deviations);
    let signature = notes.signature.unwrap();
    assert_eq!(signature.placement, SignaturePlacement::BesideMessage);
    assert!(signature.in_dsig_namespace && signature.has_certificate);
    assert_eq!(signature.references.len(), 1);
    assert!(signature.references[0].enveloped_transform);
    assert_eq!(
        signature.describe(),
        "enveloped, beside Message; covers the whole document; rsa-sha256, certificate included; not verified"
    );
}

#[test]
fn a_phone_message_signed_inside_its_message_is_read() {
    let (message, notes) =
        parse_workpoint_message_noted(&fixture("interop/signed-workpoint-inside.xml"), limits()).unwrap();
    assert_eq!(message.items.len(), 2, "the signature's elements are not items");
    let signature = notes.signature.unwrap();
    assert_eq!(signature.placement, SignaturePlacement::InsideMessage);
    assert_eq!(signature.references[0].element.as_deref(), Some("Message"));
    assert_eq!(
        signature.describe(),
        "enveloped, inside Message; covers Message (#wpi-message); rsa-sha1; not verified"
    );
}

#[test]
fn a_message_inside_an_enveloping_signature_is_read() {
    let (message, notes) =
        parse_dls_message_noted(&fixture("interop/signed-dls-enveloping.xml"), limits()).unwrap();
    assert_eq!(message.action, Action::CleanUp);
    let signature = notes.signature.unwrap();
    assert_eq!(signature.placement, SignaturePlacement::Enveloping);
    assert!(
        signature.describe().contains("covers Object holding the message (#dls)"),
        "{}",
        signature.describe()
    );
    let bare = br#"<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo/></Signature>"#;
    let error = parse_dls_message_noted(bare, limits()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "expected root element DLSMessage, found Signature, with no WPI message inside"
    );
}

#[test]
fn what_peers_get_wrong_is_accepted_and_named() {
    let (message, notes) =
        parse_dls_message_noted(&fixture("interop/peer-sloppy-clean-up.xml"), limits()).unwrap();
    assert_eq!(message.action, Action::CleanUp);
    let said: Vec<String> = notes.deviations.iter().map(ToString::to_string).collect();
    assert_eq!(
        said,
        [
            "root element DlsMessage (the guide writes DLSMessage)",
            "ItemList outside Message",
            "Action \"Cleanup\" (the guide writes \"CleanUp\")",
        ]
    );
    let (_, notes) = parse_workpoint_message_noted(&fixture("interop/empty-reason.xml"), limits()).unwrap();
    assert_eq!(notes.deviations, [Deviation::EmptyReason]);
}

#[test]
fn guide_examples_need_no_leniency() {
    for name in ["p33-start-up.xml", "p43-solicited.xml", "p45-reply-read-items.xml", "p76-reply-busy.xml"] {
        let (_, notes) = parse_workpoint_message_noted(&fixture(&format!("guide/{name}")), limits()).unwrap();
        assert!(notes.deviations.is_empty(), "{name}: {:?}", notes.deviations);
    }
    for name in ["p34-read-all-items.xml", "p53-file-deployment-ftp.xml", "p57-software-deployment.xml"] {
        let (_, notes) = parse_dls_message_noted(&fixture(&format!("guide/{name}")), limits()).unwrap();
        assert!(notes.deviations.is_empty(), "{name}: {:?}", notes.deviations);
    }
}

#[test]
fn unknown_elements_and_words_are_named() {
    let body = br#"<WorkpointMessage><Extra/><Message nonce="A"><ReasonForContact action="readitems" status="Accepted">Reply-To</ReasonForContact><Note>x</Note><ItemList><Item name="a" status="read-only">1</Item></ItemList></Message></WorkpointMessage>"#;
    let (_, notes) = parse_workpoint_message_noted(body, limits()).unwrap();
    let said: Vec<String> = notes.deviations.iter().map(ToString::to_string).collect();
    assert_eq!(
        said,
        [
            "unknown element Extra in WorkpointMessage, ignored",
            "unknown element Note in Message, ignored",
            "item status \"read-only\" (the guide writes \"read only\")",
            "ReasonForContact \"Reply-To\" (the guide writes \"reply-to\")",
            "action \"readitems\" (the guide writes \"ReadItems\")",
            "status \"Accepted\" (the guide writes \"accepted\")",
        ]
    );
}
