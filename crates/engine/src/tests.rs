//! Unit tests of the engine with the guide's messages and plain values.

use opendls_wpi::{Action, Fragment, Item, ItemStatus, ReasonForContact, ReplyStatus, WorkpointMessage};

use crate::*;

/// The decision for a message whose outside needs are all met (tests supply them in the input).
pub(crate) fn handle(input: Input, settings: &EngineSettings) -> Decision {
    match decide(&input, settings) {
        Outcome::Decided(decision) => *decision,
        Outcome::Needs(need) => panic!("the engine needs {need:?}"),
    }
}

pub(crate) const MAC: &str = "00:01:E3:00:A9:F3";
pub(crate) const NOW: Timestamp = 1_700_000_000;

pub(crate) fn guide(name: &str) -> WorkpointMessage {
    let path = format!("{}/../wpi/tests/fixtures/guide/{name}", env!("CARGO_MANIFEST_DIR"));
    opendls_wpi::parse_workpoint_message(&std::fs::read(path).unwrap()).unwrap()
}

pub(crate) fn input(message: WorkpointMessage) -> Input {
    Input {
        now: NOW,
        remote_addr: "127.0.0.1".into(),
        new_session_id: "S1".into(),
        message,
        device: None,
        interaction: None,
        desired: Vec::new(),
        variables: Vec::new(),
        failures: Vec::new(),
        policy: LocalChangePolicy::default(),
        tasks: Vec::new(),
        security: Default::default(),
        provisioned: None,
        newcomers: Default::default(),
        downloads: None,
    }
}

fn global(name: &str, value: &str) -> DesiredEntry {
    DesiredEntry { scope: Scope::Global, key: ItemKey::new(name, None), value: value.into() }
}

pub(crate) fn reply(action: Action, status: ReplyStatus, items: Vec<Item>) -> WorkpointMessage {
    WorkpointMessage {
        nonce: "R1".into(),
        max_items: Some(-1),
        fragment: Some(Fragment::Final),
        reason: ReasonForContact::reply_to(action, status),
        items,
    }
}

pub(crate) fn saved_state(decision: &Decision) -> InteractionState {
    match &decision.interaction {
        InteractionChange::Start(state) | InteractionChange::Continue(state) => state.clone(),
        InteractionChange::End(_) => panic!("interaction ended: {:?}", decision.reply),
    }
}

/// Runs start-up of a new phone through ReadAllItems; returns the decision of the read reply.
fn start_up_and_read(desired: Vec<DesiredEntry>, read_items: Vec<Item>) -> (Decision, Decision) {
    let settings = EngineSettings::default();
    let first = handle(Input { desired: desired.clone(), ..input(guide("p33-start-up.xml")) }, &settings);
    let mut read = input(reply(Action::ReadAllItems, ReplyStatus::Accepted, read_items));
    read.device = first.device.clone();
    read.interaction = Some(saved_state(&first));
    read.desired = desired;
    (first.clone(), handle(read, &settings))
}

pub(crate) fn basic_items() -> Vec<Item> {
    guide("p33-start-up.xml").items
}

#[test]
fn a_new_phone_is_registered_and_read_in_full() {
    let decision = handle(input(guide("p33-start-up.xml")), &EngineSettings::default());
    assert_eq!(decision.reply.action, Action::ReadAllItems);
    assert_eq!(decision.reply.nonce, "ab15234de14f15a667c6f8d", "the nonce is echoed");
    assert!(matches!(decision.interaction, InteractionChange::Start(_)));
    assert_eq!(decision.supersedes_interactions_of.as_deref(), Some(MAC));
    let device = decision.device.unwrap();
    assert_eq!(device.mac, MAC);
    assert_eq!(device.e164.as_deref(), Some("49897223290"));
    assert_eq!(device.device_type.as_deref(), Some("OpenStage 60"));
    assert_eq!(
        device.contact_me_uri.as_deref(),
        Some("http://192.168.3.33:8085/contact_dls.html/ContactDLS")
    );
    assert_eq!(decision.history[0].kind, EventKind::Registered);
}

