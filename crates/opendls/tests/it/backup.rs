//! `opendls backup` and `opendls restore` as an administrator types them: a backup of a running
//! service, a wrong or short passphrase, a check, a restore into a new data directory that a
//! new `opendls serve` then runs with the same token and devices.

use std::process::Command;

use crate::cluster::Node;
use crate::support::{stderr, stdout};

const PASSPHRASE: &str = "twelve or more characters";

fn opendls(args: &[&str], passphrase_env: Option<&str>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_opendls"));
    command
        .args(args)
        .env_remove("OPENDLS_DATA")
        .env_remove("OPENDLS_CONFIG")
        .env_remove("OPENDLS_DATABASE_URL");
    match passphrase_env {
        Some(passphrase) => command.env("OPENDLS_BACKUP_PASSPHRASE", passphrase),
        None => command.env_remove("OPENDLS_BACKUP_PASSPHRASE"),
    };
    command.output().unwrap()
}

#[test]
fn a_running_service_is_backed_up_and_restored_elsewhere_with_its_devices_and_token() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start("", dir.path(), "data");
    let phonesim = Command::new(env!("CARGO_BIN_EXE_opendls"))
        .args(["phonesim", "--phones", "12", "--boot-within", "1", "--server", &node.phone])
        .output()
        .unwrap();
    assert!(phonesim.status.success(), "{}", stderr(&phonesim));
    let data = node.data.to_str().unwrap().to_owned();
    let file = dir.path().join("site.odb");
    let file = file.to_str().unwrap();
    let passphrase_file = dir.path().join("passphrase");
    std::fs::write(&passphrase_file, format!("{PASSPHRASE}\n")).unwrap();
    let passphrase_file = passphrase_file.to_str().unwrap();

    let short = opendls(&["backup", file, "--data-dir", &data], Some("short"));
    assert_eq!(short.status.code(), Some(1), "{}", stderr(&short));
    assert!(stderr(&short).contains("at least 12 characters"), "{}", stderr(&short));
    assert!(!std::path::Path::new(file).exists(), "nothing written");

    let made = opendls(&["backup", file, "--data-dir", &data, "--passphrase-file", passphrase_file], None);
    assert!(made.status.success(), "{}", stderr(&made));
    assert!(stdout(&made).contains("database: SQLite, 12 devices"), "{}", stdout(&made));

    let checked = opendls(&["restore", file, "--check"], Some(PASSPHRASE));
    assert!(checked.status.success(), "{}", stderr(&checked));
    assert!(stdout(&checked).contains("every chunk intact"), "{}", stdout(&checked));
    let wrong = opendls(&["restore", file, "--check"], Some("not the right passphrase"));
    assert_eq!(wrong.status.code(), Some(1));
    assert!(stderr(&wrong).contains("wrong passphrase"), "{}", stderr(&wrong));
    let busy = opendls(&["restore", file, "--data-dir", &data, "--replace"], Some(PASSPHRASE));
    assert!(stderr(&busy).contains("stop it before restoring"), "{}", stderr(&busy));

    // Another machine: restored into an empty directory, served by a new process.
    let elsewhere = dir.path().join("restored");
    let restored = opendls(&["restore", file, "--data-dir", elsewhere.to_str().unwrap()], Some(PASSPHRASE));
    assert!(restored.status.success(), "{}", stderr(&restored));
    let token = std::fs::read_to_string(node.data.join("admin-token")).unwrap();
    drop(node);
    let second = Node::start("", dir.path(), "restored");
    assert_eq!(std::fs::read_to_string(second.data.join("admin-token")).unwrap(), token);
    let devices = second.opendls(&["device", "list", "--json"]);
    assert!(devices.status.success(), "{}", stderr(&devices));
    let listed: serde_json::Value = serde_json::from_slice(&devices.stdout).unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(12));
}
