//! `opendls migrate --from sqlite:PATH --to postgres://…`: an installation that started on
//! SQLite moves to PostgreSQL, where several nodes can serve it (docs/scale-out.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

/// Copies the SQLite installation `from` into the PostgreSQL database `to`.
pub fn run(from: &str, to: &str, secrets_key_file: Option<PathBuf>) -> Result<ExitCode> {
    let Some(path) = from.strip_prefix("sqlite:") else {
        bail!("--from {from:?}: expected sqlite:PATH (the database file or its data directory)");
    };
    if !matches!(opendls_server::backend::Backend::of(to), Ok(opendls_server::backend::Backend::Postgres(_)))
    {
        bail!("--to: expected postgres://user:password@host:5432/db");
    }
    let path = Path::new(path);
    let database = if path.is_dir() { path.join(opendls_server::DATABASE_FILE) } else { path.to_owned() };
    if !database.is_file() {
        bail!("no SQLite database at {}", database.display());
    }
    let data_dir = database.parent().context("the database file's directory")?.to_owned();
    let config = opendls_server::Config {
        data_dir: data_dir.clone(),
        secrets_key_file: secrets_key_file.clone(),
        ..opendls_server::Config::default()
    };
    let key_file = config.secrets_key_path();
    if !key_file.is_file() {
        bail!(
            "no secrets key file at {}: the copied secrets could not be opened without it",
            key_file.display()
        );
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
        // First: a database whose nodes already share other keys is refused before any row moves.
        opendls_server::cluster::share_key_material(&config, to, now).await?;
        let copied = opendls_store::copy::sqlite_to_postgres(&database, to, &key_file).await?;
        println!("{:<22} {:>10} {:>10}", "TABLE", "SQLITE", "POSTGRES");
        for table in &copied {
            println!("{:<22} {:>10} {:>10}", table.table, table.source, table.target);
        }
        let rows: i64 = copied.iter().map(|t| t.target).sum();
        eprintln!(
            "copied {rows} rows of {} tables from {} to {}; every count matches. The keys of {} are \
             shared there: start the nodes with --database",
            copied.len(),
            database.display(),
            opendls_store::postgres::redacted_url(to),
            data_dir.display()
        );
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
