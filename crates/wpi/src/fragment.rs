//! Fragmentation in both directions (guide §3.7, p. 69-71).
//!
//! Phone to service: a long reply arrives as `reply-to` messages marked `fragment="next"`, each
//! answered by `GetNextFragment`, until one marked `final` (p. 69-70). [`FragmentAssembly`]
//! gathers them; it holds plain data so the caller can persist it between requests (phones close
//! the connection after every request, so nothing may live in memory between fragments).
//!
//! Service to phone: there is no fragment marker; a long item list is simply sent as several
//! consecutive messages, each answered by a `reply-to` (p. 71). [`split_items`] cuts the list so
//! that every part honours the phone's `maxItems` (p. 28) and the 50 kB limit (p. 69) and keeps
//! related items together (p. 71).

use std::collections::HashMap;

use crate::bootstrap::BOOTSTRAP_ITEMS;
use crate::model::{Action, Item, Reason, WorkpointMessage};
use crate::write::{dls_envelope_len, written_item_len};

/// Largest message either side may send: "50 kB" (guide p. 69), read as 50,000 bytes to stay on
/// the safe side of either reading of "kB".
pub const MAX_MESSAGE_BYTES: usize = 50_000;

/// Upper bounds on one reassembled reply, so a phone cannot grow server memory without bound by
/// never sending `final`, or by sending fragments far larger than the guide allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssemblyLimits {
    /// Most fragments in one reply.
    pub max_fragments: usize,
    /// Most items in one reply, all fragments together.
    pub max_items: usize,
    /// Most bytes of item names and values in one reply, all fragments together (counted by
    /// [`item_bytes`]).
    pub max_bytes: usize,
    /// Longest value of one item, in bytes.
    pub max_value_bytes: usize,
}

/// Default for [`AssemblyLimits::max_bytes`]: a full `ReadAllItems` is a few hundred items,
/// about 30 kB (one 50 kB message, guide p. 69); ten full messages leave room for large key
/// modules and file inventories.
pub const DEFAULT_MAX_REPLY_BYTES: usize = 10 * MAX_MESSAGE_BYTES;

/// Default for [`AssemblyLimits::max_value_bytes`]: no value can be longer than the message that
/// carries it (50 kB, guide p. 69); 64 KiB leaves headroom for firmware that counts differently.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 64 * 1024;

impl Default for AssemblyLimits {
    fn default() -> Self {
        AssemblyLimits {
            max_fragments: 100,
            max_items: 20_000,
            max_bytes: DEFAULT_MAX_REPLY_BYTES,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
        }
    }
}

/// What [`item_bytes`] adds to an item's name and value, so that thousands of empty items are
/// not free.
pub const ITEM_OVERHEAD_BYTES: usize = 16;

/// What an item costs to hold: its name and value, plus [`ITEM_OVERHEAD_BYTES`].
pub fn item_bytes(item: &Item) -> usize {
    item.name.len() + item.value.len() + ITEM_OVERHEAD_BYTES
}

/// The first item whose value is longer than `max_value_bytes`, if any.
pub fn oversized_item(items: &[Item], max_value_bytes: usize) -> Option<&Item> {
    items.iter().find(|item| item.value.len() > max_value_bytes)
}

/// Why a fragment cannot be added to the reply being assembled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AssemblyError {
    /// A fragment must be a `reply-to`.
    #[error("fragment is a {0} message, not a reply-to")]
    NotAReply(Reason),
    /// Every fragment answers the same action (p. 70).
    #[error("fragment answers {found}, but the reply being assembled answers {expected}")]
    ActionChanged {
        /// The action of the first fragment.
        expected: String,
        /// The action of this fragment.
        found: String,
    },
    /// Too many fragments.
    #[error("reply exceeds {limit} fragments")]
    TooManyFragments {
        /// The limit in force.
        limit: usize,
    },
    /// Too many items over all fragments.
    #[error("reply exceeds {limit} items")]
    TooManyItems {
        /// The limit in force.
        limit: usize,
    },
    /// Too many bytes over all fragments.
    #[error("reply exceeds {limit} bytes")]
    TooManyBytes {
        /// The limit in force.
        limit: usize,
    },
    /// One item's value is too long (the error names the item, never its value).
    #[error("value of {name} is longer than {limit} bytes")]
    ValueTooLong {
        /// The item's name.
        name: String,
        /// The limit in force.
        limit: usize,
    },
}

/// What adding a fragment led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssemblyProgress {
    /// More fragments follow: answer `GetNextFragment` with this fragment's nonce (p. 70).
    NeedNext,
    /// The reply is complete; here are all its items in arrival order.
    Complete(Vec<Item>),
}