#[test]
fn after_the_read_the_difference_is_written_then_clean_up() {
    let desired = vec![global("sntp-addr", "time.nist.gov"), global("sntp-tz-offset", "60")];
    let mut items = basic_items();
    items.push(Item::new("sntp-addr", "pool.ntp.org"));
    items.push(Item::new("sntp-tz-offset", "60"));
    let (_, after_read) = start_up_and_read(desired.clone(), items);
    assert_eq!(after_read.reply.action, Action::WriteItems);
    assert_eq!(after_read.reply.items, vec![Item::new("sntp-addr", "time.nist.gov")], "only what differs");
    let device = after_read.device.clone().unwrap();
    assert!(device.inventory_read_at.is_some());
    assert_eq!(device.reported_value(&ItemKey::new("sntp-addr", None)), Some("pool.ntp.org"));

    let mut written = input(reply(Action::WriteItems, ReplyStatus::Accepted, vec![]));
    written.device = Some(device);
    written.interaction = Some(saved_state(&after_read));
    written.desired = desired;
    let done = handle(written, &EngineSettings::default());
    assert_eq!(done.reply.action, Action::CleanUp);
    assert!(done.reply.items.is_empty());
    assert_eq!(done.interaction, InteractionChange::End(Some("S1".into())));
    assert_eq!(done.device.unwrap().reported_value(&ItemKey::new("sntp-addr", None)), Some("time.nist.gov"));
    assert!(done.history.iter().any(|e| e.kind == EventKind::ItemWritten));
}

#[test]
fn a_known_unchanged_phone_goes_straight_to_writing() {
    let (_, after_read) = start_up_and_read(vec![], basic_items());
    let mut again = input(guide("p33-start-up.xml"));
    again.device = after_read.device;
    again.desired = vec![global("sntp-addr", "time.nist.gov")];
    let decision = handle(again.clone(), &EngineSettings::default());
    assert_eq!(decision.reply.action, Action::WriteItems);

    again.desired.clear();
    assert_eq!(handle(again.clone(), &EngineSettings::default()).reply.action, Action::CleanUp);

    // A stale inventory is read again.
    again.now = NOW + 2 * 24 * 3600;
    assert_eq!(handle(again, &EngineSettings::default()).reply.action, Action::ReadAllItems);
}

#[test]
fn fragments_are_acknowledged_until_final() {
    let settings = EngineSettings::default();
    let first = handle(input(guide("p33-start-up.xml")), &settings);
    let mut fragment = reply(Action::ReadAllItems, ReplyStatus::Accepted, basic_items());
    fragment.fragment = Some(Fragment::Next);
    fragment.nonce = "F1".into();
    let mut next = input(fragment);
    next.device = first.device.clone();
    next.interaction = Some(saved_state(&first));
    let after_first = handle(next, &settings);
    assert_eq!(
        (after_first.reply.action.clone(), after_first.reply.nonce.as_str()),
        (Action::GetNextFragment, "F1")
    );

    let mut last =
        input(reply(Action::ReadAllItems, ReplyStatus::Accepted, vec![Item::new("sntp-addr", "x")]));
    last.device = after_first.device.clone();
    last.interaction = Some(saved_state(&after_first));
    let done = handle(last, &settings);
    assert_eq!(done.reply.action, Action::CleanUp);
    assert_eq!(done.device.unwrap().reported.len(), 15, "14 items of the first fragment and 1 of the last");
}

#[test]
fn busy_ends_with_send_solicited_and_keeps_the_work() {
    let desired = vec![global("sntp-addr", "time.nist.gov")];
    let (_, after_read) = start_up_and_read(desired.clone(), basic_items());
    let mut busy = input(guide("p76-reply-busy.xml"));
    busy.device = after_read.device.clone();
    busy.interaction = Some(saved_state(&after_read));
    busy.desired = desired.clone();
    let decision = handle(busy, &EngineSettings::default());
    assert_eq!(decision.reply.items, vec![Item::new("send-solicited", "true")]);
    assert_eq!(decision.reply.nonce, "957AE6C2E40C0E916B7CD5636480F171");
    assert!(decision.history.iter().any(|e| e.kind == EventKind::Busy));

    // The phone calls back when idle (solicited) and gets the write again.
    let mut solicited = input(guide("p43-solicited.xml"));
    solicited.message.items.retain(|i| i.name != "mac-addr");
    solicited.message.items.push(Item::new("mac-addr", MAC));
    solicited.device = decision.device;
    solicited.desired = desired;
    assert_eq!(handle(solicited, &EngineSettings::default()).reply.action, Action::WriteItems);
}

