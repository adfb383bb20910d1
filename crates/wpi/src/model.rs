//! The typed model of the two WPI messages.
//!
//! Every closed vocabulary of the guide is an enum with an `Other` variant: a value the model does
//! not know (a newer firmware's reason, action or status) is kept verbatim, never dropped.

use std::fmt;

/// Declares a wire vocabulary: an enum whose known variants map to exact wire spellings, plus
/// `Other(String)` for everything else. Parsing is exact first, then ASCII-case-insensitive
/// (peers report phones tolerating `Cleanup`, so we tolerate the same sloppiness coming back).
macro_rules! wire_vocabulary {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $wire:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version of the model does not know, kept exactly as received.
            Other(String),
        }

        impl $name {
            /// Every known variant, in the guide's order.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),+];

            /// Maps a wire string to a variant; unknown strings become [`Self::Other`].
            pub fn from_wire(text: &str) -> Self {
                match text {
                    $( $wire => return $name::$variant, )+
                    _ => {}
                }
                $( if text.eq_ignore_ascii_case($wire) { return $name::$variant; } )+
                $name::Other(text.to_owned())
            }

            /// The exact spelling on the wire.
            pub fn as_wire(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )+
                    $name::Other(text) => text,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_wire())
            }
        }
    };
}

wire_vocabulary! {
    /// Why the phone opened a request: the text of `ReasonForContact` (guide p. 28).
    Reason {
        /// Sent on every boot, factory reset and after a firmware update (p. 28, p. 32).
        StartUp => "start-up",
        /// A local (menu or WBM) configuration change (p. 28, p. 37-40).
        LocalChanges => "local-changes",
        /// Inventory changed, e.g. a key module was attached (p. 28).
        InventoryChanges => "inventory-changes",
        /// Result of a file transfer started earlier (p. 28, p. 52-54).
        Status => "status",
        /// Calling back after contact-me, DCMP or `send-solicited` (p. 28, p. 41, p. 72).
        Solicited => "solicited",
        /// Answer to the previous service message (p. 28-29).
        ReplyTo => "reply-to",
        /// The phone ends the interaction itself (p. 13, p. 83).
        CleanUp => "clean-up",
    }
}

wire_vocabulary! {
    /// The one `Action` of a service message (guide p. 30-31).
    Action {
        /// Read every item except certificates (p. 30, p. 34).
        ReadAllItems => "ReadAllItems",
        /// Read the listed items (p. 30, p. 42-45).
        ReadItems => "ReadItems",
        /// Change the listed items (p. 30, p. 46-49).
        WriteItems => "WriteItems",
        /// Reboot, or factory reset with `restart-type` (p. 30, p. 50-51).
        Restart => "Restart",
        /// Fetch or delete files (p. 30, p. 52-55).
        FileDeployment => "FileDeployment",
        /// Fetch a firmware image and reboot into it (p. 30, p. 56-57).
        SoftwareDeployment => "SoftwareDeployment",
        /// End of the interaction (p. 31, p. 41).
        CleanUp => "CleanUp",
        /// Ask for the next fragment of a phone message (p. 31, p. 69-70).
        GetNextFragment => "GetNextFragment",
    }
}

wire_vocabulary! {
    /// The `status` attribute of a `reply-to` (guide p. 29).
    ReplyStatus {
        /// The action was accepted (per-item statuses may still report failures, p. 78).
        Accepted => "accepted",
        /// The action was not accepted or is not supported.
        Failed => "failed",
        /// The phone is busy, e.g. in a call; nothing was done (p. 76).
        Busy => "busy",
    }
}

wire_vocabulary! {
    /// The per-item `status` attribute, only in phone messages (guide p. 26). Note the spaces.
    ItemStatus {
        /// The value was not accepted.
        Failed => "failed",
        /// The phone does not know the item name.
        UnknownItem => "unknown item",
        /// The item cannot be modified.
        ReadOnly => "read only",
        /// The index is out of range or meaningless.
        InvalidIndex => "invalid index",
        /// The item was not expected in this message.
        UnexpectedItem => "unexpected item",
        /// The phone does not implement the item.
        NotSupported => "not supported",
        /// The value was not accepted.
        InvalidData => "invalid data",
        /// Some other problem.
        UndefinedStatus => "undefined status",
    }
}

wire_vocabulary! {
    /// The `fragment` marker of a phone message (guide p. 29, p. 69-70).
    Fragment {
        /// More fragments follow; the service answers `GetNextFragment`.
        Next => "next",
        /// The last (or only) fragment.
        Final => "final",
    }
}

impl ItemStatus {
    /// Spellings seen in the guide's prose for a known status (p. 83 writes "read-only" while
    /// the XML shows `read only`); accepted on input, never written.
    fn alias(text: &str) -> Option<Self> {
        text.eq_ignore_ascii_case("read-only").then_some(ItemStatus::ReadOnly)
    }

    /// Like [`ItemStatus::from_wire`], also accepting the guide's prose spellings.
    pub fn from_wire_lenient(text: &str) -> Self {
        Self::alias(text).unwrap_or_else(|| Self::from_wire(text))
    }
}

