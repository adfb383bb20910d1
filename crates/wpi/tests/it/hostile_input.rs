//! Bodies that must be refused, each with a clear error.

use opendls_wpi::{
    ParseError, ParseLimits, parse_dls_message, parse_workpoint_message, parse_workpoint_message_with,
};

const START: &str = r#"<WorkpointMessage xmlns="http://www.siemens.com/DLS"><Message nonce="N1"><ReasonForContact>start-up</ReasonForContact>"#;
const END: &str = "</Message></WorkpointMessage>";

fn with_items(items: &str) -> String {
    format!("{START}<ItemList>{items}</ItemList>{END}")
}

#[test]
fn billion_laughs_is_refused_at_the_dtd() {
    let mut body = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
    for level in 1..10 {
        let previous = if level == 1 { "lol".to_owned() } else { format!("lol{}", level - 1) };
        body.push_str(&format!("<!ENTITY lol{level} \"{}\">\n", format!("&{previous};").repeat(10)));
    }
    body.push_str("]>\n");
    body.push_str(&with_items("<Item name=\"x\">&lol9;</Item>"));
    assert_eq!(parse_workpoint_message(body.as_bytes()), Err(ParseError::DtdForbidden));
}

#[test]
fn external_entity_is_refused() {
    let body = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE m [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>{}",
        with_items("<Item name=\"x\">&xxe;</Item>")
    );
    assert_eq!(parse_workpoint_message(body.as_bytes()), Err(ParseError::DtdForbidden));
}

#[test]
fn undeclared_entity_is_refused_not_dropped() {
    let body = with_items("<Item name=\"x\">a&xxe;b</Item>");
    assert_eq!(parse_workpoint_message(body.as_bytes()), Err(ParseError::UndefinedEntity("xxe".into())));
}

#[test]
fn character_reference_to_a_non_xml_character_is_refused() {
    let body = with_items("<Item name=\"x\">&#0;</Item>");
    assert!(matches!(parse_workpoint_message(body.as_bytes()), Err(ParseError::UndefinedEntity(_))));
    let body = with_items("<Item name=\"x\">&#x1;</Item>");
    assert!(matches!(parse_workpoint_message(body.as_bytes()), Err(ParseError::UndefinedEntity(_))));
}

#[test]
fn oversized_body_is_refused_before_parsing() {
    let body = with_items(&"<Item name=\"x\">y</Item>".repeat(60_000));
    assert!(body.len() > 1024 * 1024);
    assert_eq!(
        parse_workpoint_message(body.as_bytes()),
        Err(ParseError::TooLarge { size: body.len(), limit: 1024 * 1024 })
    );
    let limits = ParseLimits { max_bytes: 100, ..ParseLimits::default() };
    assert!(matches!(
        parse_workpoint_message_with(with_items("").as_bytes(), limits),
        Err(ParseError::TooLarge { .. })
    ));
}

#[test]
fn deep_nesting_is_refused() {
    let deep = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
    let body = with_items(&format!("<Item name=\"x\">{deep}</Item>"));
    assert_eq!(parse_workpoint_message(body.as_bytes()), Err(ParseError::TooDeep { limit: 16 }));
}

#[test]
fn missing_or_empty_nonce_is_refused() {
    let body = r#"<WorkpointMessage><Message><ReasonForContact>start-up</ReasonForContact></Message></WorkpointMessage>"#;
    assert_eq!(parse_workpoint_message(body.as_bytes()), Err(ParseError::MissingNonce));
    let body = r#"<WorkpointMessage><Message nonce=" "><ReasonForContact>start-up</ReasonForContact></Message></WorkpointMessage>"#;
    assert_eq!(parse_workpoint_message(body.as_bytes()), Err(ParseError::MissingNonce));
    let body = r#"<DLSMessage><Message><Action>CleanUp</Action></Message></DLSMessage>"#;
    assert_eq!(parse_dls_message(body.as_bytes()), Err(ParseError::MissingNonce));
}

