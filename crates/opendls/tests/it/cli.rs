//! Runs the built binary the way an administrator does.

use std::process::Command;

use opendls_server::Config;

use crate::support::{service, stderr, stdout};

#[test]
fn configuration_round_trip_with_meaningful_exit_codes() {
    let service = service();
    let set = service.opendls(&[
        "config",
        "set",
        "--global",
        "sntp-addr=time.nist.gov",
        "XML-app-name[2]=phonebook",
    ]);
    assert!(set.status.success(), "{}", stderr(&set));
    let refused = service.opendls(&["config", "set", "--global", "transaction-timer=5"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("between 3700 and 32000"));
    let group = service.opendls(&["config", "set", "--group", "sales", "sntp-addr=ntp.sales", "--json"]);
    assert!(group.status.success());
    let result: opendls_api::ConfigChangeResult = serde_json::from_slice(&group.stdout).unwrap();
    assert!(result.applied);
    assert_eq!((result.values[0].item.as_str(), result.values[0].known_item), ("sntp-addr", true));

    let shown = service.opendls(&["config", "show"]);
    let text = stdout(&shown);
    assert!(text.contains("sntp-addr") && text.contains("time.nist.gov"), "{text}");
    assert!(text.contains("XML-app-name[2]") && text.contains("group sales"), "{text}");

    let json = service.opendls(&["config", "show", "--group", "sales", "--json"]);
    let entries: Vec<opendls_api::ConfigEntry> = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].value, "ntp.sales");

    let unscoped = service.opendls(&["config", "unset", "XML-app-name[2]"]);
    assert_eq!(unscoped.status.code(), Some(1));
    assert!(stderr(&unscoped).contains("config unset needs a scope: --global"), "{}", stderr(&unscoped));
    assert!(service.opendls(&["config", "unset", "--global", "XML-app-name[2]"]).status.success());
    assert_eq!(service.opendls(&["config", "unset", "--global", "XML-app-name[2]"]).status.code(), Some(1));
    assert_eq!(service.opendls(&["config", "set", "--global", "no-equals-sign"]).status.code(), Some(2));
}

