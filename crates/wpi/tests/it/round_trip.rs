//! Property: for arbitrary messages, `parse(serialize(m)) == m`.

use opendls_wpi::{
    Action, DlsMessage, Fragment, Item, ItemStatus, Reason, ReasonForContact, ReplyStatus, WorkpointMessage,
    parse_dls_message, parse_workpoint_message, write_dls_message, write_workpoint_message,
};
use proptest::prelude::*;

/// Any string XML 1.0 can carry, weighted towards markup, whitespace and escapes.
fn hostile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("&".to_owned()), Just("<".to_owned()), Just(">".to_owned()), Just("\"".to_owned()),
        Just("'".to_owned()), Just("]]>".to_owned()), Just("&amp;".to_owned()), Just("&#10;".to_owned()),
        Just(" ".to_owned()), Just("\t".to_owned()), Just("\n".to_owned()), Just("\r".to_owned()),
        Just("\r\n".to_owned()), Just("<!DOCTYPE x>".to_owned()), Just("<![CDATA[".to_owned()),
        "[a-zA-Z0-9:/._-]{1,12}",
        any::<char>().prop_filter("XML 1.0 characters", |c| {
            matches!(*c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
        }).prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

/// Names and other attribute-borne text: no edge whitespace, since attributes are trimmed.
fn token() -> impl Strategy<Value = String> {
    hostile_text()
        .prop_map(|s| s.trim_matches([' ', '\t', '\n', '\r']).to_owned())
        .prop_filter("non-empty", |s| !s.is_empty())
}

fn vocabulary<T: Clone + std::fmt::Debug + 'static>(
    known: &'static [T],
    from_wire: fn(&str) -> T,
) -> impl Strategy<Value = T> {
    prop_oneof![prop::sample::select(known), token().prop_map(move |s| from_wire(&s)),]
}

fn item() -> impl Strategy<Value = Item> {
    (
        token(),
        prop::option::of(any::<u32>()),
        prop::option::of(hostile_text()),
        prop::option::of(vocabulary(ItemStatus::KNOWN, ItemStatus::from_wire_lenient)),
        hostile_text(),
    )
        .prop_map(|(name, index, item_type, status, value)| Item {
            name,
            index,
            // Attribute values are whitespace-normalised by XML itself; the writer escapes
            // whitespace, so any text survives, trimming aside.
            item_type: item_type.map(|t| t.trim().to_owned()),
            status,
            value,
        })
}

fn workpoint_message() -> impl Strategy<Value = WorkpointMessage> {
    (
        token(),
        prop::option::of(any::<i64>()),
        prop::option::of(vocabulary(Fragment::KNOWN, Fragment::from_wire)),
        vocabulary(Reason::KNOWN, Reason::from_wire),
        prop::option::of(vocabulary(Action::KNOWN, Action::from_wire)),
        prop::option::of(vocabulary(ReplyStatus::KNOWN, ReplyStatus::from_wire)),
        prop::collection::vec(item(), 0..20),
    )
        .prop_map(|(nonce, max_items, fragment, reason, action, status, items)| WorkpointMessage {
            nonce,
            max_items,
            fragment,
            reason: ReasonForContact { reason, action, status },
            items,
        })
}

fn dls_message() -> impl Strategy<Value = DlsMessage> {
    (token(), vocabulary(Action::KNOWN, Action::from_wire), prop::collection::vec(item(), 0..20))
        .prop_map(|(nonce, action, items)| DlsMessage { nonce, action, items })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn workpoint_messages_survive_a_round_trip(message in workpoint_message()) {
        let xml = write_workpoint_message(&message);
        let parsed = parse_workpoint_message(xml.as_bytes());
        prop_assert_eq!(parsed.as_ref(), Ok(&message), "{}", xml);
    }

    #[test]
    fn dls_messages_survive_a_round_trip(message in dls_message()) {
        let xml = write_dls_message(&message);
        let parsed = parse_dls_message(xml.as_bytes());
        prop_assert_eq!(parsed.as_ref(), Ok(&message), "{}", xml);
    }

    #[test]
    fn the_parser_never_panics_on_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse_workpoint_message(&body);
        let _ = parse_dls_message(&body);
    }
}
