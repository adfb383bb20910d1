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
    // The other commands that change every phone at once need the scope named too.
    for (args, what) in [
        (&["config", "unset", "sntp-addr"][..], "config unset"),
        (&["security", "mode", "secure"][..], "security mode"),
        (&["device", "behind-nat"][..], "device behind-nat"),
    ] {
        let refused = service.opendls(args);
        assert_eq!(refused.status.code(), Some(1), "{what}");
        assert!(
            stderr(&refused).contains(&format!("{what} needs a scope: --global")),
            "{}",
            stderr(&refused)
        );
    }
    assert_eq!(stdout(&service.opendls(&["security", "modes", "--json"])).trim(), "[]");
}

#[test]
fn waiting_targets_say_why_and_until_when() {
    use opendls_phonesim::interaction::{Manner, Target, run_interaction};
    use opendls_phonesim::live::{self, Behaviour};
    use opendls_phonesim::{PhoneProfile, SimPhone};

    let service = service();
    let target = Target::default_mode(service.server.phone_addr);
    // A live phone: it answers contact-me on loopback, then ignores more for its contact gap.
    let phone = SimPhone::new(PhoneProfile::numbered(1));
    let mac = phone.profile.mac.clone();
    let live = service.runtime.block_on(live::spawn(phone, target.clone(), Behaviour::default())).unwrap();
    for _ in 0..100 {
        if stdout(&service.opendls(&["device", "list"])).contains(&mac) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let first =
        service.opendls(&["job", "create", "read-items", "--item", "e164", "--device", &mac, "--wait"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let second = service.opendls(&["job", "create", "read-items", "--item", "e164", "--device", &mac]);
    assert!(second.status.success(), "{}", stderr(&second));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let shown = stdout(&service.opendls(&["job", "show", "2"]));
    assert!(shown.contains("contact gap: the phone answered a contact-me at 20"), "{shown}");
    assert!(shown.contains("jobs.contact_gap_secs = 300"), "{shown}");
    let json: serde_json::Value =
        serde_json::from_slice(&service.opendls(&["job", "show", "2", "--json"]).stdout).unwrap();
    assert!(json["targets"][0]["waiting"]["until"].as_i64().is_some(), "{json}");
    assert_eq!(json["summary"]["counts"], serde_json::json!({"queued": 1}));
    service.runtime.block_on(live.stop());

    // A phone no contact-me may reach: it reports an address it does not connect from.
    let mut profile = PhoneProfile::numbered(2);
    profile.contact_me_uri = "http://10.0.0.1:8085/contact_dls.html/ContactDLS".into();
    let stray = profile.mac.clone();
    let mut phone = SimPhone::new(profile);
    let first = phone.contact(opendls_wpi::Reason::StartUp, &[]);
    service.runtime.block_on(run_interaction(&mut phone, &target, first, &Manner::default())).unwrap();
    let stuck =
        service.opendls(&["job", "create", "restart", "--device", &stray, "--wait", "--give-up-after", "3"]);
    assert_eq!(stuck.status.code(), Some(1), "{}", stderr(&stuck));
    let text = stderr(&stuck);
    assert!(text.contains("waiting (1): no contact-me: the phone reported 10.0.0.1"), "{text}");
    assert!(text.contains("nothing can progress: no contact-me can reach the unfinished targets"), "{text}");
}

#[test]
fn behind_nat_says_exactly_what_to_set() {
    let service = crate::support::service_with(|config| config.public_address = None);
    let refused = service.opendls(&["device", "behind-nat", "--group", "branch"]);
    assert_eq!(refused.status.code(), Some(1));
    let text = stderr(&refused);
    assert!(
        text.contains("set public_address to this host's address or name as the phones see it"),
        "{text}"
    );
    assert!(text.contains("OPENDLS_PUBLIC_ADDRESS or --public-address"), "{text}");
    let service = crate::support::service_with(|config| config.dcmp_listen = None);
    let text = stderr(&service.opendls(&["device", "behind-nat", "--group", "branch"]));
    assert!(text.contains("the DCMP listener is off; set dcmp_listen"), "{text}");
}

#[test]
fn a_new_public_address_reissues_both_server_certificates() {
    use opendls_pki::{SERVER_CERT_FILE, ca::SECURE_SERVER_CERT_FILE, certificate_names};

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let names_of = |file: &str| certificate_names(&std::fs::read_to_string(data.join(file)).unwrap());
    let mut config = opendls_server::Config::loopback(data.clone());
    config.public_address = None;
    runtime.block_on(async { opendls_server::start(config.clone()).await.unwrap().stop().await });
    assert!(!names_of(SERVER_CERT_FILE).contains(&"10.1.2.3".to_owned()));
    let ca_before = std::fs::read(data.join(opendls_pki::ca::CA_CERT_FILE)).unwrap();

    config.public_address = Some("10.1.2.3".into());
    runtime.block_on(async { opendls_server::start(config.clone()).await.unwrap().stop().await });
    for file in [SERVER_CERT_FILE, SECURE_SERVER_CERT_FILE] {
        assert!(names_of(file).contains(&"10.1.2.3".to_owned()), "{file}: {:?}", names_of(file));
    }
    assert_eq!(std::fs::read(data.join(opendls_pki::ca::CA_CERT_FILE)).unwrap(), ca_before, "the CA stays");

    let before = std::fs::read_to_string(data.join(SERVER_CERT_FILE)).unwrap();
    let forced = std::process::Command::new(env!("CARGO_BIN_EXE_opendls"))
        .args(["security", "reissue-server-certificates", "--public-address", "dls.example.com"])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert!(stdout(&forced).contains("issued for dls.example.com, localhost"), "{}", stdout(&forced));
    assert_ne!(std::fs::read_to_string(data.join(SERVER_CERT_FILE)).unwrap(), before);
    assert!(names_of(SECURE_SERVER_CERT_FILE).contains(&"dls.example.com".to_owned()));
}

#[test]
fn the_cli_finds_the_service_from_its_data_directory_and_says_what_it_tried() {
    let service = service();
    let run = |args: &[&str], dir: &std::path::Path, data: Option<&std::path::Path>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_opendls"));
        command.args(args).current_dir(dir).env_remove("OPENDLS_ADMIN_URL").env_remove("OPENDLS_ADMIN_TOKEN");
        match data {
            Some(data) => command.env("OPENDLS_DATA", data),
            None => command.env_remove("OPENDLS_DATA"),
        };
        command.output().unwrap()
    };
    let elsewhere = tempfile::tempdir().unwrap();
    // The admin address comes from the data directory: no --admin-url needed.
    let listed = run(&["device", "list"], elsewhere.path(), Some(&service.server.data_dir));
    assert!(listed.status.success(), "{}", stderr(&listed));
    // ./opendls-data is found from where the service was started.
    let parent = service.server.data_dir.parent().unwrap();
    let local = parent.join("opendls-data");
    std::os::unix::fs::symlink(&service.server.data_dir, &local).unwrap();
    let found = run(&["device", "list"], parent, None);
    assert!(found.status.success(), "{}", stderr(&found));
    // Nowhere: say which directories were tried.
    let none = run(&["device", "list"], elsewhere.path(), None);
    assert_eq!(none.status.code(), Some(2));
    let text = stderr(&none);
    let tried = format!("tried {}/opendls-data and /var/lib/opendls", elsewhere.path().display());
    assert!(text.contains("no data directory with an admin token") && text.contains(&tried), "{text}");

    // host:port is accepted; a wrong port says what was tried and why it failed.
    let addr = service.server.admin_addr.to_string();
    let data = Some(service.server.data_dir.as_path());
    let bare = run(&["device", "list", "--admin-url", &addr], elsewhere.path(), data);
    assert!(bare.status.success(), "{}", stderr(&bare));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let wrong = run(&["device", "list", "--admin-url", &closed.to_string()], elsewhere.path(), data);
    assert_eq!(wrong.status.code(), Some(2));
    let text = stderr(&wrong);
    assert!(text.contains(&format!("cannot reach the admin API at http://{closed}: ")), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
    let garbage = run(&["device", "list", "--admin-url", "ftp://x"], elsewhere.path(), data);
    assert!(stderr(&garbage).contains("the scheme must be http or https"), "{}", stderr(&garbage));
}

#[test]
fn a_port_in_use_fails_the_start_once_and_writes_nothing() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_opendls"))
        .args(["serve", "--phone-listen", &port, "--admin-listen", "127.0.0.1:0"])
        .args(["--secure-listen", "off", "--dcmp-listen", "off", "--file-listen", "off", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(text.contains(&format!("cannot listen on {port} (phone_listen)")), "{text}");
    assert_eq!(text.matches("Address already in use").count(), 1, "said once: {text}");
    assert!(!data.exists(), "no data directory, keys or certificates for a start that failed");
}

#[test]
fn the_fleet_is_browsed_by_filter_and_page_and_cleaned_up() {
    use opendls_phonesim::interaction::{Manner, Target, run_interaction};
    use opendls_phonesim::{PhoneProfile, SimPhone};

    let service = service();
    let target = Target::default_mode(service.server.phone_addr);
    // Phones 1-4: OpenStage 20, 40, 60, 80 (the simulator cycles models).
    for n in 1..=4 {
        let mut phone = SimPhone::new(PhoneProfile::numbered(n));
        let first = phone.contact(opendls_wpi::Reason::StartUp, &[]);
        service.runtime.block_on(run_interaction(&mut phone, &target, first, &Manner::default())).unwrap();
    }
    let mac = |n: u32| PhoneProfile::numbered(n).mac;
    assert!(service.opendls(&["group", "assign", &mac(3), "sales"]).status.success());

    let sixty = service.opendls(&["device", "list", "--model", "openstage 6*"]);
    assert!(stdout(&sixty).contains(&mac(3)) && !stdout(&sixty).contains(&mac(1)), "{}", stdout(&sixty));
    assert_eq!(stderr(&sixty).trim(), "1 device");
    let page = service.opendls(&["device", "list", "--limit", "2", "--offset", "1"]);
    assert!(stderr(&page).contains("devices 2-3 of 4 (--offset 3 for the next page)"), "{}", stderr(&page));
    let ungrouped = service.opendls(&["device", "list", "--group", "-", "--json"]);
    assert_eq!(serde_json::from_slice::<Vec<serde_json::Value>>(&ungrouped.stdout).unwrap().len(), 3);
    let recent = service.opendls(&["device", "list", "--seen-since", "1h", "--state", "default"]);
    assert_eq!(stderr(&recent).trim(), "4 devices");
    let future = service.opendls(&["device", "list", "--seen-since", "2999-01-01T00:00:00Z"]);
    assert_eq!(stderr(&future).trim(), "no device matches");
    let bad = service.opendls(&["device", "list", "--seen-since", "yesterday"]);
    assert_eq!(bad.status.code(), Some(2));

    assert!(service.opendls(&["config", "set", "--group", "lobby", "sntp-addr=x.example"]).status.success());
    assert!(service.opendls(&["policy", "set", "flag", "--group", "lobby"]).status.success());
    let groups = stdout(&service.opendls(&["group", "list"]));
    assert!(groups.contains("lobby") && groups.contains("sales"), "{groups}");
    let shown = stdout(&service.opendls(&["group", "show", "sales"]));
    assert!(shown.contains(&mac(3)) && shown.contains("devices (1)"), "{shown}");
    let policies = stdout(&service.opendls(&["policy", "show"]));
    assert!(
        policies.contains("accept-unmanaged (the default)") && policies.contains("group lobby  flag"),
        "{policies}"
    );
    let refused = service.opendls(&["group", "remove", "sales"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("group sales still has 1 device"), "{}", stderr(&refused));
    let forced = service.opendls(&["group", "remove", "sales", "--force"]);
    assert!(stderr(&forced).contains("1 device taken out of it"), "{}", stderr(&forced));
    assert!(service.opendls(&["group", "remove", "lobby"]).status.success());
    assert_eq!(service.opendls(&["group", "show", "lobby"]).status.code(), Some(1));
    let bad_name = service.opendls(&["group", "assign", &mac(1), "a/b"]);
    assert!(stderr(&bad_name).contains("may hold only letters, digits"), "{}", stderr(&bad_name));

    let removed = service.opendls(&["device", "remove", &mac(4)]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    assert_eq!(service.opendls(&["device", "show", &mac(4)]).status.code(), Some(1));
    assert_eq!(service.opendls(&["device", "remove", &mac(4)]).status.code(), Some(1));
}

#[test]
fn serve_prints_a_complete_configuration_file() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_opendls"))
        .args(["serve", "--print-config"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = stdout(&output);
    assert_eq!(text, opendls_server::config::EXAMPLE_TOML);
    let config: opendls_server::Config = toml::from_str(&text).unwrap();
    assert_eq!(config, opendls_server::Config::default());
}