#[test]
fn devices_are_listed_and_shown() {
    let service = service();
    let list = service.opendls(&["device", "list", "--json"]);
    assert!(list.status.success());
    assert_eq!(stdout(&list).trim(), "[]");
    let missing = service.opendls(&["device", "show", "00:1A:E8:00:00:01"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("no device"));
    // The usual spellings of a MAC are accepted and normalised.
    for spelling in ["001ae8000001", "001A.E800.0001", "00-1a-e8-00-00-01"] {
        let shown = service.opendls(&["device", "show", spelling]);
        assert!(stderr(&shown).contains("no device 00:1A:E8:00:00:01"), "{spelling}: {}", stderr(&shown));
    }
    let bad = service.opendls(&["group", "assign", "00:1A:E8:00:00:01", "sales"]);
    assert_eq!(bad.status.code(), Some(1));
    let policy = service.opendls(&["policy", "set", "flag"]);
    assert!(policy.status.success());
    assert!(stderr(&policy).contains("local-change policy flag set globally"), "{}", stderr(&policy));
    assert_eq!(service.opendls(&["policy", "set", "maybe"]).status.code(), Some(1));
    let revoke = service.opendls(&["security", "revoke", "00:1A:E8:00:00:01"]);
    assert_eq!(revoke.status.code(), Some(1));
    assert!(stderr(&revoke).contains("has no certificate to revoke: nothing changed"), "{}", stderr(&revoke));
}

#[test]
fn a_wrong_token_or_no_server_is_exit_code_2() {
    let service = service();
    let wrong = service.opendls(&["device", "list", "--token", "nope"]);
    assert_eq!(wrong.status.code(), Some(2));
    let addr = service.server.admin_addr;
    service.runtime.block_on(service.server.stop());
    let output = Command::new(env!("CARGO_BIN_EXE_opendls"))
        .args(["device", "list", "--token", "x", "--admin-url", &format!("http://{addr}")])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot reach the admin API"));
}

#[test]
fn decode_checks_captured_messages() {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../wpi/tests/fixtures/guide/p33-start-up.xml");
    let output = Command::new(env!("CARGO_BIN_EXE_opendls")).args(["decode", fixture]).output().unwrap();
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(text.contains("phone message, nonce ab15234de14f15a667c6f8d, reason start-up"));
    assert!(text.contains("user-pwd = ******") && !text.contains("123456"), "{text}");
}

#[test]
fn the_demo_registers_and_configures_its_phones() {
    use std::io::{BufRead, BufReader};
    /// Stops the demo however the test ends.
    struct Demo(std::process::Child);
    impl Drop for Demo {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut demo = Demo(
        Command::new(env!("CARGO_BIN_EXE_opendls"))
            .args(["demo", "--phones", "6"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = demo.0.stdout.take().unwrap();
    let (lines, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let mut transcript = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !transcript.iter().any(|l: &String| l.starts_with("Press Ctrl-C")) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match seen.recv_timeout(left) {
            Ok(line) => transcript.push(line),
            Err(_) => break,
        }
    }
    let text = transcript.join("\n");
    assert!(text.contains("6 registered,   6 configured"), "{text}");
    assert!(text.contains("Try, in another shell"), "{text}");
    // Every command the demo suggests, typed as printed, works against its live phones: jobs
    // finish (contact-me is answered) instead of waiting for phones that listen nowhere.
    let data =
        transcript.iter().find_map(|l| l.trim().strip_prefix("export OPENDLS_DATA=")).unwrap().to_owned();
    // The suggestions are shell lines (one makes an image file): run by sh in a scratch directory,
    // with this build's opendls first on the PATH.
    let scratch = tempfile::tempdir().unwrap();
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_opendls"));
    let path =
        format!("{}:{}", binary.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let suggested = transcript.iter().filter_map(|l| l.strip_prefix("  ")).filter(|l| l.contains("opendls "));
    for line in suggested.filter(|l| !l.starts_with("export ")) {
        let output = Command::new("sh")
            .args(["-c", line])
            .current_dir(scratch.path())
            .env("PATH", &path)
            .env("OPENDLS_DATA", &data)
            .env_remove("OPENDLS_ADMIN_URL")
            .output()
            .unwrap();
        let said =
            format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "{line}: {said}");
        if line.contains("--wait") {
            // --wait ends with the counts, and fails when any target failed.
            assert!(said.contains("done "), "{line}: {said}");
        }
    }
}

/// The boot-storm benchmark's smoke version: every interaction completes. Figures are printed
/// by the benchmark, never asserted here (shared, noisy machines).
#[test]
fn a_small_boot_storm_completes() {
    let output = Command::new(env!("CARGO_BIN_EXE_opendls"))
        .args([
            "bench",
            "storm",
            "--phones",
            "200",
            "--boot-within",
            "2",
            "--steady-devices",
            "2000",
            "--steady-phones",
            "200",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["storm"]["completed"], 200, "{report}");
    assert_eq!(report["storm"]["failed"], 0);
    assert_eq!(report["steady"]["completed"], 200);
    assert_eq!(report["steady"]["failed"], 0);
}

/// A server killed with SIGKILL (no clean shutdown) loses nothing that was answered: the
/// interaction it was in continues after a restart on the same data directory.
#[test]
fn a_killed_server_resumes_interactions_after_restart() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_opendls"))
            .args([
                "serve",
                "--phone-listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--dcmp-listen",
                "off",
                "--secure-listen",
                "off",
                "--file-listen",
                "off",
                "--data-dir",
            ])
            .arg(dir.path())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let addr: std::net::SocketAddr = line
            .trim()
            .trim_start_matches("opendls is serving phones on https://")
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        (child, addr)
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let tls = opendls_phonesim::transport::PhoneTls::modern();
    let timeout = std::time::Duration::from_secs(20);
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../wpi/tests/fixtures/guide/p33-start-up.xml");
    let start_up = std::fs::read(fixture).unwrap();

    let (mut first, addr) = start();
    let reply = runtime
        .block_on(opendls_phonesim::transport::post_wpi(addr, &tls, &start_up, None, timeout))
        .unwrap();
    let cookie = reply.cookie().unwrap();
    assert!(String::from_utf8_lossy(&reply.body).contains("ReadAllItems"));
    first.kill().unwrap();
    first.wait().unwrap();

    let (mut second, addr) = start();
    let read = String::from_utf8_lossy(&start_up).replace(
        "<ReasonForContact>start-up",
        "<ReasonForContact action=\"ReadAllItems\" status=\"accepted\">reply-to",
    );
    let reply = runtime
        .block_on(opendls_phonesim::transport::post_wpi(addr, &tls, read.as_bytes(), Some(&cookie), timeout))
        .unwrap();
    let text = String::from_utf8_lossy(&reply.body).into_owned();
    second.kill().unwrap();
    second.wait().unwrap();
    assert!(text.contains("<Action>CleanUp</Action>") && !text.contains("cleanup-reason"), "{text}");
}

#[test]
fn jobs_are_created_followed_and_refused_from_the_command_line() {
    use opendls_phonesim::interaction::{Manner, Target, run_interaction};
    use opendls_phonesim::{PhoneProfile, SimPhone};

    let service = service();
    let none = service.opendls(&["job", "create", "restart", "--all"]);
    assert_eq!(none.status.code(), Some(1), "{}", stderr(&none));
    assert!(stderr(&none).contains("no known device matches"));

    // One phone registers; its contact-me address is dead, so only its own contacts count.
    let mut profile = PhoneProfile::numbered(1);
    profile.contact_me_uri = "http://127.0.0.1:9/contact_dls.html/ContactDLS".into();
    let mac = profile.mac.clone();
    let mut phone = SimPhone::new(profile);
    let target = Target::default_mode(service.server.phone_addr);
    let contact = |phone: &mut SimPhone, reason| {
        let first = phone.contact(reason, &[]);
        service.runtime.block_on(run_interaction(phone, &target, first, &Manner::default())).unwrap()
    };
    contact(&mut phone, opendls_wpi::Reason::StartUp);

    let unconfirmed = service.opendls(&["job", "create", "factory-reset", "--device", &mac]);
    assert_eq!(unconfirmed.status.code(), Some(1));
    assert!(stderr(&unconfirmed).contains("confirm"), "{}", stderr(&unconfirmed));
    let targets = service.opendls(&["job", "create", "restart"]);
    assert_eq!(targets.status.code(), Some(2), "targets must be named");

    let read = service.opendls(&[
        "job",
        "create",
        "read-items",
        "--item",
        "e164",
        "--device",
        &mac,
        "--no-contact-me",
    ]);
    assert!(read.status.success(), "{}", stderr(&read));
    assert!(stderr(&read).contains("job 1 created: read-items"), "{}", stderr(&read));
    let read_again = contact(&mut phone, opendls_wpi::Reason::Solicited);
    assert_eq!(read_again.steps[0].0, "ReadItems");

    let waited = service.opendls(&[
        "job",
        "create",
        "restart",
        "--model",
        "OpenStage*",
        "--wait",
        "--give-up-after",
        "2",
    ]);
    assert_eq!(waited.status.code(), Some(1), "the phone never calls back: the target times out");
    let text = stdout(&waited);
    assert!(text.contains("job 2: restart on model OpenStage*") && text.contains("timed-out"), "{text}");

    let listed = service.opendls(&["job", "list", "--json"]);
    let jobs: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[1]["counts"], serde_json::json!({"done": 1}));
    let shown = service.opendls(&["job", "show", "1"]);
    assert!(stdout(&shown).contains("1 requested item read"), "{}", stdout(&shown));
    assert_eq!(service.opendls(&["job", "cancel", "9"]).status.code(), Some(1));

    let pushed = service.opendls(&["config", "set", "--device", &mac, "sntp-addr=pushed.example", "--push"]);
    assert!(pushed.status.success(), "{}", stderr(&pushed));
    assert!(stderr(&pushed).contains("pushed: job 3 contacts 1 device ("), "{}", stderr(&pushed));
    let nat = service.opendls(&["device", "behind-nat", "--device", &mac, "--interval", "60"]);
    assert!(nat.status.success(), "{}", stderr(&nat));
}

#[test]
fn secure_mode_is_administered_from_the_command_line() {
    use opendls_phonesim::interaction::{Manner, Target, run_interaction};
    use opendls_phonesim::{PhoneProfile, SimPhone};

    let service = service();
    let mac = PhoneProfile::numbered(7).mac;
    // PINs before the phone ever registers (guide p. 66 preconditions).
    let generated = service.opendls(&["security", "pin", "generate", &mac]);
    assert!(generated.status.success(), "{}", stderr(&generated));
    let pin = stdout(&generated).trim().to_owned();
    assert!(pin.len() == 8 && pin.chars().all(|c| c.is_ascii_digit()), "{pin}");
    assert!(stderr(&generated).contains("shown only now"));
    let group = service.opendls(&["security", "pin", "set-group", "lab", "--pin", "24681357"]);
    assert_eq!(stdout(&group).trim(), "24681357");
    assert_eq!(stdout(&service.opendls(&["security", "pin", "show-group", "lab"])).trim(), "24681357");
    let refused = service.opendls(&["security", "pin", "set-group", "lab", "--pin", "1"]);
    assert_eq!(refused.status.code(), Some(1));

    let set = service.opendls(&["security", "mode", "secure", "--device", &mac]);
    assert!(set.status.success(), "{}", stderr(&set));
    let bad = service.opendls(&["security", "mode", "paranoid", "--global"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stdout(&service.opendls(&["security", "modes"])).contains("secure"));

    // The phone starts up and is bootstrapped without PIN (p. 64).
    let mut phone = SimPhone::new(PhoneProfile::numbered(7));
    let first = phone.contact(opendls_wpi::Reason::StartUp, &[]);
    let target = Target::default_mode(service.server.phone_addr);
    service.runtime.block_on(run_interaction(&mut phone, &target, first, &Manner::default())).unwrap();
    assert!(phone.secure_mode.is_some());
    let shown = service.opendls(&["security", "show", &mac]);
    let text = stdout(&shown);
    assert!(
        text.contains("bootstrapping") && text.contains("issued") && text.contains("individual PIN set"),
        "{text}"
    );
    let listed = stdout(&service.opendls(&["device", "list"]));
    let row = listed.lines().find(|line| line.starts_with(&mac)).unwrap_or_default().to_owned();
    assert!(row.contains("bootstrapping") && row.ends_with("modern"), "{listed}");
    // Each heading stands over its own cell.
    let heading = listed.lines().next().unwrap_or_default();
    let cell = |name: &str| row[heading.find(name).unwrap()..].split_whitespace().next().unwrap_or_default();
    assert_eq!(
        (cell("APPROVAL"), cell("SECURITY"), cell("TLS")),
        ("approved", "bootstrapping", "modern"),
        "{listed}"
    );

    let revoked = service.opendls(&["security", "revoke", &mac, "--reason", "lost"]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    assert!(stdout(&service.opendls(&["security", "show", &mac])).contains("lost"));
    let reset = service.opendls(&["security", "reset", &mac]);
    assert!(reset.status.success());
    let unknown = service.opendls(&["security", "reset", "00:1A:E8:FF:FF:FF"]);
    assert_eq!(unknown.status.code(), Some(1));

    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    let exported = service.opendls(&["security", "export-ca", "--out", ca_file.to_str().unwrap()]);
    assert!(exported.status.success(), "{}", stderr(&exported));
    assert!(std::fs::read_to_string(&ca_file).unwrap().starts_with("-----BEGIN CERTIFICATE-----"));

    // Importing a CA (offline, into another data directory): the key must match.
    let other = tempfile::tempdir().unwrap();
    let key_file = service.server.data_dir.join(opendls_pki::ca::CA_KEY_FILE);
    let import = |key: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_opendls"))
            .args([
                "security",
                "import-ca",
                "--cert",
                ca_file.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
            ])
            .env("OPENDLS_DATA", other.path().join("data"))
            .output()
            .unwrap()
    };
    // Another CA's key does not belong to the exported certificate.
    opendls_pki::CertificateAuthority::load_or_create(dir.path()).unwrap();
    let refused = import(&dir.path().join(opendls_pki::ca::CA_KEY_FILE));
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    let imported = import(&key_file);
    assert!(imported.status.success(), "{}", stderr(&imported));
    assert_eq!(
        std::fs::read_to_string(other.path().join("data").join(opendls_pki::ca::CA_CERT_FILE)).unwrap(),
        std::fs::read_to_string(&ca_file).unwrap()
    );
}

/// Secrets need not be on the command line: `NAME=-` and `--pin -` read standard input, and a
/// secret given literally is warned about.
#[test]
fn secret_values_are_read_from_standard_input() {
    use std::io::Write;
    let service = service();
    let mut child = Command::new(env!("CARGO_BIN_EXE_opendls"))
        .args(["config", "set", "--group", "sales", "sip-pwd=-", "sntp-addr=ntp.example"])
        .env("OPENDLS_ADMIN_URL", format!("http://{}", service.server.admin_addr))
        .env("OPENDLS_DATA", &service.server.data_dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"s3cret-from-stdin\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stderr(&output).contains("visible"), "{}", stderr(&output));
    let shown = service.opendls(&["config", "show", "--group", "sales", "--json"]);
    let entries: Vec<opendls_api::ConfigEntry> = serde_json::from_slice(&shown.stdout).unwrap();
    let password = entries.iter().find(|e| e.name == "sip-pwd").unwrap();
    assert_eq!(password.value, "******", "stored, and masked in listings");
    // A phone of the group receives exactly what was typed.
    use opendls_phonesim::interaction::{Manner, Target, run_interaction};
    use opendls_phonesim::{PhoneProfile, SimPhone};
    let mut phone = SimPhone::new(PhoneProfile::numbered(4711));
    let target = Target::default_mode(service.server.phone_addr);
    let first = phone.contact(opendls_wpi::Reason::StartUp, &[]);
    service.runtime.block_on(run_interaction(&mut phone, &target, first, &Manner::default())).unwrap();
    let mac = phone.profile.mac.clone();
    assert!(service.opendls(&["group", "assign", &mac, "sales"]).status.success());
    let again = phone.contact(opendls_wpi::Reason::Solicited, &[]);
    service.runtime.block_on(run_interaction(&mut phone, &target, again, &Manner::default())).unwrap();
    assert_eq!(phone.value("sip-pwd", None), Some("s3cret-from-stdin"));

    let literal = service.opendls(&["config", "set", "--group", "sales", "sip-pwd=on-the-command-line"]);
    assert!(literal.status.success());
    assert!(stderr(&literal).contains("visible to other users"), "{}", stderr(&literal));
    let two = service.opendls(&["config", "set", "--group", "sales", "sip-pwd=-", "user-pwd=-"]);
    assert_eq!(two.status.code(), Some(2), "{}", stderr(&two));
}

/// `opendls security rotate-secrets-key`, then `--retire-old`, on a stopped service's data.
#[test]
fn the_secrets_key_is_rotated_offline() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = runtime.block_on(opendls_server::start(Config::loopback(data.clone()))).unwrap();
    runtime.block_on(server.stop());
    let key_file = data.join("secrets.key");
    let keys = |file: &std::path::Path| std::fs::read_to_string(file).unwrap().lines().count();
    assert_eq!(keys(&key_file), 1);
    let rotate = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_opendls"))
            .args(["security", "rotate-secrets-key", "--data-dir"])
            .arg(&data)
            .args(extra)
            .output()
            .unwrap()
    };
    let first = rotate(&[]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stderr(&first).contains("--retire-old"), "{}", stderr(&first));
    assert_eq!(keys(&key_file), 2, "the old key is kept until retired");
    let retired = rotate(&["--retire-old"]);
    assert!(retired.status.success(), "{}", stderr(&retired));
    assert_eq!(keys(&key_file), 1);
    let missing = Command::new(env!("CARGO_BIN_EXE_opendls"))
        .args(["security", "rotate-secrets-key", "--data-dir"])
        .arg(dir.path().join("nowhere"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
}

/// `opendls catalog | head -1`: the reader goes away; the command ends with success, no panic.
/// And an item that matches nothing is said so.
#[test]
fn a_closed_standard_output_is_not_an_error() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_opendls"))
        .arg("catalog")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the command has printed: its first line meets a closed pipe.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));

    let nothing =
        Command::new(env!("CARGO_BIN_EXE_opendls")).args(["catalog", "nosuchthing"]).output().unwrap();
    assert_eq!(nothing.status.code(), Some(1));
    assert!(stderr(&nothing).contains("no catalog item contains \"nosuchthing\""), "{}", stderr(&nothing));
    let any_case =
        Command::new(env!("CARGO_BIN_EXE_opendls")).args(["catalog", "SNTP-ADDR"]).output().unwrap();
    assert!(stdout(&any_case).contains("sntp-addr"), "{}", stdout(&any_case));
}
