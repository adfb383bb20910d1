//! Parsing of WPI messages: lenient where real phones are sloppy, strict where safety needs it.
//!
//! Lenient: any namespace prefix or none (only local names are compared), any attribute order,
//! whitespace around text, self-closing or empty items, `<ItemList/>` or no `ItemList`, an
//! optional XML declaration, `fragment` on `Message` or on `ReasonForContact` (guide p. 29 vs
//! p. 70), unknown elements ignored, unknown vocabulary kept as `Other`.
//!
//! Strict: a size cap checked before anything is read, a nesting-depth cap, no DTD at all (so no
//! entity can be declared, which rules out billion-laughs and external-entity bodies), no entity
//! reference other than the five predefined ones and character references, UTF-8 only, and a
//! missing `nonce` is an error.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::XmlVersion;
use quick_xml::events::{BytesRef, BytesStart, Event};

use crate::model::{
    Action, DlsMessage, Fragment, Item, ItemStatus, Reason, ReasonForContact, ReplyStatus, WorkpointMessage,
};

mod chars;
mod notes;
mod text;
mod walk;

pub(crate) use chars::is_xml_char;
use chars::{first_forbidden_char, is_xml_whitespace};
pub use notes::{
    Deviation, ParseNotes, SignaturePlacement, SignatureSummary, SignedReference, XMLDSIG_NAMESPACE,
};
use text::TextCollector;
use walk::{Walk, attribute_value};

/// The guide caps one message at 50 kB (p. 69); we accept up to this much to tolerate bloat
/// (pretty-printing, firmware quirks) while keeping one request's memory bounded.
pub const DEFAULT_MAX_BYTES: usize = 1024 * 1024;

/// WPI messages are five levels deep (root, Message, ItemList, Item); anything much deeper is
/// hostile or broken.
pub const DEFAULT_MAX_DEPTH: usize = 16;

/// Bounds applied before and while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Largest accepted body, in bytes.
    pub max_bytes: usize,
    /// Deepest accepted element nesting.
    pub max_depth: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits { max_bytes: DEFAULT_MAX_BYTES, max_depth: DEFAULT_MAX_DEPTH }
    }
}

