//! What only the SQLite backend has: a database file reopened, and one from an earlier build.

use opendls_engine::{InteractionChange, ItemKey};
use opendls_store::{AdminStore, SqliteStore};
use opendls_wpi::Item;

use crate::phone::{MAC, decide, read_reply, start_up};

#[tokio::test]
async fn the_reported_state_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test.db");
    {
        let store = SqliteStore::open(&path).await.unwrap();
        let first = decide(&store, start_up(), None, 1000).await;
        let InteractionChange::Start(state) = first.interaction else { panic!() };
        let mut items = start_up().items;
        items.push(Item::indexed("key-label-unicode", 1001, "Hold & \"more\""));
        decide(&store, read_reply(items), Some(&state.session_id), 1001).await;
        store.close().await;
    }
    let store = SqliteStore::open(&path).await.unwrap();
    let device = AdminStore::device(&store, MAC).await.unwrap().unwrap();
    assert_eq!(device.inventory_read_at, Some(1001));
    assert_eq!(
        device.reported_value(&ItemKey::new("key-label-unicode", Some(1001))),
        Some("Hold & \"more\"")
    );
    assert_eq!(device.reported.len(), 15);
}

#[tokio::test]
async fn a_database_from_an_earlier_build_is_recognised_and_kept() {
    // Earlier builds applied the first schema with sqlx's migrator, which leaves user_version at 0.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection.execute_batch(include_str!("../../migrations/sqlite/0001_initial.sql")).unwrap();
        connection
            .execute(
                "INSERT INTO devices (mac, first_seen, last_contact, last_reason) VALUES ('00:1A:E8:00:00:09', 1, 1, 'start-up')",
                [],
            )
            .unwrap();
    }
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(store.list_devices().await.unwrap().len(), 1, "the existing data is kept");
    decide(&store, start_up(), None, 1000).await;
    assert_eq!(store.list_devices().await.unwrap().len(), 2);
}
