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
