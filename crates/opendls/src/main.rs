//! The `opendls` command: one binary, one subcommand per job. Exit codes: 0 success, 1 the
//! server (or the catalog) refused or found nothing, 2 the command could not run (arguments,
//! configuration, connection, authentication).

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

pub(crate) use admin_args::*;
use anyhow::{Context, Result};
pub(crate) use args::{
    BackendsArgs, BenchCommand, DelayArgs, DemoArgs, DownloadsArgs, GrowthArgs, ImportBenchArgs,
    PhonesimArgs, ServeArgs, StormArgs,
};
use clap::{CommandFactory, Parser, Subcommand};
pub(crate) use connection::Connection;

/// mimalloc instead of the C library's allocator: the server allocates and frees many small
/// buffers per interaction from several threads, and glibc's malloc spent about 14% of a storm's
/// CPU (BENCHMARKS.md, "The allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod admin;
mod admin_args;
mod args;
mod backup;
mod bench;
mod client;
mod connection;
mod demo;
mod dhcp;
mod files;
mod fleet;
mod inspect;
mod jobs;
mod layouts;
mod manuals;
mod migrate;
mod output;
mod phonesim;
mod pins;
mod preview;
mod provisioning;
mod secret_input;
mod security;
mod serve;
mod site;
mod templates;
mod users;

