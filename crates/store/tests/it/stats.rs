//! Counting the fleet for the metrics: devices by model, firmware, state and recency; jobs by
//! kind and state; certificates by state (in `security`).

use opendls_engine::JobKind;
use opendls_store::jobs::{JobStore, TargetSelector};
use opendls_store::stats::{JobCount, Labelled, StatsStore};

use crate::backend::Backend;
use crate::jobs::store_with_devices;

fn labelled(pairs: &[(&str, u64)]) -> Vec<Labelled> {
    pairs.iter().map(|(label, count)| Labelled { label: (*label).into(), count: *count }).collect()
}

pub async fn the_fleet_is_counted_by_model_firmware_state_and_jobs<B: Backend>() {
    let (store, _keep) = store_with_devices::<B>().await;
    let empty = store.fleet_stats(100).await.unwrap();
    assert_eq!((empty.devices, empty.seen_last_hour), (4, 4), "the four devices were seen at 100");
    assert!(empty.jobs.is_empty() && empty.certificates.is_empty());

    let all = TargetSelector::Devices { macs: vec!["00:1A:E8:00:00:01".into(), "00:1A:E8:00:00:02".into()] };
    let new = |kind| opendls_store::NewJob {
        kind,
        targets: all.clone(),
        contact_me: false,
        give_up_at: 10_000,
        rollout: None,
    };
    store.create_job(&new(JobKind::Restart), 100).await.unwrap().unwrap();
    let cancelled = store.create_job(&new(JobKind::Restart), 100).await.unwrap().unwrap();
    store.cancel_job(cancelled.id, 101).await.unwrap();
    store.create_job(&new(JobKind::ApplyConfiguration), 100).await.unwrap().unwrap();

    // Two hours later: none in the last hour, all four in the last day.
    let stats = store.fleet_stats(100 + 2 * 3600).await.unwrap();
    assert_eq!((stats.devices, stats.seen_last_hour, stats.seen_last_day), (4, 0, 4));
    assert_eq!(stats.by_model, labelled(&[("OpenStage 40", 2), ("OpenStage 60", 2)]));
    assert_eq!(stats.by_firmware.len(), 4);
    assert_eq!(stats.by_security_state, labelled(&[("default", 4)]));
    let jobs: Vec<_> =
        stats.jobs.iter().map(|j: &JobCount| (j.kind.as_str(), j.state.as_str(), j.count)).collect();
    assert_eq!(
        jobs,
        [("apply-configuration", "running", 1), ("restart", "cancelled", 1), ("restart", "running", 1)]
    );
    // A day and more later, nobody counts as recently seen.
    assert_eq!(store.fleet_stats(100 + 2 * 86_400).await.unwrap().seen_last_day, 0);
}
