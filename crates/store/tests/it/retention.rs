//! Retention: history pruned by age and by count per device, and nothing else touched.

use opendls_engine::{HistoryEvent, InteractionChange};
use opendls_store::{AdminStore, PhoneStore, RetentionStore};

use crate::backend::Backend;
use crate::phone::{MAC, decide, start_up};

const OTHER: &str = "00:1A:E8:00:00:42";

pub async fn history_is_pruned_by_age_and_by_count_per_device<B: Backend>() {
    let (store, _keep) = B::fresh().await;
    // A phone's first contact, then four later events at 2000 … 5000.
    let first = decide(&store, start_up(), None, 1000).await;
    for n in 2..=5 {
        let mut later = first.clone();
        later.interaction = InteractionChange::End(None);
        later.supersedes_interactions_of = None;
        later.history =
            vec![HistoryEvent { at: n * 1000, detail: format!("event {n}"), ..first.history[0].clone() }];
        store.apply(later, n * 1000).await.unwrap();
    }
    // Another phone with one recent event: under every limit.
    let mut other = first.clone();
    other.interaction = InteractionChange::End(None);
    other.supersedes_interactions_of = None;
    other.device.as_mut().unwrap().mac = OTHER.into();
    other.history = vec![HistoryEvent { mac: OTHER.into(), at: 4000, ..first.history[0].clone() }];
    store.apply(other, 4000).await.unwrap();
    let all = store.history(MAC, 0, 1000).await.unwrap();
    assert!(all.len() >= 5, "{all:?}");
    let at = |events: &[HistoryEvent]| events.iter().map(|e| e.at).collect::<Vec<_>>();

    let pruned = store.prune_history(Some(2500), None).await.unwrap();
    let left = store.history(MAC, 0, 1000).await.unwrap();
    assert_eq!(pruned.by_age as usize, all.len() - left.len());
    assert!(at(&left).iter().all(|at| *at >= 2500) && !left.is_empty(), "{:?}", at(&left));

    let pruned = store.prune_history(None, Some(2)).await.unwrap();
    let newest = store.history(MAC, 0, 1000).await.unwrap();
    assert_eq!(newest.len(), 2);
    assert_eq!(newest[..], left[..2], "the newest are kept");
    assert_eq!(pruned.by_count as usize, left.len() - 2);
    assert_eq!(
        store.prune_history(Some(0), Some(2)).await.unwrap(),
        Default::default(),
        "nothing left to prune"
    );
    assert!(AdminStore::device(&store, MAC).await.unwrap().is_some(), "the device stays");
    assert_eq!(store.history(OTHER, 0, 10).await.unwrap().len(), 1, "a device under the limits keeps all");
}