/// Why a body is not a usable WPI message. Each variant's text is fit for a `cleanup-reason`
/// and a log line; none of them repeats item values, so no secret leaks through an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The body is larger than [`ParseLimits::max_bytes`].
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the body.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// Elements nest deeper than [`ParseLimits::max_depth`].
    #[error("elements nest deeper than {limit} levels")]
    TooDeep {
        /// The limit in force.
        limit: usize,
    },
    /// The body is not UTF-8 (the guide requires UTF-8, p. 30).
    #[error("message is not valid UTF-8")]
    NotUtf8,
    /// The body contains a character XML 1.0 forbids (a NUL or other C0 control, U+FFFE, U+FFFF).
    #[error("character not allowed in XML at byte {position}")]
    InvalidCharacter {
        /// Byte offset of the character.
        position: usize,
    },
    /// The body contains a document type declaration.
    #[error("document type declarations are not allowed")]
    DtdForbidden,
    /// An entity reference that is neither predefined nor a character reference.
    #[error("undefined entity reference &{0};")]
    UndefinedEntity(String),
    /// The XML is not well-formed.
    #[error("malformed XML at byte {position}: {detail}")]
    Malformed {
        /// Byte offset where the parser gave up.
        position: u64,
        /// What the XML parser said.
        detail: String,
    },
    /// The root element is not the expected one.
    #[error("expected root element {expected}, found {found}")]
    WrongRoot {
        /// The root element this parser reads.
        expected: &'static str,
        /// The root element found (local name), or empty when there was none.
        found: String,
    },
    /// A required element is missing.
    #[error("missing element {0}")]
    MissingElement(&'static str),
    /// An element that may appear once appeared again.
    #[error("element {0} appears more than once")]
    DuplicateElement(&'static str),
    /// The `nonce` attribute of `Message` is missing or empty (guide p. 28).
    #[error("Message has no nonce")]
    MissingNonce,
    /// An `Item` has no `name` attribute (guide p. 26).
    #[error("an Item has no name")]
    ItemWithoutName,
    /// An attribute value is not of the required form.
    #[error("attribute {attribute} has an invalid value")]
    InvalidAttribute {
        /// Which attribute.
        attribute: &'static str,
    },
}

/// Parses a phone message with the default limits.
pub fn parse_workpoint_message(body: &[u8]) -> Result<WorkpointMessage, ParseError> {
    parse_workpoint_message_with(body, ParseLimits::default())
}

/// Parses a phone message with explicit limits.
pub fn parse_workpoint_message_with(
    body: &[u8],
    limits: ParseLimits,
) -> Result<WorkpointMessage, ParseError> {
    parse_workpoint_message_noted(body, limits).map(|(message, _)| message)
}

/// Parses a phone message and says what it accepted that the guide does not show, and which
/// signature the message carried.
pub fn parse_workpoint_message_noted(
    body: &[u8],
    limits: ParseLimits,
) -> Result<(WorkpointMessage, ParseNotes), ParseError> {
    let mut doc = read_document(body, limits, &["WorkpointMessage"])?;
    let message = doc.message.take().ok_or(ParseError::MissingElement("Message"))?;
    let reason = doc.reason.take().ok_or(ParseError::MissingElement("ReasonForContact"))?;
    let mut notes = doc.notes("WorkpointMessage");
    if reason.text.is_empty() {
        notes.deviations.push(Deviation::EmptyReason);
    }
    let typed_reason = Reason::from_wire(&reason.text);
    if !reason.text.is_empty() {
        note_word(
            &mut notes,
            "ReasonForContact",
            &reason.text,
            typed_reason.as_wire(),
            matches!(typed_reason, Reason::Other(_)),
        );
    }
    let action = reason.action.map(|a| {
        let typed = Action::from_wire(&a);
        note_word(&mut notes, "action", &a, typed.as_wire(), matches!(typed, Action::Other(_)));
        typed
    });
    let status = reason.status.map(|s| {
        let typed = ReplyStatus::from_wire(&s);
        note_word(&mut notes, "status", &s, typed.as_wire(), matches!(typed, ReplyStatus::Other(_)));
        typed
    });
    let message = WorkpointMessage {
        nonce: message.nonce,
        max_items: message.max_items,
        fragment: message.fragment.or(reason.fragment),
        reason: ReasonForContact { reason: typed_reason, action, status },
        items: doc.items,
    };
    Ok((message, notes))
}

/// Parses a service message with the default limits (used by the phone simulator and tests).
pub fn parse_dls_message(body: &[u8]) -> Result<DlsMessage, ParseError> {
    parse_dls_message_with(body, ParseLimits::default())
}

/// Parses a service message with explicit limits. Exactly one `Action` is required (p. 30).
pub fn parse_dls_message_with(body: &[u8], limits: ParseLimits) -> Result<DlsMessage, ParseError> {
    parse_dls_message_noted(body, limits).map(|(message, _)| message)
}

/// Parses a service message and says what it accepted that the guide does not show, and which
/// signature the message carried.
pub fn parse_dls_message_noted(
    body: &[u8],
    limits: ParseLimits,
) -> Result<(DlsMessage, ParseNotes), ParseError> {
    // One peer server used the root `DlsMessage`, so any casing of the name is read.
    let mut doc = read_document(body, limits, &["DLSMessage"])?;
    let message = doc.message.take().ok_or(ParseError::MissingElement("Message"))?;
    let action_text = doc.action.take().ok_or(ParseError::MissingElement("Action"))?;
    let mut notes = doc.notes("DLSMessage");
    let action = Action::from_wire(&action_text);
    note_word(&mut notes, "Action", &action_text, action.as_wire(), matches!(action, Action::Other(_)));
    Ok((DlsMessage { nonce: message.nonce, action, items: doc.items }, (notes)))
}

/// Records a vocabulary word read leniently: another case, or a word the guide lacks.
fn note_word(notes: &mut ParseNotes, what: &'static str, found: &str, guide: &str, unknown: bool) {
    if unknown {
        notes.deviations.push(Deviation::UnknownWord { what, found: found.to_owned() });
    } else if found != guide {
        notes.deviations.push(Deviation::Spelling { what, found: found.to_owned(), guide: guide.to_owned() });
    }
}

/// What the walk over the events collected, before it becomes a typed message.
#[derive(Default)]
struct RawDocument {
    /// The WPI root's local name, as written.
    root: String,
    message: Option<RawMessage>,
    reason: Option<RawReason>,
    action: Option<String>,
    items: Vec<Item>,
    deviations: Vec<Deviation>,
    signature: Option<SignatureSummary>,
}

impl RawDocument {
    /// The notes so far, with the root's spelling checked against the guide's.
    fn notes(&mut self, guide_root: &'static str) -> ParseNotes {
        let mut deviations = Vec::new();
        if self.root != guide_root {
            deviations.push(Deviation::RootSpelling { found: self.root.clone(), guide: guide_root });
        }
        deviations.append(&mut self.deviations);
        ParseNotes { deviations, signature: self.signature.take() }
    }
}

struct RawMessage {
    nonce: String,
    max_items: Option<i64>,
    fragment: Option<Fragment>,
}

#[derive(Default)]
struct RawReason {
    text: String,
    action: Option<String>,
    status: Option<String>,
    fragment: Option<Fragment>,
}

/// The element whose character data is being collected.
enum Collecting {
    Reason(RawReason),
    Action,
    Item(Item),
}

fn read_document(
    body: &[u8],
    limits: ParseLimits,
    roots: &[&'static str],
) -> Result<RawDocument, ParseError> {
    if body.len() > limits.max_bytes {
        return Err(ParseError::TooLarge { size: body.len(), limit: limits.max_bytes });
    }
    let text = std::str::from_utf8(body).map_err(|_| ParseError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // The XML reader does not police the Char production; values with raw control characters
    // would otherwise slip through and could not be written back out.
    if let Some(position) = first_forbidden_char(text) {
        return Err(ParseError::InvalidCharacter { position });
    }

    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.expand_empty_elements = false;
    config.trim_text(false);

    let mut walk = Walk::new(roots);
    loop {
        let event = reader.read_event().map_err(|err| ParseError::Malformed {
            position: reader.error_position(),
            detail: err.to_string(),
        })?;
        match event {
            Event::DocType(_) => return Err(ParseError::DtdForbidden),
            Event::Start(ref start) | Event::Empty(ref start) => {
                let self_closing = matches!(event, Event::Empty(_));
                if walk.open.is_empty() && walk.saw_root {
                    return Err(malformed(&reader, "content after the root element"));
                }
                if walk.open.len() + 1 > limits.max_depth {
                    return Err(ParseError::TooDeep { limit: limits.max_depth });
                }
                walk.start(start, self_closing)?;
            }
            Event::End(_) => walk.end()?,
            Event::Text(text) => {
                if let Some((level, _, collector)) = &mut walk.collecting {
                    // Text of nested unknown elements inside a value is not part of the value.
                    if *level == walk.open.len() {
                        collector.push_literal(&text.xml10_content());
                    }
                } else if walk.open.is_empty() && !text.trim_ascii().is_empty() {
                    return Err(malformed(&reader, "text outside the root element"));
                }
            }
            Event::CData(cdata) => {
                if let Some((level, _, collector)) = &mut walk.collecting
                    && *level == walk.open.len()
                {
                    collector.push_protected(&cdata.xml10_content());
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = resolve_reference(&reference)?;
                if let Some((level, _, collector)) = &mut walk.collecting
                    && *level == walk.open.len()
                {
                    collector.push_protected(resolved.encode_utf8(&mut [0; 4]));
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
    }
    walk.finish()
}

fn malformed(reader: &Reader<&[u8]>, detail: &str) -> ParseError {
    ParseError::Malformed { position: reader.buffer_position(), detail: detail.to_owned() }
}

fn local_name<'s>(start: &'s BytesStart<'_>) -> &'s str {
    start.local_name().into_inner()
}

/// Reacts to an opening tag at the given position; returns what to collect text for, if anything.
fn open_element(
    doc: &mut RawDocument,
    open: &[String],
    name: &str,
    start: &BytesStart<'_>,
) -> Result<Option<Collecting>, ParseError> {
    let parent = open.last().map(String::as_str);
    let in_message = parent == Some("Message");
    match name {
        "Message" if open.len() == 1 => {
            if doc.message.is_some() {
                return Err(ParseError::DuplicateElement("Message"));
            }
            doc.message = Some(read_message_attributes(start)?);
            Ok(None)
        }
        "ReasonForContact" if in_message => {
            if doc.reason.is_some() {
                return Err(ParseError::DuplicateElement("ReasonForContact"));
            }
            Ok(Some(Collecting::Reason(read_reason_attributes(start)?)))
        }
        "Action" if in_message => {
            if doc.action.is_some() {
                return Err(ParseError::DuplicateElement("Action"));
            }
            Ok(Some(Collecting::Action))
        }
        // An ItemList outside Message has been seen from a peer (docs/wpi-protocol.md §4.1): accept it.
        "Item" if parent == Some("ItemList") => {
            let item = read_item_attributes(start)?;
            if let (Some(status), Some(raw)) = (&item.status, attribute_value(start, &["status"]))
                && status.as_wire() != raw
            {
                let found = raw.clone();
                let deviation = if matches!(status, ItemStatus::Other(_)) {
                    Deviation::UnknownWord { what: "item status", found }
                } else {
                    Deviation::Spelling { what: "item status", found, guide: status.as_wire().to_owned() }
                };
                doc.deviations.push(deviation);
            }
            Ok(Some(Collecting::Item(item)))
        }
        _ => Ok(None),
    }
}

fn close_collecting(doc: &mut RawDocument, what: Collecting, text: TextCollector) -> Result<(), ParseError> {
    match what {
        Collecting::Reason(mut reason) => {
            reason.text = text.finish().trim_matches(is_xml_whitespace).to_owned();
            doc.reason = Some(reason);
        }
        Collecting::Action => {
            let action = text.finish().trim_matches(is_xml_whitespace).to_owned();
            if action.is_empty() {
                return Err(ParseError::MissingElement("Action"));
            }
            doc.action = Some(action);
        }
        Collecting::Item(mut item) => {
            item.value = text.finish();
            doc.items.push(item);
        }
    }
    Ok(())
}

/// Attribute (local name, value) pairs, skipping namespace declarations; borrowed from the
/// message unless an entity reference had to be replaced.
fn attributes<'a>(
    start: &'a BytesStart<'_>,
) -> impl Iterator<Item = Result<(&'a str, Cow<'a, str>), ParseError>> + 'a {
    start.attributes().filter_map(|attribute| {
        let attribute = match attribute {
            Ok(attribute) => attribute,
            Err(err) => {
                return Some(Err(ParseError::Malformed { position: 0, detail: err.to_string() }));
            }
        };
        let key = attribute.key;
        if key.as_namespace_binding().is_some() {
            return None;
        }
        let name = key.local_name().into_inner();
        let value = match attribute.normalized_value(XmlVersion::Implicit1_0) {
            Ok(value) => value,
            Err(err) => return Some(Err(reference_error(&err.to_string()))),
        };
        // A character reference may name a character XML forbids (`&#5;`); refuse it here as
        // the raw-text check before parsing cannot see it.
        if value.chars().any(|c| !is_xml_char(c)) {
            return Some(Err(ParseError::UndefinedEntity(format!(
                "character reference in attribute {name}"
            ))));
        }
        Some(Ok((name, value)))
    })
}

fn read_message_attributes(start: &BytesStart<'_>) -> Result<RawMessage, ParseError> {
    let mut nonce = None;
    let mut max_items = None;
    let mut fragment = None;
    for attribute in attributes(start) {
        let (name, value) = attribute?;
        match name {
            "nonce" => nonce = Some(value.trim_matches(is_xml_whitespace).to_owned()),
            "maxItems" => {
                let parsed = value.trim_matches(is_xml_whitespace).parse::<i64>();
                max_items = Some(parsed.map_err(|_| ParseError::InvalidAttribute { attribute: "maxItems" })?);
            }
            "fragment" => fragment = Some(Fragment::from_wire(value.trim_matches(is_xml_whitespace))),
            _ => {}
        }
    }
    let nonce = nonce.filter(|n| !n.is_empty()).ok_or(ParseError::MissingNonce)?;
    Ok(RawMessage { nonce, max_items, fragment })
}

fn read_reason_attributes(start: &BytesStart<'_>) -> Result<RawReason, ParseError> {
    let mut reason = RawReason::default();
    for attribute in attributes(start) {
        let (name, value) = attribute?;
        let value = value.trim_matches(is_xml_whitespace);
        match name {
            "action" => reason.action = Some(value.to_owned()),
            "status" => reason.status = Some(value.to_owned()),
            "fragment" => reason.fragment = Some(Fragment::from_wire(value)),
            _ => {}
        }
    }
    Ok(reason)
}

fn read_item_attributes(start: &BytesStart<'_>) -> Result<Item, ParseError> {
    let mut item = Item::default();
    let mut named = false;
    for attribute in attributes(start) {
        let (name, value) = attribute?;
        match name {
            "name" => {
                item.name = value.trim_matches(is_xml_whitespace).to_owned();
                named = !item.name.is_empty();
            }
            "index" => {
                let value = value.trim_matches(is_xml_whitespace);
                if !value.is_empty() {
                    let index = value.parse::<u32>();
                    item.index =
                        Some(index.map_err(|_| ParseError::InvalidAttribute { attribute: "index" })?);
                }
            }
            "type" => item.item_type = Some(value.into_owned()),
            "status" => {
                item.status = Some(ItemStatus::from_wire_lenient(value.trim_matches(is_xml_whitespace)))
            }
            _ => {}
        }
    }
    if !named {
        return Err(ParseError::ItemWithoutName);
    }
    Ok(item)
}

/// Resolves `&name;`: the five predefined entities and character references only. Without a DTD
/// no other entity can exist, so anything else is an error rather than silently dropped text.
fn resolve_reference(reference: &BytesRef<'_>) -> Result<char, ParseError> {
    if reference.is_char_ref() {
        return match reference.resolve_char_ref() {
            Ok(Some(c)) if is_xml_char(c) => Ok(c),
            _ => Err(ParseError::UndefinedEntity(reference.to_string())),
        };
    }
    match &**reference {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        other => Err(ParseError::UndefinedEntity(other.to_owned())),
    }
}

fn reference_error(detail: &str) -> ParseError {
    ParseError::Malformed { position: 0, detail: detail.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(parts: &[(bool, &str)]) -> String {
        let mut collector = TextCollector::default();
        for (protected, text) in parts {
            if *protected {
                collector.push_protected(text);
            } else {
                collector.push_literal(text);
            }
        }
        collector.finish()
    }

    #[test]
    fn literal_edge_whitespace_is_trimmed() {
        assert_eq!(collect(&[(false, "\n   start-up \n ")]), "start-up");
        assert_eq!(collect(&[(false, "  a  b  ")]), "a  b");
        assert_eq!(collect(&[(false, "  "), (false, " x"), (false, " "), (false, "\n")]), "x");
    }

    #[test]
    fn protected_edge_whitespace_is_kept() {
        assert_eq!(collect(&[(false, "  "), (true, " "), (false, "x"), (true, "\n"), (false, "  ")]), " x\n");
        assert_eq!(collect(&[(false, "a"), (true, "&"), (false, "b ")]), "a&b");
    }
}