#[test]
fn refused_items_are_recorded_and_not_sent_again_with_the_same_value() {
    let desired = vec![global("socketed-headset-mode", "0"), global("sntp-addr", "time.nist.gov")];
    let (_, after_read) = start_up_and_read(desired.clone(), basic_items());
    let mut answer = input(guide("p78-reply-unknown-item.xml"));
    answer.device = after_read.device.clone();
    answer.interaction = Some(saved_state(&after_read));
    answer.desired = desired.clone();
    // An earlier refusal of another value of sntp-addr is cleared now that a value was accepted.
    answer.failures = vec![WriteFailure {
        key: ItemKey::new("sntp-addr", None),
        value: "old.example".into(),
        status: "failed".into(),
        at: NOW - 10,
    }];
    let decision = handle(answer, &EngineSettings::default());
    assert_eq!(decision.failures_added.len(), 1);
    assert_eq!(decision.failures_added[0].status, "unknown item");
    assert_eq!(decision.failures_cleared, vec![ItemKey::new("sntp-addr", None)]);

    let mut again = input(guide("p33-start-up.xml"));
    again.device = decision.device;
    again.desired = desired;
    again.failures = decision.failures_added;
    assert_eq!(handle(again, &EngineSettings::default()).reply.action, Action::CleanUp);
}

#[test]
fn writes_are_split_by_max_items() {
    let desired: Vec<_> = (1..=5).map(|i| global(&format!("item-{i}"), "v")).collect();
    let settings = EngineSettings::default();
    let mut start = input(guide("p33-start-up.xml"));
    start.message.max_items = Some(2);
    start.desired = desired.clone();
    let first = handle(start, &settings);
    let mut read = input(reply(Action::ReadAllItems, ReplyStatus::Accepted, basic_items()));
    read.device = first.device.clone();
    read.interaction = Some(saved_state(&first));
    read.desired = desired.clone();
    let mut decision = handle(read, &settings);
    let mut sizes = Vec::new();
    while decision.reply.action == Action::WriteItems {
        sizes.push(decision.reply.items.len());
        let mut next = input(reply(Action::WriteItems, ReplyStatus::Accepted, vec![]));
        next.device = decision.device.clone();
        next.interaction = Some(saved_state(&decision));
        next.desired = desired.clone();
        decision = handle(next, &settings);
    }
    assert_eq!(sizes, [2, 2, 1]);
    assert_eq!(decision.reply.action, Action::CleanUp);
}

#[test]
fn local_changes_default_policy_reverts_managed_and_accepts_unmanaged() {
    let (_, after_read) = start_up_and_read(vec![], basic_items());
    let mut change = input(guide("p40-local-changes-v2r2.xml"));
    change.device = after_read.device;
    change.desired = vec![global("dls-addr", "10.0.0.1")];
    let decision = handle(change, &EngineSettings::default());
    let local: Vec<_> = decision.history.iter().filter(|e| e.kind == EventKind::LocalChange).collect();
    assert_eq!(local.len(), 4);
    assert!(
        local.iter().any(|e| e.key == Some(ItemKey::new("dls-addr", None)) && e.detail.contains("reverted"))
    );
    assert!(local.iter().any(|e| e.key == Some(ItemKey::new("dhcp", None)) && e.detail.contains("accepted")));
    assert!(local.iter().all(|e| e.detail.starts_with("source phone")));
    // configuration-changed-flag is true in the message, so the phone is read again; the revert
    // follows after the read.
    assert_eq!(decision.reply.action, Action::ReadAllItems);
    assert!(decision.desired_set.is_empty());
}

#[test]
fn local_changes_accept_policy_updates_the_desired_value() {
    let (_, after_read) = start_up_and_read(vec![], basic_items());
    let mut change = input(guide("p40-local-changes-v2r2.xml"));
    change.device = after_read.device;
    change.desired = vec![global("dls-addr", "10.0.0.1")];
    change.policy = LocalChangePolicy::Accept;
    let decision = handle(change, &EngineSettings::default());
    assert_eq!(
        decision.desired_set,
        vec![DesiredEntry {
            scope: Scope::Device(MAC.into()),
            key: ItemKey::new("dls-addr", None),
            value: "192.168.1.150".into()
        }]
    );
}

