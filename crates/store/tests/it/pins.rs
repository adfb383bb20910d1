//! Firmware pins: which phones get a target in a pin's job, and when not.

use opendls_engine::{Deployable, FileOnPhone, JobKind, TargetState};
use opendls_store::jobs::{JobStore, NewJob, TargetSelector};
use opendls_store::{NewPin, PinLimits, Store};

use crate::backend::Backend;
use crate::jobs::store_with_devices;

fn image(version: &str) -> Deployable {
    Deployable {
        file_id: 1,
        sha256: "ab".repeat(32),
        on_phone: FileOnPhone { name: "os.img".into(), file_type: "APP".into() },
        version: Some(version.into()),
        models: Vec::new(),
    }
}

fn pin(model: &str, group: Option<&str>, version: &str) -> NewPin {
    NewPin {
        model: model.into(),
        group: group.map(str::to_owned),
        image: image(version),
        allow_downgrade: false,
    }
}

const LIMITS: PinLimits = PinLimits { max_concurrent: 10, hold_off_secs: 3600 };

async fn targets(store: &impl Store, job: i64) -> Vec<(String, TargetState)> {
    store.job(job).await.unwrap().unwrap().targets.into_iter().map(|t| (t.mac, t.state)).collect()
}

pub async fn a_pin_targets_its_models_older_phones_within_the_limit<B: Backend>() {
    let (store, _keep) = store_with_devices::<B>().await;
    // Devices 1 and 2 are OpenStage 60s on V3 R1.0.0 and V3 R2.0.0; 3 and 4 OpenStage 40s.
    let pinned = store.set_firmware_pin(pin("OpenStage 60", None, "V3 R1.5.0"), 200).await.unwrap();
    let limited = PinLimits { max_concurrent: 1, ..LIMITS };
    assert_eq!(store.apply_firmware_pins(210, limited).await.unwrap(), 1, "newer phone 2 is left alone");
    assert_eq!(targets(&store, pinned.job_id).await, [("00:1A:E8:00:00:01".to_owned(), TargetState::Queued)]);
    assert_eq!(store.apply_firmware_pins(220, LIMITS).await.unwrap(), 0, "nothing more to do");
    assert_eq!(store.firmware_pins().await.unwrap(), std::slice::from_ref(&pinned));

    // Setting the pin again replaces its job; removing it cancels the job.
    let again = store.set_firmware_pin(pin("OpenStage 60", None, "V3 R9.0.0"), 300).await.unwrap();
    assert_ne!(again.job_id, pinned.job_id);
    assert_eq!(targets(&store, pinned.job_id).await[0].1, TargetState::Cancelled);
    assert_eq!(store.apply_firmware_pins(310, LIMITS).await.unwrap(), 2);
    let removed = store.remove_firmware_pin("OpenStage 60".into(), None, 320).await.unwrap();
    assert_eq!(removed.map(|p| p.job_id), Some(again.job_id));
    assert!(targets(&store, again.job_id).await.iter().all(|(_, state)| *state == TargetState::Cancelled));
}

pub async fn a_group_pin_wins_and_another_firmware_job_goes_first<B: Backend>() {
    let (store, _keep) = store_with_devices::<B>().await;
    // Device 4 is an OpenStage 40 in group lobby; device 3 an OpenStage 40 in no group.
    let model = store.set_firmware_pin(pin("OpenStage 40", None, "V3 R9.0.0"), 200).await.unwrap();
    let lobby = store.set_firmware_pin(pin("OpenStage 40", Some("lobby"), "V3 R8.0.0"), 200).await.unwrap();
    // An administrator's own firmware job for device 3 is unfinished: the pin waits for it.
    let own = NewJob {
        kind: JobKind::DeployFirmware { image: image("V3 R7.0.0"), allow_downgrade: false, immediate: false },
        targets: TargetSelector::Devices { macs: vec!["00:1A:E8:00:00:03".into()] },
        contact_me: true,
        give_up_at: 10_000,
        rollout: None,
    };
    store.create_job(&own, 200).await.unwrap().unwrap();
    assert_eq!(store.apply_firmware_pins(210, LIMITS).await.unwrap(), 1);
    assert!(
        targets(&store, model.job_id).await.is_empty(),
        "device 3 has its own job; device 4 its group's pin"
    );
    assert_eq!(targets(&store, lobby.job_id).await, [("00:1A:E8:00:00:04".to_owned(), TargetState::Queued)]);
}

pub async fn phones_newer_than_the_pin_never_crowd_out_older_ones<B: Backend>() {
    use opendls_store::AdminStore;
    let (store, _keep) = B::fresh().await;
    // 600 newer phones sort first by MAC; 3 older ones come last.
    let devices: Vec<opendls_engine::DeviceRecord> = (0..603u32)
        .map(|n| {
            let mut device = opendls_engine::DeviceRecord::new(
                format!("00:1A:E8:00:{:02X}:{:02X}", n >> 8, n & 0xff),
                100,
            );
            device.device_type = Some("OpenStage 60".into());
            device.software_version = Some(if n < 600 { "V3 R9.0.0" } else { "V3 R1.0.0" }.into());
            device
        })
        .collect();
    store.import_devices(&devices).await.unwrap();
    let pinned = store.set_firmware_pin(pin("OpenStage 60", None, "V3 R5.0.0"), 200).await.unwrap();
    assert_eq!(store.apply_firmware_pins(210, LIMITS).await.unwrap(), 3);
    assert_eq!(targets(&store, pinned.job_id).await.len(), 3);
}
