//! Unit tests of deployments (guide p. 52-57): what is sent, and what finishes each kind.

use opendls_wpi::{Action, Item, ReplyStatus};

use crate::tests::{NOW, guide, handle, input, known, reply, saved_state, solicited, task, update_states};
use crate::*;

const URL: &str = "https://dls.example:18445/files/7/x/y/z/";

fn deployable(file_id: i64, name: &str, file_type: &str, version: Option<&str>) -> Deployable {
    Deployable {
        file_id,
        sha256: "ab".repeat(32),
        on_phone: FileOnPhone { name: name.into(), file_type: file_type.into() },
        version: version.map(str::to_owned),
        models: Vec::new(),
    }
}

fn firmware(version: &str) -> JobKind {
    let image =
        deployable(7, &format!("OS_60_SIP_{}.img", version.replace([' ', '.'], "_")), "APP", Some(version));
    JobKind::DeployFirmware { image, allow_downgrade: false, immediate: false }
}

fn sources(ids: &[i64]) -> Option<Result<Vec<Download>, String>> {
    let source = |id: i64| Download {
        file_id: id,
        source: vec![Item::new("file-https-base-url", format!("{URL}{id}"))],
    };
    Some(Ok(ids.iter().map(|id| source(*id)).collect()))
}

/// A known OpenStage 60 running `version`, calling with `message`.
fn phone(message: opendls_wpi::WorkpointMessage, version: &str) -> Input {
    let mut with_version = message;
    with_version.items.retain(|i| i.name != "software-version");
    with_version.items.push(Item::new("software-version", version));
    known(with_version)
}

fn value<'a>(message: &'a opendls_wpi::DlsMessage, name: &str, index: Option<u32>) -> Option<&'a str> {
    message.items.iter().find(|i| i.name == name && i.index == index).map(|i| i.value.as_str())
}

#[test]
fn firmware_asks_for_its_download_then_sends_the_guides_items() {
    let mut contact = phone(solicited(), "V3 R5.12.0");
    contact.tasks = vec![task(1, firmware("V3 R5.13.0"), TargetState::Contacting)];
    assert!(matches!(decide(&contact, &EngineSettings::default()), Outcome::Needs(Need::Downloads)));
    contact.downloads = sources(&[7]);
    let sent = handle(contact, &EngineSettings::default());
    assert_eq!(sent.reply.action, Action::SoftwareDeployment);
    // guide p. 57, the HTTPS form: URL, file-type APP, sw type and dotted version, priority.
    assert_eq!(
        value(&sent.reply, "file-https-base-url", None),
        Some("https://dls.example:18445/files/7/x/y/z/7")
    );
    assert_eq!(value(&sent.reply, "file-type", None), Some("APP"));
    assert_eq!(value(&sent.reply, "file-sw-type", None), Some("Siemens SIP"));
    assert_eq!(value(&sent.reply, "file-sw-version", None), Some("3.5.13.0"));
    assert_eq!(value(&sent.reply, "file-priority", None), Some("normal"));
    assert_eq!(update_states(&sent), vec![(1, TargetState::Running, true)]);
    assert_eq!(sent.task_updates[0].phase, Some(Phase::Downloading));
    assert!(matches!(saved_state(&sent).step, Step::DeployingFirmware { job_id: 1 }));
}

#[test]
fn firmware_is_done_when_the_phone_starts_up_with_it_and_failed_when_it_does_not() {
    let running = || {
        let mut sent = task(1, firmware("V3 R5.13.0"), TargetState::Running);
        sent.phase = Some(Phase::Downloading);
        sent
    };
    let mut start_up = phone(guide("p33-start-up.xml"), "V3 R5.13.0");
    start_up.tasks = vec![running()];
    let done = handle(start_up, &EngineSettings::default());
    assert_eq!(update_states(&done), vec![(1, TargetState::Done, false)]);

    let mut old = phone(guide("p33-start-up.xml"), "V3 R5.12.0");
    old.tasks = vec![running()];
    let failed = handle(old, &EngineSettings::default());
    assert_eq!(update_states(&failed), vec![(1, TargetState::Failed, false)]);
    assert!(failed.task_updates[0].detail.contains("started up again with V3 R5.12.0, not V3 R5.13.0"));
    assert_ne!(failed.reply.action, Action::SoftwareDeployment, "never sent again in a loop");

    // A contact that is not a start-up leaves it downloading, until it is overdue.
    let mut meanwhile = phone(solicited(), "V3 R5.12.0");
    meanwhile.tasks = vec![running()];
    assert!(handle(meanwhile.clone(), &EngineSettings::default()).task_updates.is_empty());
    meanwhile.now = NOW + EngineSettings::default().deployment_timeout_secs;
    let overdue = handle(meanwhile, &EngineSettings::default());
    assert_eq!(update_states(&overdue), vec![(1, TargetState::Failed, false)]);
    assert!(overdue.task_updates[0].detail.contains("no start-up within"));
}