/// Provisioning service for OpenStage / OpenScape Desk Phone IP phones (WorkPoint Interface).
#[derive(Parser)]
#[command(name = "opendls", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: phone listener (HTTPS) and admin API. Creates the data directory, the
    /// database, a server certificate and an admin token on first start.
    Serve(ServeArgs),
    /// Devices: list them, or show one with its reported items, pending changes and history.
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// Desired configuration at global, model, group or device scope; templates; what a
    /// device gets and why.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// Jobs: push configuration now, read items, restart or factory-reset phones, deploy
    /// certificates for their web interface; list, show
    /// and cancel them.
    Job {
        #[command(subcommand)]
        command: JobCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// Accounts of the admin API and console, with their roles (admin, operator, viewer).
    User {
        #[command(subcommand)]
        command: users::UserCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// Personal API tokens: make one (shown once), list, revoke.
    Token {
        #[command(subcommand)]
        command: users::TokenCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// The audit log of changes: who, when, from where, what (secrets masked); --csv to export.
    Audit {
        #[command(flatten)]
        args: users::AuditArgs,
        #[command(flatten)]
        connection: Connection,
    },
    /// Secure Mode: the mode per device, group or globally; a device's state and certificates;
    /// revoke; reset to Default Mode; PINs; the CA.
    Security {
        #[command(subcommand)]
        command: SecurityCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// Template variables per device, group or globally (`{{device.var.NAME}}` …).
    Var {
        #[command(subcommand)]
        command: templates::VarCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// Function-key and key-module layouts (TOML files) set per model.
    Layout {
        #[command(subcommand)]
        command: layouts::LayoutCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// Groups of devices.
    Group {
        #[command(subcommand)]
        command: GroupCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// What happens to changes made on the phone itself.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// Benchmarks that print figures (see BENCHMARKS.md).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// A server and a few dozen simulated phones on loopback: watch them register and be
    /// configured, then try the administration commands against it.
    Demo(DemoArgs),
    /// Simulate phones: a fleet boots against a WPI service (opendls or any other) and the run
    /// ends with a report (completed, failed, overload, latency per step).
    Phonesim(PhonesimArgs),
    /// Firmware images for phones: add one from a file, list, show, make a download URL, remove.
    Firmware {
        #[command(subcommand)]
        command: files::FirmwareCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// Files for phones (ringtones, logos, pictures, screensavers, music on hold, LDAP
    /// templates): add one, list, show, make a download URL, remove.
    File {
        #[command(subcommand)]
        command: files::FileCommand,
        #[command(flatten)]
        connection: Connection,
    },
    /// Decode a captured WPI message (phone or service side), check its items against the
    /// catalog and print them. Reads standard input when FILE is `-` or missing.
    Decode {
        /// The XML body, as captured.
        file: Option<PathBuf>,
        /// Print item values that are secrets (passwords, keys, PINs) instead of masking them.
        #[arg(long)]
        show_secrets: bool,
    },
    /// Copy an installation from its SQLite database into an empty PostgreSQL database (devices,
    /// history, jobs, certificates, PINs, configuration), share its keys there for the nodes that
    /// will serve it, and compare the counts of every table. Run it with the service stopped.
    Migrate {
        /// The SQLite database: `sqlite:PATH` (a file, or a data directory holding opendls.db).
        #[arg(long, default_value = "sqlite:./opendls-data")]
        from: String,
        /// The PostgreSQL database: `postgres://user:password@host:5432/db`.
        #[arg(long, env = "OPENDLS_DATABASE_URL", hide_env_values = true, value_name = "URL")]
        to: String,
        /// The key file that seals the source's secrets, if not `secrets.key` beside it.
        #[arg(long)]
        secrets_key_file: Option<PathBuf>,
    },
    /// Back up the whole installation while it serves: the database (SQLite; PostgreSQL with
    /// pg_dump), the key that seals secrets, the Secure Mode CA, certificates, tokens, and the
    /// files phones download, in one file encrypted with a passphrase.
    Backup(backup::BackupArgs),
    /// Restore a backup into a data directory (the service stopped), or check one (`--check`).
    Restore(backup::RestoreArgs),
    /// Print the shell completion script (bash, zsh, fish, elvish, powershell), e.g.
    /// `opendls completions bash > /etc/bash_completion.d/opendls`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write man pages (opendls.1 and one a subcommand) into a directory.
    Man {
        /// Where to write them, e.g. /usr/local/share/man/man1.
        dir: PathBuf,
    },
    /// DHCP option 43 that points the phones at the service: a snippet for each common DHCP
    /// server, or the decoding of an existing value.
    Dhcp {
        #[command(subcommand)]
        command: dhcp::DhcpCommand,
    },
    /// Look up item names in the catalog: one item in full, or every name containing TEXT.
    Catalog {
        /// An exact item name or part of one; all items when missing.
        text: Option<String>,
    },
}

/// A failure with the exit code it maps to.
#[derive(Debug)]
pub(crate) struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

fn main() -> ExitCode {
    output::exit_quietly_when_stdout_closes();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Phonesim(args) => phonesim::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Bench { command: BenchCommand::Storm(args) } => bench::storm(args),
        Command::Bench { command: BenchCommand::Downloads(args) } => bench::downloads(args),
        Command::Bench { command: BenchCommand::Import(args) } => bench::import(args),
        Command::Bench { command: BenchCommand::Growth(args) } => bench::growth(args),
        Command::Bench { command: BenchCommand::Backends(args) } => bench::backends::run(args),
        Command::Bench { command: BenchCommand::Delay(args) } => bench::delay(args),
        Command::Bench { command: BenchCommand::TlsServer { data_dir } } => bench::tls_server(&data_dir),
        Command::Decode { file, show_secrets } => {
            read_input(file).and_then(|body| inspect::decode(&body, show_secrets))
        }
        Command::Catalog { text } => inspect::catalog(text.as_deref()),
        Command::Dhcp { command } => dhcp::run(command),
        Command::Migrate { from, to, secrets_key_file } => migrate::run(&from, &to, secrets_key_file),
        Command::Backup(args) => backup::backup(args),
        Command::Restore(args) => backup::restore(args),
        Command::Completions { shell } => manuals::completions(Cli::command(), shell),
        Command::Man { dir } => manuals::man_pages(Cli::command(), &dir),
        Command::Device { command, connection } => admin::run(connection, admin::Request::Device(command)),
        Command::Config { command, connection } => admin::run(connection, admin::Request::Config(command)),
        Command::Job { command, connection } => jobs::run(connection, command),
        Command::Security { command, connection } => security::run(connection, command),
        Command::Var { command, connection } => templates::run_var(connection, command),
        Command::Layout { command, connection } => layouts::run(connection, command),
        Command::Group { command, connection } => admin::run(connection, admin::Request::Group(command)),
        Command::Policy { command, connection } => admin::run(connection, admin::Request::Policy(command)),
        Command::Firmware { command, connection } => files::run_firmware(connection, command),
        Command::File { command, connection } => files::run_file(connection, command),
        Command::User { command, connection } => users::run_user(connection, command),
        Command::Token { command, connection } => users::run_token(connection, command),
        Command::Audit { args, connection } => users::run_audit(connection, args),
    };
    match outcome {
        Ok(code) => code,
        Err(err) if err.downcast_ref::<Refused>().is_some() => {
            eprintln!("opendls: {err:#}");
            ExitCode::from(1)
        }
        Err(err) => {
            eprintln!("opendls: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// A text file's contents (`-`: standard input), for the files commands read (layouts, sites).
pub(crate) fn read_text(path: &std::path::Path) -> Result<String> {
    String::from_utf8(read_input(Some(path.to_owned()))?)
        .map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", path.display()))
}

fn read_input(file: Option<PathBuf>) -> Result<Vec<u8>> {
    match file {
        Some(path) if path.as_os_str() != "-" => {
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
        }
        _ => {
            let mut body = Vec::new();
            std::io::stdin().read_to_end(&mut body).context("cannot read standard input")?;
            Ok(body)
        }
    }
}