/// A phone reply being reassembled from its fragments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FragmentAssembly {
    /// The action every fragment answers, fixed by the first one.
    pub action: Option<Action>,
    /// Items received so far, in order.
    pub items: Vec<Item>,
    /// Fragments received so far.
    pub fragments: usize,
}

impl FragmentAssembly {
    /// An empty assembly, before the first fragment.
    pub fn new() -> Self {
        FragmentAssembly::default()
    }

    /// Adds one `reply-to`. A message without `fragment` or with `final` completes the reply, so a
    /// whole unfragmented reply goes through the same path.
    pub fn push(
        &mut self,
        message: WorkpointMessage,
        limits: AssemblyLimits,
    ) -> Result<AssemblyProgress, AssemblyError> {
        if message.reason.reason != Reason::ReplyTo {
            return Err(AssemblyError::NotAReply(message.reason.reason));
        }
        let action = message.reason.action.clone().unwrap_or(Action::Other(String::new()));
        match &self.action {
            Some(expected) if *expected != action => {
                return Err(AssemblyError::ActionChanged {
                    expected: expected.to_string(),
                    found: action.to_string(),
                });
            }
            Some(_) => {}
            None => self.action = Some(action),
        }
        if self.fragments + 1 > limits.max_fragments {
            return Err(AssemblyError::TooManyFragments { limit: limits.max_fragments });
        }
        if self.items.len() + message.items.len() > limits.max_items {
            return Err(AssemblyError::TooManyItems { limit: limits.max_items });
        }
        if let Some(item) = oversized_item(&message.items, limits.max_value_bytes) {
            let name = item.name.chars().take(64).collect();
            return Err(AssemblyError::ValueTooLong { name, limit: limits.max_value_bytes });
        }
        let held: usize = self.items.iter().chain(&message.items).map(item_bytes).sum();
        if held > limits.max_bytes {
            return Err(AssemblyError::TooManyBytes { limit: limits.max_bytes });
        }
        self.fragments += 1;
        let more = message.expects_more_fragments();
        self.items.extend(message.items);
        if more {
            Ok(AssemblyProgress::NeedNext)
        } else {
            Ok(AssemblyProgress::Complete(std::mem::take(&mut self.items)))
        }
    }
}

/// The bounds one service message must respect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitLimits {
    /// The phone's `maxItems`, `None` when it has no limit (p. 28).
    pub max_items: Option<usize>,
    /// Largest serialized message in bytes (p. 69).
    pub max_bytes: usize,
    /// Longest nonce the messages will carry; nonces are 32 hex characters in practice (p. 48).
    pub max_nonce_len: usize,
}

impl SplitLimits {
    /// The limits for a phone that announced `maxItems` in its message.
    pub fn for_phone(message: &WorkpointMessage) -> Self {
        SplitLimits { max_items: message.item_limit(), ..SplitLimits::default() }
    }
}

impl Default for SplitLimits {
    fn default() -> Self {
        SplitLimits { max_items: None, max_bytes: MAX_MESSAGE_BYTES, max_nonce_len: 64 }
    }
}

/// Why an item list cannot be split within the limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SplitError {
    /// A group of related items alone is larger than one message may be.
    #[error(
        "{items} related items starting with {first} need {bytes} bytes, over the {limit}-byte message limit"
    )]
    GroupTooLarge {
        /// Name of the group's first item.
        first: String,
        /// Items in the group (common items included).
        items: usize,
        /// Bytes the group needs.
        bytes: usize,
        /// Bytes allowed.
        limit: usize,
    },
    /// A group of related items alone has more items than the phone's `maxItems`.
    #[error("{items} related items starting with {first} exceed the phone's maxItems of {limit}")]
    GroupTooManyItems {
        /// Name of the group's first item.
        first: String,
        /// Items in the group (common items included).
        items: usize,
        /// The phone's limit.
        limit: usize,
    },
}

