//! The job store's contract: targets resolved at creation, finished targets never change again,
//! claims refused for finished work, contact-me scheduling and expiry.

use opendls_engine::{DeviceRecord, DeviceTask, JobKind, TargetState, TaskUpdate};
use opendls_store::jobs::{ContactRecord, JobStore, NewJob, Stalled, TargetSelector};
use opendls_store::{AdminStore, PhoneStore, StoreError};

use crate::backend::Backend;

pub(crate) async fn store_with_devices<B: Backend>() -> (B::Store, crate::backend::Keep) {
    let (store, keep) = B::fresh().await;
    let devices: Vec<DeviceRecord> = (1..=4)
        .map(|n| {
            let mut device = DeviceRecord::new(format!("00:1A:E8:00:00:0{n}"), 100);
            device.device_type = Some(if n <= 2 { "OpenStage 60".into() } else { "OpenStage 40".into() });
            device.software_version = Some(format!("V3 R{n}.0.0"));
            device.contact_me_uri = Some(format!("http://127.0.0.1:80{n}0/contact_dls.html/ContactDLS"));
            device.remote_addr = Some("127.0.0.1".into());
            device
        })
        .collect();
    store.import_devices(&devices).await.unwrap();
    store.assign_group("00:1A:E8:00:00:04", &["lobby".to_owned()]).await.unwrap();
    (store, keep)
}

fn job(targets: TargetSelector, kind: JobKind) -> NewJob {
    NewJob { kind, targets, contact_me: true, give_up_at: 10_000, rollout: None }
}

pub async fn targets_are_resolved_by_devices_group_and_inventory_query<B: Backend>() {
    let (store, _keep) = store_with_devices::<B>().await;
    let count = |selector| {
        let store = store.clone();
        async move {
            store
                .create_job(&job(selector, JobKind::Restart), 200)
                .await
                .unwrap()
                .map(|j| j.counts.total())
                .unwrap_or(0)
        }
    };
    assert_eq!(count(TargetSelector::All).await, 4);
    assert_eq!(count(TargetSelector::Group { name: "lobby".into() }).await, 1);
    let models = TargetSelector::Query { device_type: Some("OpenStage 6*".into()), software_version: None };
    assert_eq!(count(models).await, 2);
    let any_case = TargetSelector::Query { device_type: Some("openstage 6*".into()), software_version: None };
    assert_eq!(count(any_case).await, 2, "models match in any case");
    let firmware = TargetSelector::Query { device_type: None, software_version: Some("V3 R[34]*".into()) };
    assert_eq!(count(firmware).await, 2);
    let macs = vec!["00:1A:E8:00:00:01".into(), "00:1A:E8:00:00:99".into()];
    assert_eq!(count(TargetSelector::Devices { macs }).await, 1, "unknown devices are not targets");
    assert_eq!(count(TargetSelector::Group { name: "nobody".into() }).await, 0);
    // A group job takes the devices with it as their first group and as another one.
    store.assign_group("00:1A:E8:00:00:02", &["sales".to_owned(), "lobby".to_owned()]).await.unwrap();
    store.assign_group("00:1A:E8:00:00:03", &["lob".to_owned(), "by".to_owned()]).await.unwrap();
    assert_eq!(count(TargetSelector::Group { name: "lobby".into() }).await, 2, "never a part of a name");
    assert_eq!(store.list_jobs(100).await.unwrap().len(), 7, "a job without targets is not created");
}

pub async fn finished_targets_never_change_and_claims_on_them_refuse_the_decision<B: Backend>() {
    let (store, _keep) = store_with_devices::<B>().await;
    let mac = "00:1A:E8:00:00:01";
    let macs = vec![mac.to_owned()];
    let created =
        store.create_job(&job(TargetSelector::Devices { macs }, JobKind::Restart), 200).await.unwrap();
    let id = created.unwrap().id;
    let tasks = store.device_context(mac).await.unwrap().tasks;
    assert_eq!(
        tasks,
        vec![DeviceTask {
            job_id: id,
            kind: JobKind::Restart,
            state: TargetState::Queued,
            created_at: 200,
            phase: None,
            updated_at: 200
        }]
    );

    let claim = |claims| TaskUpdate {
        job_id: id,
        mac: mac.into(),
        state: TargetState::Running,
        detail: "sent".into(),
        claims,
        read: None,
        phase: Some(opendls_engine::Phase::Rebooting),
    };
    let decision = |update| {
        let mut decision = opendls_engine::decide(
            &opendls_engine::Input {
                now: 300,
                remote_addr: "127.0.0.1".into(),
                new_session_id: "S".into(),
                message: opendls_wpi::WorkpointMessage {
                    nonce: "N".into(),
                    max_items: None,
                    fragment: None,
                    reason: opendls_wpi::ReasonForContact::new(opendls_wpi::Reason::CleanUp),
                    items: vec![],
                },
                device: None,
                interaction: None,
                desired: vec![],
                variables: vec![],
                failures: vec![],
                policy: Default::default(),
                tasks: vec![],
                security: Default::default(),
                provisioned: None,
                newcomers: Default::default(),
                downloads: None,
            },
            &Default::default(),
        )
        .decision()
        .expect("no outside needs in this test");
        decision.task_updates = vec![update];
        decision
    };
    store.apply(decision(claim(true)), 300).await.unwrap();
    let running = store.device_context(mac).await.unwrap().tasks;
    assert_eq!((running[0].phase, running[0].updated_at), (Some(opendls_engine::Phase::Rebooting), 300));
    assert_eq!(
        store.job(id).await.unwrap().unwrap().targets[0].phase,
        Some(opendls_engine::Phase::Rebooting)
    );
    // A running target is contacted again once stalled; a downloading one only after the
    // deployment timeout (a download and its reboot take minutes).
    let due = |before, downloading_before| {
        let store = store.clone();
        async move {
            store.contact_candidates(400, Stalled { before, downloading_before }, 10).await.unwrap().len()
        }
    };
    assert_eq!((due(301, 0).await, due(300, 0).await), (1, 0), "rebooting: the ordinary stall");
    let mut downloading = claim(false);
    downloading.phase = Some(opendls_engine::Phase::Downloading);
    store.apply(decision(downloading), 310).await.unwrap();
    assert_eq!((due(400, 0).await, due(400, 311).await), (0, 1), "downloading: the deployment timeout");
    assert_eq!(store.cancel_job(id, 400).await.unwrap(), Some(1));
    assert_eq!(store.cancel_job(999, 400).await.unwrap(), None);
    assert!(store.device_context(mac).await.unwrap().tasks.is_empty());

    // A stale decision that would send the cancelled work is refused as a whole ...
    let refused = store.apply(decision(claim(true)), 500).await.unwrap_err();
    assert!(matches!(refused, StoreError::Conflict(_)), "{refused}");
    // ... and an update that sends nothing leaves the finished target alone.
    store.apply(decision(claim(false)), 500).await.unwrap();
    let detail = store.job(id).await.unwrap().unwrap();
    assert_eq!(detail.targets[0].state, TargetState::Cancelled);
    assert_eq!(detail.targets[0].finished_at, Some(400));
    assert!(detail.summary.counts.is_finished());
}