#[test]
fn local_changes_flag_policy_keeps_the_value_and_does_not_write_it_back() {
    let (_, after_read) = start_up_and_read(vec![], basic_items());
    let mut change = input(guide("p40-local-changes-v2r2.xml"));
    change.message.items.retain(|i| i.name != "configuration-changed-flag");
    change.message.items.push(Item::new("configuration-changed-flag", "false"));
    change.device = after_read.device;
    change.desired = vec![global("dls-addr", "10.0.0.1")];
    change.policy = LocalChangePolicy::Flag;
    let decision = handle(change, &EngineSettings::default());
    let device = decision.device.clone().unwrap();
    assert_eq!(device.flagged.len(), 1);
    assert_eq!(device.flagged[0].phone_value, "192.168.1.150");
    assert_eq!(decision.reply.action, Action::CleanUp, "a flagged value is not written back");
}

#[test]
fn old_firmware_local_changes_read_everything_and_apply_the_policy_to_the_difference() {
    let mut items = basic_items();
    items.push(Item::new("sntp-addr", "time.nist.gov"));
    let desired = vec![global("sntp-addr", "time.nist.gov")];
    let (_, after_read) = start_up_and_read(desired.clone(), items.clone());
    let mut change = input(guide("p38-local-changes-v2r1.xml"));
    change.device = after_read.device;
    change.desired = desired.clone();
    let decision = handle(change, &EngineSettings::default());
    assert_eq!(decision.reply.action, Action::ReadAllItems);
    let state = saved_state(&decision);
    assert!(state.local_change_read);

    let mut changed = items;
    changed.retain(|i| i.name != "sntp-addr");
    changed.push(Item::new("sntp-addr", "ntp.local"));
    let mut read = input(reply(Action::ReadAllItems, ReplyStatus::Accepted, changed));
    read.device = decision.device;
    read.interaction = Some(state);
    read.desired = desired;
    let after = handle(read, &EngineSettings::default());
    assert!(after.history.iter().any(|e| e.kind == EventKind::LocalChange && e.detail.contains("reverted")));
    assert_eq!(
        after.reply.items,
        vec![Item::new("sntp-addr", "time.nist.gov")],
        "the managed value is written back"
    );
}

#[test]
fn protocol_errors_end_with_a_readable_clean_up() {
    let orphan = handle(input(guide("p48-reply-write-items-accepted.xml")), &EngineSettings::default());
    assert_eq!(orphan.reply.action, Action::CleanUp);
    assert_eq!(orphan.reply.items[0].name, "cleanup-reason");
    assert_eq!(orphan.error.as_deref(), Some("reply-to without an interaction in progress"));

    let mut no_mac = input(guide("p33-start-up.xml"));
    no_mac.message.items.retain(|i| i.name != "mac-addr");
    assert_eq!(
        handle(no_mac, &EngineSettings::default()).error.as_deref(),
        Some("message has no valid mac-addr")
    );

    let first = handle(input(guide("p33-start-up.xml")), &EngineSettings::default());
    let mut wrong = input(guide("p48-reply-write-items-accepted.xml"));
    wrong.interaction = Some(saved_state(&first));
    let decision = handle(wrong, &EngineSettings::default());
    assert_eq!(
        decision.error.as_deref(),
        Some("expected a reply to ReadAllItems, got a reply to WriteItems")
    );
    assert!(decision.history.iter().any(|e| e.kind == EventKind::ProtocolError));
}

#[test]
fn status_and_phone_clean_up_are_recorded() {
    let status = handle(input(guide("p54-status-file-deployment.xml")), &EngineSettings::default());
    assert_eq!(status.reply.action, Action::CleanUp);
    let event = status.history.iter().find(|e| e.kind == EventKind::FileStatus).unwrap();
    assert_eq!(event.detail, "file ringtone-phone.wav (RINGTONE) ok");

    let first = handle(input(guide("p33-start-up.xml")), &EngineSettings::default());
    let mut cleanup = input(guide("p83-clean-up-password-retries.xml"));
    cleanup.interaction = Some(saved_state(&first));
    let decision = handle(cleanup, &EngineSettings::default());
    assert_eq!(decision.interaction, InteractionChange::End(Some("S1".into())));
    assert_eq!(decision.history[0].detail, "password retries exceeded");
}

