use opendls_engine::{
    Decision, DesiredEntry, EngineSettings, InteractionChange, ItemKey, LocalChangePolicy, Scope,
};
use opendls_store::{AdminStore, InteractionLookup, PhoneStore, Store};

use crate::backend::Backend;
use opendls_wpi::{
    Action, Fragment, Item, ReasonForContact, ReplyStatus, WorkpointMessage, parse_workpoint_message,
};

pub(crate) const MAC: &str = "00:01:E3:00:A9:F3";

pub(crate) fn start_up() -> WorkpointMessage {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../wpi/tests/fixtures/guide/p33-start-up.xml");
    parse_workpoint_message(&std::fs::read(path).unwrap()).unwrap()
}

/// The interaction a request continues, looked up as the phone endpoint does.
pub(crate) async fn find(
    store: &impl Store,
    session: Option<&str>,
    remote_addr: &str,
    not_before: i64,
) -> Option<opendls_engine::InteractionState> {
    let lookup = InteractionLookup {
        session_id: session.map(str::to_owned),
        remote_addr: remote_addr.into(),
        not_before,
        device_hint: None,
    };
    store.request_context(Some(lookup), None, |_| None).await.unwrap().interaction
}

/// The record of a client certificate, looked up as the secure port does.
pub(crate) async fn certificate_record(
    store: &impl Store,
    fingerprint: &str,
) -> Option<opendls_engine::CertificateRecord> {
    store.request_context(None, Some(fingerprint.into()), |_| None).await.unwrap().certificate
}

pub(crate) async fn decide(
    store: &impl Store,
    message: WorkpointMessage,
    session: Option<&str>,
    now: i64,
) -> Decision {
    let lookup = (message.reason.reason == opendls_wpi::Reason::ReplyTo).then(|| InteractionLookup {
        session_id: session.map(str::to_owned),
        remote_addr: "127.0.0.1".into(),
        not_before: now - 300,
        device_hint: None,
    });
    let (reason, reported) = (message.reason.reason.clone(), message.value("mac-addr").map(str::to_owned));
    let request = store
        .request_context(lookup, None, move |found| {
            opendls_engine::device_mac_of(&reason, reported.as_deref(), found)
        })
        .await
        .unwrap();
    assert!(request.mac.is_some(), "the device is told");
    let input = request.context.into_input(
        message,
        request.interaction,
        now,
        "127.0.0.1".into(),
        format!("S{now}"),
        LocalChangePolicy::default(),
    );
    let decision = opendls_engine::decide(&input, &EngineSettings::default())
        .decision()
        .expect("no outside needs in this test");
    store.apply(decision.clone(), now).await.unwrap();
    decision
}

pub(crate) fn read_reply(items: Vec<Item>) -> WorkpointMessage {
    WorkpointMessage {
        nonce: "R".into(),
        max_items: Some(-1),
        fragment: Some(Fragment::Final),
        reason: ReasonForContact::reply_to(Action::ReadAllItems, ReplyStatus::Accepted),
        items,
    }
}

pub async fn a_decision_is_stored_and_read_back<B: Backend>() {
    let (store, _keep) = B::fresh().await;
    let first = decide(&store, start_up(), None, 1000).await;
    let InteractionChange::Start(state) = &first.interaction else { panic!("no interaction started") };

    let device = AdminStore::device(&store, MAC).await.unwrap().unwrap();
    assert_eq!(Some(&device), first.device.as_ref());
    let found = find(&store, Some(&state.session_id), "10.9.9.9", 0).await;
    assert_eq!(found.as_ref(), Some(state));
    assert_eq!(find(&store, Some(&state.session_id), "127.0.0.1", 2000).await, None, "expired");

    let history = store.history(MAC, 0, 10).await.unwrap();
    assert_eq!(history, first.history);
    assert_eq!(store.list_devices().await.unwrap()[0].mac, MAC);
}

pub async fn interactions_are_found_by_address_only_when_unambiguous<B: Backend>() {
    let (store, _keep) = B::fresh().await;
    decide(&store, start_up(), None, 1000).await;
    assert!(find(&store, None, "127.0.0.1", 0).await.is_some());
    let mut other = start_up();
    other.items.retain(|i| i.name != "mac-addr");
    other.items.push(Item::new("mac-addr", "00:1A:E8:00:00:02"));
    decide(&store, other, None, 1001).await;
    assert!(find(&store, None, "127.0.0.1", 0).await.is_none(), "two phones behind one address");
}

pub async fn a_new_contact_supersedes_the_devices_old_interactions<B: Backend>() {
    let (store, _keep) = B::fresh().await;
    let first = decide(&store, start_up(), None, 1000).await;
    let InteractionChange::Start(old) = first.interaction else { panic!() };
    decide(&store, start_up(), None, 1001).await;
    assert!(find(&store, Some(&old.session_id), "10.0.0.1", 0).await.is_none());
}

