//! A site described once (issue 16) through the command line: a CSV imported all or nothing with
//! problems by line, templates checked per device, variables, model scopes.

use crate::support::{service, stderr, stdout};

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn a_csv_is_imported_all_or_nothing_with_problems_by_line() {
    let service = service();
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        &dir,
        "bad.csv",
        "mac,e164,group,var.Name\n\
         00:1A:E8:00:00:01,4930111,berlin,Alice\n\
         ,4930112,berlin,\"Müller, Anna\"\n\
         zz,4930113,,x\n\
         00:1A:E8:00:00:01,4930114,,y\n\
         ,,,\n\
         00:1A:E8:00:00:09,12ab,,\n",
    );
    let refused = service.opendls(&["device", "import", &bad]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    let said = stderr(&refused);
    assert!(said.contains("line 4: \"zz\" is not a MAC address"), "{said}");
    assert!(said.contains("line 5: MAC 00:1A:E8:00:00:01 is given twice (also line 2)"), "{said}");
    assert!(said.contains("line 7: \"12ab\" is not an E.164 number"), "{said}");
    assert!(said.contains("3 problems; nothing stored"), "{said}");
    let listed = service.opendls(&["device", "provisioned", "--json"]);
    assert_eq!(stdout(&listed).trim(), "[]", "nothing half-imported");

    let columns = write(&dir, "columns.csv", "mac,phone\n00:1A:E8:00:00:01,1\n");
    let refused = service.opendls(&["device", "import", &columns]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("line 1: unknown column \"phone\""), "{}", stderr(&refused));

    let good = write(
        &dir,
        "site.csv",
        "mac,e164,group,var.Name\n00:1A:E8:00:00:01,4930111,berlin,Alice\n,4930112,berlin,\"Müller, Anna\"\n",
    );
    let dry = service.opendls(&["device", "import", &good, "--dry-run"]);
    assert!(stderr(&dry).contains("dry run: 2 devices would be prepared"), "{}", stderr(&dry));
    let imported = service.opendls(&["device", "import", &good]);
    assert!(imported.status.success(), "{}", stderr(&imported));
    let listed: serde_json::Value =
        serde_json::from_str(&stdout(&service.opendls(&["device", "provisioned", "--json"]))).unwrap();
    let names: Vec<&str> =
        listed.as_array().unwrap().iter().map(|d| d["variables"][0].as_str().unwrap()).collect();
    assert_eq!(names, ["Name", "Name"], "a variable's name keeps its case");
    assert_eq!(listed[1]["e164"], "4930112");
    let again = service.opendls(&["device", "import", &good]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("line 2: MAC 00:1A:E8:00:00:01 is prepared already"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn templates_are_checked_and_explained_from_the_command_line() {
    let service = service();
    let refused = service.opendls(&["config", "set", "--global", "sntp-addr={{device.nope}}"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("unknown placeholder {{device.nope}}"), "{}", stderr(&refused));
    let unknown_model = service.opendls(&["config", "set", "--model", "CP9*", "sntp-tz-offset=60"]);
    assert_eq!(unknown_model.status.code(), Some(1));
    assert!(stderr(&unknown_model).contains("matches no known model"), "{}", stderr(&unknown_model));
    let set = service.opendls(&["config", "set", "--model", "CP210", "sntp-addr={{global.var.ntp}}"]);
    assert!(set.status.success(), "{}", stderr(&set));
    let shown = stdout(&service.opendls(&["config", "show", "--model", "CP210"]));
    assert!(
        shown.contains("model OpenScape Desk Phone CP210") && shown.contains("{{global.var.ntp}}"),
        "{shown}"
    );

    let secret = service.opendls(&["var", "set", "--global", "--secret", "ntp=hunter2"]);
    assert!(secret.status.success(), "{}", stderr(&secret));
    let listed = stdout(&service.opendls(&["var", "list"]));
    assert!(listed.contains("ntp") && !listed.contains("hunter2"), "{listed}");
    let no_scope = service.opendls(&["var", "set", "x=1"]);
    assert_eq!(no_scope.status.code(), Some(1), "a variable for every device must be meant");
    let unknown_state = service.opendls(&["device", "list", "--approval", "maybe"]);
    assert_eq!(unknown_state.status.code(), Some(1));
    assert!(
        stderr(&unknown_state).contains("unknown approval state \"maybe\""),
        "{}",
        stderr(&unknown_state)
    );
    let checked = service.opendls(&["config", "check"]);
    assert!(checked.status.success(), "no device, no problem: {}", stderr(&checked));
    assert!(
        stderr(&checked).contains("checked 1 template against 0 devices: 0 problems"),
        "{}",
        stderr(&checked)
    );
}

#[test]
fn a_site_is_exported_edited_and_imported_with_a_diff() {
    let service = service();
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["config", "set", "--global", "sntp-tz-offset=60", "daylight-save=true"][..],
        &["config", "set", "--group", "berlin", "sip-pwd=topsecret", "sntp-addr=ntp.berlin"],
        &["var", "set", "--group", "berlin", "site=BER"],
        &["var", "set", "--global", "--secret", "token=t0k3n"],
        &["device", "add", "--e164", "4930555", "--group", "berlin", "--group", "lobby", "--var", "name=Bob"],
    ] {
        let done = service.opendls(args);
        assert!(done.status.success(), "{args:?}: {}", stderr(&done));
    }
    let exported = service.opendls(&["config", "export"]);
    assert!(exported.status.success(), "{}", stderr(&exported));
    let site = stdout(&exported);
    assert!(!site.contains("topsecret") && !site.contains("t0k3n"), "secrets never leave masked:\n{site}");
    assert!(stderr(&exported).contains("exported 4 values and 2 variables"), "{}", stderr(&exported));

    // Unchanged, it changes nothing.
    let file = write(&dir, "site.toml", &site);
    let same = service.opendls(&["config", "import", &file, "--prune"]);
    assert!(stderr(&same).contains("0 added, 0 changed, 0 removed, 6 unchanged"), "{}", stderr(&same));

    // Edited: one value changed, one dropped, one added; secrets kept although masked.
    let edited = site
        .replace("value = \"60\"", "value = \"120\"")
        .replace("value = \"BER\"", "value = \"Berlin\"")
        + "\n[[value]]\nscope = \"model\"\ntarget = \"OpenStage 60\"\nname = \"sntp-tz-offset\"\nvalue = \"0\"\n";
    let edited =
        edited.replace("[[value]]\nscope = \"global\"\nname = \"daylight-save\"\nvalue = \"true\"\n", "");
    let file = write(&dir, "edited.toml", &edited);
    let dry = service.opendls(&["config", "import", &file, "--dry-run"]);
    let diff = stdout(&dry);
    assert!(diff.contains("+ model OpenStage 60 sntp-tz-offset = \"0\""), "{diff}");
    assert!(diff.contains("~ global sntp-tz-offset: \"60\" -> \"120\""), "{diff}");
    assert!(diff.contains("~ group berlin variable site: \"BER\" -> \"Berlin\""), "{diff}");
    assert!(diff.contains("  global daylight-save (was \"true\")"), "kept without --prune: {diff}");
    let pruned = service.opendls(&["config", "import", &file, "--prune"]);
    assert!(stdout(&pruned).contains("- global daylight-save (was \"true\")"), "{}", stdout(&pruned));
    let after = stdout(&service.opendls(&["config", "export", "--format", "json"]));
    let after: serde_json::Value = serde_json::from_str(&after).unwrap();
    let values = after["value"].as_array().unwrap();
    assert_eq!(values.len(), 4, "{after:#}");
    assert!(!values.iter().any(|v| v["name"] == "daylight-save"));
    let secret = service.opendls(&["config", "show", "--group", "berlin", "--json"]);
    assert!(stdout(&secret).contains("sip-pwd"), "the masked secret was kept: {}", stdout(&secret));

    // Wrong input: every problem, nothing changed.
    let bad = write(
        &dir,
        "bad.toml",
        "[[value]]\nscope = \"galaxy\"\nname = \"x\"\nvalue = \"1\"\n\
         [[value]]\nscope = \"global\"\nname = \"sntp-tz-offset\"\nvalue = \"abc\"\n",
    );
    let refused = service.opendls(&["config", "import", &bad, "--prune"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("unknown scope \"galaxy\""), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("value 2 (global sntp-tz-offset)"), "{}", stderr(&refused));
    let unchanged = stdout(&service.opendls(&["config", "export", "--format", "json"]));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&unchanged).unwrap(), after, "nothing half-applied");

    // Devices: prepared ones with their groups and variables, as `device import` reads them.
    let devices = service.opendls(&["device", "export"]);
    assert_eq!(stdout(&devices), "mac,e164,group,var.name\n,4930555,berlin;lobby,Bob\n");
    let other = crate::support::service();
    let file = write(&dir, "devices.csv", &stdout(&devices));
    let imported = other.opendls(&["device", "import", &file]);
    assert!(
        imported.status.success(),
        "another installation prepares the same devices: {}",
        stderr(&imported)
    );
    let listed: serde_json::Value =
        serde_json::from_str(&stdout(&other.opendls(&["device", "provisioned", "--json"]))).unwrap();
    assert_eq!(
        (&listed[0]["group"], &listed[0]["other_groups"]),
        (&"berlin".into(), &serde_json::json!(["lobby"]))
    );
}

#[test]
fn secret_columns_are_sealed_and_never_shown() {
    let service = service();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        &dir,
        "site.csv",
        "mac,e164,var.name,secret.sip\n00:1A:E8:00:00:01,4930111,Alice,hunter2-alice\n",
    );
    let imported = service.opendls(&["device", "import", &file]);
    assert!(imported.status.success(), "{}", stderr(&imported));
    let added = service.opendls(&["device", "add", "--e164", "4930112", "--secret-var", "sip=hunter2-bob"]);
    assert!(added.status.success(), "{}", stderr(&added));
    let listed = stdout(&service.opendls(&["device", "provisioned", "--json"]));
    assert!(listed.contains("\"sip\": \"******\""), "{listed}");
    let exported = service.opendls(&["device", "export"]);
    for shown in [listed, stdout(&exported), stderr(&exported), stderr(&imported), stderr(&added)] {
        assert!(!shown.contains("hunter2"), "a secret was shown: {shown}");
    }
    assert_eq!(stdout(&exported), "mac,e164,group,var.name\n00:1A:E8:00:00:01,4930111,,Alice\n,4930112,,\n");
    let database = std::fs::read(service.server.data_dir.join("opendls.db")).unwrap();
    let wal = std::fs::read(service.server.data_dir.join("opendls.db-wal")).unwrap_or_default();
    for bytes in [database, wal] {
        assert!(!bytes.windows(7).any(|w| w == b"hunter2"), "sealed at rest");
    }
}

#[test]
fn a_layout_is_refused_from_the_command_line_with_its_reason() {
    let service = service();
    let layout = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/examples/layout-reception.toml");
    let refused = service.opendls(&["layout", "apply", layout, "--model", "OpenStage 40"]);
    assert_eq!(refused.status.code(), Some(1));
    let said = stderr(&refused);
    assert!(
        said.contains("nothing set: OpenStage 40: shifted key 8: OpenStage 40 has programmable keys 1-6"),
        "{said}"
    );
    let dry = service.opendls(&["layout", "apply", layout, "--model", "OpenStage 60", "--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(stdout(&dry).contains("function-key-def[1]"), "{}", stdout(&dry));
    assert!(stderr(&dry).contains("dry run: layout reception fits OpenStage 60"), "{}", stderr(&dry));
    let functions = service.opendls(&["layout", "functions"]);
    assert!(
        stdout(&functions).contains("blf                59          guide p. 120-122, 138"),
        "{}",
        stdout(&functions)
    );
}