/// No running target counts as stalled.
const NEVER_STALLED: Stalled = Stalled { before: 0, downloading_before: 0 };

pub async fn contact_candidates_follow_the_schedule_and_expiry_ends_what_is_left<B: Backend>() {
    let (store, _keep) = store_with_devices::<B>().await;
    let created =
        store.create_job(&job(TargetSelector::All, JobKind::ApplyConfiguration), 200).await.unwrap();
    let id = created.unwrap().id;
    let mut waiting = job(TargetSelector::All, JobKind::Restart);
    waiting.contact_me = false;
    store.create_job(&waiting, 200).await.unwrap();

    let due = store.contact_candidates(200, NEVER_STALLED, 100).await.unwrap();
    assert_eq!(due.len(), 4, "one candidate per device, whatever its number of jobs");
    assert!(store.pending_work("00:1A:E8:00:00:01").await.unwrap());

    let record = ContactRecord {
        mac: "00:1A:E8:00:00:01".into(),
        sent: true,
        answered: true,
        next_at: 260,
        result: "contact-me answered 204".into(),
    };
    store.record_contact(record, 200).await.unwrap();
    let due = store.contact_candidates(210, NEVER_STALLED, 100).await.unwrap();
    assert_eq!(due.len(), 3, "not again before next_at");
    let again = store.contact_candidates(260, NEVER_STALLED, 100).await.unwrap();
    let first = again.iter().find(|c| c.mac == "00:1A:E8:00:00:01").unwrap();
    assert_eq!((first.attempts, first.last_answered_at), (1, Some(200)));
    let detail = store.job(id).await.unwrap().unwrap();
    assert_eq!(detail.summary.counts.count(TargetState::Contacting), 1);
    assert_eq!(detail.summary.counts.count(TargetState::Queued), 3);

    assert_eq!(store.expire_targets(9_999).await.unwrap(), 0);
    assert_eq!(store.expire_targets(10_000).await.unwrap(), 8);
    let detail = store.job(id).await.unwrap().unwrap();
    assert_eq!(detail.summary.counts.count(TargetState::TimedOut), 4);
    assert!(detail.targets.iter().any(|t| t.detail.starts_with("gave up; last: contact-me answered")));
    assert!(!store.pending_work("00:1A:E8:00:00:01").await.unwrap());
    assert_eq!(store.phone_addresses().await.unwrap(), vec!["127.0.0.1".to_owned()]);
}

/// A contact-me is claimed once: of many claims at once (nodes of a cluster) one wins; the claim
/// holds the device off the candidates until it lapses or a contact is recorded.
pub async fn a_contact_me_is_claimed_once<B: Backend>() {
    let (store, _keep) = store_with_devices::<B>().await;
    store.create_job(&job(TargetSelector::All, JobKind::Restart), 200).await.unwrap();
    let mac = "00:1A:E8:00:00:02";
    let claims: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.claim_contact(mac, 200, 230).await.unwrap() })
        })
        .collect();
    let mut won = 0;
    for claim in claims {
        won += usize::from(claim.await.unwrap());
    }
    assert_eq!(won, 1, "one claim of eight wins");
    let due = store.contact_candidates(210, NEVER_STALLED, 100).await.unwrap();
    assert!(due.iter().all(|c| c.mac != mac), "a claimed device is no candidate");
    assert!(!store.claim_contact(mac, 229, 260).await.unwrap(), "held until it lapses");
    assert!(
        store.claim_contact(mac, 230, 260).await.unwrap(),
        "a lapsed claim (its node died) is taken over"
    );
    let record = ContactRecord {
        mac: mac.into(),
        sent: true,
        answered: true,
        next_at: 300,
        result: "answered".into(),
    };
    store.record_contact(record, 231).await.unwrap();
    assert!(!store.claim_contact(mac, 290, 320).await.unwrap(), "the recorded contact sets the next time");
}
