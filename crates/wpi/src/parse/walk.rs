//! The walk over a document's events: where the WPI message sits (also inside an enveloping
//! signature), which elements it holds, and what was lenient on the way.

use quick_xml::events::BytesStart;

use super::notes::SignatureReader;
use super::text::TextCollector;
use super::{
    Collecting, Deviation, ParseError, RawDocument, SignaturePlacement, close_collecting, local_name,
    open_element,
};

/// The state of one walk over a document's events.
#[derive(Default)]
pub(super) struct Walk<'r> {
    pub(super) roots: &'r [&'static str],
    doc: RawDocument,
    /// Local names of the open elements, outermost first.
    pub(super) open: Vec<String>,
    pub(super) collecting: Option<(usize, Collecting, TextCollector)>,
    pub(super) saw_root: bool,
    /// Position in `open` of the WPI root: 0, unless an enveloping `Signature` wraps it.
    wpi_root: Option<usize>,
    /// Position in `open` of the `Signature` element while it is open.
    signature_at: Option<usize>,
    signature: Option<SignatureReader>,
    /// Namespace declarations (prefix, URI) on the root and the signature.
    namespaces: Vec<(String, String)>,
    /// `Id` attributes of the root and `Message`, for resolving signature references.
    ids: Vec<(String, String)>,
}

impl<'r> Walk<'r> {
    pub(super) fn new(roots: &'r [&'static str]) -> Self {
        Walk { roots, ..Walk::default() }
    }

    fn is_root(&self, name: &str) -> bool {
        self.roots.iter().any(|root| root.eq_ignore_ascii_case(name))
    }

    pub(super) fn start(&mut self, start: &BytesStart<'_>, self_closing: bool) -> Result<(), ParseError> {
        let name = local_name(start);
        let position = self.open.len();
        let inside_signature = self.signature_at.is_some_and(|s| position > s);
        let inside_wpi = self.wpi_root.is_some_and(|r| position > r);
        let signature_is_inner = match (self.signature_at, self.wpi_root) {
            (Some(s), Some(r)) => s > r,
            _ => true,
        };
        if position == 0 {
            self.saw_root = true;
            self.declare_namespaces(start);
            if self.is_root(name) {
                self.root_found(0, name, start);
            } else if name == "Signature" {
                self.open_signature(0, SignaturePlacement::Enveloping, start, self_closing);
            } else {
                return Err(ParseError::WrongRoot { expected: self.roots[0], found: name.to_owned() });
            }
        } else if inside_signature && (!inside_wpi || signature_is_inner) {
            if self.wpi_root.is_none() && self.is_root(name) {
                self.root_found(position, name, start);
            } else if let Some(signature) = &mut self.signature {
                signature.element(
                    name,
                    attribute_value(start, &["Algorithm"]),
                    attribute_value(start, &["URI"]),
                );
                if name == "Object" {
                    // An enveloping signature references the Object holding the message.
                    self.record_id("Object holding the message", start);
                }
            }
        } else if inside_wpi {
            self.start_in_message(position, name, start, self_closing)?;
        }
        if !self_closing {
            self.open.push(name.to_owned());
        }
        Ok(())
    }

    fn root_found(&mut self, position: usize, name: &str, start: &BytesStart<'_>) {
        self.wpi_root = Some(position);
        self.doc.root = name.to_owned();
        self.record_id(name, start);
    }

    fn start_in_message(
        &mut self,
        position: usize,
        name: &str,
        start: &BytesStart<'_>,
        self_closing: bool,
    ) -> Result<(), ParseError> {
        let root = self.wpi_root.unwrap_or(0);
        let depth = self.open.len() - root;
        let parent_is_message = self.open.last().is_some_and(|p| p == "Message");
        let placement = match depth {
            1 => Some(SignaturePlacement::BesideMessage),
            2 if parent_is_message => Some(SignaturePlacement::InsideMessage),
            _ => None,
        };
        if let Some(placement) = placement.filter(|_| name == "Signature" && self.signature.is_none()) {
            self.declare_namespaces(start);
            self.open_signature(position, placement, start, self_closing);
            return Ok(());
        }
        if depth <= 2 {
            match name {
                "Message" if depth == 1 => self.record_id(name, start),
                "ItemList" if !parent_is_message => {
                    self.doc.deviations.push(Deviation::ItemListOutsideMessage)
                }
                "Message" | "ReasonForContact" | "Action" | "ItemList" => {}
                _ => {
                    let parent = self.open.last().cloned().unwrap_or_default();
                    self.doc.deviations.push(Deviation::UnknownElement { name: name.to_owned(), parent });
                }
            }
        }
        if self.collecting.is_none()
            && let Some(started) = open_element(&mut self.doc, &self.open[root..], name, start)?
        {
            if self_closing {
                close_collecting(&mut self.doc, started, TextCollector::default())?;
            } else {
                self.collecting = Some((position + 1, started, TextCollector::default()));
            }
        }
        Ok(())
    }

    fn open_signature(
        &mut self,
        position: usize,
        placement: SignaturePlacement,
        start: &BytesStart<'_>,
        self_closing: bool,
    ) {
        let prefix = start.name().prefix().map(|p| p.into_inner().to_owned()).unwrap_or_default();
        let namespace = self.namespaces.iter().rev().find(|(p, _)| *p == prefix).map(|(_, uri)| uri.as_str());
        self.signature = Some(SignatureReader::new(placement, namespace));
        if !self_closing {
            self.signature_at = Some(position);
        }
    }

    fn declare_namespaces(&mut self, start: &BytesStart<'_>) {
        for attribute in start.attributes().flatten() {
            if let Some(binding) = attribute.key.as_namespace_binding() {
                let prefix = match binding {
                    quick_xml::name::PrefixDeclaration::Default => String::new(),
                    quick_xml::name::PrefixDeclaration::Named(prefix) => prefix.to_owned(),
                };
                self.namespaces.push((prefix, attribute.value.trim().to_owned()));
            }
        }
    }

    fn record_id(&mut self, element: &str, start: &BytesStart<'_>) {
        if let Some(id) = attribute_value(start, &["Id", "id", "ID"]) {
            self.ids.push((id, element.to_owned()));
        }
    }

    pub(super) fn end(&mut self) -> Result<(), ParseError> {
        let depth = self.open.len();
        self.open.pop();
        if self.signature_at == Some(self.open.len()) {
            self.signature_at = None;
        }
        if let Some((level, _, _)) = &self.collecting
            && *level == depth
        {
            let (_, what, text) = self.collecting.take().expect("checked above");
            close_collecting(&mut self.doc, what, text)?;
        }
        Ok(())
    }

    pub(super) fn finish(mut self) -> Result<RawDocument, ParseError> {
        if !self.saw_root {
            return Err(ParseError::WrongRoot { expected: self.roots[0], found: String::new() });
        }
        if self.wpi_root.is_none() {
            let found = "Signature, with no WPI message inside".to_owned();
            return Err(ParseError::WrongRoot { expected: self.roots[0], found });
        }
        self.doc.signature = self.signature.map(|s| s.finish(&self.ids));
        Ok(self.doc)
    }
}

/// The value of the first of `names` the element carries, trimmed.
pub(super) fn attribute_value(start: &BytesStart<'_>, names: &[&str]) -> Option<String> {
    start.attributes().flatten().find_map(|attribute| {
        let key = attribute.key.local_name();
        names.contains(&key.into_inner()).then(|| attribute.value.trim().to_owned())
    })
}
