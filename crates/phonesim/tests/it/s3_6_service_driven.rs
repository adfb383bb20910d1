//! Guide §3.6: service-driven interactions. Most need jobs and contact-me on the server side.

use opendls_phonesim::interaction::{Manner, run_interaction};
use opendls_phonesim::{PhoneProfile, SimPhone};
use opendls_wpi::Reason;
use serde_json::json;

use crate::support::*;

/// §3.6.4 with §3.8: writing, with per-item errors recorded and held back (p. 77-83).
#[tokio::test]
async fn s3_6_4_write_with_errors() {
    let server = Server::start().await;
    server.set(json!({"scope": "global", "name": "sntp-addr", "value": "time.nist.gov"})).await;
    server.set(json!({"scope": "global", "name": "future-item", "value": "1"})).await;
    let mut phone = SimPhone::new(PhoneProfile::numbered(3));
    let mac = phone.profile.mac.clone();
    let first = phone.contact(Reason::StartUp, &[]);
    let done = run_interaction(&mut phone, &server.target(), first, &Manner::default()).await.unwrap();
    let actions: Vec<&str> = done.steps.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, ["ReadAllItems", "WriteItems", "CleanUp"]);
    assert_eq!(phone.value("sntp-addr", None), Some("time.nist.gov"));
    let view = server.device(&mac).await;
    let pending = view["pending"].as_array().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["name"], "future-item");
    assert_eq!(pending[0]["held"], "refused by the phone: unknown item");
    // The next start-up does not send the refused value again.
    let first = phone.contact(Reason::StartUp, &[]);
    let again = run_interaction(&mut phone, &server.target(), first, &Manner::default()).await.unwrap();
    assert_eq!(again.steps.len(), 1);
}

#[tokio::test]
#[ignore = "needs read jobs: issue 6"]
async fn s3_6_3_read_items() {
    unimplemented!("a read job is answered with ReadItems (p. 42-45)");
}

#[tokio::test]
#[ignore = "needs restart jobs: issue 6"]
async fn s3_6_5_restart() {
    unimplemented!("Restart, then a new start-up (p. 50)");
}

#[tokio::test]
#[ignore = "needs factory-reset jobs: issue 6"]
async fn s3_6_6_factory_reset() {
    unimplemented!("Restart with restart-password 124816 and restart-type FactoryReset (p. 51)");
}

#[tokio::test]
#[ignore = "needs file deployment jobs: issue 6 (file and firmware deployment join the job kinds there)"]
async fn s3_6_7_file_deployment_single_multiple_delete() {
    unimplemented!("FileDeployment -> status (single), no status for multiple and delete (p. 52-55)");
}

#[tokio::test]
#[ignore = "needs firmware deployment jobs: issue 6"]
async fn s3_6_8_firmware_deployment() {
    unimplemented!("SoftwareDeployment -> reboot -> start-up with the new software-version (p. 56-57)");
}

#[tokio::test]
#[ignore = "needs certificate deployment: issue 5"]
async fn s3_6_9_certificate_deployment() {
    unimplemented!("WriteItems wbm-server-certificate, ReadItems wbm-server-certificate-info (p. 59-61)");
}

#[tokio::test]
#[ignore = "needs secure mode: issue 5"]
async fn s3_6_10_secure_mode() {
    unimplemented!("goto-secure-mode nopin / pin, mutual TLS on the secure port (p. 62-68)");
}

#[tokio::test]
#[ignore = "needs contact-me jobs: issue 6"]
async fn s1_4_4_2_contact_me() {
    unimplemented!(
        "the service POSTs ContactMe=true, the phone answers 204 and calls back solicited (p. 14-15, 41)"
    );
}

#[tokio::test]
#[ignore = "needs the DCMP listener: issue 6"]
async fn s1_4_4_3_dcmp_polling() {
    unimplemented!("GET /dcmp/contact-me?device-id=MAC: 202 when work is pending (p. 15, 24)");
}
