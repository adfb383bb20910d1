//! The backends the contract suite runs against. Each gives a fresh, empty store and something
//! that keeps it alive until the test ends (a temporary directory, a database to drop).

use std::any::Any;
use std::future::Future;

use opendls_store::Store;

/// What keeps a fresh store alive; dropped when the test ends.
pub type Keep = Box<dyn Any + Send>;

/// A backend under test.
pub trait Backend {
    /// Its store.
    type Store: Store + Clone;
    /// A fresh, empty, migrated store.
    fn fresh() -> impl Future<Output = (Self::Store, Keep)> + Send;
}

/// The embedded SQLite backend, in a temporary directory.
pub struct Sqlite;

impl Backend for Sqlite {
    type Store = opendls_store::SqliteStore;

    async fn fresh() -> (Self::Store, Keep) {
        let dir = tempfile::tempdir().unwrap();
        let store = opendls_store::SqliteStore::open(&dir.path().join("test.db")).await.unwrap();
        (store, Box::new(dir))
    }
}

/// The PostgreSQL backend, in a schema of its own on the server `OPENDLS_TEST_POSTGRES` names
/// (`postgres://user:password@127.0.0.1/db`; the user may create schemas). The schema is dropped
/// when the test ends.
pub struct Postgres;

/// The variable that names the test server.
pub const POSTGRES_URL: &str = "OPENDLS_TEST_POSTGRES";

/// The test server's address; `None` (with a note on stderr) when none is configured.
pub fn postgres_url() -> Option<String> {
    match std::env::var(POSTGRES_URL) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("OPENDLS_REQUIRE_POSTGRES").is_none(),
                "OPENDLS_REQUIRE_POSTGRES is set but {POSTGRES_URL} is not"
            );
            eprintln!("PostgreSQL contract test skipped: set {POSTGRES_URL} to run it");
            None
        }
    }
}

impl Backend for Postgres {
    type Store = opendls_store::PostgresStore;

    async fn fresh() -> (Self::Store, Keep) {
        let url = postgres_url().expect("checked by the suite before");
        let (scoped, keep) = opendls_store::postgres::testing::scratch_schema(&url).await;
        let dir = tempfile::tempdir().unwrap();
        let keys =
            opendls_store::secrets::SecretKeys::load_or_create(&dir.path().join("secrets.key")).unwrap();
        let store = opendls_store::PostgresStore::open(&scoped, keys, 4).await.unwrap();
        (store, Box::new((keep, dir)))
    }
}
