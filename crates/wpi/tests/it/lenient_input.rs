//! What real phones (and the guide) send that a strict parser would refuse.

use opendls_wpi::{
    Action, Fragment, ItemStatus, Reason, ReplyStatus, parse_dls_message, parse_workpoint_message,
};

#[test]
fn namespace_prefixes_and_no_namespace_are_accepted() {
    let prefixed = r#"<d:WorkpointMessage xmlns:d="http://www.siemens.com/DLS"><d:Message d:nonce="A1"><d:ReasonForContact>solicited</d:ReasonForContact><d:ItemList><d:Item name="e164">123</d:Item></d:ItemList></d:Message></d:WorkpointMessage>"#;
    let bare = r#"<WorkpointMessage><Message nonce="A1"><ReasonForContact>solicited</ReasonForContact><ItemList><Item name="e164">123</Item></ItemList></Message></WorkpointMessage>"#;
    assert_eq!(
        parse_workpoint_message(prefixed.as_bytes()).unwrap(),
        parse_workpoint_message(bare.as_bytes()).unwrap()
    );
}

#[test]
fn declaration_bom_comments_and_processing_instructions_are_ignored() {
    let body = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- captured --><?pi x?>\n<WorkpointMessage><Message nonce=\"A\"><!-- c --><ReasonForContact>start-up</ReasonForContact></Message></WorkpointMessage>\n";
    let message = parse_workpoint_message(body.as_bytes()).unwrap();
    assert_eq!(message.reason.reason, Reason::StartUp);
    assert!(message.items.is_empty(), "no ItemList is an empty list");
}

#[test]
fn fragment_on_reason_for_contact_is_accepted() {
    // The attribute table (p. 29) puts fragment on ReasonForContact; the examples on Message.
    let body = r#"<WorkpointMessage><Message nonce="A"><ReasonForContact fragment="next" action="ReadAllItems">reply-to</ReasonForContact></Message></WorkpointMessage>"#;
    let message = parse_workpoint_message(body.as_bytes()).unwrap();
    assert_eq!(message.fragment, Some(Fragment::Next));
    assert_eq!(message.reason.status, None);
    assert_eq!(message.reason.effective_status(), ReplyStatus::Accepted, "missing status counts as accepted");
}

#[test]
fn unknown_vocabulary_is_kept() {
    let body = r#"<WorkpointMessage><Message nonce="A" fragment="later"><ReasonForContact action="TeleportItems" status="maybe">mobility-logon</ReasonForContact><ItemList><Item name="x" status="secure" type="t">v</Item></ItemList></Message></WorkpointMessage>"#;
    let message = parse_workpoint_message(body.as_bytes()).unwrap();
    assert_eq!(message.reason.reason, Reason::Other("mobility-logon".into()));
    assert_eq!(message.reason.action, Some(Action::Other("TeleportItems".into())));
    assert_eq!(message.reason.status, Some(ReplyStatus::Other("maybe".into())));
    assert_eq!(message.fragment, Some(Fragment::Other("later".into())));
    assert_eq!(message.items[0].status, Some(ItemStatus::Other("secure".into())));
    assert_eq!(message.items[0].item_type.as_deref(), Some("t"));
}

#[test]
fn sloppy_casing_and_prose_spellings_map_to_known_values() {
    let body = r#"<DlsMessage><Message nonce="A"><Action>Cleanup</Action></Message></DlsMessage>"#;
    assert_eq!(parse_dls_message(body.as_bytes()).unwrap().action, Action::CleanUp);
    let body = r#"<WorkpointMessage><Message nonce="A"><ReasonForContact>reply-to</ReasonForContact><ItemList><Item name="device-type" status="read-only"/></ItemList></Message></WorkpointMessage>"#;
    assert_eq!(parse_workpoint_message(body.as_bytes()).unwrap().items[0].status, Some(ItemStatus::ReadOnly));
}

#[test]
fn values_keep_escapes_cdata_and_inner_line_breaks() {
    let body = "<WorkpointMessage><Message nonce=\"A\"><ReasonForContact>status</ReasonForContact><ItemList>\
        <Item name=\"a\">x &amp; y &lt;z&gt; &quot;&apos; &#x263A;&#169;</Item>\
        <Item name=\"b\"><![CDATA[<raw> & ]]></Item>\
        <Item name=\"c\">\n  line1\n  line2\n</Item>\
        <Item name=\"d\"></Item><Item name=\"e\"/>\
        </ItemList></Message></WorkpointMessage>";
    let message = parse_workpoint_message(body.as_bytes()).unwrap();
    let values: Vec<&str> = message.items.iter().map(|i| i.value.as_str()).collect();
    assert_eq!(values, ["x & y <z> \"' \u{263A}\u{a9}", "<raw> & ", "line1\n  line2", "", ""]);
}

#[test]
fn unknown_elements_and_item_lists_outside_message_are_tolerated() {
    // A signed-message envelope (wpi-items-notes §3) and a peer's ItemList outside Message.
    let body = r#"<DLSMessage><Signature><Object>x</Object></Signature><Message nonce="A"><Action>CleanUp</Action></Message><ItemList><Item name="cleanup-reason">bye</Item></ItemList></DLSMessage>"#;
    let message = parse_dls_message(body.as_bytes()).unwrap();
    assert_eq!(message.items[0].value, "bye");
    let body = r#"<WorkpointMessage><Message nonce="A"><Extra><Item name="not-an-item"/></Extra><ReasonForContact>start-up<b>ignored</b></ReasonForContact></Message></WorkpointMessage>"#;
    let message = parse_workpoint_message(body.as_bytes()).unwrap();
    assert_eq!(message.reason.reason, Reason::StartUp);
    assert!(message.items.is_empty());
}

#[test]
fn windows_line_endings_are_normalised() {
    let body = "<WorkpointMessage>\r\n<Message nonce=\"A\">\r\n<ReasonForContact>\r\nstart-up\r\n</ReasonForContact>\r\n<ItemList><Item name=\"pem\">a\r\nb</Item></ItemList></Message></WorkpointMessage>";
    let message = parse_workpoint_message(body.as_bytes()).unwrap();
    assert_eq!(message.items[0].value, "a\nb");
}
