use super::*;
use crate::template::Placeholder;

fn entry(scope: Scope, name: &str, value: &str) -> DesiredEntry {
    DesiredEntry { scope, key: ItemKey::new(name, None), value: value.into() }
}

fn variable(scope: Scope, name: &str, value: &str) -> Variable {
    Variable { scope, name: name.into(), value: value.into(), secret: false }
}

fn facts<'a>(mac: &'a str, group: Option<&'a str>) -> DeviceFacts<'a> {
    DeviceFacts { mac, e164: Some("4930123"), model: Some("OpenStage 60"), group, other_groups: &[] }
}

fn group(name: &str) -> Scope {
    Scope::Group(name.into())
}

fn device(mac: &str) -> Scope {
    Scope::Device(mac.into())
}

#[test]
fn device_beats_group_beats_model_beats_global() {
    let entries = vec![
        entry(device("AA:BB:CC:DD:EE:FF"), "a", "device"),
        entry(Scope::Global, "a", "global"),
        entry(group("sales"), "a", "group"),
        entry(group("sales"), "b", "group"),
        entry(Scope::Global, "b", "global"),
        entry(Scope::Global, "c", "global"),
        entry(group("other"), "c", "other group"),
        entry(device("00:00:00:00:00:01"), "c", "other device"),
        entry(Scope::Model("OpenStage 6*".into()), "c", "model"),
        entry(Scope::Model("OpenStage*".into()), "d", "any OpenStage"),
        entry(Scope::Model("OpenStage 60".into()), "d", "OpenStage 60"),
        entry(Scope::Model("OpenStage 40".into()), "e", "not this model"),
        entry(group("sales"), "d", "group"),
    ];
    let configuration = Configuration::new(entries, []);
    let resolved = configuration.resolve(&facts("AA:BB:CC:DD:EE:FF", Some("sales")));
    let value = |name: &str| resolved.values.get(&ItemKey::new(name, None)).map(|r| r.value.as_str());
    assert_eq!(
        (value("a"), value("b"), value("c"), value("d")),
        (Some("device"), Some("group"), Some("model"), Some("group"))
    );
    assert_eq!(value("e"), None, "a model scope applies only to its models");
    let ungrouped = configuration.resolve(&facts("AA:BB:CC:DD:EE:FF", None));
    let value = |name: &str| ungrouped.values[&ItemKey::new(name, None)].value.as_str();
    assert_eq!((value("b"), value("d")), ("global", "OpenStage 60"), "the most specific model pattern wins");
    let unknown_model = DeviceFacts { model: None, ..facts("00:00:00:00:00:09", None) };
    assert_eq!(configuration.resolve(&unknown_model).values[&ItemKey::new("c", None)].value, "global");
}

#[test]
fn in_several_groups_the_first_wins_item_by_item_and_variable_by_variable() {
    let entries = vec![
        entry(Scope::Global, "a", "global"),
        entry(group("berlin"), "a", "berlin"),
        entry(group("sales"), "a", "sales"),
        entry(group("berlin"), "b", "berlin"),
        entry(group("lobby"), "c", "lobby"),
        entry(group("unrelated"), "d", "unrelated"),
        entry(Scope::Model("OpenStage 60".into()), "b", "model"),
        entry(Scope::Global, "label", "{{group.var.site}}/{{var.floor}}"),
    ];
    let variables = vec![
        variable(group("berlin"), "site", "BER"),
        variable(group("lobby"), "site", "LOBBY"),
        variable(group("lobby"), "floor", "0"),
        variable(Scope::Global, "floor", "global floor"),
    ];
    let configuration = Configuration::new(entries, variables);
    let others = ["berlin".to_owned(), "lobby".to_owned()];
    let device = DeviceFacts { other_groups: &others, ..facts("AA:BB:CC:DD:EE:FF", Some("sales")) };
    let resolved = configuration.resolve(&device);
    let got = |name: &str| {
        resolved.values.get(&ItemKey::new(name, None)).map(|r| (r.value.as_str(), r.scope.to_string()))
    };
    assert_eq!(got("a"), Some(("sales", "group sales".to_owned())), "the first group beats the others");
    assert_eq!(got("b"), Some(("berlin", "group berlin".to_owned())), "any group beats the model scope");
    assert_eq!(got("c"), Some(("lobby", "group lobby".to_owned())));
    assert_eq!(got("d"), None, "a group the device is not in never applies");
    assert_eq!(
        got("label"),
        Some(("BER/0", "global".to_owned())),
        "group variables come from the first group that has them, before global ones"
    );
    let reversed = ["berlin".to_owned()];
    let device = DeviceFacts { other_groups: &reversed, ..facts("AA:BB:CC:DD:EE:FF", Some("lobby")) };
    let resolved = configuration.resolve(&device);
    assert_eq!(resolved.values[&ItemKey::new("a", None)].value, "berlin");
    assert_eq!(resolved.values[&ItemKey::new("label", None)].value, "LOBBY/0");
}