#[test]
fn structural_errors_are_named() {
    let cases: &[(&str, ParseError)] = &[
        ("", ParseError::WrongRoot { expected: "WorkpointMessage", found: String::new() }),
        (
            "<html><body/></html>",
            ParseError::WrongRoot { expected: "WorkpointMessage", found: "html".into() },
        ),
        ("<WorkpointMessage/>", ParseError::MissingElement("Message")),
        (
            "<WorkpointMessage><Message nonce=\"1\"/></WorkpointMessage>",
            ParseError::MissingElement("ReasonForContact"),
        ),
        (
            "<WorkpointMessage><Message nonce=\"1\"><ReasonForContact>a</ReasonForContact><ReasonForContact>b</ReasonForContact></Message></WorkpointMessage>",
            ParseError::DuplicateElement("ReasonForContact"),
        ),
        (
            "<WorkpointMessage><Message nonce=\"1\"><ReasonForContact>a</ReasonForContact><ItemList><Item>v</Item></ItemList></Message></WorkpointMessage>",
            ParseError::ItemWithoutName,
        ),
        (
            "<WorkpointMessage><Message nonce=\"1\"><ReasonForContact>a</ReasonForContact><ItemList><Item name=\"a\" index=\"one\"/></ItemList></Message></WorkpointMessage>",
            ParseError::InvalidAttribute { attribute: "index" },
        ),
        (
            "<WorkpointMessage><Message nonce=\"1\" maxItems=\"lots\"><ReasonForContact>a</ReasonForContact></Message></WorkpointMessage>",
            ParseError::InvalidAttribute { attribute: "maxItems" },
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(parse_workpoint_message(body.as_bytes()).as_ref(), Err(expected), "{body}");
    }
}

#[test]
fn a_service_message_needs_exactly_one_action() {
    let none = r#"<DLSMessage><Message nonce="1"></Message></DLSMessage>"#;
    assert_eq!(parse_dls_message(none.as_bytes()), Err(ParseError::MissingElement("Action")));
    let two = r#"<DLSMessage><Message nonce="1"><Action>CleanUp</Action><Action>Restart</Action></Message></DLSMessage>"#;
    assert_eq!(parse_dls_message(two.as_bytes()), Err(ParseError::DuplicateElement("Action")));
    let empty = r#"<DLSMessage><Message nonce="1"><Action> </Action></Message></DLSMessage>"#;
    assert_eq!(parse_dls_message(empty.as_bytes()), Err(ParseError::MissingElement("Action")));
}

#[test]
fn malformed_xml_is_refused() {
    for body in [
        "<WorkpointMessage><Message nonce=\"1\">",
        "<WorkpointMessage><Message nonce=\"1\"><ReasonForContact>a</Reason></Message></WorkpointMessage>",
        "<WorkpointMessage><Message nonce=\"1><ReasonForContact>a</ReasonForContact></Message></WorkpointMessage>",
        "garbage",
        "<WorkpointMessage><Message nonce=\"1\"><ReasonForContact>a</ReasonForContact></Message></WorkpointMessage><second/>",
    ] {
        let result = parse_workpoint_message(body.as_bytes());
        assert!(
            matches!(
                result,
                Err(ParseError::Malformed { .. }
                    | ParseError::WrongRoot { .. }
                    | ParseError::MissingElement(_))
            ),
            "{body}: {result:?}"
        );
    }
}

#[test]
fn non_utf8_is_refused() {
    let mut body = with_items("<Item name=\"x\">caf</Item>").into_bytes();
    let at = body.windows(3).position(|w| w == b"caf").unwrap() + 3;
    body.insert(at, 0xE9); // Latin-1 e-acute
    assert_eq!(parse_workpoint_message(&body), Err(ParseError::NotUtf8));
}

#[test]
fn errors_never_repeat_item_values() {
    let body = with_items("<Item name=\"user-pwd\">s3cret&bogus;</Item>");
    let message = parse_workpoint_message(body.as_bytes()).unwrap_err().to_string();
    assert!(!message.contains("s3cret"), "{message}");
}

#[test]
fn raw_control_characters_are_refused() {
    // Found by the fuzzer: a NUL inside <Action> parsed, then could not be written back.
    let body = "<DLSMessage><Message nonce=\"1\"><Action>Clean\0Up</Action></Message></DLSMessage>";
    assert_eq!(parse_dls_message(body.as_bytes()), Err(ParseError::InvalidCharacter { position: 44 }));
}

#[test]
fn character_references_to_forbidden_characters_in_attributes_are_refused() {
    // Found by the fuzzer: `nonce="58D4&#5;C8"` parsed, then could not be written back.
    let body = r#"<WorkpointMessage><Message nonce="58D4&#5;C8"><ReasonForContact>start-up</ReasonForContact></Message></WorkpointMessage>"#;
    assert!(matches!(parse_workpoint_message(body.as_bytes()), Err(ParseError::UndefinedEntity(_))));
}
