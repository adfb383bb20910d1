//! Which store a configuration names (`database.url`), and opening it.

use std::path::PathBuf;
use std::sync::Arc;

use opendls_store::postgres::redacted_url;
use opendls_store::{PostgresStore, SqliteStore};

use crate::{Config, DATABASE_FILE, StartError, data_dir};

/// A backend named by `database.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The embedded SQLite database in the data directory (an empty URL).
    Sqlite,
    /// A PostgreSQL server, at this address.
    Postgres(String),
}

impl Backend {
    /// The backend `url` names, or why it names none.
    pub fn of(url: &str) -> Result<Backend, String> {
        match url.trim() {
            "" => Ok(Backend::Sqlite),
            url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Backend::Postgres(url.to_owned()))
            }
            other => Err(format!(
                "{} is neither empty (the embedded SQLite database) nor a postgres:// address",
                redacted_url(other)
            )),
        }
    }
}

/// Opens (creating and migrating if needed) the SQLite database in the data directory, with the
/// key that seals secrets, and re-seals what an older key sealed.
pub(crate) async fn open_sqlite(config: Config, data_dir: PathBuf) -> Result<Arc<SqliteStore>, StartError> {
    data_dir::create_private_file(&data_dir.join(DATABASE_FILE))?;
    let keys = opendls_store::secrets::SecretKeys::load_or_create(&config.secrets_key_path())?;
    let store = Arc::new(SqliteStore::open_with_keys(&data_dir.join(DATABASE_FILE), keys).await?);
    store.set_synchronous(config.database.synchronous).await?;
    let resealed = store.reseal_secrets_if_key_changed().await?;
    if resealed > 0 {
        tracing::info!(resealed, "secrets not yet sealed with the current key were sealed");
    }
    Ok(store)
}

/// Connects to the PostgreSQL database at `url` (migrating it if this node is the first of a
/// newer release), with the key that seals secrets, and re-seals what an older key sealed.
pub(crate) async fn open_postgres(config: Config, url: String) -> Result<Arc<PostgresStore>, StartError> {
    let keys = opendls_store::secrets::SecretKeys::load_or_create(&config.secrets_key_path())?;
    let pool_size = usize::try_from(config.database.pool_size).unwrap_or(usize::MAX);
    let store = Arc::new(PostgresStore::open(&url, keys, pool_size).await?);
    tracing::info!(database = %redacted_url(&url), pool_size, "using PostgreSQL");
    let resealed = store.reseal_secrets_if_key_changed().await?;
    if resealed > 0 {
        tracing::info!(resealed, "secrets not yet sealed with the current key were sealed");
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::Backend;

    #[test]
    fn the_database_url_names_the_backend() {
        assert_eq!(Backend::of(""), Ok(Backend::Sqlite));
        assert_eq!(
            Backend::of("postgres://u:p@127.0.0.1/opendls"),
            Ok(Backend::Postgres("postgres://u:p@127.0.0.1/opendls".into()))
        );
        let refused = Backend::of("mysql://u:secret@db/opendls").unwrap_err();
        assert!(refused.contains("postgres://") && !refused.contains("secret"), "{refused}");
    }
}