#[test]
fn firmware_already_there_newer_or_for_another_model_is_not_sent() {
    let settings = EngineSettings::default();
    let decide_on = |version: &str, kind: JobKind| {
        let mut contact = phone(solicited(), version);
        contact.tasks = vec![task(1, kind, TargetState::Contacting)];
        contact.downloads = sources(&[7]);
        handle(contact, &settings)
    };
    let same = decide_on("V3 R5.13.0", firmware("V3 R5.13.0"));
    assert_eq!(
        (same.reply.action.clone(), update_states(&same)),
        (Action::CleanUp, vec![(1, TargetState::Done, false)])
    );
    let newer = decide_on("V3 R5.13.0", firmware("V3 R5.9.1"));
    assert_eq!(update_states(&newer), vec![(1, TargetState::Failed, false)]);
    assert!(newer.task_updates[0].detail.contains("a downgrade needs --allow-downgrade"));
    let JobKind::DeployFirmware { image, .. } = firmware("V3 R5.9.1") else { unreachable!() };
    let allowed =
        decide_on("V3 R5.13.0", JobKind::DeployFirmware { image, allow_downgrade: true, immediate: true });
    assert_eq!(allowed.reply.action, Action::SoftwareDeployment);
    assert_eq!(value(&allowed.reply, "file-priority", None), Some("immediate"));

    let mut other_model = deployable(7, "cp710.img", "APP", Some("V1 R2.3.0"));
    other_model.models = vec!["OpenScape Desk Phone CP7*".into()];
    let wrong = decide_on(
        "V3 R5.13.0",
        JobKind::DeployFirmware { image: other_model, allow_downgrade: true, immediate: false },
    );
    assert_eq!(update_states(&wrong), vec![(1, TargetState::Failed, false)]);
    assert!(
        wrong.task_updates[0].detail.contains("this phone is OpenStage 60"),
        "{}",
        wrong.task_updates[0].detail
    );
}

#[test]
fn a_single_file_is_finished_by_the_phones_status_with_or_without_its_interaction() {
    let ringtone = JobKind::DeployFile { file: deployable(3, "ringtone-phone.wav", "RINGTONE", None) };
    let mut contact = phone(solicited(), "V3 R5.12.0");
    contact.tasks = vec![task(1, ringtone.clone(), TargetState::Queued)];
    contact.downloads = sources(&[3]);
    let sent = handle(contact.clone(), &EngineSettings::default());
    assert_eq!(sent.reply.action, Action::FileDeployment);
    assert_eq!(value(&sent.reply, "file-type", None), Some("RINGTONE"));
    assert!(matches!(saved_state(&sent).step, Step::DeployingFile { job_id: 1 }));

    let mut running = task(1, ringtone.clone(), TargetState::Running);
    running.phase = Some(Phase::Downloading);
    // The guide's status (p. 54), on its own.
    let mut status = input(guide("p54-status-file-deployment.xml"));
    status.device = contact.device.clone();
    status.tasks = vec![running.clone()];
    let done = handle(status.clone(), &EngineSettings::default());
    assert_eq!(update_states(&done), vec![(1, TargetState::Done, false)]);
    assert!(done.task_updates[0].detail.contains("ringtone-phone.wav (RINGTONE) ok (10:06:2008"));
    assert_eq!(done.reply.action, Action::CleanUp);
    // ... and continuing the interaction that sent the file, reporting a failure.
    status.interaction = Some(saved_state(&sent));
    status.message.items.retain(|i| i.name != "file-deployment-status");
    status.message.items.push(Item::new("file-deployment-status", "failed"));
    let failed = handle(status, &EngineSettings::default());
    assert_eq!(update_states(&failed), vec![(1, TargetState::Failed, false)]);
    assert_eq!(failed.interaction, InteractionChange::End(Some("S1".into())));

    // No status at all: a later contact times it out once it is overdue, with the reason.
    let mut later = phone(solicited(), "V3 R5.12.0");
    later.tasks = vec![running];
    later.now = NOW + EngineSettings::default().deployment_timeout_secs;
    let timed_out = handle(later, &EngineSettings::default());
    assert_eq!(update_states(&timed_out), vec![(1, TargetState::TimedOut, false)]);
    assert!(timed_out.task_updates[0].detail.contains("no status for ringtone-phone.wav (RINGTONE)"));
}

