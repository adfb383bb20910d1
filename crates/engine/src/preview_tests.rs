use super::*;
use crate::model::{DesiredEntry, FlaggedChange, ReportedItem, Scope};

fn entry(scope: Scope, name: &str, value: &str) -> DesiredEntry {
    DesiredEntry { scope, key: ItemKey::new(name, None), value: value.into() }
}

fn phone(reported: &[(&str, &str)]) -> DeviceRecord {
    let mut device = DeviceRecord::new("00:1A:E8:00:00:01".into(), 0);
    device.device_type = Some("OpenStage 60".into());
    for (name, value) in reported {
        let key = ItemKey::new(*name, None);
        device.reported.insert(key.clone(), ReportedItem { key, value: (*value).into(), status: None });
    }
    device
}

#[test]
fn next_writes_lists_what_differs_and_why_some_is_held() {
    let configuration = Configuration::new(
        vec![
            entry(Scope::Global, "sntp-addr", "ntp.example"),
            entry(Scope::Global, "sntp-tz-offset", "60"),
            entry(Scope::Global, "display-id-unicode", "{{device.var.name}}"),
            entry(Scope::Global, "energy-saving", "3"),
            entry(Scope::Global, "sip-user-id", "{{device.mac-plain}}"),
        ],
        [],
    );
    let mut device = phone(&[("sntp-addr", "ntp.example"), ("sntp-tz-offset", "0"), ("sip-user-id", "old")]);
    device.flagged.push(FlaggedChange {
        key: ItemKey::new("sip-user-id", None),
        phone_value: "old".into(),
        desired_value: "001ae8000001".into(),
        at: 0,
    });
    let failures = [WriteFailure {
        key: ItemKey::new("energy-saving", None),
        value: "3".into(),
        status: "failed".into(),
        at: 0,
    }];
    let resolution = configuration.resolve(&DeviceFacts::of(&device));
    let writes = next_writes(&device, &resolution, &failures);
    let summary: Vec<(String, Option<String>, Option<String>)> = writes
        .iter()
        .map(|w| (w.key.name.clone(), w.reported.clone(), w.hold.as_ref().map(ToString::to_string)))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "display-id-unicode".into(),
                None,
                Some("the template cannot be rendered: the device has no variable name".into())
            ),
            ("energy-saving".into(), None, Some("refused by the phone: failed".into())),
            ("sip-user-id".into(), Some("old".into()), Some("local change flagged".into())),
            ("sntp-tz-offset".into(), Some("0".into()), None),
        ],
        "what the phone has already is not listed"
    );
    device.approval = Approval::Pending;
    let writes = next_writes(&device, &resolution, &failures);
    assert!(writes.iter().all(|w| !w.is_sent()), "a device waiting for approval is sent nothing");
}

#[test]
fn changes_name_each_item_whose_value_moves() {
    let before = Configuration::new(vec![entry(Scope::Global, "a", "1"), entry(Scope::Global, "b", "2")], []);
    let after = Configuration::new(
        vec![
            entry(Scope::Global, "a", "1"),
            entry(Scope::Group("sales".into()), "a", "1"),
            entry(Scope::Global, "b", "3"),
            entry(Scope::Global, "c", "{{device.var.x}}"),
        ],
        [],
    );
    let device = phone(&[]);
    let facts = DeviceFacts { group: Some("sales"), ..DeviceFacts::of(&device) };
    let found = changes(&before, &after, None, &facts);
    let names: Vec<&str> = found.iter().map(|c| c.key.name.as_str()).collect();
    assert_eq!(names, ["b", "c"], "the same value from another scope is no change");
    assert!(matches!(found[1].after, Some(Wanted::Unrenderable(_))) && found[1].before.is_none());
    assert!(changes(&before, &after, Some(&[ItemKey::new("a", None)]), &facts).is_empty());
}
