//! Browsing and cleaning up the fleet: filters, pages, groups, policies, removals.

use opendls_engine::{DesiredEntry, DeviceRecord, ItemKey, LocalChangePolicy, Scope};
use opendls_store::{AdminStore, DeviceFilter, FleetStore};

use crate::backend::Backend;

fn device(n: u32, model: &str, firmware: &str, last_contact: i64) -> DeviceRecord {
    let mut device = DeviceRecord::new(format!("00:1A:E8:00:00:{n:02X}"), last_contact);
    device.device_type = Some(model.into());
    device.software_version = Some(firmware.into());
    device
}

pub async fn devices_are_filtered_and_paged<B: Backend>() {
    let (store, _keep) = B::fresh().await;
    let devices = [
        device(1, "OpenStage 60", "V3 R5.12.0", 100),
        device(2, "OpenStage 40", "V3 R5.12.0", 200),
        device(3, "OpenScape Desk Phone CP210", "V1 R7.1.0", 300),
        device(4, "OpenStage 60", "V3 R3.1.0", 400),
    ];
    store.import_devices(&devices).await.unwrap();
    store.assign_group("00:1A:E8:00:00:04", &["sales".to_owned()]).await.unwrap();
    let find = |filter: DeviceFilter, offset, limit| {
        let store = &store;
        async move {
            let page = store.find_devices(&filter, offset, limit).await.unwrap();
            (page.devices.iter().map(|d| d.mac[15..].to_owned()).collect::<Vec<_>>(), page.total)
        }
    };
    let model = |m: &str| DeviceFilter { model: Some(m.into()), ..DeviceFilter::default() };
    assert_eq!(find(model("openstage 6*"), 0, 10).await, (vec!["01".into(), "04".into()], 2));
    assert_eq!(find(DeviceFilter::default(), 1, 2).await, (vec!["02".into(), "03".into()], 4));
    let firmware = DeviceFilter { firmware: Some("V3 R5*".into()), ..DeviceFilter::default() };
    assert_eq!(find(firmware, 0, 10).await.1, 2);
    let grouped = DeviceFilter { group: Some("sales".into()), ..DeviceFilter::default() };
    assert_eq!(find(grouped, 0, 10).await.0, ["04"]);
    let ungrouped = DeviceFilter { group: Some("-".into()), ..DeviceFilter::default() };
    assert_eq!(find(ungrouped, 0, 10).await.1, 3);
    let recent =
        DeviceFilter { seen_since: Some(250), state: Some("default".into()), ..DeviceFilter::default() };
    assert_eq!(find(recent, 0, 10).await.0, ["03", "04"]);
}

pub async fn groups_are_listed_and_removed_whole<B: Backend>() {
    let (store, _keep) = B::fresh().await;
    store
        .import_devices(&[device(1, "OpenStage 60", "V3", 1), device(2, "OpenStage 60", "V3", 1)])
        .await
        .unwrap();
    store.assign_group("00:1A:E8:00:00:01", &["sales".to_owned()]).await.unwrap();
    let value = DesiredEntry {
        scope: Scope::Group("lobby".into()),
        key: ItemKey::new("sntp-addr", None),
        value: "x".into(),
    };
    store.set_desired(&[value], 1).await.unwrap();
    store.set_policy(Some("lobby"), LocalChangePolicy::Flag).await.unwrap();
    store.set_policy(None, LocalChangePolicy::Revert).await.unwrap();
    let groups = store.groups().await.unwrap();
    let names: Vec<_> =
        groups.iter().map(|g| (g.name.as_str(), g.devices, g.values, g.policy.as_deref())).collect();
    assert_eq!(names, [("lobby", 0, 1, Some("flag")), ("sales", 1, 0, None)]);
    let policies = store.policies().await.unwrap();
    assert_eq!(policies[0].group, None, "global first");
    assert_eq!(policies[1].group.as_deref(), Some("lobby"));

    let removed = store.remove_group("lobby").await.unwrap();
    assert!(removed.found && removed.values_removed == 1);
    let removed = store.remove_group("sales").await.unwrap();
    assert_eq!(removed.devices_ungrouped, 1);
    assert!(store.groups().await.unwrap().is_empty());
    assert!(!store.remove_group("nobody").await.unwrap().found);
}

pub async fn a_removed_device_is_forgotten<B: Backend>() {
    let (store, _keep) = B::fresh().await;
    store.import_devices(&[device(1, "OpenStage 60", "V3", 1)]).await.unwrap();
    let mac = "00:1A:E8:00:00:01";
    let value =
        DesiredEntry { scope: Scope::Device(mac.into()), key: ItemKey::new("e164", None), value: "1".into() };
    store.set_desired(&[value], 1).await.unwrap();
    let removed = store.remove_device(mac, 5).await.unwrap();
    assert!(removed.found && removed.values_removed == 1);
    assert!(AdminStore::device(&store, mac).await.unwrap().is_none());
    assert!(store.desired(None).await.unwrap().is_empty());
    assert!(!store.remove_device(mac, 6).await.unwrap().found);
}

pub async fn desired_values_are_read_by_name<B: Backend>() {
    let (store, _keep) = B::fresh().await;
    let entry =
        |scope: Scope, name: &str| DesiredEntry { scope, key: ItemKey::new(name, None), value: "v".into() };
    let entries = [
        entry(Scope::Global, "dcmp-url"),
        entry(Scope::Group("b".into()), "dcmp-interval"),
        entry(Scope::Global, "e164"),
    ];
    store.set_desired(&entries, 1).await.unwrap();
    let named = store.desired_named(&["dcmp-url", "dcmp-interval"]).await.unwrap();
    let names: Vec<&str> = named.iter().map(|e| e.key.name.as_str()).collect();
    assert_eq!(names, ["dcmp-url", "dcmp-interval"]);
}
