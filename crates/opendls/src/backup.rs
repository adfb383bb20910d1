//! `opendls backup FILE` and `opendls restore FILE`: a whole installation in one encrypted file,
//! made while the service runs, brought back into a data directory (docs/backup.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use opendls_server::Config;
use opendls_server::backup::{BackupOptions, Manifest, RestoreOptions};

use crate::Refused;

/// Where the installation is: the options `backup` and `restore` share.
#[derive(Args)]
pub(crate) struct Installation {
    /// The service's configuration file (its data_dir, database and secrets_key_file are used).
    #[arg(long, env = "OPENDLS_CONFIG")]
    config: Option<PathBuf>,
    /// The data directory (default: ./opendls-data, else /var/lib/opendls).
    #[arg(long, env = "OPENDLS_DATA")]
    data_dir: Option<PathBuf>,
    /// The PostgreSQL database, if the service uses one (its database is backed up with
    /// pg_dump; the backup then holds the keys, certificates and files).
    #[arg(long, env = "OPENDLS_DATABASE_URL", hide_env_values = true, value_name = "URL")]
    database: Option<String>,
    /// A file whose first line is the passphrase (default: `[backup] passphrase_file` of the
    /// configuration, else OPENDLS_BACKUP_PASSPHRASE, else asked for).
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
}

/// `opendls backup` options.
#[derive(Args)]
pub(crate) struct BackupArgs {
    /// The backup file to write (replaced atomically when it exists).
    file: PathBuf,
    /// Leave out the firmware images and files phones download.
    #[arg(long)]
    without_downloads: bool,
    #[command(flatten)]
    installation: Installation,
}

/// `opendls restore` options.
#[derive(Args)]
pub(crate) struct RestoreArgs {
    /// The backup file.
    file: PathBuf,
    /// Only check the file (passphrase, every byte, the manifest) and say what it holds.
    #[arg(long)]
    check: bool,
    /// Restore over an existing installation: its files are moved into `replaced-<time>/` in
    /// the data directory first. The service must be stopped.
    #[arg(long)]
    replace: bool,
    #[command(flatten)]
    installation: Installation,
}

impl Installation {
    fn config(&self) -> Result<Config> {
        let mut config = Config::load(self.config.as_deref())?;
        match &self.data_dir {
            Some(dir) => config.data_dir = dir.clone(),
            None if self.config.is_none() => {
                config.data_dir = crate::connection::default_data_dir();
            }
            None => {}
        }
        if let Some(url) = &self.database {
            config.database.url = url.clone();
        }
        Ok(config)
    }

    /// The passphrase: from a file, the configuration's file, the environment, or asked for
    /// (twice when making a backup, so that a typo does not make it unreadable).
    fn passphrase(&self, config: &Config, confirm: bool) -> Result<String> {
        let from_file = |file: &Path| -> Result<String> {
            let text =
                std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
            Ok(text.lines().next().unwrap_or("").trim_end_matches('\r').to_owned())
        };
        if let Some(file) = &self.passphrase_file {
            return from_file(file);
        }
        if let Some(file) = &config.backup.passphrase_file {
            return from_file(file);
        }
        if let Ok(passphrase) = std::env::var("OPENDLS_BACKUP_PASSPHRASE") {
            return Ok(passphrase);
        }
        let first = crate::secret_input::read_secret("backup passphrase")?;
        if confirm && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            let again = crate::secret_input::read_secret("the same passphrase again")?;
            if again != first {
                return Err(Refused("the two passphrases differ; nothing was written".into()).into());
            }
        }
        Ok(first)
    }
}

/// Makes a backup.
pub(crate) fn backup(args: BackupArgs) -> Result<ExitCode> {
    let config = args.installation.config()?;
    if !config.data_dir.join(opendls_server::ADMIN_TOKEN_FILE).is_file() {
        bail!("no opendls installation in {} (give --data-dir or --config)", config.data_dir.display());
    }
    let passphrase = args.installation.passphrase(&config, true)?;
    let options = BackupOptions { with_downloads: !args.without_downloads };
    let runtime = tokio::runtime::Runtime::new()?;
    let manifest =
        runtime.block_on(opendls_server::backup::create(&config, &args.file, &passphrase, options)).map_err(
            |e| Refused(format!("backup failed, nothing was written to {}: {e}", args.file.display())),
        )?;
    let bytes = std::fs::metadata(&args.file).map(|m| m.len()).unwrap_or(0);
    println!("wrote {} ({bytes} bytes, encrypted)", args.file.display());
    describe(&manifest);
    if manifest.database == "postgresql" {
        eprintln!(
            "the PostgreSQL database is not in this file: back it up with pg_dump (docs/backup.md), e.g.\n  \
             pg_dump --format=custom --file=opendls.pgdump \"$OPENDLS_DATABASE_URL\""
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Restores a backup, or checks one.
pub(crate) fn restore(args: RestoreArgs) -> Result<ExitCode> {
    let config = args.installation.config()?;
    let passphrase = args.installation.passphrase(&config, false)?;
    if args.check {
        let (manifest, entries) = opendls_server::backup::verify(&args.file, &passphrase)
            .map_err(|e| Refused(format!("{}: {e}", args.file.display())))?;
        println!("{}: readable, {entries} entries, every chunk intact", args.file.display());
        describe(&manifest);
        return Ok(ExitCode::SUCCESS);
    }
    let options = RestoreOptions { replace: args.replace };
    let runtime = tokio::runtime::Runtime::new()?;
    let restored = runtime
        .block_on(opendls_server::backup::restore(&config, &args.file, &passphrase, options))
        .map_err(|e| Refused(format!("restore refused, nothing was changed: {e}")))?;
    println!("restored {} into {}", args.file.display(), config.data_dir.display());
    describe(&restored.manifest);
    if let Some(aside) = &restored.moved_aside {
        println!("the installation that was there is in {}", aside.display());
    }
    if restored.manifest.database == "postgresql" {
        eprintln!(
            "the keys and certificates are back; restore the PostgreSQL database with pg_restore \
             (docs/backup.md) before starting the service"
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(manifest: &Manifest) {
    let made = time::OffsetDateTime::from_unix_timestamp(manifest.created_at)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| manifest.created_at.to_string());
    println!("made {made} by opendls {}", manifest.opendls_version);
    match manifest.database.as_str() {
        "sqlite" => println!(
            "database: SQLite, {} devices, {} certificates, {} jobs",
            manifest.devices, manifest.certificates, manifest.jobs
        ),
        other => println!("database: {other} (not in the file)"),
    }
    let downloads = manifest.files.iter().filter(|f| f.starts_with("files/")).count();
    println!(
        "files: {} (keys, certificates, tokens{})",
        manifest.files.len() + 1,
        if manifest.with_downloads {
            format!(", {downloads} files for phones")
        } else {
            ", no files for phones".into()
        }
    );
}
