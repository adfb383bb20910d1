//! The embedded catalog matches the team's TSV and validates the way its rows say.

use opendls_wpi::catalog::{Access, CATALOG_TSV, Indexing, Provenance, ValueRule};
use opendls_wpi::{Catalog, Severity};

#[test]
fn embedded_tsv_is_the_shared_one() {
    // The shared docs sit beside the repository (CI lays them out the same way).
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/docs/wpi-items.tsv");
    match std::fs::read_to_string(&shared) {
        Ok(text) => assert_eq!(
            text,
            CATALOG_TSV,
            "crates/wpi/data/wpi-items.tsv differs from {}: copy it over",
            shared.display()
        ),
        Err(_) => eprintln!("note: {} not found; skipped the drift check", shared.display()),
    }
}

#[test]
fn every_row_is_read() {
    let catalog = Catalog::from_tsv(CATALOG_TSV).unwrap();
    let rows = CATALOG_TSV.lines().skip(1).filter(|l| !l.trim().is_empty()).count();
    assert_eq!(catalog.entries().len(), rows);
    assert_eq!(rows, 435);
    for line in CATALOG_TSV.lines().skip(1) {
        let name = line.split('\t').next().unwrap();
        assert!(catalog.get(name).is_some(), "{name}");
    }
    let verified = catalog.entries().iter().filter(|e| e.provenance.is_verified()).count();
    assert_eq!(verified, 105, "wpi-items-notes §1 counts 105 documented rows");
}

#[test]
fn rows_carry_their_facts() {
    let catalog = Catalog::builtin();
    let timer = catalog.get("transaction-timer").unwrap();
    assert_eq!(timer.rule, ValueRule::Integer { min: Some(3700), max: Some(32000) });
    assert_eq!(timer.provenance, Provenance::Guide("108".into()));
    let device_type = catalog.get("device-type").unwrap();
    assert_eq!(device_type.access, Access::ReadOnly);
    assert_eq!(catalog.get("XML-app-name").unwrap().indexing, Indexing::Indexed);
    assert_eq!(catalog.get("XML-app-name").unwrap().max_chars(), Some(20));
    assert_eq!(catalog.get("dls-server-ca").unwrap().indexing, Indexing::Indexed);
}

#[test]
fn guide_rows_refuse_out_of_range_values() {
    let catalog = Catalog::builtin();
    assert!(catalog.check("transaction-timer", None, "32000").findings.is_empty());
    let check = catalog.check("transaction-timer", None, "99");
    assert!(check.is_refused());
    assert_eq!(check.refusal_reason().unwrap(), "transaction-timer must be between 3700 and 32000");
    assert!(catalog.check("sip-transport-user", None, "3").is_refused());
    assert!(!catalog.check("sip-transport-user", None, "2").is_refused());
    assert!(catalog.check("auto-daylight-save", None, "yes").is_refused());
    assert!(catalog.check("file-action", Some(1), "remove").is_refused());
    assert!(!catalog.check("file-type", Some(1), "APP").is_refused());
    assert!(catalog.check("XML-app-name", Some(1), "an application name far too long").is_refused());
    assert!(catalog.check("XML-app-name", Some(1), "").is_refused(), "not empty, p. 88");
    assert!(catalog.check("sntp-addr", None, "not a host!").is_refused());
}

#[test]
fn open_enumerations_only_warn() {
    let check = Catalog::builtin().check("XML-app-special-instance", Some(1), "3");
    assert!(!check.is_refused());
    assert_eq!(check.findings[0].severity, Severity::Warning);
}

#[test]
fn unverified_rows_only_warn() {
    let catalog = Catalog::builtin();
    let entry = catalog
        .get("qos-layer2-voice")
        .or_else(|| {
            catalog.entries().iter().find(|e| {
                !e.provenance.is_verified()
                    && e.standard.is_none()
                    && matches!(e.rule, ValueRule::Integer { min: Some(_), .. })
            })
        })
        .unwrap();
    assert!(!entry.provenance.is_verified());
    let check = catalog.check(&entry.name, None, "100000");
    assert!(!check.is_refused(), "{:?}", check.findings);
    assert!(check.findings.iter().any(|f| f.severity == Severity::Warning));
}

