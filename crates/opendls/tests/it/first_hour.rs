//! An administrator's first hour (issue 13): values that are checked, changes that are atomic.

use crate::support::{service, stderr, stdout};

#[test]
fn out_of_range_values_are_refused_and_nothing_is_stored() {
    let service = service();
    let offset = service.opendls(&["config", "set", "--group", "y", "sntp-tz-offset=99999"]);
    assert_eq!(offset.status.code(), Some(1), "{}", stderr(&offset));
    assert!(stderr(&offset).contains("sntp-tz-offset must be between -720 and 840"), "{}", stderr(&offset));
    for vlan in ["vlan-id=5000", "vlan-id=-1"] {
        let refused = service.opendls(&["config", "set", "--group", "y", vlan]);
        assert_eq!(refused.status.code(), Some(1), "{vlan}: {}", stderr(&refused));
        assert!(stderr(&refused).contains("IEEE 802.1Q"), "{}", stderr(&refused));
    }
    let index = service.opendls(&["config", "set", "--group", "y", "sntp-addr[1]=x.example"]);
    assert!(stderr(&index).contains("sntp-addr is not an indexed item, but index 1 was given"));
    let past = service.opendls(&["config", "set", "--group", "y", "XML-app-name[99]=phonebook"]);
    assert!(stderr(&past).contains("takes an index from 1 to 20, not 99"), "{}", stderr(&past));
    assert_eq!(past.status.code(), Some(1));
    let shown = service.opendls(&["config", "show", "--group", "y", "--json"]);
    assert_eq!(stdout(&shown).trim(), "[]", "nothing refused was stored");
}

#[test]
fn unknown_names_are_refused_with_what_was_meant() {
    let service = service();
    for (typo, meant) in
        [("Sntp-Addr=x.example", "did you mean sntp-addr?"), ("sntp-adr=x.example", "sntp-addr")]
    {
        let refused = service.opendls(&["config", "set", "--group", "y", typo]);
        assert_eq!(refused.status.code(), Some(1));
        let text = stderr(&refused);
        assert!(text.contains("not in the item catalog") && text.contains(meant), "{text}");
        assert!(text.contains("--allow-unknown"), "{text}");
    }
    let insisted = service.opendls(&["config", "set", "--group", "y", "future-item=1", "--allow-unknown"]);
    assert!(insisted.status.success(), "{}", stderr(&insisted));
    assert!(stderr(&insisted).contains("warning: future-item: future-item is not in the item catalog"));

    let read = service.opendls(&["job", "create", "read-items", "--item", "sntp-adr", "--all"]);
    assert_eq!(read.status.code(), Some(1));
    assert!(stderr(&read).contains("did you mean sntp-addr?"), "{}", stderr(&read));
    let insisted =
        service.opendls(&["job", "create", "read-items", "--item", "nosuch", "--all", "--allow-unknown"]);
    assert!(stderr(&insisted).contains("no known device matches"), "{}", stderr(&insisted));
}

#[test]
fn a_change_of_several_values_is_all_or_nothing_with_every_refusal_listed() {
    let service = service();
    let change = service.opendls(&[
        "config",
        "set",
        "--group",
        "y",
        "sntp-addr=ok.example",
        "daylight-save=maybe",
        "vlan-id=10",
        "transaction-timer=5",
    ]);
    assert_eq!(change.status.code(), Some(1));
    let text = stderr(&change);
    assert!(text.contains("nothing set"), "{text}");
    assert!(text.contains("  daylight-save: daylight-save must be true or false"), "{text}");
    assert!(text.contains("  transaction-timer: transaction-timer must be between 3700 and 32000"), "{text}");
    let shown = service.opendls(&["config", "show", "--group", "y", "--json"]);
    assert_eq!(stdout(&shown).trim(), "[]", "not even the good values were stored");

    let twice =
        service.opendls(&["config", "set", "--group", "y", "sntp-addr=a.example", "sntp-addr=b.example"]);
    assert!(stderr(&twice).contains("sntp-addr: given twice"), "{}", stderr(&twice));
    let good = service.opendls(&["config", "set", "--group", "y", "sntp-addr=ok.example", "vlan-id=10"]);
    assert!(good.status.success(), "{}", stderr(&good));
    assert_eq!(stdout(&good), "set sntp-addr\nset vlan-id\n");
}

#[test]
fn a_write_to_every_phone_must_be_meant() {
    let service = service();
    let unscoped = service.opendls(&["config", "set", "sntp-addr=x.example"]);
    assert_eq!(unscoped.status.code(), Some(1));
    let text = stderr(&unscoped);
    assert!(text.contains("for every device (0 affected now): nothing set; add --global"), "{text}");
    let shown = service.opendls(&["config", "show", "--json"]);
    assert_eq!(stdout(&shown).trim(), "[]");

    let dry = service.opendls(&["config", "set", "--global", "sntp-addr=x.example", "--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert_eq!(stdout(&dry), "would set sntp-addr\n");
    assert!(stderr(&dry).contains("dry run: 0 devices would be affected at global; nothing stored"));
    assert_eq!(stdout(&service.opendls(&["config", "show", "--json"])).trim(), "[]");

    let meant = service.opendls(&["config", "set", "--global", "sntp-addr=x.example"]);
    assert!(meant.status.success(), "{}", stderr(&meant));
}
