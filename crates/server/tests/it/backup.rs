//! Backups: made while phones keep booting, the data directory wiped, restored, and the
//! installation carries on: the same devices, admin token, CA (phones in Secure Mode are
//! served on the secure port with the certificates they hold), files for phones.

use std::time::Duration;

use opendls_phonesim::fleet::{FleetConfig, run_fleet};
use opendls_phonesim::interaction::Target;
use opendls_phonesim::transport::PhoneTls;
use opendls_server::backup::{self, BackupOptions, RestoreOptions};

use crate::downloads::{content, get, ringtone, url_for};
use crate::secure::{boot_until, secure_target, set_mode, start_up};
use crate::support::*;

const PASSPHRASE: &str = "a passphrase for the test";

fn fleet(phones: u32) -> FleetConfig {
    FleetConfig {
        phones,
        boot_within: Duration::from_millis(500),
        first_number: 2000,
        ..FleetConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_while_serving_then_wipe_and_restore_and_the_fleet_carries_on() {
    let mut server = TestServer::start().await;
    server.pin_ports();
    let file = ringtone(&server).await;
    set_mode(&server, "device", Some("00:1A:E8:00:02:5D"), "secure").await;
    let (mut secure_phone, seen) = boot_until(&server, 605, &[], "secure").await;
    assert_eq!(seen["errors"], 0);
    let booted = run_fleet(&fleet(30), &Target::default_mode(server.phone_addr())).await;
    assert_eq!(booted.completed, 30, "{booted:#?}");

    // The backup is made while another 30 phones boot.
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("site.odb");
    let config = server.config().clone();
    let more = FleetConfig { first_number: 3000, ..fleet(30) };
    let target = Target::default_mode(server.phone_addr());
    let (made, during) = tokio::join!(
        backup::create(&config, &path, PASSPHRASE, BackupOptions::default()),
        run_fleet(&more, &target)
    );
    let manifest = made.unwrap();
    assert_eq!(during.completed, 30);
    assert!(!on_postgres() || manifest.database == "postgresql");
    if !on_postgres() {
        assert!((31..=61).contains(&manifest.devices), "a moment during the second boot: {manifest:?}");
        assert_eq!(manifest.certificates, 1);
    }
    assert!(manifest.files.iter().any(|f| f.starts_with("files/sha256/")), "{manifest:?}");
    let raw = std::fs::read(&path).unwrap();
    assert!(!raw.windows(11).any(|w| w == b"BEGIN PRIVA"), "the keys are encrypted");

    // The disk dies: the data directory is gone.
    let token = server.running().admin_token.clone();
    server.server.take().unwrap().stop().await;
    let data_dir = config.data_dir.clone();
    std::fs::remove_dir_all(&data_dir).unwrap();
    let wrong = backup::restore(&config, &path, "not the passphrase", RestoreOptions::default()).await;
    assert!(wrong.unwrap_err().to_string().contains("wrong passphrase"));
    assert!(!data_dir.exists(), "a refused restore writes nothing");
    let restored = backup::restore(&config, &path, PASSPHRASE, RestoreOptions::default()).await.unwrap();
    assert_eq!(restored.manifest, manifest);
    assert_eq!(restored.moved_aside, None);
    // A second restore over it is refused unless asked for.
    let again = backup::restore(&config, &path, PASSPHRASE, RestoreOptions::default()).await;
    assert!(again.unwrap_err().to_string().contains("--replace"));

    server.restart_stopped().await;
    assert_eq!(server.running().admin_token, token, "the same admin token");
    if !on_postgres() {
        let devices = server.admin_json("GET", "/api/devices", None, 200).await;
        assert_eq!(devices.as_array().unwrap().len() as u64, manifest.devices);
    }
    // The phone in Secure Mode is served on the secure port with the certificate it holds: the
    // CA and the secure port's identity came back.
    let order = secure_phone.secure_mode.clone().expect("the phone holds its bootstrap");
    let served = start_up(&mut secure_phone, &secure_target(&order, &server)).await.unwrap();
    assert_eq!(served.cleanup_reason, None);
    // Every phone boots again; the file is downloadable as before.
    let after = run_fleet(&fleet(30), &Target::default_mode(server.phone_addr())).await;
    assert_eq!((after.completed, after.failed), (30, 0), "{after:#?}");
    let download =
        get(&server, &PhoneTls::modern(), &url_for(&server, file, "00:1A:E8:00:0F:01").await, &[]).await;
    assert_eq!((download.status, download.body.len()), (200, content().len()));
}

#[tokio::test]
async fn restore_is_refused_while_the_service_runs_and_replace_keeps_the_old_files_aside() {
    let server = TestServer::start().await;
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("b.odb");
    let options = BackupOptions { with_downloads: false };
    backup::create(server.config(), &path, PASSPHRASE, options).await.unwrap();
    let replace = RestoreOptions { replace: true };
    let refused = backup::restore(server.config(), &path, PASSPHRASE, replace).await.unwrap_err();
    assert!(refused.to_string().contains("stop it before restoring"), "{refused}");
    let config = server.config().clone();
    let mut server = server;
    server.server.take().unwrap().stop().await;
    let restored = backup::restore(&config, &path, PASSPHRASE, replace).await.unwrap();
    let aside = restored.moved_aside.unwrap();
    assert!(aside.join("admin-token").is_file() && config.data_dir.join("admin-token").is_file());
    // A damaged file is refused as a whole.
    let mut raw = std::fs::read(&path).unwrap();
    let middle = raw.len() / 2;
    raw[middle] ^= 0x40;
    std::fs::write(&path, &raw).unwrap();
    let damaged = backup::verify(&path, PASSPHRASE).unwrap_err().to_string();
    assert!(damaged.contains("damaged") || damaged.contains("wrong passphrase"), "{damaged}");
}

#[tokio::test]
async fn a_scheduled_backup_is_made_at_start_and_counted() {
    let out = tempfile::tempdir().unwrap();
    let passphrase_file = out.path().join("passphrase");
    std::fs::write(&passphrase_file, format!("{PASSPHRASE}\n")).unwrap();
    let directory = out.path().join("backups");
    let server = TestServer::start_with(|config| {
        config.backup.directory = Some(directory.clone());
        config.backup.passphrase_file = Some(passphrase_file.clone());
    })
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let made = loop {
        let found: Vec<_> = std::fs::read_dir(&directory)
            .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        if let Some(file) = found.iter().find(|p| p.extension().is_some_and(|e| e == "odb")) {
            break file.clone();
        }
        assert!(std::time::Instant::now() < deadline, "no scheduled backup in {}", directory.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let name = made.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("opendls-backup-") && name.ends_with("Z.odb"), "{name}");
    let (manifest, _) = backup::verify(&made, PASSPHRASE).unwrap();
    assert_eq!(manifest.format, 1);
    let metrics = server.scrape().await;
    assert_eq!(metrics.value("opendls_backups_total{result=\"ok\"}"), 1.0, "{}", metrics.0);
    assert!(metrics.value("opendls_last_backup_timestamp_seconds") > 1.7e9);
}

#[tokio::test]
async fn scheduled_backups_without_a_usable_passphrase_refuse_the_start() {
    let out = tempfile::tempdir().unwrap();
    let short = out.path().join("short");
    std::fs::write(&short, "short\n").unwrap();
    for passphrase_file in [None, Some(short), Some(out.path().join("missing"))] {
        let mut config = opendls_server::Config::loopback(out.path().join("data"));
        config.backup.directory = Some(out.path().join("backups"));
        config.backup.passphrase_file = passphrase_file;
        let refused = opendls_server::start(config).await.err().expect("refused");
        assert!(refused.to_string().starts_with("configuration: backup"), "{refused}");
    }
}
