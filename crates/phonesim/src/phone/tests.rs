//! Unit tests of the simulated phone's answers.

use super::*;

fn service(phone: &SimPhone, action: Action, items: Vec<Item>) -> DlsMessage {
    DlsMessage::with_items(phone.last_nonce.clone(), action, items)
}

fn reply(next: Next) -> WorkpointMessage {
    match next {
        Next::Reply(message) => message,
        other => panic!("expected a reply, got {other:?}"),
    }
}

#[test]
fn start_up_carries_the_basic_items() {
    let mut phone = SimPhone::new(PhoneProfile::numbered(7));
    let message = phone.contact(Reason::StartUp, &[]);
    assert_eq!(message.value("mac-addr"), Some("00:1A:E8:00:00:07"));
    assert_eq!(message.value("configuration-changed-flag"), Some("false"));
    assert!(message.items.len() >= 12);
    assert_eq!(message.nonce.len(), 32);
    assert!(phone.item_count() >= 300, "{} items", phone.item_count());
}

#[test]
fn read_all_items_is_fragmented_when_asked() {
    let mut profile = PhoneProfile::numbered(1);
    profile.fragment_items = Some(100);
    let mut phone = SimPhone::new(profile);
    phone.contact(Reason::StartUp, &[]);
    let total = phone.item_count();
    let mut received = 0;
    let mut message = reply(phone.answer(&service(&phone, Action::ReadAllItems, vec![])));
    while message.fragment == Some(Fragment::Next) {
        received += message.items.len();
        message = reply(phone.answer(&service(&phone, Action::GetNextFragment, vec![])));
    }
    received += message.items.len();
    assert_eq!(received, total);
}

#[test]
fn writes_apply_or_report_per_item_status() {
    let mut phone = SimPhone::new(PhoneProfile::numbered(1));
    phone.contact(Reason::StartUp, &[]);
    let items = vec![
        Item::new("sntp-addr", "time.nist.gov"),
        Item::new("socketed-headset-mode-x", "0"),
        Item::new("device-type", "OpenStage 80"),
        Item::new("transaction-timer", "5"),
    ];
    let answer = reply(phone.answer(&service(&phone, Action::WriteItems, items)));
    assert_eq!(answer.reason.status, Some(ReplyStatus::Accepted));
    let statuses: Vec<_> =
        answer.items.iter().map(|i| (i.name.as_str(), i.status.clone().unwrap())).collect();
    assert_eq!(
        statuses,
        [
            ("socketed-headset-mode-x", ItemStatus::UnknownItem),
            ("device-type", ItemStatus::ReadOnly),
            ("transaction-timer", ItemStatus::Failed)
        ]
    );
    assert_eq!(phone.value("sntp-addr", None), Some("time.nist.gov"));
}

#[test]
fn busy_phones_refuse_writes_and_honour_send_solicited() {
    let mut phone = SimPhone::new(PhoneProfile::numbered(1));
    phone.in_call = true;
    phone.contact(Reason::StartUp, &[]);
    let answer = reply(phone.answer(&service(&phone, Action::WriteItems, vec![Item::new("sntp-addr", "x")])));
    assert_eq!(answer.reason.status, Some(ReplyStatus::Busy));
    assert!(answer.items.is_empty());
    let done = phone.answer(&service(&phone, Action::CleanUp, vec![Item::new("send-solicited", "true")]));
    assert_eq!(done, Next::Done { send_solicited: true, reason: None });
}

#[test]
fn single_file_deployment_reports_status_multiple_do_not() {
    let mut phone = SimPhone::new(PhoneProfile::numbered(1));
    phone.contact(Reason::StartUp, &[]);
    let items = vec![
        Item::new("file-type", "RINGTONE"),
        Item::new("file-https-base-url", "https://127.0.0.1:1/media/ring.wav"),
    ];
    let Next::Files(jobs) = phone.answer(&service(&phone, Action::FileDeployment, items)) else { panic!() };
    assert_eq!(jobs.len(), 1);
    assert_eq!((jobs[0].name.as_str(), jobs[0].file_type.as_str()), ("ring.wav", "RINGTONE"));
    let status = reply(phone.files_done(&[(jobs[0].clone(), true)], "26:11:2026", "10:00:00"));
    assert_eq!(status.reason.reason, Reason::Status);
    assert_eq!(status.value("file-deployment-status"), Some("ok"));
    assert_eq!(status.value("file-deployment-name"), Some("ring.wav"));

    let items = vec![
        Item::indexed("file-https-base-url", 1, "https://127.0.0.1:1/a.png"),
        Item::indexed("file-type", 1, "LOGO"),
        Item::indexed("file-action", 1, "deploy"),
        Item::indexed("file-name", 2, "ring.wav"),
        Item::indexed("file-type", 2, "RINGTONE"),
        Item::indexed("file-action", 2, "delete"),
    ];
    phone.contact(Reason::StartUp, &[]);
    let Next::Files(jobs) = phone.answer(&service(&phone, Action::FileDeployment, items)) else { panic!() };
    assert_eq!(
        jobs.iter().map(|j| (j.index, j.delete)).collect::<Vec<_>>(),
        [(Some(1), false), (Some(2), true)]
    );
    let results: Vec<_> = jobs.into_iter().map(|j| (j, true)).collect();
    assert_eq!(phone.files_done(&results, "d", "t"), Next::Done { send_solicited: false, reason: None });
}

#[test]
fn firmware_deployment_installs_and_reboots() {
    let mut phone = SimPhone::new(PhoneProfile::numbered(1));
    phone.contact(Reason::StartUp, &[]);
    let items = vec![
        Item::new("file-https-base-url", "https://127.0.0.1:1/OS40_SIP_V3_R5_13_0.img"),
        Item::new("file-type", "APP"),
        Item::new("file-sw-version", "3.5.13.0"),
        Item::new("file-priority", "immediate"),
    ];
    let Next::Files(jobs) = phone.answer(&service(&phone, Action::SoftwareDeployment, items)) else {
        panic!()
    };
    assert_eq!(phone.files_done(&[(jobs[0].clone(), true)], "d", "t"), Next::Reboot { factory_reset: false });
    assert_eq!(phone.value("software-version", None), Some("V3 R5.13.0"));
}

#[test]
fn a_wrong_nonce_is_refused() {
    let mut phone = SimPhone::new(PhoneProfile::numbered(1));
    phone.contact(Reason::StartUp, &[]);
    let answer = reply(phone.answer(&DlsMessage::new("WRONG", Action::ReadAllItems)));
    assert_eq!(answer.reason.reason, Reason::CleanUp);
}

#[test]
fn factory_reset_needs_the_password() {
    let mut phone = SimPhone::new(PhoneProfile::numbered(1));
    phone.change_locally("sntp-addr", None, "changed");
    phone.contact(Reason::StartUp, &[]);
    let plain =
        phone.answer(&service(&phone, Action::Restart, vec![Item::new("restart-type", "FactoryReset")]));
    assert_eq!(plain, Next::Reboot { factory_reset: false });
    assert_eq!(phone.value("sntp-addr", None), Some("changed"));
    phone.contact(Reason::StartUp, &[]);
    let items = vec![Item::new("restart-password", "124816"), Item::new("restart-type", "FactoryReset")];
    assert_eq!(phone.answer(&service(&phone, Action::Restart, items)), Next::Reboot { factory_reset: true });
    assert_ne!(phone.value("sntp-addr", None), Some("changed"));
}
