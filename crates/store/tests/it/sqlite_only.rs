//! What only the SQLite backend has: a database file reopened, one from an earlier build, and its
//! schema compared with PostgreSQL's.

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

/// The two backends' schemas hold the same tables and columns (`opendls migrate` copies by
/// column name): a migration added to one backend only fails here. PostgreSQL's extras are
/// `certificates.seq`, its stand-in for SQLite's rowid order, and the stored files' content it
/// keeps for the nodes sharing it (`kept_contents`, `content_chunks`, `removed_contents`).
#[tokio::test]
async fn both_backends_have_the_same_tables_and_columns() {
    let Some(url) = crate::backend::postgres_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schema.db");
    SqliteStore::open(&path).await.unwrap().close().await;
    let sqlite = rusqlite::Connection::open(&path).unwrap();
    let mut sqlite_columns: Vec<String> = sqlite
        .prepare(
            "SELECT m.name || '.' || c.name FROM sqlite_master m, pragma_table_info(m.name) c \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
        )
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let (scoped, _schema) = opendls_store::postgres::testing::scratch_schema(&url).await;
    let keys_dir = tempfile::tempdir().unwrap();
    let keys = opendls_store::secrets::SecretKeys::load_or_create(&keys_dir.path().join("k")).unwrap();
    let store = opendls_store::PostgresStore::open(&scoped, keys, 1).await.unwrap();
    opendls_store::Store::close(&store).await;
    let (client, connection) = tokio_postgres::connect(&scoped, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let mut postgres_columns: Vec<String> = client
        .query(
            "SELECT table_name || '.' || column_name FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name != 'opendls_schema'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<_, String>(0))
        .filter(|column| column != "certificates.seq")
        // Stored files' content, kept only where several nodes share the database.
        .filter(|column| {
            !["kept_contents.", "content_chunks.", "removed_contents."]
                .iter()
                .any(|table| column.starts_with(table))
        })
        .collect();
    sqlite_columns.sort();
    postgres_columns.sort();
    assert_eq!(sqlite_columns, postgres_columns);
}