#[test]
fn unknown_items_are_allowed_and_reported() {
    let check = Catalog::builtin().check("future-item", None, "x");
    assert!(!check.is_known());
    assert!(!check.is_refused());
}

#[test]
fn writes_to_read_only_items_are_refused() {
    let catalog = Catalog::builtin();
    assert!(catalog.check_write("device-type", None, "OpenStage 60").is_refused());
    assert!(!catalog.check("device-type", None, "OpenStage 60").is_refused());
}

#[test]
fn control_characters_are_refused_everywhere() {
    assert!(Catalog::builtin().check("future-item", None, "a\u{1}b").is_refused());
}

#[test]
fn findings_never_contain_the_value() {
    let check = Catalog::builtin().check("XML-app-name", Some(1), "secret-value-that-is-too-long");
    assert!(check.findings.iter().all(|f| !f.message.contains("secret")));
}

#[test]
fn ranges_that_hold_by_meaning_refuse_even_on_unverified_rows() {
    let catalog = Catalog::builtin();
    let check = catalog.check_write("sntp-tz-offset", None, "99999");
    assert_eq!(
        check.refusal_reason().unwrap(),
        "sntp-tz-offset must be between -720 and 840 (time zones run from UTC-12:00 to UTC+14:00)"
    );
    assert!(!catalog.check_write("sntp-tz-offset", None, "-300").is_refused());
    assert!(!catalog.get("vlan-id").unwrap().provenance.is_verified());
    for value in ["5000", "-1", "ten"] {
        assert!(catalog.check_write("vlan-id", None, value).is_refused(), "vlan-id={value}");
    }
    assert!(!catalog.check_write("vlan-id", None, "4095").is_refused());
}

#[test]
fn indexes_are_checked() {
    let catalog = Catalog::builtin();
    let check = catalog.check_write("sntp-addr", Some(1), "x.example");
    assert_eq!(check.refusal_reason().unwrap(), "sntp-addr is not an indexed item, but index 1 was given");
    let check = catalog.check_write("XML-app-name", Some(99), "phonebook");
    assert_eq!(check.refusal_reason().unwrap(), "XML-app-name takes an index from 1 to 20, not 99");
    assert!(!catalog.check_write("XML-app-name", Some(20), "phonebook").is_refused());
    assert!(
        catalog
            .check_write("codec-rank", Some(9), "1")
            .findings
            .iter()
            .all(|f| f.severity == Severity::Warning)
    );
}

#[test]
fn exactly_the_secret_rows_are_secret() {
    use opendls_wpi::secrets::{SECRET_ITEM_NAMES, displayable_value, is_secret_item};
    let catalog = Catalog::builtin();
    for name in SECRET_ITEM_NAMES {
        let entry =
            catalog.get(name).unwrap_or_else(|| panic!("{name} is listed secret but not in the catalog"));
        assert!(entry.secret && is_secret_item(name), "{name}");
        // Secrets are text: a boolean, number or enumeration is never one.
        assert!(entry.type_text.contains("string"), "{name} is {}", entry.type_text);
    }
    for entry in catalog.entries() {
        // A text row is a secret when its values are a password, community or private key, or
        // its name says password and its values are not a timestamp of one.
        let values = entry.values_text.to_ascii_lowercase();
        let described = ["password", "ftp password", "community"].iter().any(|p| values.starts_with(p))
            || entry.type_text.contains("private key");
        let named = ["pwd", "passwd", "password"].iter().any(|end| entry.name.ends_with(end))
            && !values.starts_with("timestamp");
        if entry.type_text.contains("string") && (described || named) {
            assert!(entry.secret, "{} reads like a secret ({}) but is shown", entry.name, entry.values_text);
        }
        if !entry.secret {
            assert_eq!(displayable_value(&entry.name, "visible"), "visible", "{} is masked", entry.name);
        }
    }
}
