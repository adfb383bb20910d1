//! The simulator's own behaviours, against a scripted service built from the guide's flows,
//! until opendls offers the service side (issues 5 and 6).

use std::time::Duration;

use opendls_phonesim::interaction::Target;
use opendls_phonesim::live::{self, Behaviour, Dcmp, LiveStats};
use opendls_phonesim::transport::http_request;
use opendls_phonesim::{PhoneProfile, SimPhone};
use opendls_wpi::{Action, Item, Reason};

use crate::scripted::{ScriptedDls, dcmp_responder};
use crate::support::eventually;

fn clean_up_always() -> crate::scripted::Script {
    Box::new(|_| (Action::CleanUp, vec![]))
}

/// p. 14-15: contact-me is answered 204 `Server: DlsClient`; the phone calls back `solicited` to
/// the address given, and ignores further requests within its contact gap.
#[tokio::test]
async fn contact_me_is_answered_and_the_contact_gap_honoured() {
    let dls = ScriptedDls::start(clean_up_always()).await;
    let behaviour = Behaviour { contact_gap: Duration::from_secs(60), ..Behaviour::default() };
    let live =
        live::spawn(SimPhone::new(PhoneProfile::numbered(30)), Target::default_mode(dls.addr), behaviour)
            .await
            .unwrap();
    assert!(eventually(Duration::from_secs(5), async || LiveStats::get(&live.stats.interactions) >= 1).await);
    let body = format!("ContactMe=true&dls_ip_addr=127.0.0.1&dls_ip_port={}", dls.addr.port());
    let headers = vec!["Content-Type: application/x-www-form-urlencoded; charset=utf-8".to_owned()];
    for _ in 0..2 {
        let reply = http_request(
            live.contact_me_addr,
            "POST",
            "/contact_dls.html/ContactDLS",
            &headers,
            body.as_bytes(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!((reply.status, reply.header("server")), (204, Some("DlsClient")));
    }
    assert!(eventually(Duration::from_secs(5), async || LiveStats::get(&live.stats.solicited) >= 1).await);
    assert_eq!(LiveStats::get(&live.stats.contact_me_accepted), 1);
    assert_eq!(
        LiveStats::get(&live.stats.contact_me_ignored),
        1,
        "the second one fell within the contact gap"
    );
    live.stop().await;
    assert_eq!(dls.reasons(), ["start-up", "solicited"]);
}

/// p. 15, 24: the phone polls `/dcmp/contact-me?device-id=MAC`; 202 makes it call back.
#[tokio::test]
async fn dcmp_polling_calls_back_when_work_is_pending() {
    let dls = ScriptedDls::start(clean_up_always()).await;
    let (dcmp, polls) = dcmp_responder(1).await;
    let behaviour = Behaviour {
        dcmp: Some(Dcmp { server: dcmp, interval: Duration::from_millis(100) }),
        ..Behaviour::default()
    };
    let phone = SimPhone::new(PhoneProfile::numbered(31));
    let mac = phone.profile.mac.clone();
    let live = live::spawn(phone, Target::default_mode(dls.addr), behaviour).await.unwrap();
    assert!(eventually(Duration::from_secs(5), async || LiveStats::get(&live.stats.dcmp_polls) >= 3).await);
    live.stop().await;
    assert_eq!(polls.lock().unwrap()[0], format!("/dcmp/contact-me?device-id={mac}"));
    assert_eq!(dls.reasons().iter().filter(|r| *r == "solicited").count(), 1);
}

/// p. 50-51: Restart reboots the phone, which starts up again; a factory reset restores defaults.
#[tokio::test]
async fn restart_and_factory_reset_reboot_the_phone() {
    let mut answers = vec![
        (Action::Restart, vec![]),
        (
            Action::Restart,
            vec![Item::new("restart-password", "124816"), Item::new("restart-type", "FactoryReset")],
        ),
    ];
    let dls = ScriptedDls::start(Box::new(move |_| {
        if answers.is_empty() { (Action::CleanUp, vec![]) } else { answers.remove(0) }
    }))
    .await;
    let mut phone = SimPhone::new(PhoneProfile::numbered(32));
    phone.change_locally("sntp-addr", None, "changed.example");
    let live = live::spawn(phone, Target::default_mode(dls.addr), Behaviour::default()).await.unwrap();
    assert!(eventually(Duration::from_secs(10), async || LiveStats::get(&live.stats.start_ups) >= 3).await);
    let stats = live.stats.clone();
    let phone = live.stop().await;
    assert_eq!(LiveStats::get(&stats.reboots), 2);
    assert_ne!(phone.value("sntp-addr", None), Some("changed.example"), "factory reset restored the default");
    assert_eq!(dls.reasons(), ["start-up", "start-up", "start-up"]);
}

/// p. 52-54: a single file is fetched over HTTPS and reported with `status`.
#[tokio::test]
async fn file_deployment_fetches_over_https_and_reports_status() {
    let dls_port = std::sync::Arc::new(std::sync::Mutex::new(0u16));
    let port = dls_port.clone();
    let mut sent = false;
    let dls = ScriptedDls::start(Box::new(move |message| {
        if message.reason.reason == Reason::StartUp && !sent {
            sent = true;
            let url = format!("https://127.0.0.1:{}/media/ring.wav", port.lock().unwrap());
            (
                Action::FileDeployment,
                vec![Item::new("file-type", "RINGTONE"), Item::new("file-https-base-url", url)],
            )
        } else {
            (Action::CleanUp, vec![])
        }
    }))
    .await;
    *dls_port.lock().unwrap() = dls.addr.port();
    let mut phone = SimPhone::new(PhoneProfile::numbered(33));
    let first = phone.contact(Reason::StartUp, &[]);
    let done = opendls_phonesim::interaction::run_interaction(
        &mut phone,
        &Target::default_mode(dls.addr),
        first,
        &Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(done.files, vec![("ring.wav".to_owned(), true)]);
    assert_eq!(dls.downloads.lock().unwrap().as_slice(), ["/media/ring.wav"]);
    let received = dls.received.lock().unwrap();
    let status = received.iter().find(|m| m.reason.reason == Reason::Status).expect("a status message");
    assert_eq!(status.value("file-deployment-status"), Some("ok"));
    assert_eq!(status.value("file-deployment-type"), Some("RINGTONE"));
}

/// p. 56-57: new firmware is fetched, installed, and the phone starts up with it.
#[tokio::test]
async fn firmware_deployment_reboots_into_the_new_version() {
    let dls_port = std::sync::Arc::new(std::sync::Mutex::new(0u16));
    let port = dls_port.clone();
    let dls = ScriptedDls::start(Box::new(move |message| {
        if message.value("software-version") == Some("V3 R5.12.0") {
            let url = format!("https://127.0.0.1:{}/OS40_SIP_V3_R5_13_0.img", port.lock().unwrap());
            let items = vec![
                Item::new("file-https-base-url", url),
                Item::new("file-type", "APP"),
                Item::new("file-sw-type", "Siemens SIP"),
                Item::new("file-sw-version", "3.5.13.0"),
                Item::new("file-priority", "immediate"),
            ];
            (Action::SoftwareDeployment, items)
        } else {
            (Action::CleanUp, vec![])
        }
    }))
    .await;
    *dls_port.lock().unwrap() = dls.addr.port();
    let mut profile = PhoneProfile::numbered(33);
    profile.firmware = "V3 R5.12.0".into();
    let live = live::spawn(SimPhone::new(profile), Target::default_mode(dls.addr), Behaviour::default())
        .await
        .unwrap();
    assert!(eventually(Duration::from_secs(10), async || LiveStats::get(&live.stats.start_ups) >= 2).await);
    let phone = live.stop().await;
    assert_eq!(phone.value("software-version", None), Some("V3 R5.13.0"));
    let versions: Vec<Option<String>> =
        dls.received.lock().unwrap().iter().map(|m| m.value("software-version").map(str::to_owned)).collect();
    assert_eq!(versions, [Some("V3 R5.12.0".into()), Some("V3 R5.13.0".into())]);
}