pub async fn desired_values_failures_and_policies<B: Backend>() {
    let (store, _keep) = B::fresh().await;
    decide(&store, start_up(), None, 1000).await;
    store.assign_group(MAC, &["sales".to_owned()]).await.unwrap();
    let entries = [
        DesiredEntry { scope: Scope::Global, key: ItemKey::new("sntp-addr", None), value: "g".into() },
        DesiredEntry {
            scope: Scope::Group("sales".into()),
            key: ItemKey::new("sntp-addr", None),
            value: "s".into(),
        },
        DesiredEntry {
            scope: Scope::Group("other".into()),
            key: ItemKey::new("sntp-addr", None),
            value: "o".into(),
        },
        DesiredEntry {
            scope: Scope::Device(MAC.into()),
            key: ItemKey::new("XML-app-name", Some(3)),
            value: "d".into(),
        },
    ];
    for entry in &entries {
        store.set_desired(std::slice::from_ref(entry), 1000).await.unwrap();
    }
    let context = store.device_context(MAC).await.unwrap();
    assert_eq!(context.desired.len(), 3, "the other group's entry does not apply");
    assert!(context.desired.contains(&entries[3]), "indexes survive");
    assert_eq!(context.policy, None, "nothing stored: the service's configured default applies");
    store.set_policy(None, LocalChangePolicy::Flag).await.unwrap();
    assert_eq!(store.device_context(MAC).await.unwrap().policy, Some(LocalChangePolicy::Flag));
    store.set_policy(Some("sales"), LocalChangePolicy::Accept).await.unwrap();
    assert_eq!(
        store.device_context(MAC).await.unwrap().policy,
        Some(LocalChangePolicy::Accept),
        "group beats global"
    );
    assert!(store.unset_desired(&Scope::Global, &ItemKey::new("sntp-addr", None)).await.unwrap());
    assert!(!store.unset_desired(&Scope::Global, &ItemKey::new("sntp-addr", None)).await.unwrap());
    assert_eq!(store.desired(Some(&Scope::Group("sales".into()))).await.unwrap().len(), 1);
    assert_eq!(store.desired(None).await.unwrap().len(), 3);
}

pub async fn devices_are_imported_in_bulk_and_keep_their_groups<B: Backend>() {
    let (store, _keep) = B::fresh().await;
    let devices: Vec<_> = (0..2500u32)
        .map(|n| {
            let mut device =
                opendls_engine::DeviceRecord::new(format!("00:1A:E8:00:{:02X}:{:02X}", n / 256, n % 256), 10);
            device.e164 = Some(n.to_string());
            device
        })
        .collect();
    store.import_devices(&devices).await.unwrap();
    assert_eq!(store.list_devices().await.unwrap().len(), 2500);
    store.assign_group("00:1A:E8:00:00:07", &["lab".to_owned()]).await.unwrap();
    store.import_devices(&devices[..10]).await.unwrap();
    let device = AdminStore::device(&store, "00:1A:E8:00:00:07").await.unwrap().unwrap();
    assert_eq!((device.group.as_deref(), device.e164.as_deref()), (Some("lab"), Some("7")));
}

pub async fn one_request_read_finds_the_interaction_and_then_its_device<B: Backend>() {
    let (store, _keep) = B::fresh().await;
    let first = decide(&store, start_up(), None, 1000).await;
    let InteractionChange::Start(state) = &first.interaction else { panic!("no interaction started") };
    let lookup = InteractionLookup {
        session_id: Some(state.session_id.clone()),
        remote_addr: "127.0.0.1".into(),
        not_before: 900,
        device_hint: None,
    };
    // The device is chosen from the interaction found, as the engine's device_mac does.
    let request = store
        .request_context(Some(lookup.clone()), Some("fp-unknown".into()), |found| {
            found.map(|s| s.mac.clone())
        })
        .await
        .unwrap();
    assert_eq!(request.interaction.as_ref(), Some(state));
    assert_eq!(request.mac.as_deref(), Some(MAC));
    assert_eq!(request.context.device, store.device_context(MAC).await.unwrap().device);
    assert_eq!(request.certificate, None);
    // A hint is a guess: the interaction says whose it is, right or wrong.
    for hint in ["00:1A:E8:00:00:99", MAC] {
        let hinted = InteractionLookup { device_hint: Some(hint.into()), ..lookup.clone() };
        let request =
            store.request_context(Some(hinted), None, |found| found.map(|s| s.mac.clone())).await.unwrap();
        assert_eq!(request.mac.as_deref(), Some(MAC), "hint {hint}");
        assert_eq!(request.context.device.as_ref().map(|d| d.mac.as_str()), Some(MAC), "hint {hint}");
    }
    // Past its timeout the interaction is not found, and no device is read.
    let stale = InteractionLookup { not_before: 2000, ..lookup };
    let request =
        store.request_context(Some(stale), None, |found| found.map(|s| s.mac.clone())).await.unwrap();
    assert!(request.interaction.is_none() && request.mac.is_none() && request.context.device.is_none());
}