#[test]
fn secrets_never_reach_the_history() {
    let mut items = basic_items();
    items.retain(|i| i.name != "user-pwd");
    items.push(Item::new("user-pwd", "654321"));
    let desired = vec![global("user-pwd", "111111")];
    let (_, after_read) = start_up_and_read(desired.clone(), items);
    let mut written = input(reply(Action::WriteItems, ReplyStatus::Accepted, vec![]));
    written.device = after_read.device.clone();
    written.interaction = Some(saved_state(&after_read));
    written.desired = desired;
    let decision = handle(written, &EngineSettings::default());
    let history = format!("{:?} {:?}", after_read.history, decision.history);
    for secret in ["123456", "654321", "111111"] {
        assert!(!history.contains(secret), "{secret} leaked into {history}");
    }
}

#[test]
fn per_item_status_in_reads_is_kept() {
    let (_, after_read) = start_up_and_read(vec![], basic_items());
    let device = after_read.device.unwrap();
    let failed = &device.reported[&ItemKey::new("user-pwd-unicode", None)];
    assert_eq!(failed.status.as_deref(), Some(ItemStatus::Failed.as_wire()));
    assert_eq!(device.reported_value(&ItemKey::new("user-pwd-unicode", None)), None);
}

#[test]
fn mac_addresses_are_normalised() {
    assert_eq!(normalize_mac("00-1a-e8-12-34-56").as_deref(), Some("00:1A:E8:12:34:56"));
    assert_eq!(normalize_mac(" 00:1A:E8:12:34:56 ").as_deref(), Some("00:1A:E8:12:34:56"));
    assert_eq!(normalize_mac("00:1A:E8:12:34"), None);
    assert_eq!(normalize_mac("zz:1A:E8:12:34:56"), None);
    assert_eq!(normalize_mac("001ae8123456").as_deref(), Some("00:1A:E8:12:34:56"), "plain hex");
    assert_eq!(normalize_mac("001A.E812.3456").as_deref(), Some("00:1A:E8:12:34:56"), "switch notation");
    assert_eq!(normalize_mac("001ae812345"), None);
    assert_eq!(normalize_mac("001ae812345g"), None);
    assert_eq!(normalize_mac("00:1ae8:12:34:56"), None);
    assert_eq!(normalize_mac("001A.E812.34:56"), None);
    assert_eq!(normalize_mac("ü01ae812345"), None, "no panic on multi-byte characters");
}

pub(crate) fn task(job_id: JobId, kind: JobKind, state: TargetState) -> DeviceTask {
    DeviceTask { job_id, kind, state, created_at: NOW - 60, phase: None, updated_at: NOW - 60 }
}

/// A known device whose inventory is fresh, contacting with `message`.
pub(crate) fn known(message: WorkpointMessage) -> Input {
    let (_, after_read) = start_up_and_read(vec![], basic_items());
    Input { device: after_read.device, ..input(message) }
}

pub(crate) fn solicited() -> WorkpointMessage {
    let mut message = guide("p43-solicited.xml");
    message.items.retain(|i| i.name != "mac-addr");
    message.items.push(Item::new("mac-addr", MAC));
    message
}

pub(crate) fn update_states(decision: &Decision) -> Vec<(JobId, TargetState, bool)> {
    decision.task_updates.iter().map(|u| (u.job_id, u.state, u.claims)).collect()
}

