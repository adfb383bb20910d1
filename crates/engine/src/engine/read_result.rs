//! What a `read-items` job got back: which requested items came, which came with an error
//! status, and which the phone left out (a phone leaves out items it does not know).

use opendls_wpi::Item;

use crate::jobs::{ReadResult, TargetState};
use crate::model::{ItemKey, plural};

/// Compares the items a phone returned with those a job asked for. A request without an index
/// is answered by any instance of the item (`function-key-def` returns every key).
pub(super) fn read_result(requested: &[ItemKey], returned: &[Item]) -> ReadResult {
    let mut result = ReadResult::default();
    for wanted in requested {
        let label = key_label(wanted);
        let answers: Vec<&Item> = returned
            .iter()
            .filter(|item| item.name == wanted.name && (wanted.index.is_none() || item.index == wanted.index))
            .collect();
        if answers.is_empty() {
            result.missing.push(label);
        } else if answers.iter().any(|item| item.status.is_none()) {
            result.returned.push(label);
        } else {
            let status = answers[0].status.as_ref().map(ToString::to_string).unwrap_or_default();
            result.failed.push((label, status));
        }
    }
    result
}

/// The target's final state and detail for a read: done when anything requested came back,
/// failed when nothing did, and the detail names what is missing either way.
pub(super) fn read_outcome(result: &ReadResult) -> (TargetState, String) {
    let wanted = result.returned.len() + result.failed.len() + result.missing.len();
    let mut detail = if result.failed.is_empty() && result.missing.is_empty() {
        format!("{} read", plural(wanted, "requested item"))
    } else if result.returned.is_empty() {
        format!("none of {} came back", plural(wanted, "requested item"))
    } else {
        format!("{} of {} read", result.returned.len(), plural(wanted, "requested item"))
    };
    if !result.missing.is_empty() {
        detail.push_str(&format!("; not returned: {}", result.missing.join(", ")));
    }
    if !result.failed.is_empty() {
        let failed: Vec<String> =
            result.failed.iter().map(|(item, status)| format!("{item} ({status})")).collect();
        detail.push_str(&format!("; with an error status: {}", failed.join(", ")));
    }
    let state =
        if result.returned.is_empty() && wanted > 0 { TargetState::Failed } else { TargetState::Done };
    (state, detail)
}

fn key_label(key: &ItemKey) -> String {
    match key.index {
        Some(index) => format!("{}[{index}]", key.name),
        None => key.name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use opendls_wpi::ItemStatus;

    use super::*;

    fn keys(names: &[(&str, Option<u32>)]) -> Vec<ItemKey> {
        names.iter().map(|(n, i)| ItemKey::new(*n, *i)).collect()
    }

    #[test]
    fn everything_back_is_done() {
        let requested = keys(&[("reg-addr", None), ("function-key-def", None)]);
        let returned = vec![Item::new("reg-addr", "10.0.0.1"), Item::indexed("function-key-def", 3, "59")];
        let result = read_result(&requested, &returned);
        assert_eq!(result.returned, ["reg-addr", "function-key-def"]);
        assert_eq!(read_outcome(&result), (TargetState::Done, "2 requested items read".into()));
    }

    #[test]
    fn missing_and_failed_items_are_named() {
        let requested = keys(&[("reg-addr", None), ("no-such-item", None), ("key-label-unicode", Some(4))]);
        let mut unknown = Item::indexed("key-label-unicode", 4, "");
        unknown.status = Some(ItemStatus::InvalidIndex);
        let returned = vec![Item::new("reg-addr", "10.0.0.1"), unknown, Item::new("e164", "100")];
        let result = read_result(&requested, &returned);
        assert_eq!(result.missing, ["no-such-item"]);
        assert_eq!(result.failed, [("key-label-unicode[4]".to_owned(), "invalid index".to_owned())]);
        assert_eq!(
            read_outcome(&result),
            (
                TargetState::Done,
                "1 of 3 requested items read; not returned: no-such-item; \
                 with an error status: key-label-unicode[4] (invalid index)"
                    .into()
            )
        );
    }

    #[test]
    fn nothing_back_fails() {
        let requested = keys(&[("a", None), ("b", None)]);
        let returned: Vec<Item> = (0..10).map(|n| Item::new(format!("other-{n}"), "x")).collect();
        let (state, detail) = read_outcome(&read_result(&requested, &returned));
        assert_eq!(state, TargetState::Failed);
        assert_eq!(detail, "none of 2 requested items came back; not returned: a, b");
    }
}