#[test]
fn several_files_are_sent_with_indexes_and_verified_by_reading_the_inventory() {
    let files = vec![deployable(3, "ring.wav", "RINGTONE", None), deployable(4, "logo.png", "LOGO", None)];
    let kind = JobKind::DeployFiles { files };
    let mut contact = phone(solicited(), "V3 R5.12.0");
    contact.tasks = vec![task(1, kind.clone(), TargetState::Queued)];
    contact.downloads = sources(&[3, 4]);
    let sent = handle(contact.clone(), &EngineSettings::default());
    assert_eq!(sent.reply.action, Action::FileDeployment);
    // guide p. 55: every file's items carry its index, with file-action.
    for (index, name) in [(1, "ring.wav"), (2, "logo.png")] {
        assert_eq!(value(&sent.reply, "file-name", Some(index)), Some(name));
        assert_eq!(value(&sent.reply, "file-action", Some(index)), Some("deploy"));
        assert!(value(&sent.reply, "file-https-base-url", Some(index)).is_some());
    }
    assert_eq!(sent.task_updates[0].phase, Some(Phase::Verifying));

    let mut verifying = task(1, kind, TargetState::Running);
    verifying.phase = Some(Phase::Verifying);
    // The next contact reads everything, though the inventory is fresh.
    let mut next = phone(solicited(), "V3 R5.12.0");
    next.tasks = vec![verifying.clone()];
    let read = handle(next.clone(), &EngineSettings::default());
    assert_eq!(read.reply.action, Action::ReadAllItems);

    let listed = |entries: &[(u32, &str, &str, &str)]| -> Vec<Item> {
        let mut items = crate::tests::basic_items();
        for (index, name, file_type, status) in entries {
            for (item, value) in [
                ("file-deployment-name", *name),
                ("file-deployment-type", *file_type),
                ("file-deployment-status", *status),
            ] {
                items.push(Item { index: Some(*index), ..Item::new(item, value) });
            }
        }
        items
    };
    let answer = |entries: &[(u32, &str, &str, &str)], now: Timestamp| {
        let mut reply = input(reply(Action::ReadAllItems, ReplyStatus::Accepted, listed(entries)));
        reply.now = now;
        reply.device = read.device.clone();
        reply.interaction = Some(saved_state(&read));
        reply.tasks = vec![verifying.clone()];
        handle(reply, &EngineSettings::default())
    };
    let both = answer(&[(1, "ring.wav", "RINGTONE", "ok"), (2, "logo.png", "LOGO", "ok")], NOW);
    assert_eq!(update_states(&both), vec![(1, TargetState::Done, false)]);
    // One still missing: the phone may still be downloading, until the deployment is overdue.
    let one = [(1, "ring.wav", "RINGTONE", "ok")];
    assert!(answer(&one, NOW).task_updates.is_empty());
    let overdue = answer(&one, NOW + EngineSettings::default().deployment_timeout_secs);
    assert_eq!(update_states(&overdue), vec![(1, TargetState::Failed, false)]);
    assert!(overdue.task_updates[0].detail.contains("logo.png (LOGO) is not on the phone"));
    let refused = answer(&[(1, "ring.wav", "RINGTONE", "failed")], NOW);
    assert_eq!(update_states(&refused), vec![(1, TargetState::Failed, false)]);
}

#[test]
fn a_deployment_that_cannot_be_served_fails_and_the_next_work_runs() {
    let ringtone = JobKind::DeployFile { file: deployable(3, "ring.wav", "RINGTONE", None) };
    let mut contact = phone(solicited(), "V3 R5.12.0");
    contact.tasks =
        vec![task(1, ringtone, TargetState::Queued), task(2, JobKind::Restart, TargetState::Queued)];
    contact.downloads = Some(Err("the file server is off".into()));
    let decision = handle(contact, &EngineSettings::default());
    assert_eq!(
        update_states(&decision),
        vec![(1, TargetState::Failed, false), (2, TargetState::Running, true)]
    );
    assert!(decision.task_updates[0].detail.contains("the file server is off"));
    assert_eq!(decision.reply.action, Action::Restart);
    assert_eq!(decision.task_updates[1].phase, Some(Phase::Rebooting));
    // Deletions need no download.
    let delete = JobKind::DeleteFiles {
        files: vec![FileOnPhone { name: "ring.wav".into(), file_type: "RINGTONE".into() }],
    };
    let mut contact = phone(solicited(), "V3 R5.12.0");
    contact.tasks = vec![task(1, delete, TargetState::Queued)];
    let sent = handle(contact, &EngineSettings::default());
    assert_eq!(value(&sent.reply, "file-action", Some(1)), Some("delete"));
}
