//! `opendls decode`, `catalog` and `phonesim` with what real phones and other servers send
//! (issue 14).

use std::process::Command;

use crate::support::{service, stderr, stdout};

fn decode(name: &str) -> (bool, String) {
    let path = format!("{}/../wpi/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(env!("CARGO_BIN_EXE_opendls")).args(["decode", &path]).output().unwrap();
    (output.status.success(), format!("{}{}", stdout(&output), stderr(&output)))
}

#[test]
fn decode_reads_signed_messages_of_either_side() {
    let (ok, text) = decode("interop/signed-dls-enveloped.xml");
    assert!(ok, "{text}");
    assert!(
        text.contains("service message, nonce 7D49388DE3E95AE2450BD64FEB8A2079, action ReadAllItems"),
        "{text}"
    );
    assert!(
        text.contains("signature: enveloped, beside Message; covers the whole document; rsa-sha256, certificate included; not verified"),
        "{text}"
    );
    let (ok, text) = decode("interop/signed-workpoint-inside.xml");
    assert!(ok, "{text}");
    assert!(text.contains("model CP210 (OpenScape Desk Phone CP)"), "{text}");
    assert!(text.contains("signature: enveloped, inside Message; covers Message (#wpi-message)"), "{text}");
    let (ok, text) = decode("interop/signed-dls-enveloping.xml");
    assert!(ok && text.contains("action CleanUp") && text.contains("signature: enveloping"), "{text}");
}

#[test]
fn decode_names_what_was_lenient_and_reads_requests_as_names() {
    let (ok, text) = decode("interop/peer-sloppy-clean-up.xml");
    assert!(ok, "{text}");
    for said in [
        "lenient: root element DlsMessage (the guide writes DLSMessage)",
        "lenient: ItemList outside Message",
        "lenient: Action \"Cleanup\" (the guide writes \"CleanUp\")",
    ] {
        assert!(text.contains(said), "{said}: {text}");
    }
    let (ok, text) = decode("interop/read-items-request.xml");
    assert!(ok, "a request's empty values are not refused: {text}");
    assert!(
        text.contains("4 items requested (names only)") && text.contains("  function-key-def[3]\n"),
        "{text}"
    );
    assert!(!text.contains("refused"), "{text}");
    let (ok, text) = decode("interop/cp210-start-up.xml");
    assert!(ok && !text.contains("warning"), "a CP210 is a known model: {text}");
    let (ok, text) = decode("guide/p55-file-deployment-multiple.xml");
    assert!(ok && !text.contains("warning"), "{text}");
    let (ok, text) = decode("guide/p53-file-deployment-ftp.xml");
    assert!(ok && !text.contains("indexed item"), "a single deployment carries no index: {text}");
    assert!(text.contains("file-pwd = ******"), "{text}");
}

#[test]
fn decode_names_both_roots_when_neither_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.xml");
    std::fs::write(&path, "<Envelope><Body/></Envelope>").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_opendls")).arg("decode").arg(&path).output().unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("expected root element WorkpointMessage or DLSMessage, found Envelope"),
        "{}",
        stderr(&output)
    );
    std::fs::write(&path, "garbage").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_opendls")).arg("decode").arg(&path).output().unwrap();
    assert!(stderr(&output).contains("not a WPI message: malformed XML"), "{}", stderr(&output));
}

#[test]
fn the_catalog_marks_single_source_rows_and_knows_the_amendments() {
    let catalog = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_opendls")).arg("catalog").args(args).output().unwrap();
        (output.status.success(), stdout(&output))
    };
    let (ok, text) = catalog(&["key-modules"]);
    assert!(ok && text.contains("source:      unverified, one source only (SIM)"), "{text}");
    let (ok, text) = catalog(&["fault-time-ocsr-connect"]);
    assert!(ok && text.contains("Time of the OCSR connection fault"), "{text}");
    let (ok, text) = catalog(&["device-type"]);
    assert!(ok && text.contains("OpenScape Desk Phone CP710"), "{text}");
    assert!(
        text.contains("    OpenScape Desk Phone CP410 (key modules: OpenScape Key Module 400)\n"),
        "{text}"
    );
}

#[test]
fn simulated_cp_phones_register_and_are_found_by_their_short_names() {
    let service = service();
    let server = format!("https://{}", service.server.phone_addr);
    let output = Command::new(env!("CARGO_BIN_EXE_opendls"))
        .args([
            "phonesim",
            "--server",
            &server,
            "--phones",
            "12",
            "--boot-within",
            "1",
            "--model",
            "CP*",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let listed = service.opendls(&["device", "list", "--model", "CP710"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(stdout(&listed).contains("OpenScape Desk Phone CP710"), "{}", stdout(&listed));
    let all = service.opendls(&["device", "list", "--model", "cp*", "--json"]);
    let devices: Vec<serde_json::Value> = serde_json::from_slice(&all.stdout).unwrap();
    assert_eq!(devices.len(), 12, "{}", stdout(&all));
    let unknown = Command::new(env!("CARGO_BIN_EXE_opendls"))
        .args(["phonesim", "--server", &server, "--model", "CP999"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2), "wrong input, as other commands answer it");
    assert!(
        stderr(&unknown).contains("--model \"CP999\" matches no known model; known: 15, 20E"),
        "{}",
        stderr(&unknown)
    );
}