/// One configuration item: `<Item name="…" index="…" status="…">value</Item>` (guide p. 26).
///
/// Its `Debug` output masks the values of secret items (see [`crate::secrets`]), so an item can
/// be logged with `{:?}` without leaking a password.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Item {
    /// The item name; names are case-sensitive and may repeat with different indexes.
    pub name: String,
    /// Instance number of a multi-instance item (mostly 1-based; `dls-server-ca` is 0-based, p. 64).
    pub index: Option<u32>,
    /// The `type` attribute, defined but unused by current phones (p. 26).
    pub item_type: Option<String>,
    /// Per-item result, only in phone messages.
    pub status: Option<ItemStatus>,
    /// The value; empty when reading (p. 68).
    pub value: String,
}

impl fmt::Debug for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Item")
            .field("name", &self.name)
            .field("index", &self.index)
            .field("item_type", &self.item_type)
            .field("status", &self.status)
            .field("value", &crate::secrets::displayable_value(&self.name, &self.value))
            .finish()
    }
}

impl Item {
    /// An item with a value and no index.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Item { name: name.into(), value: value.into(), ..Item::default() }
    }

    /// An indexed item with a value.
    pub fn indexed(name: impl Into<String>, index: u32, value: impl Into<String>) -> Self {
        Item { index: Some(index), ..Item::new(name, value) }
    }

    /// An empty item, as used in `ReadItems` requests (p. 43, p. 68).
    pub fn request(name: impl Into<String>) -> Self {
        Item::new(name, "")
    }
}

/// The `ReasonForContact` element: the reason, and for `reply-to` the answered action and its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasonForContact {
    /// The reason text, trimmed (p. 34 and p. 64 surround it with whitespace).
    pub reason: Reason,
    /// The action being answered (reply-to only, p. 29).
    pub action: Option<Action>,
    /// Whether it was accepted (reply-to only, p. 29).
    pub status: Option<ReplyStatus>,
}

impl ReasonForContact {
    /// A reason without attributes (start-up, solicited, ...).
    pub fn new(reason: Reason) -> Self {
        ReasonForContact { reason, action: None, status: None }
    }

    /// A `reply-to` answering `action` with `status`.
    pub fn reply_to(action: Action, status: ReplyStatus) -> Self {
        ReasonForContact { reason: Reason::ReplyTo, action: Some(action), status: Some(status) }
    }

    /// The reply status, where a missing one counts as accepted (as working servers do).
    pub fn effective_status(&self) -> ReplyStatus {
        self.status.clone().unwrap_or(ReplyStatus::Accepted)
    }
}

/// A message from the phone to the service (`WorkpointMessage`, guide p. 27-29).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkpointMessage {
    /// Anti-replay value; mandatory, echoed by the service's answer (p. 28). Opaque.
    pub nonce: String,
    /// Most items the phone accepts in one service message; `-1` means no limit (p. 28).
    pub max_items: Option<i64>,
    /// Fragment marker, found on `Message` in the examples and on `ReasonForContact` in the table.
    pub fragment: Option<Fragment>,
    /// Why the phone called.
    pub reason: ReasonForContact,
    /// The items, in wire order (order and repeated indexes matter).
    pub items: Vec<Item>,
}

impl WorkpointMessage {
    /// The first item with this name, whatever its index.
    pub fn item(&self, name: &str) -> Option<&Item> {
        self.items.iter().find(|item| item.name == name)
    }

    /// The value of the first item with this name.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.item(name).map(|item| item.value.as_str())
    }

    /// The item limit for service messages sent to this phone: `None` means no limit.
    pub fn item_limit(&self) -> Option<usize> {
        match self.max_items {
            Some(n) if n > 0 => usize::try_from(n).ok(),
            _ => None,
        }
    }

    /// Whether more fragments of this reply will follow (`fragment="next"`).
    pub fn expects_more_fragments(&self) -> bool {
        self.fragment == Some(Fragment::Next)
    }
}

/// A message from the service to the phone (`DLSMessage`, guide p. 30-31).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DlsMessage {
    /// The nonce of the phone request this message answers (docs/wpi-protocol.md §5).
    pub nonce: String,
    /// Exactly one action (p. 30).
    pub action: Action,
    /// Items to read, write or act on; omitted on the wire when empty.
    pub items: Vec<Item>,
}

impl DlsMessage {
    /// A message with an action and no items.
    pub fn new(nonce: impl Into<String>, action: Action) -> Self {
        DlsMessage { nonce: nonce.into(), action, items: Vec::new() }
    }

    /// A message with an action and items.
    pub fn with_items(nonce: impl Into<String>, action: Action, items: Vec<Item>) -> Self {
        DlsMessage { nonce: nonce.into(), action, items }
    }

    /// `CleanUp` with a `cleanup-reason` (p. 31), how every protocol error ends.
    pub fn clean_up_because(nonce: impl Into<String>, reason: impl Into<String>) -> Self {
        DlsMessage::with_items(nonce, Action::CleanUp, vec![Item::new("cleanup-reason", reason)])
    }

    /// `CleanUp` asking the phone to call back when idle: `send-solicited` (p. 76).
    pub fn clean_up_send_solicited(nonce: impl Into<String>) -> Self {
        DlsMessage::with_items(nonce, Action::CleanUp, vec![Item::new("send-solicited", "true")])
    }
}