#[test]
fn jobs_run_after_the_configuration_is_written_chained_instead_of_clean_up() {
    let settings = EngineSettings::default();
    let read_job =
        JobKind::ReadItems { items: vec![ItemKey::new("reg-addr", None), ItemKey::new("reg-port", None)] };
    let mut first = known(solicited());
    first.desired = vec![global("sntp-addr", "time.nist.gov")];
    first.tasks = vec![
        task(1, JobKind::ApplyConfiguration, TargetState::Contacting),
        task(2, read_job, TargetState::Contacting),
        task(3, JobKind::Restart, TargetState::Contacting),
    ];
    let writing = handle(first.clone(), &settings);
    assert_eq!(writing.reply.action, Action::WriteItems);
    assert_eq!(update_states(&writing), vec![(1, TargetState::Running, false)]);

    // guide p. 48: accepted with an empty list; the configuration job is done, ReadItems follows
    // with the wanted items listed empty (p. 43-45).
    let mut written = input(reply(Action::WriteItems, ReplyStatus::Accepted, vec![]));
    written.device = writing.device.clone();
    written.interaction = Some(saved_state(&writing));
    written.desired = first.desired.clone();
    written.tasks = vec![
        task(1, JobKind::ApplyConfiguration, TargetState::Running),
        first.tasks[1].clone(),
        first.tasks[2].clone(),
    ];
    let reading = handle(written.clone(), &settings);
    assert_eq!(reading.reply.action, Action::ReadItems);
    let names: Vec<_> = reading.reply.items.iter().map(|i| (i.name.as_str(), i.value.as_str())).collect();
    assert_eq!(names, vec![("reg-addr", ""), ("reg-port", "")]);
    assert_eq!(update_states(&reading), vec![(1, TargetState::Done, false), (2, TargetState::Running, true)]);

    // The read reply (p. 45) lands in the inventory; Restart follows and ends the interaction.
    let mut read = input(reply(
        Action::ReadItems,
        ReplyStatus::Accepted,
        vec![Item::new("reg-addr", "192.168.1.117"), Item::new("reg-port", "5060")],
    ));
    read.device = reading.device.clone();
    read.interaction = Some(saved_state(&reading));
    read.desired = first.desired.clone();
    read.tasks = vec![task(2, written.tasks[1].kind.clone(), TargetState::Running), first.tasks[2].clone()];
    let restarting = handle(read, &settings);
    assert_eq!(restarting.reply.action, Action::Restart);
    assert!(restarting.reply.items.is_empty(), "a plain restart has no items (p. 50)");
    assert_eq!(
        update_states(&restarting),
        vec![(2, TargetState::Done, false), (3, TargetState::Running, true)]
    );
    assert!(matches!(restarting.interaction, InteractionChange::End(Some(_))));
    let device = restarting.device.clone().unwrap();
    assert_eq!(device.reported_value(&ItemKey::new("reg-addr", None)), Some("192.168.1.117"));

    // The next start-up finishes the restart.
    let mut start_up = input(guide("p33-start-up.xml"));
    start_up.device = Some(device);
    start_up.tasks = vec![task(3, JobKind::Restart, TargetState::Running)];
    let after = handle(start_up, &settings);
    assert_eq!(update_states(&after), vec![(3, TargetState::Done, false)]);
    assert_eq!(after.reply.action, Action::CleanUp);
}

#[test]
fn a_factory_reset_sends_the_guides_items_and_rereads_everything_after_the_reboot() {
    let settings = EngineSettings::default();
    let mut contact = known(solicited());
    contact.tasks = vec![task(7, JobKind::FactoryReset, TargetState::Queued)];
    let reset = handle(contact.clone(), &settings);
    assert_eq!(reset.reply.action, Action::Restart);
    // guide p. 51
    assert_eq!(
        reset.reply.items,
        vec![Item::new("restart-password", "124816"), Item::new("restart-type", "FactoryReset")]
    );
    assert_eq!(update_states(&reset), vec![(7, TargetState::Running, true)]);

    // A solicited contact instead of a start-up means the phone did not reset: send it again.
    let mut again = contact.clone();
    again.tasks = vec![task(7, JobKind::FactoryReset, TargetState::Running)];
    assert_eq!(handle(again, &settings).reply.action, Action::Restart);

    // A queued factory reset is not satisfied by a start-up; a running one is, and the phone,
    // back in delivery state, is read in full.
    let mut start_up = known(guide("p33-start-up.xml"));
    start_up.tasks = vec![task(7, JobKind::FactoryReset, TargetState::Queued)];
    assert_eq!(handle(start_up.clone(), &settings).reply.action, Action::Restart);
    start_up.tasks = vec![task(7, JobKind::FactoryReset, TargetState::Running)];
    let back = handle(start_up, &settings);
    assert_eq!(update_states(&back), vec![(7, TargetState::Done, false)]);
    assert_eq!(back.reply.action, Action::ReadAllItems);
}

