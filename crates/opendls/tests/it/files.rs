//! `opendls firmware` and `opendls file` against a running service: images and files are
//! streamed up, named by their content, checked, listed and removed.

use crate::support::{service_with, stderr, stdout};

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

#[test]
fn firmware_and_files_are_stored_by_content_listed_and_removed() {
    let service = service_with(|config| config.limits.max_upload_bytes = 4 * 1024 * 1024);
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("OS_60_SIP_V3_R5_12_0.img");
    let content = bytes(3 * 1024 * 1024, 7);
    std::fs::write(&image, &content).unwrap();

    let added =
        service.opendls(&["firmware", "add", image.to_str().unwrap(), "--model", "OpenStage 6*", "--json"]);
    assert!(added.status.success(), "{}", stderr(&added));
    let stored: serde_json::Value = serde_json::from_slice(&added.stdout).unwrap();
    assert_eq!(stored["version"], "V3 R5.12.0", "from the image's name (guide p. 57)");
    assert_eq!(stored["file_type"], "APP");
    assert_eq!(stored["models"], serde_json::json!(["OpenStage 6*"]));
    assert_eq!(stored["size"], content.len());
    let sha = stored["sha256"].as_str().unwrap().to_owned();
    let kept = service.server.data_dir.join("files/sha256").join(&sha);
    assert_eq!(std::fs::read(&kept).unwrap(), content, "the content is kept under its SHA-256");

    let again = service.opendls(&["firmware", "add", image.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("named OS_60_SIP_V3_R5_12_0.img is stored already"),
        "{}",
        stderr(&again)
    );

    let nameless = dir.path().join("cp210.img");
    std::fs::write(&nameless, bytes(1000, 1)).unwrap();
    let unversioned = service.opendls(&["firmware", "add", nameless.to_str().unwrap()]);
    assert_eq!(unversioned.status.code(), Some(1));
    assert!(stderr(&unversioned).contains("give --version"), "{}", stderr(&unversioned));
    let versioned = service.opendls(&[
        "firmware",
        "add",
        nameless.to_str().unwrap(),
        "--version",
        "1.6.7.0",
        "--model",
        "CP210",
    ]);
    assert!(versioned.status.success(), "{}", stderr(&versioned));
    let unknown_model = service.opendls(&[
        "firmware",
        "add",
        nameless.to_str().unwrap(),
        "--name",
        "x.img",
        "--version",
        "V1 R6.7.0",
        "--model",
        "T46",
    ]);
    assert!(stderr(&unknown_model).contains("matches no known model"), "{}", stderr(&unknown_model));

    let listed = stdout(&service.opendls(&["firmware", "list"]));
    assert!(
        listed.contains("cp210.img")
            && listed.contains("V1 R6.7.0")
            && listed.contains("OpenScape Desk Phone CP210"),
        "{listed}"
    );
    assert!(listed.contains("OS_60_SIP_V3_R5_12_0.img") && listed.contains("V3 R5.12.0"), "{listed}");

    let logo = dir.path().join("logo.png");
    std::fs::write(&logo, bytes(5000, 3)).unwrap();
    let file = service.opendls(&["file", "add", logo.to_str().unwrap(), "--type", "logo", "--json"]);
    assert!(file.status.success(), "{}", stderr(&file));
    let logo_id = serde_json::from_slice::<serde_json::Value>(&file.stdout).unwrap()["id"].to_string();
    let untyped =
        service.opendls(&["file", "add", logo.to_str().unwrap(), "--type", "WALLPAPER", "--name", "w.png"]);
    assert_eq!(untyped.status.code(), Some(1));
    assert!(stderr(&untyped).contains("RINGTONE, LOGO, PIC, SCREENSAVER, MOH, LDAP"), "{}", stderr(&untyped));
    let files = stdout(&service.opendls(&["file", "list"]));
    assert!(files.contains("logo.png") && files.contains("LOGO") && !files.contains(".img"), "{files}");

    // Too large: refused whole, nothing left behind.
    let big = dir.path().join("OS_80_SIP_V3_R5_12_0.img");
    std::fs::write(&big, bytes(5 * 1024 * 1024, 9)).unwrap();
    let refused = service.opendls(&["firmware", "add", big.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("exceeds the limit of 4194304 bytes"), "{}", stderr(&refused));
    let incoming = std::fs::read_dir(service.server.data_dir.join("files/incoming")).unwrap().count();
    assert_eq!(incoming, 0, "no partial upload stays");

    let id = stored["id"].to_string();
    // A URL only for a phone the image fits.
    let mut phone =
        opendls_phonesim::phone::SimPhone::new(opendls_phonesim::phone::PhoneProfile::numbered(4));
    let mac = phone.profile.mac.clone();
    let model = phone.profile.model.clone();
    let first = phone.contact(opendls_wpi::Reason::StartUp, &[]);
    let target = opendls_phonesim::interaction::Target::default_mode(service.server.phone_addr);
    let manner = opendls_phonesim::interaction::Manner::default();
    service
        .runtime
        .block_on(opendls_phonesim::interaction::run_interaction(&mut phone, &target, first, &manner))
        .unwrap();
    let unfit = service.opendls(&["firmware", "url", &id, "--device", &mac]);
    assert_eq!(unfit.status.code(), Some(1));
    assert!(stderr(&unfit).contains(&format!("is for OpenStage 6*; {mac} is {model}")), "{}", stderr(&unfit));
    let logo_url = service.opendls(&["file", "url", &logo_id, "--device", &mac]);
    assert!(
        stdout(&logo_url).starts_with("https://127.0.0.1:"),
        "{}{}",
        stdout(&logo_url),
        stderr(&logo_url)
    );
    let shown = stdout(&service.opendls(&["firmware", "show", &id]));
    assert!(shown.contains(&format!("sha256:  {sha}")), "{shown}");
    let removed = service.opendls(&["firmware", "remove", &id]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    assert!(!kept.exists(), "the last entry with this content is gone, so is the content");
    assert_eq!(service.opendls(&["firmware", "show", &id]).status.code(), Some(1));
}
