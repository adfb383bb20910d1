//! The WorkPoint Interface (WPI) codec: the XML messages exchanged between OpenStage /
//! OpenScape Desk Phone IP phones and a provisioning service.
//!
//! Pure code: no I/O, no async runtime, no clock. It can be fuzzed, property-tested and
//! benchmarked alone (see the crate README).
//!
//! * [`model`]: the typed messages, [`WorkpointMessage`] (phone to service) and [`DlsMessage`]
//!   (service to phone).
//! * [`parse`]: lenient-but-safe parsing.
//! * [`write`](mod@write): canonical serialization.
//! * [`fragment`]: reassembly of fragmented phone replies and splitting of long item lists.
//! * [`catalog`]: the item catalog and value validation.
//! * [`models`]: the phone models and the `device-type` each reports.
//! * [`firmware`]: firmware versions in their three forms, compared as numbers.
//! * [`secrets`]: which item values must never be shown.
//! * [`bootstrap`]: the framing of opendls' `secure-mode-data` container (Secure Mode with PIN).
//!
//! ```
//! use opendls_wpi::{parse_workpoint_message, write_dls_message, DlsMessage, Action, Reason};
//!
//! let body = br#"<WorkpointMessage xmlns="http://www.siemens.com/DLS">
//!   <Message nonce="ab15234de14f15a667c6f8d"><ReasonForContact> start-up </ReasonForContact>
//!   <ItemList><Item name="mac-addr">00:01:E3:00:A9:F3</Item></ItemList></Message>
//! </WorkpointMessage>"#;
//! let request = parse_workpoint_message(body).unwrap();
//! assert_eq!(request.reason.reason, Reason::StartUp);
//! assert_eq!(request.value("mac-addr"), Some("00:01:E3:00:A9:F3"));
//!
//! let answer = write_dls_message(&DlsMessage::new(&request.nonce, Action::ReadAllItems));
//! assert!(answer.contains(r#"<Message nonce="ab15234de14f15a667c6f8d">"#));
//! ```

pub mod bootstrap;
pub mod catalog;
pub mod firmware;
pub mod fragment;
pub mod model;
pub mod models;
pub mod parse;
pub mod secrets;
pub mod write;

pub use catalog::{Catalog, CatalogEntry, ItemCheck, Severity};
pub use fragment::{
    AssemblyLimits, AssemblyProgress, FragmentAssembly, MAX_MESSAGE_BYTES, SplitLimits, split_items,
};
pub use model::{
    Action, DlsMessage, Fragment, Item, ItemStatus, Reason, ReasonForContact, ReplyStatus, WorkpointMessage,
};
pub use parse::{
    ParseError, ParseLimits, parse_dls_message, parse_dls_message_with, parse_workpoint_message,
    parse_workpoint_message_with,
};
pub use write::{WPI_NAMESPACE, write_dls_message, write_workpoint_message};