#[test]
fn a_busy_phone_puts_its_jobs_to_waiting_busy_and_a_refusal_fails_only_the_job_at_work() {
    let settings = EngineSettings::default();
    let read_job = JobKind::ReadItems { items: vec![ItemKey::new("reg-addr", None)] };
    let mut contact = known(solicited());
    contact.tasks = vec![
        task(1, read_job.clone(), TargetState::Contacting),
        task(2, JobKind::Restart, TargetState::Queued),
    ];
    let reading = handle(contact.clone(), &settings);
    assert_eq!(reading.reply.action, Action::ReadItems);

    let mut busy = input(reply(Action::ReadItems, ReplyStatus::Busy, vec![]));
    busy.device = reading.device.clone();
    busy.interaction = Some(saved_state(&reading));
    busy.tasks =
        vec![task(1, read_job.clone(), TargetState::Running), task(2, JobKind::Restart, TargetState::Queued)];
    let decision = handle(busy.clone(), &settings);
    assert_eq!(decision.reply.items, vec![Item::new("send-solicited", "true")]);
    assert_eq!(
        update_states(&decision),
        vec![(1, TargetState::WaitingBusy, false), (2, TargetState::WaitingBusy, false)]
    );

    let mut failed = busy;
    failed.message.reason.status = Some(ReplyStatus::Failed);
    let decision = handle(failed, &settings);
    assert_eq!(update_states(&decision), vec![(1, TargetState::Failed, false)]);
    assert!(decision.error.is_some());
}

#[test]
fn a_start_up_satisfies_a_restart_not_yet_sent() {
    let mut start_up = known(guide("p33-start-up.xml"));
    start_up.tasks = vec![task(4, JobKind::Restart, TargetState::Contacting)];
    let decision = handle(start_up, &EngineSettings::default());
    assert_eq!(update_states(&decision), vec![(4, TargetState::Done, false)]);
    assert_eq!(decision.reply.action, Action::CleanUp);
}

#[test]
fn a_wbm_certificate_job_asks_for_its_certificate_sends_it_and_verifies_it() {
    let jobs = vec![task(9, JobKind::DeployWbmCertificate, TargetState::Queued)];
    let asking = decide(&Input { tasks: jobs.clone(), ..known(solicited()) }, &EngineSettings::default());
    assert!(
        matches!(asking, Outcome::Needs(Need::WbmCertificate)),
        "the caller makes the certificate, then decides again: {asking:?}"
    );

    let mut with = Input { tasks: jobs.clone(), ..known(solicited()) };
    with.security.wbm_certificate = Some(Ok("UEtDUzEy".into()));
    let sent = handle(with, &EngineSettings::default());
    // guide p. 60 step 1.
    assert_eq!(sent.reply.action, Action::WriteItems);
    assert_eq!(sent.reply.items, [Item::new("wbm-server-certificate", "UEtDUzEy")]);
    let mut accepted =
        Input { tasks: jobs.clone(), ..known(reply(Action::WriteItems, ReplyStatus::Accepted, vec![])) };
    accepted.interaction = Some(saved_state(&sent));
    let verify = handle(accepted, &EngineSettings::default());
    // p. 60 step 3.
    assert_eq!(verify.reply.items, [Item::new("wbm-server-certificate-info", "")]);
    let info = vec![Item::new("wbm-server-certificate-info", "subject=CN=10.0.0.5")];
    let mut read =
        Input { tasks: jobs.clone(), ..known(reply(Action::ReadItems, ReplyStatus::Accepted, info)) };
    read.interaction = Some(saved_state(&verify));
    let done = handle(read, &EngineSettings::default());
    assert_eq!(done.reply.action, Action::CleanUp);
    assert!(
        matches!(&done.task_updates[..], [u] if u.state == TargetState::Done && u.detail.contains("10.0.0.5"))
    );

    let mut failed = Input { tasks: jobs, ..known(solicited()) };
    failed.security.wbm_certificate = Some(Err("no CA".into()));
    let decision = handle(failed, &EngineSettings::default());
    assert_eq!(decision.reply.action, Action::CleanUp);
    assert!(
        matches!(&decision.task_updates[..], [u] if u.state == TargetState::Failed && u.detail.contains("no CA"))
    );
}