/// Splits a service item list into parts that each fit one message.
///
/// Related items stay together (p. 71): all items that share an `index` (one XML application,
/// one file entry, one key — grouping by index alone is a superset of every indexed family, so it
/// never separates related items), and all secure-mode bootstrap items. For `FileDeployment` and
/// `SoftwareDeployment` the items without an index (server, credentials, priority) describe every
/// indexed file, so they are repeated in every part. Items keep their relative order. An empty
/// list gives one empty part.
pub fn split_items(
    action: &Action,
    items: Vec<Item>,
    limits: SplitLimits,
) -> Result<Vec<Vec<Item>>, SplitError> {
    let shares_header = matches!(action, Action::FileDeployment | Action::SoftwareDeployment);
    let (common, groups) = group_related(items, shares_header);

    let envelope = dls_envelope_len(limits.max_nonce_len);
    let common_bytes: usize = common.iter().map(|(_, item)| written_item_len(item)).sum();
    let fixed_bytes = envelope + common_bytes;
    let item_cap = limits.max_items.unwrap_or(usize::MAX);

    let mut parts: Vec<Vec<(usize, Item)>> = Vec::new();
    let mut current: Vec<(usize, Item)> = Vec::new();
    let mut current_bytes = fixed_bytes;
    for group in groups {
        let bytes: usize = group.iter().map(|(_, item)| written_item_len(item)).sum();
        let count = group.len() + common.len();
        if fixed_bytes + bytes > limits.max_bytes {
            return Err(SplitError::GroupTooLarge {
                first: group[0].1.name.clone(),
                items: count,
                bytes: fixed_bytes + bytes,
                limit: limits.max_bytes,
            });
        }
        if count > item_cap {
            return Err(SplitError::GroupTooManyItems {
                first: group[0].1.name.clone(),
                items: count,
                limit: item_cap,
            });
        }
        let fits = current_bytes + bytes <= limits.max_bytes
            && current.len() + group.len() + common.len() <= item_cap;
        if !fits && !current.is_empty() {
            parts.push(std::mem::take(&mut current));
            current_bytes = fixed_bytes;
        }
        current_bytes += bytes;
        current.extend(group);
    }
    if !current.is_empty() || parts.is_empty() {
        parts.push(current);
    }

    Ok(parts
        .into_iter()
        .map(|mut part| {
            part.extend(common.iter().cloned());
            part.sort_by_key(|(position, _)| *position);
            part.into_iter().map(|(_, item)| item).collect()
        })
        .collect())
}

type Positioned = (usize, Item);

