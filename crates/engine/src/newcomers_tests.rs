//! First contacts: provisioned devices bound by MAC or E.164, conflicts, and the unknown-device
//! policy. The phone's messages are the guide's (p. 33 start-up, from `00:01:E3:00:A9:F3`,
//! reporting E.164 49897223290).

use opendls_wpi::{Action, Item, ReplyStatus};

use crate::tests::{MAC, basic_items, guide, handle, input, reply, saved_state};
use crate::*;

const NUMBER: &str = "49897223290";

fn provisioned(mac: Option<&str>, e164: &str) -> Provisioned {
    Provisioned {
        id: 7,
        mac: mac.map(str::to_owned),
        e164: Some(e164.to_owned()),
        group: Some("berlin".into()),
        other_groups: vec!["lobby".into()],
        security_mode: None,
        variables: vec![Variable {
            scope: Scope::Global,
            name: "name".into(),
            value: "Alice".into(),
            secret: false,
        }],
        bound_mac: None,
    }
}

fn global(name: &str, value: &str) -> DesiredEntry {
    DesiredEntry { scope: Scope::Global, key: ItemKey::new(name, None), value: value.into() }
}

/// A first contact with `newcomers` and `provisioned`, then the read reply (with `sntp-addr`
/// differing from the desired value): the two decisions.
fn first_contact(newcomers: Newcomers, provisioned: Option<Provisioned>) -> (Decision, Decision) {
    let settings = EngineSettings::default();
    let desired = vec![global("sntp-addr", "time.example")];
    let start =
        Input { desired: desired.clone(), provisioned, newcomers, ..input(guide("p33-start-up.xml")) };
    let first = handle(start, &settings);
    if first.reply.action != Action::ReadAllItems {
        return (first.clone(), first);
    }
    let mut items = basic_items();
    items.push(Item::new("sntp-addr", "pool.ntp.org"));
    let mut read = input(reply(Action::ReadAllItems, ReplyStatus::Accepted, items));
    read.device = first.device.clone();
    read.interaction = Some(saved_state(&first));
    read.desired = desired;
    (first.clone(), handle(read, &settings))
}

#[test]
fn a_provisioned_device_is_bound_by_mac_with_its_group_number_and_variables() {
    let (first, after_read) = first_contact(Newcomers::default(), Some(provisioned(Some(MAC), "4930555")));
    let device = first.device.clone().unwrap();
    assert_eq!((device.group.as_deref(), device.approval), (Some("berlin"), Approval::Approved));
    assert_eq!(device.other_groups, ["lobby"], "every group of the provisioned device, in order");
    assert_eq!(device.e164.as_deref(), Some(NUMBER), "what the phone reports, until the number is written");
    let binding = first.binding.clone().unwrap();
    assert_eq!((binding.provisioned_id, binding.mac.as_str()), (7, MAC));
    assert_eq!(binding.variables[0].scope, Scope::Device(MAC.into()), "variables move to device scope");
    assert_eq!(
        first.desired_set,
        vec![DesiredEntry {
            scope: Scope::Device(MAC.into()),
            key: ItemKey::new("e164", None),
            value: "4930555".into()
        }]
    );
    assert!(
        first.history[0].detail.contains("bound to provisioned device 7 by MAC"),
        "{}",
        first.history[0].detail
    );
    assert_eq!(after_read.reply.action, Action::WriteItems);
}

#[test]
fn a_provisioned_device_is_bound_by_the_reported_e164() {
    let (first, _) = first_contact(Newcomers::default(), Some(provisioned(None, NUMBER)));
    assert!(first.history[0].detail.contains("by E.164"), "{}", first.history[0].detail);
    assert!(first.binding.is_some() && first.binding_conflict.is_none());
}

#[test]
fn a_claim_on_a_device_bound_elsewhere_is_recorded_and_not_bound() {
    let mut taken = provisioned(None, NUMBER);
    taken.bound_mac = Some("00:1A:E8:00:00:99".into());
    let quarantine = Newcomers { policy: UnknownDevicePolicy::Quarantine, default_group: None };
    let (first, after_read) = first_contact(quarantine, Some(taken));
    assert!(first.binding.is_none());
    let conflict = first.binding_conflict.clone().unwrap();
    assert!(conflict.detail.contains("bound to 00:1A:E8:00:00:99"), "{}", conflict.detail);
    let device = first.device.unwrap();
    assert_eq!((device.approval, device.group), (Approval::Pending, None), "the policy decides, not a guess");
    assert_eq!(after_read.reply.action, Action::CleanUp, "a quarantined phone is read, never written");
}

#[test]
fn quarantined_phones_are_read_and_never_written_until_approved() {
    let newcomers = Newcomers { policy: UnknownDevicePolicy::Quarantine, default_group: Some("new".into()) };
    let (first, after_read) = first_contact(newcomers, None);
    assert_eq!(first.reply.action, Action::ReadAllItems, "registered and read");
    let device = after_read.device.clone().unwrap();
    assert_eq!((device.approval, device.group.as_deref()), (Approval::Pending, Some("new")));
    assert_eq!(after_read.reply.action, Action::CleanUp);
    assert!(after_read.reply.items.is_empty());

    // Approved, the next contact writes what differs.
    let approved = DeviceRecord { approval: Approval::Approved, ..device };
    let contact = Input {
        device: Some(approved),
        desired: vec![global("sntp-addr", "time.example")],
        ..input(crate::tests::solicited())
    };
    assert_eq!(handle(contact, &EngineSettings::default()).reply.action, Action::WriteItems);
}

#[test]
fn rejected_phones_get_a_clean_up_with_the_reason_every_time() {
    let newcomers = Newcomers { policy: UnknownDevicePolicy::Reject, default_group: Some("new".into()) };
    let (first, _) = first_contact(newcomers.clone(), None);
    assert_eq!(first.reply.action, Action::CleanUp);
    assert_eq!(first.reply.items, vec![Item::new("cleanup-reason", REJECTED_REASON)]);
    let device = first.device.clone().unwrap();
    assert_eq!((device.approval, device.group.clone()), (Approval::Rejected, None));
    assert!(first.interaction == InteractionChange::End(None));
    let again = Input { device: Some(device), newcomers, ..input(guide("p33-start-up.xml")) };
    let again = handle(again, &EngineSettings::default());
    assert_eq!(again.reply.items, vec![Item::new("cleanup-reason", REJECTED_REASON)]);
    assert!(again.history.is_empty(), "one history entry, not one per contact");
}
