//! Canonical serialization of WPI messages.
//!
//! The envelope is the one of every guide example (p. 33, p. 35): an XML declaration with UTF-8
//! (p. 30), the default namespace `http://www.siemens.com/DLS`, `xmlns:xsi` and a bare
//! `xsi:schemaLocation`. Values are escaped so that any string survives a round trip through
//! [`crate::parse`]: markup characters become entity references, and whitespace that a parser
//! would trim or normalise (at the edges of a value, and every carriage return) becomes a
//! character reference.

use std::fmt::Write;

use crate::model::{DlsMessage, Item, WorkpointMessage};
use crate::parse::is_xml_char;

/// The namespace of every WPI message (guide p. 33, p. 35).
pub const WPI_NAMESPACE: &str = "http://www.siemens.com/DLS";

const XML_DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
const NAMESPACE_ATTRIBUTES: &str = concat!(
    " xmlns=\"http://www.siemens.com/DLS\"",
    " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"",
    " xsi:schemaLocation=\"http://www.siemens.com/DLS\"",
);

/// Serializes a service message. The `ItemList` is omitted when there are no items, as in the
/// guide's `ReadAllItems` and `CleanUp` examples (p. 34-35).
pub fn write_dls_message(message: &DlsMessage) -> String {
    let mut out = String::with_capacity(256 + message.items.len() * 64);
    out.push_str(XML_DECLARATION);
    out.push_str("<DLSMessage");
    out.push_str(NAMESPACE_ATTRIBUTES);
    out.push_str(">\n  <Message nonce=\"");
    escape_attribute(&message.nonce, &mut out);
    out.push_str("\">\n    <Action>");
    escape_text(message.action.as_wire(), &mut out);
    out.push_str("</Action>\n");
    if !message.items.is_empty() {
        write_item_list(&message.items, &mut out);
    }
    out.push_str("  </Message>\n</DLSMessage>\n");
    out
}

/// Serializes a phone message (for the phone simulator and tests). The `ItemList` is always
/// written, empty as `<ItemList/>` (p. 48).
pub fn write_workpoint_message(message: &WorkpointMessage) -> String {
    let mut out = String::with_capacity(256 + message.items.len() * 64);
    out.push_str(XML_DECLARATION);
    out.push_str("<WorkpointMessage");
    out.push_str(NAMESPACE_ATTRIBUTES);
    out.push_str(">\n  <Message nonce=\"");
    escape_attribute(&message.nonce, &mut out);
    out.push('"');
    if let Some(max_items) = message.max_items {
        let _ = write!(out, " maxItems=\"{max_items}\"");
    }
    if let Some(fragment) = &message.fragment {
        out.push_str(" fragment=\"");
        escape_attribute(fragment.as_wire(), &mut out);
        out.push('"');
    }
    out.push_str(">\n    <ReasonForContact");
    let reason = &message.reason;
    if let Some(action) = &reason.action {
        out.push_str(" action=\"");
        escape_attribute(action.as_wire(), &mut out);
        out.push('"');
    }
    if let Some(status) = &reason.status {
        out.push_str(" status=\"");
        escape_attribute(status.as_wire(), &mut out);
        out.push('"');
    }
    out.push('>');
    escape_text(reason.reason.as_wire(), &mut out);
    out.push_str("</ReasonForContact>\n");
    if message.items.is_empty() {
        out.push_str("    <ItemList/>\n");
    } else {
        write_item_list(&message.items, &mut out);
    }
    out.push_str("  </Message>\n</WorkpointMessage>\n");
    out
}

fn write_item_list(items: &[Item], out: &mut String) {
    out.push_str("    <ItemList>\n");
    for item in items {
        write_item(item, out);
    }
    out.push_str("    </ItemList>\n");
}

/// Writes one `<Item>` line. Empty items are written `<Item name="x"></Item>`, the form of the
/// guide's read requests (p. 60, p. 68).
pub(crate) fn write_item(item: &Item, out: &mut String) {
    out.push_str("      <Item name=\"");
    escape_attribute(&item.name, out);
    out.push('"');
    if let Some(index) = item.index {
        let _ = write!(out, " index=\"{index}\"");
    }
    if let Some(item_type) = &item.item_type {
        out.push_str(" type=\"");
        escape_attribute(item_type, out);
        out.push('"');
    }
    if let Some(status) = &item.status {
        out.push_str(" status=\"");
        escape_attribute(status.as_wire(), out);
        out.push('"');
    }
    out.push('>');
    escape_text(&item.value, out);
    out.push_str("</Item>\n");
}

/// The number of bytes [`write_item`] produces for this item, for fragmentation.
pub(crate) fn written_item_len(item: &Item) -> usize {
    let mut out = String::with_capacity(item.name.len() + item.value.len() + 40);
    write_item(item, &mut out);
    out.len()
}

/// The bytes of a service message with no items, for a nonce of `nonce_len` bytes.
pub(crate) fn dls_envelope_len(nonce_len: usize) -> usize {
    let empty = DlsMessage::new("", crate::model::Action::SoftwareDeployment);
    write_dls_message(&empty).len() + nonce_len + "    <ItemList>\n    </ItemList>\n".len()
}

/// Escapes element content. Characters XML cannot carry at all (most C0 controls) become
/// U+FFFD: the configuration layer refuses them earlier, so this is a last line of defence.
fn escape_text(text: &str, out: &mut String) {
    let first_kept = text.len() - text.trim_start_matches(is_edge_whitespace).len();
    let last_kept = text.trim_end_matches(is_edge_whitespace).len();
    for (at, c) in text.char_indices() {
        let at_edge = at < first_kept || at >= last_kept;
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            // `>` only matters after `]]`, but escaping it always is simpler and harmless.
            '>' => out.push_str("&gt;"),
            // Parsers normalise a literal CR away, so it must always travel as a reference.
            '\r' => out.push_str("&#13;"),
            ' ' | '\t' | '\n' if at_edge => {
                let _ = write!(out, "&#{};", c as u32);
            }
            c if !is_xml_char(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

fn escape_attribute(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // Attribute-value normalisation would turn these into spaces.
            '\t' | '\n' | '\r' => {
                let _ = write!(out, "&#{};", c as u32);
            }
            c if !is_xml_char(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

fn is_edge_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: &str) -> String {
        let mut out = String::new();
        escape_text(value, &mut out);
        out
    }

    #[test]
    fn markup_is_escaped() {
        assert_eq!(text("a<b>&c\"'"), "a&lt;b&gt;&amp;c\"'");
    }

    #[test]
    fn edge_whitespace_is_protected_inner_whitespace_is_not() {
        assert_eq!(text(" a b\n"), "&#32;a b&#10;");
        assert_eq!(text("line1\nline2"), "line1\nline2");
        assert_eq!(text("a\r\nb"), "a&#13;\nb");
    }

    #[test]
    fn characters_xml_cannot_carry_are_replaced() {
        assert_eq!(text("a\u{1}b"), "a\u{FFFD}b");
    }

    #[test]
    fn envelope_length_matches_a_real_message() {
        let message = DlsMessage::with_items(
            "0123456789ABCDEF0123456789ABCDEF",
            crate::model::Action::WriteItems,
            vec![Item::new("a", "b")],
        );
        let expected = write_dls_message(&message).len();
        let computed = dls_envelope_len(32) + written_item_len(&message.items[0])
            - "SoftwareDeployment".len()
            + "WriteItems".len();
        assert_eq!(expected, computed);
    }
}