#[test]
fn templates_render_with_facts_and_variables_of_every_scope() {
    let entries = vec![
        entry(Scope::Global, "sip-user-id", "{{device.e164}}"),
        entry(Scope::Global, "display-id-unicode", "{{ device.var.name }} ({{group.var.site}})"),
        entry(Scope::Global, "sntp-addr", "{{global.var.ntp}}"),
        entry(Scope::Global, "display-id", "{{device.mac-plain}} {{device.model}}"),
        entry(Scope::Global, "reg-addr", "{{var.registrar}}"),
    ];
    let variables = vec![
        variable(device("00:1A:E8:00:00:01"), "name", "Alice"),
        variable(group("berlin"), "site", "Berlin"),
        variable(Scope::Global, "ntp", "ntp.example"),
        variable(Scope::Global, "registrar", "sip.example"),
        variable(group("berlin"), "registrar", "sip-berlin.example"),
    ];
    let configuration = Configuration::new(entries, variables);
    let resolved = configuration.resolve(&facts("00:1A:E8:00:00:01", Some("berlin")));
    assert!(resolved.unrenderable.is_empty(), "{:?}", resolved.unrenderable);
    let value = |name: &str| resolved.values[&ItemKey::new(name, None)].value.as_str();
    assert_eq!(value("sip-user-id"), "4930123");
    assert_eq!(value("display-id-unicode"), "Alice (Berlin)");
    assert_eq!(value("sntp-addr"), "ntp.example");
    assert_eq!(value("display-id"), "001ae8000001 OpenStage 60");
    assert_eq!(value("reg-addr"), "sip-berlin.example", "var.NAME takes the nearest scope");
    let display = &resolved.values[&ItemKey::new("display-id-unicode", None)];
    assert_eq!(display.template.as_deref(), Some("{{ device.var.name }} ({{group.var.site}})"));
    let used: Vec<(&Placeholder, &Scope)> =
        display.variables.iter().map(|u| (&u.placeholder, &u.scope)).collect();
    assert_eq!(
        used,
        [
            (&Placeholder::DeviceVar("name".into()), &device("00:1A:E8:00:00:01")),
            (&Placeholder::GroupVar("site".into()), &group("berlin"))
        ]
    );
}

