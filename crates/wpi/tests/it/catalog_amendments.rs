//! opendls' corrections to the shared catalog, and the models it knows (issue 14).

use opendls_wpi::catalog::{AMENDMENTS_TSV, CATALOG_TSV, Indexing, Provenance, amendments, did_you_mean};
use opendls_wpi::{Catalog, Severity, models, parse_dls_message};

use crate::fixture;

#[test]
fn every_amendment_says_why_and_changes_something() {
    let shared = Catalog::from_tsv(CATALOG_TSV).unwrap();
    let amended = Catalog::builtin();
    let list = amendments(AMENDMENTS_TSV).unwrap();
    assert!(!list.is_empty());
    for amendment in &list {
        assert!(amendment.why.len() > 20, "{}: say why", amendment.name);
        let row = amended.get(&amendment.name).unwrap();
        if let Some(old) = &amendment.replaces {
            assert!(shared.get(old).is_some(), "{old} is renamed but not in the shared catalog");
            assert!(amended.get(old).is_none(), "{old} is still there");
        } else if let Some(before) = shared.get(&amendment.name) {
            assert_ne!(before, row, "{} amends nothing", amendment.name);
        }
    }
    let added = list.iter().filter(|a| a.replaces.is_none() && shared.get(&a.name).is_none()).count();
    assert_eq!(amended.entries().len(), shared.entries().len() + added);
}

#[test]
fn amendments_must_be_well_formed() {
    let header = AMENDMENTS_TSV.lines().next().unwrap();
    let without_reason = format!("{header}\nx\tno\tstring\t\tread-write\tg\t1\td\t\t\n");
    let error = Catalog::from_tsv(CATALOG_TSV).unwrap().amended(&without_reason).unwrap_err();
    assert_eq!(error.to_string(), "catalog line 2: an amendment must say why");
    let renaming_nothing = format!("{header}\nx\tno\tstring\t\tread-write\tg\t1\td\tnot-there\tbecause\n");
    let error = Catalog::from_tsv(CATALOG_TSV).unwrap().amended(&renaming_nothing).unwrap_err();
    assert!(error.to_string().contains("replaces not-there"), "{error}");
}

#[test]
fn single_and_multiple_deployments_check_clean() {
    let catalog = Catalog::builtin();
    // guide p. 53 (FTP and HTTPS), p. 55 (multiple, indexed), p. 57 (firmware).
    for name in [
        "p53-file-deployment-ftp.xml",
        "p53-file-deployment-https.xml",
        "p55-file-deployment-multiple.xml",
        "p57-software-deployment.xml",
    ] {
        let message = parse_dls_message(&fixture(&format!("guide/{name}"))).unwrap();
        for item in &message.items {
            let check = catalog.check_write(&item.name, item.index, &item.value);
            assert!(check.is_known(), "{name}: {} unknown", item.name);
            assert!(check.findings.is_empty(), "{name}: {}: {:?}", item.name, check.findings);
        }
    }
    assert_eq!(catalog.get("file-server").unwrap().indexing, Indexing::Optional);
    assert!(catalog.check_write("file-name", Some(2), "logo.png").findings.is_empty());
}

#[test]
fn corrected_rows_check_as_phones_send_them() {
    let catalog = Catalog::builtin();
    assert!(catalog.check("sip-mobility-state", None, "2").findings.is_empty(), "2 = interim");
    assert!(catalog.check("sip-mobility-state", None, "3").is_refused());
    assert!(catalog.check_write("MWI-new-show", None, "false").findings.is_empty());
    assert!(
        catalog
            .check_write("MWI-new-show", None, "no")
            .findings
            .iter()
            .all(|f| f.severity == Severity::Warning)
    );
    assert!(catalog.get("fault-time-ocsr-connect").is_some());
    assert!(catalog.get("fault-tome-ocsr-connect").is_none());
    let suggestions = catalog.suggestions("fault-tome-ocsr-connect");
    assert_eq!(did_you_mean(&suggestions).unwrap(), "did you mean fault-time-ocsr-connect?");
}

#[test]
fn rows_from_one_unverified_source_are_marked() {
    let catalog = Catalog::builtin();
    assert!(catalog.get("key-modules").unwrap().provenance.is_single_source(), "SIM only");
    assert!(catalog.get("fault-time-ocsr-connect").unwrap().provenance.is_single_source());
    assert!(catalog.get("MWI-new-show").unwrap().provenance.is_single_source());
    assert!(!catalog.get("vlan-id").unwrap().provenance.is_single_source());
    assert!(!catalog.get("transaction-timer").unwrap().provenance.is_single_source(), "guide p. 108");
    let single: Vec<&str> = catalog
        .entries()
        .iter()
        .filter(|e| e.provenance.is_single_source())
        .map(|e| e.name.as_str())
        .collect();
    // Every unverified page note names its sources; a row naming one is single-source.
    for entry in catalog.entries().iter().filter(|e| !e.provenance.is_verified()) {
        let Provenance::Unverified { sources, note } = &entry.provenance else { unreachable!() };
        assert!(!sources.is_empty(), "{}: {note}", entry.name);
    }
    assert!(single.len() > 50 && single.len() < 200, "{} single-source rows", single.len());
}

#[test]
fn every_model_is_a_known_device_type() {
    let catalog = Catalog::builtin();
    for model in models::MODELS {
        let device_type = model.device_type();
        for item in ["device-type", "related-device-type"] {
            let check = catalog.check(item, None, &device_type);
            assert!(check.findings.is_empty(), "{item}={device_type}: {:?}", check.findings);
        }
    }
    let check = catalog.check("device-type", None, "OpenScape Desk Phone CP999");
    assert!(!check.is_refused(), "newer models exist");
    assert_eq!(check.findings[0].severity, Severity::Warning);
    assert!(catalog.get("device-type").unwrap().values_text.contains("OpenScape Desk Phone CP210"));
}
