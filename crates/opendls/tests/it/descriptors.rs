//! `opendls serve` under a common `ulimit -n 1024`, attacked with idle half-sent requests.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use opendls_phonesim::fleet::{FleetConfig, run_fleet};
use opendls_phonesim::hostile::{SlowClients, TRICKLED_REQUEST};
use opendls_phonesim::interaction::Target;

/// The address after `prefix` on one of the start-up lines.
fn address_after(lines: &[String], prefix: &str) -> SocketAddr {
    let line = lines.iter().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("{prefix}: {lines:?}"));
    line[prefix.len()..].split(['/', ' ']).next().unwrap().parse().unwrap()
}

/// Before: 1,100 idle half-sent DCMP requests took every descriptor of a process limited to
/// 1,024 ("accept failed: Too many open files") and 0 of 50 phones were served. Now the caps fit
/// the limit and 50 of 50 are.
#[test]
fn idle_connections_cannot_take_every_descriptor() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let mut child = Command::new("sh")
        .arg("-c")
        // The hard limit too, so that raising the soft limit cannot help.
        .arg("ulimit -n 1024 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_opendls"))
        .args(["serve", "--phone-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .args([
            "--dcmp-listen",
            "127.0.0.1:0",
            "--secure-listen",
            "off",
            "--file-listen",
            "off",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .env("OPENDLS_PUBLIC_ADDRESS", "127.0.0.1")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let lines: Vec<String> = (0..3)
        .map(|_| {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            line.trim().to_owned()
        })
        .collect();
    let phones = address_after(&lines, "opendls is serving phones on https://");
    let dcmp = address_after(&lines, "DCMP polling on http://");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let report = runtime.block_on(async {
        let local = "127.0.0.1".parse().unwrap();
        let slow = SlowClients::start(dcmp, local, 1100, TRICKLED_REQUEST, Duration::from_secs(1)).await;
        let config =
            FleetConfig { phones: 50, boot_within: Duration::from_secs(3), ..FleetConfig::default() };
        let report = run_fleet(&config, &Target::default_mode(phones)).await;
        let opened = slow.stop().await;
        println!(
            "ulimit -n 1024, {opened} idle DCMP connections opened: {}/50 phones completed",
            report.completed
        );
        report
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(report.completed, 50, "{report:#?}\n{log}");
    assert!(!log.contains("Too many open files"), "{log}");
    assert!(log.contains("file descriptor limit") && log.contains("lowered to fit"), "{log}");
}