#[test]
fn a_template_that_cannot_render_is_held_back_never_replaced_by_a_lower_scope() {
    let entries = vec![
        entry(Scope::Global, "display-id-unicode", "fallback"),
        entry(group("sales"), "display-id-unicode", "{{device.var.name}}"),
        entry(Scope::Global, "sip-user-id", "{{device.e164}}"),
        // A VLAN ID is 1..4094 (a standard's range: refused, never only warned).
        entry(Scope::Global, "vlan-id", "{{device.var.vlan}}"),
        entry(Scope::Global, "sntp-addr", "{{device.nonsense}}"),
        entry(Scope::Global, "reg-addr", "{{global.var.registrar"),
    ];
    let variables = vec![variable(device("00:1A:E8:00:00:01"), "vlan", "5000")];
    let configuration = Configuration::new(entries, variables);
    let no_number = DeviceFacts { e164: Some(""), ..facts("00:1A:E8:00:00:01", Some("sales")) };
    let resolved = configuration.resolve(&no_number);
    assert!(resolved.values.is_empty(), "{:?}", resolved.values);
    let reason = |name: &str| resolved.unrenderable[&ItemKey::new(name, None)].reason.clone();
    assert_eq!(reason("display-id-unicode"), "the device has no variable name");
    assert_eq!(reason("sip-user-id"), "the device has no E.164 number yet");
    assert!(reason("vlan-id").starts_with("the rendered value is refused"), "{}", reason("vlan-id"));
    assert!(!reason("vlan-id").contains("5000"), "a rendered value may be secret: never quoted");
    assert!(
        reason("sntp-addr").starts_with("unknown placeholder {{device.nonsense}}"),
        "{}",
        reason("sntp-addr")
    );
    assert_eq!(reason("reg-addr"), "a '{{' is not closed by '}}'");
    assert_eq!(resolved.unrenderable[&ItemKey::new("display-id-unicode", None)].scope, group("sales"));
    let ungrouped = configuration.resolve(&DeviceFacts { group: None, ..no_number });
    assert_eq!(ungrouped.values[&ItemKey::new("display-id-unicode", None)].value, "fallback");
}

#[test]
fn group_variables_need_a_group() {
    let configuration = Configuration::new(
        [entry(Scope::Global, "sntp-addr", "{{group.var.ntp}}")],
        [variable(group("a"), "ntp", "x")],
    );
    let resolved = configuration.resolve(&facts("00:1A:E8:00:00:01", None));
    assert_eq!(
        resolved.unrenderable[&ItemKey::new("sntp-addr", None)].reason,
        "the device is in no group, so {{group.var.ntp}} has no value"
    );
}

#[test]
fn secret_variables_mark_what_they_render_into() {
    let mut password = variable(device("00:1A:E8:00:00:01"), "sip-password", "s3cret");
    password.secret = true;
    assert!(!format!("{password:?}").contains("s3cret"), "Debug masks a secret variable");
    let configuration = Configuration::new(
        [entry(Scope::Global, "display-id-unicode", "{{device.var.sip-password}}")],
        [password],
    );
    let resolved = configuration.resolve(&facts("00:1A:E8:00:00:01", None));
    assert!(resolved.values[&ItemKey::new("display-id-unicode", None)].secret_variable);
}

#[test]
fn a_change_touches_only_devices_it_reaches() {
    let sales = Some("sales");
    let devices = [facts("A", sales), facts("B", sales), facts("C", None), facts("D", Some("lobby"))];
    let entries = vec![
        entry(Scope::Global, "a", "old"),
        entry(group("sales"), "a", "sales"),
        entry(device("B"), "a", "mine"),
    ];
    let before = Configuration::new(entries.clone(), []);
    let affected = |change: Vec<DesiredEntry>| {
        let keys: Vec<ItemKey> = change.iter().map(|e| e.key.clone()).collect();
        let after = Configuration::new(entries.iter().cloned().chain(change), []);
        devices_affected(&before, &after, Some(&keys), devices)
    };
    assert_eq!(affected(vec![entry(Scope::Global, "a", "new")]), 2, "C and D; A and B are overridden");
    assert_eq!(affected(vec![entry(group("sales"), "a", "sales2")]), 1, "A; B has its own");
    assert_eq!(affected(vec![entry(group("sales"), "a", "sales")]), 0, "nothing differs");
    assert_eq!(affected(vec![entry(device("C"), "b", "x")]), 1);
    assert_eq!(affected(vec![entry(Scope::Model("OpenStage 60".into()), "a", "m")]), 2, "C and D");
    let variables_changed = Configuration::new(
        entries.iter().cloned().chain([entry(Scope::Global, "n", "{{var.x}}")]),
        [variable(device("A"), "x", "1")],
    );
    let with_template =
        Configuration::new(entries.iter().cloned().chain([entry(Scope::Global, "n", "{{var.x}}")]), []);
    assert_eq!(
        devices_affected(&with_template, &variables_changed, None, devices),
        1,
        "a variable reaches A only"
    );
}
