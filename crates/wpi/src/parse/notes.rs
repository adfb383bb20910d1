//! What a parse accepted that the guide's examples do not show, and the XML signature a message
//! carried: the parser is lenient, and says so (docs/interop.md).

use std::fmt;

/// The namespace of XML signatures (W3C XML-Signature Syntax and Processing).
pub const XMLDSIG_NAMESPACE: &str = "http://www.w3.org/2000/09/xmldsig#";

/// One way a message deviates from the guide, accepted because phones or other servers send it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Deviation {
    /// The root element is spelled otherwise (`DlsMessage` for `DLSMessage`).
    RootSpelling {
        /// As sent.
        found: String,
        /// As the guide writes it.
        guide: &'static str,
    },
    /// A vocabulary word in another case (`Cleanup` for `CleanUp`, `Start-Up` for `start-up`).
    Spelling {
        /// `Action`, `ReasonForContact`, `action`, `status` or an item's `status`.
        what: &'static str,
        /// As sent.
        found: String,
        /// As the guide writes it.
        guide: String,
    },
    /// A word the guide does not define (kept as it is, see the model's `Other` variants).
    UnknownWord {
        /// Where it appeared.
        what: &'static str,
        /// As sent.
        found: String,
    },
    /// `ItemList` is not inside `Message` (seen from a peer server, docs/wpi-protocol.md §4.1).
    ItemListOutsideMessage,
    /// `ReasonForContact` has no text.
    EmptyReason,
    /// An element the guide does not define was ignored.
    UnknownElement {
        /// Its local name.
        name: String,
        /// The element it appeared in.
        parent: String,
    },
}

impl fmt::Display for Deviation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Deviation::RootSpelling { found, guide } => {
                write!(f, "root element {found} (the guide writes {guide})")
            }
            Deviation::Spelling { what, found, guide } => {
                write!(f, "{what} {found:?} (the guide writes {guide:?})")
            }
            Deviation::UnknownWord { what, found } => {
                write!(f, "{what} {found:?} is not a word the guide defines")
            }
            Deviation::ItemListOutsideMessage => f.write_str("ItemList outside Message"),
            Deviation::EmptyReason => f.write_str("empty ReasonForContact"),
            Deviation::UnknownElement { name, parent } => {
                write!(f, "unknown element {name} in {parent}, ignored")
            }
        }
    }
}

/// Where a signature sat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignaturePlacement {
    /// A child of the root, beside `Message` (enveloped).
    BesideMessage,
    /// A child of `Message` (enveloped).
    InsideMessage,
    /// The root: the WPI message is inside its `Object` (enveloping).
    Enveloping,
}

/// One `Reference` of a signature: what it says it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedReference {
    /// The `URI` attribute: empty for the whole document, `#id` for one element.
    pub uri: String,
    /// The element the URI names, when it names one the message has (`Message`, the root).
    pub element: Option<String>,
    /// Whether the enveloped-signature transform removes the signature before digesting.
    pub enveloped_transform: bool,
    /// The digest algorithm's URI.
    pub digest_method: Option<String>,
}

/// An XML signature found in a message. opendls records it and never verifies it: whether
/// phones require or check signatures is unknown (docs/interop.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureSummary {
    /// Where it sat.
    pub placement: SignaturePlacement,
    /// Whether it was in the XML signature namespace (a `Signature` in another one is still
    /// read, and this says so).
    pub in_dsig_namespace: bool,
    /// The `SignatureMethod` algorithm's URI.
    pub signature_method: Option<String>,
    /// What it covers.
    pub references: Vec<SignedReference>,
    /// Whether a certificate (`X509Certificate`) travels in its `KeyInfo`.
    pub has_certificate: bool,
}

impl SignatureSummary {
    /// One line for a human: where, what it covers, with what.
    pub fn describe(&self) -> String {
        let placement = match self.placement {
            SignaturePlacement::BesideMessage => "enveloped, beside Message",
            SignaturePlacement::InsideMessage => "enveloped, inside Message",
            SignaturePlacement::Enveloping => "enveloping (the message is inside the signature)",
        };
        let covers: Vec<String> = self
            .references
            .iter()
            .map(|r| match (&r.element, r.uri.as_str()) {
                (_, "") => "the whole document".to_owned(),
                (Some(element), uri) => format!("{element} ({uri})"),
                (None, uri) => format!("{uri} (no such element in the message)"),
            })
            .collect();
        let covers = if covers.is_empty() { "nothing (no Reference)".to_owned() } else { covers.join(", ") };
        let method = self.signature_method.as_deref().map(short_algorithm).unwrap_or("no SignatureMethod");
        let certificate = if self.has_certificate { ", certificate included" } else { "" };
        let namespace = if self.in_dsig_namespace { "" } else { ", not in the xmldsig namespace" };
        format!("{placement}; covers {covers}; {method}{certificate}{namespace}; not verified")
    }
}

/// `http://www.w3.org/2001/04/xmldsig-more#rsa-sha256` → `rsa-sha256`.
fn short_algorithm(uri: &str) -> &str {
    uri.rsplit(['#', '/']).next().unwrap_or(uri)
}

/// What a parse noticed besides the message itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseNotes {
    /// Everything accepted that the guide does not show, in document order.
    pub deviations: Vec<Deviation>,
    /// The signature the message carried, if any.
    pub signature: Option<SignatureSummary>,
}

/// Collects a signature's parts while its subtree is read.
pub(super) struct SignatureReader {
    summary: SignatureSummary,
    current: Option<SignedReference>,
}

impl SignatureReader {
    pub(super) fn new(placement: SignaturePlacement, namespace: Option<&str>) -> Self {
        let summary = SignatureSummary {
            placement,
            in_dsig_namespace: namespace == Some(XMLDSIG_NAMESPACE),
            signature_method: None,
            references: Vec::new(),
            has_certificate: false,
        };
        SignatureReader { summary, current: None }
    }

    /// An element inside the signature, with its `Algorithm` or `URI` attribute.
    pub(super) fn element(&mut self, name: &str, algorithm: Option<String>, uri: Option<String>) {
        match name {
            "SignatureMethod" => self.summary.signature_method = algorithm,
            "Reference" => {
                self.finish_reference();
                self.current = Some(SignedReference {
                    uri: uri.unwrap_or_default(),
                    element: None,
                    enveloped_transform: false,
                    digest_method: None,
                });
            }
            "Transform" => {
                if let Some(reference) = &mut self.current
                    && algorithm.as_deref().is_some_and(|a| a.ends_with("#enveloped-signature"))
                {
                    reference.enveloped_transform = true;
                }
            }
            "DigestMethod" => {
                if let Some(reference) = &mut self.current {
                    reference.digest_method = algorithm;
                }
            }
            "X509Certificate" => self.summary.has_certificate = true,
            _ => {}
        }
    }

    fn finish_reference(&mut self) {
        if let Some(reference) = self.current.take() {
            self.summary.references.push(reference);
        }
    }

    /// The summary, with each `#id` reference resolved against the ids the message carries.
    pub(super) fn finish(mut self, ids: &[(String, String)]) -> SignatureSummary {
        self.finish_reference();
        for reference in &mut self.summary.references {
            if let Some(id) = reference.uri.strip_prefix('#') {
                reference.element = ids.iter().find(|(i, _)| i == id).map(|(_, element)| element.clone());
            }
        }
        self.summary
    }
}