/// Returns the items common to every part and the groups of related items, in order of each
/// group's first item.
fn group_related(items: Vec<Item>, shares_header: bool) -> (Vec<Positioned>, Vec<Vec<Positioned>>) {
    #[derive(Hash, PartialEq, Eq)]
    enum GroupKey {
        Index(u32),
        Bootstrap,
    }
    let mut common = Vec::new();
    let mut groups: Vec<Vec<Positioned>> = Vec::new();
    let mut group_of: HashMap<GroupKey, usize> = HashMap::new();
    for (position, item) in items.into_iter().enumerate() {
        // The bootstrap items go in one message (guide p. 62-67 shows them in a single WriteItems).
        let key = if BOOTSTRAP_ITEMS.contains(&item.name.as_str()) {
            Some(GroupKey::Bootstrap)
        } else {
            item.index.map(GroupKey::Index)
        };
        match key {
            None if shares_header => common.push((position, item)),
            None => groups.push(vec![(position, item)]),
            Some(key) => {
                let slot = *group_of.entry(key).or_insert_with(|| {
                    groups.push(Vec::new());
                    groups.len() - 1
                });
                groups[slot].push((position, item));
            }
        }
    }
    (common, groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Fragment, ReasonForContact, ReplyStatus};
    use crate::write::write_dls_message;

    fn reply(fragment: Option<Fragment>, names: &[&str]) -> WorkpointMessage {
        WorkpointMessage {
            nonce: "N".into(),
            max_items: Some(-1),
            fragment,
            reason: ReasonForContact::reply_to(Action::ReadAllItems, ReplyStatus::Accepted),
            items: names.iter().map(|n| Item::new(*n, "v")).collect(),
        }
    }

    #[test]
    fn fragments_are_gathered_until_final() {
        let mut assembly = FragmentAssembly::new();
        let limits = AssemblyLimits::default();
        assert_eq!(
            assembly.push(reply(Some(Fragment::Next), &["a", "b"]), limits),
            Ok(AssemblyProgress::NeedNext)
        );
        assert_eq!(
            assembly.push(reply(Some(Fragment::Next), &["c"]), limits),
            Ok(AssemblyProgress::NeedNext)
        );
        let AssemblyProgress::Complete(items) =
            assembly.push(reply(Some(Fragment::Final), &["d"]), limits).unwrap()
        else {
            panic!("expected completion");
        };
        let names: Vec<_> = items.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
    }

    #[test]
    fn a_fragment_answering_another_action_is_refused() {
        let mut assembly = FragmentAssembly::new();
        assembly.push(reply(Some(Fragment::Next), &["a"]), AssemblyLimits::default()).unwrap();
        let mut other = reply(Some(Fragment::Final), &["b"]);
        other.reason.action = Some(Action::ReadItems);
        assert!(matches!(
            assembly.push(other, AssemblyLimits::default()),
            Err(AssemblyError::ActionChanged { .. })
        ));
    }

    #[test]
    fn endless_fragments_hit_the_limit() {
        let mut assembly = FragmentAssembly::new();
        let limits = AssemblyLimits { max_fragments: 3, max_items: 100, ..AssemblyLimits::default() };
        for _ in 0..3 {
            assembly.push(reply(Some(Fragment::Next), &["a"]), limits).unwrap();
        }
        assert_eq!(
            assembly.push(reply(Some(Fragment::Next), &["a"]), limits),
            Err(AssemblyError::TooManyFragments { limit: 3 })
        );
    }

    #[test]
    fn fragments_are_bounded_in_bytes_and_per_value() {
        let limits = AssemblyLimits { max_bytes: 1000, max_value_bytes: 300, ..AssemblyLimits::default() };
        let big = |size: usize| {
            let mut message = reply(Some(Fragment::Next), &[]);
            message.items.push(Item::new("userdata-1", "x".repeat(size)));
            message
        };
        let mut assembly = FragmentAssembly::new();
        assert_eq!(
            assembly.push(big(301), limits),
            Err(AssemblyError::ValueTooLong { name: "userdata-1".into(), limit: 300 })
        );
        for _ in 0..3 {
            assert_eq!(assembly.push(big(280), limits), Ok(AssemblyProgress::NeedNext));
        }
        assert_eq!(assembly.push(big(280), limits), Err(AssemblyError::TooManyBytes { limit: 1000 }));
        assert_eq!(assembly.items.len(), 3, "the refused fragment is not kept");
    }

    #[test]
    fn split_honours_max_items_and_keeps_indexed_groups_together() {
        let mut items = vec![Item::new("sntp-addr", "pool")];
        for app in 1..=3 {
            for name in ["XML-app-name", "XML-app-server-addr", "XML-app-server-port"] {
                items.push(Item::indexed(name, app, "x"));
            }
        }
        let limits = SplitLimits { max_items: Some(4), ..SplitLimits::default() };
        let parts = split_items(&Action::WriteItems, items, limits).unwrap();
        assert!(parts.iter().all(|p| p.len() <= 4));
        for part in &parts {
            for item in part.iter().filter(|i| i.index.is_some()) {
                let siblings = part.iter().filter(|i| i.index == item.index).count();
                assert_eq!(siblings, 3, "application {:?} was split", item.index);
            }
        }
        assert_eq!(parts.iter().map(Vec::len).sum::<usize>(), 10);
    }

    #[test]
    fn split_honours_the_byte_limit() {
        let items: Vec<Item> = (0..200).map(|i| Item::new(format!("item-{i}"), "x".repeat(1000))).collect();
        let parts = split_items(&Action::WriteItems, items, SplitLimits::default()).unwrap();
        assert!(parts.len() >= 4);
        for part in parts {
            let message = crate::model::DlsMessage::with_items("F".repeat(64), Action::WriteItems, part);
            assert!(write_dls_message(&message).len() <= MAX_MESSAGE_BYTES);
        }
    }

    #[test]
    fn file_deployment_repeats_the_shared_server_items() {
        let mut items = vec![Item::new("file-server", "192.0.2.1"), Item::new("file-pwd", "secret")];
        for file in 1..=4 {
            items.push(Item::indexed("file-name", file, format!("f{file}.wav")));
            items.push(Item::indexed("file-action", file, "deploy"));
        }
        let limits = SplitLimits { max_items: Some(6), ..SplitLimits::default() };
        let parts = split_items(&Action::FileDeployment, items, limits).unwrap();
        assert_eq!(parts.len(), 2);
        for part in &parts {
            assert_eq!(part[0].name, "file-server");
            assert_eq!(part[1].name, "file-pwd");
        }
    }

    #[test]
    fn a_group_larger_than_a_message_is_an_error() {
        let items = vec![Item::indexed("XML-app-name", 1, "x".repeat(60_000))];
        assert!(matches!(
            split_items(&Action::WriteItems, items, SplitLimits::default()),
            Err(SplitError::GroupTooLarge { .. })
        ));
    }

    #[test]
    fn bootstrap_items_travel_together() {
        let items = vec![
            Item::new("goto-secure-mode", "nopin"),
            Item::new("dls-client-certificate", "AAAA"),
            Item::indexed("dls-server-ca", 0, "PEM0"),
            Item::indexed("dls-server-ca", 1, "PEM1"),
            Item::new("dls-secure-port", "18444"),
        ];
        let limits = SplitLimits { max_items: Some(5), ..SplitLimits::default() };
        let parts = split_items(&Action::WriteItems, items, limits).unwrap();
        assert_eq!(parts.len(), 1);
    }
}
